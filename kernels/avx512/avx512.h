/* avx512.h - declarations of the avx512 kernels (same signatures as kernels/ref/ref.h). Files in
 * kernels/avx512/ are compiled with only this variant's ISA flags (see the Makefile). */
#ifndef GRAFT_KERNELS_AVX512_H
#define GRAFT_KERNELS_AVX512_H

#include "../kernels.h"

/* matmul + conversions (kernels/avx512/convert.c, kernels/avx512/matmul.c) */
void avx512_f32_to_f16(int64_t n, const float *x, uint16_t *y);
void avx512_f16_to_f32(int64_t n, const uint16_t *x, float *y);
void avx512_f32_to_bf16(int64_t n, const float *x, uint16_t *y);
void avx512_bf16_to_f32(int64_t n, const uint16_t *x, float *y);
void avx512_quantize_q8_0(int64_t n, const float *x, block_q8_0 *y);
void avx512_quantize_q4_0(int64_t n, const float *x, block_q4_0 *y);
void avx512_dequantize_q8_0(int64_t n, const block_q8_0 *x, float *y);
void avx512_dequantize_q4_0(int64_t n, const block_q4_0 *x, float *y);
void avx512_gemv_f32(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                     const float *x, float *y);
void avx512_gemv_f16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                     const float *x, float *y);
void avx512_gemv_bf16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const float *x, float *y);
void avx512_gemv_q8_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const block_q8_0 *xq, float *y);
void avx512_gemv_q4_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const block_q8_0 *xq, float *y);
void avx512_gemm_f32(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                     const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy);
void avx512_gemm_f16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                     const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy);
void avx512_gemm_bf16(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const float *X, int64_t ldx, int64_t N, float *Y, int64_t ldy);
void avx512_gemm_q8_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const block_q8_0 *Xq, int64_t N, float *Y, int64_t ldy);
void avx512_gemm_q4_0(const void *W, size_t row_bytes, int64_t r0, int64_t r1, int64_t K,
                      const block_q8_0 *Xq, int64_t N, float *Y, int64_t ldy);
/* end matmul + conversions */

/* row ops */
float avx512_dot(int64_t n, const float *x, const float *y);
void avx512_add(int64_t n, const float *a, const float *b, float *out);
void avx512_mul(int64_t n, const float *a, const float *b, float *out);
void avx512_scale(int64_t n, float s, const float *x, float *out);
void avx512_axpy(int64_t n, float a, const float *x, float *y);
void avx512_rmsnorm(int64_t n, const float *x, const float *w, float eps, float *out);
void avx512_layernorm(int64_t n, const float *x, const float *w, const float *b, float eps,
                      float *out);
void avx512_softmax(int64_t n, float *x);
void avx512_gelu_erf(int64_t n, const float *x, float *out);
void avx512_gelu_tanh(int64_t n, const float *x, float *out);
void avx512_quick_gelu(int64_t n, const float *x, float *out);
void avx512_silu(int64_t n, const float *x, float *out);
void avx512_relu(int64_t n, const float *x, float *out);
void avx512_swiglu(int64_t n, const float *gate, const float *up, float *out);
/* end row ops */

#endif
