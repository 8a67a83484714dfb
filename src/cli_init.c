/* cli_init.c - `graft init --preset NAME -o FILE.gguf [--type T] [--seed N]`: a random-weight
 * model at a real model's shape, for benchmarks without downloads. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "init.h"

static int type_from_name(const char *s) {
    const int types[] = {GRAFT_TYPE_F32, GRAFT_TYPE_F16, GRAFT_TYPE_BF16, GRAFT_TYPE_Q8_0, GRAFT_TYPE_Q4_0};
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, graft_type_name(types[i]))) return types[i];
    return -1;
}

static void usage(FILE *f) {
    fprintf(f, "usage: graft init --preset NAME -o FILE.gguf [--type f32|f16|bf16|q8_0|q4_0] [--seed N] [-t N]\n"
               "presets:");
    for (const graft_init_llama *p = graft_init_presets(); p->name; p++) fprintf(f, " %s", p->name);
    fprintf(f, "\n");
}

int cli_init(int argc, char **argv) {
    const char *preset = NULL, *out = NULL, *tname = "f16";
    unsigned long long seed = 1;
    int threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "graft init: %s needs a value\n", a);
            return 2;
        }
        if (!strcmp(a, "--preset")) preset = argv[++i];
        else if (!strcmp(a, "-o")) out = argv[++i];
        else if (!strcmp(a, "--type")) tname = argv[++i];
        else if (!strcmp(a, "--seed")) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(a, "-t")) threads = atoi(argv[++i]);
        else {
            fprintf(stderr, "graft init: unknown option '%s'\n", a);
            return 2;
        }
    }
    if (!preset || !out) {
        usage(stderr);
        return 2;
    }
    const graft_init_llama *hp = graft_init_find(preset);
    int type = type_from_name(tname);
    if (!hp || type < 0) {
        fprintf(stderr, "graft init: unknown %s '%s'\n", hp ? "type" : "preset", hp ? tname : preset);
        return 2;
    }
    double gib = (double)graft_init_llama_bytes(hp, type) / (1 << 30);
    fprintf(stderr, "graft init: writing %s (%s, %.2f GiB) to %s\n", hp->name, tname, gib, out);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    graft_error e;
    if (graft_init_llama_write(hp, type, seed, threads, out, &e)) {
        fprintf(stderr, "graft init: %s\n", e.msg);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    fprintf(stderr, "graft init: done in %.1f s\n", (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    return 0;
}
