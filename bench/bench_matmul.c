/* bench_matmul.c - graft's matmul kernels against the machine's limits, measured in the same run:
 *   matvec (N = 1, decode): GB/s of weight bytes read, over weights kept cold by rotating through
 *     copies worth > 2x the L3, as a ratio to the streaming-read bandwidth probe;
 *   matmul (prefill / ViT batches): GFLOP/s, as a ratio to OpenBLAS sgemm on the same shape and to
 *     the FMA peak probe.
 * Every case is first checked against the scalar reference on a sample of outputs, then warmed
 * up, then timed (median of 5). One parseable line per case on stdout; the table goes to
 * bench/results/matmul.md. Run from the repository root (make bench). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "util.h"

#define L3_BYTES (300.0 * 1048576.0) /* this machine's L3; the rotation covers > 2x of it */
#define COLD_BYTES (700.0 * 1048576.0)

static const graft_kernels *kt, *ref;
static double probe_bw[3];    /* [threads] GB/s */
static bench_fma probe_fma[3]; /* [threads] */
static int failures;

/* ---- results table ------------------------------------------------------------------------- */

typedef struct {
    char kind[8], what[24];
    long long M, K, N;
    int threads;
    double value, ratio1, ratio2; /* matvec: GB/s, bw ratio; matmul: GFLOP/s, vs sgemm, vs peak */
} result;
static result results[128];
static int n_results;

static void add_result(const char *kind, const char *what, int64_t M, int64_t K, int64_t N,
                       int threads, double v, double r1, double r2) {
    if (n_results >= 128) return;
    result *r = &results[n_results++];
    snprintf(r->kind, sizeof r->kind, "%s", kind);
    snprintf(r->what, sizeof r->what, "%s", what);
    r->M = M, r->K = K, r->N = N, r->threads = threads, r->value = v, r->ratio1 = r1, r->ratio2 = r2;
}

/* ---- data ---------------------------------------------------------------------------------- */

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) {
    rng ^= rng >> 12, rng ^= rng << 25, rng ^= rng >> 27;
    return (float)((rng * 0x2545F4914F6CDD1Dull) >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

static size_t row_bytes_of(int t, int64_t K) {
    switch (t) {
    case GRAFT_TYPE_F32: return (size_t)K * 4;
    case GRAFT_TYPE_F16:
    case GRAFT_TYPE_BF16: return (size_t)K * 2;
    case GRAFT_TYPE_Q8_0: return (size_t)(K / QK) * sizeof(block_q8_0);
    default: return (size_t)(K / QK) * sizeof(block_q4_0);
    }
}

/* W (M, K) of type t from uniform [-1, 1) values, made with the dispatched conversions. */
static void *make_weights(int t, int64_t M, int64_t K) {
    const size_t rb = row_bytes_of(t, K);
    char *W = malloc((size_t)M * rb);
    float *row = malloc((size_t)K * sizeof(float));
    for (int64_t i = 0; i < M; i++) {
        for (int64_t k = 0; k < K; k++) row[k] = frand();
        void *dst = W + (size_t)i * rb;
        switch (t) {
        case GRAFT_TYPE_F32: memcpy(dst, row, rb); break;
        case GRAFT_TYPE_F16: kt->f32_to_f16(K, row, dst); break;
        case GRAFT_TYPE_BF16: kt->f32_to_bf16(K, row, dst); break;
        case GRAFT_TYPE_Q8_0: kt->quantize_q8_0(K, row, dst); break;
        default: kt->quantize_q4_0(K, row, dst); break;
        }
    }
    free(row);
    return W;
}

/* Checks Y (N, M) at a sample of (n, r) against the reference gemv; the bound is the tests'
 * (tests/test_matmul.c): (2K + 64) u sum|w x| for float weights, (2K/32 + 64) u ... for blocks. */
static int verify(int t, const void *W, int64_t M, int64_t K, const float *X, int64_t N,
                  const float *Y, const char *label) {
    const size_t rb = row_bytes_of(t, K);
    const int64_t nb = K / QK;
    const int64_t ns[3] = {0, N / 2, N - 1}, rs[4] = {0, 1, M / 2, M - 1};
    float *wf = malloc((size_t)K * sizeof(float)), *xs = malloc((size_t)K * sizeof(float));
    block_q8_0 *xq = malloc((size_t)(nb + 1) * sizeof(block_q8_0));
    int bad = 0;
    for (int a = 0; a < 3; a++) {
        const float *x = X + ns[a] * K;
        if (t == GRAFT_TYPE_Q8_0 || t == GRAFT_TYPE_Q4_0) {
            ref->quantize_q8_0(K, x, xq);
            ref->dequantize_q8_0(K, xq, xs);
        } else {
            memcpy(xs, x, (size_t)K * sizeof(float));
        }
        for (int b = 0; b < 4; b++) {
            const int64_t r = rs[b];
            const void *w = (const char *)W + (size_t)r * rb;
            float want;
            switch (t) {
            case GRAFT_TYPE_F32: ref->gemv_f32(W, rb, r, r + 1, K, x, &want); memcpy(wf, w, rb); break;
            case GRAFT_TYPE_F16: ref->gemv_f16(W, rb, r, r + 1, K, x, &want); ref->f16_to_f32(K, w, wf); break;
            case GRAFT_TYPE_BF16: ref->gemv_bf16(W, rb, r, r + 1, K, x, &want); ref->bf16_to_f32(K, w, wf); break;
            case GRAFT_TYPE_Q8_0: ref->gemv_q8_0(W, rb, r, r + 1, K, xq, &want); ref->dequantize_q8_0(K, w, wf); break;
            default: ref->gemv_q4_0(W, rb, r, r + 1, K, xq, &want); ref->dequantize_q4_0(K, w, wf); break;
            }
            double s = 0.0;
            for (int64_t k = 0; k < K; k++) s += fabs((double)wf[k] * xs[k]);
            const int blk = t == GRAFT_TYPE_Q8_0 || t == GRAFT_TYPE_Q4_0;
            const double tol = (blk ? 2.0 * (double)nb + 64 : 2.0 * (double)K + 64) / 16777216.0 * s;
            const double got = Y[ns[a] * M + r];
            if (!(fabs(got - want) <= tol)) {
                fprintf(stderr, "VERIFY FAILED %s: (n=%lld, r=%lld) got %g want %g tol %g\n", label,
                        (long long)ns[a], (long long)r, got, (double)want, tol);
                bad++;
            }
        }
    }
    free(wf);
    free(xs);
    free(xq);
    failures += bad;
    return bad == 0;
}

/* ---- matvec: cold weights ------------------------------------------------------------------ */

typedef struct {
    int t, threads, copies;
    int64_t M, K;
    size_t bytes;
    const char *W;
    const float *x;
    float *y;
    void *scratch;
} mv_args;

static void mv_pass(void *p) { /* one call on each copy in turn */
    mv_args *a = p;
    for (int c = 0; c < a->copies; c++)
        graft_matmul(kt, a->t, a->W + (size_t)c * a->bytes, row_bytes_of(a->t, a->K), a->M, a->K,
                     a->x, a->K, 1, a->y, a->M, a->scratch, a->threads, 0);
}

static void matvec_case(int t, int64_t M, int64_t K) {
    mv_args a;
    a.t = t, a.M = M, a.K = K;
    a.bytes = row_bytes_of(t, K) * (size_t)M;
    a.copies = (int)ceil(COLD_BYTES / (double)a.bytes);
    char *W0 = make_weights(t, M, K);
    char *W = malloc(a.bytes * (size_t)a.copies);
    for (int c = 0; c < a.copies; c++) memcpy(W + (size_t)c * a.bytes, W0, a.bytes);
    free(W0);
    float *x = malloc((size_t)K * sizeof(float)), *y = malloc((size_t)M * sizeof(float));
    for (int64_t k = 0; k < K; k++) x[k] = frand();
    a.W = W, a.x = x, a.y = y;
    a.scratch = malloc(graft_matmul_scratch_bytes(t, M, K, 1, 2) + 64);
    char label[96];
    snprintf(label, sizeof label, "matvec %s M=%lld K=%lld", graft_type_name(t), (long long)M, (long long)K);
    a.threads = 2;
    graft_matmul(kt, t, W, row_bytes_of(t, K), M, K, x, K, 1, y, M, a.scratch, 2, 0);
    const int ok = verify(t, W, M, K, x, 1, y, label);
    for (int threads = 2; threads >= 1; threads--) {
        a.threads = threads;
        const double s = bench_time(mv_pass, &a, 1, 5) / a.copies;
        const double gbs = (double)a.bytes / s / 1e9;
        printf("matvec %s M=%lld K=%lld N=1 variant=%s threads=%d GB/s=%.1f bw_ratio=%.2f us=%.0f%s\n",
               graft_type_name(t), (long long)M, (long long)K, kt->name, threads, gbs,
               gbs / probe_bw[threads], s * 1e6, ok ? "" : " VERIFY=FAILED");
        fflush(stdout);
        add_result("matvec", graft_type_name(t), M, K, 1, threads, gbs, gbs / probe_bw[threads], 0);
    }
    free(W);
    free(x);
    free(y);
    free(a.scratch);
}

/* ---- matmul: batches ----------------------------------------------------------------------- */

enum { MODE_DRIVER, MODE_OWN, MODE_SGEMM };

typedef struct {
    int t, mode, threads;
    int64_t M, K, N;
    const void *W;
    const float *X;
    float *Y;
    void *scratch;
} mm_args;

static void mm_run(void *p) {
    mm_args *a = p;
    if (a->mode == MODE_SGEMM)
        graft_blas_sgemm_nt(a->N, a->M, a->K, a->X, a->K, a->W, a->K, a->Y, a->M, a->threads);
    else
        graft_matmul(kt, a->t, a->W, row_bytes_of(a->t, a->K), a->M, a->K, a->X, a->K, a->N, a->Y,
                     a->M, a->scratch, a->threads, a->mode == MODE_OWN ? GRAFT_MATMUL_NO_BLAS : 0);
}

static double matmul_case(const char *what, int t, int mode, int64_t M, int64_t K, int64_t N,
                          const void *W, const float *X, float *Y, double sgemm_gflops) {
    mm_args a = {t, mode, 2, M, K, N, W, X, Y, NULL};
    a.scratch = malloc(graft_matmul_scratch_bytes(t, M, K, N, 2) + 64);
    memset(Y, 0, (size_t)(N * M) * sizeof(float));
    mm_run(&a);
    char label[96];
    snprintf(label, sizeof label, "matmul %s M=%lld K=%lld N=%lld", what, (long long)M, (long long)K, (long long)N);
    const int ok = verify(t, W, M, K, X, N, Y, label);
    const double s = bench_time(mm_run, &a, 1, 5);
    const double gf = 2.0 * (double)N * (double)M * (double)K / s / 1e9;
    const double vs = sgemm_gflops > 0 ? gf / sgemm_gflops : 1.0;
    printf("matmul %s M=%lld K=%lld N=%lld variant=%s threads=2 GFLOP/s=%.1f vs_openblas=%.2f "
           "peak_ratio=%.2f ms=%.1f%s\n",
           what, (long long)M, (long long)K, (long long)N, kt->name, gf, vs, gf / probe_fma[2].gflops,
           s * 1e3, ok ? "" : " VERIFY=FAILED");
    fflush(stdout);
    add_result("matmul", what, M, K, N, 2, gf, vs, gf / probe_fma[2].gflops);
    free(a.scratch);
    return gf;
}

static void matmul_shape(int64_t N, int64_t M, int64_t K) {
    float *X = malloc((size_t)(N * K) * sizeof(float)), *Y = malloc((size_t)(N * M) * sizeof(float));
    for (int64_t i = 0; i < N * K; i++) X[i] = frand();
    void *Wf = make_weights(GRAFT_TYPE_F32, M, K);
    double sg = 0.0;
    if (graft_blas_ready()) sg = matmul_case("f32-openblas", GRAFT_TYPE_F32, MODE_SGEMM, M, K, N, Wf, X, Y, 0.0);
    matmul_case("f32-driver", GRAFT_TYPE_F32, MODE_DRIVER, M, K, N, Wf, X, Y, sg);
    matmul_case("f32-own", GRAFT_TYPE_F32, MODE_OWN, M, K, N, Wf, X, Y, sg);
    free(Wf);
    void *Wh = make_weights(GRAFT_TYPE_F16, M, K);
    matmul_case("f16-driver", GRAFT_TYPE_F16, MODE_DRIVER, M, K, N, Wh, X, Y, sg);
    matmul_case("f16-own", GRAFT_TYPE_F16, MODE_OWN, M, K, N, Wh, X, Y, sg);
    free(Wh);
    const int qt[2] = {GRAFT_TYPE_Q8_0, GRAFT_TYPE_Q4_0};
    for (int i = 0; i < 2; i++) {
        void *Wq = make_weights(qt[i], M, K);
        matmul_case(graft_type_name(qt[i]), qt[i], MODE_DRIVER, M, K, N, Wq, X, Y, sg);
        free(Wq);
    }
    free(X);
    free(Y);
}

/* ---- report -------------------------------------------------------------------------------- */

static void write_markdown(const char *path, const char *date, const char *cpu, double load0,
                           double load1) {
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(stderr, "cannot write %s\n", path);
        return;
    }
    fprintf(f, "# graft matmul benchmark\n\n");
    fprintf(f, "Written by `make bench` (bench/bench_matmul.c); overwritten by each run.\n\n");
    fprintf(f, "- date: %s\n- CPU: %s\n- kernel variant: %s\n- OpenBLAS core: %s\n", date, cpu,
            kt->name, graft_blas_corename());
    fprintf(f, "- load average (1 min) at start / end: %.2f / %.2f (other processes on the same "
               "cores make the numbers noisy)\n", load0, load1);
    fprintf(f, "- streaming read bandwidth probe: %.1f GB/s (1 thread), %.1f GB/s (2 threads), "
               "1 GiB buffer\n", probe_bw[1], probe_bw[2]);
    for (int t = 1; t <= 2; t++)
        fprintf(f, "- FMA peak probe, %d thread%s: %.1f GFLOP/s = %d x %.2f GHz (dependent-add chain) "
                   "x %.1f flop/cycle (measured, %s fma)\n", t, t > 1 ? "s" : "", probe_fma[t].gflops,
                t, probe_fma[t].ghz, probe_fma[t].flops_per_cycle, probe_fma[t].isa);
    fprintf(f, "\n## matvec (N = 1), weights cold (rotating > %.0f MiB of copies, L3 %.0f MiB)\n\n",
            COLD_BYTES / 1048576.0, L3_BYTES / 1048576.0);
    fprintf(f, "| type | M | K | threads | GB/s | / probe bandwidth |\n|---|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n_results; i++) {
        const result *r = &results[i];
        if (strcmp(r->kind, "matvec")) continue;
        fprintf(f, "| %s | %lld | %lld | %d | %.1f | %.2f |\n", r->what, r->M, r->K, r->threads,
                r->value, r->ratio1);
    }
    fprintf(f, "\n## matmul, 2 threads: Y (N, M) = X (N, K) . W^T\n\n");
    fprintf(f, "f32-own / f16-own: graft's kernels only (GRAFT_MATMUL_NO_BLAS); f32-driver / f16-driver: "
               "what graft_matmul picks (OpenBLAS for large batches). q8_0 / q4_0: graft's int8 VNNI "
               "gemm (activations quantised to Q8_0 inside the timing), counted as 2 N M K operations "
               "like the others: vpdpbusd does 64 multiply-adds per instruction against 16 for an f32 "
               "fma, so these can pass the f32 FMA peak.\n\n");
    fprintf(f, "| weights | M | K | N | GFLOP/s | / OpenBLAS sgemm | / FMA peak |\n"
               "|---|---:|---:|---:|---:|---:|---:|\n");
    for (int i = 0; i < n_results; i++) {
        const result *r = &results[i];
        if (strcmp(r->kind, "matmul")) continue;
        fprintf(f, "| %s | %lld | %lld | %lld | %.1f | %.2f | %.2f |\n", r->what, r->M, r->K, r->N,
                r->value, r->ratio1, r->ratio2);
    }
    fclose(f);
}

int main(void) {
    kt = graft_kernels_get();
    ref = graft_kernels_variant("ref");
    char cpu[256], date[64];
    bench_cpu_model(cpu, sizeof cpu);
    bench_date(date, sizeof date);
    const double load0 = bench_loadavg();
    const double t_start = bench_now();
    printf("machine cpu=\"%s\" variant=%s blas_core=%s blas_ready=%d loadavg=%.2f\n", cpu, kt->name,
           graft_blas_corename(), graft_blas_ready(), load0);
    for (int t = 1; t <= 2; t++) {
        probe_bw[t] = bench_bandwidth(t, (size_t)1 << 30);
        probe_fma[t] = bench_fma_probe(t);
        printf("probe threads=%d bandwidth_GB/s=%.1f fma_GFLOP/s=%.1f (= %d x %.2f GHz x %.1f flop/cycle, %s)\n",
               t, probe_bw[t], probe_fma[t].gflops, t, probe_fma[t].ghz,
               probe_fma[t].flops_per_cycle, probe_fma[t].isa);
    }
    fflush(stdout);

    const int types[5] = {GRAFT_TYPE_Q4_0, GRAFT_TYPE_Q8_0, GRAFT_TYPE_F16, GRAFT_TYPE_BF16, GRAFT_TYPE_F32};
    const int64_t mv[3][2] = {{4096, 4096}, {11008, 4096}, {4096, 11008}};
    for (int s = 0; s < 3; s++)
        for (int i = 0; i < 5; i++) matvec_case(types[i], mv[s][0], mv[s][1]);

    matmul_shape(577, 4096, 1024); /* ViT-L/14 at 336 px: 577 tokens, fc1 */
    matmul_shape(577, 1024, 4096); /* and fc2 */
    matmul_shape(512, 4096, 4096); /* Llama-7B prefill, 512 tokens: attention projections */
    matmul_shape(512, 11008, 4096); /* and the MLP's gate / up */

    const double load1 = bench_loadavg();
    write_markdown("bench/results/matmul.md", date, cpu, load0, load1);
    printf("done in %.0f s, %d verification failure%s, table in bench/results/matmul.md\n",
           bench_now() - t_start, failures, failures == 1 ? "" : "s");
    return failures ? 1 : 0;
}
