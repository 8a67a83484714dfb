/* test_ops.c - suite "ops": every SIMD variant's row operations against kernels/ref/ops.c on
 * random data and edge sizes, special inputs (huge |x|, zeros, subnormals, -inf in softmax),
 * NULL weights, in-place calls and untouched memory past n; then the exp-based activations
 * against double-precision truth, which pins the approximation errors documented in
 * kernels/avx2/ops.c. Tolerances are in units of U = 2^-24 (half an ulp at 1). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "test_util.h"

#define U 5.9604644775390625e-8 /* 2^-24 */

static const int64_t sizes[] = {1, 2, 3, 7, 8, 15, 16, 17, 31, 33, 64, 100, 4096 + 32, 11008};
#define N_SIZES ((int)(sizeof sizes / sizeof sizes[0]))
#define MAX_N 11008
#define GUARD 16 /* floats past n that must stay untouched */

static const char *const variant_names[] = {"avx2", "avx512"};

/* The variant's table, or NULL (with a note) when this CPU cannot run it. */
static const graft_kernels *variant(int v) {
    const graft_kernels *k = graft_kernels_variant(variant_names[v]);
    if (!k) fprintf(stderr, "SKIP ops/%s: the CPU cannot run it\n", variant_names[v]);
    return k;
}

/* Worst err / tol over n values (tol per element); prints the first few failures. */
static double worst_ratio(const char *label, int64_t n, const float *got, const float *want,
                          const double *tol) {
    double worst = 0.0;
    int shown = 0;
    for (int64_t i = 0; i < n; i++) {
        double e = fabs((double)got[i] - (double)want[i]);
        if (isnan(got[i]) != isnan(want[i]) || (isinf(want[i]) && got[i] != want[i])) e = INFINITY;
        if (isnan(e)) e = 0.0; /* both nan, or equal infinities */
        const double r = e == 0.0 ? 0.0 : e / tol[i];
        if (r > worst) worst = r;
        if (r > 1.0 && shown < 5) {
            fprintf(stderr, "  %s[%lld]: got %.9g want %.9g (err %.3g > tol %.3g)\n", label,
                    (long long)i, (double)got[i], (double)want[i], e, tol[i]);
            shown++;
        }
    }
    return worst;
}

/* Index of the first float that differs bitwise, or -1. */
static int64_t first_bit_diff(int64_t n, const float *a, const float *b) {
    for (int64_t i = 0; i < n; i++)
        if (memcmp(&a[i], &b[i], sizeof(float))) return i;
    return -1;
}

static void assert_bitwise(const char *label, int64_t n, const float *got, const float *want) {
    const int64_t i = first_bit_diff(n, got, want);
    ck_assert_msg(i < 0, "%s n=%lld: [%lld] got %.9g want %.9g", label, (long long)n, (long long)i,
                  i < 0 ? 0.0 : (double)got[i], i < 0 ? 0.0 : (double)want[i]);
}

/* Output buffers carry GUARD sentinel floats past n: a tail store that strays is caught. */
static const float SENTINEL = -12345.678f;
static void set_guard(float *p, int64_t n) {
    for (int i = 0; i < GUARD; i++) p[n + i] = SENTINEL;
}
static void assert_guard(const char *label, const float *p, int64_t n) {
    for (int i = 0; i < GUARD; i++)
        ck_assert_msg(p[n + i] == SENTINEL, "%s n=%lld wrote past the end at +%d", label,
                      (long long)n, i);
}

typedef struct {
    float *x, *y, *w, *b, *got, *want;
    double *tol;
} bufs;

static bufs bufs_new(void) {
    bufs B;
    B.x = calloc(MAX_N + GUARD, sizeof(float));
    B.y = calloc(MAX_N + GUARD, sizeof(float));
    B.w = calloc(MAX_N + GUARD, sizeof(float));
    B.b = calloc(MAX_N + GUARD, sizeof(float));
    B.got = calloc(MAX_N + GUARD, sizeof(float));
    B.want = calloc(MAX_N + GUARD, sizeof(float));
    B.tol = calloc(MAX_N + GUARD, sizeof(double));
    ck_assert(B.x && B.y && B.w && B.b && B.got && B.want && B.tol);
    return B;
}

static void bufs_free(bufs *B) {
    free(B->x); free(B->y); free(B->w); free(B->b); free(B->got); free(B->want); free(B->tol);
}

/* ---- exact kernels: add, mul, scale, axpy, relu ------------------------------------------ */

/* These round exactly as ref (one IEEE operation per element, or mul then add for axpy), so
 * every variant must agree bitwise, in place or not. */
START_TEST(test_exact_ops) {
    const graft_kernels *ref = graft_kernels_variant("ref");
    bufs B = bufs_new();
    for (int v = 0; v < 2; v++) {
        const graft_kernels *k = variant(v);
        if (!k) continue;
        ck_assert(k->add != ref->add && k->axpy != ref->axpy && k->relu != ref->relu);
        tu_rng r = {1000 + (uint64_t)v};
        for (int si = 0; si < N_SIZES; si++) {
            const int64_t n = sizes[si];
            tu_fill(&r, B.x, (size_t)n, 3.0f);
            tu_fill(&r, B.y, (size_t)n, 3.0f);
            B.x[0] = -0.0f; /* relu(-0) = +0 as ref */

            ref->add(n, B.x, B.y, B.want);
            set_guard(B.got, n);
            k->add(n, B.x, B.y, B.got);
            assert_bitwise("add", n, B.got, B.want);
            assert_guard("add", B.got, n);
            memcpy(B.got, B.x, (size_t)n * sizeof(float));
            k->add(n, B.got, B.y, B.got); /* out == a */
            assert_bitwise("add in place", n, B.got, B.want);

            ref->mul(n, B.x, B.y, B.want);
            set_guard(B.got, n);
            k->mul(n, B.x, B.y, B.got);
            assert_bitwise("mul", n, B.got, B.want);
            assert_guard("mul", B.got, n);
            memcpy(B.got, B.y, (size_t)n * sizeof(float));
            k->mul(n, B.x, B.got, B.got); /* out == b */
            assert_bitwise("mul in place", n, B.got, B.want);

            ref->scale(n, -0.37f, B.x, B.want);
            set_guard(B.got, n);
            k->scale(n, -0.37f, B.x, B.got);
            assert_bitwise("scale", n, B.got, B.want);
            assert_guard("scale", B.got, n);
            memcpy(B.got, B.x, (size_t)n * sizeof(float));
            k->scale(n, -0.37f, B.got, B.got);
            assert_bitwise("scale in place", n, B.got, B.want);

            memcpy(B.want, B.y, (size_t)n * sizeof(float));
            memcpy(B.got, B.y, (size_t)n * sizeof(float));
            set_guard(B.got, n);
            ref->axpy(n, 1.7f, B.x, B.want);
            k->axpy(n, 1.7f, B.x, B.got);
            assert_bitwise("axpy", n, B.got, B.want);
            assert_guard("axpy", B.got, n);

            ref->relu(n, B.x, B.want);
            set_guard(B.got, n);
            k->relu(n, B.x, B.got);
            assert_bitwise("relu", n, B.got, B.want);
            assert_guard("relu", B.got, n);
            memcpy(B.got, B.x, (size_t)n * sizeof(float));
            k->relu(n, B.got, B.got);
            assert_bitwise("relu in place", n, B.got, B.want);
        }
    }
    bufs_free(&B);
}
END_TEST

/* ---- dot --------------------------------------------------------------------------------- */

/* f32 accumulation in L lanes (32 for avx2: 4 registers x 8; 64 for avx512): each product is
 * exact inside the FMA and then meets at most n/L + 3 accumulating roundings and about
 * log2(L) + 2 more in the final reduction, so |err| <= (n/L + 10) U sum |x y| (with room),
 * plus ref's own final rounding U |ref|. */
START_TEST(test_dot) {
    const graft_kernels *ref = graft_kernels_variant("ref");
    bufs B = bufs_new();
    const double lanes[2] = {32, 64};
    for (int v = 0; v < 2; v++) {
        const graft_kernels *k = variant(v);
        if (!k) continue;
        ck_assert(k->dot != ref->dot);
        tu_rng r = {2000 + (uint64_t)v};
        for (int si = 0; si < N_SIZES; si++) {
            const int64_t n = sizes[si];
            for (int rep = 0; rep < 3; rep++) {
                tu_fill(&r, B.x, (size_t)n, 2.0f);
                tu_fill(&r, B.y, (size_t)n, rep == 2 ? 1e-20f : 2.0f); /* tiny scale too */
                if (rep == 1) for (int64_t i = 0; i < n; i++) B.y[i] = fabsf(B.y[i]) + 0.5f;
                double abs_sum = 0.0;
                for (int64_t i = 0; i < n; i++) abs_sum += fabs((double)B.x[i] * B.y[i]);
                const float want = ref->dot(n, B.x, B.y), got = k->dot(n, B.x, B.y);
                const double tol = ((double)n / lanes[v] + 10.0) * U * abs_sum + U * fabs(want);
                ck_assert_msg(fabs((double)got - want) <= tol, "%s dot n=%lld: got %.9g want %.9g tol %.3g",
                              k->name, (long long)n, (double)got, (double)want, tol);
            }
        }
    }
    bufs_free(&B);
}
END_TEST

/* ---- norms ------------------------------------------------------------------------------- */

/* rmsnorm: both sum squares in double (orders differ, ~1e-16 relative), then round
 * r = 1/sqrt(ms + eps) to float - equal, or 1 ulp (2U) apart in the rare case the double lies
 * next to a float rounding boundary - and compute (x r) w with the same two roundings. So the
 * outputs agree within 2U (r) + 2 x 1U (the roundings) relative: tol = 4U |ref|. */
START_TEST(test_rmsnorm) {
    const graft_kernels *ref = graft_kernels_variant("ref");
    bufs B = bufs_new();
    for (int v = 0; v < 2; v++) {
        const graft_kernels *k = variant(v);
        if (!k) continue;
        ck_assert(k->rmsnorm != ref->rmsnorm);
        tu_rng r = {3000 + (uint64_t)v};
        for (int si = 0; si < N_SIZES; si++) {
            const int64_t n = sizes[si];
            tu_fill(&r, B.x, (size_t)n, 5.0f);
            tu_fill(&r, B.w, (size_t)n, 2.0f);
            for (int with_w = 0; with_w < 2; with_w++) {
                const float *w = with_w ? B.w : NULL;
                ref->rmsnorm(n, B.x, w, 1e-6f, B.want);
                set_guard(B.got, n);
                k->rmsnorm(n, B.x, w, 1e-6f, B.got);
                for (int64_t i = 0; i < n; i++) B.tol[i] = 4 * U * fabs(B.want[i]) + 1e-38;
                char label[64];
                snprintf(label, sizeof label, "%s rmsnorm n=%lld w=%d", k->name, (long long)n, with_w);
                ck_assert_msg(worst_ratio(label, n, B.got, B.want, B.tol) <= 1.0, "%s", label);
                assert_guard(label, B.got, n);
                memcpy(B.got, B.x, (size_t)n * sizeof(float));
                k->rmsnorm(n, B.got, w, 1e-6f, B.got); /* in place */
                ck_assert_msg(worst_ratio(label, n, B.got, B.want, B.tol) <= 1.0, "%s in place", label);
            }
        }
    }
    bufs_free(&B);
}
END_TEST

/* layernorm: statistics and v = (x - mean) r in double in both, v rounded to float (equal or
 * 1 ulp = 2U |v| apart), then v w + b with the same two float roundings:
 * |err| <= 2U |v w| + U (|v w| + |ref|) <= 4U (|ref| + |b|) with room, as |v w| <= |ref| + |b|. */
START_TEST(test_layernorm) {
    const graft_kernels *ref = graft_kernels_variant("ref");
    bufs B = bufs_new();
    for (int v = 0; v < 2; v++) {
        const graft_kernels *k = variant(v);
        if (!k) continue;
        ck_assert(k->layernorm != ref->layernorm);
        tu_rng r = {4000 + (uint64_t)v};
        for (int si = 0; si < N_SIZES; si++) {
            const int64_t n = sizes[si];
            tu_fill(&r, B.x, (size_t)n, 3.0f);
            for (int64_t i = 0; i < n; i++) B.x[i] += 7.0f; /* a mean far from 0 */
            tu_fill(&r, B.w, (size_t)n, 2.0f);
            tu_fill(&r, B.b, (size_t)n, 1.0f);
            for (int wb = 0; wb < 4; wb++) {
                const float *w = wb & 1 ? B.w : NULL, *b = wb & 2 ? B.b : NULL;
                ref->layernorm(n, B.x, w, b, 1e-5f, B.want);
                set_guard(B.got, n);
                k->layernorm(n, B.x, w, b, 1e-5f, B.got);
                for (int64_t i = 0; i < n; i++)
                    B.tol[i] = 4 * U * (fabs(B.want[i]) + (b ? fabs(b[i]) : 0.0)) + 1e-38;
                char label[64];
                snprintf(label, sizeof label, "%s layernorm n=%lld wb=%d", k->name, (long long)n, wb);
                ck_assert_msg(worst_ratio(label, n, B.got, B.want, B.tol) <= 1.0, "%s", label);
                assert_guard(label, B.got, n);
                memcpy(B.got, B.x, (size_t)n * sizeof(float));
                k->layernorm(n, B.got, w, b, 1e-5f, B.got); /* in place */
                ck_assert_msg(worst_ratio(label, n, B.got, B.want, B.tol) <= 1.0, "%s in place", label);
            }
        }
    }
    bufs_free(&B);
}
END_TEST

/* A constant row has mean exactly c (a double sum of n floats is exact here) and variance 0:
 * the output is exactly b (exactly 0 without b), for every variant and ref; rmsnorm of zeros
 * is zeros. */
START_TEST(test_norm_constant_rows) {
    bufs B = bufs_new();
    const char *names[] = {"ref", "avx2", "avx512"};
    const float consts[] = {0.1f, -3.7f, 1e4f, 0.0f};
    for (int v = 0; v < 3; v++) {
        const graft_kernels *k = graft_kernels_variant(names[v]);
        if (!k) continue;
        tu_rng r = {5000};
        for (int si = 0; si < N_SIZES; si++) {
            const int64_t n = sizes[si];
            tu_fill(&r, B.w, (size_t)n, 2.0f);
            tu_fill(&r, B.b, (size_t)n, 1.0f);
            for (int c = 0; c < 4; c++) {
                for (int64_t i = 0; i < n; i++) B.x[i] = consts[c];
                k->layernorm(n, B.x, B.w, B.b, 1e-5f, B.got);
                for (int64_t i = 0; i < n; i++)
                    ck_assert_msg(B.got[i] == B.b[i], "%s layernorm const %g n=%lld [%lld] = %g, b %g",
                                  names[v], (double)consts[c], (long long)n, (long long)i,
                                  (double)B.got[i], (double)B.b[i]);
                k->layernorm(n, B.x, NULL, NULL, 1e-5f, B.got);
                for (int64_t i = 0; i < n; i++) ck_assert(B.got[i] == 0.0f);
            }
            memset(B.x, 0, (size_t)n * sizeof(float));
            k->rmsnorm(n, B.x, B.w, 1e-6f, B.got);
            for (int64_t i = 0; i < n; i++) ck_assert(B.got[i] == 0.0f);
        }
    }
    bufs_free(&B);
}
END_TEST

/* ---- softmax ----------------------------------------------------------------------------- */

/* Both subtract the same float max and sum in double. Per element: our exp (<= 1.5U, measured)
 * and ref's expf (< 1 ulp = 2U), the float 1/sum in each (1U each), the final product (1U
 * each): tol = 8U |ref|, plus 1e-44 for results in the subnormal range. */
static void softmax_tol(int64_t n, const float *want, double *tol) {
    for (int64_t i = 0; i < n; i++) tol[i] = 8 * U * fabs(want[i]) + 1e-44;
}

START_TEST(test_softmax) {
    const graft_kernels *ref = graft_kernels_variant("ref");
    bufs B = bufs_new();
    for (int v = 0; v < 2; v++) {
        const graft_kernels *k = variant(v);
        if (!k) continue;
        ck_assert(k->softmax != ref->softmax);
        tu_rng r = {6000 + (uint64_t)v};
        for (int si = 0; si < N_SIZES; si++) {
            const int64_t n = sizes[si];
            for (int rep = 0; rep < 4; rep++) {
                /* rep 0: mild; 1: peaked (range 60, many underflow to tiny or 0);
                 * 2: with -inf entries; 3: large equal offsets (1e4 + noise) */
                tu_fill(&r, B.x, (size_t)n, rep == 1 ? 30.0f : 4.0f);
                if (rep == 2)
                    for (int64_t i = 0; i < n; i += 3) B.x[i] = -INFINITY;
                if (rep == 3)
                    for (int64_t i = 0; i < n; i++) B.x[i] += 1e4f;
                memcpy(B.want, B.x, (size_t)n * sizeof(float));
                memcpy(B.got, B.x, (size_t)n * sizeof(float));
                set_guard(B.got, n);
                ref->softmax(n, B.want);
                k->softmax(n, B.got);
                softmax_tol(n, B.want, B.tol);
                char label[64];
                snprintf(label, sizeof label, "%s softmax n=%lld rep=%d", k->name, (long long)n, rep);
                ck_assert_msg(worst_ratio(label, n, B.got, B.want, B.tol) <= 1.0, "%s", label);
                assert_guard(label, B.got, n);
                double sum = 0.0;
                for (int64_t i = 0; i < n; i++) {
                    if (isinf(B.x[i])) ck_assert_msg(B.got[i] == 0.0f, "%s: -inf must give 0", label);
                    sum += B.got[i];
                }
                if (!(rep == 2 && n == 1)) /* n = 1 with rep 2 is all -inf */
                    ck_assert_msg(fabs(sum - 1.0) <= 1e-5, "%s: sum %.9g", label, sum);
            }
            /* every entry -inf: all zeros, no nan */
            for (int64_t i = 0; i < n; i++) B.got[i] = -INFINITY;
            k->softmax(n, B.got);
            for (int64_t i = 0; i < n; i++)
                ck_assert_msg(B.got[i] == 0.0f, "%s softmax all -inf n=%lld: [%lld] = %g", k->name,
                              (long long)n, (long long)i, (double)B.got[i]);
        }
        B.got[0] = 123.0f;
        k->softmax(1, B.got);
        ck_assert(B.got[0] == 1.0f);
    }
    bufs_free(&B);
}
END_TEST

/* ---- activations vs ref ------------------------------------------------------------------ */

typedef void (*unary_fn)(int64_t, const float *, float *);

/* Tolerance |err| <= U (rel |ref| + absx |x|) + 1e-37 per activation:
 * silu, quick_gelu: x / (1 + e): ours (e within 1.5U) and ref's expf (2U) differ by their exp
 *   errors plus one rounding each of the sum and the division: 6U.
 * gelu_tanh: ours x / (1 + exp(-2y)) is within 2.4e-7 = 4U relative for x >= -1; below, both
 *   carry the float rounding of y amplified by |2y| (relative, so tiny in absolute terms), and
 *   ref's 1 + tanh(y) cancels, losing up to 1 ulp of tanh near -1 = 2U absolute, times 0.5 |x|:
 *   8U |ref| + 2U |x|.
 * gelu_erf: ours has |err| <= 2.4e-7 |x|/2 = 2U |x| (measured, see avx2/ops.c), ref's
 *   0.5 x (1 + erff) up to 1U |x| from the cancellation: 4U |ref| + 4U |x|.
 * The 1e-37 covers results that are tiny but normal-range, e.g. silu(-80) = -1.4e-33 is
 *   relative, but quick_gelu near -52 sits next to FLT_MIN. */
static const struct {
    const char *name;
    size_t off;
    double rel, absx;
} unary_ops[] = {
    {"silu", offsetof(graft_kernels, silu), 6, 0},
    {"quick_gelu", offsetof(graft_kernels, quick_gelu), 6, 0},
    {"gelu_tanh", offsetof(graft_kernels, gelu_tanh), 8, 2},
    {"gelu_erf", offsetof(graft_kernels, gelu_erf), 4, 4},
};
#define N_UNARY ((int)(sizeof unary_ops / sizeof unary_ops[0]))

static unary_fn get_unary(const graft_kernels *k, int j) {
    unary_fn f;
    memcpy(&f, (const char *)k + unary_ops[j].off, sizeof f);
    return f;
}

static void unary_tol(int j, int64_t n, const float *x, const float *want, double *tol) {
    for (int64_t i = 0; i < n; i++)
        tol[i] = U * (unary_ops[j].rel * fabs(want[i]) + unary_ops[j].absx * fabs(x[i])) + 1e-37;
}

/* The special inputs: huge, overflowing and underflowing exp arguments, signed zeros, tiny and
 * subnormal values, the transition regions. */
static const float specials[] = {80.0f, -80.0f, 100.0f, -100.0f, 0.0f, -0.0f, 1e-30f, -1e-30f,
                                 1e-40f, -1e-40f, 1e-7f, -1e-7f, 88.0f, -88.0f, 10.0f, -10.0f,
                                 20.0f, -20.0f, 52.0f, -52.0f, 3.0f, -3.0f, 0.5f, -0.5f,
                                 1e20f, -1e20f, 14.0f, -14.0f, 15.0f, -15.0f, 6.0f, -6.0f};
#define N_SPECIALS ((int64_t)(sizeof specials / sizeof specials[0]))

START_TEST(test_activations) {
    const graft_kernels *ref = graft_kernels_variant("ref");
    bufs B = bufs_new();
    for (int v = 0; v < 2; v++) {
        const graft_kernels *k = variant(v);
        if (!k) continue;
        tu_rng r = {7000 + (uint64_t)v};
        for (int j = 0; j < N_UNARY; j++) {
            const unary_fn fr = get_unary(ref, j), fk = get_unary(k, j);
            ck_assert_msg(fk != fr, "%s %s comes from ref", k->name, unary_ops[j].name);
            for (int si = 0; si <= N_SIZES; si++) {
                const int64_t n = si < N_SIZES ? sizes[si] : N_SPECIALS;
                if (si < N_SIZES) tu_fill(&r, B.x, (size_t)n, 6.0f);
                else memcpy(B.x, specials, sizeof specials);
                fr(n, B.x, B.want);
                set_guard(B.got, n);
                fk(n, B.x, B.got);
                unary_tol(j, n, B.x, B.want, B.tol);
                char label[64];
                snprintf(label, sizeof label, "%s %s n=%lld%s", k->name, unary_ops[j].name,
                         (long long)n, si < N_SIZES ? "" : " (specials)");
                ck_assert_msg(worst_ratio(label, n, B.got, B.want, B.tol) <= 1.0, "%s", label);
                assert_guard(label, B.got, n);
                for (int64_t i = 0; i < n; i++) ck_assert_msg(!isnan(B.got[i]), "%s: nan at %lld", label, (long long)i);
                memcpy(B.y, B.got, (size_t)n * sizeof(float));
                memcpy(B.got, B.x, (size_t)n * sizeof(float));
                fk(n, B.got, B.got); /* in place: the same values */
                assert_bitwise(label, n, B.got, B.y);
            }
        }
    }
    bufs_free(&B);
}
END_TEST

/* swiglu = silu(gate) * up: silu's 6U plus the product's rounding. */
START_TEST(test_swiglu) {
    const graft_kernels *ref = graft_kernels_variant("ref");
    bufs B = bufs_new();
    for (int v = 0; v < 2; v++) {
        const graft_kernels *k = variant(v);
        if (!k) continue;
        ck_assert(k->swiglu != ref->swiglu);
        tu_rng r = {8000 + (uint64_t)v};
        for (int si = 0; si <= N_SIZES; si++) {
            const int64_t n = si < N_SIZES ? sizes[si] : N_SPECIALS;
            if (si < N_SIZES) tu_fill(&r, B.x, (size_t)n, 6.0f);
            else memcpy(B.x, specials, sizeof specials);
            tu_fill(&r, B.y, (size_t)n, 3.0f);
            ref->swiglu(n, B.x, B.y, B.want);
            set_guard(B.got, n);
            k->swiglu(n, B.x, B.y, B.got);
            for (int64_t i = 0; i < n; i++) B.tol[i] = 7 * U * fabs(B.want[i]) + 1e-37;
            char label[64];
            snprintf(label, sizeof label, "%s swiglu n=%lld", k->name, (long long)n);
            ck_assert_msg(worst_ratio(label, n, B.got, B.want, B.tol) <= 1.0, "%s", label);
            assert_guard(label, B.got, n);
            memcpy(B.w, B.got, (size_t)n * sizeof(float));
            memcpy(B.got, B.x, (size_t)n * sizeof(float));
            k->swiglu(n, B.got, B.y, B.got); /* out == gate */
            assert_bitwise("swiglu out == gate", n, B.got, B.w);
            memcpy(B.got, B.y, (size_t)n * sizeof(float));
            k->swiglu(n, B.x, B.got, B.got); /* out == up */
            assert_bitwise("swiglu out == up", n, B.got, B.w);
        }
    }
    bufs_free(&B);
}
END_TEST

/* ---- the approximations against double truth -------------------------------------------- */

/* Dense sweeps pin the errors documented in kernels/avx2/ops.c (bounds = measured max rounded
 * up by ~10%): silu and quick_gelu relative 1.9e-7 on [-20, 20] (measured 1.7e-7);
 * gelu_tanh relative 2.6e-7 on [-1, 20] (2.4e-7); gelu_erf |err| <= 2.6e-7 |x|/2 on [-14, 14]
 * (2.4e-7) and relative 2.6e-7 for x > 0 (2.4e-7). Truth uses the float input exactly. */
START_TEST(test_accuracy_vs_double) {
    enum { CH = 4096 };
    float *x = malloc(CH * sizeof(float)), *y = malloc(CH * sizeof(float));
    ck_assert(x && y);
    for (int v = 0; v < 2; v++) {
        const graft_kernels *k = variant(v);
        if (!k) continue;
        double e_silu = 0, e_qg = 0, e_gt = 0, e_ge_abs = 0, e_ge_rel = 0;
        for (int64_t c = 0; c < 50; c++) { /* 204800 points on [-20, 20) */
            for (int i = 0; i < CH; i++) x[i] = (float)(-20.0 + 40.0 * (double)(c * CH + i) / (50.0 * CH));
            k->silu(CH, x, y);
            for (int i = 0; i < CH; i++) {
                const double t = x[i] / (1.0 + exp(-(double)x[i]));
                if (t != 0.0) e_silu = fmax(e_silu, fabs(y[i] - t) / fabs(t));
            }
            k->quick_gelu(CH, x, y);
            for (int i = 0; i < CH; i++) {
                const double t = x[i] / (1.0 + exp(-(double)(1.702f * x[i])));
                if (t != 0.0) e_qg = fmax(e_qg, fabs(y[i] - t) / fabs(t));
            }
            k->gelu_tanh(CH, x, y);
            for (int i = 0; i < CH; i++) {
                if (x[i] < -1.0f || x[i] == 0.0f) continue;
                const double xd = x[i], yy = 0.7978845608028654 * (xd + 0.044715 * xd * xd * xd);
                const double t = xd / (1.0 + exp(-2.0 * yy));
                e_gt = fmax(e_gt, fabs(y[i] - t) / fabs(t));
            }
            k->gelu_erf(CH, x, y);
            for (int i = 0; i < CH; i++) {
                if (fabsf(x[i]) > 14.0f || x[i] == 0.0f) continue;
                const double xd = x[i], t = 0.5 * xd * erfc(-xd / sqrt(2.0));
                e_ge_abs = fmax(e_ge_abs, fabs(y[i] - t) / (0.5 * fabs(xd)));
                if (xd > 0) e_ge_rel = fmax(e_ge_rel, fabs(y[i] - t) / t);
            }
        }
        fprintf(stderr, "ops/%s vs double: silu %.3g quick_gelu %.3g gelu_tanh %.3g "
                        "gelu_erf abs/(|x|/2) %.3g rel(x>0) %.3g\n",
                k->name, e_silu, e_qg, e_gt, e_ge_abs, e_ge_rel);
        ck_assert_msg(e_silu <= 1.9e-7, "%s silu %.3g", k->name, e_silu);
        ck_assert_msg(e_qg <= 1.9e-7, "%s quick_gelu %.3g", k->name, e_qg);
        ck_assert_msg(e_gt <= 2.6e-7, "%s gelu_tanh %.3g", k->name, e_gt);
        ck_assert_msg(e_ge_abs <= 2.6e-7, "%s gelu_erf abs %.3g", k->name, e_ge_abs);
        ck_assert_msg(e_ge_rel <= 2.6e-7, "%s gelu_erf rel %.3g", k->name, e_ge_rel);
    }
    free(x);
    free(y);
}
END_TEST

Suite *suite_ops(void) {
    Suite *s = suite_create("ops");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_exact_ops);
    tcase_add_test(tc, test_dot);
    tcase_add_test(tc, test_rmsnorm);
    tcase_add_test(tc, test_layernorm);
    tcase_add_test(tc, test_norm_constant_rows);
    tcase_add_test(tc, test_softmax);
    tcase_add_test(tc, test_activations);
    tcase_add_test(tc, test_swiglu);
    tcase_add_test(tc, test_accuracy_vs_double);
    suite_add_tcase(s, tc);
    return s;
}
