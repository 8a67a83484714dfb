/* matmul.c (avx2) - gemv / gemm kernels for the driver in kernels/matmul.c with AVX2 + FMA + F16C:
 * F32, F16, BF16 with f32 FMAs, Q8_0 and Q4_0 with int8 multiplies (vpmaddubsw + vpmaddwd, no
 * VNNI here) against activations quantised to Q8_0. Same structure as kernels/avx512/matmul.c:
 *
 * gemv (one activation row) is bound by memory bandwidth: 4 weight rows at a time share the
 * activation loads, in the weights' own layout.
 * gemm packs a panel of weight rows, one K-chunk at a time, into a k-major buffer on the stack
 * (f32 for float weights; for block weights VNNI-style groups of 4 bytes per row) and runs a
 * register-tiled micro-kernel: each packed weight vector feeds several activation rows, each
 * broadcast activation value feeds 8 or 16 weight rows.
 *
 * int8 products: vpmaddubsw multiplies unsigned by signed bytes and adds pairs into int16 with
 * saturation, so the operands are kept where no pair can saturate: Q8_0 uses |w| (<= 128) times
 * x with w's sign (|x| <= 127, which quantize_q8_0 guarantees), Q4_0 the nibble (<= 15) times x
 * minus 8 sum(x) per block. Each block's integer dot product is exact, as in the reference.
 *
 * Determinism: every output element gets the same operations wherever it falls in a tile, so
 * results do not depend on how the driver splits rows. No alignment is required. Stack use:
 * about 40 KB in the Q8_0/Q4_0 gemm. */
#include <immintrin.h>
#include <string.h>

#include "avx2.h"

#define INLINE static inline __attribute__((always_inline))
/* tile loops must unroll fully so that their accumulators live in registers */
#define UNROLL _Pragma("GCC unroll 8")
#define ROW(W, row_bytes, r) ((const char *)(W) + (size_t)(r) * (row_bytes))

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Lane masks for maskload/maskstore: mask8(n) has lanes 0..n-1 on (0 <= n <= 8). */
static const int32_t mask_table[16] = {-1, -1, -1, -1, -1, -1, -1, -1, 0, 0, 0, 0, 0, 0, 0, 0};
static inline __m256i mask8(int n) {
    n = n < 0 ? 0 : n > 8 ? 8 : n;
    return _mm256_loadu_si256((const __m256i *)(mask_table + 8 - n));
}

/* =============================================================================================
 * Float weights: loaders turn 8 consecutive weights of a row into f32; scalar ones do tails.
 * ============================================================================================= */

typedef __m256 (*load8_fn)(const void *row, int64_t k);
typedef float (*load1_fn)(const void *row, int64_t k);

INLINE __m256 ld_f32(const void *row, int64_t k) { return _mm256_loadu_ps((const float *)row + k); }
INLINE float ld1_f32(const void *row, int64_t k) { return ((const float *)row)[k]; }
INLINE __m256 ld_f16(const void *row, int64_t k) {
    return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + k)));
}
INLINE float ld1_f16(const void *row, int64_t k) { return _cvtsh_ss(((const uint16_t *)row)[k]); }
INLINE __m256 ld_bf16(const void *row, int64_t k) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)((const uint16_t *)row + k)));
    return _mm256_castsi256_ps(_mm256_slli_epi32(w, 16));
}
INLINE float ld1_bf16(const void *row, int64_t k) { return graft_bf16_to_f32(((const uint16_t *)row)[k]); }

/* ---- gemv, float ---------------------------------------------------------------------------
 * R rows (4 or 1, a constant after inlining) against x (K): two accumulators per row (even and
 * odd 8-element steps), then the K % 8 tail in order, the same whatever R is. */
INLINE void gemv_rows_f(load8_fn ld, load1_fn ld1, const void *W, size_t row_bytes, int64_t r,
                        int64_t rs, const int R, int64_t K, const float *x, float *y) {
    const void *w[4];
    __m256 a0[4], a1[4];
    UNROLL
    for (int i = 0; i < R; i++) {
        w[i] = ROW(W, row_bytes, r + i * rs);
        a0[i] = a1[i] = _mm256_setzero_ps();
    }
    int64_t k = 0;
    for (; k + 16 <= K; k += 16) {
        const __m256 x0 = _mm256_loadu_ps(x + k), x1 = _mm256_loadu_ps(x + k + 8);
        UNROLL
        for (int i = 0; i < R; i++) {
            a0[i] = _mm256_fmadd_ps(ld(w[i], k), x0, a0[i]);
            a1[i] = _mm256_fmadd_ps(ld(w[i], k + 8), x1, a1[i]);
        }
    }
    if (k + 8 <= K) {
        const __m256 x0 = _mm256_loadu_ps(x + k);
        UNROLL
        for (int i = 0; i < R; i++) a0[i] = _mm256_fmadd_ps(ld(w[i], k), x0, a0[i]);
        k += 8;
    }
    UNROLL
    for (int i = 0; i < R; i++) {
        float s = hsum8(_mm256_add_ps(a0[i], a1[i]));
        for (int64_t t = k; t < K; t++) s += ld1(w[i], t) * x[t];
        y[i * rs] = s;
    }
}

INLINE void gemv_float(load8_fn ld, load1_fn ld1, const void *W, size_t row_bytes, int64_t r0,
                       int64_t r1, int64_t K, const float *x, float *y) {
    const int64_t q = (r1 - r0) / 4; /* rows r0 + i + {0, 1, 2, 3} q go together: see gemv_q */
    for (int64_t i = 0; i < q; i++) gemv_rows_f(ld, ld1, W, row_bytes, r0 + i, q, 4, K, x, y + i);
    for (int64_t r = r0 + 4 * q; r < r1; r++) gemv_rows_f(ld, ld1, W, row_bytes, r, 1, 1, K, x, y + (r - r0));
}

void avx2_gemv_f32(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                   const float *x, float *y) {
    gemv_float(ld_f32, ld1_f32, W, row_bytes, r0, r1, K, x, y);
}

void avx2_gemv_f16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                   const float *x, float *y) {
    gemv_float(ld_f16, ld1_f16, W, row_bytes, r0, r1, K, x, y);
}

void avx2_gemv_bf16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                    const float *x, float *y) {
    gemv_float(ld_bf16, ld1_bf16, W, row_bytes, r0, r1, K, x, y);
}

/* ---- gemm, float ---------------------------------------------------------------------------
 * Packed panel: pw[kk * MR + i] = W[p + i][k0 + kk] as f32, rows i >= mr are zero. */
#define MR 16  /* weight rows per panel: two ymm */
#define NRF 6  /* activation rows per micro-tile: 12 accumulators */
#define KC 256 /* k per packed chunk: the panel is 16 KB */

typedef void (*widen_fn)(int64_t n, const void *x, float *y);

static void widen_f32(int64_t n, const void *x, float *y) { memcpy(y, x, (size_t)n * sizeof(float)); }
static void widen_f16(int64_t n, const void *x, float *y) { avx2_f16_to_f32(n, x, y); }
static void widen_bf16(int64_t n, const void *x, float *y) { avx2_bf16_to_f32(n, x, y); }

INLINE void pack_float(widen_fn widen, size_t esize, const void *W, size_t row_bytes, int64_t p,
                       int mr, int64_t k0, int kc, float *pw) {
    float tmp[KC];
    for (int i = 0; i < MR; i++) {
        if (i < mr) widen(kc, ROW(W, row_bytes, p + i) + (size_t)k0 * esize, tmp);
        else memset(tmp, 0, (size_t)kc * sizeof(float));
        for (int kk = 0; kk < kc; kk++) pw[kk * MR + i] = tmp[kk];
    }
}

/* Micro-kernel: Y[j][0..16) (+)= packed panel . X row j over kc, for j < nr (a constant after
 * inlining). `first` starts from zero, otherwise from the partial sums already in Y. */
INLINE void kern_f(const float *pw, int kc, const float *x, int64_t ldx, const int nr, float *y,
                   int64_t ldy, int mr, int first) {
    __m256 c0[NRF], c1[NRF];
    const __m256i m0 = mask8(mr), m1 = mask8(mr - 8);
    const int full = mr == MR;
    const float *xr[NRF];
    UNROLL
    for (int j = 0; j < nr; j++) {
        xr[j] = x + j * ldx;
        if (first) {
            c0[j] = c1[j] = _mm256_setzero_ps();
        } else if (full) {
            c0[j] = _mm256_loadu_ps(y + j * ldy);
            c1[j] = _mm256_loadu_ps(y + j * ldy + 8);
        } else {
            c0[j] = _mm256_maskload_ps(y + j * ldy, m0);
            c1[j] = _mm256_maskload_ps(y + j * ldy + 8, m1);
        }
    }
    for (int kk = 0; kk < kc; kk++) {
        const __m256 w0 = _mm256_loadu_ps(pw + kk * MR), w1 = _mm256_loadu_ps(pw + kk * MR + 8);
        UNROLL
        for (int j = 0; j < nr; j++) {
            const __m256 b = _mm256_broadcast_ss(xr[j] + kk);
            c0[j] = _mm256_fmadd_ps(w0, b, c0[j]);
            c1[j] = _mm256_fmadd_ps(w1, b, c1[j]);
        }
    }
    UNROLL
    for (int j = 0; j < nr; j++) {
        if (full) {
            _mm256_storeu_ps(y + j * ldy, c0[j]);
            _mm256_storeu_ps(y + j * ldy + 8, c1[j]);
        } else {
            _mm256_maskstore_ps(y + j * ldy, m0, c0[j]);
            _mm256_maskstore_ps(y + j * ldy + 8, m1, c1[j]);
        }
    }
}

INLINE void gemm_float(widen_fn widen, size_t esize, const void *W, size_t row_bytes, int64_t r0,
                       int64_t r1, int64_t K, const float *X, int64_t ldx, int64_t N, float *Y,
                       int64_t ldy) {
    float pw[KC * MR] __attribute__((aligned(32))); /* (kc, MR) */
    if (K <= 0) { /* an empty sum: zeros, as the reference */
        for (int64_t n = 0; n < N; n++) memset(Y + n * ldy + r0, 0, (size_t)(r1 - r0) * sizeof(float));
        return;
    }
    for (int64_t p = r0; p < r1; p += MR) {
        const int mr = (int)(r1 - p < MR ? r1 - p : MR);
        for (int64_t k0 = 0; k0 < K; k0 += KC) {
            const int kc = (int)(K - k0 < KC ? K - k0 : KC), first = k0 == 0;
            pack_float(widen, esize, W, row_bytes, p, mr, k0, kc, pw);
            for (int64_t n = 0; n < N; n += NRF) {
                const float *x = X + n * ldx + k0;
                float *y = Y + n * ldy + p;
                switch (N - n < NRF ? (int)(N - n) : NRF) {
                case 6: kern_f(pw, kc, x, ldx, 6, y, ldy, mr, first); break;
                case 5: kern_f(pw, kc, x, ldx, 5, y, ldy, mr, first); break;
                case 4: kern_f(pw, kc, x, ldx, 4, y, ldy, mr, first); break;
                case 3: kern_f(pw, kc, x, ldx, 3, y, ldy, mr, first); break;
                case 2: kern_f(pw, kc, x, ldx, 2, y, ldy, mr, first); break;
                default: kern_f(pw, kc, x, ldx, 1, y, ldy, mr, first); break;
                }
            }
        }
    }
}

void avx2_gemm_f32(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                   const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy) {
    gemm_float(widen_f32, 4, W, row_bytes, r0, r1, K, X, ldx, N, Y, ldy);
}

void avx2_gemm_f16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                   const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy) {
    gemm_float(widen_f16, 2, W, row_bytes, r0, r1, K, X, ldx, N, Y, ldy);
}

void avx2_gemm_bf16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                    const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy) {
    gemm_float(widen_bf16, 2, W, row_bytes, r0, r1, K, X, ldx, N, Y, ldy);
}

/* =============================================================================================
 * Block weights against Q8_0 activations.
 * ============================================================================================= */

/* Sum of adjacent pairs of int16 lanes into int32: the second half of a byte dot product. */
INLINE __m256i pairs_to_i32(__m256i p16) { return _mm256_madd_epi16(p16, _mm256_set1_epi16(1)); }

/* A Q4_0 block's 32 nibbles in element order: bytes 0..15 low nibbles, 16..31 high nibbles. */
INLINE __m256i q4_nibbles(const block_q4_0 *b) {
    const __m256i v = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)b->qs));
    return _mm256_and_si256(_mm256_blend_epi32(v, _mm256_srli_epi16(v, 4), 0xf0), _mm256_set1_epi8(0x0f));
}

/* ---- gemv, Q8_0 / Q4_0 ----------------------------------------------------------------------
 * One block of R rows per step: 8 int32 lanes of partial sums per row, scaled by d_w * d_x and
 * accumulated in f32 (summed at the end). */
INLINE void gemv_q_rows(const int q4, const void *W, size_t row_bytes, int64_t r, int64_t rs, const int R,
                        int64_t nb, const block_q8_0 *xq, float *y) {
    __m256 acc[4];
    UNROLL
    for (int i = 0; i < R; i++) acc[i] = _mm256_setzero_ps();
    for (int64_t b = 0; b < nb; b++) {
        const __m256i xv = _mm256_loadu_si256((const __m256i *)xq[b].q);
        const float dx = _cvtsh_ss(xq[b].d);
        /* Q4_0: 8 sum(x) per lane, taken off the nibble products */
        const __m256i xc = q4 ? pairs_to_i32(_mm256_maddubs_epi16(_mm256_set1_epi8(8), xv)) : _mm256_setzero_si256();
        UNROLL
        for (int i = 0; i < R; i++) {
            __m256i isum;
            float dw;
            if (q4) {
                const block_q4_0 *wb = (const block_q4_0 *)ROW(W, row_bytes, r + i * rs) + b;
                isum = _mm256_sub_epi32(pairs_to_i32(_mm256_maddubs_epi16(q4_nibbles(wb), xv)), xc);
                dw = _cvtsh_ss(wb->d);
            } else {
                const block_q8_0 *wb = (const block_q8_0 *)ROW(W, row_bytes, r + i * rs) + b;
                const __m256i wv = _mm256_loadu_si256((const __m256i *)wb->q);
                isum = pairs_to_i32(_mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(xv, wv)));
                dw = _cvtsh_ss(wb->d);
            }
            acc[i] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), _mm256_set1_ps(dw * dx), acc[i]);
        }
    }
    UNROLL
    for (int i = 0; i < R; i++) y[i * rs] = hsum8(acc[i]);
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

void avx2_gemv_q8_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                    const block_q8_0 *xq, float *y) {
    gemv_q(0, W, row_bytes, r0, r1, K, xq, y);
}

void avx2_gemv_q4_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                    const block_q8_0 *xq, float *y) {
    gemv_q(1, W, row_bytes, r0, r1, K, xq, y);
}

/* ---- gemm, Q8_0 / Q4_0 ----------------------------------------------------------------------
 * Packed panel of MRQ = 8 rows and up to KBQ blocks: pw[((b * 8 + g) * MRQ + i) * 4 + t] =
 * weight (row p+i, element 32 b + 4 g + t): the signed quant for Q8_0, the nibble for Q4_0;
 * pd[b * MRQ + i] = its block's f32 scale. Per-(activation row, block) tables, made once per
 * chunk for NSQ rows: -8 sum(x) (Q4_0's offset; 0 for Q8_0) and d_x as f32. */
#define MRQ 8   /* weight rows per panel: one ymm of 4-byte groups */
#define NRQ 4   /* activation rows per micro-tile: 4 int32 + 4 f32 accumulators */
#define KBQ 16  /* blocks per chunk: the packed panel is 4 KB */
#define NSQ 256 /* activation rows per table pass: tables 2 x 16 KB */

static void pack_q(const int q4, const void *W, size_t row_bytes, int64_t p, int mr, int64_t kb0,
                   int kb, uint8_t *pw, float *pd) {
    for (int i = 0; i < MRQ; i++) {
        for (int b = 0; b < kb; b++) {
            uint8_t q[QK];
            float d = 0.0f;
            if (i >= mr) {
                memset(q, 0, QK);
            } else if (q4) {
                const block_q4_0 *wb = (const block_q4_0 *)ROW(W, row_bytes, p + i) + kb0 + b;
                const __m128i v = _mm_loadu_si128((const __m128i *)wb->qs);
                _mm_storeu_si128((__m128i *)q, _mm_and_si128(v, _mm_set1_epi8(0x0f)));
                _mm_storeu_si128((__m128i *)(q + 16), _mm_and_si128(_mm_srli_epi16(v, 4), _mm_set1_epi8(0x0f)));
                d = _cvtsh_ss(wb->d);
            } else {
                const block_q8_0 *wb = (const block_q8_0 *)ROW(W, row_bytes, p + i) + kb0 + b;
                memcpy(q, wb->q, QK);
                d = _cvtsh_ss(wb->d);
            }
            pd[b * MRQ + i] = d;
            for (int g = 0; g < 8; g++) memcpy(pw + ((b * 8 + g) * MRQ + i) * 4, q + 4 * g, 4);
        }
    }
}

/* Micro-kernel over kb blocks: Y[j][0..8) (+)= sum_b (float)isum(j, b) * (d_w * d_x(j, b)). */
INLINE void kern_q(const int q4, const uint8_t *pw, const float *pd, int kb, const block_q8_0 *x,
                   int64_t nbx, const int32_t *ncorr, const float *dxf, const int nr, float *y,
                   int64_t ldy, int mr, int first) {
    __m256 f[NRQ];
    const __m256i m = mask8(mr);
    UNROLL
    for (int j = 0; j < nr; j++)
        f[j] = first ? _mm256_setzero_ps() : _mm256_maskload_ps(y + j * ldy, m);
    for (int b = 0; b < kb; b++) {
        __m256i is[NRQ];
        UNROLL
        for (int j = 0; j < nr; j++) is[j] = _mm256_set1_epi32(ncorr[j * KBQ + b]);
        UNROLL
        for (int g = 0; g < 8; g++) {
            const __m256i w = _mm256_loadu_si256((const __m256i *)(pw + (b * 8 + g) * MRQ * 4));
            const __m256i aw = q4 ? w : _mm256_sign_epi8(w, w);
            UNROLL
            for (int j = 0; j < nr; j++) {
                int32_t xq4;
                memcpy(&xq4, x[j * nbx + b].q + 4 * g, 4);
                __m256i xb = _mm256_set1_epi32(xq4);
                if (!q4) xb = _mm256_sign_epi8(xb, w);
                is[j] = _mm256_add_epi32(is[j], pairs_to_i32(_mm256_maddubs_epi16(aw, xb)));
            }
        }
        const __m256 d = _mm256_loadu_ps(pd + b * MRQ);
        UNROLL
        for (int j = 0; j < nr; j++)
            f[j] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(is[j]), _mm256_mul_ps(d, _mm256_set1_ps(dxf[j * KBQ + b])), f[j]);
    }
    UNROLL
    for (int j = 0; j < nr; j++) _mm256_maskstore_ps(y + j * ldy, m, f[j]);
}

static inline int32_t q8_sum(const block_q8_0 *b) {
    const __m256i s16 = _mm256_maddubs_epi16(_mm256_set1_epi8(1), _mm256_loadu_si256((const __m256i *)b->q));
    const __m256i s = pairs_to_i32(s16);
    __m128i h = _mm_add_epi32(_mm256_castsi256_si128(s), _mm256_extracti128_si256(s, 1));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0x4e));
    h = _mm_add_epi32(h, _mm_shuffle_epi32(h, 0xb1));
    return _mm_cvtsi128_si32(h);
}

INLINE void gemm_q(const int q4, const void *W, size_t row_bytes, int64_t r0, int64_t r1,
                   int64_t K, const block_q8_0 *Xq, int64_t N, float *Y, int64_t ldy) {
    uint8_t pw[KBQ * 8 * MRQ * 4] __attribute__((aligned(32))); /* (kb, 8, MRQ, 4) */
    float pd[KBQ * MRQ];                                         /* (kb, MRQ) */
    int32_t ncorr[NSQ * KBQ];                                    /* (ns, KBQ) */
    float dxf[NSQ * KBQ];                                        /* (ns, KBQ) */
    const int64_t nb = K / QK;
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
                    ncorr[j * KBQ + b] = q4 ? -8 * q8_sum(xb) : 0;
                    dxf[j * KBQ + b] = _cvtsh_ss(xb->d);
                }
            for (int64_t p = r0; p < r1; p += MRQ) {
                const int mr = (int)(r1 - p < MRQ ? r1 - p : MRQ);
                pack_q(q4, W, row_bytes, p, mr, kb0, kb, pw, pd);
                for (int j = 0; j < ns; j += NRQ) {
                    const block_q8_0 *x = Xq + (n0 + j) * nb + kb0;
                    float *y = Y + (n0 + j) * ldy + p;
                    const int32_t *nc = ncorr + j * KBQ;
                    const float *dx = dxf + j * KBQ;
                    switch (ns - j < NRQ ? ns - j : NRQ) {
                    case 4: kern_q(q4, pw, pd, kb, x, nb, nc, dx, 4, y, ldy, mr, first); break;
                    case 3: kern_q(q4, pw, pd, kb, x, nb, nc, dx, 3, y, ldy, mr, first); break;
                    case 2: kern_q(q4, pw, pd, kb, x, nb, nc, dx, 2, y, ldy, mr, first); break;
                    default: kern_q(q4, pw, pd, kb, x, nb, nc, dx, 1, y, ldy, mr, first); break;
                    }
                }
            }
        }
    }
}

void avx2_gemm_q8_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                    const block_q8_0 *Xq, int64_t N, float *Y, int64_t ldy) {
    gemm_q(0, W, row_bytes, r0, r1, K, Xq, N, Y, ldy);
}

void avx2_gemm_q4_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                    const block_q8_0 *Xq, int64_t N, float *Y, int64_t ldy) {
    gemm_q(1, W, row_bytes, r0, r1, K, Xq, N, Y, ldy);
}
