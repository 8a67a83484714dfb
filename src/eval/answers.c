/* answers.c - the answer files `graft eval --score-only` reads: graft's predictions.jsonl, LLaVA's
 * answer JSONL, the COCO caption results format (matched to dataset samples by id), POPE labels
 * attached by position as eval_pope.py pairs them, and LLaVA-Bench review files summarised as
 * summarize_gpt_review.py prints them. Formats: docs/eval.md, "Summaries and --score-only". */
#define GRAFT_EVAL_SCORE_INTERNAL
#define GRAFT_EVAL_DATASET_INTERNAL
#include "fileio.h"
#include "score.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "metrics.h"

#define NOMEM(err) graft_error_set(err, GRAFT_E_NOMEM, "answers: out of memory")

/* The whole file, NUL-terminated (fileio.h: sized by fstat, at most GRAFT_EVAL_MAX_FILE). */
static char *slurp(const char *path, size_t *len, graft_error *err) {
    char *buf;
    return graft_file_read(path, GRAFT_EVAL_MAX_FILE, &buf, len, err) ? NULL : buf;
}

/* One value spanning exactly [p, p+n) (trailing blanks allowed), or NULL. */
static cJSON *parse_line(const char *p, size_t n) {
    const char *end = NULL;
    cJSON *o = cJSON_ParseWithLengthOpts(p, n, &end, 0);
    if (!o) return NULL;
    while (end && end < p + n && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n')) end++;
    if (end != p + n) {
        cJSON_Delete(o);
        return NULL;
    }
    return o;
}

/* ---- id index: dataset sample indices sorted by id ----------------------------------------- */

typedef struct {
    const graft_eval_dataset *ds;
    size_t *ord; /* (ds->n) sample indices sorted by id, then index */
} id_index;

static int by_id(const void *a, const void *b, void *ctx) {
    const graft_eval_dataset *ds = ctx;
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int c = strcmp(ds->samples[i].id, ds->samples[j].id);
    return c ? c : (i > j) - (i < j);
}

static int index_build(const graft_eval_dataset *ds, id_index *ix) {
    ix->ds = ds;
    ix->ord = malloc(sizeof *ix->ord * (ds->n ? ds->n : 1));
    if (!ix->ord) return -1;
    for (size_t i = 0; i < ds->n; i++) ix->ord[i] = i;
    qsort_r(ix->ord, ds->n, sizeof *ix->ord, by_id, (void *)ds); /* glibc (_GNU_SOURCE) */
    return 0;
}

/* [*lo, *hi) of ix->ord with this id */
static void index_range(const id_index *ix, const char *id, size_t *lo, size_t *hi) {
    size_t a = 0, b = ix->ds->n;
    while (a < b) {
        size_t m = a + (b - a) / 2;
        if (strcmp(ix->ds->samples[ix->ord[m]].id, id) < 0) a = m + 1;
        else b = m;
    }
    size_t e = a;
    while (e < ix->ds->n && strcmp(ix->ds->samples[ix->ord[e]].id, id) == 0) e++;
    *lo = a;
    *hi = e;
}

/* ---- predictions -------------------------------------------------------------------------- */

void graft_eval_preds_free(char **preds, size_t n) {
    if (!preds) return;
    for (size_t i = 0; i < n; i++) free(preds[i]);
    free(preds);
}

enum { FMT_GRAFT, FMT_LLAVA, FMT_COCO };

/* id text of a JSON id value (string, or integer as decimal) into buf; 0 or -1 */
static int id_text(const cJSON *v, char *buf, size_t cap) {
    if (cJSON_IsString(v) && v->valuestring[0]) {
        if (strlen(v->valuestring) >= cap) return -1;
        strcpy(buf, v->valuestring);
        return 0;
    }
    if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!(d > -9.2e18 && d < 9.2e18) || d != (double)(long long)d) return -1;
        snprintf(buf, cap, "%lld", (long long)d);
        return 0;
    }
    return -1;
}

typedef struct {
    const char *path;
    int fmt, skip_bad;
    id_index ix;
    char **preds;
    unsigned char *filled; /* (ds->n) 1 once an answer was assigned */
    size_t n_skipped;
    graft_error *err;
} rd;

/* Assigns one answer. where = "file:line" or "file: [i]". Returns GRAFT_OK, or the error (or
 * GRAFT_OK after counting when skip_bad). */
static int assign(rd *r, const char *where, const char *id, const char *cat, const char *text) {
    const graft_eval_dataset *ds = r->ix.ds;
    size_t lo, hi;
    index_range(&r->ix, id, &lo, &hi);
    if (lo == hi) {
        if (r->skip_bad) {
            r->n_skipped++;
            return GRAFT_OK;
        }
        return graft_error_set(r->err, GRAFT_E_FORMAT, "%s: id %s is not in the dataset", where, id);
    }
    size_t target = (size_t)-1;
    if (hi - lo == 1) {
        target = r->ix.ord[lo];
    } else if (cat) { /* repeated id: the category picks the sample */
        for (size_t k = lo; k < hi && target == (size_t)-1; k++)
            if (ds->samples[r->ix.ord[k]].category &&
                strcmp(ds->samples[r->ix.ord[k]].category, cat) == 0)
                target = r->ix.ord[k];
        if (target == (size_t)-1) {
            if (r->skip_bad) {
                r->n_skipped++;
                return GRAFT_OK;
            }
            return graft_error_set(r->err, GRAFT_E_FORMAT,
                                   "%s: id %s (category %s) is not in the dataset", where, id, cat);
        }
    } else { /* repeated id: the k-th answer goes to the k-th sample (dataset order) */
        for (size_t k = lo; k < hi && target == (size_t)-1; k++)
            if (!r->filled[r->ix.ord[k]]) target = r->ix.ord[k];
        if (target == (size_t)-1) target = r->ix.ord[hi - 1]; /* all filled: a duplicate */
    }
    if (r->filled[target] && r->fmt != FMT_GRAFT)
        return graft_error_set(r->err, GRAFT_E_FORMAT, "%s: id %s has a second answer", where, id);
    char *t = strdup(text);
    if (!t) return NOMEM(r->err);
    free(r->preds[target]); /* graft files: the last answer wins (resume semantics) */
    r->preds[target] = t;
    r->filled[target] = 1;
    return GRAFT_OK;
}

static int bad(rd *r, const char *where, const char *why) {
    if (r->skip_bad) {
        r->n_skipped++;
        return GRAFT_OK;
    }
    return graft_error_set(r->err, GRAFT_E_FORMAT, "%s: %s", where, why);
}

static int read_jsonl(rd *r, char *text, size_t len) {
    size_t lineno = 0;
    char where[GRAFT_ERROR_MAX / 2], id[128];
    for (char *p = text; p < text + len;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        char *e = nl ? nl : text + len;
        lineno++;
        size_t n = (size_t)(e - p);
        char *next = nl ? nl + 1 : text + len;
        size_t k = 0;
        while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r')) k++;
        if (k == n) {
            p = next;
            continue;
        }
        snprintf(where, sizeof where, "%s:%zu", r->path, lineno);
        cJSON *o = parse_line(p, n);
        int rc;
        const char *idk = r->fmt == FMT_GRAFT ? "id" : "question_id";
        const char *tk = r->fmt == FMT_GRAFT ? "prediction" : "text";
        const cJSON *idv = cJSON_GetObjectItemCaseSensitive(o, idk);
        const cJSON *tv = cJSON_GetObjectItemCaseSensitive(o, tk);
        const cJSON *cv = cJSON_GetObjectItemCaseSensitive(o, "category");
        if (!o || !cJSON_IsObject(o))
            rc = bad(r, where, "not a JSON object");
        else if (id_text(idv, id, sizeof id))
            rc = bad(r, where, r->fmt == FMT_GRAFT ? "\"id\" is missing or not a string/integer"
                                                   : "\"question_id\" is missing or not a string/integer");
        else if (!cJSON_IsString(tv))
            rc = bad(r, where, r->fmt == FMT_GRAFT ? "\"prediction\" is missing or not a string"
                                                   : "\"text\" is missing or not a string");
        else
            rc = assign(r, where, id, (r->fmt == FMT_GRAFT && cJSON_IsString(cv)) ? cv->valuestring : NULL,
                        tv->valuestring);
        cJSON_Delete(o);
        if (rc) return rc;
        p = next;
    }
    return GRAFT_OK;
}

static int read_coco(rd *r, const char *text, size_t len) {
    cJSON *doc = parse_line(text, len);
    if (!doc || !cJSON_IsArray(doc)) {
        cJSON_Delete(doc);
        return graft_error_set(r->err, GRAFT_E_FORMAT,
                               "%s: not a JSON array of {\"image_id\", \"caption\"}", r->path);
    }
    char where[GRAFT_ERROR_MAX / 2], id[128];
    int i = 0, rc = GRAFT_OK;
    for (const cJSON *o = doc->child; o && !rc; o = o->next, i++) {
        snprintf(where, sizeof where, "%s: [%d]", r->path, i);
        const cJSON *idv = cJSON_GetObjectItemCaseSensitive(o, "image_id");
        const cJSON *tv = cJSON_GetObjectItemCaseSensitive(o, "caption");
        if (id_text(idv, id, sizeof id))
            rc = bad(r, where, "\"image_id\" is missing or not an integer");
        else if (!cJSON_IsString(tv))
            rc = bad(r, where, "\"caption\" is missing or not a string");
        else
            rc = assign(r, where, id, NULL, tv->valuestring);
    }
    cJSON_Delete(doc);
    return rc;
}

/* The format of the file from its first value: '[' COCO results; a first line with
 * "prediction" graft; with "question_id" and "text" LLaVA. */
static int detect(const char *path, const char *text, size_t len, int *fmt, graft_error *err) {
    size_t i = 0;
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n')) i++;
    if (i == len) return graft_error_set(err, GRAFT_E_FORMAT, "%s: the answer file is empty", path);
    if (text[i] == '[') {
        *fmt = FMT_COCO;
        return GRAFT_OK;
    }
    const char *nl = memchr(text + i, '\n', len - i);
    cJSON *o = parse_line(text + i, nl ? (size_t)(nl - text - i) : len - i);
    int rc = GRAFT_OK;
    if (o && cJSON_GetObjectItemCaseSensitive(o, "prediction"))
        *fmt = FMT_GRAFT;
    else if (o && cJSON_GetObjectItemCaseSensitive(o, "question_id") &&
             cJSON_GetObjectItemCaseSensitive(o, "text"))
        *fmt = FMT_LLAVA;
    else
        rc = graft_error_set(err, GRAFT_E_FORMAT,
                             "%s: not an answer file (graft predictions.jsonl {\"id\", \"prediction\"}, "
                             "LLaVA answers {\"question_id\", \"text\"} or COCO results "
                             "[{\"image_id\", \"caption\"}])",
                             path);
    cJSON_Delete(o);
    return rc;
}

int graft_eval_read_predictions_ex(const char *path, const graft_eval_dataset *ds, int skip_bad,
                                   char ***preds, size_t *n_skipped, graft_error *err) {
    if (preds) *preds = NULL;
    if (n_skipped) *n_skipped = 0;
    if (!path || !ds || !preds) return graft_error_set(err, GRAFT_E_INVALID, "answers: NULL argument");
    size_t len;
    char *text = slurp(path, &len, err);
    if (!text) return err ? err->code : GRAFT_E_IO;
    rd r = {path, 0, skip_bad, {0}, NULL, NULL, 0, err};
    int rc = detect(path, text, len, &r.fmt, err);
    if (rc) {
        free(text);
        return rc;
    }
    r.preds = calloc(ds->n ? ds->n : 1, sizeof *r.preds);
    r.filled = calloc(ds->n ? ds->n : 1, 1);
    if (!r.preds || !r.filled || index_build(ds, &r.ix)) {
        rc = NOMEM(err);
    } else {
        rc = r.fmt == FMT_COCO ? read_coco(&r, text, len) : read_jsonl(&r, text, len);
    }
    free(text);
    free(r.filled);
    free(r.ix.ord);
    if (rc) {
        graft_eval_preds_free(r.preds, ds->n);
        return rc;
    }
    *preds = r.preds;
    if (n_skipped) *n_skipped = r.n_skipped;
    return GRAFT_OK;
}

int graft_eval_read_predictions(const char *path, const graft_eval_dataset *ds, int skip_bad,
                                char ***preds, graft_error *err) {
    return graft_eval_read_predictions_ex(path, ds, skip_bad, preds, NULL, err);
}

/* ---- POPE labels by position --------------------------------------------------------------- */

/* "coco_pope_random.json" -> "random" into buf */
static int cat_from_name(const char *path, char *buf, size_t cap) {
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    const char *dot = strrchr(b, '.');
    size_t n = dot ? (size_t)(dot - b) : strlen(b);
    const char *us = NULL;
    for (size_t i = 0; i < n; i++)
        if (b[i] == '_') us = b + i;
    const char *s = us ? us + 1 : b;
    size_t m = (size_t)(b + n - s);
    if (m == 0 || m >= cap) return -1;
    memcpy(buf, s, m);
    buf[m] = '\0';
    return 0;
}

static const char *base_name(const char *p) {
    const char *b = strrchr(p, '/');
    return b ? b + 1 : p;
}

int graft_eval_pope_attach_labels(graft_eval_dataset *ds, const char *path, const char *category,
                                  graft_error *err) {
    if (!ds || !path) return graft_error_set(err, GRAFT_E_INVALID, "pope labels: NULL argument");
    char cat[128];
    if (!category) {
        if (cat_from_name(path, cat, sizeof cat))
            return graft_error_set(err, GRAFT_E_INVALID, "%s: no category in the file name", path);
        category = cat;
    }
    size_t n_cat = 0;
    for (size_t i = 0; i < ds->n; i++) n_cat += ds->samples[i].category && !strcmp(ds->samples[i].category, category);
    if (n_cat == 0)
        return graft_error_set(err, GRAFT_E_INVALID, "%s: the dataset has no samples of category %s",
                               path, category);
    size_t len;
    char *text = slurp(path, &len, err);
    if (!text) return err ? err->code : GRAFT_E_IO;
    char **labels = calloc(n_cat, sizeof *labels);
    if (!labels) {
        free(text);
        return NOMEM(err);
    }
    size_t nl = 0, lineno = 0, si = 0;
    int rc = GRAFT_OK;
    for (char *p = text; p < text + len && !rc;) {
        char *e = memchr(p, '\n', (size_t)(text + len - p));
        char *end = e ? e : text + len;
        lineno++;
        size_t n = (size_t)(end - p);
        size_t k = 0;
        while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r')) k++;
        if (k < n) {
            cJSON *o = parse_line(p, n);
            const cJSON *lv = cJSON_GetObjectItemCaseSensitive(o, "label");
            const cJSON *iv = cJSON_GetObjectItemCaseSensitive(o, "image");
            if (!cJSON_IsString(lv)) {
                rc = graft_error_set(err, GRAFT_E_FORMAT, "%s:%zu: no \"label\"", path, lineno);
            } else if (nl == n_cat) {
                rc = graft_error_set(err, GRAFT_E_FORMAT,
                                     "%s:%zu: more labels than the %zu %s samples", path, lineno,
                                     n_cat, category);
            } else {
                while (!(ds->samples[si].category && !strcmp(ds->samples[si].category, category))) si++;
                const graft_eval_sample *s = &ds->samples[si];
                if (cJSON_IsString(iv) && s->n_images > 0 &&
                    strcmp(base_name(iv->valuestring), base_name(s->images[0])) != 0)
                    rc = graft_error_set(err, GRAFT_E_FORMAT,
                                         "%s:%zu: image %s, but %s sample %zu (id %s) is %s", path,
                                         lineno, iv->valuestring, category, nl + 1, s->id, s->images[0]);
                else if (!(labels[nl++] = strdup(lv->valuestring)))
                    rc = NOMEM(err);
                si++;
            }
            cJSON_Delete(o);
        }
        p = e ? e + 1 : text + len;
    }
    free(text);
    if (!rc && nl != n_cat)
        rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: %zu labels for %zu %s samples", path, nl,
                             n_cat, category);
    if (!rc) { /* all or nothing: replace the answers only now */
        size_t j = 0;
        for (size_t i = 0; i < ds->n && !rc; i++) {
            graft_eval_sample *s = &ds->samples[i];
            if (!(s->category && !strcmp(s->category, category))) continue;
            char **a = malloc(sizeof *a);
            if (!a) {
                rc = NOMEM(err);
                break;
            }
            for (int q = 0; q < s->n_answers; q++) free(s->answers[q]);
            free(s->answers);
            a[0] = labels[j];
            labels[j++] = NULL;
            s->answers = a;
            s->n_answers = 1;
        }
    }
    for (size_t i = 0; i < n_cat; i++) free(labels[i]);
    free(labels);
    return rc;
}

/* ---- LLaVA-Bench review files ------------------------------------------------------------- */

typedef struct {
    char *name;
    double *s1, *s2;
    size_t n, cap;
} rcat;

static int rcat_push(rcat *c, double a, double b) {
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 64;
        double *x = realloc(c->s1, cap * sizeof *x);
        if (!x) return -1;
        c->s1 = x;
        double *y = realloc(c->s2, cap * sizeof *y);
        if (!y) return -1;
        c->s2 = y;
        c->cap = cap;
    }
    c->s1[c->n] = a;
    c->s2[c->n] = b;
    c->n++;
    return 0;
}

static int rcat_cmp(const void *a, const void *b) {
    return strcmp(((const rcat *)a)->name, ((const rcat *)b)->name);
}

int graft_eval_score_reviews(const char *path, graft_eval_summary **out, graft_error *err) {
    if (out) *out = NULL;
    if (!path || !out) return graft_error_set(err, GRAFT_E_INVALID, "reviews: NULL argument");
    size_t len;
    char *text = slurp(path, &len, err);
    if (!text) return err ? err->code : GRAFT_E_IO;
    rcat *cats = NULL;
    int nc = 0, rc = GRAFT_OK;
    size_t lineno = 0;
    cJSON *root = NULL;
    char *pr = NULL;
    /* cats[0] is "all"; a line with a category goes to it and to "all" (the script's order of
     * appending does not matter for the means) */
    cats = calloc(1, sizeof *cats);
    if (!cats || !(cats[0].name = strdup("all"))) goto oom;
    nc = 1;
    for (char *p = text; p < text + len && !rc;) {
        char *e = memchr(p, '\n', (size_t)(text + len - p));
        char *end = e ? e : text + len;
        lineno++;
        size_t n = (size_t)(end - p), k = 0;
        while (k < n && (p[k] == ' ' || p[k] == '\t' || p[k] == '\r')) k++;
        p = e ? e + 1 : text + len;
        if (k == n) continue;
        cJSON *o = parse_line(end - n, n);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "tuple");
        if (!t) t = cJSON_GetObjectItemCaseSensitive(o, "score");
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(o, "category");
        if (!o || !cJSON_IsArray(t) || cJSON_GetArraySize(t) != 2 ||
            !cJSON_IsNumber(cJSON_GetArrayItem(t, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(t, 1))) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s:%zu: no \"tuple\" of two scores", path, lineno);
            cJSON_Delete(o);
            break;
        }
        double a = cJSON_GetArrayItem(t, 0)->valuedouble, b = cJSON_GetArrayItem(t, 1)->valuedouble;
        if (cJSON_IsString(c)) {
            int j = 1;
            while (j < nc && strcmp(cats[j].name, c->valuestring)) j++;
            if (j == nc) {
                rcat *nv = realloc(cats, sizeof *nv * (size_t)(nc + 1));
                if (!nv) {
                    cJSON_Delete(o);
                    goto oom;
                }
                cats = nv;
                cats[nc] = (rcat){0};
                if (!(cats[nc].name = strdup(c->valuestring))) {
                    cJSON_Delete(o);
                    goto oom;
                }
                nc++;
            }
            if (rcat_push(&cats[j], a, b)) {
                cJSON_Delete(o);
                goto oom;
            }
        }
        cJSON_Delete(o);
        if (rcat_push(&cats[0], a, b)) goto oom;
    }
    if (rc) goto done;
    if (cats[0].n == 0) {
        rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: no reviews", path);
        goto done;
    }
    qsort(cats, (size_t)nc, sizeof *cats, rcat_cmp); /* for k, v in sorted(scores.items()) */
    /* config = basename without "gpt4_text_" and ".jsonl" (str.replace: every occurrence) */
    {
        const char *b = base_name(path);
        size_t bl = strlen(b), cap = bl + 256 * (size_t)nc + 64;
        pr = malloc(cap);
        if (!pr) goto oom;
        size_t o = 0;
        for (size_t i = 0; i < bl;) {
            if (!strncmp(b + i, "gpt4_text_", 10)) i += 10;
            else if (!strncmp(b + i, ".jsonl", 6)) i += 6;
            else pr[o++] = b[i++];
        }
        pr[o++] = '\n';
        root = cJSON_CreateObject();
        if (!root) goto oom;
        cJSON *co = NULL;
        if (!cJSON_AddStringToObject(root, "task", "llava-bench") ||
            !cJSON_AddStringToObject(root, "type", "open") ||
            !cJSON_AddStringToObject(root, "source", "reviews") ||
            !cJSON_AddStringToObject(root, "review_file", path))
            goto oom;
        for (int j = 0; j < nc; j++) {
            graft_review_stats s;
            if ((rc = graft_review_summarize(cats[j].s1, cats[j].s2, cats[j].n, &s, err))) goto done;
            o += (size_t)snprintf(pr + o, cap - o, "%s %.1f %.1f %.1f\n", cats[j].name, s.relative,
                                  s.score1_x10, s.score2_x10);
            cJSON *dst = root;
            if (strcmp(cats[j].name, "all") != 0) {
                if (!co && !(co = cJSON_AddObjectToObject(root, "categories"))) goto oom;
                if (!(dst = cJSON_AddObjectToObject(co, cats[j].name))) goto oom;
            } else if (!cJSON_AddNumberToObject(root, "n_missing", 0)) {
                goto oom;
            }
            if (!cJSON_AddNumberToObject(dst, "n", (double)s.n) ||
                !cJSON_AddNumberToObject(dst, "relative_score", s.relative) ||
                !cJSON_AddNumberToObject(dst, "score_ref", s.score1_x10) ||
                !cJSON_AddNumberToObject(dst, "score_model", s.score2_x10) ||
                !cJSON_AddNumberToObject(dst, "mean_ref", s.mean1) ||
                !cJSON_AddNumberToObject(dst, "mean_model", s.mean2) ||
                !cJSON_AddNumberToObject(dst, "relative_exact", s.relative_exact))
                goto oom;
        }
        snprintf(pr + o, cap - o, "=================================\n");
        if (!cJSON_AddStringToObject(root, "review_printout", pr)) goto oom;
    }
    *out = graft_eval_summary_wrap(root);
    root = NULL;
    if (!*out) goto oom;
    goto done;
oom:
    rc = NOMEM(err);
done:
    cJSON_Delete(root);
    free(pr);
    for (int j = 0; cats && j < nc; j++) {
        free(cats[j].name);
        free(cats[j].s1);
        free(cats[j].s2);
    }
    free(cats);
    free(text);
    return rc;
}

/* ---- judge scores per sample --------------------------------------------------------------- */

int graft_eval_read_judge_scores(const char *path, const graft_eval_dataset *ds, double **ref,
                                 double **model, graft_error *err) {
    if (ref) *ref = NULL;
    if (model) *model = NULL;
    if (!path || !ds || !ref || !model)
        return graft_error_set(err, GRAFT_E_INVALID, "judge scores: NULL argument");
    size_t len;
    char *text = slurp(path, &len, err);
    if (!text) return err ? err->code : GRAFT_E_IO;
    double *a = malloc(sizeof *a * (ds->n ? ds->n : 1)), *b = malloc(sizeof *b * (ds->n ? ds->n : 1));
    id_index ix = {0};
    int rc = GRAFT_OK;
    if (!a || !b || index_build(ds, &ix)) {
        rc = NOMEM(err);
        goto done;
    }
    for (size_t i = 0; i < ds->n; i++) a[i] = b[i] = NAN;
    size_t lineno = 0;
    char id[128];
    for (char *p = text; p < text + len && !rc;) {
        char *e = memchr(p, '\n', (size_t)(text + len - p));
        char *end = e ? e : text + len;
        lineno++;
        size_t n = (size_t)(end - p), k = 0;
        char *q = p;
        p = e ? e + 1 : text + len;
        while (k < n && (q[k] == ' ' || q[k] == '\t' || q[k] == '\r')) k++;
        if (k == n) continue;
        cJSON *o = parse_line(q, n);
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(o, "tuple");
        if (!t) t = cJSON_GetObjectItemCaseSensitive(o, "score");
        size_t lo, hi;
        if (!o || id_text(cJSON_GetObjectItemCaseSensitive(o, "question_id"), id, sizeof id) ||
            !cJSON_IsArray(t) || cJSON_GetArraySize(t) != 2 ||
            !cJSON_IsNumber(cJSON_GetArrayItem(t, 0)) || !cJSON_IsNumber(cJSON_GetArrayItem(t, 1))) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s:%zu: no \"question_id\" and \"tuple\" of two scores",
                                 path, lineno);
        } else {
            index_range(&ix, id, &lo, &hi);
            if (lo == hi)
                rc = graft_error_set(err, GRAFT_E_FORMAT, "%s:%zu: id %s is not in the dataset", path, lineno, id);
            else if (hi - lo > 1 || !isnan(a[ix.ord[lo]]))
                rc = graft_error_set(err, GRAFT_E_FORMAT, "%s:%zu: id %s is not unique", path, lineno, id);
            else {
                a[ix.ord[lo]] = cJSON_GetArrayItem(t, 0)->valuedouble;
                b[ix.ord[lo]] = cJSON_GetArrayItem(t, 1)->valuedouble;
            }
        }
        cJSON_Delete(o);
    }
done:
    free(text);
    free(ix.ord);
    if (rc) {
        free(a);
        free(b);
        return rc;
    }
    *ref = a;
    *model = b;
    return GRAFT_OK;
}
