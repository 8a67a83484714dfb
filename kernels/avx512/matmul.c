/* matmul.c (avx512) - gemv / gemm kernels for the driver in kernels/matmul.c: F32, F16, BF16 with
 * f32 FMAs, Q8_0 and Q4_0 with int8 VNNI (vpdpbusd) against activations quantised to Q8_0.
 *
 * gemv (one activation row) reads each weight once: it is bound by memory bandwidth, so it works
 * on 4 rows at a time (the activation loads are shared) in the weights' own layout.
 * gemm (N activation rows) packs a panel of MR = 32 weight rows, one K-chunk at a time, into a
 * k-major buffer on the stack (converting f16/bf16 to f32, or spreading int8 in VNNI's groups of
 * 4 bytes), then runs a register-tiled micro-kernel: each packed weight vector feeds NR activation
 * rows, each broadcast activation value feeds 32 weight rows.
 *
 * Determinism: every output element gets the same sequence of operations whatever rows r0..r1 the
 * caller hands over and wherever the element falls in a tile (a row in a group of 4 or alone, a
 * column in a full or a tail tile), so results do not depend on how the driver splits the rows.
 * Weights and activations need no alignment. Stack use: about 52 KB in the Q8_0/Q4_0 gemm. */
#include <immintrin.h>
#include <string.h>

#include "avx512.h"

#define INLINE static inline __attribute__((always_inline))
/* tile loops must unroll fully so that their accumulators live in registers */
#define UNROLL _Pragma("GCC unroll 8")
#define ROW(W, row_bytes, r) ((const char *)(W) + (size_t)(r) * (row_bytes))

static inline __mmask16 tail_mask(int64_t left) {
    return left >= 16 ? (__mmask16)0xffff : left <= 0 ? 0 : (__mmask16)((1u << left) - 1);
}

/* =============================================================================================
 * Float weights: loaders turn 16 consecutive weights of a row into f32.
 * ============================================================================================= */

typedef __m512 (*load16_fn)(const void *row, int64_t k);
typedef __m512 (*load16m_fn)(const void *row, int64_t k, __mmask16 m);

INLINE __m512 ld_f32(const void *row, int64_t k) { return _mm512_loadu_ps((const float *)row + k); }
INLINE __m512 ldm_f32(const void *row, int64_t k, __mmask16 m) {
    return _mm512_maskz_loadu_ps(m, (const float *)row + k);
}
INLINE __m512 ld_f16(const void *row, int64_t k) {
    return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)((const uint16_t *)row + k)));
}
INLINE __m512 ldm_f16(const void *row, int64_t k, __mmask16 m) {
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, (const uint16_t *)row + k));
}
INLINE __m512 ld_bf16(const void *row, int64_t k) {
    const __m256i h = _mm256_loadu_si256((const __m256i *)((const uint16_t *)row + k));
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
INLINE __m512 ldm_bf16(const void *row, int64_t k, __mmask16 m) {
    const __m256i h = _mm256_maskz_loadu_epi16(m, (const uint16_t *)row + k);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}

/* ---- gemv, float ---------------------------------------------------------------------------
 * R rows (R = 4 or 1, a constant after inlining) against x (K). Each row keeps two accumulators
 * (even and odd 16-element steps; the masked tail goes to the odd one), whatever R is. */
INLINE void gemv_rows_f(load16_fn ld, load16m_fn ldm, const void *W, size_t row_bytes, int64_t r,
                        int64_t rs, const int R, int64_t K, const float *x, float *y) {
    const void *w[4];
    __m512 a0[4], a1[4];
    UNROLL
    for (int i = 0; i < R; i++) {
        w[i] = ROW(W, row_bytes, r + i * rs);
        a0[i] = a1[i] = _mm512_setzero_ps();
    }
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
        const __m512 x0 = _mm512_loadu_ps(x + k), x1 = _mm512_loadu_ps(x + k + 16);
        UNROLL
        for (int i = 0; i < R; i++) {
            a0[i] = _mm512_fmadd_ps(ld(w[i], k), x0, a0[i]);
            a1[i] = _mm512_fmadd_ps(ld(w[i], k + 16), x1, a1[i]);
        }
    }
    if (k + 16 <= K) {
        const __m512 x0 = _mm512_loadu_ps(x + k);
        UNROLL
        for (int i = 0; i < R; i++) a0[i] = _mm512_fmadd_ps(ld(w[i], k), x0, a0[i]);
        k += 16;
    }
    if (k < K) {
        const __mmask16 m = tail_mask(K - k);
        const __m512 x1 = _mm512_maskz_loadu_ps(m, x + k);
        UNROLL
        for (int i = 0; i < R; i++) a1[i] = _mm512_fmadd_ps(ldm(w[i], k, m), x1, a1[i]);
    }
    UNROLL
    for (int i = 0; i < R; i++) y[i * rs] = _mm512_reduce_add_ps(_mm512_add_ps(a0[i], a1[i]));
}

INLINE void gemv_float(load16_fn ld, load16m_fn ldm, const void *W, size_t row_bytes, int64_t r0,
                       int64_t r1, int64_t K, const float *x, float *y) {
    const int64_t q = (r1 - r0) / 4; /* rows r0 + i + {0, 1, 2, 3} q go together: see gemv_q */
    for (int64_t i = 0; i < q; i++) gemv_rows_f(ld, ldm, W, row_bytes, r0 + i, q, 4, K, x, y + i);
    for (int64_t r = r0 + 4 * q; r < r1; r++) gemv_rows_f(ld, ldm, W, row_bytes, r, 1, 1, K, x, y + (r - r0));
}

void avx512_gemv_f32(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                     const float *x, float *y) {
    gemv_float(ld_f32, ldm_f32, W, row_bytes, r0, r1, K, x, y);
}

void avx512_gemv_f16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                     const float *x, float *y) {
    gemv_float(ld_f16, ldm_f16, W, row_bytes, r0, r1, K, x, y);
}

void avx512_gemv_bf16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const float *x, float *y) {
    gemv_float(ld_bf16, ldm_bf16, W, row_bytes, r0, r1, K, x, y);
}

/* ---- gemm, float ---------------------------------------------------------------------------
 * Packed panel: pw[kk * MR + i] = W[p + i][k0 + kk] as f32, rows i >= mr are zero. */
#define MR 32  /* weight rows per panel: two zmm */
#define NRF 6  /* activation rows per micro-tile: 12 accumulators */
#define KC 256 /* k per packed chunk: the panel is 32 KB, it stays in L1/L2 across all N */

typedef void (*packf_fn)(const void *W, size_t row_bytes, int64_t p, int mr, int64_t k0, int kc,
                         float *pw);

/* Row offsets of 8 consecutive rows, for the 64-bit-index gathers (no overflow for any size). */
INLINE __m512i row_offsets8(size_t row_bytes) {
    const long long rb = (long long)row_bytes;
    return _mm512_set_epi64(7 * rb, 6 * rb, 5 * rb, 4 * rb, 3 * rb, 2 * rb, rb, 0);
}

INLINE __mmask8 rows_mask8(int mr, int q) { /* rows 8q .. 8q+7 that exist */
    const int left = mr - 8 * q;
    return left >= 8 ? (__mmask8)0xff : left <= 0 ? 0 : (__mmask8)((1u << left) - 1);
}

static void pack_f32(const void *W, size_t row_bytes, int64_t p, int mr, int64_t k0, int kc,
                     float *pw) {
    const __m512i idx = row_offsets8(row_bytes);
    for (int q = 0; q < MR / 8; q++) {
        const __mmask8 m = rows_mask8(mr, q);
        if (!m) {
            for (int kk = 0; kk < kc; kk++) _mm256_storeu_ps(pw + kk * MR + 8 * q, _mm256_setzero_ps());
            continue;
        }
        const char *base = ROW(W, row_bytes, p + 8 * q) + (size_t)k0 * 4;
        for (int kk = 0; kk < kc; kk++)
            _mm256_storeu_ps(pw + kk * MR + 8 * q,
                             _mm512_mask_i64gather_ps(_mm256_setzero_ps(), m, idx, base + (size_t)kk * 4, 1));
    }
}

/* f16 and bf16: gather 32-bit words = two consecutive elements (k, k+1) of each row; a last odd
 * element is read alone so nothing past the row's K elements is touched. */
static void pack_f16(const void *W, size_t row_bytes, int64_t p, int mr, int64_t k0, int kc,
                     float *pw) {
    const __m512i idx = row_offsets8(row_bytes);
    for (int q = 0; q < MR / 8; q++) {
        const __mmask8 m = rows_mask8(mr, q);
        if (!m) {
            for (int kk = 0; kk < kc; kk++) _mm256_storeu_ps(pw + kk * MR + 8 * q, _mm256_setzero_ps());
            continue;
        }
        const char *base = ROW(W, row_bytes, p + 8 * q) + (size_t)k0 * 2;
        int kk = 0;
        for (; kk + 2 <= kc; kk += 2) {
            const __m256i v = _mm512_mask_i64gather_epi32(_mm256_setzero_si256(), m, idx, base + (size_t)kk * 2, 1);
            _mm256_storeu_ps(pw + kk * MR + 8 * q, _mm256_cvtph_ps(_mm256_cvtepi32_epi16(v)));
            _mm256_storeu_ps(pw + (kk + 1) * MR + 8 * q,
                             _mm256_cvtph_ps(_mm256_cvtepi32_epi16(_mm256_srli_epi32(v, 16))));
        }
        if (kk < kc) {
            float *o = pw + kk * MR + 8 * q;
            for (int i = 0; i < 8; i++)
                o[i] = (m >> i) & 1 ? _cvtsh_ss(*(const uint16_t *)(base + (size_t)i * row_bytes + (size_t)kk * 2)) : 0.0f;
        }
    }
}

static void pack_bf16(const void *W, size_t row_bytes, int64_t p, int mr, int64_t k0, int kc,
                      float *pw) {
    const __m512i idx = row_offsets8(row_bytes);
    const __m256i hi16 = _mm256_set1_epi32((int)0xffff0000u);
    for (int q = 0; q < MR / 8; q++) {
        const __mmask8 m = rows_mask8(mr, q);
        if (!m) {
            for (int kk = 0; kk < kc; kk++) _mm256_storeu_ps(pw + kk * MR + 8 * q, _mm256_setzero_ps());
            continue;
        }
        const char *base = ROW(W, row_bytes, p + 8 * q) + (size_t)k0 * 2;
        int kk = 0;
        for (; kk + 2 <= kc; kk += 2) {
            const __m256i v = _mm512_mask_i64gather_epi32(_mm256_setzero_si256(), m, idx, base + (size_t)kk * 2, 1);
            _mm256_storeu_ps(pw + kk * MR + 8 * q, _mm256_castsi256_ps(_mm256_slli_epi32(v, 16)));
            _mm256_storeu_ps(pw + (kk + 1) * MR + 8 * q, _mm256_castsi256_ps(_mm256_and_si256(v, hi16)));
        }
        if (kk < kc) {
            float *o = pw + kk * MR + 8 * q;
            for (int i = 0; i < 8; i++)
                o[i] = (m >> i) & 1 ? graft_bf16_to_f32(*(const uint16_t *)(base + (size_t)i * row_bytes + (size_t)kk * 2)) : 0.0f;
        }
    }
}

/* Micro-kernel: Y[j][0..32) (+)= packed panel . X row j over kc, for j < nr (a constant after
 * inlining). `first` starts from zero, otherwise from the partial sums already in Y. */
INLINE void kern_f(const float *pw, int kc, const float *x, int64_t ldx, const int nr, float *y,
                   int64_t ldy, __mmask16 m0, __mmask16 m1, int first) {
    __m512 c0[NRF], c1[NRF];
    const float *xr[NRF];
    UNROLL
    for (int j = 0; j < nr; j++) {
        xr[j] = x + j * ldx;
        c0[j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y + j * ldy);
        c1[j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + j * ldy + 16);
    }
    for (int kk = 0; kk < kc; kk++) {
        const __m512 w0 = _mm512_loadu_ps(pw + kk * MR), w1 = _mm512_loadu_ps(pw + kk * MR + 16);
        UNROLL
        for (int j = 0; j < nr; j++) {
            const __m512 b = _mm512_set1_ps(xr[j][kk]);
            c0[j] = _mm512_fmadd_ps(w0, b, c0[j]);
            c1[j] = _mm512_fmadd_ps(w1, b, c1[j]);
        }
    }
    UNROLL
    for (int j = 0; j < nr; j++) {
        _mm512_mask_storeu_ps(y + j * ldy, m0, c0[j]);
        _mm512_mask_storeu_ps(y + j * ldy + 16, m1, c1[j]);
    }
}

INLINE void gemm_float(packf_fn pack, const void *W, size_t row_bytes, int64_t r0, int64_t r1,
                       int64_t K, const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy) {
    float pw[KC * MR] __attribute__((aligned(64))); /* (kc, MR) */
    if (K <= 0) { /* an empty sum: zeros, as the reference */
        for (int64_t n = 0; n < N; n++) memset(Y + n * ldy + r0, 0, (size_t)(r1 - r0) * sizeof(float));
        return;
    }
    for (int64_t p = r0; p < r1; p += MR) {
        const int mr = (int)(r1 - p < MR ? r1 - p : MR);
        const __mmask16 m0 = tail_mask(mr), m1 = tail_mask(mr - 16);
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            const int kc = (int)(K - k0 < KC ? K - k0 : KC), first = k0 == 0;
            pack(W, row_bytes, p, mr, k0, kc, pw);
            for (int64_t n = 0; n < N; n += NRF) {
                const float *x = X + n * ldx + k0;
                float *y = Y + n * ldy + p;
                switch (N - n < NRF ? (int)(N - n) : NRF) {
                case 6: kern_f(pw, kc, x, ldx, 6, y, ldy, m0, m1, first); break;
                case 5: kern_f(pw, kc, x, ldx, 5, y, ldy, m0, m1, first); break;
                case 4: kern_f(pw, kc, x, ldx, 4, y, ldy, m0, m1, first); break;
                case 3: kern_f(pw, kc, x, ldx, 3, y, ldy, m0, m1, first); break;
                case 2: kern_f(pw, kc, x, ldx, 2, y, ldy, m0, m1, first); break;
                default: kern_f(pw, kc, x, ldx, 1, y, ldy, m0, m1, first); break;
                }
            }
        }
    }
}

void avx512_gemm_f32(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                     const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy) {
    gemm_float(pack_f32, W, row_bytes, r0, r1, K, X, ldx, N, Y, ldy);
}

void avx512_gemm_f16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                     const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy) {
    gemm_float(pack_f16, W, row_bytes, r0, r1, K, X, ldx, N, Y, ldy);
}

void avx512_gemm_bf16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy) {
    gemm_float(pack_bf16, W, row_bytes, r0, r1, K, X, ldx, N, Y, ldy);
}

/* =============================================================================================
 * Block weights against Q8_0 activations, with vpdpbusd (unsigned bytes . signed bytes).
 * The unsigned side is the weight made non-negative: Q8_0 q + 128 (q ^ 0x80), Q4_0 the raw
 * nibble (0..15). The offset comes back out exactly in int32 by subtracting off * sum(x) per
 * block (off = 128 or 8), so each block's integer dot product is exact, as in the reference;
 * then (float)isum * (d_w * d_x) is accumulated with one fma per block.
 * ============================================================================================= */

/* Two consecutive Q8_0 blocks' quants in one zmm: bytes 0..31 block b, 32..63 block b+1. */
INLINE __m512i q8_pair(const block_q8_0 *b) {
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i *)b[0].q)),
                              _mm256_loadu_si256((const __m256i *)b[1].q), 1);
}
INLINE __m512i q8_single(const block_q8_0 *b) { /* upper block zero */
    return _mm512_zextsi256_si512(_mm256_loadu_si256((const __m256i *)b[0].q));
}

/* ---- gemv, Q8_0 / Q4_0 ----------------------------------------------------------------------
 * Blocks go 16 at a time (a chunk): the 16 scales of a row are gathered at once and multiplied
 * by the activation's 16 scales (s16 = d_w * d_x, the reference's f32 product); each step picks
 * its blocks' scales out of s16 with one permute.
 * Q8_0 steps are 2 blocks: int32 lanes 0..7 hold block b's partial sums, 8..15 block b+1's.
 * Q4_0 steps are 4 blocks: one zmm holds the 16 low-nibble bytes of each of 4 blocks, another the
 * high nibbles; the activations are rearranged the same way once per step for all rows, so lanes
 * 4c..4c+3 belong to block b+c. Each lane's int32 sum is exact; it is scaled and accumulated in
 * f32 (16 lanes per row, summed at the end). Missing tail blocks are zero on both sides with a
 * zero scale. */

/* f32 scales of the nblk (<= 16, mask m) blocks starting at blk, blocks `bsize` bytes apart:
 * gather the 32-bit word at each block's start (d, then two quant bytes), keep the low half. */
INLINE __m512 scales16(const void *blk, int bsize, __mmask16 m) {
    const __m512i offs = _mm512_mullo_epi32(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                            _mm512_set1_epi32(bsize));
    const __m512i v = _mm512_mask_i32gather_epi32(_mm512_setzero_si512(), m, offs, blk, 1);
    return _mm512_cvtph_ps(_mm512_cvtepi32_epi16(v));
}

/* 16 bytes from each of nq (1..4) blocks starting at p, `bsize` bytes apart, in 128-bit lanes
 * 0..nq-1; lanes above are zero. */
INLINE __m512i quad16(const uint8_t *p, int bsize, const int nq) {
    __m512i z = _mm512_zextsi128_si512(_mm_loadu_si128((const __m128i *)p));
    if (nq > 1) z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + bsize)), 1);
    if (nq > 2) z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 2 * bsize)), 2);
    if (nq > 3) z = _mm512_inserti32x4(z, _mm_loadu_si128((const __m128i *)(p + 3 * bsize)), 3);
    return z;
}

/* Q8_0, blocks b, b+1 (two) or b alone, of R rows; idx selects their two scales from s16. */
INLINE void gemv_q8_step(const void *W, size_t row_bytes, int64_t r, int64_t rs, const int R, int64_t b,
                         const int two, const block_q8_0 *xq, __m512i idx, const __m512 *s16,
                         __m512 *acc) {
    const __m512i flip = _mm512_set1_epi8((char)0x80);
    const __m512i xv = two ? q8_pair(xq + b) : q8_single(xq + b);
    const __m512i negc = _mm512_sub_epi32(_mm512_setzero_si512(),
                                          _mm512_dpbusd_epi32(_mm512_setzero_si512(), flip, xv));
    UNROLL
    for (int i = 0; i < R; i++) {
        const block_q8_0 *wb = (const block_q8_0 *)ROW(W, row_bytes, r + i * rs) + b;
        const __m512i wv = _mm512_xor_si512(two ? q8_pair(wb) : q8_single(wb), flip); /* q + 128 */
        const __m512i isum = _mm512_dpbusd_epi32(negc, wv, xv);
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_permutexvar_ps(idx, s16[i]), acc[i]);
    }
}

/* Q4_0, blocks b .. b+nq-1 of R rows; idx selects their four scales from s16. */
INLINE void gemv_q4_step(const void *W, size_t row_bytes, int64_t r, int64_t rs, const int R, int64_t b,
                         const int nq, const block_q8_0 *xq, __m512i idx, const __m512 *s16,
                         __m512 *acc) {
    const __m512i lo4 = _mm512_set1_epi8(0x0f), eight = _mm512_set1_epi8(8);
    const __m512i xlo = quad16((const uint8_t *)xq[b].q, sizeof(block_q8_0), nq);      /* elements 0..15 */
    const __m512i xhi = quad16((const uint8_t *)xq[b].q + 16, sizeof(block_q8_0), nq); /* elements 16..31 */
    const __m512i negc = _mm512_sub_epi32(
        _mm512_setzero_si512(),
        _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(_mm512_setzero_si512(), eight, xlo), eight, xhi));
    UNROLL
    for (int i = 0; i < R; i++) {
        const block_q4_0 *wb = (const block_q4_0 *)ROW(W, row_bytes, r + i * rs) + b;
        const __m512i z = quad16(wb->qs, sizeof(block_q4_0), nq);
        const __m512i lo = _mm512_and_si512(z, lo4), hi = _mm512_and_si512(_mm512_srli_epi16(z, 4), lo4);
        const __m512i isum = _mm512_dpbusd_epi32(_mm512_dpbusd_epi32(negc, lo, xlo), hi, xhi);
        acc[i] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(isum), _mm512_permutexvar_ps(idx, s16[i]), acc[i]);
    }
}

INLINE void gemv_q_rows(const int q4, const void *W, size_t row_bytes, int64_t r, int64_t rs, const int R,
                        int64_t nb, const block_q8_0 *xq, float *y) {
    const int bsize = q4 ? (int)sizeof(block_q4_0) : (int)sizeof(block_q8_0);
    __m512 acc[4], s16[4];
    UNROLL
    for (int i = 0; i < R; i++) acc[i] = _mm512_setzero_ps();
    for (int64_t c0 = 0; c0 < nb; c0 += 16) {
        const int nblk = (int)(nb - c0 < 16 ? nb - c0 : 16);
        const __mmask16 m = tail_mask(nblk);
        const __m512 dx = scales16(xq + c0, sizeof(block_q8_0), m);
        UNROLL
        for (int i = 0; i < R; i++)
            s16[i] = _mm512_mul_ps(scales16((const char *)ROW(W, row_bytes, r + i * rs) + c0 * bsize, bsize, m), dx);
        if (q4) {
            const __m512i base = _mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0);
            for (int q = 0; 4 * q < nblk; q++) {
                const __m512i idx = _mm512_add_epi32(base, _mm512_set1_epi32(4 * q));
                const int nq = nblk - 4 * q < 4 ? nblk - 4 * q : 4;
                if (nq == 4) gemv_q4_step(W, row_bytes, r, rs, R, c0 + 4 * q, 4, xq, idx, s16, acc);
                else gemv_q4_step(W, row_bytes, r, rs, R, c0 + 4 * q, nq, xq, idx, s16, acc);
            }
        } else {
            const __m512i base = _mm512_set_epi32(1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0);
            for (int p = 0; 2 * p < nblk; p++) {
                const __m512i idx = _mm512_add_epi32(base, _mm512_set1_epi32(2 * p));
                if (2 * p + 1 < nblk) gemv_q8_step(W, row_bytes, r, rs, R, c0 + 2 * p, 1, xq, idx, s16, acc);
                else gemv_q8_step(W, row_bytes, r, rs, R, c0 + 2 * p, 0, xq, idx, s16, acc);
            }
        }
    }
    UNROLL
    for (int i = 0; i < R; i++) y[i * rs] = _mm512_reduce_add_ps(acc[i]);
}

INLINE void gemv_q(const int q4, const void *W, size_t row_bytes, int64_t r0, int64_t r1,
                   int64_t K, const block_q8_0 *xq, float *y) {
    /* The 4 rows of a group are a quarter of the range apart, not neighbours: short rows (a Q4_0
     * row of K = 4096 is 2304 bytes) would put several streams in one 4 KB page, and the L2
     * streamer, which follows one stream per page, then fetches poorly (cold Q4_0 ran at half the
     * bandwidth). Each row is computed the same way in any group. */
    const int64_t q = (r1 - r0) / 4;
    for (int64_t i = 0; i < q; i++) gemv_q_rows(q4, W, row_bytes, r0 + i, q, 4, K / QK, xq, y + i);
    for (int64_t r = r0 + 4 * q; r < r1; r++) gemv_q_rows(q4, W, row_bytes, r, 1, 1, K / QK, xq, y + (r - r0));
}

void avx512_gemv_q8_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const block_q8_0 *xq, float *y) {
    gemv_q(0, W, row_bytes, r0, r1, K, xq, y);
}

void avx512_gemv_q4_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const block_q8_0 *xq, float *y) {
    gemv_q(1, W, row_bytes, r0, r1, K, xq, y);
}

/* ---- gemm, Q8_0 / Q4_0 ----------------------------------------------------------------------
 * Packed panel of MR = 32 rows and up to KBQ blocks: pw[((b * 8 + g) * MR + i) * 4 + t] =
 * unsigned weight (row p+i, element 32 b + 4 g + t); pd[b * MR + i] = its block's f32 scale.
 * A micro-tile holds, per activation row j, int32 sums for the current block (2 zmm = 32 rows)
 * and f32 running sums. Per-(row j, block) tables, made once per chunk for NSQ activation rows:
 * -off * sum(x) (the exact offset correction) and d_x as f32. */
#define NRQ 4   /* activation rows per micro-tile: 8 int32 + 8 f32 accumulators */
#define KBQ 16  /* blocks per chunk: the packed panel is 16 KB */
#define NSQ 256 /* activation rows per table pass: tables 2 x 16 KB */

typedef void (*packq_fn)(const void *W, size_t row_bytes, int64_t p, int mr, int64_t kb0, int kb,
                         uint8_t *pw, float *pd);

/* The scales: gather the 32-bit word at each block's start (d, then two quant bytes). */
INLINE void pack_scales8(const char *blk, __m512i idx, __mmask8 m, float *pd) {
    const __m256i v = _mm512_mask_i64gather_epi32(_mm256_setzero_si256(), m, idx, blk, 1);
    _mm256_storeu_ps(pd, _mm256_cvtph_ps(_mm256_cvtepi32_epi16(v)));
}

static void pack_q8_0(const void *W, size_t row_bytes, int64_t p, int mr, int64_t kb0, int kb,
                      uint8_t *pw, float *pd) {
    const __m512i idx = row_offsets8(row_bytes);
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int q = 0; q < MR / 8; q++) {
        const __mmask8 m = rows_mask8(mr, q);
        for (int b = 0; b < kb; b++) {
            if (!m) {
                _mm256_storeu_ps(pd + b * MR + 8 * q, _mm256_setzero_ps());
                for (int g = 0; g < 8; g++)
                    _mm256_storeu_si256((__m256i *)(pw + ((b * 8 + g) * MR + 8 * q) * 4), flip);
                continue;
            }
            const char *blk = ROW(W, row_bytes, p + 8 * q) + (size_t)(kb0 + b) * sizeof(block_q8_0);
            pack_scales8(blk, idx, m, pd + b * MR + 8 * q);
            for (int g = 0; g < 8; g++) {
                const __m256i v = _mm512_mask_i64gather_epi32(_mm256_setzero_si256(), m, idx, blk + 2 + 4 * g, 1);
                _mm256_storeu_si256((__m256i *)(pw + ((b * 8 + g) * MR + 8 * q) * 4), _mm256_xor_si256(v, flip));
            }
        }
    }
}

static void pack_q4_0(const void *W, size_t row_bytes, int64_t p, int mr, int64_t kb0, int kb,
                      uint8_t *pw, float *pd) {
    const __m512i idx = row_offsets8(row_bytes);
    const __m256i lo4 = _mm256_set1_epi8(0x0f);
    for (int q = 0; q < MR / 8; q++) {
        const __mmask8 m = rows_mask8(mr, q);
        for (int b = 0; b < kb; b++) {
            if (!m) {
                _mm256_storeu_ps(pd + b * MR + 8 * q, _mm256_setzero_ps());
                for (int g = 0; g < 8; g++)
                    _mm256_storeu_si256((__m256i *)(pw + ((b * 8 + g) * MR + 8 * q) * 4), _mm256_setzero_si256());
                continue;
            }
            const char *blk = ROW(W, row_bytes, p + 8 * q) + (size_t)(kb0 + b) * sizeof(block_q4_0);
            pack_scales8(blk, idx, m, pd + b * MR + 8 * q);
            for (int g = 0; g < 4; g++) { /* qs[4g..4g+3]: elements 4g.. (low), 16+4g.. (high) */
                const __m256i v = _mm512_mask_i64gather_epi32(_mm256_setzero_si256(), m, idx, blk + 2 + 4 * g, 1);
                _mm256_storeu_si256((__m256i *)(pw + ((b * 8 + g) * MR + 8 * q) * 4), _mm256_and_si256(v, lo4));
                _mm256_storeu_si256((__m256i *)(pw + ((b * 8 + g + 4) * MR + 8 * q) * 4),
                                    _mm256_and_si256(_mm256_srli_epi16(v, 4), lo4));
            }
        }
    }
}

/* Micro-kernel over kb blocks: Y[j][0..32) (+)= sum_b (float)isum(j, b) * (d_w * d_x(j, b)). */
INLINE void kern_q(const uint8_t *pw, const float *pd, int kb, const block_q8_0 *x, int64_t nbx,
                   const int32_t *ncorr, const float *dxf, const int nr, float *y, int64_t ldy,
                   __mmask16 m0, __mmask16 m1, int first) {
    __m512 f0[NRQ], f1[NRQ];
    UNROLL
    for (int j = 0; j < nr; j++) {
        f0[j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, y + j * ldy);
        f1[j] = first ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, y + j * ldy + 16);
    }
    for (int b = 0; b < kb; b++) {
        __m512i i0[NRQ], i1[NRQ];
        UNROLL
        for (int j = 0; j < nr; j++) i0[j] = i1[j] = _mm512_set1_epi32(ncorr[j * KBQ + b]);
        UNROLL
        for (int g = 0; g < 8; g++) {
            const __m512i w0 = _mm512_loadu_si512(pw + (b * 8 + g) * MR * 4);
            const __m512i w1 = _mm512_loadu_si512(pw + (b * 8 + g) * MR * 4 + 64);
            UNROLL
            for (int j = 0; j < nr; j++) {
                int32_t xq4;
                memcpy(&xq4, x[j * nbx + b].q + 4 * g, 4);
                const __m512i xb = _mm512_set1_epi32(xq4);
                i0[j] = _mm512_dpbusd_epi32(i0[j], w0, xb);
                i1[j] = _mm512_dpbusd_epi32(i1[j], w1, xb);
            }
        }
        const __m512 d0 = _mm512_loadu_ps(pd + b * MR), d1 = _mm512_loadu_ps(pd + b * MR + 16);
        UNROLL
        for (int j = 0; j < nr; j++) {
            const __m512 s = _mm512_set1_ps(dxf[j * KBQ + b]);
            f0[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i0[j]), _mm512_mul_ps(d0, s), f0[j]);
            f1[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(i1[j]), _mm512_mul_ps(d1, s), f1[j]);
        }
    }
    UNROLL
    for (int j = 0; j < nr; j++) {
        _mm512_mask_storeu_ps(y + j * ldy, m0, f0[j]);
        _mm512_mask_storeu_ps(y + j * ldy + 16, m1, f1[j]);
    }
}

/* sum of the 32 quants of a Q8_0 block (vpsadbw on q + 128, minus 32 * 128) */
static inline int32_t q8_sum(const block_q8_0 *b) {
    const __m256i v = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)b->q), _mm256_set1_epi8((char)0x80));
    const __m256i s = _mm256_sad_epu8(v, _mm256_setzero_si256());
    const __m128i h = _mm_add_epi64(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    return (int32_t)(_mm_cvtsi128_si64(h) + _mm_extract_epi64(h, 1)) - 32 * 128;
}

INLINE void gemm_q(const int q4, packq_fn pack, const void *W, size_t row_bytes, int64_t r0,
                   int64_t r1, int64_t K, const block_q8_0 *Xq, int64_t N, float *Y, int64_t ldy) {
    uint8_t pw[KBQ * 8 * MR * 4] __attribute__((aligned(64))); /* (kb, 8, MR, 4) */
    float pd[KBQ * MR] __attribute__((aligned(64)));            /* (kb, MR) */
    int32_t ncorr[NSQ * KBQ];                                   /* (ns, KBQ) */
    float dxf[NSQ * KBQ];                                       /* (ns, KBQ) */
    const int64_t nb = K / QK;
    const int32_t off = q4 ? 8 : 128;
    if (nb <= 0) { /* an empty sum: zeros, as the reference */
        for (int64_t n = 0; n < N; n++) memset(Y + n * ldy + r0, 0, (size_t)(r1 - r0) * sizeof(float));
        return;
    }
    for (int64_t n0 = 0; n0 < N; n0 += NSQ) {
        const int ns = (int)(N - n0 < NSQ ? N - n0 : NSQ);
        for (int64_t kb0 = 0; kb0 < nb; kb0 += KBQ) {
            const int kb = (int)(nb - kb0 < KBQ ? nb - kb0 : KBQ), first = kb0 == 0;
            for (int j = 0; j < ns; j++)
                for (int b = 0; b < kb; b++) {
                    const block_q8_0 *xb = Xq + (n0 + j) * nb + kb0 + b;
                    ncorr[j * KBQ + b] = -off * q8_sum(xb);
                    dxf[j * KBQ + b] = _cvtsh_ss(xb->d);
                }
            for (int64_t p = r0; p < r1; p += MR) {
                const int mr = (int)(r1 - p < MR ? r1 - p : MR);
                const __mmask16 m0 = tail_mask(mr), m1 = tail_mask(mr - 16);
                pack(W, row_bytes, p, mr, kb0, kb, pw, pd);
                for (int j = 0; j < ns; j += NRQ) {
                    const block_q8_0 *x = Xq + (n0 + j) * nb + kb0;
                    float *y = Y + (n0 + j) * ldy + p;
                    const int32_t *nc = ncorr + j * KBQ;
                    const float *dx = dxf + j * KBQ;
                    switch (ns - j < NRQ ? ns - j : NRQ) {
                    case 4: kern_q(pw, pd, kb, x, nb, nc, dx, 4, y, ldy, m0, m1, first); break;
                    case 3: kern_q(pw, pd, kb, x, nb, nc, dx, 3, y, ldy, m0, m1, first); break;
                    case 2: kern_q(pw, pd, kb, x, nb, nc, dx, 2, y, ldy, m0, m1, first); break;
                    default: kern_q(pw, pd, kb, x, nb, nc, dx, 1, y, ldy, m0, m1, first); break;
                    }
                }
            }
        }
    }
}

void avx512_gemm_q8_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const block_q8_0 *Xq, int64_t N, float *Y, int64_t ldy) {
    gemm_q(0, pack_q8_0, W, row_bytes, r0, r1, K, Xq, N, Y, ldy);
}

void avx512_gemm_q4_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const block_q8_0 *Xq, int64_t N, float *Y, int64_t ldy) {
    gemm_q(1, pack_q4_0, W, row_bytes, r0, r1, K, Xq, N, Y, ldy);
}
