/* kernels.h - the contract of graft's kernel layer: every hot loop, behind one table of function
 * pointers chosen once from cpuid. kernels/ref/ is plain C and is the truth; kernels/avx2/ and
 * kernels/avx512/ implement the same signatures, each compiled with only its own ISA flags.
 * Kernels know nothing of models or files: raw pointers, explicit sizes. See docs/kernels.md.
 *
 * Layout legend: a matrix W (M, K) is M rows of K elements, each row `row_bytes` apart, stored in
 * one graft_type (block types need K % 32 == 0). Activations are f32, row-major, contiguous. */
#ifndef GRAFT_KERNELS_H
#define GRAFT_KERNELS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "graft.h"

/* ---- block formats (exactly ggml's) ------------------------------------------------------ */

#define QK 32 /* elements per Q8_0 / Q4_0 block */

typedef struct {
    uint16_t d;      /* f16 scale */
    int8_t q[QK];    /* w[j] = d * q[j] */
} block_q8_0;        /* 34 bytes */

typedef struct {
    uint16_t d;          /* f16 scale */
    uint8_t qs[QK / 2];  /* w[j] = d * ((qs[j] & 15) - 8), w[j+16] = d * ((qs[j] >> 4) - 8) */
} block_q4_0;            /* 18 bytes */

_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 must be 34 bytes");
_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 must be 18 bytes");

/* ---- scalar conversions (the truth for every SIMD conversion) ---------------------------- */

/* IEEE half -> float, exact for every input incl. subnormals, inf, nan. */
static inline float graft_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f, man = h & 0x3ff, bits;
    if (exp == 0) {
        if (man == 0) {
            bits = sign;
        } else { /* subnormal: renormalise */
            exp = 127 - 15 + 1;
            while (!(man & 0x400)) { man <<= 1; exp--; }
            bits = sign | (exp << 23) | ((man & 0x3ff) << 13);
        }
    } else if (exp == 31) {
        bits = sign | 0x7f800000u | (man << 13);
    } else {
        bits = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* float -> IEEE half, round to nearest even (what F16C's vcvtps2ph with mode 0 does). */
static inline uint16_t graft_f32_to_f16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000;
    uint32_t ax = x & 0x7fffffffu;
    if (ax >= 0x7f800000u) /* inf or nan (keep a quiet nan) */
        return (uint16_t)(sign | 0x7c00 | (ax > 0x7f800000u ? 0x200 | ((ax >> 13) & 0x3ff) : 0));
    if (ax >= 0x477ff000u) /* rounds to >= 65520: overflow to inf */
        return (uint16_t)(sign | 0x7c00);
    if (ax < 0x38800000u) { /* result is subnormal or zero */
        if (ax < 0x33000000u) return (uint16_t)sign; /* < 2^-25: rounds to 0 */
        uint32_t e = ax >> 23, m = (ax & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14 + (113 - e) */
        uint32_t r = m >> shift, rem = m & ((1u << shift) - 1), half = 1u << (shift - 1);
        if (rem > half || (rem == half && (r & 1))) r++;
        return (uint16_t)(sign | r);
    }
    uint32_t r = ((ax - 0x38000000u) >> 13); /* rebias exponent 127 -> 15 */
    uint32_t rem = ax & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (r & 1))) r++;
    return (uint16_t)(sign | r);
}

/* bfloat16 is the top half of a float: widening is exact. */
static inline float graft_bf16_to_f32(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* float -> bfloat16, round to nearest even; nan stays nan. */
static inline uint16_t graft_f32_to_bf16(float f) {
    uint32_t x;
    memcpy(&x, &f, 4);
    if ((x & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((x >> 16) | 0x40);
    return (uint16_t)((x + 0x7fff + ((x >> 16) & 1)) >> 16);
}

/* ---- the kernel table -------------------------------------------------------------------- */

/* One variant's implementations. A variant may leave an entry NULL: the dispatcher then fills it
 * from the ref table, so every entry of the chosen table is callable. All row operations take n
 * elements, allow any n >= 1 (SIMD versions handle tails), and allow out == x unless noted. */
typedef struct graft_kernels {
    const char *name; /* "ref", "avx2", "avx512" */

    /* -- conversions and quantisation (n elements; block types need n % 32 == 0) -- */
    void (*f32_to_f16)(int64_t n, const float *x, uint16_t *y);
    void (*f16_to_f32)(int64_t n, const uint16_t *x, float *y);
    void (*f32_to_bf16)(int64_t n, const float *x, uint16_t *y);
    void (*bf16_to_f32)(int64_t n, const uint16_t *x, float *y);
    void (*quantize_q8_0)(int64_t n, const float *x, block_q8_0 *y);
    void (*quantize_q4_0)(int64_t n, const float *x, block_q4_0 *y);
    void (*dequantize_q8_0)(int64_t n, const block_q8_0 *x, float *y);
    void (*dequantize_q4_0)(int64_t n, const block_q4_0 *x, float *y);

    /* -- matrix rows: y[r - r0] ... see kernels/matmul.c for the driver that calls these --
     * gemv_T: y[i] = dot(W row (r0 + i), x) for i in [0, r1 - r0), W of type T, (M, K).
     * For Q8_0 / Q4_0, x arrives quantised to Q8_0 blocks (K / 32 of them), as ggml does;
     * for F32 / F16 / BF16, x is f32. */
    void (*gemv_f32)(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                     const float *x, float *y);
    void (*gemv_f16)(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                     const float *x, float *y);
    void (*gemv_bf16)(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const float *x, float *y);
    void (*gemv_q8_0)(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const block_q8_0 *xq, float *y);
    void (*gemv_q4_0)(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const block_q8_0 *xq, float *y);
    /* gemm_T: Y[n][r] = dot(W row r, X row n) for r in [r0, r1), n in [0, N). Y has leading
     * dimension ldy (>= M). X rows are f32 (ldx floats apart) for float W, Q8_0 blocks
     * (K / 32 blocks each, contiguous) for block W. */
    void (*gemm_f32)(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                     const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy);
    void (*gemm_f16)(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                     const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy);
    void (*gemm_bf16)(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy);
    void (*gemm_q8_0)(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const block_q8_0 *Xq, int64_t N, float *Y, int64_t ldy);
    void (*gemm_q4_0)(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const block_q8_0 *Xq, int64_t N, float *Y, int64_t ldy);

    /* -- row operations on f32 -- */
    float (*dot)(int64_t n, const float *x, const float *y);
    void (*add)(int64_t n, const float *a, const float *b, float *out);      /* a + b */
    void (*mul)(int64_t n, const float *a, const float *b, float *out);      /* a * b */
    void (*scale)(int64_t n, float s, const float *x, float *out);           /* s * x */
    void (*axpy)(int64_t n, float a, const float *x, float *y);              /* y += a x */
    /* y = x / sqrt(mean(x^2) + eps) * w   (w may be NULL = ones) */
    void (*rmsnorm)(int64_t n, const float *x, const float *w, float eps, float *out);
    /* y = (x - mean) / sqrt(var + eps) * w + b   (biased variance; w, b may be NULL) */
    void (*layernorm)(int64_t n, const float *x, const float *w, const float *b, float eps,
                      float *out);
    /* in place, numerically stable (subtracts the max); all -inf gives all 0 */
    void (*softmax)(int64_t n, float *x);
    void (*gelu_erf)(int64_t n, const float *x, float *out);   /* 0.5 x (1 + erf(x / sqrt 2)) */
    void (*gelu_tanh)(int64_t n, const float *x, float *out);  /* 0.5 x (1 + tanh(sqrt(2/pi)(x + 0.044715 x^3))) */
    void (*quick_gelu)(int64_t n, const float *x, float *out); /* x sigmoid(1.702 x) */
    void (*silu)(int64_t n, const float *x, float *out);       /* x sigmoid(x) */
    void (*relu)(int64_t n, const float *x, float *out);
    /* out = silu(gate) * up */
    void (*swiglu)(int64_t n, const float *gate, const float *up, float *out);
} graft_kernels;

/* The table for this CPU (after GRAFT_KERNELS=ref|avx2|avx512, which can only lower the choice).
 * Thread-safe; the choice is made once. */
const graft_kernels *graft_kernels_get(void);
/* A specific variant's table, NULL entries filled from ref; NULL if the CPU cannot run it
 * or the name is unknown. For tests and benchmarks. */
const graft_kernels *graft_kernels_variant(const char *name);

/* Per-variant tables, defined in kernels/<variant>/ (NULL entries allowed). */
extern const graft_kernels graft_kernels_ref;
extern const graft_kernels graft_kernels_avx2;
extern const graft_kernels graft_kernels_avx512;

/* CPU features, from cpuid + xgetbv (OS support for the register state is checked). */
typedef struct graft_cpu {
    int avx2, fma, f16c, avx512f, avx512bw, avx512vl, avx512vnni, avx512bf16, amx_int8, amx_bf16;
} graft_cpu;
graft_cpu graft_cpu_detect(void);

/* ---- composite kernels: plain C drivers over the table, parallel with OpenMP ------------- */

/* Products of fewer multiply-adds (M * K * N) run on one thread whatever n_threads says. */
#define GRAFT_MATMUL_MIN_PARALLEL ((int64_t)1 << 16)

/* Y (N, M) = X (N, K) . W^T for W (M, K) of type `wtype`. X rows are ldx floats apart, Y rows
 * ldy floats apart. `scratch` holds quantised activations (block W) or converted weight panels
 * (the BLAS path for F16/BF16): graft_matmul_scratch_bytes() tells how much; it is sized once by
 * the caller so the per-token path allocates nothing. Each output element is computed by one
 * thread in a fixed order, so results do not depend on n_threads. kt NULL = graft_kernels_get().
 * Large F32/F16/BF16 batches go to OpenBLAS sgemm when it runs proper kernels (kernels/blas.c),
 * unless flags has GRAFT_MATMUL_NO_BLAS (tests and benchmarks compare both paths). */
enum { GRAFT_MATMUL_NO_BLAS = 1 };
size_t graft_matmul_scratch_bytes(int wtype, int64_t M, int64_t K, int64_t N, int n_threads);
void graft_matmul(const graft_kernels *kt, int wtype, const void *W, size_t row_bytes,
                  int64_t M, int64_t K, const float *X, int64_t ldx, int64_t N,
                  float *Y, int64_t ldy, void *scratch, int n_threads, unsigned flags);

enum { GRAFT_ROPE_NORM = 0, GRAFT_ROPE_NEOX = 2 }; /* ggml's mode numbers */

/* RoPE in place on one token's heads. x: (n_head, head_dim); rotates the first n_rot dims of
 * each head by angle pos * freq_scale * freq_base^(-2i / n_rot) for pair i.
 * GRAFT_ROPE_NORM pairs (2i, 2i+1) (ggml mode 0: llama.cpp's layout for llama GGUF files);
 * GRAFT_ROPE_NEOX pairs (i, i + n_rot/2) (GPT-NeoX, Hugging Face's rotate_half). */
void graft_rope(float *x, int n_head, int head_dim, int n_rot, int64_t pos, float freq_base,
                float freq_scale, int mode);

typedef struct graft_attn_params {
    int n_q;            /* query rows (tokens) */
    int n_kv;           /* key/value rows to attend over */
    int n_head;         /* query heads */
    int n_head_kv;      /* key/value heads; query head h reads kv head h / (n_head / n_head_kv) */
    int head_dim;
    int causal;         /* query i sits at kv position q_pos0 + i and sees keys j <= that */
    int64_t q_pos0;
    float scale;        /* usually 1 / sqrt(head_dim) */
    const float *mask;  /* optional additive mask (n_q, n_kv), -INFINITY hides; NULL = none */
    int kv_type;        /* GRAFT_TYPE_F32 or GRAFT_TYPE_F16 */
} graft_attn_params;

/* out (n_q, n_head * head_dim) = softmax(scale Q K^T + mask) V, per head.
 * Q: (n_q, n_head * head_dim) f32, rows q_stride floats apart;
 * K, V: (n_kv, n_head_kv * head_dim) of kv_type, rows k_row_bytes / v_row_bytes apart;
 * scratch: graft_attention_scratch_floats() floats. Parallel over (query, head) pairs. */
size_t graft_attention_scratch_floats(const graft_attn_params *p, int n_threads);
void graft_attention(const graft_kernels *kt, const graft_attn_params *p, const float *Q,
                     int64_t q_stride, const void *K, size_t k_row_bytes, const void *V,
                     size_t v_row_bytes, float *out, int64_t out_stride, float *scratch,
                     int n_threads);

/* ---- OpenBLAS, loaded at run time (kernels/blas.c) --------------------------------------- */

/* Loads OpenBLAS once (dlopen), first setting OPENBLAS_CORETYPE for CPUs Debian's 0.3.21 does not
 * recognise (it would fall back to its SSE3 "Prescott" kernels, ~6x slower). Returns 1 when
 * sgemm is available and runs a proper core, 0 otherwise (graft then uses its own kernels). */
int graft_blas_ready(void);
/* The core OpenBLAS reports ("SkylakeX", "Prescott", ...), or "none" when not loaded. */
const char *graft_blas_corename(void);
/* Row-major C (m, n) = A (m, k) . B^T, B given as (n, k) rows; lda/ldb/ldc in floats. Only valid
 * after graft_blas_ready() returned 1. Uses n_threads OpenMP threads. */
void graft_blas_sgemm_nt(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                         const float *B, int64_t ldb, float *C, int64_t ldc, int n_threads);

#endif /* GRAFT_KERNELS_H */
