/* test_matmul.c - suite "matmul": every SIMD variant's gemv_* / gemm_* against the scalar
 * reference for F32, F16, BF16, Q8_0, Q4_0 on random data with awkward shapes (K tails, odd row
 * counts, row sub-ranges, strided and unaligned weights), and the driver graft_matmul: identical
 * bits for 1 and 2 threads, the OpenBLAS path against graft's own, GRAFT_MATMUL_NO_BLAS honoured.
 *
 * Tolerances are bounds, not guesses. For float weights both sides sum K products in f32: a
 * sequential sum of K terms errs by at most ~K u sum|w_k x_k| (u = 2^-24), whatever the order
 * (the SIMD kernels use fma chains or 32 partial sums), so two results differ by at most
 * (2K + 64) u sum|w_k x_k|. For block weights each block's integer dot product is exact on both
 * sides and the scale d_w d_x is the same f32 product; only the accumulation over the K/32 blocks
 * (and the 16 lanes a gemv keeps) rounds: (2 K/32 + 64) u sum_b |d_b| sum_j |w_j x_j|. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "test_util.h"

static const char *const variants[] = {"avx2", "avx512"};
#define N_VARIANTS 2
static const double U = 1.0 / 16777216.0; /* f32 unit roundoff */

static const int wtypes[] = {GRAFT_TYPE_F32, GRAFT_TYPE_F16, GRAFT_TYPE_BF16, GRAFT_TYPE_Q8_0,
                             GRAFT_TYPE_Q4_0};

static int is_block(int t) { return t == GRAFT_TYPE_Q8_0 || t == GRAFT_TYPE_Q4_0; }

static size_t type_row_bytes(int t, int64_t K) {
    switch (t) {
    case GRAFT_TYPE_F32: return (size_t)K * 4;
    case GRAFT_TYPE_F16:
    case GRAFT_TYPE_BF16: return (size_t)K * 2;
    case GRAFT_TYPE_Q8_0: return (size_t)(K / QK) * sizeof(block_q8_0);
    default: return (size_t)(K / QK) * sizeof(block_q4_0);
    }
}

/* A weight matrix in type t: M rows `row_bytes` apart (padded past the data, so strides are
 * exercised), starting at an address that is only as aligned as the type requires. The decoded
 * f32 values (what the kernels multiply) go to wf (M, K). */
typedef struct {
    void *mem, *W;
    size_t row_bytes;
    float *wf;
} wmat;

static wmat make_w(const graft_kernels *ref, int t, int64_t M, int64_t K, tu_rng *r) {
    wmat m;
    m.row_bytes = type_row_bytes(t, K) + (t == GRAFT_TYPE_F32 ? 12 : 6);
    const size_t misalign = t == GRAFT_TYPE_F32 ? 4 : 2;
    m.mem = calloc(1, (size_t)M * m.row_bytes + 64);
    m.W = (char *)m.mem + misalign;
    m.wf = malloc((size_t)(M * K) * sizeof(float));
    float *row = malloc((size_t)K * sizeof(float));
    for (int64_t i = 0; i < M; i++) {
        tu_fill(r, row, (size_t)K, 1.0f);
        if (i % 5 == 4) for (int64_t k = 0; k < K; k++) row[k] *= 300.0f; /* rows of a wider range */
        void *dst = (char *)m.W + (size_t)i * m.row_bytes;
        float *wf = m.wf + i * K;
        switch (t) {
        case GRAFT_TYPE_F32: memcpy(dst, row, (size_t)K * 4); memcpy(wf, row, (size_t)K * 4); break;
        case GRAFT_TYPE_F16: ref->f32_to_f16(K, row, dst); ref->f16_to_f32(K, dst, wf); break;
        case GRAFT_TYPE_BF16: ref->f32_to_bf16(K, row, dst); ref->bf16_to_f32(K, dst, wf); break;
        case GRAFT_TYPE_Q8_0: ref->quantize_q8_0(K, row, dst); ref->dequantize_q8_0(K, dst, wf); break;
        default: ref->quantize_q4_0(K, row, dst); ref->dequantize_q4_0(K, dst, wf); break;
        }
    }
    free(row);
    return m;
}

static void free_w(wmat *m) {
    free(m->mem);
    free(m->wf);
}

/* Per output (n, r): the scale of the bound, sum_k |w_k x_k| with x as the kernel sees it (the
 * dequantised Q8_0 activations for block weights). */
static double abs_dot(const float *w, const float *x, int64_t K) {
    double s = 0.0;
    for (int64_t k = 0; k < K; k++) s += fabs((double)w[k] * (double)x[k]);
    return s;
}

/* Checks got against want for rows r0..r1 of N outputs; returns the number of failures and
 * prints the worst ones. ys: Y is (N, ldy) with outputs at column r. */
static int check_out(const char *label, const float *got, const float *want, int64_t N, int64_t ldy,
                     int64_t r0, int64_t r1, const float *wf, const float *xs, int64_t K,
                     double tol_factor) {
    int bad = 0;
    double worst = 0.0;
    for (int64_t n = 0; n < N; n++)
        for (int64_t r = r0; r < r1; r++) {
            const double e = fabs((double)got[n * ldy + r] - (double)want[n * ldy + r]);
            const double tol = tol_factor * abs_dot(wf + r * K, xs + n * K, K) + 1e-30;
            if (!(e <= tol)) {
                if (bad < 5)
                    fprintf(stderr, "  %s: (n=%lld, r=%lld) got %.9g want %.9g err %.3g > tol %.3g\n",
                            label, (long long)n, (long long)r, (double)got[n * ldy + r],
                            (double)want[n * ldy + r], e, tol);
                bad++;
            }
            if (e / tol > worst) worst = e / tol;
        }
    if (bad) fprintf(stderr, "  %s: %d bad, max err / tol = %.3g\n", label, bad, worst);
    return bad;
}

/* One (variant, type, M, K, N) case: gemv (per activation row) and gemm, on the full row range
 * and on a sub-range, against ref. */
static int run_case(const graft_kernels *ref, const graft_kernels *k, const char *vname, int t,
                    int64_t M, int64_t K, int64_t N, tu_rng *r) {
    wmat w = make_w(ref, t, M, K, r);
    const int64_t ldx = K + 3, ldy = M + 2, nb = K / QK;
    float *X = malloc((size_t)(N * ldx) * sizeof(float));
    float *xs = malloc((size_t)(N * K) * sizeof(float)); /* what the kernel multiplies */
    tu_fill(r, X, (size_t)(N * ldx), 2.0f);
    block_q8_0 *xq = is_block(t) ? malloc((size_t)(N * nb) * sizeof(block_q8_0)) : NULL;
    for (int64_t n = 0; n < N; n++) {
        if (xq) {
            ref->quantize_q8_0(K, X + n * ldx, xq + n * nb);
            ref->dequantize_q8_0(K, xq + n * nb, xs + n * K);
        } else {
            memcpy(xs + n * K, X + n * ldx, (size_t)K * sizeof(float));
        }
    }
    const double tol = is_block(t) ? (2.0 * (double)nb + 64) * U : (2.0 * (double)K + 64) * U;
    float *want = malloc((size_t)(N * ldy) * sizeof(float));
    float *got = malloc((size_t)(N * ldy) * sizeof(float));
    char label[160];
    int bad = 0;
    const int64_t ranges[2][2] = {{0, M}, {M > 2 ? 1 : 0, M > 2 ? M - 1 : M}};
    for (int ri = 0; ri < 2; ri++) {
        const int64_t r0 = ranges[ri][0], r1 = ranges[ri][1];
        for (int gemm = 0; gemm < 2; gemm++) {
            for (int64_t i = 0; i < N * ldy; i++) want[i] = got[i] = -777.0f; /* untouched marker */
            for (int side = 0; side < 2; side++) {
                const graft_kernels *kk = side ? k : ref;
                float *Y = side ? got : want;
                if (!gemm) {
                    for (int64_t n = 0; n < N; n++) {
                        const float *x = X + n * ldx;
                        const block_q8_0 *q = xq ? xq + n * nb : NULL;
                        float *y = Y + n * ldy + r0;
                        switch (t) {
                        case GRAFT_TYPE_F32: kk->gemv_f32(w.W, w.row_bytes, r0, r1, K, x, y); break;
                        case GRAFT_TYPE_F16: kk->gemv_f16(w.W, w.row_bytes, r0, r1, K, x, y); break;
                        case GRAFT_TYPE_BF16: kk->gemv_bf16(w.W, w.row_bytes, r0, r1, K, x, y); break;
                        case GRAFT_TYPE_Q8_0: kk->gemv_q8_0(w.W, w.row_bytes, r0, r1, K, q, y); break;
                        default: kk->gemv_q4_0(w.W, w.row_bytes, r0, r1, K, q, y); break;
                        }
                    }
                } else {
                    switch (t) {
                    case GRAFT_TYPE_F32: kk->gemm_f32(w.W, w.row_bytes, r0, r1, K, X, ldx, N, Y, ldy); break;
                    case GRAFT_TYPE_F16: kk->gemm_f16(w.W, w.row_bytes, r0, r1, K, X, ldx, N, Y, ldy); break;
                    case GRAFT_TYPE_BF16: kk->gemm_bf16(w.W, w.row_bytes, r0, r1, K, X, ldx, N, Y, ldy); break;
                    case GRAFT_TYPE_Q8_0: kk->gemm_q8_0(w.W, w.row_bytes, r0, r1, K, xq, N, Y, ldy); break;
                    default: kk->gemm_q4_0(w.W, w.row_bytes, r0, r1, K, xq, N, Y, ldy); break;
                    }
                }
            }
            snprintf(label, sizeof label, "%s %s %s M=%lld K=%lld N=%lld rows %lld..%lld", vname,
                     graft_type_name(t), gemm ? "gemm" : "gemv", (long long)M, (long long)K,
                     (long long)N, (long long)r0, (long long)r1);
            bad += check_out(label, got, want, N, ldy, r0, r1, w.wf, xs, K, tol);
            /* nothing outside rows r0..r1 may be written */
            for (int64_t n = 0; n < N; n++)
                for (int64_t c = 0; c < ldy; c++)
                    if ((c < r0 || c >= r1) && got[n * ldy + c] != -777.0f) {
                        if (bad < 5) fprintf(stderr, "  %s: wrote outside its rows at (%lld, %lld)\n", label, (long long)n, (long long)c);
                        bad++;
                    }
        }
    }
    free(want);
    free(got);
    free(X);
    free(xs);
    free(xq);
    free_w(&w);
    return bad;
}

static void run_type(int t) {
    const graft_kernels *ref = graft_kernels_variant("ref");
    static const int64_t Ms[] = {1, 3, 17, 70};
    static const int64_t Ks_block[] = {32, 64, 96, 4096 + 32};
    static const int64_t Ks_float[] = {1, 7, 33, 100, 32, 64, 96, 4096 + 32};
    static const int64_t Ns[] = {1, 2, 3, 5, 33};
    const int64_t *Ks = is_block(t) ? Ks_block : Ks_float;
    const int nK = is_block(t) ? 4 : 8;
    tu_rng r = {(uint64_t)(1000 + t)};
    int ran = 0;
    for (int v = 0; v < N_VARIANTS; v++) {
        const graft_kernels *k = graft_kernels_variant(variants[v]);
        if (!k) {
            fprintf(stderr, "SKIP matmul %s: this CPU cannot run %s\n", graft_type_name(t), variants[v]);
            continue;
        }
        ran++;
        int bad = 0;
        for (int mi = 0; mi < 4; mi++)
            for (int ki = 0; ki < nK; ki++)
                for (int ni = 0; ni < 5; ni++) {
                    /* keep the big-K cases to the small shapes: the suite stays fast */
                    if (Ks[ki] > 1000 && (Ms[mi] > 17 || Ns[ni] > 5)) continue;
                    bad += run_case(ref, k, variants[v], t, Ms[mi], Ks[ki], Ns[ni], &r);
                }
        ck_assert_msg(bad == 0, "%s %s: %d outputs out of tolerance", variants[v], graft_type_name(t), bad);
    }
    (void)ran;
}

START_TEST(test_kernels_f32) { run_type(GRAFT_TYPE_F32); }
END_TEST
START_TEST(test_kernels_f16) { run_type(GRAFT_TYPE_F16); }
END_TEST
START_TEST(test_kernels_bf16) { run_type(GRAFT_TYPE_BF16); }
END_TEST
START_TEST(test_kernels_q8_0) { run_type(GRAFT_TYPE_Q8_0); }
END_TEST
START_TEST(test_kernels_q4_0) { run_type(GRAFT_TYPE_Q4_0); }
END_TEST

/* K = 0: an empty sum is 0 in every kernel, as in the reference. */
START_TEST(test_kernels_empty_k) {
    const graft_kernels *ref = graft_kernels_variant("ref");
    tu_rng r = {4};
    for (int v = 0; v < N_VARIANTS; v++) {
        const graft_kernels *k = graft_kernels_variant(variants[v]);
        if (!k) continue;
        int bad = 0;
        for (int ti = 0; ti < 5; ti++) bad += run_case(ref, k, variants[v], wtypes[ti], 5, 0, 3, &r);
        ck_assert_msg(bad == 0, "%s: K = 0 gives other than 0", variants[v]);
    }
}
END_TEST

/* Larger gemm shapes: several 32-row panels and K chunks, N across the micro-tile widths. */
START_TEST(test_kernels_gemm_large) {
    const graft_kernels *ref = graft_kernels_variant("ref");
    tu_rng r = {31337};
    for (int v = 0; v < N_VARIANTS; v++) {
        const graft_kernels *k = graft_kernels_variant(variants[v]);
        if (!k) continue;
        int bad = 0;
        for (int ti = 0; ti < 5; ti++)
            bad += run_case(ref, k, variants[v], wtypes[ti], 97, 1024 + 64, 13, &r);
        ck_assert_msg(bad == 0, "%s: %d outputs out of tolerance", variants[v], bad);
    }
}
END_TEST

/* ---- the driver -------------------------------------------------------------------------- */

typedef struct {
    wmat w;
    float *X, *Y;
    void *scratch;
    int64_t M, K, N, ldx, ldy;
} drv_case;

static void drv_make(drv_case *c, int t, int64_t M, int64_t K, int64_t N, tu_rng *r) {
    const graft_kernels *ref = graft_kernels_variant("ref");
    c->M = M, c->K = K, c->N = N, c->ldx = K + 1, c->ldy = M + 5;
    c->w = make_w(ref, t, M, K, r);
    c->X = malloc((size_t)(N * c->ldx) * sizeof(float));
    tu_fill(r, c->X, (size_t)(N * c->ldx), 1.0f);
    c->Y = malloc((size_t)(N * c->ldy) * sizeof(float));
    size_t sb = graft_matmul_scratch_bytes(t, M, K, N, 2);
    c->scratch = sb ? malloc(sb) : NULL;
}

static void drv_run(drv_case *c, const graft_kernels *k, int t, float *Y, int threads, unsigned flags) {
    for (int64_t i = 0; i < c->N * c->ldy; i++) Y[i] = -777.0f;
    graft_matmul(k, t, c->w.W, c->w.row_bytes, c->M, c->K, c->X, c->ldx, c->N, Y, c->ldy,
                 c->scratch, threads, flags);
}

static void drv_free(drv_case *c) {
    free_w(&c->w);
    free(c->X);
    free(c->Y);
    free(c->scratch);
}

/* 1 and 2 threads give the same bits, for every type, N = 1 (gemv), small and large N, with and
 * without BLAS; and the driver's output matches ref within the kernel tolerance. */
START_TEST(test_driver_threads) {
    tu_rng r = {555};
    const graft_kernels *kt = graft_kernels_get();
    const graft_kernels *ref = graft_kernels_variant("ref");
    static const int64_t Ns[] = {1, 7, 70, 260}; /* gemv, gemm, F32 sgemm, + F16/BF16 sgemm */
    for (int ti = 0; ti < 5; ti++) {
        const int t = wtypes[ti];
        for (int ni = 0; ni < 4; ni++) {
            drv_case c;
            drv_make(&c, t, 135, Ns[ni] > 100 ? 224 : 512 + 32, Ns[ni], &r);
            float *y1 = malloc((size_t)(c.N * c.ldy) * sizeof(float));
            float *y2 = malloc((size_t)(c.N * c.ldy) * sizeof(float));
            for (int nob = 0; nob < 2; nob++) {
                const unsigned flags = nob ? GRAFT_MATMUL_NO_BLAS : 0;
                drv_run(&c, kt, t, y1, 1, flags);
                drv_run(&c, kt, t, y2, 2, flags);
                ck_assert_msg(memcmp(y1, y2, (size_t)(c.N * c.ldy) * sizeof(float)) == 0,
                              "%s N=%lld flags=%u: 1 and 2 threads differ", graft_type_name(t),
                              (long long)c.N, flags);
                /* against the reference kernels through the same driver */
                float *yr = c.Y;
                drv_run(&c, ref, t, yr, 1, GRAFT_MATMUL_NO_BLAS);
                int64_t nbk = c.K / QK;
                float *xs = malloc((size_t)(c.N * c.K) * sizeof(float));
                block_q8_0 *q = malloc((size_t)nbk * sizeof(block_q8_0));
                for (int64_t n = 0; n < c.N; n++) {
                    if (is_block(t)) {
                        ref->quantize_q8_0(c.K, c.X + n * c.ldx, q);
                        ref->dequantize_q8_0(c.K, q, xs + n * c.K);
                    } else {
                        memcpy(xs + n * c.K, c.X + n * c.ldx, (size_t)c.K * sizeof(float));
                    }
                }
                const double tol = is_block(t) ? (2.0 * (double)nbk + 64) * U : (2.0 * (double)c.K + 64) * U;
                char label[96];
                snprintf(label, sizeof label, "driver %s N=%lld flags=%u", graft_type_name(t), (long long)c.N, flags);
                ck_assert_msg(check_out(label, y2, yr, c.N, c.ldy, 0, c.M, c.w.wf, xs, c.K, tol) == 0,
                              "%s: out of tolerance", label);
                free(xs);
                free(q);
            }
            free(y1);
            free(y2);
            drv_free(&c);
        }
    }
}
END_TEST

/* The flag picks the path: without it (and with OpenBLAS usable) a large F32 batch gives exactly
 * OpenBLAS's bits; with GRAFT_MATMUL_NO_BLAS exactly the table's gemm over all rows. F16/BF16 large
 * batches likewise (sgemm on the widened weights). The two paths must be told apart: for short K
 * OpenBLAS's AVX-512 kernel computes each output as the same in-order fma chain as graft's gemm
 * (identical bits), so K is long enough for OpenBLAS to block it, and the test checks that the
 * two results differ somewhere; the F16/BF16 path also must not touch the scratch under NO_BLAS. */
START_TEST(test_driver_no_blas) {
    tu_rng r = {808};
    const graft_kernels *kt = graft_kernels_get();
    const graft_kernels *ref = graft_kernels_variant("ref");
    const int types[] = {GRAFT_TYPE_F32, GRAFT_TYPE_F16, GRAFT_TYPE_BF16};
    for (int ti = 0; ti < 3; ti++) {
        const int t = types[ti];
        drv_case c;
        drv_make(&c, t, 70, 1000, 260, &r); /* N above both BLAS thresholds */
        float *own = malloc((size_t)(c.N * c.ldy) * sizeof(float));
        float *direct = malloc((size_t)(c.N * c.ldy) * sizeof(float));
        const size_t sb = graft_matmul_scratch_bytes(t, c.M, c.K, c.N, 2);
        if (sb) memset(c.scratch, 0x5a, sb);
        drv_run(&c, kt, t, own, 2, GRAFT_MATMUL_NO_BLAS);
        for (size_t i = 0; i < sb; i++)
            if (((unsigned char *)c.scratch)[i] != 0x5a)
                ck_abort_msg("%s: NO_BLAS wrote the sgemm panel scratch", graft_type_name(t));
        for (int64_t i = 0; i < c.N * c.ldy; i++) direct[i] = -777.0f;
        if (t == GRAFT_TYPE_F32) kt->gemm_f32(c.w.W, c.w.row_bytes, 0, c.M, c.K, c.X, c.ldx, c.N, direct, c.ldy);
        if (t == GRAFT_TYPE_F16) kt->gemm_f16(c.w.W, c.w.row_bytes, 0, c.M, c.K, c.X, c.ldx, c.N, direct, c.ldy);
        if (t == GRAFT_TYPE_BF16) kt->gemm_bf16(c.w.W, c.w.row_bytes, 0, c.M, c.K, c.X, c.ldx, c.N, direct, c.ldy);
        ck_assert_msg(memcmp(own, direct, (size_t)(c.N * c.ldy) * sizeof(float)) == 0,
                      "%s: NO_BLAS result is not the table's gemm", graft_type_name(t));
        if (graft_blas_ready()) {
            drv_run(&c, kt, t, c.Y, 2, 0);
            /* the BLAS path's own bits: sgemm on the f32 weights */
            float *wf = malloc((size_t)(c.M * c.K) * sizeof(float));
            for (int64_t i = 0; i < c.M; i++) {
                const void *row = (const char *)c.w.W + (size_t)i * c.w.row_bytes;
                if (t == GRAFT_TYPE_F32) memcpy(wf + i * c.K, row, (size_t)c.K * 4);
                else if (t == GRAFT_TYPE_F16) ref->f16_to_f32(c.K, row, wf + i * c.K);
                else ref->bf16_to_f32(c.K, row, wf + i * c.K);
            }
            for (int64_t i = 0; i < c.N * c.ldy; i++) direct[i] = -777.0f;
            graft_blas_sgemm_nt(c.N, c.M, c.K, c.X, c.ldx, wf, c.K, direct, c.ldy, 2);
            ck_assert_msg(memcmp(c.Y, direct, (size_t)(c.N * c.ldy) * sizeof(float)) == 0,
                          "%s: default path is not OpenBLAS's result", graft_type_name(t));
            ck_assert_msg(memcmp(c.Y, own, (size_t)(c.N * c.ldy) * sizeof(float)) != 0,
                          "%s: this shape does not tell OpenBLAS from graft's gemm", graft_type_name(t));
            /* and the two paths agree within the float bound */
            const double tol = (2.0 * (double)c.K + 64) * U;
            float *xs = malloc((size_t)(c.N * c.K) * sizeof(float));
            for (int64_t n = 0; n < c.N; n++) memcpy(xs + n * c.K, c.X + n * c.ldx, (size_t)c.K * 4);
            char label[64];
            snprintf(label, sizeof label, "blas vs own %s", graft_type_name(t));
            ck_assert_msg(check_out(label, c.Y, own, c.N, c.ldy, 0, c.M, c.w.wf, xs, c.K, tol) == 0,
                          "%s: out of tolerance", label);
            free(xs);
            free(wf);
        } else {
            fprintf(stderr, "SKIP blas path: OpenBLAS not usable (%s)\n", graft_blas_corename());
        }
        free(own);
        free(direct);
        drv_free(&c);
    }
}
END_TEST

Suite *suite_matmul(void) {
    Suite *s = suite_create("matmul");
    TCase *tc = tcase_create("kernels");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_kernels_f32);
    tcase_add_test(tc, test_kernels_f16);
    tcase_add_test(tc, test_kernels_bf16);
    tcase_add_test(tc, test_kernels_q8_0);
    tcase_add_test(tc, test_kernels_q4_0);
    tcase_add_test(tc, test_kernels_gemm_large);
    tcase_add_test(tc, test_kernels_empty_k);
    suite_add_tcase(s, tc);
    TCase *td = tcase_create("driver");
    tcase_set_timeout(td, 120);
    tcase_add_test(td, test_driver_threads);
    tcase_add_test(td, test_driver_no_blas);
    suite_add_tcase(s, td);
    return s;
}
