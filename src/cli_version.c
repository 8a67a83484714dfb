/* cli_version.c - `graft version`: the version, the kernel variant and the BLAS core in use. */
#include <stdio.h>

#include "cli.h"
#include "graft.h"
#include "kernels.h"

int cli_version(int argc, char **argv) {
    (void)argc;
    (void)argv;
    graft_cpu c = graft_cpu_detect();
    printf("graft %s\n", graft_version());
    printf("kernels: %s (cpu: avx2=%d fma=%d f16c=%d avx512f=%d avx512bw=%d avx512vnni=%d "
           "avx512bf16=%d amx_int8=%d amx_bf16=%d)\n",
           graft_kernels_name(), c.avx2, c.fma, c.f16c, c.avx512f, c.avx512bw, c.avx512vnni,
           c.avx512bf16, c.amx_int8, c.amx_bf16);
    printf("openblas: %s (core %s)\n", graft_blas_ready() ? "in use for large f32 batches" : "not used",
           graft_blas_corename());
    return 0;
}
