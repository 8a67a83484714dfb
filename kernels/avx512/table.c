/* table.c - the avx512 variant's kernel table. NULL entries fall back to ref (kernels/dispatch.c);
 * an entry is set only where this variant has a tested implementation. */
#include "avx512.h"

const graft_kernels graft_kernels_avx512 = {
    .name = "avx512",
};
