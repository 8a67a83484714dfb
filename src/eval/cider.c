/* cider.c - CIDEr-D as pycocoevalcap's cider_scorer.py computes it: n-grams 1..4 (tokens split
 * like str.split()), tf-idf vectors with df counted over the reference sets of the evaluated
 * images and idf = log(N) - log(max(1, df)), clipped similarity min(hyp, ref) * ref, Gaussian
 * length penalty exp(-delta^2 / (2 * 6^2)) where the scorer's "length" is the number of BIGRAMS
 * (its `if n == 1: length += term_freq`), mean over orders, / #refs, x10; corpus = numpy mean. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "caption.h"
#include "error.h"

/* Open-addressing table of n-gram -> document frequency; keys borrowed from the bags. */
typedef struct {
    const char **key;
    int *df;
    size_t cap;
} df_table;

static uint64_t fnv(const char *s) {
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 1099511628211ULL;
    return h;
}

static size_t df_slot(const df_table *t, const char *k) {
    size_t i = (size_t)fnv(k) & (t->cap - 1);
    while (t->key[i] && strcmp(t->key[i], k) != 0) i = (i + 1) & (t->cap - 1);
    return i;
}

/* tf-idf vector of one bag (values written into bag->v[].count), per-order norms, length. */
static void to_vec(graft_ngram_bag *b, const df_table *t, double ref_len, double norm[4],
                   double *length) {
    for (int k = 0; k < 4; k++) norm[k] = 0;
    *length = 0;
    for (int g = 0; g < b->n; g++) {
        size_t sl = df_slot(t, b->v[g].key);
        int dfv = t->key[sl] ? t->df[sl] : 0;
        double df = log(dfv > 1 ? (double)dfv : 1.0);
        int o = b->v[g].order - 1;
        if (o == 1) *length += b->v[g].count;
        b->v[g].count = b->v[g].count * (ref_len - df);
        norm[o] += pow(b->v[g].count, 2);
    }
    for (int k = 0; k < 4; k++) norm[k] = sqrt(norm[k]);
}

int graft_cider_d(const graft_cap_sample *s, int n, double *corpus, double *per_image,
                  graft_error *err) {
    if (n < 1 || !s) return graft_error_set(err, GRAFT_E_INVALID, "cider: no samples");
    const double sigma = 6.0;
    int rc = GRAFT_OK;
    size_t n_bags = 0;
    for (int i = 0; i < n; i++) {
        if (s[i].n_refs < 1 || !s[i].hyp)
            return graft_error_set(err, GRAFT_E_INVALID, "cider: sample %d has no reference", i);
        n_bags += (size_t)s[i].n_refs;
    }
    graft_ngram_bag *rb = calloc(n_bags, sizeof *rb);
    double *scores = malloc((size_t)n * sizeof *scores);
    df_table t = {0};
    size_t total = 0;
    if (!rb || !scores) goto nomem;
    for (int i = 0, b = 0; i < n; i++)
        for (int r = 0; r < s[i].n_refs; r++, b++) {
            if ((rc = graft_ngrams_of(s[i].refs[r], 4, &rb[b], err))) goto out;
            total += (size_t)rb[b].n;
        }
    t.cap = 64;
    while (t.cap < total * 2) t.cap *= 2;
    t.key = calloc(t.cap, sizeof *t.key);
    t.df = calloc(t.cap, sizeof *t.df);
    if (!t.key || !t.df) goto nomem;
    /* df: number of images whose reference set contains the n-gram */
    for (int i = 0, b = 0; i < n; b += s[i].n_refs, i++)
        for (int r = 0; r < s[i].n_refs; r++)
            for (int g = 0; g < rb[b + r].n; g++) {
                const char *k = rb[b + r].v[g].key;
                int seen = 0; /* already counted for this image by an earlier reference */
                for (int q = 0; q < r && !seen; q++) seen = graft_ngrams_find(&rb[b + q], k) >= 0;
                if (seen) continue;
                size_t sl = df_slot(&t, k);
                if (!t.key[sl]) t.key[sl] = k;
                t.df[sl]++;
            }
    double ref_len = log((double)n);
    for (int i = 0, b = 0; i < n; b += s[i].n_refs, i++) {
        graft_ngram_bag hb;
        if ((rc = graft_ngrams_of(s[i].hyp, 4, &hb, err))) goto out;
        double hn[4], hl;
        to_vec(&hb, &t, ref_len, hn, &hl);
        double score[4] = {0};
        for (int r = 0; r < s[i].n_refs; r++) {
            /* a copy of the reference bag's counts: the df table borrows its keys */
            graft_ngram_bag v = rb[b + r];
            graft_ngram *vals = malloc((size_t)(v.n ? v.n : 1) * sizeof *vals);
            if (!vals) { graft_ngrams_free(&hb); goto nomem; }
            if (v.n) memcpy(vals, v.v, (size_t)v.n * sizeof *vals);
            v.v = vals;
            double rn[4], rl;
            to_vec(&v, &t, ref_len, rn, &rl);
            double delta = hl - rl;
            double val[4] = {0};
            for (int g = 0; g < hb.n; g++) {
                int f = graft_ngrams_find(&v, hb.v[g].key);
                double rv = f >= 0 ? v.v[f].count : 0.0;
                double hv = hb.v[g].count;
                val[hb.v[g].order - 1] += (hv < rv ? hv : rv) * rv;
            }
            for (int k = 0; k < 4; k++) {
                if (hn[k] != 0 && rn[k] != 0) val[k] /= hn[k] * rn[k];
                val[k] *= exp(-(delta * delta) / (2 * sigma * sigma));
                score[k] += val[k];
            }
            free(vals);
        }
        graft_ngrams_free(&hb);
        double avg = graft_np_mean(score, 4);
        avg /= s[i].n_refs;
        avg *= 10.0;
        scores[i] = avg;
        if (per_image) per_image[i] = avg;
    }
    *corpus = graft_np_mean(scores, (size_t)n);
    goto out;
nomem:
    rc = graft_error_set(err, GRAFT_E_NOMEM, "cider: out of memory");
out:
    if (rb)
        for (size_t b = 0; b < n_bags; b++) graft_ngrams_free(&rb[b]);
    free(rb);
    free(scores);
    free(t.key);
    free(t.df);
    return rc;
}
