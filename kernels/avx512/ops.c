/* ops.c - avx512 row operations on f32 (AVX-512 F/DQ), 16 lanes; kernels/ref/ops.c is the truth.
 * Tails use mask registers, so every n >= 1 runs the same vector code and out == x is safe.
 * The exp and erfc approximations are those of kernels/avx2/ops.c (same polynomials, same
 * measured errors, stated there and below); exp applies 2^n with vscalefps.
 *
 * Precision choices, as avx2: add/mul/scale/axpy/relu round exactly as ref does (bitwise equal:
 * axpy is a multiply then an add, no FMA). dot accumulates in f32 (4 x 16 lanes, FMA). The norm
 * statistics and the softmax denominator accumulate in double lanes, as ref does. */
#include <immintrin.h>
#include <math.h>

#include "avx512.h"

/* ---- helpers ----------------------------------------------------------------------------- */

/* lanes [0, r) set, r in 1..15 */
static inline __mmask16 tail_mask(int64_t r) { return (__mmask16)((1u << r) - 1); }

/* adds 16 floats widened to double into two accumulators */
static inline void acc_pd(__m512 x, __m512d *lo, __m512d *hi) {
    *lo = _mm512_add_pd(*lo, _mm512_cvtps_pd(_mm512_castps512_ps256(x)));
    *hi = _mm512_add_pd(*hi, _mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1)));
}

/* exp(x) for 16 lanes: x = n ln2 + r, |r| <= ln2/2, exp(r) = 1 + r + r^2 q(r) (q of degree 4,
 * fitted as in avx2), times 2^n by vscalefps, which rounds once and handles subnormal results
 * and overflow to inf. NaN propagates; -inf gives 0. Measured max relative error over a dense
 * sweep of [-87, 88.7] vs double exp: 8.5e-8 (1.4 half-ulps). */
static inline __m512 exp16(__m512 x) {
    /* clamp keeps r finite for +-inf; operand order lets NaN through (maxps returns the 2nd) */
    x = _mm512_min_ps(_mm512_set1_ps(89.0f), _mm512_max_ps(_mm512_set1_ps(-104.0f), x));
    const __m512 n = _mm512_roundscale_ps(_mm512_mul_ps(x, _mm512_set1_ps(1.44269504088896341f)),
                                          _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m512 r = _mm512_fnmadd_ps(n, _mm512_set1_ps(0.693147182464599609375f), x);
    r = _mm512_fnmadd_ps(n, _mm512_set1_ps(-1.904654323148236e-09f), r);
    __m512 q = _mm512_set1_ps(0.001381461275741458f);
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.008368710055947304f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.04166838899254799f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.1666652113199234f));
    q = _mm512_fmadd_ps(q, r, _mm512_set1_ps(0.4999999403953552f));
    const __m512 p = _mm512_add_ps(_mm512_fmadd_ps(_mm512_mul_ps(r, r), q, r), _mm512_set1_ps(1.0f));
    return _mm512_scalef_ps(p, n);
}

/* x / (1 + exp(-k x)): silu (k = 1), quick_gelu (k = 1.702); -0 for very negative x, as ref.
 * Measured relative error vs double, x in [-20, 20]: 1.7e-7. */
static inline __m512 x_sigmoid16(__m512 x, __m512 kx) {
    const __m512 e = exp16(_mm512_sub_ps(_mm512_setzero_ps(), kx));
    return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

/* gelu with tanh as x / (1 + exp(-2y)), y = sqrt(2/pi)(x + 0.044715 x^3); errors as avx2. */
static inline __m512 gelu_tanh16(__m512 x) {
    const __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.044715f), x), x), x);
    const __m512 y = _mm512_mul_ps(_mm512_set1_ps(0.7978845608028654f), _mm512_add_ps(x, x3));
    return x_sigmoid16(x, _mm512_mul_ps(_mm512_set1_ps(2.0f), y));
}

/* gelu with erf: x (1 - erfc(z)/2) for x >= 0, x erfc(z)/2 for x < 0, z = |x| / sqrt 2;
 * erfc(z) = t exp(w R(w) - z^2), t = 2 / (2 + z), w = z / (2 + z), R of degree 9 (the fit and
 * measured errors are documented at gelu_erf8 in kernels/avx2/ops.c: erf absolute error
 * <= 2.4e-7 with the result's rounding included). */
static inline __m512 gelu_erf16(__m512 x) {
    const __m512 ax = _mm512_abs_ps(x);
    const __m512 z = _mm512_min_ps(_mm512_set1_ps(10.0f),
                                   _mm512_mul_ps(ax, _mm512_set1_ps(0.70710678118654752f)));
    const __m512 rd = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(2.0f), z));
    const __m512 t = _mm512_add_ps(rd, rd), w = _mm512_mul_ps(z, rd);
    __m512 R = _mm512_set1_ps(-1.392646432e-01f);
    R = _mm512_fmadd_ps(R, w, _mm512_set1_ps(4.350617230e-01f));
    R = _mm512_fmadd_ps(R, w, _mm512_set1_ps(-4.030169249e-01f));
    R = _mm512_fmadd_ps(R, w, _mm512_set1_ps(7.833653688e-02f));
    R = _mm512_fmadd_ps(R, w, _mm512_set1_ps(-8.384370804e-02f));
    R = _mm512_fmadd_ps(R, w, _mm512_set1_ps(4.985883832e-02f));
    R = _mm512_fmadd_ps(R, w, _mm512_set1_ps(1.963282228e-01f));
    R = _mm512_fmadd_ps(R, w, _mm512_set1_ps(1.609271020e-01f));
    R = _mm512_fmadd_ps(R, w, _mm512_set1_ps(-3.032015264e-01f));
    R = _mm512_fmadd_ps(R, w, _mm512_set1_ps(-1.256759167e+00f));
    const __m512 arg = _mm512_fnmadd_ps(z, z, _mm512_mul_ps(w, R)); /* P(w) - z^2 */
    const __m512 half_erfc = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), t), exp16(arg));
    const __mmask16 neg = _mm512_cmp_ps_mask(x, _mm512_setzero_ps(), _CMP_LT_OQ);
    const __m512 m = _mm512_mask_blend_ps(neg, _mm512_sub_ps(_mm512_set1_ps(1.0f), half_erfc), half_erfc);
    return _mm512_mul_ps(x, m);
}

/* ---- dot and elementwise ----------------------------------------------------------------- */

float avx512_dot(int64_t n, const float *x, const float *y) {
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps();
    __m512 a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
        a1 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 16), _mm512_loadu_ps(y + i + 16), a1);
        a2 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 32), _mm512_loadu_ps(y + i + 32), a2);
        a3 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i + 48), _mm512_loadu_ps(y + i + 48), a3);
    }
    for (; i + 16 <= n; i += 16)
        a0 = _mm512_fmadd_ps(_mm512_loadu_ps(x + i), _mm512_loadu_ps(y + i), a0);
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        a1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, x + i), _mm512_maskz_loadu_ps(m, y + i), a1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

void avx512_add(int64_t n, const float *a, const float *b, float *out) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, _mm512_add_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(out + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, a + i),
                                                        _mm512_maskz_loadu_ps(m, b + i)));
    }
}

void avx512_mul(int64_t n, const float *a, const float *b, float *out) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(out + i, _mm512_mul_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i)));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, a + i),
                                                        _mm512_maskz_loadu_ps(m, b + i)));
    }
}

void avx512_scale(int64_t n, float s, const float *x, float *out) {
    const __m512 vs = _mm512_set1_ps(s);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, _mm512_mul_ps(vs, _mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(vs, _mm512_maskz_loadu_ps(m, x + i)));
    }
}

void avx512_axpy(int64_t n, float a, const float *x, float *y) {
    const __m512 va = _mm512_set1_ps(a);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, _mm512_add_ps(_mm512_loadu_ps(y + i),
                                              _mm512_mul_ps(va, _mm512_loadu_ps(x + i))));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, _mm512_add_ps(_mm512_maskz_loadu_ps(m, y + i),
                                                      _mm512_mul_ps(va, _mm512_maskz_loadu_ps(m, x + i))));
    }
}

/* max(x, 0) returns its 2nd operand for NaN and for -0: 0, as ref's x > 0 ? x : 0 */
void avx512_relu(int64_t n, const float *x, float *out) {
    const __m512 z = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, _mm512_max_ps(_mm512_loadu_ps(x + i), z));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(out + i, m, _mm512_max_ps(_mm512_maskz_loadu_ps(m, x + i), z));
    }
}

/* ---- norms ------------------------------------------------------------------------------- */

void avx512_rmsnorm(int64_t n, const float *x, const float *w, float eps, float *out) {
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = i + 16 <= n ? (__mmask16)0xffff : tail_mask(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i); /* zeros past n */
        const __m512d a = _mm512_cvtps_pd(_mm512_castps512_ps256(v));
        const __m512d b = _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1));
        lo = _mm512_fmadd_pd(a, a, lo);
        hi = _mm512_fmadd_pd(b, b, hi);
    }
    const double ss = _mm512_reduce_add_pd(_mm512_add_pd(lo, hi));
    const __m512 r = _mm512_set1_ps((float)(1.0 / sqrt(ss / (double)n + eps)));
    /* out = (x r) w: the same two roundings as ref */
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = i + 16 <= n ? (__mmask16)0xffff : tail_mask(n - i);
        __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), r);
        if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i));
        _mm512_mask_storeu_ps(out + i, m, v);
    }
}

/* Statistics and the normalised value in double, as ref; then v w + b in float, as ref. */
void avx512_layernorm(int64_t n, const float *x, const float *w, const float *b, float eps,
                      float *out) {
    __m512d s0 = _mm512_setzero_pd(), s1 = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = i + 16 <= n ? (__mmask16)0xffff : tail_mask(n - i);
        acc_pd(_mm512_maskz_loadu_ps(m, x + i), &s0, &s1); /* zeros past n add nothing */
    }
    const double mean = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1)) / (double)n;
    const __m512d vmean = _mm512_set1_pd(mean);
    s0 = _mm512_setzero_pd();
    s1 = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = i + 16 <= n ? (__mmask16)0xffff : tail_mask(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        /* lanes past n are left out of the sum by 8-bit masks on each double half */
        const __m512d a = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(v)), vmean);
        const __m512d c = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)), vmean);
        s0 = _mm512_mask3_fmadd_pd(a, a, s0, (__mmask8)(m & 0xff));
        s1 = _mm512_mask3_fmadd_pd(c, c, s1, (__mmask8)(m >> 8));
    }
    const double var = _mm512_reduce_add_pd(_mm512_add_pd(s0, s1)) / (double)n;
    const __m512d r = _mm512_set1_pd(1.0 / sqrt(var + eps));
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = i + 16 <= n ? (__mmask16)0xffff : tail_mask(n - i);
        const __m512 xv = _mm512_maskz_loadu_ps(m, x + i);
        const __m512d a = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_castps512_ps256(xv)), vmean);
        const __m512d c = _mm512_sub_pd(_mm512_cvtps_pd(_mm512_extractf32x8_ps(xv, 1)), vmean);
        __m512 v = _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(_mm512_mul_pd(a, r))),
                                      _mm512_cvtpd_ps(_mm512_mul_pd(c, r)), 1);
        if (w) v = _mm512_mul_ps(v, _mm512_maskz_loadu_ps(m, w + i));
        if (b) v = _mm512_add_ps(v, _mm512_maskz_loadu_ps(m, b + i));
        _mm512_mask_storeu_ps(out + i, m, v);
    }
}

/* ---- softmax ----------------------------------------------------------------------------- */

void avx512_softmax(int64_t n, float *x) {
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 vmax = ninf;
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = i + 16 <= n ? (__mmask16)0xffff : tail_mask(n - i);
        vmax = _mm512_max_ps(vmax, _mm512_mask_loadu_ps(ninf, m, x + i));
    }
    const float max = _mm512_reduce_max_ps(vmax);
    if (max == -INFINITY) { /* every position masked: attend to nothing */
        for (int64_t i = 0; i < n; i++) x[i] = 0.0f;
        return;
    }
    const __m512 vm = _mm512_set1_ps(max);
    __m512d lo = _mm512_setzero_pd(), hi = _mm512_setzero_pd();
    for (int64_t i = 0; i < n; i += 16) {
        const __mmask16 m = i + 16 <= n ? (__mmask16)0xffff : tail_mask(n - i);
        /* lanes past n are zeroed before they reach the sum */
        const __m512 e = _mm512_maskz_mov_ps(m, exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(m, x + i), vm)));
        _mm512_mask_storeu_ps(x + i, m, e);
        acc_pd(e, &lo, &hi);
    }
    avx512_scale(n, (float)(1.0 / _mm512_reduce_add_pd(_mm512_add_pd(lo, hi))), x, x);
}

/* ---- activations ------------------------------------------------------------------------- */

void avx512_gelu_erf(int64_t n, const float *x, float *out) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, gelu_erf16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(out + i, m, gelu_erf16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

void avx512_gelu_tanh(int64_t n, const float *x, float *out) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) _mm512_storeu_ps(out + i, gelu_tanh16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(out + i, m, gelu_tanh16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

void avx512_quick_gelu(int64_t n, const float *x, float *out) {
    const __m512 k = _mm512_set1_ps(1.702f);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        _mm512_storeu_ps(out + i, x_sigmoid16(v, _mm512_mul_ps(k, v)));
    }
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(out + i, m, x_sigmoid16(v, _mm512_mul_ps(k, v)));
    }
}

void avx512_silu(int64_t n, const float *x, float *out) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 v = _mm512_loadu_ps(x + i);
        _mm512_storeu_ps(out + i, x_sigmoid16(v, v));
    }
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        _mm512_mask_storeu_ps(out + i, m, x_sigmoid16(v, v));
    }
}

/* silu(gate) * up, rounded as ref: (gate / (1 + exp(-gate))) * up */
void avx512_swiglu(int64_t n, const float *gate, const float *up, float *out) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m512 g = _mm512_loadu_ps(gate + i);
        _mm512_storeu_ps(out + i, _mm512_mul_ps(x_sigmoid16(g, g), _mm512_loadu_ps(up + i)));
    }
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        const __m512 g = _mm512_maskz_loadu_ps(m, gate + i);
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(x_sigmoid16(g, g), _mm512_maskz_loadu_ps(m, up + i)));
    }
}
