/* score.c - (dataset, predictions) -> summary: every task type's metrics gathered into one cJSON
 * tree with the keys documented in docs/eval.md ("Summaries and --score-only"), rendered as
 * JSON and markdown, and written atomically. Answer files: answers.c; comparison: compare.c. */
#define GRAFT_EVAL_SCORE_INTERNAL
#include "score.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "caption.h"
#include "chair.h"
#include "error.h"
#include "metrics.h"
#include "tasks.h"
#include "strbuf.h"

graft_eval_score_opts graft_eval_score_default_opts(void) {
    graft_eval_score_opts o = {0};
    o.open_metrics = 1;
    o.mcq_mode = "generate";
    return o;
}

graft_eval_summary *graft_eval_summary_wrap(cJSON *root) {
    graft_eval_summary *s = malloc(sizeof *s);
    if (!s) {
        cJSON_Delete(root);
        return NULL;
    }
    s->root = root;
    return s;
}

void graft_eval_summary_free(graft_eval_summary *s) {
    if (!s) return;
    cJSON_Delete(s->root);
    free(s);
}

/* ---- small cJSON helpers: each returns 0 or -1 (allocation failure) ----------------------- */

static int put_num(cJSON *o, const char *k, double v) {
    cJSON *n = cJSON_CreateNumber(v);
    if (!n) return -1;
    if (cJSON_GetObjectItemCaseSensitive(o, k)) return cJSON_ReplaceItemInObjectCaseSensitive(o, k, n) ? 0 : -1;
    return cJSON_AddItemToObject(o, k, n) ? 0 : (cJSON_Delete(n), -1);
}

static int put_str(cJSON *o, const char *k, const char *v) {
    cJSON *n = cJSON_CreateString(v ? v : "");
    if (!n) return -1;
    if (cJSON_GetObjectItemCaseSensitive(o, k)) return cJSON_ReplaceItemInObjectCaseSensitive(o, k, n) ? 0 : -1;
    return cJSON_AddItemToObject(o, k, n) ? 0 : (cJSON_Delete(n), -1);
}

/* o[k], created as an empty object when absent; NULL on allocation failure */
static cJSON *get_obj(cJSON *o, const char *k) {
    cJSON *c = cJSON_GetObjectItemCaseSensitive(o, k);
    if (c) return c;
    return cJSON_AddObjectToObject(o, k);
}

int graft_eval_summary_set_number(graft_eval_summary *s, const char *key, double v) {
    if (!s || !key) return GRAFT_E_INVALID;
    return put_num(s->root, key, v) ? GRAFT_E_NOMEM : GRAFT_OK;
}

int graft_eval_summary_set_string(graft_eval_summary *s, const char *key, const char *v) {
    if (!s || !key) return GRAFT_E_INVALID;
    return put_str(s->root, key, v) ? GRAFT_E_NOMEM : GRAFT_OK;
}

/* The member of o that path starts with as a whole key ("key" or "key.rest"); the longest such
 * key wins, so a category name may contain dots. *rest receives what follows. */
static const cJSON *path_step(const cJSON *o, const char *path, const char **rest) {
    const cJSON *best = NULL;
    size_t best_len = 0;
    for (const cJSON *c = o->child; c; c = c->next) {
        size_t n = strlen(c->string);
        if (n >= best_len && strncmp(path, c->string, n) == 0 && (path[n] == '\0' || path[n] == '.')) {
            best = c;
            best_len = n;
        }
    }
    if (best) *rest = path + best_len + (path[best_len] == '.');
    return best;
}

int graft_eval_summary_get(const graft_eval_summary *s, const char *path, double *v) {
    if (!s || !path) return 0;
    const cJSON *o = s->root;
    while (o && *path) {
        if (!cJSON_IsObject(o)) return 0;
        o = path_step(o, path, &path);
    }
    if (!o || !cJSON_IsNumber(o)) return 0;
    if (v) *v = o->valuedouble;
    return 1;
}

/* ---- the scored subset -------------------------------------------------------------------- */

/* Indices of the samples of one type that are scored: answered and with ground truth. */
typedef struct {
    size_t *idx;
    size_t n;
} subset;

/* Distinct categories of the subset in order of first appearance. */
typedef struct {
    const char **name;
    int n;
} catlist;

static int cats_of(const graft_eval_dataset *ds, const subset *ss, catlist *c) {
    c->name = NULL;
    c->n = 0;
    if (ss->n == 0) return 0;
    c->name = malloc(sizeof *c->name * ss->n);
    if (!c->name) return -1;
    for (size_t k = 0; k < ss->n; k++) {
        const char *cat = ds->samples[ss->idx[k]].category;
        if (!cat) continue;
        int seen = 0;
        for (int j = 0; j < c->n && !seen; j++) seen = strcmp(c->name[j], cat) == 0;
        if (!seen) c->name[c->n++] = cat;
    }
    return 0;
}

static int cat_is(const graft_eval_sample *s, const char *cat) {
    return s->category && strcmp(s->category, cat) == 0;
}

#define NOMEM(err) graft_error_set(err, GRAFT_E_NOMEM, "eval score: out of memory")

/* ---- yes/no (POPE) ------------------------------------------------------------------------ */

/* with_n: a category's own count (the top level has "n" = all samples of the type already) */
static int pope_put(cJSON *o, const graft_pope_result *r, int with_n) {
    return (with_n && put_num(o, "n", (double)r->n_pairs)) || put_num(o, "accuracy", r->accuracy) ||
           put_num(o, "precision", r->precision) || put_num(o, "recall", r->recall) ||
           put_num(o, "f1", r->f1) || put_num(o, "yes_ratio", r->yes_ratio) ||
           put_num(o, "tp", (double)r->tp) || put_num(o, "fp", (double)r->fp) ||
           put_num(o, "tn", (double)r->tn) || put_num(o, "fn", (double)r->fn);
}

/* answers/labels of the subset samples in category cat (NULL: all) */
static int pope_one(const graft_eval_dataset *ds, const char *const *preds, const subset *ss,
                    const char *cat, const char **a, const char **l, graft_pope_result *r,
                    graft_error *err) {
    size_t m = 0;
    for (size_t k = 0; k < ss->n; k++) {
        const graft_eval_sample *s = &ds->samples[ss->idx[k]];
        if (cat && !cat_is(s, cat)) continue;
        a[m] = preds[ss->idx[k]];
        l[m] = s->answers[0];
        m++;
    }
    return graft_pope_score(a, m, l, m, r, err);
}

static int score_yesno(const graft_eval_dataset *ds, const char *const *preds, const subset *ss,
                       cJSON *o, graft_error *err) {
    const char **a = malloc(sizeof *a * ss->n), **l = malloc(sizeof *l * ss->n);
    catlist cl = {0};
    int rc = GRAFT_OK;
    if (!a || !l || cats_of(ds, ss, &cl)) {
        rc = NOMEM(err);
        goto done;
    }
    graft_pope_result r;
    if ((rc = pope_one(ds, preds, ss, NULL, a, l, &r, err))) goto done;
    if (pope_put(o, &r, 0)) goto oom;
    if (cl.n > 0) {
        cJSON *cats = get_obj(o, "categories");
        if (!cats) goto oom;
        double sum_f1 = 0.0, sum_acc = 0.0;
        for (int c = 0; c < cl.n; c++) {
            if ((rc = pope_one(ds, preds, ss, cl.name[c], a, l, &r, err))) goto done;
            cJSON *co = get_obj(cats, cl.name[c]);
            if (!co || pope_put(co, &r, 1)) goto oom;
            sum_f1 += r.f1;
            sum_acc += r.accuracy;
        }
        if (put_num(o, "mean_f1", sum_f1 / cl.n) || put_num(o, "mean_accuracy", sum_acc / cl.n))
            goto oom;
    }
    goto done;
oom:
    rc = NOMEM(err);
done:
    free(a);
    free(l);
    free(cl.name);
    return rc;
}

/* ---- VQA ---------------------------------------------------------------------------------- */

static int score_vqa(const graft_eval_dataset *ds, const char *const *preds, const subset *ss,
                     cJSON *o, graft_error *err) {
    graft_vqa_item *it = calloc(ss->n, sizeof *it);
    if (!it) return NOMEM(err);
    for (size_t k = 0; k < ss->n; k++) {
        const graft_eval_sample *s = &ds->samples[ss->idx[k]];
        it[k].gt = (const char *const *)s->answers;
        it[k].n_gt = s->n_answers;
        it[k].pred = preds[ss->idx[k]];
        it[k].answer_type = s->category;
    }
    graft_vqa_result r;
    int rc = graft_vqa_score(it, ss->n, &r, err);
    free(it);
    if (rc) return rc;
    if (put_num(o, "accuracy", r.overall)) goto oom;
    if (r.n_atype > 0) {
        cJSON *cats = get_obj(o, "categories");
        if (!cats) goto oom;
        for (int c = 0; c < r.n_atype; c++) {
            cJSON *co = get_obj(cats, r.per_atype[c].name);
            if (!co || put_num(co, "n", (double)r.per_atype[c].n) ||
                put_num(co, "accuracy", r.per_atype[c].accuracy))
                goto oom;
        }
    }
    graft_vqa_result_free(&r);
    return GRAFT_OK;
oom:
    graft_vqa_result_free(&r);
    return NOMEM(err);
}

/* ---- multiple choice ---------------------------------------------------------------------- */

static int mcq_put(cJSON *o, size_t n, size_t correct, size_t failed, int with_n) {
    return (with_n && put_num(o, "n", (double)n)) || put_num(o, "n_correct", (double)correct) ||
           put_num(o, "n_failed", (double)failed) ||
           put_num(o, "accuracy", n ? 100.0 * (double)correct / (double)n : 0.0);
}

/* ss here includes the unanswered samples (a missing answer is wrong, as "FAILED") */
static int score_mcq(const graft_eval_dataset *ds, const char *const *preds, const subset *ss,
                     const char *mode, cJSON *o, graft_error *err) {
    catlist cl = {0};
    int *ok = malloc(sizeof *ok * (ss->n ? ss->n : 1)), *failed = malloc(sizeof *failed * (ss->n ? ss->n : 1));
    if (!ok || !failed || cats_of(ds, ss, &cl)) goto oom;
    size_t nc = 0, nf = 0;
    for (size_t k = 0; k < ss->n; k++) {
        const graft_eval_sample *s = &ds->samples[ss->idx[k]];
        int want = s->answers[0][0] - 'A';
        int got = graft_mcq_pred_idx(preds[ss->idx[k]], s->n_choices);
        failed[k] = graft_mcq_extract(preds[ss->idx[k]]) == 0;
        ok[k] = got >= 0 && got == want;
        nc += (size_t)ok[k];
        nf += (size_t)failed[k];
    }
    if (mcq_put(o, ss->n, nc, nf, 0) || put_str(o, "mode", mode ? mode : "generate")) goto oom;
    if (cl.n > 0) {
        cJSON *cats = get_obj(o, "categories");
        if (!cats) goto oom;
        for (int c = 0; c < cl.n; c++) {
            size_t n = 0, cc = 0, cf = 0;
            for (size_t k = 0; k < ss->n; k++) {
                if (!cat_is(&ds->samples[ss->idx[k]], cl.name[c])) continue;
                n++;
                cc += (size_t)ok[k];
                cf += (size_t)failed[k];
            }
            cJSON *co = get_obj(cats, cl.name[c]);
            if (!co || mcq_put(co, n, cc, cf, 1)) goto oom;
        }
    }
    free(ok);
    free(failed);
    free(cl.name);
    return GRAFT_OK;
oom:
    free(ok);
    free(failed);
    free(cl.name);
    return NOMEM(err);
}

/* ---- reference-based caption metrics (caption, open) --------------------------------------- */

/* PTB-tokenize hypotheses and references of the subset, then BLEU-1..4, ROUGE-L, CIDEr-D as
 * COCOEvalCap.evaluate() runs them. */
static int score_caption_metrics(const graft_eval_dataset *ds, const char *const *preds,
                                 const subset *ss, cJSON *o, graft_error *err) {
    size_t n = ss->n;
    char **hyp = calloc(n, sizeof *hyp);
    char ***refs = calloc(n, sizeof *refs);
    graft_cap_sample *cs = calloc(n, sizeof *cs);
    int rc = GRAFT_OK;
    if (!hyp || !refs || !cs) {
        rc = NOMEM(err);
        goto done;
    }
    for (size_t k = 0; k < n; k++) {
        const graft_eval_sample *s = &ds->samples[ss->idx[k]];
        if ((rc = graft_ptb_tokenize(preds[ss->idx[k]], &hyp[k], err))) goto done;
        refs[k] = calloc((size_t)s->n_answers, sizeof *refs[k]);
        if (!refs[k]) {
            rc = NOMEM(err);
            goto done;
        }
        for (int j = 0; j < s->n_answers; j++)
            if ((rc = graft_ptb_tokenize(s->answers[j], &refs[k][j], err))) goto done;
        cs[k] = (graft_cap_sample){hyp[k], (const char *const *)refs[k], s->n_answers};
    }
    double bleu[4], rouge, cider;
    if ((rc = graft_bleu(cs, (int)n, bleu, NULL, NULL, err)) ||
        (rc = graft_rouge_l(cs, (int)n, &rouge, NULL, err)) ||
        (rc = graft_cider_d(cs, (int)n, &cider, NULL, err)))
        goto done;
    if (put_num(o, "bleu_1", bleu[0]) || put_num(o, "bleu_2", bleu[1]) ||
        put_num(o, "bleu_3", bleu[2]) || put_num(o, "bleu_4", bleu[3]) ||
        put_num(o, "rouge_l", rouge) || put_num(o, "cider", cider))
        rc = NOMEM(err);
done:
    for (size_t k = 0; hyp && refs && k < n; k++) {
        free(hyp[k]);
        if (refs[k])
            for (int j = 0; j < ds->samples[ss->idx[k]].n_answers; j++) free(refs[k][j]);
        free(refs[k]);
    }
    free(hyp);
    free(refs);
    free(cs);
    return rc;
}

/* CHAIR over the answered caption samples (ground truth: the instances file plus the samples'
 * reference captions, as chair.py adds the COCO captions of the image). */
static int score_chair(const graft_eval_dataset *ds, const char *const *preds, const subset *ss,
                       const graft_eval_score_opts *opt, cJSON *o, graft_error *err) {
    const char *syn = opt->chair_synonyms ? opt->chair_synonyms : graft_chair_default_synonyms();
    if (!syn)
        return graft_error_set(err, GRAFT_E_NOTFOUND,
                               "CHAIR: no synonym list (give its path: --chair-synonyms)");
    graft_chair *c = NULL;
    long long *ids = malloc(sizeof *ids * (ss->n ? ss->n : 1));
    const char **caps = malloc(sizeof *caps * (ss->n ? ss->n : 1));
    int rc;
    if (!ids || !caps) {
        rc = NOMEM(err);
        goto done;
    }
    if ((rc = graft_chair_new(syn, &c, err))) goto done;
    if ((rc = graft_chair_add_ground_truth(c, opt->chair_instances, err))) goto done;
    for (size_t k = 0; k < ss->n; k++) {
        const graft_eval_sample *s = &ds->samples[ss->idx[k]];
        ids[k] = graft_chair_image_key(s->id, s->n_images ? s->images[0] : NULL);
        if (ids[k] < 0) {
            rc = graft_error_set(err, GRAFT_E_INVALID,
                                 "CHAIR: sample %s has no COCO image id (in its id or image name)",
                                 s->id);
            goto done;
        }
        for (int j = 0; j < s->n_answers; j++)
            if ((rc = graft_chair_add_caption(c, ids[k], s->answers[j], err))) goto done;
        caps[k] = preds[ss->idx[k]];
    }
    graft_chair_result r;
    if ((rc = graft_chair_score(c, ids, caps, ss->n, &r, err))) goto done;
    if (put_num(o, "chair_s", r.chair_s) || put_num(o, "chair_i", r.chair_i) ||
        put_num(o, "chair_mentions", (double)r.n_mentions) ||
        put_num(o, "chair_hallucinated", (double)r.n_hallucinated) ||
        put_num(o, "chair_no_ground_truth", (double)r.n_no_ground_truth))
        rc = NOMEM(err);
done:
    graft_chair_free(c);
    free(ids);
    free(caps);
    return rc;
}

/* ---- open-ended --------------------------------------------------------------------------- */

static int review_put(cJSON *o, const graft_review_stats *r, int top) {
    return put_num(o, top ? "n_judged" : "n", (double)r->n) || put_num(o, "relative_score", r->relative) ||
           put_num(o, "score_ref", r->score1_x10) || put_num(o, "score_model", r->score2_x10) ||
           put_num(o, "mean_ref", r->mean1) || put_num(o, "mean_model", r->mean2) ||
           put_num(o, "relative_exact", r->relative_exact);
}

/* judge pairs of the answered samples in category cat (NULL: all) that have both scores */
static int judge_one(const graft_eval_dataset *ds, const char *const *preds, const double *j1,
                     const double *j2, const char *cat, double *a, double *b,
                     graft_review_stats *r, int *any, graft_error *err) {
    size_t m = 0;
    for (size_t i = 0; i < ds->n; i++) {
        if (ds->samples[i].type != GRAFT_TASK_OPEN || !preds[i]) continue;
        if (cat && !cat_is(&ds->samples[i], cat)) continue;
        if (isnan(j1[i]) || isnan(j2[i])) continue;
        a[m] = j1[i];
        b[m] = j2[i];
        m++;
    }
    *any = m > 0;
    if (m == 0) return GRAFT_OK;
    return graft_review_summarize(a, b, m, r, err);
}

static int score_open(const graft_eval_dataset *ds, const char *const *preds, const subset *all,
                      const graft_eval_score_opts *opt, cJSON *o, graft_error *err) {
    int rc = GRAFT_OK;
    if (opt->open_metrics) {
        subset ref = {malloc(sizeof(size_t) * (all->n ? all->n : 1)), 0};
        if (!ref.idx) return NOMEM(err);
        for (size_t k = 0; k < all->n; k++)
            if (ds->samples[all->idx[k]].n_answers > 0) ref.idx[ref.n++] = all->idx[k];
        if (put_num(o, "n_with_reference", (double)ref.n)) rc = NOMEM(err);
        if (!rc && ref.n > 0) rc = score_caption_metrics(ds, preds, &ref, o, err);
        free(ref.idx);
        if (rc) return rc;
    }
    if (opt->judge_ref && opt->judge_model) {
        double *a = malloc(sizeof *a * ds->n), *b = malloc(sizeof *b * ds->n);
        catlist cl = {0};
        if (!a || !b || cats_of(ds, all, &cl)) {
            rc = NOMEM(err);
            goto jdone;
        }
        graft_review_stats r;
        int any;
        if ((rc = judge_one(ds, preds, opt->judge_ref, opt->judge_model, NULL, a, b, &r, &any,
                            err)))
            goto jdone;
        if (any && review_put(o, &r, 1)) goto joom;
        if (any && cl.n > 0) {
            cJSON *cats = get_obj(o, "categories");
            if (!cats) goto joom;
            for (int c = 0; c < cl.n; c++) {
                if ((rc = judge_one(ds, preds, opt->judge_ref, opt->judge_model, cl.name[c], a,
                                    b, &r, &any, err)))
                    goto jdone;
                if (!any) continue;
                cJSON *co = get_obj(cats, cl.name[c]);
                if (!co || review_put(co, &r, 0)) goto joom;
            }
        }
        goto jdone;
    joom:
        rc = NOMEM(err);
    jdone:
        free(a);
        free(b);
        free(cl.name);
    }
    return rc;
}

/* ---- one type, and the whole summary ------------------------------------------------------ */

static int has_truth(const graft_eval_sample *s) {
    switch (s->type) {
    case GRAFT_TASK_MCQ:
        return s->n_answers > 0 && s->answers[0][0] >= 'A' && s->answers[0][0] <= 'Z' &&
               s->answers[0][1] == '\0';
    case GRAFT_TASK_OPEN:
        return 1; /* references optional: judge scores or none */
    default:
        return s->n_answers > 0;
    }
}

static int score_type(const graft_eval_dataset *ds, const char *const *preds, graft_task_type t,
                      const graft_eval_score_opts *opt, cJSON *o, graft_error *err) {
    subset ss = {malloc(sizeof(size_t) * ds->n), 0};
    subset ans = {malloc(sizeof(size_t) * ds->n), 0}; /* answered, ground truth or not (CHAIR) */
    if (!ss.idx || !ans.idx) {
        free(ss.idx);
        free(ans.idx);
        return NOMEM(err);
    }
    size_t n = 0, missing = 0, unscored = 0;
    for (size_t i = 0; i < ds->n; i++) {
        const graft_eval_sample *s = &ds->samples[i];
        if (s->type != t) continue;
        n++;
        if (!preds[i]) missing++;
        else ans.idx[ans.n++] = i;
        if (!has_truth(s)) {
            unscored++;
            continue;
        }
        if (preds[i] || t == GRAFT_TASK_MCQ) ss.idx[ss.n++] = i;
    }
    int rc = GRAFT_OK;
    if (put_str(o, "type", graft_task_name(t)) || put_num(o, "n", (double)n) ||
        put_num(o, "n_scored", (double)ss.n) || put_num(o, "n_missing", (double)missing) ||
        put_num(o, "n_unscored", (double)unscored)) {
        free(ss.idx);
        free(ans.idx);
        return NOMEM(err);
    }
    /* with nothing to score only the counts are written */
    switch (t) {
    case GRAFT_TASK_YESNO:
        if (ss.n) rc = score_yesno(ds, preds, &ss, o, err);
        break;
    case GRAFT_TASK_VQA:
        if (ss.n) rc = score_vqa(ds, preds, &ss, o, err);
        break;
    case GRAFT_TASK_MCQ:
        if (ss.n) rc = score_mcq(ds, preds, &ss, opt->mcq_mode, o, err);
        break;
    case GRAFT_TASK_CAPTION: /* CHAIR needs no reference captions: every answered caption */
        if (ss.n) rc = score_caption_metrics(ds, preds, &ss, o, err);
        if (!rc && opt->chair_instances && ans.n) rc = score_chair(ds, preds, &ans, opt, o, err);
        break;
    case GRAFT_TASK_OPEN: rc = score_open(ds, preds, &ss, opt, o, err); break;
    default: rc = graft_error_set(err, GRAFT_E_INVALID, "eval score: bad task type"); break;
    }
    free(ss.idx);
    free(ans.idx);
    return rc;
}

int graft_eval_score(const graft_eval_dataset *ds, const char *const *preds,
                     const graft_eval_score_opts *opt, graft_eval_summary **out,
                     graft_error *err) {
    if (out) *out = NULL;
    if (!ds || !preds || !out) return graft_error_set(err, GRAFT_E_INVALID, "eval score: NULL argument");
    if (ds->n == 0) return graft_error_set(err, GRAFT_E_INVALID, "eval score: the dataset is empty");
    graft_eval_score_opts d = graft_eval_score_default_opts();
    if (!opt) opt = &d;
    int want = -1;
    if (opt->task) {
        const graft_eval_task_info *ti = graft_eval_task_find(opt->task);
        if (!ti) return graft_error_set(err, GRAFT_E_INVALID, "eval score: unknown task \"%s\"", opt->task);
        want = (int)ti->type;
    }
    int present[GRAFT_TASK_COUNT] = {0}, n_types = 0;
    for (size_t i = 0; i < ds->n; i++) {
        int t = (int)ds->samples[i].type;
        if (t < 0 || t >= GRAFT_TASK_COUNT) return graft_error_set(err, GRAFT_E_INVALID, "eval score: bad task type");
        n_types += !present[t];
        present[t] = 1;
    }
    if (want >= 0 && (n_types != 1 || !present[want]))
        return graft_error_set(err, GRAFT_E_INVALID,
                               "eval score: task \"%s\" scores %s samples, the dataset has %s",
                               opt->task, graft_task_name((graft_task_type)want),
                               n_types == 1 ? "others" : "several types");
    cJSON *root = cJSON_CreateObject();
    if (!root) return NOMEM(err);
    int rc = GRAFT_OK;
    if (n_types == 1) {
        int t = 0;
        while (!present[t]) t++;
        if (put_str(root, "task", opt->task ? opt->task : graft_task_name((graft_task_type)t))) {
            rc = NOMEM(err);
            goto fail;
        }
        if ((rc = score_type(ds, preds, (graft_task_type)t, opt, root, err))) goto fail;
    } else {
        size_t missing = 0;
        for (size_t i = 0; i < ds->n; i++) missing += preds[i] == NULL;
        cJSON *types;
        if (put_str(root, "task", "mixed") || put_num(root, "n", (double)ds->n) ||
            put_num(root, "n_missing", (double)missing) || !(types = get_obj(root, "types"))) {
            rc = NOMEM(err);
            goto fail;
        }
        for (int t = 0; t < GRAFT_TASK_COUNT; t++) {
            if (!present[t]) continue;
            cJSON *to = get_obj(types, graft_task_name((graft_task_type)t));
            if (!to) {
                rc = NOMEM(err);
                goto fail;
            }
            if ((rc = score_type(ds, preds, (graft_task_type)t, opt, to, err))) goto fail;
        }
    }
    if (ds->n_skipped && (put_num(root, "n_skipped_bad", (double)ds->n_skipped) ||
                          put_str(root, "first_skipped", ds->first_skip))) {
        rc = NOMEM(err);
        goto fail;
    }
    *out = graft_eval_summary_wrap(root);
    return *out ? GRAFT_OK : NOMEM(err);
fail:
    cJSON_Delete(root);
    return rc;
}

/* ---- rendering ---------------------------------------------------------------------------- */

char *graft_eval_summary_json(const graft_eval_summary *s) {
    if (!s) return NULL;
    char *j = cJSON_Print(s->root);
    if (!j) return NULL;
    size_t n = strlen(j);
    char *r = realloc(j, n + 2);
    if (!r) {
        free(j);
        return NULL;
    }
    r[n] = '\n';
    r[n + 1] = '\0';
    return r;
}

/* Counts ("n", "n_*", tp/fp/tn/fn, "chair_<count>") print as integers, metrics with 4 decimals
 * (summary.json keeps full precision). */
static int is_count(const char *k) {
    return !strcmp(k, "n") || !strncmp(k, "n_", 2) || !strcmp(k, "tp") || !strcmp(k, "fp") ||
           !strcmp(k, "tn") || !strcmp(k, "fn") || !strcmp(k, "chair_mentions") ||
           !strcmp(k, "chair_hallucinated") || !strcmp(k, "chair_no_ground_truth");
}

static void sb_num(graft_sb *b, const char *key, double v) {
    if (is_count(key) && v == floor(v) && fabs(v) < 1e15)
        graft_sb_printf(b, "%.0f", v);
    else
        graft_sb_printf(b, "%.4f", v);
}

/* key | value rows of the scalar members of o */
static void md_scalars(graft_sb *b, const cJSON *o) {
    graft_sb_printf(b, "| key | value |\n|---|---|\n");
    for (const cJSON *c = o->child; c; c = c->next) {
        if (cJSON_IsNumber(c)) {
            graft_sb_printf(b, "| %s | ", c->string);
            sb_num(b, c->string, c->valuedouble);
            graft_sb_printf(b, " |\n");
        } else if (cJSON_IsString(c) && strcmp(c->string, "review_printout") != 0) {
            graft_sb_printf(b, "| %s | %s |\n", c->string, c->valuestring);
        }
    }
}

/* rows = the members of cats, columns = the union of their numeric keys in first-seen order */
static void md_categories(graft_sb *b, const cJSON *cats) {
    const char *cols[64];
    int nc = 0;
    for (const cJSON *r = cats->child; r; r = r->next)
        for (const cJSON *c = r->child; c; c = c->next) {
            if (!cJSON_IsNumber(c)) continue;
            int seen = 0;
            for (int j = 0; j < nc && !seen; j++) seen = strcmp(cols[j], c->string) == 0;
            if (!seen && nc < 64) cols[nc++] = c->string;
        }
    graft_sb_printf(b, "| category |");
    for (int j = 0; j < nc; j++) graft_sb_printf(b, " %s |", cols[j]);
    graft_sb_printf(b, "\n|---|");
    for (int j = 0; j < nc; j++) graft_sb_printf(b, "---|");
    graft_sb_printf(b, "\n");
    for (const cJSON *r = cats->child; r; r = r->next) {
        graft_sb_printf(b, "| %s |", r->string);
        for (int j = 0; j < nc; j++) {
            const cJSON *v = cJSON_GetObjectItemCaseSensitive(r, cols[j]);
            graft_sb_printf(b, " ");
            if (cJSON_IsNumber(v)) sb_num(b, cols[j], v->valuedouble);
            graft_sb_printf(b, " |");
        }
        graft_sb_printf(b, "\n");
    }
}

static void md_body(graft_sb *b, const cJSON *o, const char *h) {
    md_scalars(b, o);
    const cJSON *cats = cJSON_GetObjectItemCaseSensitive(o, "categories");
    if (cJSON_IsObject(cats) && cats->child) {
        graft_sb_printf(b, "\n%s Per category\n\n", h);
        md_categories(b, cats);
    }
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(o, "review_printout");
    if (cJSON_IsString(pr)) graft_sb_printf(b, "\n%s summarize_gpt_review.py\n\n```\n%s```\n", h, pr->valuestring);
}

char *graft_eval_summary_markdown(const graft_eval_summary *s) {
    if (!s) return NULL;
    graft_sb b = {0};
    const cJSON *task = cJSON_GetObjectItemCaseSensitive(s->root, "task");
    graft_sb_printf(&b, "# graft eval: %s\n\n", cJSON_IsString(task) ? task->valuestring : "?");
    md_body(&b, s->root, "##");
    const cJSON *types = cJSON_GetObjectItemCaseSensitive(s->root, "types");
    if (cJSON_IsObject(types))
        for (const cJSON *t = types->child; t; t = t->next) {
            graft_sb_printf(&b, "\n## %s\n\n", t->string);
            md_body(&b, t, "###");
        }
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    return b.p;
}

/* ---- writing ------------------------------------------------------------------------------ */

int graft_eval_write_atomic(const char *path, const char *data, size_t len, graft_error *err) {
    if (!path || (!data && len)) return graft_error_set(err, GRAFT_E_INVALID, "write: NULL argument");
    size_t pl = strlen(path) + 32;
    char *tmp = malloc(pl);
    if (!tmp) return NOMEM(err);
    snprintf(tmp, pl, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        int e = errno;
        free(tmp);
        return graft_error_set(err, GRAFT_E_IO, "%s: cannot create: %s", path, strerror(e));
    }
    const char *what = "write";
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) goto fail;
        off += (size_t)w;
    }
    what = "fsync";
    if (fsync(fd) != 0) goto fail;
    what = "close";
    {
        int c = close(fd);
        fd = -1;
        if (c != 0) goto fail;
    }
    what = "rename";
    if (rename(tmp, path) != 0) goto fail;
    free(tmp);
    return GRAFT_OK;
fail: {
    int e = errno ? errno : EIO;
    if (fd >= 0) close(fd);
    unlink(tmp);
    free(tmp);
    return graft_error_set(err, GRAFT_E_IO, "%s: %s failed: %s", path, what, strerror(e));
}
}

static int mkdir_p(const char *dir, graft_error *err) {
    char buf[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof buf) return graft_error_set(err, GRAFT_E_INVALID, "bad directory \"%s\"", dir);
    memcpy(buf, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return graft_error_set(err, GRAFT_E_IO, "%s: cannot create: %s", buf, strerror(errno));
        buf[i] = c;
    }
    struct stat st;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        return graft_error_set(err, GRAFT_E_IO, "%s: not a directory", dir);
    return GRAFT_OK;
}

int graft_eval_write_in_dir(const char *dir, const char *name, const char *data, graft_error *err) {
    int rc = mkdir_p(dir, err);
    if (rc) return rc;
    size_t pl = strlen(dir) + strlen(name) + 2;
    char *p = malloc(pl);
    if (!p) return NOMEM(err);
    snprintf(p, pl, "%s/%s", dir, name);
    rc = graft_eval_write_atomic(p, data, strlen(data), err);
    free(p);
    return rc;
}

int graft_eval_summary_write(const graft_eval_summary *s, const char *dir, graft_error *err) {
    if (!s || !dir) return graft_error_set(err, GRAFT_E_INVALID, "summary write: NULL argument");
    char *j = graft_eval_summary_json(s), *m = graft_eval_summary_markdown(s);
    int rc;
    if (!j || !m)
        rc = NOMEM(err);
    else if ((rc = graft_eval_write_in_dir(dir, "summary.json", j, err)) == GRAFT_OK)
        rc = graft_eval_write_in_dir(dir, "summary.md", m, err);
    free(j);
    free(m);
    return rc;
}
