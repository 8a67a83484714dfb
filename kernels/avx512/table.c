/* table.c - the avx512 variant's kernel table. NULL entries fall back to ref (kernels/dispatch.c);
 * an entry is set only where this variant has a tested implementation. */
#include "avx512.h"

const graft_kernels graft_kernels_avx512 = {
    .name = "avx512",
    .dot = avx512_dot,
    .add = avx512_add,
    .mul = avx512_mul,
    .scale = avx512_scale,
    .axpy = avx512_axpy,
    .rmsnorm = avx512_rmsnorm,
    .layernorm = avx512_layernorm,
    .softmax = avx512_softmax,
    .gelu_erf = avx512_gelu_erf,
    .gelu_tanh = avx512_gelu_tanh,
    .quick_gelu = avx512_quick_gelu,
    .silu = avx512_silu,
    .relu = avx512_relu,
    .swiglu = avx512_swiglu,
};
