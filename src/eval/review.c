/* review.c - LLaVA-Bench review summary as LLaVA's llava/eval/summarize_gpt_review.py: means of
 * the judge's (reference, model) score pairs rounded to 3 decimals, then the relative score
 * round(model/reference*100, 1), with Python's correctly rounded, ties-to-even round(). */
#include <stdio.h>
#include <stdlib.h>

#include "error.h"
#include "metrics.h"

double graft_round_py(double x, int ndigits) {
    /* Python's round(x, n) formats the exact binary value correctly rounded to n decimals
     * (ties to even) and reads it back; glibc's printf and strtod do exactly that */
    char buf[400];
    snprintf(buf, sizeof buf, "%.*f", ndigits, x);
    return strtod(buf, NULL);
}

int graft_review_summarize(const double *score1, const double *score2, size_t n,
                           graft_review_stats *out, graft_error *err) {
    *out = (graft_review_stats){0};
    if (n == 0) return graft_error_set(err, GRAFT_E_INVALID, "review: no score pairs");
    double s1 = 0.0, s2 = 0.0;
    for (size_t i = 0; i < n; i++) {
        s1 += score1[i];
        s2 += score2[i];
    }
    out->n = (int64_t)n;
    out->mean1 = s1 / (double)n;
    out->mean2 = s2 / (double)n;
    out->mean1_r = graft_round_py(out->mean1, 3);
    out->mean2_r = graft_round_py(out->mean2, 3);
    if (out->mean1_r == 0.0 || out->mean1 == 0.0)
        return graft_error_set(err, GRAFT_E_INVALID, "review: reference mean score is 0");
    out->relative = graft_round_py(out->mean2_r / out->mean1_r * 100, 1);
    out->score1_x10 = graft_round_py(out->mean1_r * 10, 1);
    out->score2_x10 = graft_round_py(out->mean2_r * 10, 1);
    out->relative_exact = out->mean2 / out->mean1 * 100;
    return GRAFT_OK;
}
