/* cli_convert.c - `graft convert HF_DIR -o model.gguf [--mmproj-out mmproj.gguf] [--type T] [-t N]`:
 * a Hugging Face LLaVA/llama checkpoint directory to llama.cpp-layout GGUF files. src/hf.c gives a
 * GGUF view of the directory (llama.cpp's tensor names, Q/K permutation and keys); the rewrite
 * engine (src/quantize.h) writes it with convert_hf_to_gguf.py's type rules (the legacy
 * convert_image_encoder_to_gguf.py's for the mmproj). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "quantize.h"

#include "hf.h"

static void usage(FILE *f) {
    fprintf(f, "usage: graft convert HF_DIR -o model.gguf [--mmproj-out mmproj.gguf] [--type f32|f16|bf16|q8_0|q4_0] [-t N]\n"
               "  default type: matrices keep the checkpoint's dtype, 1-D tensors f32. When HF_DIR has a\n"
               "  vision tower and --mmproj-out is not given, the mmproj goes to mmproj-<name of -o> beside -o.\n");
}

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

/* Opens one part of dir as a GGUF view and writes it. *absent is set when the part does not
 * exist (no vision tower) and absent_ok. Returns the exit status. */
static int convert_part(const char *dir, graft_hf_part part, const char *out, const graft_quant_params *base,
                        int absent_ok, int *absent) {
    graft_gguf *g;
    graft_error err;
    int rc = graft_hf_open_gguf(dir, part, GRAFT_HF_LLAMACPP, &g, &err);
    if (rc == GRAFT_E_NOTFOUND && absent_ok) {
        *absent = 1;
        return 0;
    }
    if (rc) {
        fprintf(stderr, "graft convert: %s\n", err.msg);
        return 1;
    }
    cli_quant_totals tot = {0};
    graft_quant_params p = *base;
    p.progress = cli_quant_report;
    p.progress_ctx = &tot;
    const double t0 = now();
    rc = graft_quant_write(g, out, &p, &err);
    graft_gguf_close(g);
    if (rc) {
        fprintf(stderr, "graft convert: %s\n", err.msg);
        return 1;
    }
    cli_quant_total(&tot, now() - t0);
    printf("wrote %s\n", out);
    return 0;
}

int cli_convert(int argc, char **argv) {
    const char *dir = NULL, *out = NULL, *mmproj_out = NULL, *tname = NULL;
    int threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (a[0] == '-' && a[1]) {
            if (i + 1 >= argc) {
                fprintf(stderr, "graft convert: %s needs a value\n", a);
                return 2;
            }
            if (!strcmp(a, "-o")) out = argv[++i];
            else if (!strcmp(a, "--mmproj-out")) mmproj_out = argv[++i];
            else if (!strcmp(a, "--type")) tname = argv[++i];
            else if (!strcmp(a, "-t")) threads = atoi(argv[++i]);
            else {
                fprintf(stderr, "graft convert: unknown option '%s'\n", a);
                return 2;
            }
        } else if (!dir) {
            dir = a;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (!dir || !out) {
        usage(stderr);
        return 2;
    }
    graft_quant_params p = graft_quant_default_params();
    p.rules = GRAFT_QUANT_RULES_CONVERT;
    p.type = GRAFT_QUANT_KEEP;
    p.n_threads = threads > 0 ? threads : 1;
    if (tname && (p.type = cli_quant_type(tname)) < 0) {
        fprintf(stderr, "graft convert: unknown type '%s' (f32, f16, bf16, q8_0 or q4_0)\n", tname);
        return 2;
    }
    if (!graft_hf_is_dir(dir)) {
        fprintf(stderr, "graft convert: %s is not a Hugging Face model directory (config.json + *.safetensors)\n", dir);
        return 1;
    }
    int rc = convert_part(dir, GRAFT_HF_LLM, out, &p, 0, NULL);
    if (rc) return rc;
    /* the vision tower: mmproj-<basename of -o> beside -o unless --mmproj-out names it */
    char auto_path[4096];
    const char *mp = mmproj_out;
    if (!mp) {
        const char *slash = strrchr(out, '/');
        const int dlen = slash ? (int)(slash - out + 1) : 0;
        snprintf(auto_path, sizeof auto_path, "%.*smmproj-%s", dlen, out, slash ? slash + 1 : out);
        mp = auto_path;
    }
    int absent = 0;
    rc = convert_part(dir, GRAFT_HF_MMPROJ, mp, &p, !mmproj_out, &absent);
    if (!rc && !absent && !mmproj_out) printf("the checkpoint has a vision tower: its mmproj went to %s\n", mp);
    return rc;
}
