/* table.c - the avx2 variant's kernel table. NULL entries fall back to ref (kernels/dispatch.c);
 * an entry is set only where this variant has a tested implementation. */
#include "avx2.h"

const graft_kernels graft_kernels_avx2 = {
    .name = "avx2",
    .dot = avx2_dot,
    .add = avx2_add,
    .mul = avx2_mul,
    .scale = avx2_scale,
    .axpy = avx2_axpy,
    .rmsnorm = avx2_rmsnorm,
    .layernorm = avx2_layernorm,
    .softmax = avx2_softmax,
    .gelu_erf = avx2_gelu_erf,
    .gelu_tanh = avx2_gelu_tanh,
    .quick_gelu = avx2_quick_gelu,
    .silu = avx2_silu,
    .relu = avx2_relu,
    .swiglu = avx2_swiglu,
};
