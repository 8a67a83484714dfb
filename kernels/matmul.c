/* matmul.c - the matmul driver: Y (N, M) = X (N, K) . W^T for every weight type. It quantises the
 * activations to Q8_0 for block weights, splits output rows over OpenMP threads and calls the
 * table's gemv (N = 1) or gemm kernels; large float batches go to OpenBLAS sgemm when it runs a
 * proper core (F16/BF16 weights are first widened to f32, a panel of rows at a time, into the
 * caller's scratch). Each output element is computed by exactly one thread in a fixed order, so
 * results are identical for any thread count. Nothing is allocated here. */
#include <omp.h>

#include "kernels.h"

/* F32 weights: from this many activation rows on, OpenBLAS sgemm (Y = X . W^T directly on the
 * weights). Below it, graft's gemm is as fast: the work is dominated by reading W once. */
#define BLAS_MIN_N 32

/* F16 / BF16 weights: from this many activation rows on, widen panels of W to f32 (in the
 * caller's scratch) and call sgemm on each. Measured on the 2-core AVX-512 Xeon this was written
 * on (OpenBLAS 0.3.21, SkylakeX core; graft avx512 gemm_f16; other jobs sharing the cores, so
 * +-10%): W 4096x4096, blas path / own gemm_f16 speed at N = 32, 64, 128, 256, 512 was
 * 0.59, 0.88, 0.99, 1.12, 1.25 on 1 thread (CPU time) and, with 32 MB panels, 0.79 (N = 128),
 * 1.03 (256), 1.20 (512) on 2 threads (wall time); W 4096x1024, 1 thread: 0.86 (128), 0.95 (256),
 * 1.15 (512). Below ~256 rows the conversion and OpenBLAS's packing do not pay for themselves. */
#define BLAS_MIN_N_HALF 256

/* Rows of W widened per sgemm call: about 32 MB of f32 per panel (a multiple of 64 rows, at least
 * 64). Few panels matter: each costs two thread synchronisations plus OpenBLAS's own, and with
 * 8 MB panels the blas path lost to gemm_f16 at every N on 2 threads when another process shared
 * a core (0.88 at N = 512). The scratch is per context, reused by every matmul. */
static int64_t panel_rows(int64_t M, int64_t K) {
    int64_t p = (int64_t)(32u << 20) / (4 * (K > 0 ? K : 1));
    p = p < 64 ? 64 : p / 64 * 64;
    return p < M ? p : M;
}

static int is_block(int t) { return t == GRAFT_TYPE_Q8_0 || t == GRAFT_TYPE_Q4_0; }
static int is_half(int t) { return t == GRAFT_TYPE_F16 || t == GRAFT_TYPE_BF16; }

size_t graft_matmul_scratch_bytes(int wtype, int64_t M, int64_t K, int64_t N, int n_threads) {
    (void)n_threads;
    if (is_block(wtype)) return (size_t)N * (size_t)(K / QK) * sizeof(block_q8_0);
    if (is_half(wtype) && N >= BLAS_MIN_N_HALF) return (size_t)panel_rows(M, K) * (size_t)K * 4;
    return 0;
}

/* Rows of M per work item, a multiple of `align` (the kernels' tile height) so that no tile is cut
 * in two: about `per_thread` items per thread. */
static int64_t chunk_rows(int64_t M, int nt, int per_thread, int64_t align) {
    int64_t c = (M + (int64_t)nt * per_thread - 1) / ((int64_t)nt * per_thread);
    c = (c + align - 1) / align * align;
    return c < align ? align : c;
}

/* F16/BF16 through sgemm: W rows [p, p + pr) widened into `panel` (pr, K), then
 * Y[:, p:p+pr] = X . panel^T. */
static void matmul_half_blas(const graft_kernels *kt, int wtype, const void *W, size_t row_bytes,
                             int64_t M, int64_t K, const float *X, int64_t ldx, int64_t N,
                             float *Y, int64_t ldy, float *panel, int n_threads) {
    const int64_t P = panel_rows(M, K);
    for (int64_t p = 0; p < M; p += P) {
        const int64_t pr = M - p < P ? M - p : P;
#pragma omp parallel for num_threads(n_threads) schedule(static)
        for (int64_t i = 0; i < pr; i++) {
            const uint16_t *w = (const uint16_t *)((const char *)W + (size_t)(p + i) * row_bytes);
            if (wtype == GRAFT_TYPE_F16) kt->f16_to_f32(K, w, panel + i * K);
            else kt->bf16_to_f32(K, w, panel + i * K);
        }
        graft_blas_sgemm_nt(N, pr, K, X, ldx, panel, K, Y + p, ldy, n_threads);
    }
}

void graft_matmul(const graft_kernels *kt, int wtype, const void *W, size_t row_bytes,
                  int64_t M, int64_t K, const float *X, int64_t ldx, int64_t N,
                  float *Y, int64_t ldy, void *scratch, int n_threads, unsigned flags) {
    if (!kt) kt = graft_kernels_get();
    if (n_threads < 1) n_threads = 1;
    if (M <= 0 || N <= 0) return;
    const int blas_ok = !(flags & GRAFT_MATMUL_NO_BLAS);
    if (wtype == GRAFT_TYPE_F32 && N >= BLAS_MIN_N && blas_ok && graft_blas_ready()) {
        graft_blas_sgemm_nt(N, M, K, X, ldx, (const float *)W, (int64_t)(row_bytes / 4), Y, ldy,
                            n_threads);
        return;
    }
    if (is_half(wtype) && N >= BLAS_MIN_N_HALF && blas_ok && scratch && graft_blas_ready()) {
        matmul_half_blas(kt, wtype, W, row_bytes, M, K, X, ldx, N, Y, ldy, (float *)scratch,
                         n_threads);
        return;
    }
    /* A small product is not worth a parallel region: starting and joining the threads costs
     * more than the work, and on a busy machine a descheduled thread makes the other spin at the
     * barrier (a 260K-parameter model ran 75x slower on 2 threads than on 1 under load). The
     * result does not change: every row is computed the same way by whichever thread. */
    if (M * K * N < GRAFT_MATMUL_MIN_PARALLEL) n_threads = 1;
    block_q8_0 *xq = scratch;
    const int64_t nb = K / QK;
    /* Work items are chunks of output rows. gemv and float gemm hand them out dynamically, several
     * per thread, so a thread whose core is shared with another process does not hold the others
     * up; block gemm splits statically (each call rebuilds per-activation tables, so fewer calls).
     * Which thread computes a row does not change how it is computed: the results stay the same. */
    const int dyn = N == 1 || !is_block(wtype);
    const int64_t chunk = chunk_rows(M, n_threads, dyn ? 8 : 1, N == 1 ? 4 : 32);
    const int64_t n_chunks = (M + chunk - 1) / chunk;
#pragma omp parallel num_threads(n_threads)
    {
        const int nt = omp_get_num_threads(), it = omp_get_thread_num();
        if (is_block(wtype)) {
            /* Quantise X in parallel, an equal share of all N * nb blocks per thread (a block's
             * quantisation does not depend on its neighbours, so the split changes nothing). */
            int64_t i = N * nb * it / nt;
            const int64_t i1 = N * nb * (it + 1) / nt;
            while (i < i1) {
                const int64_t n = i / nb, b = i % nb, cnt = nb - b < i1 - i ? nb - b : i1 - i;
                kt->quantize_q8_0(cnt * QK, X + n * ldx + b * QK, xq + n * nb + b);
                i += cnt;
            }
#pragma omp barrier
        }
#pragma omp for schedule(dynamic, 1)
        for (int64_t c = 0; c < n_chunks; c++) {
            const int64_t r0 = c * chunk, r1 = r0 + chunk < M ? r0 + chunk : M;
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
