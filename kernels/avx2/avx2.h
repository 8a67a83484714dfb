/* avx2.h - declarations of the avx2 kernels (same signatures as kernels/ref/ref.h). Files in
 * kernels/avx2/ are compiled with only this variant's ISA flags (see the Makefile). */
#ifndef GRAFT_KERNELS_AVX2_H
#define GRAFT_KERNELS_AVX2_H

#include "../kernels.h"

/* row ops */
float avx2_dot(int64_t n, const float *x, const float *y);
void avx2_add(int64_t n, const float *a, const float *b, float *out);
void avx2_mul(int64_t n, const float *a, const float *b, float *out);
void avx2_scale(int64_t n, float s, const float *x, float *out);
void avx2_axpy(int64_t n, float a, const float *x, float *y);
void avx2_rmsnorm(int64_t n, const float *x, const float *w, float eps, float *out);
void avx2_layernorm(int64_t n, const float *x, const float *w, const float *b, float eps,
                    float *out);
void avx2_softmax(int64_t n, float *x);
void avx2_gelu_erf(int64_t n, const float *x, float *out);
void avx2_gelu_tanh(int64_t n, const float *x, float *out);
void avx2_quick_gelu(int64_t n, const float *x, float *out);
void avx2_silu(int64_t n, const float *x, float *out);
void avx2_relu(int64_t n, const float *x, float *out);
void avx2_swiglu(int64_t n, const float *gate, const float *up, float *out);
/* end row ops */

#endif
