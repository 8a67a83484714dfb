/* table.c - the avx2 variant's kernel table. NULL entries fall back to ref (kernels/dispatch.c);
 * an entry is set only where this variant has a tested implementation. */
#include "avx2.h"

const graft_kernels graft_kernels_avx2 = {
    .name = "avx2",
};
