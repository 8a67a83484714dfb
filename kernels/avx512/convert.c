/* convert.c (avx512) - f16/bf16 rows and the Q8_0 / Q4_0 quantisers with AVX-512F/BW/VL.
 * Every function is bit-exact with kernels/ref/quant.c (tests/test_quant.c checks it): the
 * rounding rules of ggml (roundf = half away from zero for Q8_0, truncation of x/d + 8.5 for
 * Q4_0) are rebuilt exactly, never approximated by the hardware's ties-to-even.
 * Tails use masked loads and stores; no alignment is required anywhere. Inputs to the
 * quantisers must be finite (as for ggml: a nan has no defined quantised value). */
#include <immintrin.h>

#include "avx512.h"

#define F16_RND (_MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

static inline __mmask16 tail_mask(int64_t left) { return (__mmask16)((1u << left) - 1); }

/* ---- f16 ---------------------------------------------------------------------------------- */

void avx512_f32_to_f16(int64_t n, const float *x, uint16_t *y) {
    int64_t i = 0; /* round to nearest even, as graft_f32_to_f16 */
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i), _mm512_cvtps_ph(_mm512_loadu_ps(x + i), F16_RND));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm256_mask_storeu_epi16(y + i, m, _mm512_cvtps_ph(_mm512_maskz_loadu_ps(m, x + i), F16_RND));
    }
}

/* vcvtph2ps is exact except that it quiets a signalling nan (sets bit 22); the scalar truth keeps
 * the payload bit as it was (bit 9 of the half). Restore it in the rare nan lanes. */
static inline __m512 f16x16_to_f32(__m256i h) {
    __m512 f = _mm512_cvtph_ps(h);
    const __m512i hw = _mm512_cvtepu16_epi32(h);
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(hw, _mm512_set1_epi32(0x7fff)),
                                                  _mm512_set1_epi32(0x7c00));
    if (nan) {
        __m512i b = _mm512_castps_si512(f);
        b = _mm512_andnot_si512(_mm512_set1_epi32(0x400000), b);
        b = _mm512_or_si512(b, _mm512_slli_epi32(_mm512_and_si512(hw, _mm512_set1_epi32(0x200)), 13));
        f = _mm512_mask_mov_ps(f, nan, _mm512_castsi512_ps(b));
    }
    return f;
}

void avx512_f16_to_f32(int64_t n, const uint16_t *x, float *y) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, f16x16_to_f32(_mm256_loadu_si256((const __m256i *)(x + i))));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, f16x16_to_f32(_mm256_maskz_loadu_epi16(m, x + i)));
    }
}

/* ---- bf16 --------------------------------------------------------------------------------- */

/* Round to nearest even on the integer bits, as graft_f32_to_bf16; nan keeps its top bits and
 * gets the quiet bit. */
static inline __m256i f32x16_to_bf16(__m512 v) {
    const __m512i x = _mm512_castps_si512(v);
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(x, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_srli_epi32(_mm512_add_epi32(x, _mm512_add_epi32(lsb, _mm512_set1_epi32(0x7fff))), 16);
    const __mmask16 nan = _mm512_cmpgt_epi32_mask(_mm512_and_si512(x, _mm512_set1_epi32(0x7fffffff)),
                                                  _mm512_set1_epi32(0x7f800000));
    r = _mm512_mask_or_epi32(r, nan, _mm512_srli_epi32(x, 16), _mm512_set1_epi32(0x40));
    return _mm512_cvtepi32_epi16(r);
}

void avx512_f32_to_bf16(int64_t n, const float *x, uint16_t *y) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm256_storeu_si256((__m256i *)(y + i), f32x16_to_bf16(_mm512_loadu_ps(x + i)));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm256_mask_storeu_epi16(y + i, m, f32x16_to_bf16(_mm512_maskz_loadu_ps(m, x + i)));
    }
}

static inline __m512 bf16x16_to_f32(__m256i h) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

void avx512_bf16_to_f32(int64_t n, const uint16_t *x, float *y) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        _mm512_storeu_ps(y + i, bf16x16_to_f32(_mm256_loadu_si256((const __m256i *)(x + i))));
    if (i < n) {
        const __mmask16 m = tail_mask(n - i);
        _mm512_mask_storeu_ps(y + i, m, bf16x16_to_f32(_mm256_maskz_loadu_epi16(m, x + i)));
    }
}

/* ---- Q8_0 / Q4_0 -------------------------------------------------------------------------- */

static inline __m512 abs_ps(__m512 v) {
    return _mm512_castsi512_ps(_mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(0x7fffffff)));
}

/* roundf(t), half away from zero, exactly: t - trunc(t) is exact, so compare it with 0.5. */
static inline __m512 round_half_away(__m512 t) {
    const __m512 r = _mm512_roundscale_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __mmask16 up = _mm512_cmp_ps_mask(abs_ps(_mm512_sub_ps(t, r)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    const __m512i sign = _mm512_and_si512(_mm512_castps_si512(t), _mm512_set1_epi32((int)0x80000000u));
    const __m512 one = _mm512_castsi512_ps(_mm512_or_si512(sign, _mm512_castps_si512(_mm512_set1_ps(1.0f))));
    return _mm512_mask_add_ps(r, up, r, one);
}

/* Q8_0: d = max|x| / 127, q = roundf(x / d) computed as x * (1/d), as the reference does.
 * The products are plain multiplies: this file is built with -std=c11, so no fma contraction. */
void avx512_quantize_q8_0(int64_t n, const float *x, block_q8_0 *y) {
    for (int64_t b = 0; b < n / QK; b++) {
        const float *xb = x + b * QK;
        const __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(abs_ps(v0), abs_ps(v1)));
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        const __m512 vid = _mm512_set1_ps(id);
        const __m512i q0 = _mm512_cvtps_epi32(round_half_away(_mm512_mul_ps(v0, vid)));
        const __m512i q1 = _mm512_cvtps_epi32(round_half_away(_mm512_mul_ps(v1, vid)));
        /* vpmovdb truncates, as the reference's (int8_t) conversion does on x86: a block so small
         * that 1/d overflows gives inf or nan products -> 0x80000000 -> low byte 0 */
        _mm_storeu_si128((__m128i *)y[b].q, _mm512_cvtepi32_epi8(q0));
        _mm_storeu_si128((__m128i *)(y[b].q + 16), _mm512_cvtepi32_epi8(q1));
    }
}

/* Q4_0: the first element of largest magnitude, with its sign, maps to -8: d = max / -8,
 * q = min(15, trunc(x / d + 8.5)). */
void avx512_quantize_q4_0(int64_t n, const float *x, block_q4_0 *y) {
    for (int64_t b = 0; b < n / QK; b++) {
        const float *xb = x + b * QK;
        const __m512 v0 = _mm512_loadu_ps(xb), v1 = _mm512_loadu_ps(xb + 16);
        const __m512 a0 = abs_ps(v0), a1 = abs_ps(v1);
        const float amax = _mm512_reduce_max_ps(_mm512_max_ps(a0, a1));
        float max = 0.0f; /* the reference's start value: an all-zero block keeps d = -0 / 8 */
        if (amax > 0.0f) {
            const __m512 va = _mm512_set1_ps(amax);
            const uint32_t hit = (uint32_t)_mm512_cmp_ps_mask(a0, va, _CMP_EQ_OQ) |
                                 ((uint32_t)_mm512_cmp_ps_mask(a1, va, _CMP_EQ_OQ) << 16);
            max = xb[__builtin_ctz(hit)];
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        const __m512 vid = _mm512_set1_ps(id), half8 = _mm512_set1_ps(8.5f);
        const __m512i fifteen = _mm512_set1_epi32(15);
        const __m512i q0 = _mm512_min_epi32(fifteen, _mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(v0, vid), half8)));
        const __m512i q1 = _mm512_min_epi32(fifteen, _mm512_cvttps_epi32(_mm512_add_ps(_mm512_mul_ps(v1, vid), half8)));
        _mm_storeu_si128((__m128i *)y[b].qs, _mm512_cvtepi32_epi8(_mm512_or_si512(q0, _mm512_slli_epi32(q1, 4))));
    }
}

void avx512_dequantize_q8_0(int64_t n, const block_q8_0 *x, float *y) {
    for (int64_t b = 0; b < n / QK; b++) {
        const __m512 d = _mm512_set1_ps(_cvtsh_ss(x[b].d));
        const __m128i q0 = _mm_loadu_si128((const __m128i *)x[b].q);
        const __m128i q1 = _mm_loadu_si128((const __m128i *)(x[b].q + 16));
        _mm512_storeu_ps(y + b * QK, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q0))));
        _mm512_storeu_ps(y + b * QK + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(q1))));
    }
}

void avx512_dequantize_q4_0(int64_t n, const block_q4_0 *x, float *y) {
    const __m512i lo4 = _mm512_set1_epi32(15), eight = _mm512_set1_epi32(8);
    for (int64_t b = 0; b < n / QK; b++) {
        const __m512 d = _mm512_set1_ps(_cvtsh_ss(x[b].d));
        const __m512i qs = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)x[b].qs));
        const __m512i q0 = _mm512_sub_epi32(_mm512_and_si512(qs, lo4), eight);
        const __m512i q1 = _mm512_sub_epi32(_mm512_srli_epi32(qs, 4), eight);
        _mm512_storeu_ps(y + b * QK, _mm512_mul_ps(d, _mm512_cvtepi32_ps(q0)));
        _mm512_storeu_ps(y + b * QK + 16, _mm512_mul_ps(d, _mm512_cvtepi32_ps(q1)));
    }
}
