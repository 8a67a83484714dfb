/* avx512.h - declarations of the avx512 kernels (same signatures as kernels/ref/ref.h). Files in
 * kernels/avx512/ are compiled with only this variant's ISA flags (see the Makefile). */
#ifndef GRAFT_KERNELS_AVX512_H
#define GRAFT_KERNELS_AVX512_H

#include "../kernels.h"

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
