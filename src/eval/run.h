/* run.h - running a LLaVA-style model over evaluation samples (graft eval without --score-only):
 * the prompt per sample as LLaVA-1.5's eval scripts build it, greedy generation or MCQ
 * log-likelihood ranking, and reuse of the KV cache of a shared prompt prefix (same image(s), same
 * text up to the last image) between consecutive samples. Also the LLaVA-Bench judge protocol
 * (eval_gpt_review_bench.py) with a local judge model.
 *
 * Library code: no printing, no exit(); a runner is used by one thread at a time. The caller
 * loads the models and owns them; a runner owns its decoder context, pipeline session and
 * sampler.
 *
 *     graft_eval_run_params p = graft_eval_run_default_params();
 *     p.suffix[GRAFT_TASK_YESNO] = "Answer the question using a single word or phrase.";
 *     graft_eval_runner *r;
 *     if (graft_eval_runner_new(model, vision, &p, &r, &err)) ...
 *     graft_eval_run(r, &ds, idx, n_idx, on_sample, user, &err); // on_sample gets each result
 *     graft_eval_runner_free(r);
 */
#ifndef GRAFT_EVAL_RUN_H
#define GRAFT_EVAL_RUN_H

#include <stddef.h>
#include <stdint.h>

#include "dataset.h"
#include "graft.h"

enum { GRAFT_EVAL_NORM_MEAN = 0, GRAFT_EVAL_NORM_SUM = 1 };

typedef struct {
    const char *chat_template;  /* template name; NULL: the recipe's (for LLaVA: the model's
                                 * detected one, else vicuna_v1); "none": the user turn text as is */
    const char *system;         /* system message, NULL: the template's default */
    const char *suffix[GRAFT_TASK_COUNT]; /* prompt suffix per task type (NULL / "": none) */
    const char *caption_prompt; /* question of caption samples that have none */
    const char *context_prefix; /* put before a sample's context ("Context: " rebuilds LLaVA's
                                 * ScienceQA prompt from problems.json); NULL: none */
    int max_new_tokens[GRAFT_TASK_COUNT]; /* generation cap per task type (> 0) */
    float temp;                 /* 0: greedy (default) */
    uint64_t seed;              /* temp > 0: sample i draws with seed + i */
    int mcq_loglik;             /* rank mcq options by log-likelihood instead of generating */
    int mcq_norm;               /* GRAFT_EVAL_NORM_MEAN (default) or _SUM: which picks the letter */
    int reuse;                  /* 1 (default): reuse the shared prefix's KV cache and image rows */
    int image_mode;             /* GRAFT_MM_MODE_* (default AUTO: the recipe's) */
    const graft_recipe *recipe; /* how images enter the prompt; NULL: the vision tower's recipe
                                 * (LLaVA without one) */
    int n_threads, n_ctx, n_batch; /* 2; 0 = the model's training context; 512 */
    const char *images_root;    /* sample image paths are relative to it (NULL: as given) */
} graft_eval_run_params;

graft_eval_run_params graft_eval_run_default_params(void);

/* One sample's outcome. loglik fields are set for mcq samples in loglik mode (else n_choices 0). */
typedef struct {
    char *prediction;           /* malloc'd; generated text stripped as Python's str.strip(),
                                 * or the chosen letter in loglik mode */
    int n_gen_tokens;
    int n_choices;
    double *ll_sum, *ll_mean;   /* (n_choices) log-likelihood of each option's continuation */
    int *ll_ntok;               /* (n_choices) tokens scored */
    int best_sum, best_mean;    /* option index ranked first by each (ties: the lowest index) */
} graft_eval_result;

void graft_eval_result_free(graft_eval_result *r);

/* Counters over everything a runner did (reuse savings are what reuse skipped). */
typedef struct {
    int64_t n_samples;
    int64_t image_encodes;          /* images run through the vision tower */
    int64_t image_encodes_avoided;  /* images whose rows came from the KV prefix or the cache */
    int64_t prefill_tokens;         /* positions decoded for prompts (text + image rows) */
    int64_t prefill_tokens_avoided; /* prompt positions taken from the reused KV prefix */
    int64_t gen_tokens;
    double wall_ms, vision_ms, prefill_ms, gen_ms;
} graft_eval_run_stats;

typedef struct graft_eval_runner graft_eval_runner;

/* m and v (v may be NULL for text-only samples) stay owned by the caller and must outlive r. */
int graft_eval_runner_new(const graft_model *m, const graft_vision *v, const graft_eval_run_params *p,
                          graft_eval_runner **out, graft_error *err);
void graft_eval_runner_free(graft_eval_runner *r);
const graft_eval_run_stats *graft_eval_runner_stats(const graft_eval_runner *r);

/* The rendered prompt of sample s (malloc'd into *out): the user turn is
 * "<image>\n" per image + [context_prefix + context "\n"] + question [+ "\nA. x\nB. y" for mcq] [+ "\n" + suffix]
 * (the suffix only when the text does not already end with it, as LLaVA's question files do),
 * wrapped by the chat template with the assistant's turn opened. tmpl NULL or "none": none. */
int graft_eval_prompt(const graft_eval_run_params *p, const char *tmpl, const graft_eval_sample *s,
                      char **out, graft_error *err);
/* The template the runner uses (after the NULL -> model's / vicuna_v1 rule), or NULL for none. */
const char *graft_eval_runner_template(const graft_eval_runner *r);

/* Runs one sample; index seeds sampling when temp > 0. res is filled (free with
 * graft_eval_result_free). */
int graft_eval_runner_sample(graft_eval_runner *r, const graft_eval_sample *s, size_t index,
                             graft_eval_result *res, graft_error *err);

/* Called after each sample; a non-zero return stops the run with that status (err filled). */
typedef int (*graft_eval_on_sample)(void *user, size_t index, const graft_eval_result *res,
                                    graft_error *err);
/* Runs ds->samples[idx[0..n)] in that order (keep samples of one image adjacent for reuse). */
int graft_eval_run(graft_eval_runner *r, const graft_eval_dataset *ds, const size_t *idx, size_t n,
                   graft_eval_on_sample cb, void *user, graft_error *err);

/* ---- LLaVA-Bench judge (eval_gpt_review_bench.py) ----------------------------------------- */

/* The review request exactly as the script builds it (malloc'd):
 * "[Context]\n{caption}\n\n[Question]\n{q}\n\n[{role} 1]\n{ref}\n\n[End of {role} 1]\n\n"
 * "[{role} 2]\n{answer}\n\n[End of {role} 2]\n\n[System]\n{prompt}\n\n". */
char *graft_eval_judge_content(const char *caption, const char *question, const char *reference,
                               const char *answer, const char *role, const char *prompt);
/* parse_score: the first line, ',' -> ' ', split on ' ' into exactly two floats; else -1, -1.
 * Returns 1 when parsed. */
int graft_eval_judge_parse(const char *review, double pair[2]);

#define GRAFT_EVAL_JUDGE_SYSTEM "You are a helpful and precise assistant for checking the quality of the answer."

typedef struct graft_eval_judge graft_eval_judge;
/* A text-only session on a judge model; tmpl NULL: the model's template, else vicuna_v1. */
int graft_eval_judge_new(const graft_model *m, const char *tmpl, int n_threads, int n_ctx,
                         graft_eval_judge **out, graft_error *err);
void graft_eval_judge_free(graft_eval_judge *j);
/* Greedy review of `content` (system message GRAFT_EVAL_JUDGE_SYSTEM), at most max_tokens,
 * stopping at the end of the first non-empty line (only that line is parsed) unless full. */
int graft_eval_judge_review(graft_eval_judge *j, const char *content, int max_tokens, int full,
                            char **review, graft_error *err);

#endif
