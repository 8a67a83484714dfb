/* bench_decode.c - decoder speed at real model shapes: prompt processing (512 tokens, one batch)
 * and generation (128 tokens, one at a time) for random-weight models written on the fly by
 * graft init (Llama-7B shape in Q4_0 and Q8_0, a 1.1B llama in F16). Generation is bandwidth-bound:
 * each token reads every weight matrix once, so the decode rate is also shown as weight bytes per
 * second against the streaming-read bandwidth measured in the same run.
 * GRAFT_BENCH_DIR (default /tmp) holds the model files, removed after each case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graft.h"
#include "init.h"
#include "kernels.h"
#include "util.h"

typedef struct {
    const char *preset;
    int type;
} bench_case;

int main(void) {
    const int threads = 2, n_pp = 512, n_tg = 128;
    const bench_case cases[] = {
        {"llama-7b", GRAFT_TYPE_Q4_0},
        {"llama-7b", GRAFT_TYPE_Q8_0},
        {"llama-1b", GRAFT_TYPE_F16},
    };
    const char *dir = getenv("GRAFT_BENCH_DIR");
    if (!dir || !*dir) dir = "/tmp";
    char cpu[256], date[64];
    bench_cpu_model(cpu, sizeof cpu);
    bench_date(date, sizeof date);
    const double bw = bench_bandwidth(threads, (size_t)1 << 30);
    printf("decode bench: %s, kernels %s, %d threads, load average %.1f, streaming read %.1f GB/s\n", cpu,
           graft_kernels_name(), threads, bench_loadavg(), bw);

    FILE *md = fopen("bench/results/decode.md", "w");
    if (md) {
        fprintf(md, "# Decoder speed (written by `make bench`, bench/bench_decode.c)\n\n");
        fprintf(md, "%s | %s | kernels %s | OpenBLAS core %s | %d threads | streaming read %.1f GB/s\n\n",
                date, cpu, graft_kernels_name(), graft_blas_corename(), threads, bw);
        fprintf(md, "Random weights at real shapes (graft init). pp: %d prompt tokens in one batch; tg: %d tokens one "
                    "at a time from an empty context (as llama-bench's tg128), median per-token time. bw: weight bytes "
                    "read per generated token / time per token, as a fraction of the streaming-read bandwidth. The "
                    "last column is tg right after the prompt, where each token also reads the whole f16 KV cache "
                    "(for a 7B model at 600 positions, ~300 MB more per token).\n\n", n_pp, n_tg);
        fprintf(md, "| model | type | weights GiB | pp tok/s | tg tok/s | tg GB/s | tg / bandwidth | tg tok/s after pp512 |\n|---|---|---|---|---|---|---|---|\n");
    }
    for (size_t ci = 0; ci < sizeof cases / sizeof cases[0]; ci++) {
        const graft_init_llama *hp = graft_init_find(cases[ci].preset);
        const char *tn = graft_type_name(cases[ci].type);
        char path[1024];
        snprintf(path, sizeof path, "%s/graft-bench-%s-%s-%d.gguf", dir, hp->name, tn, (int)getpid());
        graft_error e;
        double t0 = bench_now();
        if (graft_init_llama_write(hp, cases[ci].type, 1, threads, path, &e)) {
            fprintf(stderr, "bench_decode: %s\n", e.msg);
            return 1;
        }
        double t_init = bench_now() - t0;
        graft_model *m;
        graft_ctx *c;
        if (graft_model_load(path, NULL, &m, &e)) {
            fprintf(stderr, "bench_decode: %s\n", e.msg);
            unlink(path);
            return 1;
        }
        graft_ctx_params cp = graft_ctx_default_params();
        cp.n_ctx = n_pp + n_tg + 8;
        cp.n_batch = n_pp;
        cp.n_threads = threads;
        if (graft_ctx_new(m, &cp, &c, &e)) {
            fprintf(stderr, "bench_decode: %s\n", e.msg);
            return 1;
        }
        int32_t *ids = malloc(sizeof(int32_t) * n_pp);
        for (int i = 0; i < n_pp; i++) ids[i] = 259 + (i * 7919) % (graft_model_n_vocab(m) - 259);
        ids[0] = 1;
        /* warm-up: fault the mapping in and start the thread pool */
        graft_decode(c, ids, NULL, 16);
        graft_ctx_rewind(c, 0);
        t0 = bench_now();
        if (graft_decode(c, ids, NULL, n_pp)) {
            fprintf(stderr, "bench_decode: %s\n", graft_ctx_last_error(c));
            return 1;
        }
        const double t_pp = bench_now() - t0;
        /* generation after the prompt: the context holds 512..640 positions */
        double *tt = malloc(sizeof(double) * n_tg);
        int32_t tok = 300;
        for (int i = 0; i < n_tg; i++) {
            double s = bench_now();
            graft_decode(c, &tok, NULL, 1);
            tt[i] = bench_now() - s;
            tok = 259 + (tok * 31 + 7) % (graft_model_n_vocab(m) - 259);
        }
        const double t_tok_deep = bench_median(tt, n_tg);
        /* generation from an empty context (llama-bench's tg128) */
        graft_ctx_rewind(c, 0);
        for (int i = 0; i < n_tg; i++) {
            double s = bench_now();
            graft_decode(c, &tok, NULL, 1);
            tt[i] = bench_now() - s;
            tok = 259 + (tok * 31 + 7) % (graft_model_n_vocab(m) - 259);
        }
        const double t_tok = bench_median(tt, n_tg);
        const double wbytes = (double)graft_model_weight_bytes(m);
        const double gbs = wbytes / t_tok / 1e9;
        printf("decode %s %s threads=%d pp_tok/s=%.1f tg_tok/s=%.2f tg_GB/s=%.1f bw_ratio=%.2f tg_after_pp_tok/s=%.2f (init %.1f s)\n",
               hp->name, tn, threads, n_pp / t_pp, 1.0 / t_tok, gbs, gbs / bw, 1.0 / t_tok_deep, t_init);
        if (md)
            fprintf(md, "| %s | %s | %.2f | %.1f | %.2f | %.1f | %.2f | %.2f |\n", hp->name, tn, wbytes / (1 << 30),
                    n_pp / t_pp, 1.0 / t_tok, gbs, gbs / bw, 1.0 / t_tok_deep);
        fflush(stdout);
        free(tt);
        free(ids);
        graft_ctx_free(c);
        graft_model_free(m);
        unlink(path);
    }
    if (md) fclose(md);
    return 0;
}
