/* test_sampler.c - the sampling chain: greedy, each filter's cut, seeded reproducibility, and the
 * drawn frequencies against the softmax they should follow. */
#include <math.h>
#include <stdlib.h>

#include "graft.h"
#include "test_util.h"

static graft_sampler *make(graft_sampler_params p, int V) {
    graft_sampler *s;
    graft_error e;
    ck_assert_int_eq(graft_sampler_new(&p, V, &s, &e), GRAFT_OK);
    return s;
}

static graft_sampler_params plain(float temp) {
    graft_sampler_params p = graft_sampler_default_params();
    p.temp = temp;
    p.top_k = 0;
    p.top_p = 1.0f;
    p.min_p = 0.0f;
    return p;
}

START_TEST(test_greedy) {
    float l[6] = {0.1f, 3.0f, -1.0f, 3.0f, 2.9f, -INFINITY};
    graft_sampler *s = make(plain(0.0f), 6);
    ck_assert_int_eq(graft_sampler_sample(s, l), 1); /* first of the tied maxima */
    graft_sampler_free(s);
    graft_sampler_params p = plain(1.0f);
    p.top_k = 1; /* top-1 at any temperature is greedy */
    s = make(p, 6);
    for (int i = 0; i < 50; i++) ck_assert_int_eq(graft_sampler_sample(s, l), 1);
    graft_sampler_free(s);
}
END_TEST

/* Frequencies follow softmax(l / T): each within 5 standard deviations over 40000 draws. */
START_TEST(test_distribution) {
    float l[4] = {1.0f, 0.0f, -1.0f, 0.5f};
    const float T = 0.7f;
    graft_sampler *s = make(plain(T), 4);
    int cnt[4] = {0};
    const int N = 40000;
    for (int i = 0; i < N; i++) cnt[graft_sampler_sample(s, l)]++;
    double z = 0;
    for (int i = 0; i < 4; i++) z += exp(l[i] / T);
    for (int i = 0; i < 4; i++) {
        double p = exp(l[i] / T) / z, sd = sqrt(N * p * (1 - p));
        ck_assert_msg(fabs(cnt[i] - N * p) < 5 * sd, "token %d: %d draws, expected %.0f", i, cnt[i], N * p);
    }
    graft_sampler_free(s);
}
END_TEST

START_TEST(test_filters) {
    /* probabilities at T=1: softmax of {2,1,0,-1,-8} ~ {0.64, 0.24, 0.09, 0.03, 0.00002} */
    float l[5] = {2.0f, 1.0f, 0.0f, -1.0f, -8.0f};
    graft_sampler_params p = plain(1.0f);
    p.top_k = 2;
    graft_sampler *s = make(p, 5);
    for (int i = 0; i < 2000; i++) ck_assert_int_le(graft_sampler_sample(s, l), 1);
    graft_sampler_free(s);
    p = plain(1.0f);
    p.top_p = 0.8f; /* 0.64 < 0.8 <= 0.88: keeps ids 0 and 1 */
    s = make(p, 5);
    int seen1 = 0;
    for (int i = 0; i < 2000; i++) {
        int t = graft_sampler_sample(s, l);
        ck_assert_int_le(t, 1);
        seen1 |= t == 1;
    }
    ck_assert(seen1);
    graft_sampler_free(s);
    p = plain(1.0f);
    p.min_p = 0.2f; /* keeps p >= 0.2 * 0.64: ids 0 (1.0x) and 1 (0.37x), not 2 (0.14x) */
    s = make(p, 5);
    for (int i = 0; i < 2000; i++) ck_assert_int_le(graft_sampler_sample(s, l), 1);
    graft_sampler_free(s);
}
END_TEST

START_TEST(test_seed_reproducible) {
    enum { V = 1000 };
    static float l[V];
    tu_rng r = {7};
    tu_fill(&r, l, V, 3.0f);
    graft_sampler_params p = graft_sampler_default_params();
    p.seed = 42;
    graft_sampler *a = make(p, V), *b = make(p, V);
    int differ = 0;
    for (int i = 0; i < 200; i++) {
        int ta = graft_sampler_sample(a, l), tb = graft_sampler_sample(b, l);
        ck_assert_int_eq(ta, tb);
        differ |= ta != graft_sampler_sample(a, l); /* a advances: draws do vary */
        graft_sampler_sample(b, l);
    }
    ck_assert(differ);
    graft_sampler_free(a);
    graft_sampler_free(b);
}
END_TEST

START_TEST(test_repeat_penalty) {
    float l[3] = {2.0f, 1.9f, -1.0f};
    graft_sampler_params p = plain(0.0f);
    p.repeat_penalty = 1.5f; /* token 0: 2.0 / 1.5 = 1.33 < 1.9 */
    p.repeat_last_n = 2;
    graft_sampler *s = make(p, 3);
    ck_assert_int_eq(graft_sampler_sample(s, l), 0);
    graft_sampler_accept(s, 0);
    ck_assert_int_eq(graft_sampler_sample(s, l), 1);
    graft_sampler_accept(s, 2);
    graft_sampler_accept(s, 2); /* 0 falls out of the last 2 */
    ck_assert_int_eq(graft_sampler_sample(s, l), 0);
    graft_sampler_free(s);
}
END_TEST

Suite *suite_sampler(void) {
    Suite *s = suite_create("sampler");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_greedy);
    tcase_add_test(tc, test_distribution);
    tcase_add_test(tc, test_filters);
    tcase_add_test(tc, test_seed_reproducible);
    tcase_add_test(tc, test_repeat_penalty);
    suite_add_tcase(s, tc);
    return s;
}
