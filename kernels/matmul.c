/* matmul.c - the matmul driver: splits output rows over OpenMP threads and calls the table's
 * gemv/gemm kernels; quantises activations to Q8_0 for block weights; sends large float batches
 * to OpenBLAS when it runs a proper core. Each output element is computed by exactly one thread
 * in a fixed order, so results are identical for any thread count. */
#include <omp.h>

#include "kernels.h"

/* Below this many activation rows the bandwidth-bound gemv/gemm kernels win over sgemm. */
#define BLAS_MIN_N 32

static int is_block(int t) { return t == GRAFT_TYPE_Q8_0 || t == GRAFT_TYPE_Q4_0; }

size_t graft_matmul_scratch_bytes(int wtype, int64_t M, int64_t K, int64_t N, int n_threads) {
    (void)M;
    (void)n_threads;
    if (is_block(wtype)) return (size_t)N * (size_t)(K / QK) * sizeof(block_q8_0);
    return 0;
}

void graft_matmul(const graft_kernels *kt, int wtype, const void *W, size_t row_bytes,
                  int64_t M, int64_t K, const float *X, int64_t ldx, int64_t N,
                  float *Y, int64_t ldy, void *scratch, int n_threads, unsigned flags) {
    if (!kt) kt = graft_kernels_get();
    if (n_threads < 1) n_threads = 1;
    if (wtype == GRAFT_TYPE_F32 && N >= BLAS_MIN_N && !(flags & GRAFT_MATMUL_NO_BLAS) &&
        graft_blas_ready()) {
        graft_blas_sgemm_nt(N, M, K, X, ldx, (const float *)W, (int64_t)(row_bytes / 4), Y, ldy,
                            n_threads);
        return;
    }
    block_q8_0 *xq = scratch;
    if (is_block(wtype)) {
        const int64_t nb = K / QK;
#pragma omp parallel for num_threads(n_threads) schedule(static)
        for (int64_t n = 0; n < N; n++) kt->quantize_q8_0(K, X + n * ldx, xq + n * nb);
    }
#pragma omp parallel num_threads(n_threads)
    {
        const int nt = omp_get_num_threads(), it = omp_get_thread_num();
        const int64_t r0 = M * it / nt, r1 = M * (it + 1) / nt;
        if (r1 > r0) {
            switch (wtype) {
            case GRAFT_TYPE_F32:
                if (N == 1) kt->gemv_f32(W, row_bytes, r0, r1, K, X, Y + r0);
                else kt->gemm_f32(W, row_bytes, r0, r1, K, X, ldx, N, Y, ldy);
                break;
            case GRAFT_TYPE_F16:
                if (N == 1) kt->gemv_f16(W, row_bytes, r0, r1, K, X, Y + r0);
                else kt->gemm_f16(W, row_bytes, r0, r1, K, X, ldx, N, Y, ldy);
                break;
            case GRAFT_TYPE_BF16:
                if (N == 1) kt->gemv_bf16(W, row_bytes, r0, r1, K, X, Y + r0);
                else kt->gemm_bf16(W, row_bytes, r0, r1, K, X, ldx, N, Y, ldy);
                break;
            case GRAFT_TYPE_Q8_0:
                if (N == 1) kt->gemv_q8_0(W, row_bytes, r0, r1, K, xq, Y + r0);
                else kt->gemm_q8_0(W, row_bytes, r0, r1, K, xq, N, Y, ldy);
                break;
            case GRAFT_TYPE_Q4_0:
                if (N == 1) kt->gemv_q4_0(W, row_bytes, r0, r1, K, xq, Y + r0);
                else kt->gemm_q4_0(W, row_bytes, r0, r1, K, xq, N, Y, ldy);
                break;
            default:
                break; /* callers validate types when the model loads */
            }
        }
    }
}
