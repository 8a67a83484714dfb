/* test_projector.c - the projector registry's pool2_mlp (2x2 average pooling, then mlp2x_gelu)
 * against a naive double-precision computation written from its definition (pool, W0, erf GELU,
 * W2), with the weights of a committed mmproj fixture, on random features; and its token count
 * rules (an even square grid only). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graft.h"
#include "kernels.h"
#include "projector.h"
#include "test_util.h"

#define MMPROJ "tests/fixtures/clip/a-quickgelu-mlp/mmproj.gguf" /* mm.0 32 -> 40, mm.2 40 -> 40 */

/* W (M, K) as doubles from an f32 GGUF tensor */
static double *matrix(const graft_gguf *g, const char *name, int64_t *M, int64_t *K) {
    graft_gguf_tensor t = graft_gguf_tensor_info(g, graft_gguf_find_tensor(g, name));
    ck_assert_int_eq(t.type, GRAFT_TYPE_F32);
    *K = t.ne[0];
    *M = t.n_dims == 2 ? t.ne[1] : 1;
    double *w = malloc(sizeof(double) * (size_t)(*M * *K));
    for (int64_t i = 0; i < *M * *K; i++) {
        float f;
        memcpy(&f, (const char *)t.data + 4 * i, 4);
        w[i] = f;
    }
    return w;
}

START_TEST(test_pool2_mlp) {
    graft_error err;
    graft_gguf *g;
    ck_assert_msg(graft_gguf_open(MMPROJ, &g, &err) == GRAFT_OK, "%s", err.msg);
    graft_wloader wl;
    graft_wl_init(&wl, g);
    graft_projector p = {0};
    const int D = 32;
    ck_assert_msg(graft_projector_load(&p, "pool2_mlp", 9, D, &wl, &err) == GRAFT_OK, "%s", err.msg);
    ck_assert_int_eq(p.ops->n_out_tokens(&p, 64), 16);   /* 8 x 8 -> 4 x 4 */
    ck_assert_int_eq(p.ops->n_out_tokens(&p, 576), 144); /* ViT-L/14-336's 24 x 24 -> 12 x 12 */
    ck_assert_int_eq(p.ops->n_out_tokens(&p, 65), 0);    /* with the class token: no grid */
    ck_assert_int_eq(p.ops->n_out_tokens(&p, 49), 0);    /* odd grid */
    const int g8 = 8, n_in = g8 * g8, n_out = 16;
    float *x = malloc(sizeof(float) * n_in * D), *y = malloc(sizeof(float) * n_out * p.d_out);
    tu_rng r = {42};
    tu_fill(&r, x, (size_t)n_in * D, 2.0f);
    for (int threads = 1; threads <= 2; threads++) {
        size_t sb = p.ops->scratch_bytes(&p, n_in, 0, threads);
        void *scratch = aligned_alloc(64, (sb + 63) / 64 * 64 + 64);
        graft_projector_run run = {0};
        run.kt = graft_kernels_get();
        run.n_threads = threads;
        run.scratch = scratch;
        ck_assert_int_eq(p.ops->forward(&p, x, n_in, y, &run), GRAFT_OK);
        free(scratch);
        /* the reference */
        int64_t M0, K0, M2, K2;
        double *w0 = matrix(g, "mm.0.weight", &M0, &K0), *w2 = matrix(g, "mm.2.weight", &M2, &K2);
        double *b0 = matrix(g, "mm.0.bias", &(int64_t){0}, &(int64_t){0});
        double *b2 = matrix(g, "mm.2.bias", &(int64_t){0}, &(int64_t){0});
        ck_assert_int_eq(K0, D);
        ck_assert_int_eq(K2, M0);
        double max_err = 0, max_ref = 0;
        for (int i = 0; i < 4; i++)
            for (int j = 0; j < 4; j++) {
                double pooled[32], h[64];
                for (int k = 0; k < D; k++) {
                    double s = 0;
                    for (int di = 0; di < 2; di++)
                        for (int dj = 0; dj < 2; dj++) s += x[((2 * i + di) * g8 + 2 * j + dj) * D + k];
                    pooled[k] = s / 4;
                }
                for (int m = 0; m < M0; m++) {
                    double a = b0[m];
                    for (int k = 0; k < D; k++) a += w0[m * K0 + k] * pooled[k];
                    h[m] = 0.5 * a * (1 + erf(a / sqrt(2.0)));
                }
                for (int m = 0; m < M2; m++) {
                    double a = b2[m];
                    for (int k = 0; k < M0; k++) a += w2[m * K2 + k] * h[k];
                    double got = y[(i * 4 + j) * p.d_out + m];
                    max_err = fmax(max_err, fabs(got - a));
                    max_ref = fmax(max_ref, fabs(a));
                }
            }
        /* float32 through two layers of K <= 40: each output sums ~80 products of size ~|ref|,
         * so a few 1e-7 x max|ref| is float rounding; 1e-5 leaves room, a wrong pooling order or
         * grid is off by O(1) */
        printf("pool2_mlp (%d thread%s): max error %.2e x max|ref| over %d x %d outputs\n", threads,
               threads > 1 ? "s" : "", max_err / max_ref, n_out, p.d_out);
        ck_assert_msg(max_err <= 1e-5 * max_ref, "max error %g, max|ref| %g", max_err, max_ref);
        free(w0), free(w2), free(b0), free(b2);
    }
    free(x), free(y);
    graft_projector_free(&p);
    graft_wl_free(&wl);
    graft_gguf_close(g);
}
END_TEST

Suite *suite_projector(void) {
    Suite *s = suite_create("projector");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_pool2_mlp);
    suite_add_tcase(s, tc);
    return s;
}
