/* bleu.c - BLEU-1..4 as pycocoevalcap's bleu_scorer.py computes it (option 'closest', the
 * tiny=1e-15 / small=1e-9 guards, per-image scores), plus the n-gram bags and numpy-style mean
 * that the captioning scorers share. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "caption.h"
#include "error.h"

/* Length in bytes of a Python str.isspace() character starting at p, or 0. */
static int py_space(const unsigned char *p) {
    unsigned c = p[0];
    if (c == ' ' || (c >= 0x09 && c <= 0x0d) || (c >= 0x1c && c <= 0x1f)) return 1;
    if (c == 0xc2 && (p[1] == 0x85 || p[1] == 0xa0)) return 2;
    if (c == 0xe1 && p[1] == 0x9a && p[2] == 0x80) return 3; /* U+1680 */
    if (c == 0xe2 && p[1] == 0x80 && ((p[2] >= 0x80 && p[2] <= 0x8a) || p[2] == 0xa8 ||
                                      p[2] == 0xa9 || p[2] == 0xaf))
        return 3; /* U+2000-200A, 2028, 2029, 202F */
    if (c == 0xe2 && p[1] == 0x81 && p[2] == 0x9f) return 3; /* U+205F */
    if (c == 0xe3 && p[1] == 0x80 && p[2] == 0x80) return 3; /* U+3000 */
    return 0;
}

void graft_ngrams_free(graft_ngram_bag *bag) {
    for (int i = 0; i < bag->n; i++) free(bag->v[i].key);
    free(bag->v);
    memset(bag, 0, sizeof *bag);
}

int graft_ngrams_find(const graft_ngram_bag *bag, const char *key) {
    for (int i = 0; i < bag->n; i++)
        if (strcmp(bag->v[i].key, key) == 0) return i;
    return -1;
}

int graft_ngrams_of(const char *s, int max_n, graft_ngram_bag *bag, graft_error *err) {
    memset(bag, 0, sizeof *bag);
    size_t len = strlen(s);
    /* word spans */
    size_t *ws = malloc((len / 2 + 2) * sizeof *ws), *we = malloc((len / 2 + 2) * sizeof *we);
    char *key = malloc(len + 2);
    if (!ws || !we || !key) goto nomem;
    int nw = 0;
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < len) {
        int k = py_space(p + i);
        if (k) { i += (size_t)k; continue; }
        ws[nw] = i;
        while (i < len && !py_space(p + i)) i++;
        we[nw++] = i;
    }
    bag->n_words = nw;
    for (int k = 1; k <= max_n; k++) {
        for (int w = 0; w + k <= nw; w++) {
            size_t kl = 0;
            for (int j = w; j < w + k; j++) {
                if (j > w) key[kl++] = ' ';
                memcpy(key + kl, s + ws[j], we[j] - ws[j]);
                kl += we[j] - ws[j];
            }
            key[kl] = 0;
            int f = graft_ngrams_find(bag, key);
            if (f >= 0) { bag->v[f].count += 1; continue; }
            if (bag->n == bag->cap) {
                int nc = bag->cap ? bag->cap * 2 : 32;
                graft_ngram *nv = realloc(bag->v, (size_t)nc * sizeof *nv);
                if (!nv) goto nomem;
                bag->v = nv;
                bag->cap = nc;
            }
            char *dup = strdup(key);
            if (!dup) goto nomem;
            bag->v[bag->n++] = (graft_ngram){dup, k, 1.0};
        }
    }
    free(ws); free(we); free(key);
    return GRAFT_OK;
nomem:
    free(ws); free(we); free(key);
    graft_ngrams_free(bag);
    return graft_error_set(err, GRAFT_E_NOMEM, "caption metrics: out of memory");
}

/* numpy's pairwise_sum for float64: below 8 values a plain loop; up to 128 eight accumulators
 * combined as ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)) then the tail; above, split in halves at a
 * multiple of 8. */
static double np_pairwise(const double *a, size_t n) {
    if (n < 8) {
        double r = 0.0; /* numpy starts from -0.0 then adds; same value for these sums */
        for (size_t i = 0; i < n; i++) r += a[i];
        return r;
    }
    if (n <= 128) {
        double r[8];
        for (int j = 0; j < 8; j++) r[j] = a[j];
        size_t i;
        for (i = 8; i < n - (n % 8); i += 8)
            for (int j = 0; j < 8; j++) r[j] += a[i + j];
        double res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
        for (; i < n; i++) res += a[i];
        return res;
    }
    size_t n2 = n / 2;
    n2 -= n2 % 8;
    return np_pairwise(a, n2) + np_pairwise(a + n2, n - n2);
}

double graft_np_mean(const double *x, size_t n) {
    return n ? np_pairwise(x, n) / (double)n : NAN;
}

int graft_bleu(const graft_cap_sample *s, int n, double corpus[4], double *per_image,
               graft_bleu_stats *stats, graft_error *err) {
    const double small = 1e-9, tiny = 1e-15;
    if (n < 1 || !s) return graft_error_set(err, GRAFT_E_INVALID, "bleu: no samples");
    double tot_guess[4] = {0}, tot_correct[4] = {0};
    long sum_test = 0, sum_ref = 0;
    for (int i = 0; i < n; i++) {
        if (s[i].n_refs < 1 || !s[i].hyp)
            return graft_error_set(err, GRAFT_E_INVALID, "bleu: sample %d has no reference", i);
        /* cook_refs: max count of each n-gram over the references, and their lengths */
        graft_ngram_bag maxc = {0}, hb;
        long best_ref = 0;
        int rc = graft_ngrams_of(s[i].hyp, 4, &hb, err);
        if (rc) return rc;
        long testlen = hb.n_words;
        for (int r = 0; r < s[i].n_refs; r++) {
            graft_ngram_bag rb;
            if ((rc = graft_ngrams_of(s[i].refs[r], 4, &rb, err))) break;
            /* 'closest': min over reflens of (|reflen - testlen|, reflen) */
            long rl = rb.n_words;
            if (r == 0 || labs(rl - testlen) < labs(best_ref - testlen) ||
                (labs(rl - testlen) == labs(best_ref - testlen) && rl < best_ref))
                best_ref = rl;
            if (r == 0) {
                maxc = rb;
                continue;
            }
            for (int g = 0; g < rb.n; g++) {
                int f = graft_ngrams_find(&maxc, rb.v[g].key);
                if (f >= 0) {
                    if (rb.v[g].count > maxc.v[f].count) maxc.v[f].count = rb.v[g].count;
                } else {
                    if (maxc.n == maxc.cap) {
                        int nc = maxc.cap ? maxc.cap * 2 : 32;
                        graft_ngram *nv = realloc(maxc.v, (size_t)nc * sizeof *nv);
                        if (!nv) { rc = graft_error_set(err, GRAFT_E_NOMEM, "bleu: out of memory"); break; }
                        maxc.v = nv;
                        maxc.cap = nc;
                    }
                    maxc.v[maxc.n++] = rb.v[g];
                    rb.v[g].key = NULL;
                }
            }
            graft_ngrams_free(&rb);
            if (rc) break;
        }
        if (rc) { graft_ngrams_free(&maxc); graft_ngrams_free(&hb); return rc; }
        /* cook_test: guess[k] = max(0, testlen - k), correct[k] = clipped matches */
        double guess[4], correct[4] = {0};
        for (int k = 0; k < 4; k++) guess[k] = (double)(testlen - k > 0 ? testlen - k : 0);
        for (int g = 0; g < hb.n; g++) {
            int f = graft_ngrams_find(&maxc, hb.v[g].key);
            double m = f >= 0 ? maxc.v[f].count : 0.0;
            correct[hb.v[g].order - 1] += hb.v[g].count < m ? hb.v[g].count : m;
        }
        graft_ngrams_free(&maxc);
        graft_ngrams_free(&hb);
        sum_test += testlen;
        sum_ref += best_ref;
        double bleu = 1.0;
        double ratio = ((double)testlen + tiny) / ((double)best_ref + small);
        for (int k = 0; k < 4; k++) {
            tot_guess[k] += guess[k];
            tot_correct[k] += correct[k];
            bleu *= (correct[k] + tiny) / (guess[k] + small);
            double v = pow(bleu, 1.0 / (k + 1));
            if (ratio < 1) v *= exp(1 - 1 / ratio);
            if (per_image) per_image[(size_t)i * 4 + k] = v;
        }
    }
    double bleu = 1.0, ratio = ((double)sum_test + tiny) / ((double)sum_ref + small);
    for (int k = 0; k < 4; k++) {
        bleu *= (tot_correct[k] + tiny) / (tot_guess[k] + small);
        corpus[k] = pow(bleu, 1.0 / (k + 1));
        if (ratio < 1) corpus[k] *= exp(1 - 1 / ratio);
    }
    if (stats) {
        stats->testlen = sum_test;
        stats->reflen = sum_ref;
        for (int k = 0; k < 4; k++) {
            stats->guess[k] = (long)tot_guess[k];
            stats->correct[k] = (long)tot_correct[k];
        }
    }
    return GRAFT_OK;
}
