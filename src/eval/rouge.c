/* rouge.c - ROUGE-L as pycocoevalcap's rouge.py computes it: tokens split on ' ' only (an empty
 * string is one empty token), LCS by dynamic programming, F-measure with beta 1.2 from the MAX
 * precision and the MAX recall over the references (taken separately), corpus = numpy mean. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "caption.h"
#include "error.h"

/* Splits s on ' ' like str.split(' '): n+1 tokens for n spaces. Tokens point into s with
 * their lengths. Returns the count, or -1 on allocation failure. */
static int split_space(const char *s, const char ***tok, size_t **len) {
    int n = 1;
    for (const char *p = s; *p; p++) n += *p == ' ';
    *tok = malloc((size_t)n * sizeof **tok);
    *len = malloc((size_t)n * sizeof **len);
    if (!*tok || !*len) { free(*tok); free(*len); return -1; }
    int i = 0;
    const char *st = s;
    for (const char *p = s;; p++) {
        if (*p == ' ' || *p == 0) {
            (*tok)[i] = st;
            (*len)[i++] = (size_t)(p - st);
            st = p + 1;
            if (!*p) break;
        }
    }
    return n;
}

/* Length of the longest common subsequence of two token lists. */
static int lcs(const char **a, const size_t *al, int na, const char **b, const size_t *bl, int nb,
               int *row /* (nb + 1) * 2 */) {
    int *prev = row, *cur = row + nb + 1;
    for (int j = 0; j <= nb; j++) prev[j] = 0;
    for (int i = 1; i <= na; i++) {
        cur[0] = 0;
        for (int j = 1; j <= nb; j++) {
            if (al[i - 1] == bl[j - 1] && memcmp(a[i - 1], b[j - 1], al[i - 1]) == 0)
                cur[j] = prev[j - 1] + 1;
            else
                cur[j] = prev[j] > cur[j - 1] ? prev[j] : cur[j - 1];
        }
        int *t = prev; prev = cur; cur = t;
    }
    return prev[nb];
}

int graft_rouge_l(const graft_cap_sample *s, int n, double *corpus, double *per_image,
                  graft_error *err) {
    if (n < 1 || !s) return graft_error_set(err, GRAFT_E_INVALID, "rouge: no samples");
    const double beta = 1.2;
    double *scores = malloc((size_t)n * sizeof *scores);
    if (!scores) return graft_error_set(err, GRAFT_E_NOMEM, "rouge: out of memory");
    for (int i = 0; i < n; i++) {
        if (s[i].n_refs < 1 || !s[i].hyp) {
            free(scores);
            return graft_error_set(err, GRAFT_E_INVALID, "rouge: sample %d has no reference", i);
        }
        const char **ct;
        size_t *cl;
        int nc = split_space(s[i].hyp, &ct, &cl);
        if (nc < 0) { free(scores); return graft_error_set(err, GRAFT_E_NOMEM, "rouge: out of memory"); }
        double prec_max = 0, rec_max = 0;
        int oom = 0;
        for (int r = 0; r < s[i].n_refs && !oom; r++) {
            const char **rt;
            size_t *rl;
            int nr = split_space(s[i].refs[r], &rt, &rl);
            int *row = nr >= 0 ? malloc((size_t)(nc + 1) * 2 * sizeof *row) : NULL;
            if (!row) {
                oom = 1;
                if (nr >= 0) { free(rt); free(rl); }
                break;
            }
            int l = lcs(rt, rl, nr, ct, cl, nc, row);
            double prec = l / (double)nc, rec = l / (double)nr;
            if (r == 0 || prec > prec_max) prec_max = prec;
            if (r == 0 || rec > rec_max) rec_max = rec;
            free(row); free(rt); free(rl);
        }
        free(ct); free(cl);
        if (oom) { free(scores); return graft_error_set(err, GRAFT_E_NOMEM, "rouge: out of memory"); }
        double b2 = pow(beta, 2);
        scores[i] = (prec_max != 0 && rec_max != 0)
                        ? ((1 + b2) * prec_max * rec_max) / (rec_max + b2 * prec_max)
                        : 0.0;
        if (per_image) per_image[i] = scores[i];
    }
    *corpus = graft_np_mean(scores, (size_t)n);
    free(scores);
    return GRAFT_OK;
}
