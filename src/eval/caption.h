/* caption.h - captioning metrics exactly as pycocoevalcap (salaniz/pycocoevalcap @ad63453) computes
 * them: the PTBTokenizer step (Stanford PTBTokenizer 3.4.1 -preserveLines -lowerCase + the
 * wrapper's punctuation filter), BLEU-1..4 (bleu_scorer.py), ROUGE-L (rouge.py) and CIDEr-D
 * (cider_scorer.py). METEOR and SPICE need Java in the original and are not implemented.
 *
 * Thread safety: every function is reentrant (no global state).
 *
 *     char *h, *r[2];
 *     graft_ptb_tokenize("A dog's toy.", &h, &err);          // "a dog 's toy"
 *     ...tokenize references into r...
 *     graft_cap_sample s = {h, (const char *const *)r, 2};
 *     double bleu[4], rouge, cider;
 *     graft_bleu(&s, 1, bleu, NULL, NULL, &err);
 *     graft_rouge_l(&s, 1, &rouge, NULL, &err);
 *     graft_cider_d(&s, 1, &cider, NULL, &err);
 *     free(h); ...
 */
#ifndef GRAFT_EVAL_CAPTION_H
#define GRAFT_EVAL_CAPTION_H

#include <stddef.h>

#include "graft.h"

/* One image: a tokenized hypothesis and its tokenized references (strings as the PTB wrapper
 * returns them: tokens joined by ' '). The scorers split them the way each Python scorer does. */
typedef struct {
    const char *hyp;
    const char *const *refs; /* [n_refs], n_refs >= 1 */
    int n_refs;
} graft_cap_sample;

/* PTBTokenizer as pycocoevalcap runs it on one caption: '\n' -> ' ', PTB tokens lower-cased,
 * then tokens equal to one of '' ' `` ` -LRB- -RRB- -LCB- -RCB- . ? ! , : - -- ... ; dropped.
 * *out is malloc'd (caller frees); "" for an empty or all-punctuation caption. */
int graft_ptb_tokenize(const char *caption, char **out, graft_error *err);

/* The raw PTB line (lower-cased, tokens joined by ' ', before the punctuation filter), as the
 * Java process prints it. *out is malloc'd. */
int graft_ptb_tokenize_raw(const char *caption, char **out, graft_error *err);

/* What BleuScorer.compute_score(verbose=1) prints. */
typedef struct {
    long testlen, reflen;
    long guess[4], correct[4];
} graft_bleu_stats;

/* BLEU-1..4, option 'closest': corpus[4] from summed clipped counts; per_image (n, 4) or NULL;
 * stats or NULL. */
int graft_bleu(const graft_cap_sample *s, int n, double corpus[4], double *per_image,
               graft_bleu_stats *stats, graft_error *err);

/* ROUGE-L, beta 1.2: per image F from the max precision and max recall over refs (tokens split
 * on ' ' only); corpus = numpy mean. per_image (n) or NULL. */
int graft_rouge_l(const graft_cap_sample *s, int n, double *corpus, double *per_image,
                  graft_error *err);

/* CIDEr-D (n=4, sigma 6, clipping, Gaussian length penalty on the bigram counts as the scorer
 * does, df from the references of these n images, x10); corpus = numpy mean. per_image (n). */
int graft_cider_d(const graft_cap_sample *s, int n, double *corpus, double *per_image,
                  graft_error *err);

/* ---- shared by the scorers (not for callers) ---- */

/* numpy's float64 mean (pairwise summation with 8 accumulators, blocks of 128). */
double graft_np_mean(const double *x, size_t n);

/* The n-grams (orders 1..max_n) of a string split like Python's str.split() (any Unicode
 * whitespace), keyed "w1 w2 ..." and kept in first-occurrence order (k, then position), as a
 * Python dict built by precook() iterates them. */
typedef struct {
    char *key;
    int order;    /* 1..max_n */
    double count; /* term frequency */
} graft_ngram;
typedef struct {
    graft_ngram *v;
    int n, cap;
    int n_words;
} graft_ngram_bag;
int graft_ngrams_of(const char *s, int max_n, graft_ngram_bag *bag, graft_error *err);
int graft_ngrams_find(const graft_ngram_bag *bag, const char *key); /* index or -1 */
void graft_ngrams_free(graft_ngram_bag *bag);

#endif
