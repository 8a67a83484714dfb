/* ops.c - avx2 row operations on f32 (AVX2 + FMA), 8 lanes; kernels/ref/ops.c is the truth.
 * Tails use masked loads/stores, so every n >= 1 runs the same vector code and out == x is safe.
 * exp and erfc are polynomial approximations written here; their measured errors are stated next
 * to them and tests/test_ops.c holds every function to matching tolerances.
 *
 * Precision choices: add/mul/scale/axpy/relu round exactly as ref does (bitwise equal: axpy is a
 * multiply then an add, no FMA). dot accumulates in f32 (4 x 8 lanes, FMA). The norm statistics
 * and the softmax denominator accumulate in double lanes, as ref does, so those kernels differ
 * from ref only by summation order in double and by exp. */
#include <immintrin.h>
#include <math.h>

#include "avx2.h"

/* ---- helpers ----------------------------------------------------------------------------- */

static const int32_t mask_src[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};

/* lanes [0, r) set, r in 1..7 */
static inline __m256i tail_mask(int64_t r) {
    return _mm256_loadu_si256((const __m256i *)(mask_src + 8 - r));
}

static inline float hsum_ps(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hmax_ps(__m256 v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline double hsum_pd(__m256d v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
}

/* exp(x) for 8 lanes. x = n ln2 + r, |r| <= ln2/2, exp(r) = 1 + r + r^2 q(r) with q of degree 4
 * (weighted least-squares fit of the relative error, iterated towards minimax: 3.8e-9 in exact
 * arithmetic). 2^n is applied in two halves so results from 2^-149 (subnormal, rounded once) up
 * to overflow (inf above 88.72) come out right. NaN propagates; -inf gives 0.
 * Measured max relative error over a dense sweep of [-87, 88.7] vs double exp: 8.5e-8
 * (1.4 half-ulps); in the subnormal range the error is below the spacing 2^-149. */
static inline __m256 exp8(__m256 x) {
    /* clamp keeps n in [-150, 128]; operand order lets NaN through (maxps returns the 2nd) */
    x = _mm256_min_ps(_mm256_set1_ps(89.0f), _mm256_max_ps(_mm256_set1_ps(-104.0f), x));
    const __m256 n = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504088896341f)),
                                     _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    /* r = x - n ln2: ln2 split in a float and its remainder; the first step is exact with FMA */
    __m256 r = _mm256_fnmadd_ps(n, _mm256_set1_ps(0.693147182464599609375f), x);
    r = _mm256_fnmadd_ps(n, _mm256_set1_ps(-1.904654323148236e-09f), r);
    __m256 q = _mm256_set1_ps(0.001381461275741458f);
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.008368710055947304f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.04166838899254799f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.1666652113199234f));
    q = _mm256_fmadd_ps(q, r, _mm256_set1_ps(0.4999999403953552f));
    const __m256 p = _mm256_add_ps(_mm256_fmadd_ps(_mm256_mul_ps(r, r), q, r), _mm256_set1_ps(1.0f));
    /* 2^n = 2^n1 * 2^n2 with n1 = n >> 1: both halves are normal floats for n in [-150, 128] */
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1), n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const __m256 s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const __m256 s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(p, s1), s2);
}

/* x / (1 + exp(-k x)): silu (k = 1), quick_gelu (k = 1.702). exp overflowing to inf for very
 * negative x gives -0, as ref does. Measured relative error vs double, x in [-20, 20]: 1.7e-7. */
static inline __m256 x_sigmoid8(__m256 x, __m256 kx) {
    const __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), kx));
    return _mm256_div_ps(x, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/* gelu with tanh: 0.5 x (1 + tanh(y)) = x / (1 + exp(-2y)), y = sqrt(2/pi)(x + 0.044715 x^3).
 * The sigmoid form has no cancellation for negative x (ref's 1 + tanh does). Measured relative
 * error vs double: 2.4e-7 for x >= -1; below, the float rounding of y (as in ref) dominates,
 * amplified by |2y|: 1e-6 on [-3, -1], 1.3e-5 on [-10, -5] where gelu is below 1e-6. */
static inline __m256 gelu_tanh8(__m256 x) {
    const __m256 x3 = _mm256_mul_ps(_mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.044715f), x), x), x);
    const __m256 y = _mm256_mul_ps(_mm256_set1_ps(0.7978845608028654f), _mm256_add_ps(x, x3));
    return x_sigmoid8(x, _mm256_mul_ps(_mm256_set1_ps(2.0f), y));
}

/* gelu with erf: 0.5 x (1 + erf(x / sqrt 2)) = x (1 - erfc(z) / 2) for x >= 0 and x erfc(z) / 2
 * for x < 0, z = |x| / sqrt 2, so the negative side keeps its relative accuracy.
 * erfc(z) = t exp(P(w) - z^2), t = 1 / (1 + z/2), w = 1 - t in [0, 5/6] for z in [0, 10],
 * P(w) = w R(w), R of degree 9 fitted to (log(erfc(z) / t) + z^2) / w (weighted least squares
 * iterated towards minimax: 5.8e-9 in exact arithmetic). P(0) = 0 exactly, so near x = 0 the
 * exponent carries no rounding from a large constant. Beyond z = 10 (|x| > 14.1, erfc < 2e-45)
 * z is clamped. Measured over a dense sweep of x in [-14, 14] vs double: |gelu error| / (|x|/2),
 * i.e. erf's absolute error with the result's rounding included, <= 2.4e-7; relative error
 * <= 2.4e-7 for x > 0; for x < 0 it grows like z^2 2^-24 (float rounding of -z^2 in the
 * exponent): 1.4e-5 at x = -11.6, where gelu is -1e-30. */
static inline __m256 gelu_erf8(__m256 x) {
    const __m256 ax = _mm256_andnot_ps(_mm256_set1_ps(-0.0f), x);
    const __m256 z = _mm256_min_ps(_mm256_set1_ps(10.0f),
                                   _mm256_mul_ps(ax, _mm256_set1_ps(0.70710678118654752f)));
    /* t = 2 / (2 + z) and w = z / (2 + z): w keeps its relative accuracy as z -> 0 */
    const __m256 rd = _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(2.0f), z));
    const __m256 t = _mm256_add_ps(rd, rd), w = _mm256_mul_ps(z, rd);
    __m256 R = _mm256_set1_ps(-1.392646432e-01f);
    R = _mm256_fmadd_ps(R, w, _mm256_set1_ps(4.350617230e-01f));
    R = _mm256_fmadd_ps(R, w, _mm256_set1_ps(-4.030169249e-01f));
    R = _mm256_fmadd_ps(R, w, _mm256_set1_ps(7.833653688e-02f));
    R = _mm256_fmadd_ps(R, w, _mm256_set1_ps(-8.384370804e-02f));
    R = _mm256_fmadd_ps(R, w, _mm256_set1_ps(4.985883832e-02f));
    R = _mm256_fmadd_ps(R, w, _mm256_set1_ps(1.963282228e-01f));
    R = _mm256_fmadd_ps(R, w, _mm256_set1_ps(1.609271020e-01f));
    R = _mm256_fmadd_ps(R, w, _mm256_set1_ps(-3.032015264e-01f));
    R = _mm256_fmadd_ps(R, w, _mm256_set1_ps(-1.256759167e+00f));
    const __m256 arg = _mm256_fnmadd_ps(z, z, _mm256_mul_ps(w, R)); /* P(w) - z^2 */
    const __m256 half_erfc = _mm256_mul_ps(_mm256_mul_ps(_mm256_set1_ps(0.5f), t), exp8(arg));
    const __m256 neg = _mm256_cmp_ps(x, _mm256_setzero_ps(), _CMP_LT_OQ);
    const __m256 m = _mm256_blendv_ps(_mm256_sub_ps(_mm256_set1_ps(1.0f), half_erfc), half_erfc, neg);
    return _mm256_mul_ps(x, m);
}

/* ---- dot and elementwise ----------------------------------------------------------------- */

float avx2_dot(int64_t n, const float *x, const float *y) {
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps();
    __m256 a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
        a1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_loadu_ps(y + i + 8), a1);
        a2 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 16), _mm256_loadu_ps(y + i + 16), a2);
        a3 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 24), _mm256_loadu_ps(y + i + 24), a3);
    }
    for (; i + 8 <= n; i += 8)
        a0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i), a0);
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        a1 = _mm256_fmadd_ps(_mm256_maskload_ps(x + i, m), _mm256_maskload_ps(y + i, m), a1);
    }
    return hsum_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
}

void avx2_add(int64_t n, const float *a, const float *b, float *out) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_add_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(out + i, m, _mm256_add_ps(_mm256_maskload_ps(a + i, m),
                                                      _mm256_maskload_ps(b + i, m)));
    }
}

void avx2_mul(int64_t n, const float *a, const float *b, float *out) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i)));
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(out + i, m, _mm256_mul_ps(_mm256_maskload_ps(a + i, m),
                                                      _mm256_maskload_ps(b + i, m)));
    }
}

void avx2_scale(int64_t n, float s, const float *x, float *out) {
    const __m256 vs = _mm256_set1_ps(s);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_mul_ps(vs, _mm256_loadu_ps(x + i)));
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(out + i, m, _mm256_mul_ps(vs, _mm256_maskload_ps(x + i, m)));
    }
}

void avx2_axpy(int64_t n, float a, const float *x, float *y) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_add_ps(_mm256_loadu_ps(y + i),
                                              _mm256_mul_ps(va, _mm256_loadu_ps(x + i))));
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(y + i, m, _mm256_add_ps(_mm256_maskload_ps(y + i, m),
                                                    _mm256_mul_ps(va, _mm256_maskload_ps(x + i, m))));
    }
}

/* max(x, 0) returns its 2nd operand for NaN and for -0: 0, as ref's x > 0 ? x : 0 */
void avx2_relu(int64_t n, const float *x, float *out) {
    const __m256 z = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, _mm256_max_ps(_mm256_loadu_ps(x + i), z));
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(out + i, m, _mm256_max_ps(_mm256_maskload_ps(x + i, m), z));
    }
}

/* ---- norms ------------------------------------------------------------------------------- */

/* adds x (8 floats) widened to double, squared, into the two accumulators */
static inline void acc_sq_pd(__m256 x, __m256d *lo, __m256d *hi) {
    const __m256d a = _mm256_cvtps_pd(_mm256_castps256_ps128(x));
    const __m256d b = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
    *lo = _mm256_fmadd_pd(a, a, *lo);
    *hi = _mm256_fmadd_pd(b, b, *hi);
}

void avx2_rmsnorm(int64_t n, const float *x, const float *w, float eps, float *out) {
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) acc_sq_pd(_mm256_loadu_ps(x + i), &lo, &hi);
    if (i < n) acc_sq_pd(_mm256_maskload_ps(x + i, tail_mask(n - i)), &lo, &hi); /* zeros */
    const double ss = hsum_pd(_mm256_add_pd(lo, hi));
    const __m256 r = _mm256_set1_ps((float)(1.0 / sqrt(ss / (double)n + eps)));
    /* out = (x r) w: the same two roundings as ref */
    for (i = 0; i + 8 <= n; i += 8) {
        __m256 v = _mm256_mul_ps(_mm256_loadu_ps(x + i), r);
        if (w) v = _mm256_mul_ps(v, _mm256_loadu_ps(w + i));
        _mm256_storeu_ps(out + i, v);
    }
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        __m256 v = _mm256_mul_ps(_mm256_maskload_ps(x + i, m), r);
        if (w) v = _mm256_mul_ps(v, _mm256_maskload_ps(w + i, m));
        _mm256_maskstore_ps(out + i, m, v);
    }
}

/* (x - mean) for 8 floats in two double halves */
static inline void centre_pd(__m256 x, __m256d mean, __m256d *a, __m256d *b) {
    *a = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_castps256_ps128(x)), mean);
    *b = _mm256_sub_pd(_mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)), mean);
}

/* Statistics and the normalised value in double, as ref; then v w + b in float, as ref. */
void avx2_layernorm(int64_t n, const float *x, const float *w, const float *b, float eps,
                    float *out) {
    const int64_t nv = n & ~(int64_t)7; /* vector part; the tail's statistics in scalar double */
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    for (int64_t i = 0; i < nv; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm256_castps256_ps128(v)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm256_extractf128_ps(v, 1)));
    }
    double sum = hsum_pd(_mm256_add_pd(s0, s1));
    for (int64_t i = nv; i < n; i++) sum += x[i];
    const double mean = sum / (double)n;
    const __m256d vmean = _mm256_set1_pd(mean);
    s0 = _mm256_setzero_pd();
    s1 = _mm256_setzero_pd();
    for (int64_t i = 0; i < nv; i += 8) {
        __m256d a, c;
        centre_pd(_mm256_loadu_ps(x + i), vmean, &a, &c);
        s0 = _mm256_fmadd_pd(a, a, s0);
        s1 = _mm256_fmadd_pd(c, c, s1);
    }
    double var = hsum_pd(_mm256_add_pd(s0, s1));
    for (int64_t i = nv; i < n; i++) var += ((double)x[i] - mean) * ((double)x[i] - mean);
    var /= (double)n;
    const __m256d r = _mm256_set1_pd(1.0 / sqrt(var + eps));
    for (int64_t i = 0; i < n; i += 8) {
        const int tail = i + 8 > n;
        const __m256i m = tail ? tail_mask(n - i) : _mm256_set1_epi32(-1);
        __m256d a, c;
        centre_pd(_mm256_maskload_ps(x + i, m), vmean, &a, &c);
        __m256 v = _mm256_set_m128(_mm256_cvtpd_ps(_mm256_mul_pd(c, r)),
                                   _mm256_cvtpd_ps(_mm256_mul_pd(a, r)));
        if (w) v = _mm256_mul_ps(v, _mm256_maskload_ps(w + i, m));
        if (b) v = _mm256_add_ps(v, _mm256_maskload_ps(b + i, m));
        _mm256_maskstore_ps(out + i, m, v);
    }
}

/* ---- softmax ----------------------------------------------------------------------------- */

void avx2_softmax(int64_t n, float *x) {
    const __m256 ninf = _mm256_set1_ps(-INFINITY);
    __m256 vmax = ninf;
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) vmax = _mm256_max_ps(vmax, _mm256_loadu_ps(x + i));
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        vmax = _mm256_max_ps(vmax, _mm256_blendv_ps(ninf, _mm256_maskload_ps(x + i, m),
                                                    _mm256_castsi256_ps(m)));
    }
    const float max = hmax_ps(vmax);
    if (max == -INFINITY) { /* every position masked: attend to nothing */
        for (i = 0; i < n; i++) x[i] = 0.0f;
        return;
    }
    const __m256 vm = _mm256_set1_ps(max);
    __m256d lo = _mm256_setzero_pd(), hi = _mm256_setzero_pd();
    for (i = 0; i < n; i += 8) {
        const int tail = i + 8 > n;
        const __m256i m = tail ? tail_mask(n - i) : _mm256_set1_epi32(-1);
        /* lanes past n are zeroed before they reach the sum */
        const __m256 e = _mm256_and_ps(exp8(_mm256_sub_ps(_mm256_maskload_ps(x + i, m), vm)),
                                       _mm256_castsi256_ps(m));
        _mm256_maskstore_ps(x + i, m, e);
        lo = _mm256_add_pd(lo, _mm256_cvtps_pd(_mm256_castps256_ps128(e)));
        hi = _mm256_add_pd(hi, _mm256_cvtps_pd(_mm256_extractf128_ps(e, 1)));
    }
    avx2_scale(n, (float)(1.0 / hsum_pd(_mm256_add_pd(lo, hi))), x, x);
}

/* ---- activations ------------------------------------------------------------------------- */

void avx2_gelu_erf(int64_t n, const float *x, float *out) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, gelu_erf8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(out + i, m, gelu_erf8(_mm256_maskload_ps(x + i, m)));
    }
}

void avx2_gelu_tanh(int64_t n, const float *x, float *out) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(out + i, gelu_tanh8(_mm256_loadu_ps(x + i)));
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        _mm256_maskstore_ps(out + i, m, gelu_tanh8(_mm256_maskload_ps(x + i, m)));
    }
}

void avx2_quick_gelu(int64_t n, const float *x, float *out) {
    const __m256 k = _mm256_set1_ps(1.702f);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(out + i, x_sigmoid8(v, _mm256_mul_ps(k, v)));
    }
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        const __m256 v = _mm256_maskload_ps(x + i, m);
        _mm256_maskstore_ps(out + i, m, x_sigmoid8(v, _mm256_mul_ps(k, v)));
    }
}

void avx2_silu(int64_t n, const float *x, float *out) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 v = _mm256_loadu_ps(x + i);
        _mm256_storeu_ps(out + i, x_sigmoid8(v, v));
    }
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        const __m256 v = _mm256_maskload_ps(x + i, m);
        _mm256_maskstore_ps(out + i, m, x_sigmoid8(v, v));
    }
}

/* silu(gate) * up, rounded as ref: (gate / (1 + exp(-gate))) * up */
void avx2_swiglu(int64_t n, const float *gate, const float *up, float *out) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256 g = _mm256_loadu_ps(gate + i);
        _mm256_storeu_ps(out + i, _mm256_mul_ps(x_sigmoid8(g, g), _mm256_loadu_ps(up + i)));
    }
    if (i < n) {
        const __m256i m = tail_mask(n - i);
        const __m256 g = _mm256_maskload_ps(gate + i, m);
        _mm256_maskstore_ps(out + i, m, _mm256_mul_ps(x_sigmoid8(g, g), _mm256_maskload_ps(up + i, m)));
    }
}
