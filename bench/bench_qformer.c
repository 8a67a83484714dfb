/* bench_qformer.c - BLIP-2 and InstructBLIP's vision side at real shape: the EVA ViT-g/14 (224 px,
 * 1408 wide, 39 blocks) and the Q-Former (768 x 12 layers, 32 queries, cross-attention every 2nd
 * layer) with the language projection, random weights from graft init (presets blip2-opt-2.7b and
 * instructblip-vicuna-7b, F16 matrices), timed separately, against the analytic FLOP count and
 * the FMA peak measured in the same run. InstructBLIP's Q-Former also reads a 16-token
 * instruction. Verifies before timing: outputs finite. GRAFT_BENCH_DIR (default /tmp) holds the
 * mmproj files, removed after use. Results: stdout and bench/results/qformer.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graft.h"
#include "init.h"
#include "kernels.h"
#include "util.h"

enum { THREADS = 2, WARMUP = 1, RUNS = 3, N_TEXT = 16 };

/* ViT FLOPs (multiply-add = 2): patch embedding 2 Np 3p^2 D; per block 2 T D (4 D) for qkv and
 * out, 2 T D (2 F) for the MLP, 4 T^2 D for scores and P v. */
static double vit_flops(const graft_init_qformer *c) {
    const double p = c->patch_size, g = c->image_size / c->patch_size, Np = g * g, T = Np + 1;
    const double D = c->n_embd, F = c->n_ff;
    return 2 * Np * 3 * p * p * D + c->n_block * (8 * T * D * D + 4 * T * D * F + 4 * T * T * D);
}

/* Q-Former FLOPs over R = Q (+ text) rows: per layer self-attention 8 R Dq^2 + 4 R^2 Dq and the
 * FFN 4 R Dq Fq (query and text rows alike); in a cross layer, on the Q query rows, q and out
 * 4 Q Dq^2, k and v over the T image rows 4 T D Dq, attention 4 Q T Dq; then the projection
 * 2 Q Dq De. */
static double qformer_flops(const graft_init_qformer *c, int n_text) {
    const double Q = c->n_query, R = Q + n_text, Dq = c->q_embd, Fq = c->q_ff, D = c->n_embd, De = c->d_out;
    const double g = c->image_size / c->patch_size, T = g * g + 1;
    const double n_cross = (c->q_layer + c->q_cross_freq - 1) / c->q_cross_freq;
    return c->q_layer * (8 * R * Dq * Dq + 4 * R * R * Dq + 4 * R * Dq * Fq) +
           n_cross * (4 * Q * Dq * Dq + 4 * T * D * Dq + 4 * Q * T * Dq) + 2 * Q * Dq * De;
}

typedef struct {
    graft_vision_ctx *vc;
    const float *pixels;
    const int32_t *ids;
    int n_ids;
    float *out;
    double vit_ms[64], qf_ms[64];
    int n;
} encode_arg;

static void encode_once(void *p) {
    encode_arg *a = p;
    if (graft_vision_encode(a->vc, a->pixels, a->ids, a->n_ids, a->out)) {
        fprintf(stderr, "bench_qformer: %s\n", graft_vision_ctx_last_error(a->vc));
        exit(1);
    }
    graft_vision_ctx_timings(a->vc, &a->vit_ms[a->n % 64], &a->qf_ms[a->n % 64]);
    a->n++;
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "bench_qformer: %s: %s\n", what, msg);
    exit(1);
}

int main(void) {
    const char *dir = getenv("GRAFT_BENCH_DIR");
    if (!dir || !*dir) dir = "/tmp";
    char cpu[256], date[64];
    bench_cpu_model(cpu, sizeof cpu);
    bench_date(date, sizeof date);
    const double load0 = bench_loadavg();
    const bench_fma fma = bench_fma_probe(THREADS);
    printf("qformer bench: %s, kernels %s, OpenBLAS core %s, %d threads, load average %.1f\n", cpu,
           graft_kernels_name(), graft_blas_corename(), THREADS, load0);
    printf("probe: fma_peak_GFLOP/s=%.1f (%s, %.2f GHz)\n", fma.gflops, fma.isa, fma.ghz);
    fflush(stdout);
    FILE *md = fopen("bench/results/qformer.md", "w");
    if (md) {
        fprintf(md, "# BLIP-2 / InstructBLIP vision encode (written by `make bench`, bench/bench_qformer.c)\n\n");
        fprintf(md, "%s | %s | kernels %s | OpenBLAS core %s | %d threads | load average %.1f at start\n\n", date,
                cpu, graft_kernels_name(), graft_blas_corename(), THREADS, load0);
        fprintf(md, "FMA peak (same run): %.1f GFLOP/s (%s, %.2f GHz measured). Random weights at real shape (graft "
                    "init), F16 matrices: EVA ViT-g/14 at 224 (257 rows, 1408 wide, 39 blocks, MLP 6144), Q-Former "
                    "768 x 12 (32 queries, cross-attention in 6 layers), language projection. InstructBLIP's Q-Former "
                    "also reads a %d-token instruction. FLOPs analytic (bench/bench_qformer.c). Median of %d encodes "
                    "after %d warm-up.\n\n", fma.gflops, fma.isa, fma.ghz, N_TEXT, RUNS, WARMUP);
        fprintf(md, "| preset | mmproj GiB | ViT ms | ViT GFLOP | ViT GFLOP/s | of FMA peak | Q-Former + projection ms "
                    "| Q-Former GFLOP | Q-Former GFLOP/s | rows out |\n|---|---|---|---|---|---|---|---|---|---|\n");
    }
    const char *presets[2] = {"blip2-opt-2.7b", "instructblip-vicuna-7b"};
    float *pixels = NULL;
    for (int pi = 0; pi < 2; pi++) {
        const graft_init_blip *bp = graft_init_blip_find(presets[pi]);
        const graft_init_qformer *hp = &bp->vision;
        char path[1024];
        snprintf(path, sizeof path, "%s/graft-bench-%s-mmproj-%d.gguf", dir, bp->name, (int)getpid());
        graft_error e;
        if (graft_init_blip_mmproj_write(hp, bp->recipe, GRAFT_TYPE_F16, 1, THREADS, path, &e)) die("init", e.msg);
        graft_vision *v;
        graft_vision_ctx *vc;
        if (graft_vision_load(path, &v, &e)) die(path, e.msg);
        graft_vision_ctx_params vp = graft_vision_ctx_default_params();
        vp.n_threads = THREADS;
        vp.n_text_max = N_TEXT;
        if (graft_vision_ctx_new(v, &vp, &vc, &e)) die(path, e.msg);
        const int S = hp->image_size;
        free(pixels);
        pixels = malloc(sizeof(float) * 3 * (size_t)S * S);
        uint64_t s = 0x9e3779b97f4a7c15ULL;
        for (size_t i = 0; i < 3 * (size_t)S * S; i++) { /* roughly normalised pixels in [-1.8, 2.1] */
            s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
            pixels[i] = (float)((s * 0x2545F4914F6CDD1DULL) >> 40) / 16777216.0f * 3.9f - 1.8f;
        }
        int32_t ids[N_TEXT];
        for (int i = 0; i < N_TEXT; i++) ids[i] = i == 0 ? 101 : i == N_TEXT - 1 ? 102 : 1000 + 37 * i;
        const int text = hp->q_vocab > 0;
        const size_t n_out = (size_t)graft_vision_n_tokens(v) * graft_vision_n_embd(v);
        encode_arg a = {.vc = vc, .pixels = pixels, .ids = text ? ids : NULL, .n_ids = text ? N_TEXT : 0,
                        .out = malloc(sizeof(float) * n_out)};
        bench_time(encode_once, &a, WARMUP, RUNS);
        for (size_t i = 0; i < n_out; i++)
            if (!isfinite(a.out[i])) die(bp->name, "non-finite output");
        const double vit = bench_median(a.vit_ms + WARMUP, RUNS), qf = bench_median(a.qf_ms + WARMUP, RUNS);
        const double fv = vit_flops(hp), fq = qformer_flops(hp, text ? N_TEXT : 0);
        const double gib = (double)graft_init_blip_mmproj_bytes(hp, GRAFT_TYPE_F16) / (1 << 30);
        printf("qformer %s mmproj=f16 threads=%d vit_ms=%.0f vit_GFLOP=%.1f vit_GFLOP/s=%.1f peak_ratio=%.2f "
               "qformer_ms=%.1f qformer_GFLOP=%.2f qformer_GFLOP/s=%.1f rows=%d x %d\n", bp->name, THREADS, vit,
               fv / 1e9, fv / vit / 1e6, fv / vit / 1e6 / fma.gflops, qf, fq / 1e9, fq / qf / 1e6,
               graft_vision_n_tokens(v), graft_vision_n_embd(v));
        fflush(stdout);
        if (md)
            fprintf(md, "| %s | %.2f | %.0f | %.1f | %.1f | %.2f | %.1f | %.2f | %.1f | %d x %d |\n", bp->name, gib, vit,
                    fv / 1e9, fv / vit / 1e6, fv / vit / 1e6 / fma.gflops, qf, fq / 1e9, fq / qf / 1e6,
                    graft_vision_n_tokens(v), graft_vision_n_embd(v));
        free(a.out);
        graft_vision_ctx_free(vc);
        graft_vision_free(v);
        unlink(path);
    }
    free(pixels);
    if (md) fclose(md);
    return 0;
}
