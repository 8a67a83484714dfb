/* bench_vision.c - the vision side at real shape: encode time of LLaVA-1.5-7B's mmproj (CLIP
 * ViT-L/14-336, 23 blocks, mlp2x_gelu 1024 -> 4096 -> 4096) with random weights from graft init,
 * F32 and F16, against the analytic FLOP count and the FMA peak measured in the same run; then
 * the time to first token of a full image + prompt on the llava-1.5-7b preset (Q4_0 decoder,
 * F16 mmproj, as llama.cpp's LLaVA files are usually run), split by stage.
 * Verifies before timing: outputs finite, and the F16 tower (F16-rounded copies of the same
 * random values) close to the F32 one. GRAFT_BENCH_DIR (default /tmp) holds the model files,
 * removed after use. Results: stdout (one parseable line per case) and bench/results/vision.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "graft.h"
#include "init.h"
#include "kernels.h"
#include "util.h"

enum { THREADS = 2, WARMUP = 1, RUNS = 3 };

/* FLOPs of one encode (multiply-add = 2), for the preset's shape:
 *   patch embedding   2 Np (3 p^2) D
 *   per block         2 T D (4 D)        q, k, v, out projections
 *                   + 2 T D (2 F)        fc1, fc2
 *                   + 2 T^2 D + 2 T^2 D  scores = q k^T and P v, over all heads
 *   projector         2 Np (D h + h De)
 * (LayerNorms, softmax, activations and biases are O(T D) and left out.) */
static double encode_flops(const graft_init_clip *c) {
    const double p = c->patch_size, g = c->image_size / c->patch_size, Np = g * g, T = Np + 1;
    const double D = c->n_embd, F = c->n_ff, h = c->proj_hidden, De = c->proj_out;
    const double block = 2 * T * D * 4 * D + 2 * T * D * 2 * F + 4 * T * T * D;
    return 2 * Np * 3 * p * p * D + c->n_block * block + 2 * Np * (D * h + h * De);
}

typedef struct {
    graft_vision_ctx *vc;
    const float *pixels;
    float *out;
    double vit_ms[64], proj_ms[64];
    int n;
} encode_arg;

static void encode_once(void *p) {
    encode_arg *a = p;
    if (graft_vision_encode(a->vc, a->pixels, NULL, 0, a->out)) {
        fprintf(stderr, "bench_vision: %s\n", graft_vision_ctx_last_error(a->vc));
        exit(1);
    }
    graft_vision_ctx_timings(a->vc, &a->vit_ms[a->n % 64], &a->proj_ms[a->n % 64]);
    a->n++;
}

static int all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

static double max_abs(const float *x, size_t n) {
    double m = 0;
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs((double)x[i]));
    return m;
}

static void die(const char *what, const char *msg) {
    fprintf(stderr, "bench_vision: %s: %s\n", what, msg);
    exit(1);
}

int main(void) {
    const graft_init_llava *lv = graft_init_llava_find("llava-1.5-7b");
    const graft_init_clip *cv = &lv->vision;
    const char *dir = getenv("GRAFT_BENCH_DIR");
    if (!dir || !*dir) dir = "/tmp";
    char cpu[256], date[64];
    bench_cpu_model(cpu, sizeof cpu);
    bench_date(date, sizeof date);
    const double load0 = bench_loadavg();
    const bench_fma fma = bench_fma_probe(THREADS);
    const double bw = bench_bandwidth(THREADS, (size_t)512 << 20);
    printf("vision bench: %s, kernels %s, OpenBLAS core %s, %d threads, load average %.1f\n", cpu,
           graft_kernels_name(), graft_blas_corename(), THREADS, load0);
    printf("probe: fma_peak_GFLOP/s=%.1f (%s, %.2f GHz, %.1f flop/cycle/core) streaming_read_GB/s=%.1f\n",
           fma.gflops, fma.isa, fma.ghz, fma.flops_per_cycle, bw);
    const double flops = encode_flops(cv);
    const int g = cv->image_size / cv->patch_size;
    printf("flops: encode = 2 Np 3p^2 D + L (8 T D^2 + 4 T D F + 4 T^2 D) + 2 Np (D h + h De) with Np=%d T=%d "
           "p=%d D=%d F=%d L=%d h=%d De=%d = %.2f GFLOP\n", g * g, g * g + 1, cv->patch_size, cv->n_embd, cv->n_ff,
           cv->n_block, cv->proj_hidden, cv->proj_out, flops / 1e9);
    fflush(stdout);

    FILE *md = fopen("bench/results/vision.md", "w");
    if (md) {
        fprintf(md, "# Vision encode and image time-to-first-token (written by `make bench`, bench/bench_vision.c)\n\n");
        fprintf(md, "%s | %s | kernels %s | OpenBLAS core %s | %d threads | load average %.1f at start\n\n", date,
                cpu, graft_kernels_name(), graft_blas_corename(), THREADS, load0);
        fprintf(md, "Probes (same run): FMA peak %.1f GFLOP/s (%s, %.2f GHz measured, %.1f flop/cycle/core); "
                    "streaming read %.1f GB/s.\n\n", fma.gflops, fma.isa, fma.ghz, fma.flops_per_cycle, bw);
        fprintf(md, "Random weights at real shape (graft init, preset llava-1.5-7b): CLIP ViT-L/14-336 as llama.cpp's "
                    "converter stores it (23 of 24 blocks, all run: LLaVA's hidden_states[-2]) + mlp2x_gelu "
                    "1024 -> 4096 -> 4096. FLOPs per image, analytic: 2 Np 3p^2 D + L (8 T D^2 + 4 T D F + 4 T^2 D) "
                    "+ 2 Np (D h + h De) = %.1f GFLOP (Np = 576, T = 577). Median of %d encodes after %d warm-up.\n\n",
                flops / 1e9, RUNS, WARMUP);
        fprintf(md, "| mmproj | file GiB | ms / image | ViT ms | projector ms | GFLOP/s | of FMA peak | check |\n"
                    "|---|---|---|---|---|---|---|---|\n");
    }

    /* ---- vision encode, F32 then F16 ---------------------------------------------------- */
    const int S = cv->image_size;
    float *pixels = malloc(sizeof(float) * 3 * (size_t)S * S);
    uint64_t s = 0x9e3779b97f4a7c15ULL;
    for (size_t i = 0; i < 3 * (size_t)S * S; i++) { /* roughly normalised pixels in [-1.8, 2.1] */
        s ^= s >> 12, s ^= s << 25, s ^= s >> 27;
        pixels[i] = (float)((s * 0x2545F4914F6CDD1DULL) >> 40) / 16777216.0f * 3.9f - 1.8f;
    }
    const int types[2] = {GRAFT_TYPE_F32, GRAFT_TYPE_F16};
    char mmproj16[1024] = "";
    float *ref = NULL; /* the F32 tower's output */
    for (int ti = 0; ti < 2; ti++) {
        const char *tn = graft_type_name(types[ti]);
        char path[1024];
        snprintf(path, sizeof path, "%s/graft-bench-mmproj-%s-%d.gguf", dir, tn, (int)getpid());
        graft_error e;
        double t0 = bench_now();
        if (graft_init_mmproj_write(cv, types[ti], 1, THREADS, path, &e)) die("init", e.msg);
        const double t_init = bench_now() - t0;
        graft_vision *v;
        graft_vision_ctx *vc;
        if (graft_vision_load(path, &v, &e)) die(path, e.msg);
        graft_vision_ctx_params vp = graft_vision_ctx_default_params();
        vp.n_threads = THREADS;
        if (graft_vision_ctx_new(v, &vp, &vc, &e)) die(path, e.msg);
        const size_t n_out = (size_t)graft_vision_n_tokens(v) * graft_vision_n_embd(v);
        encode_arg a = {.vc = vc, .pixels = pixels, .out = malloc(sizeof(float) * n_out)};
        const double t_med = bench_time(encode_once, &a, WARMUP, RUNS);
        const double vit = bench_median(a.vit_ms + WARMUP, RUNS), proj = bench_median(a.proj_ms + WARMUP, RUNS);
        /* verify: finite, and F16 (the same values rounded to F16) near F32, relative to max |F32| */
        char check[96];
        if (!all_finite(a.out, n_out)) die(tn, "non-finite encoder output");
        if (!ref) {
            ref = a.out;
            a.out = NULL;
            snprintf(check, sizeof check, "finite, max abs out %.2f", max_abs(ref, n_out));
        } else {
            double md_ = 0, mx = 0;
            for (size_t i = 0; i < n_out; i++) {
                md_ = fmax(md_, fabs((double)a.out[i] - ref[i]));
                mx = fmax(mx, fabs((double)ref[i]));
            }
            snprintf(check, sizeof check, "vs f32: max diff %.1e of max %.2f", md_, mx);
        }
        const double gflops = flops / t_med / 1e9;
        const double gib = (double)graft_init_mmproj_bytes(cv, types[ti]) / (1 << 30);
        printf("vision llava-1.5-7b mmproj=%s threads=%d ms/image=%.0f vit_ms=%.0f proj_ms=%.0f GFLOP=%.1f "
               "GFLOP/s=%.1f peak_ratio=%.2f (%s; init %.1f s)\n", tn, THREADS, t_med * 1e3, vit, proj, flops / 1e9,
               gflops, gflops / fma.gflops, check, t_init);
        fflush(stdout);
        if (md)
            fprintf(md, "| %s | %.2f | %.0f | %.0f | %.0f | %.1f | %.2f | %s |\n", tn, gib, t_med * 1e3, vit, proj,
                    gflops, gflops / fma.gflops, check);
        free(a.out);
        graft_vision_ctx_free(vc);
        graft_vision_free(v);
        if (types[ti] == GRAFT_TYPE_F16) snprintf(mmproj16, sizeof mmproj16, "%s", path); /* for the TTFT case */
        else unlink(path);
    }
    free(ref);
    free(pixels);

    /* ---- time to first token: image + prompt on a Q4_0 7B decoder ---------------------- */
    const graft_init_llama *llm = graft_init_find(lv->llm);
    char mpath[1024];
    snprintf(mpath, sizeof mpath, "%s/graft-bench-%s-q4_0-%d.gguf", dir, llm->name, (int)getpid());
    graft_error e;
    double t0 = bench_now();
    if (graft_init_llama_write(llm, GRAFT_TYPE_Q4_0, 1, THREADS, mpath, &e)) die("init", e.msg);
    const double t_init = bench_now() - t0;
    graft_model *m;
    graft_vision *v;
    graft_ctx *c;
    graft_mm *mm;
    graft_sampler *smp;
    if (graft_model_load(mpath, NULL, &m, &e)) die(mpath, e.msg);
    if (graft_vision_load(mmproj16, &v, &e)) die(mmproj16, e.msg);
    graft_ctx_params cp = graft_ctx_default_params();
    cp.n_ctx = 1024;
    cp.n_batch = 1024; /* the whole prompt in one batch, as the CLI does */
    cp.n_threads = THREADS;
    if (graft_ctx_new(m, &cp, &c, &e)) die("context", e.msg);
    graft_mm_params mp = graft_mm_default_params();
    mp.image_mode = GRAFT_MM_MODE_PAD;
    if (graft_mm_new(c, v, &mp, &mm, &e)) die("session", e.msg);
    graft_sampler_params sp = graft_sampler_default_params();
    sp.temp = 0.0f;
    if (graft_sampler_new(&sp, graft_model_n_vocab(m), &smp, &e)) die("sampler", e.msg);
    /* warm-up: one short batch faults the decoder's mapping in (the mmproj's was by the F16 case) */
    const int32_t warm[16] = {1, 300, 301, 302, 303, 304, 305, 306, 307, 308, 309, 310, 311, 312, 313, 314};
    if (graft_decode(c, warm, NULL, 16)) die("decode", graft_ctx_last_error(c));
    graft_ctx_rewind(c, 0);

    enum { W = 640, H = 480 };
    unsigned char *rgb = malloc((size_t)W * H * 3);
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            unsigned char *px = rgb + ((size_t)y * W + x) * 3;
            px[0] = (unsigned char)(x * 255 / W), px[1] = (unsigned char)(y * 255 / H);
            px[2] = (unsigned char)(((x / 40) ^ (y / 40)) & 1 ? 200 : 30);
        }
    const graft_image_input img = {.rgb = rgb, .w = W, .h = H};
    const char *prompt = "USER: <image>\nDescribe the image. ASSISTANT:";
    graft_mm_timings t;
    memset(&t, 0, sizeof t);
    t0 = bench_now();
    if (graft_mm_eval(mm, prompt, &img, 1, &t, &e)) die("graft_mm_eval", e.msg);
    const double t1 = bench_now();
    const float *logits = graft_ctx_logits(c, -1);
    if (!logits || !all_finite(logits, (size_t)graft_model_n_vocab(m))) die("prefill", "non-finite logits");
    const int32_t tok = graft_sampler_sample(smp, logits);
    const double t2 = bench_now();
    const double sample_ms = (t2 - t1) * 1e3, total_ms = (t2 - t0) * 1e3;
    const int n_pos = t.n_text_tokens + t.n_image_tokens;
    printf("ttft llava-1.5-7b decoder=q4_0 mmproj=f16 threads=%d image=%dx%d mode=pad positions=%d (text %d + image %d) "
           "decode_ms=%.1f preprocess_ms=%.1f vision_ms=%.0f projector_ms=%.0f prefill_ms=%.0f prefill_tok/s=%.1f "
           "sample_ms=%.2f total_ms=%.0f first_token=%d (init %.1f s)\n", THREADS, W, H, n_pos, t.n_text_tokens,
           t.n_image_tokens, t.image_decode_ms, t.preprocess_ms, t.vision_ms, t.projector_ms, t.prefill_ms,
           n_pos / (t.prefill_ms / 1e3), sample_ms, total_ms, tok, t_init);
    if (md) {
        fprintf(md, "\n## Time to first token\n\nllava-1.5-7b preset: Q4_0 decoder (%.2f GiB) + the F16 mmproj above. "
                    "graft_mm_eval of \"USER: <image>\\nDescribe the image. ASSISTANT:\" with one synthetic %dx%d RGB "
                    "image (mode pad), then one greedy sample. One run, after a 16-token decoder warm-up. The random "
                    "vocabulary has no word pieces, so the text falls back to byte tokens (more text positions than "
                    "Vicuna's tokenizer gives; the 576 image rows dominate either way).\n\n",
                (double)graft_init_llama_bytes(llm, GRAFT_TYPE_Q4_0) / (1 << 30), W, H);
        fprintf(md, "| stage | ms |\n|---|---|\n| image decode (RGB copy) | %.1f |\n| preprocess (pad, resize, "
                    "normalise) | %.1f |\n| vision (ViT) | %.0f |\n| projector | %.0f |\n| prefill (%d positions: %d "
                    "text + %d image) | %.0f |\n| first token (sample) | %.2f |\n| **total** | **%.0f** |\n",
                t.image_decode_ms, t.preprocess_ms, t.vision_ms, t.projector_ms, n_pos, t.n_text_tokens,
                t.n_image_tokens, t.prefill_ms, sample_ms, total_ms);
        fprintf(md, "\nThe machine may have been shared: load average %.1f at the end.\n", bench_loadavg());
        fclose(md);
    }
    free(rgb);
    graft_sampler_free(smp);
    graft_mm_free(mm);
    graft_ctx_free(c);
    graft_vision_free(v);
    graft_model_free(m);
    unlink(mpath);
    unlink(mmproj16);
    return 0;
}
