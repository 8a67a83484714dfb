/* ref.h - the scalar reference kernels: plain C, always built, the truth every SIMD variant is
 * tested against. Signatures are those of graft_kernels (kernels/kernels.h). */
#ifndef GRAFT_KERNELS_REF_H
#define GRAFT_KERNELS_REF_H

#include "../kernels.h"

void ref_f32_to_f16(int64_t n, const float *x, uint16_t *y);
void ref_f16_to_f32(int64_t n, const uint16_t *x, float *y);
void ref_f32_to_bf16(int64_t n, const float *x, uint16_t *y);
void ref_bf16_to_f32(int64_t n, const uint16_t *x, float *y);
void ref_quantize_q8_0(int64_t n, const float *x, block_q8_0 *y);
void ref_quantize_q4_0(int64_t n, const float *x, block_q4_0 *y);
void ref_dequantize_q8_0(int64_t n, const block_q8_0 *x, float *y);
void ref_dequantize_q4_0(int64_t n, const block_q4_0 *x, float *y);

void ref_gemv_f32(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                  const float *x, float *y);
void ref_gemv_f16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                  const float *x, float *y);
void ref_gemv_bf16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                   const float *x, float *y);
void ref_gemv_q8_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                   const block_q8_0 *xq, float *y);
void ref_gemv_q4_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                   const block_q8_0 *xq, float *y);
void ref_gemm_f32(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                  const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy);
void ref_gemm_f16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                  const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy);
void ref_gemm_bf16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                   const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy);
void ref_gemm_q8_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                   const block_q8_0 *Xq, int64_t N, float *Y, int64_t ldy);
void ref_gemm_q4_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                   const block_q8_0 *Xq, int64_t N, float *Y, int64_t ldy);

float ref_dot(int64_t n, const float *x, const float *y);
void ref_add(int64_t n, const float *a, const float *b, float *out);
void ref_mul(int64_t n, const float *a, const float *b, float *out);
void ref_scale(int64_t n, float s, const float *x, float *out);
void ref_axpy(int64_t n, float a, const float *x, float *y);
void ref_rmsnorm(int64_t n, const float *x, const float *w, float eps, float *out);
void ref_layernorm(int64_t n, const float *x, const float *w, const float *b, float eps,
                   float *out);
void ref_softmax(int64_t n, float *x);
void ref_gelu_erf(int64_t n, const float *x, float *out);
void ref_gelu_tanh(int64_t n, const float *x, float *out);
void ref_quick_gelu(int64_t n, const float *x, float *out);
void ref_silu(int64_t n, const float *x, float *out);
void ref_relu(int64_t n, const float *x, float *out);
void ref_swiglu(int64_t n, const float *gate, const float *up, float *out);

#endif
