/* dataset.c - evaluation samples: the dataset container, the helpers every reader shares (JSONL
 * line loop, JSON field extraction, bad-line handling), graft's JSONL task format, the reader
 * dispatch and the up-front image check. The public-format readers are in readers.c; formats are
 * documented in docs/eval.md ("Task format"). */
#define GRAFT_EVAL_DATASET_INTERNAL
#include "fileio.h"
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
static const char *const fmt_names[GRAFT_DS_COUNT] = {
    "graft", "pope",      "coco-captions",   "llava-bench",
    "vqav2", "scienceqa", "llava-scienceqa", "llava-questions"};

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

void graft_ds_sample_free(graft_eval_sample *s) {
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
    for (size_t i = 0; i < ds->n; i++) graft_ds_sample_free(&ds->samples[i]);
    free(ds->samples);
    memset(ds, 0, sizeof *ds);
}

/* Moves *s into ds (s is zeroed). 0 or -1 on allocation failure (s untouched). */
int graft_ds_push(graft_eval_dataset *ds, graft_eval_sample *s) {
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
int graft_ds_strv_push(char ***v, int *n, const char *str) {
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

/* Writes the problem into why (WHY_MAX bytes) and returns CV_BAD. */
int graft_ds_bad(char *why, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, WHY_MAX, fmt, ap);
    va_end(ap);
    return CV_BAD;
}

/* Handles a BAD line: fails (GRAFT_E_FORMAT) or counts it when skip_bad. `where` is "file:line"
 * or "file: item". Returns GRAFT_OK when skipped. */
int graft_ds_on_bad(graft_eval_dataset *ds, const graft_eval_read_opts *o, const char *where,
                    const char *why, graft_error *err) {
    if (!o->skip_bad) return graft_error_set(err, GRAFT_E_FORMAT, "%s: %s", where, why);
    if (ds->n_skipped++ == 0) snprintf(ds->first_skip, sizeof ds->first_skip, "%s: %s", where, why);
    return GRAFT_OK;
}

/* d is an integer that fits a long long (checked before the cast, which is undefined outside) */
static int is_int(double d) {
    return d > -9.2e18 && d < 9.2e18 && d == (double)(long long)d;
}

/* ---- JSON helpers -------------------------------------------------------------------------- */

/* An id from a JSON string or integral number into a malloc'd string; NULL with why set if the
 * item is neither (or allocation failed: *nomem = 1). */
int graft_ds_json_id(const cJSON *v, const char *key, char **out, char *why) {
    char buf[64];
    if (cJSON_IsString(v)) {
        if (!v->valuestring[0]) return graft_ds_bad(why, "\"%s\" is empty", key);
        *out = strdup(v->valuestring);
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (!is_int(d)) return graft_ds_bad(why, "\"%s\" is not an integer", key);
        snprintf(buf, sizeof buf, "%lld", (long long)d);
        *out = strdup(buf);
    } else {
        return graft_ds_bad(why, "\"%s\" is missing or not a string/number", key);
    }
    return *out ? CV_OK : CV_NOMEM;
}

/* Required (or optional when !req) string member copied into *out. */
int graft_ds_json_str(const cJSON *obj, const char *key, int req, char **out, char *why) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!v || cJSON_IsNull(v)) return req ? graft_ds_bad(why, "\"%s\" is missing", key) : CV_OK;
    if (!cJSON_IsString(v)) return graft_ds_bad(why, "\"%s\" is not a string", key);
    *out = strdup(v->valuestring);
    return *out ? CV_OK : CV_NOMEM;
}

/* Member `one` (a string) or `many` (an array of strings) into a vector; absent is fine when
 * !req. */
int graft_ds_json_strs(const cJSON *obj, const char *one, const char *many, int req, char ***v,
                       int *n, char *why) {
    const cJSON *a = one ? cJSON_GetObjectItemCaseSensitive(obj, one) : NULL;
    const cJSON *b = many ? cJSON_GetObjectItemCaseSensitive(obj, many) : NULL;
    if (a && b) return graft_ds_bad(why, "both \"%s\" and \"%s\" given", one, many);
    if (a) {
        if (!cJSON_IsString(a)) return graft_ds_bad(why, "\"%s\" is not a string", one);
        return graft_ds_strv_push(v, n, a->valuestring) ? CV_NOMEM : CV_OK;
    }
    if (b) {
        if (!cJSON_IsArray(b)) return graft_ds_bad(why, "\"%s\" is not an array", many);
        int i = 0;
        for (const cJSON *e = b->child; e; e = e->next, i++) {
            if (!cJSON_IsString(e)) return graft_ds_bad(why, "\"%s\"[%d] is not a string", many, i);
            if (graft_ds_strv_push(v, n, e->valuestring)) return CV_NOMEM;
        }
        if (req && *n == 0) return graft_ds_bad(why, "\"%s\" is empty", many);
        return CV_OK;
    }
    if (!req) return CV_OK;
    if (one && many) return graft_ds_bad(why, "neither \"%s\" nor \"%s\" given", one, many);
    return graft_ds_bad(why, "\"%s\" is missing", one ? one : many);
}

int graft_ds_image_path_ok(const char *p, char *why) {
    if (!p[0]) return graft_ds_bad(why, "empty image path");
    return CV_OK;
}

/* ---- files ----------------------------------------------------------------------------------- */

/* The whole file, NUL-terminated (fileio.h: sized by fstat, at most GRAFT_EVAL_MAX_FILE). */
static char *read_all(const char *path, size_t *len, graft_error *err) {
    char *buf;
    return graft_file_read(path, GRAFT_EVAL_MAX_FILE, &buf, len, err) ? NULL : buf;
}

/* One JSON value filling p[0..n) up to whitespace (cJSON alone accepts trailing bytes, as in
 * `{"a": 1} x`, which Python's json rejects); NULL otherwise, *end at the problem. */
static cJSON *parse_exact(const char *p, size_t n, const char **end) {
    *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(p, n, end, 0);
    if (!v || !*end) return v;
    const char *e = *end;
    while (e < p + n && (*e == ' ' || *e == '\t' || *e == '\n' || *e == '\r')) e++;
    if (e == p + n) return v;
    cJSON_Delete(v);
    *end = e;
    return NULL;
}

cJSON *graft_ds_parse_doc(const char *path, graft_error *err) {
    size_t len;
    char *text = read_all(path, &len, err);
    if (!text) return NULL;
    const char *end = NULL;
    cJSON *doc = parse_exact(text, len, &end);
    if (!doc) {
        size_t off = end ? (size_t)(end - text) : 0, line = 1;
        for (size_t i = 0; i < off && i < len; i++) line += text[i] == '\n';
        graft_error_set(err, GRAFT_E_FORMAT, "%s:%zu: not valid JSON", path, line);
    }
    free(text);
    return doc;
}

/* Reads a JSONL file line by line (blank lines ignored, '\r' before '\n' tolerated). */
int graft_ds_read_jsonl(const char *path, const graft_eval_read_opts *o, graft_eval_dataset *ds,
                        graft_ds_line_conv conv, void *ctx, graft_error *err) {
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
        const char *end;
        cJSON *obj = parse_exact(p, n, &end);
        graft_eval_sample s = {0};
        int cv;
        if (!obj)
            cv = graft_ds_bad(why, "not valid JSON");
        else if (!cJSON_IsObject(obj))
            cv = graft_ds_bad(why, "not a JSON object");
        else
            cv = conv(obj, ctx, &s, why);
        cJSON_Delete(obj);
        if (cv == CV_OK && graft_ds_push(ds, &s)) cv = CV_NOMEM;
        graft_ds_sample_free(&s);
        if (cv == CV_NOMEM)
            rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", where);
        else if (cv == CV_BAD)
            rc = graft_ds_on_bad(ds, o, where, why, err);
        p = next;
    }
    free(text);
    return rc;
}

int graft_ds_json_int(const cJSON *obj, const char *key, long long *out, char *why) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);
    if (!cJSON_IsNumber(v) || !is_int(v->valuedouble))
        return graft_ds_bad(why, "\"%s\" is missing or not an integer", key);
    *out = (long long)v->valuedouble;
    return CV_OK;
}

/* Drops samples [first, ds->n) and returns rc (readers of single documents add all or nothing). */
int graft_ds_rollback(graft_eval_dataset *ds, size_t first, int rc) {
    if (rc != GRAFT_OK) {
        for (size_t i = first; i < ds->n; i++) graft_ds_sample_free(&ds->samples[i]);
        ds->n = first;
    }
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
        for (size_t i = first; i < ds->n; i++) graft_ds_sample_free(&ds->samples[i]);
        ds->n = first;
    }
    return rc;
}

static int conv_graft(const cJSON *obj, void *ctx, graft_eval_sample *s, char *why) {
    (void)ctx;
    int cv;
    if ((cv = graft_ds_json_id(cJSON_GetObjectItemCaseSensitive(obj, "id"), "id", &s->id, why)))
        return cv;
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(obj, "type");
    if (!cJSON_IsString(t)) return graft_ds_bad(why, "\"type\" is missing or not a string");
    int type = graft_task_parse(t->valuestring);
    if (type < 0)
        return graft_ds_bad(why, "unknown type \"%.40s\" (caption|vqa|mcq|yesno|open)",
                            t->valuestring);
    s->type = (graft_task_type)type;
    if ((cv = graft_ds_json_strs(obj, "image", "images", 1, &s->images, &s->n_images, why)))
        return cv;
    for (int i = 0; i < s->n_images; i++)
        if ((cv = graft_ds_image_path_ok(s->images[i], why))) return cv;
    if ((cv = graft_ds_json_str(obj, "question", s->type != GRAFT_TASK_CAPTION, &s->question, why)))
        return cv;
    if ((cv = graft_ds_json_str(obj, "context", 0, &s->context, why))) return cv;
    if ((cv = graft_ds_json_str(obj, "category", 0, &s->category, why))) return cv;
    if ((cv = graft_ds_json_strs(obj, NULL, "choices", 0, &s->choices, &s->n_choices, why)))
        return cv;
    if (s->type == GRAFT_TASK_MCQ && (s->n_choices < 2 || s->n_choices > 26))
        return graft_ds_bad(why, "mcq needs 2..26 \"choices\" (has %d)", s->n_choices);
    if (s->type != GRAFT_TASK_MCQ && s->n_choices)
        return graft_ds_bad(why, "\"choices\" given for a %s sample", task_names[s->type]);
    if ((cv = graft_ds_json_strs(obj, "answer", "answers", 0, &s->answers, &s->n_answers, why)))
        return cv;
    if (s->type == GRAFT_TASK_MCQ && s->n_answers) {
        const char *a = s->answers[0];
        if (s->n_answers != 1 || !(a[0] >= 'A' && a[0] < 'A' + s->n_choices && !a[1]))
            return graft_ds_bad(why, "mcq \"answer\" must be one letter A..%c",
                                'A' + s->n_choices - 1);
    }
    if (s->type == GRAFT_TASK_YESNO && s->n_answers &&
        (s->n_answers != 1 || (strcmp(s->answers[0], "yes") && strcmp(s->answers[0], "no"))))
        return graft_ds_bad(why, "yesno \"answer\" must be \"yes\" or \"no\"");
    return CV_OK;
}

int graft_ds_begin(const char *path, const graft_eval_dataset *ds,
                   const graft_eval_read_opts **opts, graft_eval_read_opts *d, graft_error *err) {
    if (!path || !ds) return graft_error_set(err, GRAFT_E_INVALID, "graft_eval_read: NULL argument");
    *d = graft_eval_read_default_opts();
    if (!*opts) *opts = d;
    return GRAFT_OK;
}

int graft_eval_read_graft(const char *path, const graft_eval_read_opts *opts,
                          graft_eval_dataset *ds, graft_error *err) {
    graft_eval_read_opts d;
    int rc0 = graft_ds_begin(path, ds, &opts, &d, err);
    if (rc0) return rc0;
    size_t first = ds->n;
    int rc = graft_ds_read_jsonl(path, opts, ds, conv_graft, NULL, err);
    if (rc == GRAFT_OK) rc = check_unique_ids(path, ds, first, err);
    return rc;
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
    case GRAFT_DS_LLAVA_SCIENCEQA: return graft_eval_read_llava_scienceqa(path, opts, ds, err);
    case GRAFT_DS_LLAVA_QUESTIONS: return graft_eval_read_llava_questions(path, opts, ds, err);
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
