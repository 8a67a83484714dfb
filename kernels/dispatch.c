/* dispatch.c - picks the kernel table for this CPU once (cpuid + xgetbv), honours the
 * GRAFT_KERNELS=ref|avx2|avx512 override, and fills a variant's NULL entries from ref. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>

static uint64_t xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

graft_cpu graft_cpu_detect(void) {
    graft_cpu c;
    memset(&c, 0, sizeof c);
    unsigned a, b, cx, d;
    if (!__get_cpuid(1, &a, &b, &cx, &d)) return c;
    int osxsave = (cx >> 27) & 1;
    if (!osxsave) return c;
    uint64_t xcr0 = xgetbv0();
    int ymm_os = (xcr0 & 0x6) == 0x6;            /* SSE + AVX state */
    int zmm_os = (xcr0 & 0xe6) == 0xe6;          /* + opmask, ZMM_Hi256, Hi16_ZMM */
    int amx_os = (xcr0 & (3u << 17)) == (3u << 17); /* XTILECFG + XTILEDATA */
    int avx = (cx >> 28) & 1;
    c.fma = ymm_os && avx && ((cx >> 12) & 1);
    c.f16c = ymm_os && avx && ((cx >> 29) & 1);
    if (__get_cpuid_max(0, NULL) < 7) return c;
    __cpuid_count(7, 0, a, b, cx, d);
    c.avx2 = ymm_os && avx && ((b >> 5) & 1);
    c.avx512f = zmm_os && ((b >> 16) & 1);
    c.avx512bw = c.avx512f && ((b >> 30) & 1);
    c.avx512vl = c.avx512f && ((b >> 31) & 1);
    c.avx512vnni = c.avx512f && ((cx >> 11) & 1);
    c.amx_bf16 = amx_os && ((d >> 22) & 1);
    c.amx_int8 = amx_os && ((d >> 25) & 1);
    __cpuid_count(7, 1, a, b, cx, d);
    c.avx512bf16 = c.avx512f && ((a >> 5) & 1);
    return c;
}
#else
graft_cpu graft_cpu_detect(void) {
    graft_cpu c;
    memset(&c, 0, sizeof c);
    return c;
}
#endif

static int cpu_runs(const graft_cpu *c, const char *name) {
    if (!strcmp(name, "ref")) return 1;
    if (!strcmp(name, "avx2")) return c->avx2 && c->fma && c->f16c;
    if (!strcmp(name, "avx512"))
        return c->avx2 && c->fma && c->f16c && c->avx512f && c->avx512bw && c->avx512vl &&
               c->avx512vnni;
    return 0;
}

/* Filled tables: the variant with each NULL entry replaced by ref's. */
static graft_kernels filled[3];
static pthread_once_t filled_once = PTHREAD_ONCE_INIT;
static const graft_kernels *chosen;

static void fill(graft_kernels *out, const graft_kernels *v) {
    /* The table is a name followed only by function pointers: walk it as such. */
    typedef void (*fn)(void);
    *out = *v;
    fn *dst = (fn *)((char *)out + offsetof(graft_kernels, f32_to_f16));
    const fn *ref = (const fn *)((const char *)&graft_kernels_ref + offsetof(graft_kernels, f32_to_f16));
    size_t n = (sizeof(graft_kernels) - offsetof(graft_kernels, f32_to_f16)) / sizeof(fn);
    for (size_t i = 0; i < n; i++)
        if (!dst[i]) dst[i] = ref[i];
}

static void init_tables(void) {
    fill(&filled[0], &graft_kernels_ref);
    fill(&filled[1], &graft_kernels_avx2);
    fill(&filled[2], &graft_kernels_avx512);
    graft_cpu c = graft_cpu_detect();
    const char *want = getenv("GRAFT_KERNELS");
    const char *order[3] = {"avx512", "avx2", "ref"};
    chosen = &filled[0];
    for (int i = 0; i < 3; i++) {
        if (!cpu_runs(&c, order[i])) continue;
        /* the override can only lower the choice: skip variants above the one asked for */
        if (want && *want) {
            int want_rank = !strcmp(want, "avx512") ? 0 : !strcmp(want, "avx2") ? 1 : 2;
            if (i < want_rank) continue;
        }
        chosen = &filled[2 - i];
        break;
    }
}

const graft_kernels *graft_kernels_get(void) {
    pthread_once(&filled_once, init_tables);
    return chosen;
}

const graft_kernels *graft_kernels_variant(const char *name) {
    pthread_once(&filled_once, init_tables);
    graft_cpu c = graft_cpu_detect();
    if (!name || !cpu_runs(&c, name)) return NULL;
    if (!strcmp(name, "ref")) return &filled[0];
    if (!strcmp(name, "avx2")) return &filled[1];
    return &filled[2];
}

const char *graft_kernels_name(void) { return graft_kernels_get()->name; }
