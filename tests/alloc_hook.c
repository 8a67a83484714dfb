/* alloc_hook.c - a failing-allocator hook for the test binary. The test link wraps malloc, calloc
 * and realloc (-Wl,--wrap=...), so every call from graft's static library and from the tests goes
 * through here; shared libraries (Check, cJSON, libc's own strdup) are not affected. When armed
 * with tu_alloc_fail_after(n), the (n+1)-th allocation from now on fails (returns NULL), once,
 * so a test can walk n = 0, 1, 2, ... through every allocation of an operation. */
#include <stdatomic.h>
#include <stddef.h>
#include <execinfo.h>
#include <stdlib.h>

#include "test_util.h"

void *__real_malloc(size_t n);
void *__real_calloc(size_t k, size_t n);
void *__real_realloc(void *p, size_t n);

static _Atomic long countdown = -1; /* < 0: disarmed */
static _Atomic int failed;

void tu_alloc_fail_after(long n) {
    failed = 0;
    countdown = n;
}

int tu_alloc_disarm(void) {
    countdown = -1;
    return failed;
}

static int should_fail(void) {
    long c = atomic_load(&countdown);
    while (c >= 0) {
        if (atomic_compare_exchange_weak(&countdown, &c, c - 1)) {
            if (c == 0) {
                failed = 1;
                if (getenv("TU_ALLOC_TRACE")) { void *b[16]; int k = backtrace(b, 16); backtrace_symbols_fd(b, k, 2); }
                return 1;
            }
            return 0;
        }
    }
    return 0;
}

void *__wrap_malloc(size_t n) { return should_fail() ? NULL : __real_malloc(n); }
void *__wrap_calloc(size_t k, size_t n) { return should_fail() ? NULL : __real_calloc(k, n); }
void *__wrap_realloc(void *p, size_t n) { return should_fail() ? NULL : __real_realloc(p, n); }
