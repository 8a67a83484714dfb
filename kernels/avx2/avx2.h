/* avx2.h - declarations of the avx2 kernels (same signatures as kernels/ref/ref.h). Files in
 * kernels/avx2/ are compiled with only this variant's ISA flags (see the Makefile). */
#ifndef GRAFT_KERNELS_AVX2_H
#define GRAFT_KERNELS_AVX2_H

#include "../kernels.h"

#endif
