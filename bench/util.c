/* util.c - timers and machine probes shared by the benchmarks (see util.h). The probes use
 * per-function target attributes so that this file builds with the default flags and still
 * measures the AVX-512 / AVX2 units when the CPU has them. */
#include "util.h"

#include <immintrin.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kernels.h"

double bench_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
    const double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double bench_median(double *t, int n) {
    qsort(t, (size_t)n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

double bench_time(void (*fn)(void *), void *arg, int warmup, int runs) {
    double t[64];
    if (runs > 64) runs = 64;
    if (runs < 1) runs = 1;
    for (int i = 0; i < warmup; i++) fn(arg);
    for (int i = 0; i < runs; i++) {
        const double t0 = bench_now();
        fn(arg);
        t[i] = bench_now() - t0;
    }
    return bench_median(t, runs);
}

/* ---- bandwidth ------------------------------------------------------------------------------ */

__attribute__((target("avx512f"))) static float sum512(const float *p, size_t n) {
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 64 <= n; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(p + i));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(p + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(p + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(p + i + 48));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

__attribute__((target("avx2"))) static float sum256(const float *p, size_t n) {
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(p + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(p + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(p + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(p + i + 24));
    }
    float s[8];
    _mm256_storeu_ps(s, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    return s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
}

static volatile float bench_sink;

double bench_bandwidth(int n_threads, size_t bytes) {
    const size_t n = bytes / sizeof(float) / 1024 * 1024;
    float *buf = malloc(n * sizeof(float));
    if (!buf) return 0.0;
    const graft_cpu c = graft_cpu_detect();
    const int wide = c.avx512f;
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (size_t i = 0; i < n; i++) buf[i] = 1.0f; /* first touch by the thread that reads it */
    double t[5];
    for (int run = 0; run < 6; run++) {
        const double t0 = bench_now();
        float total = 0.0f;
#pragma omp parallel num_threads(n_threads) reduction(+ : total)
        {
            const int nt = omp_get_num_threads(), it = omp_get_thread_num();
            const size_t lo = n / 1024 * (size_t)it / (size_t)nt * 1024;
            const size_t hi = n / 1024 * (size_t)(it + 1) / (size_t)nt * 1024;
            total += wide ? sum512(buf + lo, hi - lo) : sum256(buf + lo, hi - lo);
        }
        const double dt = bench_now() - t0;
        bench_sink = total;
        if (run > 0) t[run - 1] = dt; /* the first pass is a warm-up */
    }
    free(buf);
    return (double)(n * sizeof(float)) / bench_median(t, 5) / 1e9;
}

/* ---- FMA peak ------------------------------------------------------------------------------ */

/* 12 independent accumulators hide the fma latency (4 cycles) at 2 fma per cycle. */
__attribute__((target("avx512f"))) static float fma_loop512(long iters) {
    __m512 a[12];
    for (int j = 0; j < 12; j++) a[j] = _mm512_set1_ps((float)j);
    const __m512 m = _mm512_set1_ps(0.999999f), c = _mm512_set1_ps(1e-6f);
    for (long i = 0; i < iters; i++) {
        _Pragma("GCC unroll 12") for (int j = 0; j < 12; j++) a[j] = _mm512_fmadd_ps(a[j], m, c);
    }
    __m512 s = a[0];
    for (int j = 1; j < 12; j++) s = _mm512_add_ps(s, a[j]);
    return _mm512_reduce_add_ps(s);
}

__attribute__((target("avx2,fma"))) static float fma_loop256(long iters) {
    __m256 a[12];
    for (int j = 0; j < 12; j++) a[j] = _mm256_set1_ps((float)j);
    const __m256 m = _mm256_set1_ps(0.999999f), c = _mm256_set1_ps(1e-6f);
    for (long i = 0; i < iters; i++) {
        _Pragma("GCC unroll 12") for (int j = 0; j < 12; j++) a[j] = _mm256_fmadd_ps(a[j], m, c);
    }
    float s[8];
    __m256 t = a[0];
    for (int j = 1; j < 12; j++) t = _mm256_add_ps(t, a[j]);
    _mm256_storeu_ps(s, t);
    return s[0] + s[7];
}

/* Clock: 100 dependent register-register adds per loop iteration, one cycle each (an add of an
 * immediate would not do: recent cores fold chains of those at rename, zero cycles each). */
static double ghz_probe(void) {
    double best = 0.0;
    for (int rep = 0; rep < 5; rep++) {
        uint64_t x = 1, iters = 2000000;
        const double t0 = bench_now();
#if defined(__x86_64__)
        __asm__ volatile("1:\n\t.rept 100\n\tadd %0, %0\n\t.endr\n\tdec %1\n\tjnz 1b"
                         : "+r"(x), "+r"(iters));
#endif
        const double dt = bench_now() - t0;
        const double ghz = 100.0 * 2000000.0 / dt / 1e9;
        if (ghz > best) best = ghz;
    }
    return best;
}

bench_fma bench_fma_probe(int n_threads) {
    bench_fma r;
    const graft_cpu c = graft_cpu_detect();
    const int wide = c.avx512f && !strcmp(graft_kernels_get()->name, "avx512");
    const long iters = 20000000;
    const double flops = (double)iters * 12 * (wide ? 16 : 8) * 2;
    double t[5];
    for (int run = 0; run < 5; run++) {
        double worst = 0.0;
#pragma omp parallel num_threads(n_threads) reduction(max : worst)
        {
            const double t0 = bench_now();
            bench_sink = wide ? fma_loop512(iters) : fma_loop256(iters);
            worst = bench_now() - t0;
        }
        t[run] = worst;
    }
    r.threads = n_threads;
    r.isa = wide ? "avx512" : "avx2";
    r.gflops = flops * n_threads / bench_median(t, 5) / 1e9;
    r.ghz = ghz_probe();
    r.flops_per_cycle = r.gflops / n_threads / r.ghz;
    return r;
}

/* ---- machine description ------------------------------------------------------------------- */

void bench_cpu_model(char *buf, size_t n) {
    snprintf(buf, n, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (!strncmp(line, "model name", 10)) {
            const char *p = strchr(line, ':');
            if (p) {
                p++;
                while (*p == ' ') p++;
                snprintf(buf, n, "%s", p);
                buf[strcspn(buf, "\n")] = 0;
            }
            break;
        }
    }
    fclose(f);
}

double bench_loadavg(void) {
    double l = -1.0;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1) l = -1.0;
        fclose(f);
    }
    return l;
}

void bench_date(char *buf, size_t n) {
    const time_t now = time(NULL);
    struct tm tm;
    localtime_r(&now, &tm);
    strftime(buf, n, "%Y-%m-%d %H:%M:%S", &tm);
}
