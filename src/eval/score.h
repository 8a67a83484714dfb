/* score.h - from (dataset, predictions) to a summary: each task type's metrics (metrics.h,
 * caption.h, chair.h) gathered into one JSON tree with documented keys (docs/eval.md,
 * "Summaries and --score-only"), rendered as summary.json / summary.md and written atomically;
 * the answer-file readers; LLaVA-Bench review files; the side-by-side comparison of variants.
 * score.c: scoring and rendering; answers.c: answer and review files; compare.c: comparison.
 *
 * Thread safety: no global state; a summary is not shared between threads while it is written.
 *
 *     char **preds;
 *     graft_eval_summary *s;
 *     graft_eval_score_opts o = graft_eval_score_default_opts();
 *     o.task = "pope";
 *     if (graft_eval_read_predictions("answers.jsonl", &ds, 0, &preds, &err) ||
 *         graft_eval_score(&ds, (const char *const *)preds, &o, &s, &err) ||
 *         graft_eval_summary_write(s, "out", &err))
 *         fprintf(stderr, "%s\n", err.msg);
 *     char *md = graft_eval_summary_markdown(s); puts(md); free(md);
 *     graft_eval_summary_free(s); graft_eval_preds_free(preds, ds.n);
 */
#ifndef GRAFT_EVAL_SCORE_H
#define GRAFT_EVAL_SCORE_H

#include <stddef.h>

#include "dataset.h"
#include "graft.h"

typedef struct {
    const char *task;          /* benchmark or task-type name as given to --task ("pope", "yesno",
                                * ...); NULL: the samples' type */
    int open_metrics;          /* open: reference-based BLEU/ROUGE-L/CIDEr (default 1; only samples
                                * with reference answers count) */
    const double *judge_ref, *judge_model; /* open: (ds->n) per-sample judge scores (NaN = missing)
                                            * or NULL */
    const char *chair_instances; /* caption: COCO instances JSON (or caps_boxes JSONL) for CHAIR,
                                  * or NULL */
    const char *chair_synonyms;  /* the synonym list; NULL: ../shared/eval/chair/synonyms.txt
                                  * when present (see chair.h) */
    const char *mcq_mode;      /* "generate" (default) or "loglik" (recorded in the summary) */
} graft_eval_score_opts;

graft_eval_score_opts graft_eval_score_default_opts(void);

typedef struct graft_eval_summary graft_eval_summary; /* opaque; owns a cJSON tree */

/* Scores preds[i] (the model's answer for ds->samples[i]; NULL = missing, counted in
 * "n_missing") against the dataset's ground truth. A missing answer is excluded from every
 * metric except mcq, where it counts as wrong as eval_science_qa.py counts it ("FAILED"); a
 * sample without ground truth is excluded too ("n_unscored"). *out is the caller's (free with
 * graft_eval_summary_free). GRAFT_E_INVALID for an empty dataset or an unknown task. */
int graft_eval_score(const graft_eval_dataset *ds, const char *const *preds,
                     const graft_eval_score_opts *o, graft_eval_summary **out, graft_error *err);
void graft_eval_summary_free(graft_eval_summary *s);

/* Extra top-level fields a runner adds (model names, timings, reuse savings, n_skipped_bad...);
 * an existing key is replaced. 0 or GRAFT_E_NOMEM / GRAFT_E_INVALID. */
int graft_eval_summary_set_number(graft_eval_summary *s, const char *key, double v);
int graft_eval_summary_set_string(graft_eval_summary *s, const char *key, const char *v);

/* A metric out of the summary by path: "accuracy", "categories.random.f1", "types.vqa.accuracy".
 * Returns 1 and *v when it is a number there, else 0. */
int graft_eval_summary_get(const graft_eval_summary *s, const char *path, double *v);

char *graft_eval_summary_json(const graft_eval_summary *s);     /* malloc'd, pretty JSON + '\n' */
char *graft_eval_summary_markdown(const graft_eval_summary *s); /* malloc'd */

/* dir/summary.json and dir/summary.md (dir is created if missing), each via
 * graft_eval_write_atomic. */
int graft_eval_summary_write(const graft_eval_summary *s, const char *dir, graft_error *err);
/* Writes path through path.tmp.<pid> + fflush + fsync + rename: path is either untouched or
 * complete; the tmp file is removed on failure. */
int graft_eval_write_atomic(const char *path, const char *data, size_t len, graft_error *err);

/* Side-by-side comparison of n variants scored on the same dataset (names[v], sums[v] from
 * graft_eval_score, preds[v][i]): dir/summary.md and dir/summary.csv (atomic), one row per
 * metric and per category metric, one column per variant, plus per-sample agreement: for each
 * pair of variants the fraction of samples both answered whose normalised answers agree (yesno:
 * the POPE-parsed yes/no; mcq: the extracted letter; vqa: the VQA-normalised text; caption and
 * open: the PTB-tokenized text). */
int graft_eval_compare_write(const graft_eval_dataset *ds, const char *const *names,
                             const graft_eval_summary *const *sums, const char *const *const *preds,
                             int n, const char *dir, graft_error *err);

/* Answer files: fills *preds (ds->n malloc'd strings, NULL where the file has no answer for that
 * sample; free with graft_eval_preds_free) from graft's predictions.jsonl ({"id", "prediction",
 * ...}), LLaVA's answer JSONL ({"question_id", "text", ...}) or the COCO results format
 * ([{"image_id", "caption"}]), detected from the content. An id that is not in the dataset:
 * GRAFT_E_FORMAT "file:line: id X is not in the dataset" (with skip_bad: skipped). A duplicate
 * id: the last wins for graft files (resume semantics), GRAFT_E_FORMAT for the others. When the
 * dataset repeats an id (POPE splits, keyed by (category, id)), a graft line's "category" picks
 * the sample; without one, an answer goes to every sample with that id. */
int graft_eval_read_predictions(const char *path, const graft_eval_dataset *ds, int skip_bad,
                                char ***preds, graft_error *err);
/* The same, with *n_skipped (may be NULL) receiving the number of lines skipped with skip_bad. */
int graft_eval_read_predictions_ex(const char *path, const graft_eval_dataset *ds, int skip_bad,
                                   char ***preds, size_t *n_skipped, graft_error *err);
void graft_eval_preds_free(char **preds, size_t n);

/* POPE labels the way eval_pope.py pairs them: the samples of `category` (NULL: the file
 * name's last "_word", coco_pope_random.json -> "random"), in dataset order, get the "label" of
 * the POPE annotation file's lines in file order, by position. For LLaVA-1.5's
 * llava_pope_test.jsonl, whose lines carry no label. GRAFT_E_FORMAT when the counts differ or a
 * paired line names another image. */
int graft_eval_pope_attach_labels(graft_eval_dataset *ds, const char *path, const char *category,
                                  graft_error *err);

/* LLaVA-Bench review files (the judge's JSONL: {"question_id", "category", "tuple": [s1, s2],
 * ...} as eval_gpt_review_bench.py writes them): per-category + "all" summary exactly as
 * summarize_gpt_review.py prints it ("review_printout" holds its stdout). */
int graft_eval_score_reviews(const char *path, graft_eval_summary **out, graft_error *err);

/* The judge's per-sample scores from a review file (question_id -> tuple [reference, model]) for
 * graft_eval_score_opts.judge_ref / judge_model: *ref and *model are (ds->n) malloc'd arrays,
 * NaN where the file has no review. Unknown or repeated ids: GRAFT_E_FORMAT. */
int graft_eval_read_judge_scores(const char *path, const graft_eval_dataset *ds, double **ref,
                                 double **model, graft_error *err);

/* ---- shared by score.c, answers.c and compare.c (not API) ---- */
#ifdef GRAFT_EVAL_SCORE_INTERNAL
#include <cjson/cJSON.h>
struct graft_eval_summary {
    cJSON *root;
};
graft_eval_summary *graft_eval_summary_wrap(cJSON *root); /* takes root; NULL on NOMEM */
/* dir/name via graft_eval_write_atomic, dir created if missing */
int graft_eval_write_in_dir(const char *dir, const char *name, const char *data, graft_error *err);
#endif

#endif
