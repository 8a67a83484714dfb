/* matmul.c - reference matrix-vector and matrix-matrix products for every weight type.
 * Float types accumulate in f32 in index order. Block types take activations already quantised
 * to Q8_0 and sum int8 products exactly in int32 per block, then scale by d_w * d_x, as ggml's
 * vec_dot_q8_0_q8_0 / vec_dot_q4_0_q8_0 do. */
#include "ref.h"

#define ROW(W, row_bytes, r) ((const char *)(W) + (size_t)(r) * (row_bytes))

void ref_gemv_f32(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                  const float *x, float *y) {
    for (int64_t r = r0; r < r1; r++) {
        const float *w = (const float *)ROW(W, row_bytes, r);
        float s = 0.0f;
        for (int64_t k = 0; k < K; k++) s += w[k] * x[k];
        y[r - r0] = s;
    }
}

void ref_gemv_f16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                  const float *x, float *y) {
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *w = (const uint16_t *)ROW(W, row_bytes, r);
        float s = 0.0f;
        for (int64_t k = 0; k < K; k++) s += graft_f16_to_f32(w[k]) * x[k];
        y[r - r0] = s;
    }
}

void ref_gemv_bf16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                   const float *x, float *y) {
    for (int64_t r = r0; r < r1; r++) {
        const uint16_t *w = (const uint16_t *)ROW(W, row_bytes, r);
        float s = 0.0f;
        for (int64_t k = 0; k < K; k++) s += graft_bf16_to_f32(w[k]) * x[k];
        y[r - r0] = s;
    }
}

void ref_gemv_q8_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                   const block_q8_0 *xq, float *y) {
    for (int64_t r = r0; r < r1; r++) {
        const block_q8_0 *w = (const block_q8_0 *)ROW(W, row_bytes, r);
        float s = 0.0f;
        for (int64_t b = 0; b < K / QK; b++) {
            int32_t acc = 0;
            for (int j = 0; j < QK; j++) acc += (int32_t)w[b].q[j] * xq[b].q[j];
            s += (float)acc * (graft_f16_to_f32(w[b].d) * graft_f16_to_f32(xq[b].d));
        }
        y[r - r0] = s;
    }
}

void ref_gemv_q4_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                   const block_q8_0 *xq, float *y) {
    for (int64_t r = r0; r < r1; r++) {
        const block_q4_0 *w = (const block_q4_0 *)ROW(W, row_bytes, r);
        float s = 0.0f;
        for (int64_t b = 0; b < K / QK; b++) {
            int32_t acc = 0;
            for (int j = 0; j < QK / 2; j++) {
                acc += ((w[b].qs[j] & 0x0f) - 8) * xq[b].q[j];
                acc += ((w[b].qs[j] >> 4) - 8) * xq[b].q[j + QK / 2];
            }
            s += (float)acc * (graft_f16_to_f32(w[b].d) * graft_f16_to_f32(xq[b].d));
        }
        y[r - r0] = s;
    }
}

/* The matrix-matrix references are the matrix-vector ones, one activation row at a time:
 * the truth for a batch is exactly the truth for each of its rows. */
void ref_gemm_f32(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                  const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy) {
    for (int64_t n = 0; n < N; n++) ref_gemv_f32(W, row_bytes, r0, r1, K, X + n * ldx, Y + n * ldy + r0);
}

void ref_gemm_f16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                  const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy) {
    for (int64_t n = 0; n < N; n++) ref_gemv_f16(W, row_bytes, r0, r1, K, X + n * ldx, Y + n * ldy + r0);
}

void ref_gemm_bf16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                   const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy) {
    for (int64_t n = 0; n < N; n++) ref_gemv_bf16(W, row_bytes, r0, r1, K, X + n * ldx, Y + n * ldy + r0);
}

void ref_gemm_q8_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                   const block_q8_0 *Xq, int64_t N, float *Y, int64_t ldy) {
    for (int64_t n = 0; n < N; n++) ref_gemv_q8_0(W, row_bytes, r0, r1, K, Xq + n * (K / QK), Y + n * ldy + r0);
}

void ref_gemm_q4_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                   const block_q8_0 *Xq, int64_t N, float *Y, int64_t ldy) {
    for (int64_t n = 0; n < N; n++) ref_gemv_q4_0(W, row_bytes, r0, r1, K, Xq + n * (K / QK), Y + n * ldy + r0);
}
