/* dataset.c - evaluation samples: the dataset container, graft's JSONL task format, the public
 * benchmark readers (POPE, COCO captions, LLaVA-Bench, VQAv2, ScienceQA) and the up-front image
 * check. Formats are documented in docs/eval.md ("Task format"). */
#include "dataset.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"

/* ---- names ---------------------------------------------------------------------------------- */

static const char *const task_names[GRAFT_TASK_COUNT] = {"caption", "vqa", "mcq", "yesno", "open"};
static const char *const fmt_names[GRAFT_DS_COUNT] = {"graft",       "pope",  "coco-captions",
                                                      "llava-bench", "vqav2", "scienceqa"};

const char *graft_task_name(graft_task_type t) {
    return (t >= 0 && t < GRAFT_TASK_COUNT) ? task_names[t] : NULL;
}

int graft_task_parse(const char *name) {
    for (int i = 0; name && i < GRAFT_TASK_COUNT; i++)
        if (strcmp(name, task_names[i]) == 0) return i;
    return -1;
}

const char *graft_eval_format_name(graft_eval_format f) {
    return (f >= 0 && f < GRAFT_DS_COUNT) ? fmt_names[f] : NULL;
}

int graft_eval_format_parse(const char *name) {
    for (int i = 0; name && i < GRAFT_DS_COUNT; i++)
        if (strcmp(name, fmt_names[i]) == 0) return i;
    return -1;
}

graft_eval_read_opts graft_eval_read_default_opts(void) {
    graft_eval_read_opts o = {0};
    return o;
}

/* ---- samples and the dataset ------------------------------------------------------------- */

static void strv_free(char **v, int n) {
    for (int i = 0; i < n; i++) free(v[i]);
    free(v);
}

static void sample_free(graft_eval_sample *s) {
    free(s->id);
    strv_free(s->images, s->n_images);
    free(s->question);
    free(s->context);
    strv_free(s->choices, s->n_choices);
    strv_free(s->answers, s->n_answers);
    free(s->category);
    memset(s, 0, sizeof *s);
}

void graft_eval_dataset_free(graft_eval_dataset *ds) {
    if (!ds) return;
    for (size_t i = 0; i < ds->n; i++) sample_free(&ds->samples[i]);
    free(ds->samples);
    memset(ds, 0, sizeof *ds);
}

/* Moves *s into ds (s is zeroed). 0 or -1 on allocation failure (s untouched). */
static int ds_push(graft_eval_dataset *ds, graft_eval_sample *s) {
    if (ds->n == ds->cap) {
        size_t cap = ds->cap ? ds->cap * 2 : 64;
        graft_eval_sample *p = realloc(ds->samples, cap * sizeof *p);
        if (!p) return -1;
        ds->samples = p;
        ds->cap = cap;
    }
    ds->samples[ds->n++] = *s;
    memset(s, 0, sizeof *s);
    return 0;
}

/* Appends a copy of str to the vector (*v, *n). 0 or -1 on allocation failure. */
static int strv_push(char ***v, int *n, const char *str) {
    char *d = strdup(str);
    char **p = d ? realloc(*v, (size_t)(*n + 1) * sizeof *p) : NULL;
    if (!p) {
        free(d);
        return -1;
    }
    p[*n] = d;
    *v = p;
    (*n)++;
    return 0;
}

/* ---- a reader's outcome for one line / item ------------------------------------------------ */

/* Converters return OK, BAD (why filled: the line/item is malformed) or NOMEM. */
enum { CV_OK = 0, CV_BAD = 1, CV_NOMEM = 2 };

#define WHY_MAX 160

__attribute__((format(printf, 2, 3))) static int bad(char *why, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, WHY_MAX, fmt, ap);
    va_end(ap);
    return CV_BAD;
}

/* Handles a BAD line: fails (GRAFT_E_FORMAT) or counts it when skip_bad. `where` is "file:line"
 * or "file: item". Returns GRAFT_OK when skipped. */
static int on_bad(graft_eval_dataset *ds, const graft_eval_read_opts *o, const char *where,
                  const char *why, graft_error *err) {
    if (!o->skip_bad) return graft_error_set(err, GRAFT_E_FORMAT, "%s: %s", where, why);
    if (ds->n_skipped++ == 0)
        snprintf(ds->first_skip, sizeof ds->first_skip, "%s: %s", where, why);
    return GRAFT_OK;
}

/* ---- JSON helpers -------------------------------------------------------------------------- */

/* An id from a JSON string or integral number into a malloc'd string; NULL with why set if the
 * item is neither (or allocation failed: *nomem = 1). */
static int json_id(const cJSON *v, const char *key, char **out, char *why) {
    char buf[64];
    if (cJSON_IsString(v)) {
        if (!v->valuestring[0]) return bad(why, "\"%s\" is empty", key);
        *out = strdup(v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d != (double)(long long)d) return bad(why, "\"%s\" is not an integer", key);
        snprintf(buf, sizeof buf, "%lld", (long long)d);
        *out = strdup(buf);
    } else {
        return bad(why, "\"%s\" is missing or not a string/number", key);
    }
    return *out ? CV_OK : CV_NOMEM;
}

/* Required (or optional when !req) string member copied into *out. */
static int json_str(const cJSON *obj, const char *key, int req, char **out, char *why) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return req ? bad(why, "\"%s\" is missing", key) : CV_OK;
    if (!cJSON_IsString(v)) return bad(why, "\"%s\" is not a string", key);
    *out = strdup(v->valuestring);
    return *out ? CV_OK : CV_NOMEM;
}

/* Member `one` (a string) or `many` (an array of strings) into a vector; absent is fine when
 * !req. */
static int json_strs(const cJSON *obj, const char *one, const char *many, int req, char ***v,
                     int *n, char *why) {
    const cJSON *a = one ? cJSON_GetObjectItemCaseSensitive(obj, one) : NULL;
    const cJSON *b = many ? cJSON_GetObjectItemCaseSensitive(obj, many) : NULL;
    if (a && b) return bad(why, "both \"%s\" and \"%s\" given", one, many);
    if (a) {
        if (!cJSON_IsString(a)) return bad(why, "\"%s\" is not a string", one);
        return strv_push(v, n, a->valuestring) ? CV_NOMEM : CV_OK;
    }
    if (b) {
        if (!cJSON_IsArray(b)) return bad(why, "\"%s\" is not an array", many);
        int i = 0;
        for (const cJSON *e = b->child; e; e = e->next, i++) {
            if (!cJSON_IsString(e)) return bad(why, "\"%s\"[%d] is not a string", many, i);
            if (strv_push(v, n, e->valuestring)) return CV_NOMEM;
        }
        if (req && *n == 0) return bad(why, "\"%s\" is empty", many);
        return CV_OK;
    }
    if (!req) return CV_OK;
    if (one && many) return bad(why, "neither \"%s\" nor \"%s\" given", one, many);
    return bad(why, "\"%s\" is missing", one ? one : many);
}

static int image_path_ok(const char *p, char *why) {
    if (!p[0]) return bad(why, "empty image path");
    return CV_OK;
}

/* ---- files ----------------------------------------------------------------------------------- */

static char *read_all(const char *path, size_t *len, graft_error *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        graft_error_set(err, GRAFT_E_IO, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf) break;
        n += fread(buf + n, 1, cap - 1 - n, f);
        if (n < cap - 1) break;
        char *p = realloc(buf, cap * 2);
        if (!p) {
            free(buf);
            buf = NULL;
            break;
        }
        buf = p;
        cap *= 2;
    }
    int ioerr = ferror(f);
    fclose(f);
    if (!buf) {
        graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory reading the file", path);
        return NULL;
    }
    if (ioerr) {
        free(buf);
        graft_error_set(err, GRAFT_E_IO, "%s: read error", path);
        return NULL;
    }
    buf[n] = 0;
    *len = n;
    return buf;
}

static cJSON *parse_doc(const char *path, graft_error *err) {
    size_t len;
    char *text = read_all(path, &len, err);
    if (!text) return NULL;
    const char *end = NULL;
    cJSON *doc = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!doc) {
        size_t off = end ? (size_t)(end - text) : 0, line = 1;
        for (size_t i = 0; i < off && i < len; i++) line += text[i] == '\n';
        graft_error_set(err, GRAFT_E_FORMAT, "%s:%zu: not valid JSON", path, line);
    }
    free(text);
    return doc;
}

/* One JSONL line's converter: obj -> *s. */
typedef int (*line_conv)(const cJSON *obj, void *ctx, graft_eval_sample *s, char *why);

/* Reads a JSONL file line by line (blank lines ignored, '\r' before '\n' tolerated). */
static int read_jsonl(const char *path, const graft_eval_read_opts *o, graft_eval_dataset *ds,
                      line_conv conv, void *ctx, graft_error *err) {
    size_t len;
    char *text = read_all(path, &len, err);
    if (!text) return err ? err->code : GRAFT_E_IO;
    int rc = GRAFT_OK;
    size_t lineno = 0;
    char where[GRAFT_ERROR_MAX / 2], why[WHY_MAX];
    for (char *p = text; p < text + len && rc == GRAFT_OK;) {
        char *nl = memchr(p, '\n', (size_t)(text + len - p));
        char *e = nl ? nl : text + len;
        lineno++;
        size_t n = (size_t)(e - p);
        if (n && p[n - 1] == '\r') n--;
        char *next = nl ? nl + 1 : text + len;
        size_t k = 0;
        while (k < n && (p[k] == ' ' || p[k] == '\t')) k++;
        if (k == n) {
            p = next;
            continue;
        }
        snprintf(where, sizeof where, "%s:%zu", path, lineno);
        cJSON *obj = cJSON_ParseWithLength(p, n);
        graft_eval_sample s = {0};
        int cv;
        if (!obj) cv = bad(why, "not valid JSON");
        else if (!cJSON_IsObject(obj)) cv = bad(why, "not a JSON object");
        else cv = conv(obj, ctx, &s, why);
        cJSON_Delete(obj);
        if (cv == CV_OK && ds_push(ds, &s)) cv = CV_NOMEM;
        sample_free(&s);
        if (cv == CV_NOMEM) rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", where);
        else if (cv == CV_BAD) rc = on_bad(ds, o, where, why, err);
        p = next;
    }
    free(text);
    return rc;
}

/* ---- graft's JSONL task format ------------------------------------------------------------- */

static int cmp_strp(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Fails (GRAFT_E_FORMAT, dropping this file's samples [first, n)) when two samples of one file
 * share an id: predictions are keyed by id, so a duplicate would be scored or resumed wrongly. */
static int check_unique_ids(const char *path, graft_eval_dataset *ds, size_t first,
                            graft_error *err) {
    size_t n = ds->n - first;
    char **ids = malloc((n + 1) * sizeof *ids);
    if (!ids) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
    for (size_t i = 0; i < n; i++) ids[i] = ds->samples[first + i].id;
    qsort(ids, n, sizeof *ids, cmp_strp);
    int rc = GRAFT_OK;
    for (size_t i = 1; i < n && rc == GRAFT_OK; i++)
        if (!strcmp(ids[i], ids[i - 1]))
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: id \"%.100s\" appears more than once",
                                 path, ids[i]);
    free(ids);
    if (rc != GRAFT_OK) {
        for (size_t i = first; i < ds->n; i++) sample_free(&ds->samples[i]);
        ds->n = first;
    }
    return rc;
}

static int conv_graft(const cJSON *obj, void *ctx, graft_eval_sample *s, char *why) {
    (void)ctx;
    int cv;
    if ((cv = json_id(cJSON_GetObjectItemCaseSensitive(obj, "id"), "id", &s->id, why))) return cv;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "type");
    if (!cJSON_IsString(t)) return bad(why, "\"type\" is missing or not a string");
    int type = graft_task_parse(t->valuestring);
    if (type < 0)
        return bad(why, "unknown type \"%.40s\" (caption|vqa|mcq|yesno|open)", t->valuestring);
    s->type = (graft_task_type)type;
    if ((cv = json_strs(obj, "image", "images", 1, &s->images, &s->n_images, why))) return cv;
    for (int i = 0; i < s->n_images; i++)
        if ((cv = image_path_ok(s->images[i], why))) return cv;
    if ((cv = json_str(obj, "question", s->type != GRAFT_TASK_CAPTION, &s->question, why)))
        return cv;
    if ((cv = json_str(obj, "context", 0, &s->context, why))) return cv;
    if ((cv = json_str(obj, "category", 0, &s->category, why))) return cv;
    if ((cv = json_strs(obj, NULL, "choices", 0, &s->choices, &s->n_choices, why))) return cv;
    if (s->type == GRAFT_TASK_MCQ && (s->n_choices < 2 || s->n_choices > 26))
        return bad(why, "mcq needs 2..26 \"choices\" (has %d)", s->n_choices);
    if (s->type != GRAFT_TASK_MCQ && s->n_choices)
        return bad(why, "\"choices\" given for a %s sample", task_names[s->type]);
    if ((cv = json_strs(obj, "answer", "answers", 0, &s->answers, &s->n_answers, why))) return cv;
    if (s->type == GRAFT_TASK_MCQ && s->n_answers) {
        const char *a = s->answers[0];
        if (s->n_answers != 1 || !(a[0] >= 'A' && a[0] < 'A' + s->n_choices && !a[1]))
            return bad(why, "mcq \"answer\" must be one letter A..%c", 'A' + s->n_choices - 1);
    }
    if (s->type == GRAFT_TASK_YESNO && s->n_answers &&
        (s->n_answers != 1 || (strcmp(s->answers[0], "yes") && strcmp(s->answers[0], "no"))))
        return bad(why, "yesno \"answer\" must be \"yes\" or \"no\"");
    return CV_OK;
}

int graft_eval_read_graft(const char *path, const graft_eval_read_opts *opts,
                          graft_eval_dataset *ds, graft_error *err) {
    graft_eval_read_opts d = graft_eval_read_default_opts();
    if (!path || !ds) return graft_error_set(err, GRAFT_E_INVALID, "graft_eval_read: NULL argument");
    size_t first = ds->n;
    int rc = read_jsonl(path, opts ? opts : &d, ds, conv_graft, NULL, err);
    if (rc == GRAFT_OK) rc = check_unique_ids(path, ds, first, err);
    return rc;
}

/* ---- POPE ---------------------------------------------------------------------------------- */

/* {"question_id", "image", "text", "label"} (+ optional "category"): a yesno sample. */
static int conv_pope(const cJSON *obj, void *ctx, graft_eval_sample *s, char *why) {
    const char *cat = ctx;
    int cv;
    s->type = GRAFT_TASK_YESNO;
    if ((cv = json_id(cJSON_GetObjectItemCaseSensitive(obj, "question_id"), "question_id", &s->id,
                      why)))
        return cv;
    if ((cv = json_strs(obj, "image", NULL, 1, &s->images, &s->n_images, why))) return cv;
    if ((cv = image_path_ok(s->images[0], why))) return cv;
    if ((cv = json_str(obj, "text", 1, &s->question, why))) return cv;
    const cJSON *l = cJSON_GetObjectItemCaseSensitive(obj, "label");
    if (l) {
        if (!cJSON_IsString(l) || (strcmp(l->valuestring, "yes") && strcmp(l->valuestring, "no")))
            return bad(why, "\"label\" must be \"yes\" or \"no\"");
        if (strv_push(&s->answers, &s->n_answers, l->valuestring)) return CV_NOMEM;
    }
    if (cat) s->category = strdup(cat);
    else if ((cv = json_str(obj, "category", 0, &s->category, why))) return cv;
    return (cat && !s->category) ? CV_NOMEM : CV_OK;
}

int graft_eval_read_pope(const char *path, const graft_eval_read_opts *opts,
                         graft_eval_dataset *ds, graft_error *err) {
    graft_eval_read_opts d = graft_eval_read_default_opts();
    if (!path || !ds) return graft_error_set(err, GRAFT_E_INVALID, "graft_eval_read: NULL argument");
    if (!opts) opts = &d;
    /* category: the option, else per line, else the file name's last "_word" */
    char cat[64] = "";
    if (opts->category) {
        snprintf(cat, sizeof cat, "%s", opts->category);
    } else {
        const char *b = strrchr(path, '/');
        b = b ? b + 1 : path;
        const char *u = strrchr(b, '_'), *dot = strrchr(b, '.');
        if (u && (!dot || dot > u) && (size_t)((dot ? dot : b + strlen(b)) - u - 1) < sizeof cat)
            snprintf(cat, sizeof cat, "%.*s", (int)((dot ? dot : b + strlen(b)) - u - 1), u + 1);
    }
    /* a per-line "category" wins over the file name, which is only a fallback */
    size_t first = ds->n;
    int rc = read_jsonl(path, opts, ds, conv_pope, (void *)opts->category, err);
    for (size_t i = first; rc == GRAFT_OK && cat[0] && i < ds->n; i++)
        if (!ds->samples[i].category && !(ds->samples[i].category = strdup(cat)))
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
    return rc;
}

/* ---- LLaVA-Bench --------------------------------------------------------------------------- */

/* questions.jsonl: {"question_id", "image", "text", "category"}: an open sample. */
static int conv_llava_q(const cJSON *obj, void *ctx, graft_eval_sample *s, char *why) {
    (void)ctx;
    int cv;
    s->type = GRAFT_TASK_OPEN;
    if ((cv = json_id(cJSON_GetObjectItemCaseSensitive(obj, "question_id"), "question_id", &s->id,
                      why)))
        return cv;
    if ((cv = json_strs(obj, "image", NULL, 1, &s->images, &s->n_images, why))) return cv;
    if ((cv = image_path_ok(s->images[0], why))) return cv;
    if ((cv = json_str(obj, "text", 1, &s->question, why))) return cv;
    return json_str(obj, "category", 0, &s->category, why);
}

/* answers file: {"question_id", "text"}: stored as a sample whose id/answers[0] we use. */
static int conv_llava_a(const cJSON *obj, void *ctx, graft_eval_sample *s, char *why) {
    (void)ctx;
    int cv;
    s->type = GRAFT_TASK_OPEN;
    if ((cv = json_id(cJSON_GetObjectItemCaseSensitive(obj, "question_id"), "question_id", &s->id,
                      why)))
        return cv;
    return json_strs(obj, "text", NULL, 1, &s->answers, &s->n_answers, why);
}

static int cmp_sample_id(const void *a, const void *b) {
    return strcmp(((const graft_eval_sample *)a)->id, ((const graft_eval_sample *)b)->id);
}

int graft_eval_read_llava_bench(const char *path, const graft_eval_read_opts *opts,
                                graft_eval_dataset *ds, graft_error *err) {
    graft_eval_read_opts d = graft_eval_read_default_opts();
    if (!path || !ds) return graft_error_set(err, GRAFT_E_INVALID, "graft_eval_read: NULL argument");
    if (!opts) opts = &d;
    size_t first = ds->n;
    int rc = read_jsonl(path, opts, ds, conv_llava_q, NULL, err);
    if (rc || !opts->answers_path) return rc;
    graft_eval_dataset ans = {0};
    graft_eval_read_opts strict = *opts;
    strict.skip_bad = 0; /* a bad reference line would silently drop a question's reference */
    rc = read_jsonl(opts->answers_path, &strict, &ans, conv_llava_a, NULL, err);
    if (!rc) qsort(ans.samples, ans.n, sizeof *ans.samples, cmp_sample_id);
    for (size_t i = 1; rc == GRAFT_OK && i < ans.n; i++)
        if (!strcmp(ans.samples[i - 1].id, ans.samples[i].id))
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: question_id %s appears twice",
                                 opts->answers_path, ans.samples[i].id);
    for (size_t i = first; rc == GRAFT_OK && i < ds->n; i++) {
        graft_eval_sample *s = &ds->samples[i];
        graft_eval_sample *a = bsearch(s, ans.samples, ans.n, sizeof *ans.samples, cmp_sample_id);
        if (!a) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: no reference answer for question_id %s",
                                 opts->answers_path, s->id);
            break;
        }
        s->answers = a->answers; /* move */
        s->n_answers = a->n_answers;
        a->answers = NULL;
        a->n_answers = 0;
    }
    graft_eval_dataset_free(&ans);
    if (rc) { /* no partial file: drop what this call added */
        for (size_t i = first; i < ds->n; i++) sample_free(&ds->samples[i]);
        ds->n = first;
    }
    return rc;
}

/* ---- COCO captions --------------------------------------------------------------------------- */

typedef struct {
    long long id;
    size_t idx; /* index in ds of its sample, or SIZE_MAX if the image was skipped */
} id_idx;

static int cmp_id_idx(const void *a, const void *b) {
    long long x = ((const id_idx *)a)->id, y = ((const id_idx *)b)->id;
    return (x > y) - (x < y);
}

static int json_int(const cJSON *obj, const char *key, long long *out, char *why) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || v->valuedouble != (double)(long long)v->valuedouble)
        return bad(why, "\"%s\" is missing or not an integer", key);
    *out = (long long)v->valuedouble;
    return CV_OK;
}

/* Drops samples [first, ds->n) and returns rc (readers of single documents add all or nothing). */
static int rollback(graft_eval_dataset *ds, size_t first, int rc) {
    if (rc != GRAFT_OK) {
        for (size_t i = first; i < ds->n; i++) sample_free(&ds->samples[i]);
        ds->n = first;
    }
    return rc;
}

/* Per-item failure handling for single-document readers. */
#define ITEM_BAD(what, i)                                                                          \
    do {                                                                                           \
        snprintf(where, sizeof where, "%s: %s[%zu]", path, what, (size_t)(i));                     \
        if ((rc = on_bad(ds, opts, where, why, err)) != GRAFT_OK) goto done;                       \
    } while (0)

int graft_eval_read_coco_captions(const char *path, const graft_eval_read_opts *opts,
                                  graft_eval_dataset *ds, graft_error *err) {
    graft_eval_read_opts d = graft_eval_read_default_opts();
    if (!path || !ds) return graft_error_set(err, GRAFT_E_INVALID, "graft_eval_read: NULL argument");
    if (!opts) opts = &d;
    cJSON *doc = parse_doc(path, err);
    if (!doc) return err ? err->code : GRAFT_E_FORMAT;
    size_t first = ds->n, n_img = 0;
    id_idx *map = NULL;
    int rc = GRAFT_OK;
    char where[GRAFT_ERROR_MAX / 2], why[WHY_MAX];
    const cJSON *images = cJSON_GetObjectItemCaseSensitive(doc, "images");
    const cJSON *anns = cJSON_GetObjectItemCaseSensitive(doc, "annotations");
    if (!cJSON_IsArray(images) || !cJSON_IsArray(anns)) {
        rc = graft_error_set(err, GRAFT_E_FORMAT,
                             "%s: not a COCO captions file (needs \"images\" and \"annotations\" "
                             "arrays)", path);
        goto done;
    }
    map = malloc(((size_t)cJSON_GetArraySize(images) + 1) * sizeof *map);
    if (!map) {
        rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
        goto done;
    }
    size_t i = 0;
    for (const cJSON *im = images->child; im; im = im->next, i++) {
        graft_eval_sample s = {0};
        long long id = 0;
        int cv = cJSON_IsObject(im) ? json_int(im, "id", &id, why) : bad(why, "not an object");
        if (!cv) cv = json_strs(im, "file_name", NULL, 1, &s.images, &s.n_images, why);
        if (!cv) cv = image_path_ok(s.images[0], why);
        if (!cv) {
            char b[32];
            snprintf(b, sizeof b, "%lld", id);
            s.type = GRAFT_TASK_CAPTION;
            if (!(s.id = strdup(b))) cv = CV_NOMEM;
        }
        if (!cv && ds_push(ds, &s)) cv = CV_NOMEM;
        sample_free(&s);
        if (cv == CV_NOMEM) {
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        if (cv == CV_BAD) {
            ITEM_BAD("images", i);
            continue;
        }
        map[n_img].id = id;
        map[n_img++].idx = ds->n - 1;
    }
    qsort(map, n_img, sizeof *map, cmp_id_idx);
    for (size_t k = 1; k < n_img; k++)
        if (map[k].id == map[k - 1].id) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: image id %lld appears twice", path,
                                 map[k].id);
            goto done;
        }
    i = 0;
    for (const cJSON *a = anns->child; a; a = a->next, i++) {
        id_idx key = {0, 0}, *hit = NULL;
        const cJSON *cap = cJSON_GetObjectItemCaseSensitive(a, "caption");
        int cv = cJSON_IsObject(a) ? json_int(a, "image_id", &key.id, why)
                                   : bad(why, "not an object");
        if (!cv && !cJSON_IsString(cap)) cv = bad(why, "\"caption\" is missing or not a string");
        if (!cv && !(hit = bsearch(&key, map, n_img, sizeof *map, cmp_id_idx)))
            cv = bad(why, "image_id %lld is not in \"images\"", key.id);
        if (!cv) {
            graft_eval_sample *s = &ds->samples[hit->idx];
            if (strv_push(&s->answers, &s->n_answers, cap->valuestring)) cv = CV_NOMEM;
        }
        if (cv == CV_NOMEM) {
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        if (cv == CV_BAD) ITEM_BAD("annotations", i);
    }
    /* an image without any caption cannot be scored: a bad item */
    size_t w = first;
    for (size_t k = first; k < ds->n; k++) {
        if (ds->samples[k].n_answers == 0) {
            snprintf(why, sizeof why, "image id %s has no caption", ds->samples[k].id);
            snprintf(where, sizeof where, "%s: images", path);
            sample_free(&ds->samples[k]);
            if ((rc = on_bad(ds, opts, where, why, err)) != GRAFT_OK) {
                for (size_t j = k + 1; j < ds->n; j++) sample_free(&ds->samples[j]);
                ds->n = w;
                goto done;
            }
            continue;
        }
        ds->samples[w++] = ds->samples[k];
    }
    ds->n = w;
done:
    free(map);
    cJSON_Delete(doc);
    return rollback(ds, first, rc);
}

/* ---- VQAv2 --------------------------------------------------------------------------------- */

/* questions: {"data_subtype": "val2014", "questions": [{"image_id", "question", "question_id"}]};
 * annotations (optional): {"annotations": [{"question_id", "answers": [{"answer"}...],
 * "answer_type", "question_type"}]}. Image: <subtype>/COCO_<subtype>_<image_id %012d>.jpg
 * relative to the root, where subtype is opts.split or the file's data_subtype. Category: the
 * annotation's answer_type. */
int graft_eval_read_vqav2(const char *path, const graft_eval_read_opts *opts,
                          graft_eval_dataset *ds, graft_error *err) {
    graft_eval_read_opts d = graft_eval_read_default_opts();
    if (!path || !ds) return graft_error_set(err, GRAFT_E_INVALID, "graft_eval_read: NULL argument");
    if (!opts) opts = &d;
    cJSON *doc = parse_doc(path, err), *adoc = NULL;
    if (!doc) return err ? err->code : GRAFT_E_FORMAT;
    size_t first = ds->n, n_ann = 0;
    id_idx *map = NULL;
    int rc = GRAFT_OK;
    char where[GRAFT_ERROR_MAX / 2], why[WHY_MAX];
    const cJSON *qs = cJSON_GetObjectItemCaseSensitive(doc, "questions");
    const cJSON *st = cJSON_GetObjectItemCaseSensitive(doc, "data_subtype");
    const char *sub = opts->split ? opts->split : cJSON_IsString(st) ? st->valuestring : NULL;
    const cJSON *anns = NULL;
    if (!cJSON_IsArray(qs)) {
        rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: no \"questions\" array", path);
        goto done;
    }
    if (!sub || !sub[0] || strlen(sub) > 32 || strchr(sub, '/')) {
        rc = graft_error_set(err, GRAFT_E_FORMAT,
                             "%s: no usable \"data_subtype\" (e.g. val2014): give the split", path);
        goto done;
    }
    if (opts->answers_path) {
        if (!(adoc = parse_doc(opts->answers_path, err))) {
            rc = err ? err->code : GRAFT_E_FORMAT;
            goto done;
        }
        anns = cJSON_GetObjectItemCaseSensitive(adoc, "annotations");
        if (!cJSON_IsArray(anns)) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: no \"annotations\" array",
                                 opts->answers_path);
            goto done;
        }
        map = malloc(((size_t)cJSON_GetArraySize(anns) + 1) * sizeof *map);
        if (!map) {
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        size_t i = 0; /* idx here = position in the annotations array */
        for (const cJSON *a = anns->child; a; a = a->next, i++) {
            long long qid = 0;
            if (!cJSON_IsObject(a) || json_int(a, "question_id", &qid, why)) {
                rc = graft_error_set(err, GRAFT_E_FORMAT,
                                     "%s: annotations[%zu]: no integer question_id",
                                     opts->answers_path, i);
                goto done;
            }
            map[n_ann].id = qid;
            map[n_ann++].idx = i;
        }
        qsort(map, n_ann, sizeof *map, cmp_id_idx);
    }
    size_t i = 0;
    for (const cJSON *q = qs->child; q; q = q->next, i++) {
        graft_eval_sample s = {0};
        long long qid = 0, iid = 0;
        int cv = cJSON_IsObject(q) ? json_int(q, "question_id", &qid, why)
                                   : bad(why, "not an object");
        if (!cv) cv = json_int(q, "image_id", &iid, why);
        if (!cv) cv = json_str(q, "question", 1, &s.question, why);
        if (!cv) {
            char b[128];
            s.type = GRAFT_TASK_VQA;
            snprintf(b, sizeof b, "%lld", qid);
            if (!(s.id = strdup(b))) cv = CV_NOMEM;
            snprintf(b, sizeof b, "%s/COCO_%s_%012lld.jpg", sub, sub, iid);
            if (!cv && strv_push(&s.images, &s.n_images, b)) cv = CV_NOMEM;
        }
        if (!cv && map) {
            id_idx key = {qid, 0}, *hit = bsearch(&key, map, n_ann, sizeof *map, cmp_id_idx);
            const cJSON *a = hit ? cJSON_GetArrayItem(anns, (int)hit->idx) : NULL;
            const cJSON *al = a ? cJSON_GetObjectItemCaseSensitive(a, "answers") : NULL;
            if (!a) cv = bad(why, "question_id %lld has no annotation", qid);
            else if (!cJSON_IsArray(al) || !al->child)
                cv = bad(why, "annotation of question_id %lld has no \"answers\"", qid);
            for (const cJSON *e = al ? al->child : NULL; !cv && e; e = e->next) {
                const cJSON *t = cJSON_GetObjectItemCaseSensitive(e, "answer");
                if (!cJSON_IsString(t)) cv = bad(why, "question_id %lld: bad answer", qid);
                else if (strv_push(&s.answers, &s.n_answers, t->valuestring)) cv = CV_NOMEM;
            }
            if (!cv) cv = json_str(a, "answer_type", 0, &s.category, why);
        }
        if (!cv && ds_push(ds, &s)) cv = CV_NOMEM;
        sample_free(&s);
        if (cv == CV_NOMEM) {
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        if (cv == CV_BAD) ITEM_BAD("questions", i);
    }
done:
    free(map);
    cJSON_Delete(adoc);
    cJSON_Delete(doc);
    return rollback(ds, first, rc);
}

/* ---- ScienceQA ------------------------------------------------------------------------------ */

/* problems.json: {"<pid>": {"question", "choices": [..], "answer": k, "hint", "image":
 * "image.png" | null, "split", "subject", ...}}: mcq samples for the problems of opts.split
 * ("test") that have an image, in file order. Image: <pid>/<image>; context: the hint when not
 * empty; answer: the letter 'A' + k; category: subject. */
int graft_eval_read_scienceqa(const char *path, const graft_eval_read_opts *opts,
                              graft_eval_dataset *ds, graft_error *err) {
    graft_eval_read_opts d = graft_eval_read_default_opts();
    if (!path || !ds) return graft_error_set(err, GRAFT_E_INVALID, "graft_eval_read: NULL argument");
    if (!opts) opts = &d;
    const char *split = opts->split ? opts->split : "test";
    cJSON *doc = parse_doc(path, err);
    if (!doc) return err ? err->code : GRAFT_E_FORMAT;
    size_t first = ds->n;
    int rc = GRAFT_OK;
    char where[GRAFT_ERROR_MAX / 2], why[WHY_MAX];
    if (!cJSON_IsObject(doc)) {
        rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: not a ScienceQA problems object", path);
        goto done;
    }
    for (const cJSON *p = doc->child; p; p = p->next) {
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(p, "split");
        const cJSON *im = cJSON_GetObjectItemCaseSensitive(p, "image");
        graft_eval_sample s = {0};
        int cv = CV_OK;
        if (!cJSON_IsObject(p)) cv = bad(why, "not an object");
        else if (!cJSON_IsString(sp)) cv = bad(why, "\"split\" is missing or not a string");
        else if (strcmp(sp->valuestring, split) || !im || cJSON_IsNull(im)) continue;
        else if (!cJSON_IsString(im) || !im->valuestring[0] || strlen(p->string) > 64)
            cv = bad(why, "\"image\" is not a file name");
        if (!cv) {
            char b[256];
            snprintf(b, sizeof b, "%s/%.160s", p->string, im->valuestring);
            s.type = GRAFT_TASK_MCQ;
            if (!(s.id = strdup(p->string)) || strv_push(&s.images, &s.n_images, b)) cv = CV_NOMEM;
        }
        if (!cv) cv = json_str(p, "question", 1, &s.question, why);
        if (!cv) cv = json_strs(p, NULL, "choices", 1, &s.choices, &s.n_choices, why);
        if (!cv && (s.n_choices < 2 || s.n_choices > 26))
            cv = bad(why, "needs 2..26 \"choices\" (has %d)", s.n_choices);
        long long k = -1;
        if (!cv) cv = json_int(p, "answer", &k, why);
        if (!cv && (k < 0 || k >= s.n_choices)) cv = bad(why, "\"answer\" %lld out of range", k);
        if (!cv) {
            char letter[2] = {(char)('A' + k), 0};
            if (strv_push(&s.answers, &s.n_answers, letter)) cv = CV_NOMEM;
        }
        if (!cv) cv = json_str(p, "hint", 0, &s.context, why);
        if (!cv && s.context && !s.context[0]) {
            free(s.context);
            s.context = NULL;
        }
        if (!cv) cv = json_str(p, "subject", 0, &s.category, why);
        if (!cv && ds_push(ds, &s)) cv = CV_NOMEM;
        sample_free(&s);
        if (cv == CV_NOMEM) {
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
            goto done;
        }
        if (cv == CV_BAD) {
            snprintf(where, sizeof where, "%s: problem \"%.64s\"", path,
                     p->string ? p->string : "?");
            if ((rc = on_bad(ds, opts, where, why, err)) != GRAFT_OK) goto done;
        }
    }
done:
    cJSON_Delete(doc);
    return rollback(ds, first, rc);
}

/* ---- dispatch ------------------------------------------------------------------------------- */

int graft_eval_read(graft_eval_format fmt, const char *path, const graft_eval_read_opts *opts,
                    graft_eval_dataset *ds, graft_error *err) {
    switch (fmt) {
    case GRAFT_DS_GRAFT: return graft_eval_read_graft(path, opts, ds, err);
    case GRAFT_DS_POPE: return graft_eval_read_pope(path, opts, ds, err);
    case GRAFT_DS_COCO_CAPTIONS: return graft_eval_read_coco_captions(path, opts, ds, err);
    case GRAFT_DS_LLAVA_BENCH: return graft_eval_read_llava_bench(path, opts, ds, err);
    case GRAFT_DS_VQAV2: return graft_eval_read_vqav2(path, opts, ds, err);
    case GRAFT_DS_SCIENCEQA: return graft_eval_read_scienceqa(path, opts, ds, err);
    default: return graft_error_set(err, GRAFT_E_INVALID, "unknown dataset format %d", (int)fmt);
    }
}

/* ---- image check ---------------------------------------------------------------------------- */

typedef struct {
    const char *path;
    int missing;
} path_ref;

static int cmp_path_ref(const void *a, const void *b) {
    return strcmp(((const path_ref *)a)->path, ((const path_ref *)b)->path);
}

int graft_eval_check_images(const graft_eval_dataset *ds, const char *root, size_t *n_missing,
                            graft_error *err) {
    if (n_missing) *n_missing = 0;
    if (!ds || !root) return graft_error_set(err, GRAFT_E_INVALID, "check_images: NULL argument");
    size_t n = 0;
    for (size_t i = 0; i < ds->n; i++) n += (size_t)ds->samples[i].n_images;
    path_ref *refs = malloc((n + 1) * sizeof *refs);
    if (!refs) return graft_error_set(err, GRAFT_E_NOMEM, "check_images: out of memory");
    n = 0;
    for (size_t i = 0; i < ds->n; i++)
        for (int j = 0; j < ds->samples[i].n_images; j++)
            refs[n++] = (path_ref){ds->samples[i].images[j], 0};
    qsort(refs, n, sizeof *refs, cmp_path_ref);
    size_t distinct = 0, missing = 0;
    for (size_t i = 0; i < n; i++) { /* stat each distinct path once */
        if (distinct && !strcmp(refs[i].path, refs[distinct - 1].path)) continue;
        refs[distinct] = refs[i];
        char *full = NULL;
        struct stat st;
        const char *p = refs[i].path;
        if (p[0] != '/' && asprintf(&full, "%s/%s", root, p) < 0) {
            free(refs);
            return graft_error_set(err, GRAFT_E_NOMEM, "check_images: out of memory");
        }
        refs[distinct].missing = !(stat(full ? full : p, &st) == 0 && S_ISREG(st.st_mode));
        missing += (size_t)refs[distinct].missing;
        distinct++;
        free(full);
    }
    int rc = GRAFT_OK;
    for (size_t i = 0; missing && i < ds->n && rc == GRAFT_OK; i++) /* first in dataset order */
        for (int j = 0; j < ds->samples[i].n_images; j++) {
            path_ref k = {ds->samples[i].images[j], 0};
            const path_ref *h = bsearch(&k, refs, distinct, sizeof *refs, cmp_path_ref);
            if (h && h->missing) {
                rc = graft_error_set(err, GRAFT_E_NOTFOUND,
                                     "%zu of %zu images missing under %s, first: %s (sample %s)",
                                     missing, distinct, root, k.path, ds->samples[i].id);
                break;
            }
        }
    if (n_missing) *n_missing = missing;
    free(refs);
    return rc;
}
