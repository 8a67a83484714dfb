/* cli_quantize.c - `graft quantize IN.gguf OUT.gguf q8_0|q4_0|f16|bf16|f32 [-t N]`: rewrites a GGUF
 * decoder or mmproj with its matrices in another type (rules: src/quantize.h), one line per tensor.
 * Also home of the per-tensor report `graft convert` prints. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "quantize.h"

/* "32.0 MiB" / "4.5 KiB" */
static const char *size_str(size_t bytes, char *buf, size_t cap) {
    if (bytes >= (1u << 20)) snprintf(buf, cap, "%.1f MiB", (double)bytes / (1u << 20));
    else snprintf(buf, cap, "%.1f KiB", (double)bytes / 1024);
    return buf;
}

void cli_quant_report(void *ctx, const graft_quant_tensor *t) {
    cli_quant_totals *tot = ctx;
    char shape[96] = "", a[32], b[32];
    size_t n = 0;
    for (int d = 0; d < t->n_dims; d++)
        n += (size_t)snprintf(shape + n, sizeof shape - n, "%s%lld", d ? ", " : "", (long long)t->ne[d]);
    const char *sn = graft_ggml_type_name(t->src_type), *dn = graft_ggml_type_name(t->dst_type);
    printf("[%4lld/%4lld] %s  %s [%s] -> %s  (%s -> %s)%s%s%s\n", (long long)t->index + 1, (long long)t->n_tensors,
           t->name, sn ? sn : "?", shape, dn ? dn : "?", size_str(t->src_bytes, a, sizeof a),
           size_str(t->dst_bytes, b, sizeof b), t->note ? "  [" : "", t->note ? t->note : "", t->note ? "]" : "");
    fflush(stdout);
    if (tot) {
        tot->src_bytes += t->src_bytes;
        tot->dst_bytes += t->dst_bytes;
        tot->n_tensors++;
        tot->n_changed += t->src_type != t->dst_type;
    }
}

void cli_quant_total(const cli_quant_totals *tot, double seconds) {
    char a[32], b[32];
    printf("total: %s -> %s, %lld tensors (%lld converted), %.2f s\n", size_str(tot->src_bytes, a, sizeof a),
           size_str(tot->dst_bytes, b, sizeof b), tot->n_tensors, tot->n_changed, seconds);
}

/* f32 f16 bf16 q8_0 q4_0 -> GRAFT_TYPE_*, else -1 */
int cli_quant_type(const char *s) {
    const int types[] = {GRAFT_TYPE_F32, GRAFT_TYPE_F16, GRAFT_TYPE_BF16, GRAFT_TYPE_Q8_0, GRAFT_TYPE_Q4_0};
    for (int i = 0; i < 5; i++)
        if (!strcmp(s, graft_type_name(types[i]))) return types[i];
    return -1;
}

static void usage(FILE *f) {
    fprintf(f, "usage: graft quantize IN.gguf OUT.gguf q8_0|q4_0|f16|bf16|f32 [-t N]\n"
               "  rewrites a llama decoder or a clip mmproj with its matrices in the given type, as\n"
               "  llama.cpp's llama-quantize does (1-D tensors and norms keep their type; the output\n"
               "  matrix of a q4_0 file is q8_0 where llama.cpp uses q6_K; rows that are not a multiple\n"
               "  of 32 fall back to f16). Already-quantized inputs are refused.\n");
}

int cli_quantize(int argc, char **argv) {
    const char *pos[3] = {0};
    int n_pos = 0, threads = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(a, "-t")) {
            if (i + 1 >= argc || (threads = atoi(argv[++i])) < 1) {
                fprintf(stderr, "graft quantize: -t needs a thread count >= 1\n");
                return 2;
            }
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "graft quantize: unknown option '%s'\n", a);
            return 2;
        } else if (n_pos < 3) {
            pos[n_pos++] = a;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (n_pos != 3) {
        usage(stderr);
        return 2;
    }
    graft_quant_params p = graft_quant_default_params();
    if ((p.type = cli_quant_type(pos[2])) < 0) {
        fprintf(stderr, "graft quantize: unknown type '%s' (q8_0, q4_0, f16, bf16 or f32)\n", pos[2]);
        return 2;
    }
    cli_quant_totals tot = {0};
    p.n_threads = threads;
    p.progress = cli_quant_report;
    p.progress_ctx = &tot;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    graft_error err;
    if (graft_quant_file(pos[0], pos[1], &p, &err)) {
        fprintf(stderr, "graft quantize: %s\n", err.msg);
        return 1;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    cli_quant_total(&tot, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
    printf("wrote %s\n", pos[1]);
    return 0;
}
