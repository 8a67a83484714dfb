/* cli_init.c - `graft init --preset NAME -o OUT [--type T] [--mmproj-type T] [--seed N]`: a
 * random-weight model at a real model's shape, for benchmarks without downloads. For a decoder
 * preset (llama, OPT) OUT is the .gguf file; for a vision preset (LLaVA, BLIP-2, InstructBLIP) OUT
 * is a directory that receives OUT/model.gguf and OUT/mmproj.gguf. */
#include <stdint.h>
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
    fprintf(f, "usage: graft init --preset NAME -o OUT [--type f32|f16|bf16|q8_0|q4_0] [--mmproj-type T] [--seed N] [-t N]\n"
               "  decoder presets (OUT is the .gguf file):");
    for (const graft_init_llama *p = graft_init_presets(); p->name; p++) fprintf(f, " %s", p->name);
    for (const graft_init_opt *p = graft_init_opt_presets(); p->name; p++) fprintf(f, " %s", p->name);
    fprintf(f, "\n  vision presets (OUT is a directory; writes OUT/model.gguf and OUT/mmproj.gguf):");
    for (const graft_init_llava *p = graft_init_llava_presets(); p->name; p++) fprintf(f, " %s", p->name);
    for (const graft_init_blip *p = graft_init_blip_presets(); p->name; p++) fprintf(f, " %s", p->name);
    fprintf(f, "\n  --type sets the decoder's matrices and, unless --mmproj-type is given, the mmproj's\n"
               "  (q8_0/q4_0 included; the patch-embedding kernel is then f16, vectors are always f32)\n");
}

/* "3.53 GiB", "595.4 MiB", "102 KiB" into buf. */
static const char *human_size(uint64_t bytes, char *buf, size_t cap) {
    if (bytes >= (1ull << 30)) snprintf(buf, cap, "%.2f GiB", (double)bytes / (1ull << 30));
    else if (bytes >= (1ull << 20)) snprintf(buf, cap, "%.1f MiB", (double)bytes / (1ull << 20));
    else snprintf(buf, cap, "%.0f KiB", (double)bytes / 1024);
    return buf;
}

static double seconds_since(const struct timespec *t0) {
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (t1.tv_sec - t0->tv_sec) + (t1.tv_nsec - t0->tv_nsec) / 1e9;
}

int cli_init(int argc, char **argv) {
    const char *preset = NULL, *out = NULL, *tname = "f16", *mtname = NULL;
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
        else if (!strcmp(a, "--mmproj-type")) mtname = argv[++i];
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
    const graft_init_opt *op = hp ? NULL : graft_init_opt_find(preset);
    const graft_init_llava *lv = hp || op ? NULL : graft_init_llava_find(preset);
    const graft_init_blip *bp = hp || op || lv ? NULL : graft_init_blip_find(preset);
    if (!hp && !op && !lv && !bp) {
        fprintf(stderr, "graft init: unknown preset '%s' (graft init --help lists them)\n", preset);
        return 2;
    }
    if (!mtname) mtname = tname;
    const int type = type_from_name(tname), mtype = type_from_name(mtname);
    if (type < 0 || mtype < 0) {
        fprintf(stderr, "graft init: unknown type '%s'\n", type < 0 ? tname : mtname);
        return 2;
    }
    if ((hp || op) && mtname != tname) {
        fprintf(stderr, "graft init: --mmproj-type applies to vision presets only\n");
        return 2;
    }
    struct timespec t0;
    graft_error e;
    if (hp) {
        char sz[32];
        fprintf(stderr, "graft init: writing %s (%s, %s) to %s\n", hp->name, tname,
                human_size(graft_init_llama_bytes(hp, type), sz, sizeof sz), out);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (graft_init_llama_write(hp, type, seed, threads, out, &e)) {
            fprintf(stderr, "graft init: %s\n", e.msg);
            return 1;
        }
    } else if (op) {
        char sz[32];
        fprintf(stderr, "graft init: writing %s (%s, %s) to %s\n", op->name, tname,
                human_size(graft_init_opt_bytes(op, type), sz, sizeof sz), out);
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (graft_init_opt_write(op, type, seed, threads, out, &e)) {
            fprintf(stderr, "graft init: %s\n", e.msg);
            return 1;
        }
    } else if (bp) {
        const graft_init_opt *o = graft_init_opt_find(bp->llm);
        const graft_init_llama *l = o ? NULL : graft_init_find(bp->llm);
        const uint64_t bl = o ? graft_init_opt_bytes(o, type) : graft_init_llama_bytes(l, type),
                       bm = graft_init_blip_mmproj_bytes(&bp->vision, mtype);
        char st[32], sl[32], sm[32];
        fprintf(stderr, "graft init: writing %s (%s) to %s/: model.gguf (%s, %s, %s), mmproj.gguf (%s, %s)\n",
                bp->name, human_size(bl + bm, st, sizeof st), out, bp->llm, tname, human_size(bl, sl, sizeof sl),
                mtname, human_size(bm, sm, sizeof sm));
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (graft_init_blip_write(bp, type, mtype, seed, threads, out, &e)) {
            fprintf(stderr, "graft init: %s\n", e.msg);
            return 1;
        }
    } else {
        const graft_init_llama *llm = graft_init_find(lv->llm);
        const uint64_t bl = graft_init_llama_bytes(llm, type), bm = graft_init_mmproj_bytes(&lv->vision, mtype);
        char st[32], sl[32], sm[32];
        fprintf(stderr, "graft init: writing %s (%s) to %s/: model.gguf (%s, %s, %s), mmproj.gguf (%s, %s)\n",
                lv->name, human_size(bl + bm, st, sizeof st), out, llm->name, tname, human_size(bl, sl, sizeof sl),
                mtname, human_size(bm, sm, sizeof sm));
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if (graft_init_llava_write(lv, type, mtype, seed, threads, out, &e)) {
            fprintf(stderr, "graft init: %s\n", e.msg);
            return 1;
        }
    }
    fprintf(stderr, "graft init: done in %.1f s\n", seconds_since(&t0));
    return 0;
}
