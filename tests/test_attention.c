/* test_attention.c - suite "attention": graft_rope against a double-precision rotation (both
 * pair layouts, partial rotation, position 0 and 100000) and graft_attention against a naive
 * triple loop in double written here: causal and bidirectional, grouped-query heads, decode and
 * prefill, additive masks with fully masked rows, f16 K/V, padded strides, every kernel variant,
 * and bitwise equality across thread counts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "test_util.h"

#define U 5.9604644775390625e-8 /* 2^-24 */

/* ---- RoPE -------------------------------------------------------------------------------- */

/* Double reference: pair i turns by pos * freq_scale * base^(-2i / n_rot), exactly. */
static void rope_double(double *x, int n_head, int head_dim, int n_rot, int64_t pos,
                        double base, double freq_scale, int neox) {
    for (int h = 0; h < n_head; h++) {
        double *xh = x + (size_t)h * head_dim;
        for (int i = 0; i < n_rot / 2; i++) {
            const double a = (double)pos * freq_scale * pow(base, -2.0 * i / n_rot);
            const int d0 = neox ? i : 2 * i, d1 = neox ? i + n_rot / 2 : 2 * i + 1;
            const double x0 = xh[d0], x1 = xh[d1];
            xh[d0] = x0 * cos(a) - x1 * sin(a);
            xh[d1] = x0 * sin(a) + x1 * cos(a);
        }
    }
}

/* graft computes llama.cpp's float angle: theta starts at (float)pos, times theta_scale once per
 * pair (theta_scale = powf(base, -2/n_rot), within 1 ulp plus the rounding of -2/n_rot), then
 * freq_scale. So angle i carries a relative error of at most (3i + 3) U, and cosf/sinf and the
 * rotation's products and sum add about 4U of |x0| + |x1|:
 *     |err| <= (|x0| + |x1|) ((3i + 3) U |angle_i| + 4U). */
static double rope_tol(const float *x0, int n_rot, int d, int neox, int64_t pos, double base,
                       double freq_scale) {
    const int i = neox ? d % (n_rot / 2) : d / 2;
    const int d0 = neox ? i : 2 * i, d1 = neox ? i + n_rot / 2 : 2 * i + 1;
    const double a = (double)pos * freq_scale * pow(base, -2.0 * i / n_rot);
    return (fabs(x0[d0]) + fabs(x0[d1])) * ((3.0 * i + 3.0) * U * fabs(a) + 4.0 * U);
}

START_TEST(test_rope_vs_double) {
    const int n_head = 3;
    const struct { int head_dim, n_rot; } dims[] = {{64, 64}, {48, 32}, {128, 128}, {80, 16}};
    const int64_t positions[] = {0, 1, 7, 100, 4095, 100000};
    const float bases[] = {10000.0f, 1000000.0f};
    const float scales[] = {1.0f, 0.25f};
    tu_rng r = {42};
    float x[3 * 128], x0[3 * 128];
    double xd[3 * 128];
    for (int di = 0; di < 4; di++)
        for (int neox = 0; neox < 2; neox++)
            for (int pi = 0; pi < 6; pi++)
                for (int bi = 0; bi < 2; bi++)
                    for (int si = 0; si < 2; si++) {
                        const int hd = dims[di].head_dim, n_rot = dims[di].n_rot;
                        const int64_t pos = positions[pi];
                        const int n = n_head * hd;
                        tu_fill(&r, x0, (size_t)n, 2.0f);
                        memcpy(x, x0, sizeof(float) * (size_t)n);
                        for (int k = 0; k < n; k++) xd[k] = x0[k];
                        graft_rope(x, n_head, hd, n_rot, pos, bases[bi], scales[si],
                                   neox ? GRAFT_ROPE_NEOX : GRAFT_ROPE_NORM);
                        rope_double(xd, n_head, hd, n_rot, pos, bases[bi], scales[si], neox);
                        for (int h = 0; h < n_head; h++)
                            for (int d = 0; d < hd; d++) {
                                const int k = h * hd + d;
                                if (d >= n_rot || pos == 0) { /* untouched, or the identity: exact */
                                    ck_assert_msg(x[k] == x0[k], "rope dims %d/%d neox %d pos %lld: "
                                                  "[%d][%d] changed %g -> %g", hd, n_rot, neox,
                                                  (long long)pos, h, d, (double)x0[k], (double)x[k]);
                                    continue;
                                }
                                const double tol = rope_tol(x0 + h * hd, n_rot, d, neox, pos,
                                                            bases[bi], scales[si]);
                                ck_assert_msg(fabs(x[k] - xd[k]) <= tol,
                                              "rope dims %d/%d neox %d pos %lld base %g scale %g: "
                                              "[%d][%d] got %.9g want %.9g err %.3g tol %.3g",
                                              hd, n_rot, neox, (long long)pos, (double)bases[bi],
                                              (double)scales[si], h, d, (double)x[k], xd[k],
                                              fabs(x[k] - xd[k]), tol);
                            }
                    }
}
END_TEST

/* The layouts, on a unit vector: NORM turns dim 0 into dim 1, NEOX into dim n_rot/2. */
START_TEST(test_rope_layouts) {
    float x[16];
    for (int neox = 0; neox < 2; neox++) {
        memset(x, 0, sizeof x);
        x[0] = 1.0f;
        graft_rope(x, 1, 16, 8, 1, 10000.0f, 1.0f, neox ? GRAFT_ROPE_NEOX : GRAFT_ROPE_NORM);
        const int partner = neox ? 4 : 1;
        ck_assert(fabsf(x[0] - cosf(1.0f)) < 1e-7f);
        ck_assert(fabsf(x[partner] - sinf(1.0f)) < 1e-7f);
        for (int d = 0; d < 16; d++)
            if (d != 0 && d != partner) ck_assert_msg(x[d] == 0.0f, "neox %d: dim %d = %g", neox, d, (double)x[d]);
    }
}
END_TEST

/* The angle is llama.cpp's float recurrence, bit for bit: rotating (1, 0) pairs gives exactly
 * cosf / sinf of freq_scale * theta_i with theta_{i+1} = theta_i * powf(base, -2/n_rot). */
START_TEST(test_rope_llama_angles) {
    enum { HD = 128 };
    float x[HD];
    const int64_t pos = 12345;
    for (int i = 0; i < HD; i++) x[i] = (i % 2 == 0) ? 1.0f : 0.0f;
    graft_rope(x, 1, HD, HD, pos, 500000.0f, 0.5f, GRAFT_ROPE_NORM);
    const float ts = powf(500000.0f, -2.0f / HD);
    float theta = (float)pos;
    for (int i = 0; i < HD / 2; i++) {
        const float a = 0.5f * theta;
        ck_assert_msg(x[2 * i] == cosf(a) && x[2 * i + 1] == sinf(a), "pair %d: (%.9g, %.9g) vs "
                      "cos/sin %.9g %.9g", i, (double)x[2 * i], (double)x[2 * i + 1],
                      (double)cosf(a), (double)sinf(a));
        theta *= ts;
    }
}
END_TEST

/* ---- attention: the naive reference ------------------------------------------------------ */

typedef struct {
    graft_attn_params p;
    int64_t q_stride, out_stride; /* floats */
    int64_t kv_stride;            /* elements per K/V row (>= n_head_kv * head_dim) */
} attn_case;

/* Naive softmax(scale q.k + mask) v in double over f32 K/V values kf/vf (already rounded to
 * f16 when the case is f16). Also returns, per (i, h, d), a tolerance for graft's float path.
 * Rounding errors of long sums are treated as a random walk (Higham's probabilistic bound:
 * about sqrt(n) U, here with a factor 2 of room) rather than the worst case n U, which is ~100x
 * looser than anything observed:
 * a score s_j = scale q.k_j + m_j is off by e_j = scale (2 sqrt(hd) + 4) U sum |q k_j| + 2U |s_j|
 * (f32 dot or gemm, scale, mask add); probabilities then move by p_j (2 max_j e_j + 8U) (the exp of a
 * shifted score, the normaliser, roundings); the weighted sum of n_vis rows adds
 * (2 sqrt(n_vis) + 2) U max|v|. tol = max|v| (2 max e + 8U + (2 sqrt(n_vis) + 2) U), doubled. */
static void attn_naive(const attn_case *c, const float *Q, const float *kf, const float *vf,
                       double *want, double *tol) {
    const graft_attn_params *p = &c->p;
    const int hd = p->head_dim, group = p->n_head / p->n_head_kv;
    double *s = malloc(sizeof(double) * (size_t)(p->n_kv > 0 ? p->n_kv : 1));
    double *e = malloc(sizeof(double) * (size_t)(p->n_kv > 0 ? p->n_kv : 1));
    ck_assert(s && e);
    for (int i = 0; i < p->n_q; i++)
        for (int h = 0; h < p->n_head; h++) {
            const float *q = Q + (int64_t)i * c->q_stride + (int64_t)h * hd;
            const int kvh = h / group;
            double *o = want + ((int64_t)i * p->n_head + h) * hd;
            double *t = tol + ((int64_t)i * p->n_head + h) * hd;
            double max = -INFINITY, emax = 0.0, vmax = 0.0;
            int n_vis = 0;
            for (int j = 0; j < p->n_kv; j++) {
                const int visible = !p->causal || j <= p->q_pos0 + i;
                const float *k = kf + (int64_t)j * c->kv_stride + (int64_t)kvh * hd;
                double dot = 0.0, absdot = 0.0;
                for (int d = 0; d < hd; d++) {
                    dot += (double)q[d] * k[d];
                    absdot += fabs((double)q[d] * k[d]);
                }
                const double m = p->mask ? p->mask[(int64_t)i * p->n_kv + j] : 0.0;
                s[j] = visible ? p->scale * dot + m : -INFINITY;
                if (!visible) continue;
                n_vis = j + 1;
                e[j] = p->scale * (2.0 * sqrt(hd) + 4.0) * U * absdot + 2 * U * fabs(s[j]);
                if (s[j] > max) max = s[j];
            }
            double sum = 0.0;
            for (int j = 0; j < p->n_kv; j++) {
                s[j] = max == -INFINITY ? 0.0 : exp(s[j] - max);
                sum += s[j];
            }
            for (int d = 0; d < hd; d++) o[d] = 0.0;
            for (int j = 0; j < p->n_kv; j++) {
                if (s[j] == 0.0) continue;
                const double pj = s[j] / sum;
                const float *v = vf + (int64_t)j * c->kv_stride + (int64_t)kvh * hd;
                emax = fmax(emax, e[j]);
                for (int d = 0; d < hd; d++) {
                    o[d] += pj * v[d];
                    vmax = fmax(vmax, fabs(v[d]));
                }
            }
            for (int d = 0; d < hd; d++)
                t[d] = 2.0 * vmax * (2.0 * emax + 8 * U + (2.0 * sqrt(n_vis) + 2.0) * U) + 1e-30;
        }
    free(s);
    free(e);
}

/* Runs one case through graft_attention with the given table and thread count, checks it
 * against the naive loop, and leaves the output (n_q rows of out_stride floats) in out. */
static void attn_run(const attn_case *c, const graft_kernels *kt, int n_threads, uint64_t seed,
                     float *out_keep) {
    const graft_attn_params *p = &c->p;
    const int hd = p->head_dim;
    const int64_t kv_elems = (int64_t)p->n_kv * c->kv_stride;
    tu_rng r = {seed};
    float *Q = malloc(sizeof(float) * (size_t)(p->n_q * c->q_stride));
    float *kf = malloc(sizeof(float) * (size_t)kv_elems), *vf = malloc(sizeof(float) * (size_t)kv_elems);
    void *K = malloc((size_t)kv_elems * 4), *V = malloc((size_t)kv_elems * 4);
    float *out = malloc(sizeof(float) * (size_t)(p->n_q * c->out_stride));
    double *want = malloc(sizeof(double) * (size_t)p->n_q * p->n_head * hd);
    double *tol = malloc(sizeof(double) * (size_t)p->n_q * p->n_head * hd);
    float *scratch = malloc(sizeof(float) * graft_attention_scratch_floats(p, n_threads));
    ck_assert(Q && kf && vf && K && V && out && want && tol && scratch);
    tu_fill(&r, Q, (size_t)(p->n_q * c->q_stride), 3.0f);
    tu_fill(&r, kf, (size_t)kv_elems, 1.0f);
    tu_fill(&r, vf, (size_t)kv_elems, 2.0f);
    if (p->kv_type == GRAFT_TYPE_F16) { /* store f16; the reference sees the rounded values */
        uint16_t *k16 = K, *v16 = V;
        for (int64_t j = 0; j < kv_elems; j++) {
            k16[j] = graft_f32_to_f16(kf[j]);
            v16[j] = graft_f32_to_f16(vf[j]);
            kf[j] = graft_f16_to_f32(k16[j]);
            vf[j] = graft_f16_to_f32(v16[j]);
        }
    } else {
        memcpy(K, kf, (size_t)kv_elems * 4);
        memcpy(V, vf, (size_t)kv_elems * 4);
    }
    for (int64_t k = 0; k < p->n_q * c->out_stride; k++) out[k] = NAN; /* padding must stay nan */
    const size_t row_bytes = (size_t)c->kv_stride * (p->kv_type == GRAFT_TYPE_F16 ? 2 : 4);
    graft_attention(kt, p, Q, c->q_stride, K, row_bytes, V, row_bytes, out, c->out_stride,
                    scratch, n_threads);
    attn_naive(c, Q, kf, vf, want, tol);

    double worst = 0.0;
    int shown = 0;
    for (int i = 0; i < p->n_q; i++) {
        for (int h = 0; h < p->n_head; h++)
            for (int d = 0; d < hd; d++) {
                const int64_t k = ((int64_t)i * p->n_head + h) * hd + d;
                const float got = out[(int64_t)i * c->out_stride + (int64_t)h * hd + d];
                const double err = isnan(got) ? INFINITY : fabs(got - want[k]);
                worst = fmax(worst, err / tol[k]);
                if (err > tol[k] && shown++ < 5)
                    fprintf(stderr, "  attention %s q %d head %d dim %d: got %.9g want %.9g "
                                    "(err %.3g > tol %.3g)\n", kt ? kt->name : "default", i, h, d,
                            (double)got, want[k], err, tol[k]);
            }
        for (int64_t k = (int64_t)p->n_head * hd; k < c->out_stride; k++)
            ck_assert_msg(isnan(out[(int64_t)i * c->out_stride + k]), "padding of row %d written", i);
    }
    ck_assert_msg(worst <= 1.0, "attention (%s, %d threads, n_q %d n_kv %d heads %d/%d causal %d "
                  "f16 %d): err/tol %.3g", kt ? kt->name : "default", n_threads, p->n_q, p->n_kv,
                  p->n_head, p->n_head_kv, p->causal, p->kv_type == GRAFT_TYPE_F16, worst);
    if (out_keep) memcpy(out_keep, out, sizeof(float) * (size_t)(p->n_q * c->out_stride));
    free(Q); free(kf); free(vf); free(K); free(V); free(out); free(want); free(tol); free(scratch);
}

static attn_case make_case(int n_q, int n_kv, int n_head, int n_head_kv, int hd, int causal,
                           int64_t q_pos0, int kv_type) {
    attn_case c;
    memset(&c, 0, sizeof c);
    c.p.n_q = n_q;
    c.p.n_kv = n_kv;
    c.p.n_head = n_head;
    c.p.n_head_kv = n_head_kv;
    c.p.head_dim = hd;
    c.p.causal = causal;
    c.p.q_pos0 = q_pos0;
    c.p.scale = 1.0f / sqrtf((float)hd);
    c.p.kv_type = kv_type;
    c.q_stride = c.out_stride = (int64_t)n_head * hd;
    c.kv_stride = (int64_t)n_head_kv * hd;
    return c;
}

static const char *const all_variants[] = {"ref", "avx2", "avx512"};

/* Every case under every variant, 1 and 2 threads, with outputs bitwise equal across threads. */
static void attn_all(const attn_case *c, uint64_t seed) {
    const size_t n_out = (size_t)(c->p.n_q * c->out_stride);
    float *o1 = malloc(sizeof(float) * n_out), *o2 = malloc(sizeof(float) * n_out);
    float *o3 = malloc(sizeof(float) * n_out);
    ck_assert(o1 && o2 && o3);
    for (int v = 0; v < 3; v++) {
        const graft_kernels *kt = graft_kernels_variant(all_variants[v]);
        if (!kt) continue;
        attn_run(c, kt, 1, seed, o1);
        attn_run(c, kt, 2, seed, o2);
        attn_run(c, kt, 3, seed, o3);
        ck_assert_msg(!memcmp(o1, o2, sizeof(float) * n_out) && !memcmp(o1, o3, sizeof(float) * n_out),
                      "%s: results differ between 1, 2 and 3 threads", kt->name);
    }
    free(o1);
    free(o2);
    free(o3);
}

/* prefill: n_q = n_kv, causal from position 0, grouped-query heads 8 / 2 */
START_TEST(test_attn_prefill_gqa) {
    attn_case c = make_case(37, 37, 8, 2, 64, 1, 0, GRAFT_TYPE_F32);
    attn_all(&c, 1);
    c.p.kv_type = GRAFT_TYPE_F16;
    attn_all(&c, 2);
}
END_TEST

/* decode: one query at the last cache position over a long cache */
START_TEST(test_attn_decode) {
    attn_case c = make_case(1, 700, 8, 2, 128, 1, 699, GRAFT_TYPE_F32);
    attn_all(&c, 3);
    c.p.kv_type = GRAFT_TYPE_F16;
    attn_all(&c, 4);
    /* a cache longer than the query's position: causality must hide the rows past it */
    c = make_case(1, 64, 4, 4, 32, 1, 20, GRAFT_TYPE_F32);
    attn_all(&c, 5);
}
END_TEST

/* a later chunk of a prefill: queries at positions 40..49 over 50 cached rows; then queries at
 * 10..14 over a cache of 30 rows, of which rows 15.. must stay hidden */
START_TEST(test_attn_chunk) {
    attn_case c = make_case(10, 50, 6, 3, 40, 1, 40, GRAFT_TYPE_F16);
    attn_all(&c, 6);
    c = make_case(5, 30, 2, 2, 16, 1, 10, GRAFT_TYPE_F32);
    attn_all(&c, 15);
    c = make_case(40, 40, 2, 1, 8, 1, 0, GRAFT_TYPE_F32); /* query blocks of 16, 16 and 8 */
    attn_all(&c, 16);
}
END_TEST

/* bidirectional (the vision tower) with padded strides: Q, out and K/V rows wider than needed */
START_TEST(test_attn_bidirectional) {
    attn_case c = make_case(20, 33, 4, 4, 16, 0, 0, GRAFT_TYPE_F32);
    c.q_stride = 4 * 16 + 5;
    c.out_stride = 4 * 16 + 3;
    c.kv_stride = 4 * 16 + 7;
    attn_all(&c, 7);
    c.p.kv_type = GRAFT_TYPE_F16;
    attn_all(&c, 8);
    c = make_case(1, 1, 2, 1, 8, 0, 0, GRAFT_TYPE_F32); /* one key: the output is its V row */
    attn_all(&c, 9);
    c = make_case(3, 5, 2, 1, 32, 0, 0, GRAFT_TYPE_F16); /* fewer keys than head dims */
    attn_all(&c, 17);
}
END_TEST

/* an additive mask with -inf holes, one row fully masked (zero output), large negative values */
START_TEST(test_attn_mask) {
    enum { NQ = 12, NKV = 30 };
    float mask[NQ * NKV];
    tu_rng r = {77};
    for (int i = 0; i < NQ; i++)
        for (int j = 0; j < NKV; j++) {
            float m = tu_uniform(&r) * 2.0f;
            if ((i + 2 * j) % 5 == 0) m = -INFINITY;
            if (i == 3) m = -INFINITY; /* row 3 sees nothing */
            if (i == 5 && j % 2) m = -1e30f;
            mask[i * NKV + j] = m;
        }
    for (int causal = 0; causal < 2; causal++) {
        attn_case c = make_case(NQ, NKV, 4, 2, 32, causal, NKV - NQ, GRAFT_TYPE_F32);
        c.p.mask = mask;
        attn_all(&c, 10 + (uint64_t)causal);
        c.p.kv_type = GRAFT_TYPE_F16;
        attn_all(&c, 12 + (uint64_t)causal);
    }
    /* row 3 is exactly zero (checked against the naive loop's 0 with a 1e-30 tolerance above;
     * here bitwise) */
    attn_case c = make_case(NQ, NKV, 4, 2, 32, 0, 0, GRAFT_TYPE_F32);
    c.p.mask = mask;
    const int64_t n_out = NQ * c.out_stride;
    float *out = malloc(sizeof(float) * (size_t)n_out);
    ck_assert(out);
    attn_run(&c, NULL, 2, 14, out);
    for (int k = 0; k < 4 * 32; k++) ck_assert(out[3 * c.out_stride + k] == 0.0f);
    free(out);
}
END_TEST

/* scratch sized for a larger n_kv (as a context does for its n_ctx) serves smaller calls */
START_TEST(test_attn_scratch_monotone) {
    graft_attn_params a = {.n_q = 4, .n_kv = 100, .n_head = 8, .n_head_kv = 2, .head_dim = 64,
                           .kv_type = GRAFT_TYPE_F16};
    graft_attn_params b = a;
    b.n_kv = 4096;
    ck_assert(graft_attention_scratch_floats(&a, 2) <= graft_attention_scratch_floats(&b, 2));
    ck_assert(graft_attention_scratch_floats(&a, 1) >= (size_t)(100 + 64));
}
END_TEST

Suite *suite_attention(void) {
    Suite *s = suite_create("attention");
    TCase *tr = tcase_create("rope");
    tcase_add_test(tr, test_rope_vs_double);
    tcase_add_test(tr, test_rope_layouts);
    tcase_add_test(tr, test_rope_llama_angles);
    suite_add_tcase(s, tr);
    TCase *ta = tcase_create("attention");
    tcase_set_timeout(ta, 60);
    tcase_add_test(ta, test_attn_prefill_gqa);
    tcase_add_test(ta, test_attn_decode);
    tcase_add_test(ta, test_attn_chunk);
    tcase_add_test(ta, test_attn_bidirectional);
    tcase_add_test(ta, test_attn_mask);
    tcase_add_test(ta, test_attn_scratch_monotone);
    suite_add_tcase(s, ta);
    return s;
}
