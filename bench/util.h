/* util.h - shared pieces of graft's benchmarks (linked into every bench/bench_*.c program):
 * a median-of-runs timer, and the machine limits each benchmark reports its ratios against,
 * measured in the same run: streaming read bandwidth and FMA peak. */
#ifndef GRAFT_BENCH_UTIL_H
#define GRAFT_BENCH_UTIL_H

#include <stddef.h>
#include <stdio.h>

/* Monotonic seconds. */
double bench_now(void);

/* Median of n values (n >= 1; the array is sorted in place). */
double bench_median(double *t, int n);

/* Calls fn(arg) `warmup` times, then times `runs` calls (runs <= 64); returns the median in s. */
double bench_time(void (*fn)(void *), void *arg, int warmup, int runs);

/* Streaming-read bandwidth in GB/s (1e9 bytes/s): n_threads threads each sum their share of a
 * `bytes` buffer (use >> L3) with the widest vector loads this CPU has; median of 5 passes. */
double bench_bandwidth(int n_threads, size_t bytes);

/* FMA peak in GFLOP/s on n_threads threads, with how it was derived. */
typedef struct {
    double gflops;          /* measured: all threads together */
    double ghz;             /* measured clock: a chain of dependent integer adds (1 cycle each) */
    double flops_per_cycle; /* per core: gflops / threads / ghz */
    int threads;
    const char *isa;        /* "avx512" (16-lane fma) or "avx2" (8-lane fma) */
} bench_fma;
bench_fma bench_fma_probe(int n_threads);

/* "model name" from /proc/cpuinfo, or "unknown". */
void bench_cpu_model(char *buf, size_t n);

/* The 1-minute load average (other processes sharing the cores make timings noisy). */
double bench_loadavg(void);

/* Date and time, "YYYY-MM-DD HH:MM:SS". */
void bench_date(char *buf, size_t n);

#endif
