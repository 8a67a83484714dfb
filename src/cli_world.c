/* cli_world.c - `graft world --seed S --n N -o DIR`: writes the synthetic shapes world (PNG images,
 * ground truth and every task as graft eval JSONL) through graft_world_write (src/world.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "world.h"

static void usage(FILE *f) {
    fprintf(f,
            "usage: graft world --seed S --n N -o DIR [--size 64] [--max-shapes 3] [--mirror]\n"
            "\n"
            "Writes N scenes of the synthetic shapes world (docs/world.md) into DIR (created if\n"
            "missing): images/NNNNNN.png, scenes.jsonl (ground truth) and the tasks as graft eval\n"
            "JSONL: caption, vqa, mcq, pope_random, pope_popular, pope_adversarial, open (.jsonl).\n"
            "Image paths are relative to DIR (graft eval --images DIR). The same seed gives the\n"
            "same bytes on every machine.\n"
            "\n"
            "options:\n"
            "  --seed S        world seed (unsigned 64-bit integer)\n"
            "  --n N           number of scenes, 0..999999\n"
            "  -o DIR          output directory\n"
            "  --size PX       image side, %d..%d (default 64)\n"
            "  --max-shapes K  shapes per scene are 1..K, K in 1..%d (default 3)\n"
            "  --mirror        write each scene mirrored left-right (texts follow)\n"
            "  -h, --help      this text\n",
            GRAFT_WORLD_MIN_SIDE, GRAFT_WORLD_MAX_SIDE, GRAFT_WORLD_MAX_SHAPES);
}

/* A whole decimal number in [lo, hi]; 0 on success. */
static int parse_u64(const char *s, unsigned long long lo, unsigned long long hi,
                     unsigned long long *out) {
    if (!s || !*s || *s == '-' || *s == '+') return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_world(int argc, char **argv) {
    graft_world_params p = graft_world_default_params();
    const char *dir = NULL;
    unsigned long long seed = 0, n = 0, v;
    int have_seed = 0, have_n = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--mirror")) {
            p.mirror = 1;
            continue;
        } else if (!val) {
            fprintf(stderr, "graft world: %s needs a value (see graft world --help)\n", a);
            return 2;
        }
        int bad = 0;
        if (!strcmp(a, "--seed")) bad = parse_u64(val, 0, ~0ull, &seed), have_seed = 1;
        else if (!strcmp(a, "--n")) bad = parse_u64(val, 0, 999999, &n), have_n = 1;
        else if (!strcmp(a, "-o")) dir = val;
        else if (!strcmp(a, "--size")) {
            bad = parse_u64(val, GRAFT_WORLD_MIN_SIDE, GRAFT_WORLD_MAX_SIDE, &v);
            p.side = (int)v;
        } else if (!strcmp(a, "--max-shapes")) {
            bad = parse_u64(val, 1, GRAFT_WORLD_MAX_SHAPES, &v);
            p.max_shapes = (int)v;
        } else {
            fprintf(stderr, "graft world: unknown option '%s' (see graft world --help)\n", a);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "graft world: bad value '%s' for %s (see graft world --help)\n", val, a);
            return 2;
        }
        i++;
    }
    if (!have_seed || !have_n || !dir || !*dir) {
        fprintf(stderr, "graft world: --seed, --n and -o are required (see graft world --help)\n");
        return 2;
    }
    graft_world_summary sum;
    graft_error err;
    if (graft_world_write(dir, (uint64_t)seed, (int)n, &p, &sum, &err) != GRAFT_OK) {
        fprintf(stderr, "graft world: %s\n", err.msg);
        return 1;
    }
    printf("graft world: seed %llu: %d images (%dx%d, 1-%d shapes%s) and %zu captions, %zu vqa, "
           "%zu mcq, %zu yes/no (pope), %zu open samples in %s\n",
           seed, sum.n_images, p.side, p.side, p.max_shapes, p.mirror ? ", mirrored" : "",
           sum.n_samples[GRAFT_TASK_CAPTION], sum.n_samples[GRAFT_TASK_VQA],
           sum.n_samples[GRAFT_TASK_MCQ], sum.n_samples[GRAFT_TASK_YESNO],
           sum.n_samples[GRAFT_TASK_OPEN], dir);
    return 0;
}
