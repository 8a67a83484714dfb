/* metrics.h - graft's answer-scoring metrics, each a C copy of an official evaluation script:
 * POPE (LLaVA eval_pope.py), VQA accuracy (GT-Vision-Lab vqaEval.py), multiple-choice letter
 * extraction (LLaVA eval_science_qa.py) and LLaVA-Bench review summaries (summarize_gpt_review.py).
 * Pure functions over caller-owned strings: no I/O, no global state, thread-safe. See docs/eval.md. */
#ifndef GRAFT_EVAL_METRICS_H
#define GRAFT_EVAL_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "graft.h"

/* ---- POPE (yes/no) ------------------------------------------------------------------------ */

/* 1 if eval_pope.py reads `answer` as "yes", 0 as "no": cut at the first '.', delete every ',',
 * split on ' ', "no" iff a word is exactly "No", "no" or "not". */
int graft_pope_is_yes(const char *answer);

typedef struct {
    int64_t n_answers;          /* answers given (yes_ratio's denominator) */
    int64_t n_pairs;            /* min(n_answers, n_labels): pairs scored */
    int64_t tp, fp, tn, fn;
    double accuracy, precision, recall, f1, yes_ratio; /* fractions; 0 where Python would divide by 0 */
} graft_pope_result;

/* Scores one category: answers[i] pairs with labels[i] by position (Python zip: extra items on the
 * longer side are ignored for the counts, but every answer counts in yes_ratio). A label equal to
 * "no" is negative, anything else positive. GRAFT_E_INVALID when n_answers == 0. */
int graft_pope_score(const char *const *answers, size_t n_answers, const char *const *labels,
                     size_t n_labels, graft_pope_result *out, graft_error *err);

/* ---- VQA accuracy ------------------------------------------------------------------------- */

/* vqaEval.py's processPunctuation then processDigitArticle of `in` into out (cap bytes incl. NUL;
 * the result is never longer than the input plus contraction apostrophes, so strlen(in)+16 plus
 * 2 per word is always enough). Returns the length or -1 when cap is too small. */
long graft_vqa_normalize(const char *in, char *out, size_t cap);

/* One question's accuracy in [0, 1] exactly as evaluate(): gt[0..n_gt) are the human answers
 * (10 in VQAv2), pred the model's. Returns a negative value on allocation failure. */
double graft_vqa_question_acc(const char *const *gt, int n_gt, const char *pred, graft_error *err);

typedef struct {
    const char *const *gt;      /* (n_gt,) human answers */
    int n_gt;
    const char *pred;           /* model answer */
    const char *question_type;  /* may be NULL */
    const char *answer_type;    /* may be NULL */
} graft_vqa_item;

typedef struct {
    char *name;                 /* owned by the result */
    int64_t n;
    double accuracy;            /* 0-100, full precision (vqaEval n=30) */
} graft_vqa_group;

typedef struct {
    int64_t n;
    double overall;             /* 0-100 */
    double *per_question;       /* (n,) 0-100: round(100*acc, n) without the rounding */
    graft_vqa_group *per_qtype; int n_qtype;   /* in order of first appearance */
    graft_vqa_group *per_atype; int n_atype;
} graft_vqa_result;

int graft_vqa_score(const graft_vqa_item *items, size_t n, graft_vqa_result *out, graft_error *err);
void graft_vqa_result_free(graft_vqa_result *r);

/* ---- multiple choice (ScienceQA letter extraction) ----------------------------------------- */

/* The letter eval_science_qa.py parses from a prediction with options "A".."E": the whole text
 * if it is one option letter; else its first letter when it starts "X. "; else the single match
 * of /The answer is ([A-Z])./ (exactly one match required). Returns 'A'..'Z', or 0 for "FAILED". */
int graft_mcq_extract(const char *pred);

/* Index of the chosen option (0-based) as get_pred_idx: the letter must be one of the first
 * n_choices of "ABCDE"; otherwise -1 (counted wrong). */
int graft_mcq_pred_idx(const char *pred, int n_choices);

/* Accuracy in [0, 1] over n questions: answers[i] is the 0-based correct index. */
int graft_mcq_score(const char *const *preds, const int *n_choices, const int *answers, size_t n,
                    int64_t *n_correct, double *accuracy, graft_error *err);

/* ---- LLaVA-Bench review summary ----------------------------------------------------------- */

typedef struct {
    int64_t n;
    double mean1, mean2;        /* unrounded means of score 1 (reference) and score 2 (model) */
    double mean1_r, mean2_r;    /* round(mean, 3) */
    double relative;            /* round(mean2_r / mean1_r * 100, 1): the printed relative score */
    double score1_x10, score2_x10; /* round(mean_r * 10, 1) */
    double relative_exact;      /* mean2 / mean1 * 100, no rounding */
} graft_review_stats;

/* Python's round(x, ndigits) for 0 <= ndigits <= 15: correctly rounded from the exact binary
 * value, ties to even. */
double graft_round_py(double x, int ndigits);

/* Summary of n score pairs (score1 = reference assistant, score2 = the model) as
 * summarize_gpt_review.py prints one category (numpy's mean: the sum in order, divided by n;
 * exact for judge scores, which are multiples of 0.5). GRAFT_E_INVALID when n == 0 or when a
 * rounded reference mean is 0 (the script would print nan/inf). */
int graft_review_summarize(const double *score1, const double *score2, size_t n,
                           graft_review_stats *out, graft_error *err);

#endif
