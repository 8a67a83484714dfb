/* test_util.h - helpers shared by graft's Check suites: ../shared lookup with skip messages,
 * deterministic random data, and array comparison that reports the worst errors. */
#ifndef GRAFT_TEST_UTIL_H
#define GRAFT_TEST_UTIL_H

#include <check.h>
#include <stddef.h>
#include <stdint.h>

/* Path of `rel` inside the shared data folder (GRAFT_SHARED, default ../shared), or NULL after
 * printing "SKIP <test>: ../shared/<rel> is absent" once. The result is a static buffer per call
 * site slot: copy it if you need two at once. */
const char *tu_shared(const char *rel);
/* A fresh temporary directory for this test process (removed at exit), and paths in it. */
const char *tu_tmpdir(void);
const char *tu_tmppath(const char *name);

/* xorshift64* generator */
typedef struct { uint64_t s; } tu_rng;
static inline uint64_t tu_next(tu_rng *r) {
    r->s ^= r->s >> 12; r->s ^= r->s << 25; r->s ^= r->s >> 27;
    return r->s * 0x2545F4914F6CDD1DULL;
}
static inline float tu_uniform(tu_rng *r) { /* [-1, 1) */
    return (float)((tu_next(r) >> 40) * (1.0 / 8388608.0)) - 1.0f;
}
void tu_fill(tu_rng *r, float *x, size_t n, float scale);

/* Max |a - b| over n values, and prints the first few pairs exceeding tol with a label. Returns
 * the max error; callers assert on it. */
double tu_max_abs_err(const char *label, const float *a, const float *b, size_t n, double tol);
double tu_max_abs(const float *a, size_t n);

/* The failing-allocator hook (tests/alloc_hook.c): after tu_alloc_fail_after(n), the (n+1)-th
 * malloc/calloc/realloc made by graft or the tests fails once. tu_alloc_disarm() turns it off and
 * says whether the failure happened (0: the operation needed fewer than n+1 allocations). */
void tu_alloc_fail_after(long n);
int tu_alloc_disarm(void);

/* Read a whole file into a malloc'd buffer; NULL on failure. */
void *tu_read_file(const char *path, size_t *len); /* malloc'd, one NUL past *len */

#endif
