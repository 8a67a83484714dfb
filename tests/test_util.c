/* test_util.c - helpers shared by the Check suites (see test_util.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_util.h"

const char *tu_shared(const char *rel) {
    static char buf[8][4096];
    static int slot;
    const char *root = getenv("GRAFT_SHARED");
    if (!root || !*root) root = "../shared";
    char *p = buf[slot++ % 8];
    snprintf(p, 4096, "%s/%s", root, rel);
    struct stat st;
    if (stat(p, &st) != 0) {
        fprintf(stderr, "SKIP: %s is absent (set GRAFT_SHARED to the shared data folder)\n", p);
        return NULL;
    }
    return p;
}

static char tmpdir[256];

static void rm_tmpdir(void) {
    if (!tmpdir[0]) return;
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) { /* nothing more to do */ }
}

const char *tu_tmpdir(void) {
    if (!tmpdir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(tmpdir, sizeof tmpdir, "%s/graft-test-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(tmpdir)) {
            perror("mkdtemp");
            abort();
        }
        atexit(rm_tmpdir);
    }
    return tmpdir;
}

const char *tu_tmppath(const char *name) {
    static char buf[8][512];
    static int slot;
    char *p = buf[slot++ % 8];
    snprintf(p, 512, "%s/%s", tu_tmpdir(), name);
    return p;
}

void tu_fill(tu_rng *r, float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * tu_uniform(r);
}

double tu_max_abs_err(const char *label, const float *a, const float *b, size_t n, double tol) {
    double m = 0.0;
    int shown = 0;
    for (size_t i = 0; i < n; i++) {
        double e = fabs((double)a[i] - (double)b[i]);
        if (isnan(a[i]) != isnan(b[i])) e = INFINITY;
        if (e > m) m = e;
        if (e > tol && shown < 5) {
            fprintf(stderr, "  %s[%zu]: got %.9g want %.9g (err %.3g > tol %.3g)\n", label, i,
                    (double)a[i], (double)b[i], e, tol);
            shown++;
        }
    }
    return m;
}

double tu_max_abs(const float *a, size_t n) {
    double m = 0.0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)a[i]));
    return m;
}

void *tu_read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *p = n >= 0 ? malloc((size_t)n + 1) : NULL; /* NUL-terminated, so text files can be parsed as strings */
    if (p && n > 0 && fread(p, 1, (size_t)n, f) != (size_t)n) {
        free(p);
        p = NULL;
    }
    if (p) p[n] = 0;
    fclose(f);
    if (len) *len = (size_t)n;
    return p;
}
