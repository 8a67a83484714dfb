/* convert.c (avx2) - f16/bf16 rows and the Q8_0 / Q4_0 quantisers with AVX2 + F16C.
 * Every function is bit-exact with kernels/ref/quant.c (tests/test_quant.c checks it): ggml's
 * rounding rules (roundf = half away from zero for Q8_0, truncation of x/d + 8.5 for Q4_0) are
 * rebuilt exactly. Row tails (n % 8) go through the scalar conversions of kernels.h, which are
 * the truth. No alignment is required. Inputs to the quantisers must be finite. */
#include <immintrin.h>

#include "avx2.h"

/* ---- f16 ---------------------------------------------------------------------------------- */

void avx2_f32_to_f16(int64_t n, const float *x, uint16_t *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(y + i), _mm256_cvtps_ph(_mm256_loadu_ps(x + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) y[i] = graft_f32_to_f16(x[i]);
}

/* vcvtph2ps is exact except that it quiets a signalling nan (sets bit 22); the scalar truth keeps
 * bit 9 of the half there. Restore it in the rare nan lanes. */
void avx2_f16_to_f32(int64_t n, const uint16_t *x, float *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m128i h = _mm_loadu_si128((const __m128i *)(x + i));
        __m256 f = _mm256_cvtph_ps(h);
        const __m128i nan = _mm_cmpgt_epi16(_mm_and_si128(h, _mm_set1_epi16(0x7fff)), _mm_set1_epi16(0x7c00));
        if (_mm_movemask_epi8(nan)) {
            const __m256i hw = _mm256_cvtepu16_epi32(h);
            const __m256i m = _mm256_cvtepi16_epi32(nan);
            __m256i b = _mm256_andnot_si256(_mm256_set1_epi32(0x400000), _mm256_castps_si256(f));
            b = _mm256_or_si256(b, _mm256_slli_epi32(_mm256_and_si256(hw, _mm256_set1_epi32(0x200)), 13));
            f = _mm256_blendv_ps(f, _mm256_castsi256_ps(b), _mm256_castsi256_ps(m));
        }
        _mm256_storeu_ps(y + i, f);
    }
    for (; i < n; i++) y[i] = graft_f16_to_f32(x[i]);
}

/* ---- bf16 --------------------------------------------------------------------------------- */

/* Round to nearest even on the integer bits, as graft_f32_to_bf16; nan gets the quiet bit. */
static inline __m256i f32x8_to_bf16_epi32(__m256 v) {
    const __m256i x = _mm256_castps_si256(v);
    const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(1));
    const __m256i r = _mm256_srli_epi32(_mm256_add_epi32(x, _mm256_add_epi32(lsb, _mm256_set1_epi32(0x7fff))), 16);
    const __m256i nan = _mm256_cmpgt_epi32(_mm256_and_si256(x, _mm256_set1_epi32(0x7fffffff)),
                                           _mm256_set1_epi32(0x7f800000));
    const __m256i q = _mm256_or_si256(_mm256_srli_epi32(x, 16), _mm256_set1_epi32(0x40));
    return _mm256_blendv_epi8(r, q, nan);
}

void avx2_f32_to_bf16(int64_t n, const float *x, uint16_t *y) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m256i a = f32x8_to_bf16_epi32(_mm256_loadu_ps(x + i));
        const __m256i b = f32x8_to_bf16_epi32(_mm256_loadu_ps(x + i + 8));
        /* packus works per 128-bit lane: [a0..3 b0..3 | a4..7 b4..7] -> reorder the quarters */
        _mm256_storeu_si256((__m256i *)(y + i), _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8));
    }
    for (; i < n; i++) y[i] = graft_f32_to_bf16(x[i]);
}

void avx2_bf16_to_f32(int64_t n, const uint16_t *x, float *y) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(x + i)));
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(w, 16)));
    }
    for (; i < n; i++) y[i] = graft_bf16_to_f32(x[i]);
}

/* ---- Q8_0 / Q4_0 -------------------------------------------------------------------------- */

static inline __m256 abs_ps(__m256 v) {
    return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), v);
}

static inline float hmax8(__m256 v) {
    __m128 m = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    m = _mm_max_ss(m, _mm_movehdup_ps(m));
    return _mm_cvtss_f32(m);
}

/* roundf(t), half away from zero, exactly: t - trunc(t) is exact, so compare it with 0.5. */
static inline __m256 round_half_away(__m256 t) {
    const __m256 r = _mm256_round_ps(t, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    const __m256 up = _mm256_cmp_ps(abs_ps(_mm256_sub_ps(t, r)), _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    const __m256 one = _mm256_or_ps(_mm256_and_ps(t, _mm256_set1_ps(-0.0f)), _mm256_set1_ps(1.0f));
    return _mm256_add_ps(r, _mm256_and_ps(up, one));
}

/* 16 int32 (a: elements 0..7, b: 8..15) -> their low bytes, in order. Truncation, not
 * saturation, as the reference's (int8_t) conversion does on x86: a block so small that 1/d
 * overflows gives inf or nan products, which convert to 0x80000000, whose low byte is 0. */
static inline __m128i pack16_epi8(__m256i a, __m256i b) {
    const __m256i lo8 = _mm256_set1_epi32(0xff);
    const __m256i w = _mm256_packus_epi32(_mm256_and_si256(a, lo8), _mm256_and_si256(b, lo8));
    const __m256i v = _mm256_permute4x64_epi64(w, 0xd8); /* 16 x u16 in order */
    return _mm_packus_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
}

/* Q8_0: d = max|x| / 127, q = roundf(x * (1/d)), as the reference. The products are plain
 * multiplies: this file is built with -std=c11, so no fma contraction. */
void avx2_quantize_q8_0(int64_t n, const float *x, block_q8_0 *y) {
    for (int64_t b = 0; b < n / QK; b++) {
        const float *xb = x + b * QK;
        __m256 v[4];
        for (int j = 0; j < 4; j++) v[j] = _mm256_loadu_ps(xb + 8 * j);
        const __m256 m = _mm256_max_ps(_mm256_max_ps(abs_ps(v[0]), abs_ps(v[1])),
                                       _mm256_max_ps(abs_ps(v[2]), abs_ps(v[3])));
        const float amax = hmax8(m);
        const float d = amax / 127.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        const __m256 vid = _mm256_set1_ps(id);
        __m256i q[4];
        for (int j = 0; j < 4; j++) q[j] = _mm256_cvtps_epi32(round_half_away(_mm256_mul_ps(v[j], vid)));
        _mm_storeu_si128((__m128i *)y[b].q, pack16_epi8(q[0], q[1]));
        _mm_storeu_si128((__m128i *)(y[b].q + 16), pack16_epi8(q[2], q[3]));
    }
}

/* Q4_0: the first element of largest magnitude, with its sign, maps to -8: d = max / -8,
 * q = min(15, trunc(x / d + 8.5)). */
void avx2_quantize_q4_0(int64_t n, const float *x, block_q4_0 *y) {
    for (int64_t b = 0; b < n / QK; b++) {
        const float *xb = x + b * QK;
        __m256 v[4], a[4];
        for (int j = 0; j < 4; j++) {
            v[j] = _mm256_loadu_ps(xb + 8 * j);
            a[j] = abs_ps(v[j]);
        }
        const float amax = hmax8(_mm256_max_ps(_mm256_max_ps(a[0], a[1]), _mm256_max_ps(a[2], a[3])));
        float max = 0.0f; /* the reference's start value: an all-zero block keeps d = -0 / 8 */
        if (amax > 0.0f) {
            const __m256 va = _mm256_set1_ps(amax);
            uint32_t hit = 0;
            for (int j = 0; j < 4; j++)
                hit |= (uint32_t)_mm256_movemask_ps(_mm256_cmp_ps(a[j], va, _CMP_EQ_OQ)) << (8 * j);
            max = xb[__builtin_ctz(hit)];
        }
        const float d = max / -8.0f;
        const float id = d != 0.0f ? 1.0f / d : 0.0f;
        y[b].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        const __m256 vid = _mm256_set1_ps(id), half8 = _mm256_set1_ps(8.5f);
        __m256i q[4];
        for (int j = 0; j < 4; j++)
            q[j] = _mm256_min_epi32(_mm256_set1_epi32(15),
                                    _mm256_cvttps_epi32(_mm256_add_ps(_mm256_mul_ps(v[j], vid), half8)));
        /* byte j = q[j] | q[j + 16] << 4 */
        const __m256i b0 = _mm256_or_si256(q[0], _mm256_slli_epi32(q[2], 4));
        const __m256i b1 = _mm256_or_si256(q[1], _mm256_slli_epi32(q[3], 4));
        const __m256i w = _mm256_permute4x64_epi64(_mm256_packus_epi32(b0, b1), 0xd8); /* 16 x u16 */
        _mm_storeu_si128((__m128i *)y[b].qs,
                         _mm_packus_epi16(_mm256_castsi256_si128(w), _mm256_extracti128_si256(w, 1)));
    }
}

void avx2_dequantize_q8_0(int64_t n, const block_q8_0 *x, float *y) {
    for (int64_t b = 0; b < n / QK; b++) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(x[b].d));
        for (int j = 0; j < 4; j++) {
            const __m128i q = _mm_loadl_epi64((const __m128i *)(x[b].q + 8 * j));
            _mm256_storeu_ps(y + b * QK + 8 * j, _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(q))));
        }
    }
}

void avx2_dequantize_q4_0(int64_t n, const block_q4_0 *x, float *y) {
    const __m256i lo4 = _mm256_set1_epi32(15), eight = _mm256_set1_epi32(8);
    for (int64_t b = 0; b < n / QK; b++) {
        const __m256 d = _mm256_set1_ps(_cvtsh_ss(x[b].d));
        for (int h = 0; h < 2; h++) { /* qs[8h .. 8h+7]: elements 8h.. (low), 16+8h.. (high) */
            const __m256i qs = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(x[b].qs + 8 * h)));
            const __m256i q0 = _mm256_sub_epi32(_mm256_and_si256(qs, lo4), eight);
            const __m256i q1 = _mm256_sub_epi32(_mm256_srli_epi32(qs, 4), eight);
            _mm256_storeu_ps(y + b * QK + 8 * h, _mm256_mul_ps(d, _mm256_cvtepi32_ps(q0)));
            _mm256_storeu_ps(y + b * QK + 16 + 8 * h, _mm256_mul_ps(d, _mm256_cvtepi32_ps(q1)));
        }
    }
}
