/* blas.c - OpenBLAS, loaded at run time with dlopen so that graft can choose its core type first.
 *
 * Why not link it: Debian's OpenBLAS 0.3.21 does not recognise recent Xeons and silently falls
 * back to its SSE3 "Prescott" kernels (~40 GFLOP/s sgemm on 2 cores instead of ~250). The core
 * type is read from OPENBLAS_CORETYPE once, when the library initialises, so it must be set
 * before the library loads. We set it (only when the user has not) for CPUs with AVX-512, load
 * the library, and check openblas_get_corename(): if the core is still a fallback one (the
 * library was already loaded by the host program, say), graft_blas_ready() says no and graft's
 * own kernels do the work. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

/* CBLAS enums, as in cblas.h */
enum { CblasRowMajor = 101, CblasNoTrans = 111, CblasTrans = 112 };

typedef void (*sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha,
                         const float *a, int lda, const float *b, int ldb, float beta, float *c,
                         int ldc);
typedef char *(*corename_fn)(void);
typedef void (*set_threads_fn)(int);

static pthread_once_t once = PTHREAD_ONCE_INIT;
static sgemm_fn p_sgemm;
static set_threads_fn p_set_threads;
static char corename[64] = "none";
static int ready;

static void load(void) {
    graft_cpu c = graft_cpu_detect();
    /* 0.3.21 knows SkylakeX (AVX-512F/BW/VL/DQ); Cooperlake adds bf16 kernels we do not use. */
    if (c.avx512f && c.avx512bw && c.avx512vl && !getenv("OPENBLAS_CORETYPE"))
        setenv("OPENBLAS_CORETYPE", "SkylakeX", 0);
    else if (c.avx2 && c.fma && !c.avx512f && !getenv("OPENBLAS_CORETYPE"))
        setenv("OPENBLAS_CORETYPE", "Haswell", 0);
    void *h = dlopen("libopenblas.so.0", RTLD_NOW | RTLD_LOCAL);
    if (!h) h = dlopen("libopenblas.so", RTLD_NOW | RTLD_LOCAL);
    if (!h) return;
    p_sgemm = (sgemm_fn)dlsym(h, "cblas_sgemm");
    corename_fn cn = (corename_fn)dlsym(h, "openblas_get_corename");
    p_set_threads = (set_threads_fn)dlsym(h, "openblas_set_num_threads");
    if (cn && cn()) {
        strncpy(corename, cn(), sizeof corename - 1);
        corename[sizeof corename - 1] = 0;
    } else {
        strcpy(corename, "unknown");
    }
    /* A generic fallback core on a CPU that has AVX2 means the detection failed: do not use it. */
    int fallback = !strcmp(corename, "Prescott") || !strcmp(corename, "Core2") ||
                   !strcmp(corename, "Nehalem") || !strcmp(corename, "Sandybridge") ||
                   !strncmp(corename, "unknown", 7);
    ready = p_sgemm != NULL && !(fallback && c.avx2);
}

int graft_blas_ready(void) {
    pthread_once(&once, load);
    return ready;
}

const char *graft_blas_corename(void) {
    pthread_once(&once, load);
    return corename;
}

void graft_blas_sgemm_nt(int64_t m, int64_t n, int64_t k, const float *A, int64_t lda,
                         const float *B, int64_t ldb, float *C, int64_t ldc, int n_threads) {
    pthread_once(&once, load);
    if (p_set_threads) p_set_threads(n_threads);
    p_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, (int)n, (int)k, 1.0f, A, (int)lda,
            B, (int)ldb, 0.0f, C, (int)ldc);
}
