/* avx512.h - declarations of the avx512 kernels (same signatures as kernels/ref/ref.h). Files in
 * kernels/avx512/ are compiled with only this variant's ISA flags (see the Makefile). */
#ifndef GRAFT_KERNELS_AVX512_H
#define GRAFT_KERNELS_AVX512_H

#include "../kernels.h"

#endif
