/* test_qformer.c - BLIP-2 and InstructBLIP's vision side (src/clip.c's EVA-style ViT, src/qformer.c's
 * Q-Former and language projection) and their Hugging Face directories (src/hf*.c), against the
 * tensors transformers 4.40.2 saved for ../shared/fixtures/hf/{blip2-opt-tiny-b,instructblip-tiny-b}
 * (README-qformer.md): every stage from pixel_values, the preprocessing from the image file, the
 * language models end to end (OPT and Llama: logits and greedy ids), the converted GGUF pair, thread
 * invariance, and load / encode errors. */
#include <check.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "clip.h"
#include "gguf_write.h"
#include "graft.h"
#include "hf.h"
#include "image.h"
#include "npy.h"
#include "preprocess.h"
#include "qformer.h"
#include "quantize.h"
#include "test_util.h"

/* README-qformer.md's bar: max abs diff <= 1e-4 at every stage (values <= 7; HF's own fp32 vs
 * float64 difference is 1e-6 .. 4e-6). Wrong semantics give O(0.1 .. 1) errors (see the commit
 * that added this suite for the deliberate breaks). */
#define ABS_TOL 1e-4

typedef struct fixture {
    const char *name;   /* folder under ../shared/fixtures/hf */
    const char *image;  /* under ../shared/images */
    const char *recipe;
    int text;           /* InstructBLIP: the Q-Former reads qformer_input_ids */
} fixture;

static const fixture FIX[] = {
    {"blip2-opt-tiny-b", "coco_000000039769.png", "blip2", 0},
    {"instructblip-tiny-b", "ultralytics_bus.jpg", "instructblip", 1},
};

/* "<shared>/fixtures/hf/<name>" or NULL (skip message printed). */
static const char *fixture_dir(const fixture *f, char *buf, size_t cap) {
    char rel[256];
    snprintf(rel, sizeof rel, "fixtures/hf/%s", f->name);
    const char *p = tu_shared(rel);
    if (!p) return NULL;
    snprintf(buf, cap, "%s", p);
    return buf;
}

static npy_array load_npy(const char *base, const char *name) {
    char path[1200];
    snprintf(path, sizeof path, "%s/ref/%s.npy", base, name);
    npy_array a;
    ck_assert_msg(npy_load(path, &a) == 0, "cannot read %s", path);
    return a;
}

static float *npy_f32(const char *base, const char *name, size_t *n) {
    npy_array a = load_npy(base, name);
    float *f = npy_as_f32(&a);
    if (n) *n = a.count;
    npy_free(&a);
    return f;
}

/* The int64 ids of name as int32 (malloc'd). */
static int32_t *npy_ids(const char *base, const char *name, int *n) {
    npy_array a = load_npy(base, name);
    int64_t *v = npy_as_i64(&a);
    int32_t *ids = malloc(a.count * sizeof *ids);
    for (size_t i = 0; i < a.count; i++) ids[i] = (int32_t)v[i];
    *n = (int)a.count;
    free(v);
    npy_free(&a);
    return ids;
}

/* max |got - ref| over n values, printed with max|ref|; asserts it is within ABS_TOL. */
static double check_stage(const char *fx, const char *stage, const float *got, const float *ref, size_t n) {
    ck_assert_ptr_nonnull(got);
    double e = tu_max_abs_err(stage, got, ref, n, ABS_TOL);
    fprintf(stderr, "qformer %s %-26s max abs err %.2e (max|ref| %.2f, %zu values)\n", fx, stage, e, tu_max_abs(ref, n), n);
    ck_assert_msg(e <= ABS_TOL, "%s %s: max abs err %.3g > %g", fx, stage, e, ABS_TOL);
    return e;
}

static graft_vision *load_vision(const char *path) {
    graft_vision *v = NULL;
    graft_error e;
    ck_assert_msg(graft_vision_load(path, &v, &e) == GRAFT_OK, "%s", e.msg);
    return v;
}

static graft_vision_ctx *vision_ctx(const graft_vision *v, int n_threads, int n_text_max, int keep_hidden) {
    graft_vision_ctx_params p = graft_vision_ctx_default_params();
    p.n_threads = n_threads;
    p.n_text_max = n_text_max;
    p.keep_hidden = keep_hidden;
    graft_vision_ctx *c = NULL;
    graft_error e;
    ck_assert_msg(graft_vision_ctx_new(v, &p, &c, &e) == GRAFT_OK, "%s", e.msg);
    return c;
}

/* The Q-Former's hidden states, query output and projection from the context's last features. */
typedef struct qf_out {
    float *hidden, *query, *proj;
    int L, R, Dq;
} qf_out;

static qf_out run_qformer(const graft_vision_ctx *c, const int32_t *ids, int n_ids, int n_threads) {
    const graft_projector *p = &c->vis->proj;
    qf_out o = {0};
    o.L = graft_qformer_n_layer(p);
    o.Dq = graft_qformer_n_embd(p);
    ck_assert_int_gt(o.L, 0);
    const int nq = p->ops->n_out_tokens(p, 1);
    o.R = nq + n_ids;
    int nr, nc;
    const float *feats = graft_vision_ctx_features(c, &nr, &nc);
    ck_assert_ptr_nonnull(feats);
    size_t sb = p->ops->scratch_bytes(p, nr, n_ids, n_threads);
    void *scratch = aligned_alloc(64, (sb + 63) / 64 * 64);
    graft_error e = {0};
    graft_projector_run run = {.kt = graft_kernels_get(), .n_threads = n_threads, .scratch = scratch,
                               .text_ids = ids, .n_text = n_ids, .err = &e};
    o.hidden = malloc(sizeof(float) * (size_t)(o.L + 1) * o.R * o.Dq);
    o.query = malloc(sizeof(float) * (size_t)nq * o.Dq);
    o.proj = malloc(sizeof(float) * (size_t)nq * p->d_out);
    ck_assert_msg(graft_qformer_run(p, feats, nr, &run, o.hidden, o.query, o.proj) == GRAFT_OK, "%s", e.msg);
    free(scratch);
    return o;
}

static void qf_out_free(qf_out *o) {
    free(o->hidden);
    free(o->query);
    free(o->proj);
}

/* ---- every stage from pixel_values ----------------------------------------------------------------- */

/* From the HF directory: the ViT's hidden states (embeddings with no pre-LN, then each block), the
 * last hidden state (post-LN, every row, CLS first: the features the Q-Former reads), the Q-Former's
 * hidden states, its query output, and graft_vision_encode's rows (the language projection). */
START_TEST(test_stages) {
    const fixture *f = &FIX[_i];
    char base[1024], dir[1100];
    if (!fixture_dir(f, base, sizeof base)) return;
    snprintf(dir, sizeof dir, "%s/hf", base);
    ck_assert(graft_hf_is_dir(dir));
    ck_assert(graft_path_has_vision(dir));
    graft_vision *v = load_vision(dir);
    ck_assert_str_eq(graft_vision_projector(v), "qformer");
    ck_assert_str_eq(graft_vision_recipe(v)->name, f->recipe);

    int n_ids = 0;
    int32_t *ids = f->text ? npy_ids(base, "qformer_input_ids", &n_ids) : NULL;
    npy_array hs = load_npy(base, "vision_hidden_states"); /* (Lv + 1, 1, T, Dv) */
    const int Lv = (int)hs.shape[0] - 1, T = (int)hs.shape[2], Dv = (int)hs.shape[3];
    npy_free(&hs);
    ck_assert_int_eq(graft_vision_n_layer(v), Lv);
    ck_assert_int_eq(graft_vision_n_embd_vision(v), Dv);
    graft_vision_ctx *c = vision_ctx(v, 2, 32, 1);
    const int nq = graft_vision_ctx_n_tokens(c), De = graft_vision_n_embd(v);
    ck_assert_int_eq(graft_vision_n_tokens(v), nq);
    ck_assert_int_eq(graft_vision_n_text_max(v), f->text ? 32 : 0);

    size_t np;
    float *pix = npy_f32(base, "pixel_values", &np);
    const int S = graft_vision_image_size(v);
    ck_assert_uint_eq(np, (size_t)3 * S * S);
    float *out = malloc(sizeof(float) * (size_t)nq * De);
    ck_assert_int_eq(graft_vision_encode(c, pix, ids, n_ids, out), GRAFT_OK);

    float *ref = npy_f32(base, "vision_hidden_states", NULL);
    for (int k = 0; k <= Lv; k++) {
        char label[64];
        snprintf(label, sizeof label, "vision_hidden_states[%d]", k);
        check_stage(f->name, label, graft_vision_ctx_hidden(c, k), ref + (size_t)k * T * Dv, (size_t)T * Dv);
    }
    free(ref);
    int nr, ncol;
    const float *feats = graft_vision_ctx_features(c, &nr, &ncol);
    ck_assert_int_eq(nr, T);
    ck_assert_int_eq(ncol, Dv);
    ref = npy_f32(base, "vision_last_hidden_state", NULL);
    check_stage(f->name, "vision_last_hidden_state", feats, ref, (size_t)T * Dv);
    free(ref);

    qf_out q = run_qformer(c, ids, n_ids, 2);
    size_t nh;
    ref = npy_f32(base, "qformer_hidden_states", &nh);
    ck_assert_uint_eq(nh, (size_t)(q.L + 1) * q.R * q.Dq);
    for (int k = 0; k <= q.L; k++) {
        char label[64];
        snprintf(label, sizeof label, "qformer_hidden_states[%d]", k);
        check_stage(f->name, label, q.hidden + (size_t)k * q.R * q.Dq, ref + (size_t)k * q.R * q.Dq, (size_t)q.R * q.Dq);
    }
    free(ref);
    ref = npy_f32(base, "qformer_last_hidden_state", NULL);
    check_stage(f->name, "qformer_last_hidden_state", q.hidden + (size_t)q.L * q.R * q.Dq, ref, (size_t)q.R * q.Dq);
    free(ref);
    ref = npy_f32(base, "query_output", NULL);
    check_stage(f->name, "query_output", q.query, ref, (size_t)nq * q.Dq);
    free(ref);
    ref = npy_f32(base, "language_projection", NULL);
    check_stage(f->name, "language_projection", out, ref, (size_t)nq * De);
    /* the internal run and graft_vision_encode are the same computation */
    ck_assert(!memcmp(q.proj, out, sizeof(float) * (size_t)nq * De));
    free(ref);
    qf_out_free(&q);
    free(out);
    free(pix);
    free(ids);
    graft_vision_ctx_free(c);
    graft_vision_free(v);
}
END_TEST

/* ---- preprocessing from the image file ------------------------------------------------------------- */

/* BlipImageProcessor: PIL bicubic straight to S x S (graft's "resize" mode), then rescale and
 * normalise: resized_u8 exact, pixel_values bit for bit. */
START_TEST(test_from_image) {
    const fixture *f = &FIX[_i];
    char base[1024], dir[1100], img[1200];
    if (!fixture_dir(f, base, sizeof base)) return;
    snprintf(dir, sizeof dir, "%s/hf", base);
    snprintf(img, sizeof img, "%s/../../../images/%s", base, f->image);
    graft_vision *v = load_vision(dir);
    graft_preprocess_params pp = graft_preprocess_default_params();
    pp.image_size = graft_vision_image_size(v);
    pp.mode = GRAFT_IMAGE_MODE_RESIZE;
    graft_vision_norm(v, pp.mean, pp.std);
    graft_image im, u8;
    graft_error e;
    ck_assert_msg(graft_image_load_file(img, 0, &im, &e) == GRAFT_OK, "%s", e.msg);
    const size_t S = (size_t)pp.image_size;
    float *pix = malloc(sizeof(float) * 3 * S * S);
    ck_assert_msg(graft_preprocess(&im, &pp, pix, &u8, &e) == GRAFT_OK, "%s", e.msg);
    npy_array ru = load_npy(base, "resized_u8");
    ck_assert_uint_eq(ru.count, S * S * 3);
    size_t bad = 0;
    for (size_t i = 0; i < ru.count; i++) bad += ((const uint8_t *)ru.data)[i] != u8.rgb[i];
    size_t np;
    float *ref = npy_f32(base, "pixel_values", &np);
    ck_assert_uint_eq(np, 3 * S * S);
    size_t bad_px = 0;
    for (size_t i = 0; i < np; i++) bad_px += memcmp(&pix[i], &ref[i], sizeof(float)) != 0;
    fprintf(stderr, "qformer %s from %s: resized_u8 %zu of %zu differ, pixel_values %zu of %zu differ\n", f->name,
            f->image, bad, ru.count, bad_px, np);
    ck_assert_uint_eq(bad, 0);
    ck_assert_uint_eq(bad_px, 0);
    npy_free(&ru);
    free(ref);
    free(pix);
    graft_image_free(&u8);
    graft_image_free(&im);
    graft_vision_free(v);
}
END_TEST

/* ---- the language model end to end ------------------------------------------------------------------ */

/* [projection rows; input_ids] through the decoder of `llm` (a directory or a GGUF): logits at every
 * position within ABS_TOL with equal argmax, then generated_ids[0, 1:] greedily with the KV cache.
 * rows: the vision side's output (nq, E). */
static void check_lm(const fixture *f, const char *base, const char *llm, const float *rows, int nq, const char *what) {
    graft_error e;
    graft_model *m;
    ck_assert_msg(graft_model_load(llm, NULL, &m, &e) == GRAFT_OK, "%s", e.msg);
    const int E = graft_model_n_embd(m), V = graft_model_n_vocab(m);
    int n_ids, n_gen;
    int32_t *ids = npy_ids(base, "input_ids", &n_ids), *gen = npy_ids(base, "generated_ids", &n_gen);
    const int n = nq + n_ids;
    int32_t *seq = malloc(sizeof *seq * (size_t)n);
    float *embd = calloc((size_t)n * E, sizeof(float));
    for (int i = 0; i < nq; i++) {
        seq[i] = -1;
        memcpy(embd + (size_t)i * E, rows + (size_t)i * E, sizeof(float) * (size_t)E);
    }
    memcpy(seq + nq, ids, sizeof *ids * (size_t)n_ids);
    graft_ctx_params cp = graft_ctx_default_params();
    cp.n_ctx = n + n_gen;
    cp.kv_type = GRAFT_TYPE_F32;
    cp.logits_all = 1;
    graft_ctx *ctx;
    ck_assert_msg(graft_ctx_new(m, &cp, &ctx, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_int_eq(graft_decode(ctx, seq, embd, n), GRAFT_OK);
    size_t nl;
    float *ref = npy_f32(base, "logits", &nl);
    ck_assert_uint_eq(nl, (size_t)n * V);
    double worst = 0;
    int argmax_bad = 0;
    for (int i = 0; i < n; i++) {
        const float *g = graft_ctx_logits(ctx, i), *r = ref + (size_t)i * V;
        double err = tu_max_abs_err("logits", g, r, (size_t)V, ABS_TOL);
        worst = err > worst ? err : worst;
        int ag = 0, ar = 0;
        for (int j = 1; j < V; j++) {
            if (g[j] > g[ag]) ag = j;
            if (r[j] > r[ar]) ar = j;
        }
        argmax_bad += ag != ar;
    }
    graft_sampler_params sp = graft_sampler_default_params();
    sp.temp = 0;
    graft_sampler *s;
    ck_assert_int_eq(graft_sampler_new(&sp, V, &s, &e), GRAFT_OK);
    int32_t got[64];
    int first_bad = -1;
    for (int i = 1; i < n_gen; i++) {
        int32_t tok = graft_sampler_sample(s, graft_ctx_logits(ctx, -1));
        got[i - 1] = tok;
        if (tok != gen[i] && first_bad < 0) first_bad = i - 1;
        ck_assert_int_eq(graft_decode(ctx, &tok, NULL, 1), GRAFT_OK);
    }
    char list[512];
    size_t k = 0;
    for (int i = 0; i < n_gen - 1; i++) k += (size_t)snprintf(list + k, sizeof list - k, "%s%d", i ? " " : "", got[i]);
    fprintf(stderr, "qformer %s %s: logits at %d positions max abs err %.2e (max|ref| %.2f), argmax %d differ; greedy %s: %s\n",
            f->name, what, n, worst, tu_max_abs(ref, nl), argmax_bad, first_bad < 0 ? "identical" : "DIFFERS", list);
    ck_assert_msg(worst <= ABS_TOL, "logits %.3g", worst);
    ck_assert_int_eq(argmax_bad, 0);
    ck_assert_msg(first_bad < 0, "greedy id %d differs", first_bad);
    graft_sampler_free(s);
    graft_ctx_free(ctx);
    free(ref);
    free(embd);
    free(seq);
    free(ids);
    free(gen);
    graft_model_free(m);
}

/* The vision side's rows of a fixture from `mmproj` (directory or GGUF), malloc'd. */
static float *encode_rows(const char *base, const char *mmproj, const fixture *f, int n_threads, int *nq, int *De) {
    graft_vision *v = load_vision(mmproj);
    graft_vision_ctx *c = vision_ctx(v, n_threads, 32, 0);
    *nq = graft_vision_ctx_n_tokens(c);
    *De = graft_vision_n_embd(v);
    int n_ids = 0;
    int32_t *ids = f->text ? npy_ids(base, "qformer_input_ids", &n_ids) : NULL;
    float *pix = npy_f32(base, "pixel_values", NULL);
    float *out = malloc(sizeof(float) * (size_t)*nq * *De);
    ck_assert_msg(graft_vision_encode(c, pix, ids, n_ids, out) == GRAFT_OK, "%s", graft_vision_ctx_last_error(c));
    free(pix);
    free(ids);
    graft_vision_ctx_free(c);
    graft_vision_free(v);
    return out;
}

/* The projection rows (BLIP-2: 12, InstructBLIP: 6), then the prompt ids, through the decoder of the
 * same directory (BLIP-2: OPT, language_model.model.decoder.*, lm_head tied to embed_tokens;
 * InstructBLIP: Llama, language_model.model.*, untied lm_head): logits at every position and the 16
 * greedy ids of HF's generate(). */
START_TEST(test_lm) {
    const fixture *f = &FIX[_i];
    char base[1024], dir[1100];
    if (!fixture_dir(f, base, sizeof base)) return;
    snprintf(dir, sizeof dir, "%s/hf", base);
    int nq, De;
    float *rows = encode_rows(base, dir, f, 2, &nq, &De);
    ck_assert_int_eq(nq, f->text ? 6 : 12);
    check_lm(f, base, dir, rows, nq, "dir");
    free(rows);
}
END_TEST

/* ---- the converted GGUF pair ------------------------------------------------------------------------ */

static int run_status(const char *cmd) {
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* `graft convert DIR -o llm.gguf --mmproj-out mmproj.gguf` (the library's engine when GRAFT_CLI is not
 * set): the mmproj gives the directory's rows bit for bit (same F32 data, same code), and the
 * converted decoders (OPT as is; Llama with Q/K rows permuted for adjacent-pair rope) still reproduce HF. */
START_TEST(test_convert) {
    const fixture *f = &FIX[_i];
    char base[1024], dir[1100];
    if (!fixture_dir(f, base, sizeof base)) return;
    snprintf(dir, sizeof dir, "%s/hf", base);
    char llm[600], mmproj[600];
    snprintf(llm, sizeof llm, "%s", tu_tmppath("llm.gguf"));
    snprintf(mmproj, sizeof mmproj, "%s", tu_tmppath("mmproj.gguf"));
    const char *cli = getenv("GRAFT_CLI");
    if (cli && *cli) {
        char cmd[4096];
        snprintf(cmd, sizeof cmd, "'%s' convert '%s' -o '%s' --mmproj-out '%s' >/dev/null 2>&1", cli, dir, llm, mmproj);
        ck_assert_msg(run_status(cmd) == 0, "%s failed", cmd);
    } else {
        graft_quant_params qp = graft_quant_default_params();
        qp.type = GRAFT_QUANT_KEEP;
        qp.rules = GRAFT_QUANT_RULES_CONVERT;
        graft_error e;
        for (int part = 0; part < 2; part++) {
            graft_gguf *g;
            ck_assert_msg(graft_hf_open_gguf(dir, part, GRAFT_HF_LLAMACPP, &g, &e) == GRAFT_OK, "%s", e.msg);
            ck_assert_msg(graft_quant_write(g, part ? mmproj : llm, &qp, &e) == GRAFT_OK, "%s", e.msg);
            graft_gguf_close(g);
        }
    }
    /* the file carries the view's keys and tensors */
    graft_gguf *g, *view;
    graft_error e;
    ck_assert_msg(graft_gguf_open(mmproj, &g, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_msg(graft_hf_open_gguf(dir, GRAFT_HF_MMPROJ, GRAFT_HF_NATIVE, &view, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_int_eq(graft_gguf_n_tensors(g), graft_gguf_n_tensors(view));
    for (int64_t i = 0; i < graft_gguf_n_tensors(view); i++) {
        graft_gguf_tensor a = graft_gguf_tensor_info(view, i);
        int64_t j = graft_gguf_find_tensor(g, a.name);
        ck_assert_msg(j >= 0, "converted mmproj lacks %s", a.name);
        graft_gguf_tensor b = graft_gguf_tensor_info(g, j);
        ck_assert_int_eq(a.n_dims, b.n_dims);
        ck_assert_int_eq(a.type, b.type);
        ck_assert(!memcmp(a.ne, b.ne, sizeof a.ne));
        ck_assert_msg(!memcmp(a.data, b.data, a.nbytes), "%s differs", a.name);
    }
    const char *rec;
    size_t len;
    ck_assert_int_eq(graft_gguf_get_str(g, "graft.recipe", &rec, &len, NULL), GRAFT_OK);
    ck_assert_int_eq((int)len, (int)strlen(f->recipe));
    ck_assert(!memcmp(rec, f->recipe, len));
    graft_gguf_close(view);
    graft_gguf_close(g);

    int nq, De, nq2, De2;
    float *a = encode_rows(base, dir, f, 2, &nq, &De), *b = encode_rows(base, mmproj, f, 2, &nq2, &De2);
    ck_assert_int_eq(nq, nq2);
    ck_assert_int_eq(De, De2);
    ck_assert_msg(!memcmp(a, b, sizeof(float) * (size_t)nq * De), "the converted mmproj's rows differ from the directory's");
    fprintf(stderr, "qformer %s: converted mmproj rows identical to the directory's\n", f->name);
    ck_assert_msg(graft_gguf_open(llm, &g, &e) == GRAFT_OK, "%s", e.msg);
    const char *arch;
    ck_assert_int_eq(graft_gguf_get_str(g, "general.architecture", &arch, &len, NULL), GRAFT_OK);
    ck_assert_int_eq((int)len, f->text ? 5 : 3);
    ck_assert(!memcmp(arch, f->text ? "llama" : "opt", len));
    graft_gguf_close(g);
    check_lm(f, base, llm, a, nq, "converted GGUF");
    free(a);
    free(b);
}
END_TEST

/* `graft encode -m DIR --image FILE [--qformer-prompt-ids LIST] -o OUT`: the rows that enter the
 * LLM (after the language projection) from the image file, within ABS_TOL of HF's; a bad id list
 * exits 2 with a message. */
START_TEST(test_cli_encode) {
    const fixture *f = &FIX[_i];
    const char *cli = getenv("GRAFT_CLI");
    char base[1024];
    if (!fixture_dir(f, base, sizeof base)) return;
    if (!cli || !*cli) {
        fprintf(stderr, "SKIP test_cli_encode: GRAFT_CLI is not set (make test sets it)\n");
        return;
    }
    char out[600], cmd[4096], ids[256] = "";
    snprintf(out, sizeof out, "%s", tu_tmppath("rows.bin"));
    if (f->text) {
        int n;
        int32_t *q = npy_ids(base, "qformer_input_ids", &n);
        size_t k = (size_t)snprintf(ids, sizeof ids, " --qformer-prompt-ids ");
        for (int i = 0; i < n; i++) k += (size_t)snprintf(ids + k, sizeof ids - k, "%s%d", i ? "," : "", q[i]);
        free(q);
    }
    snprintf(cmd, sizeof cmd, "'%s' encode -m '%s/hf' --image '%s/../../../images/%s'%s -o '%s' 2>/dev/null", cli, base,
             base, f->image, ids, out);
    ck_assert_msg(run_status(cmd) == 0, "%s failed", cmd);
    size_t nr;
    float *ref = npy_f32(base, "language_projection", &nr);
    float *got = malloc(sizeof(float) * (nr + 1));
    FILE *fp = fopen(out, "rb");
    ck_assert_ptr_nonnull(fp);
    ck_assert_uint_eq(fread(got, sizeof(float), nr + 1, fp), nr);
    fclose(fp);
    check_stage(f->name, "graft encode (CLI)", got, ref, nr);
    free(got);
    free(ref);
    snprintf(cmd, sizeof cmd, "'%s' encode -m '%s/hf' --image x.png --qformer-prompt-ids 1,x -o '%s' 2>/dev/null", cli, base, out);
    ck_assert_int_eq(run_status(cmd), 2);
}
END_TEST

/* ---- graft eval: a LLaVA and a BLIP-2 side by side --------------------------------------------- */

/* `graft eval --variant llava:... --variant blip2:...` on one world task file: both variants run
 * (random-weight graft init models: llava-tiny and blip2-tiny, whose recipes place the image
 * inline and in front), each writes its predictions and summary, and the comparison names both. */
START_TEST(test_eval_variants) {
    const char *cli = getenv("GRAFT_CLI");
    if (!cli || !*cli) {
        fprintf(stderr, "SKIP test_eval_variants: GRAFT_CLI is not set (make test sets it)\n");
        return;
    }
    char d[600], cmd[4096];
    snprintf(d, sizeof d, "%s", tu_tmppath("evalv"));
    snprintf(cmd, sizeof cmd,
             "set -e; mkdir -p '%s'; cd '%s'; G='%s'; case \"$G\" in /*) ;; *) G=\"$OLDPWD/$G\";; esac; "
             "\"$G\" init --preset llava-tiny -o llava; \"$G\" init --preset blip2-tiny -o blip2; "
             "\"$G\" world --seed 5 --n 3 -o w; "
             "\"$G\" eval --task vqa --data w/vqa.jsonl --images w --limit 3 -o out "
             "--variant llava:llava/model.gguf:llava/mmproj.gguf --variant blip2:blip2/model.gguf:blip2/mmproj.gguf",
             d, d, cli);
    char full[4200];
    snprintf(full, sizeof full, "(%s) >/dev/null 2>&1", cmd);
    ck_assert_msg(run_status(full) == 0, "%s failed", cmd);
    const char *files[3] = {"out/llava/predictions.jsonl", "out/blip2/predictions.jsonl", "out/summary.md"};
    for (int i = 0; i < 3; i++) {
        char p[800];
        snprintf(p, sizeof p, "%s/%s", d, files[i]);
        size_t len = 0;
        char *txt = tu_read_file(p, &len);
        ck_assert_msg(txt && len > 0, "%s missing or empty", p);
        if (i == 2) ck_assert_msg(strstr(txt, "llava") && strstr(txt, "blip2"), "%s does not name both variants", p);
        free(txt);
    }
    fprintf(stderr, "qformer: graft eval ran llava-tiny and blip2-tiny side by side on one task file\n");
}
END_TEST

/* ---- InstructBLIP's instruction as text: the WordPiece tokenizer of qformer_tokenizer/ ------------ */

/* The fixture has no tokenizer (its instruction ids are random). A copy of the directory gets a
 * qformer_tokenizer/vocab.txt (plus added_tokens.json with [DEC], as the real one has) whose
 * pieces put "what is in the pict" at exactly those ids, so the text instruction must reach the
 * Q-Former as [CLS] 219 456 403 194 188 [SEP] and give HF's rows: the vocab.txt reader, the
 * WordPiece tokenizer (lowercasing, "##" continuations) and [CLS]/[SEP] together. */
START_TEST(test_instruction_text) {
    const fixture *f = &FIX[1];
    char base[1024];
    if (!fixture_dir(f, base, sizeof base)) return;
    char dir[700], cmd[3000];
    snprintf(dir, sizeof dir, "%s", tu_tmppath("ib-tok"));
    snprintf(cmd, sizeof cmd, "mkdir -p '%s/qformer_tokenizer' && cp '%s'/hf/* '%s'/", dir, base, dir);
    ck_assert_int_eq(run_status(cmd), 0);
    char vp[800];
    snprintf(vp, sizeof vp, "%s/qformer_tokenizer/vocab.txt", dir);
    FILE *fp = fopen(vp, "w");
    ck_assert_ptr_nonnull(fp);
    for (int i = 0; i < 999; i++) {
        const char *w = i == 0 ? "[PAD]" : i == 100 ? "[UNK]" : i == 101 ? "[CLS]" : i == 102 ? "[SEP]"
                      : i == 219 ? "what" : i == 456 ? "is" : i == 403 ? "in" : i == 194 ? "the"
                      : i == 188 ? "pict" : i == 189 ? "##ure" : NULL;
        if (w) fprintf(fp, "%s\n", w);
        else fprintf(fp, "[unused%d]\n", i);
    }
    fclose(fp);
    snprintf(vp, sizeof vp, "%s/qformer_tokenizer/added_tokens.json", dir);
    fp = fopen(vp, "w");
    fputs("{\"[DEC]\": 999}\n", fp);
    fclose(fp);
    graft_vision *v = load_vision(dir);
    size_t n = 0;
    int32_t *got = NULL;
    graft_error e;
    ck_assert_msg(graft_vision_tokenize(v, "What is in THE pict", 19, &got, &n, &e) == GRAFT_OK, "%s", e.msg);
    int nw;
    int32_t *want = npy_ids(base, "qformer_input_ids", &nw);
    char list[256];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += (size_t)snprintf(list + k, sizeof list - k, "%s%d", i ? " " : "", got[i]);
    fprintf(stderr, "qformer instructblip: \"What is in THE pict\" -> %s\n", list);
    ck_assert_int_eq((int)n, nw);
    ck_assert(!memcmp(got, want, sizeof *got * n));
    free(got);
    /* and "picture" splits into pict + ##ure */
    ck_assert_int_eq(graft_vision_tokenize(v, "picture", 7, &got, &n, &e), GRAFT_OK);
    ck_assert_int_eq((int)n, 4);
    ck_assert_int_eq(got[1], 188);
    ck_assert_int_eq(got[2], 189);
    free(got);
    free(want);
    /* the rows from the text instruction are HF's */
    graft_vision_ctx *c = vision_ctx(v, 2, 32, 0);
    float *pix = npy_f32(base, "pixel_values", NULL);
    const int nq = graft_vision_ctx_n_tokens(c), De = graft_vision_n_embd(v);
    float *rows = malloc(sizeof(float) * (size_t)nq * De);
    ck_assert_msg(graft_vision_tokenize(v, "What is in THE pict", 19, &got, &n, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_int_eq(graft_vision_encode(c, pix, got, (int)n, rows), GRAFT_OK);
    size_t nr;
    float *ref = npy_f32(base, "language_projection", &nr);
    check_stage(f->name, "rows from text instruction", rows, ref, nr);
    free(ref);
    free(got);
    free(rows);
    free(pix);
    graft_vision_ctx_free(c);
    graft_vision_free(v);
}
END_TEST

/* ---- threads and allocation ------------------------------------------------------------------------- */

/* 1 and 2 threads give the same bits; a second encode in the same context allocates nothing. */
START_TEST(test_threads) {
    const fixture *f = &FIX[_i];
    char base[1024], dir[1100];
    if (!fixture_dir(f, base, sizeof base)) return;
    snprintf(dir, sizeof dir, "%s/hf", base);
    graft_vision *v = load_vision(dir);
    graft_vision_ctx *c1 = vision_ctx(v, 1, 32, 0), *c2 = vision_ctx(v, 2, 32, 0);
    const size_t n = (size_t)graft_vision_ctx_n_tokens(c1) * graft_vision_n_embd(v);
    int n_ids = 0;
    int32_t *ids = f->text ? npy_ids(base, "qformer_input_ids", &n_ids) : NULL;
    float *pix = npy_f32(base, "pixel_values", NULL);
    float *o1 = malloc(n * sizeof(float)), *o2 = malloc(n * sizeof(float)), *o3 = malloc(n * sizeof(float));
    ck_assert_int_eq(graft_vision_encode(c1, pix, ids, n_ids, o1), GRAFT_OK);
    ck_assert_int_eq(graft_vision_encode(c2, pix, ids, n_ids, o2), GRAFT_OK);
    int same = !memcmp(o1, o2, n * sizeof(float));
    if (!same) tu_max_abs_err("1 vs 2 threads", o1, o2, n, 0);
    ck_assert_msg(same, "%s: 1 and 2 threads differ", f->name);
    /* a shorter instruction, then the same one again: no state leaks between encodes */
    if (f->text) ck_assert_int_eq(graft_vision_encode(c2, pix, ids, n_ids - 2, o3), GRAFT_OK);
    struct mallinfo2 m0 = mallinfo2();
    int rc = graft_vision_encode(c2, pix, ids, n_ids, o3);
    struct mallinfo2 m1 = mallinfo2();
    ck_assert_int_eq(rc, GRAFT_OK);
#if !defined(__clang__) /* see test_vision.c: clang's libomp allocates per parallel region */
    ck_assert_msg(m0.uordblks == m1.uordblks && m0.hblkhd == m1.hblkhd, "encode allocated: in-use %zu -> %zu",
                  m0.uordblks, m1.uordblks);
#endif
    ck_assert(!memcmp(o2, o3, n * sizeof(float)));
    fprintf(stderr, "qformer %s: 1 and 2 threads bitwise equal, repeated encode allocates nothing\n", f->name);
    free(o1);
    free(o2);
    free(o3);
    free(pix);
    free(ids);
    graft_vision_ctx_free(c1);
    graft_vision_ctx_free(c2);
    graft_vision_free(v);
}
END_TEST

/* ---- errors ------------------------------------------------------------------------------------------ */

/* The mmproj view of `dir` rewritten to `dst`: without tensor `drop`, with tensor `reshape` given
 * shape ne (zeros), with u32 key `key` set to `val`. */
static const char *rewrite_view(const char *dir, const char *dst, const char *drop, const char *reshape,
                                const int64_t ne[2], const char *key, uint32_t val) {
    graft_gguf *g;
    graft_error e;
    ck_assert_msg(graft_hf_open_gguf(dir, GRAFT_HF_MMPROJ, GRAFT_HF_NATIVE, &g, &e) == GRAFT_OK, "%s", e.msg);
    gguf_writer *w = gguf_writer_new();
    for (int64_t i = 0; i < graft_gguf_n_kv(g); i++) {
        const char *k = graft_gguf_kv_key(g, i);
        graft_gguf_value x = graft_gguf_kv_value(g, i);
        if (key && !strcmp(k, key)) {
            gguf_writer_add_u32(w, k, val);
            continue;
        }
        switch (x.type) {
        case GRAFT_GGUF_U32: gguf_writer_add_u32(w, k, (uint32_t)x.u); break;
        case GRAFT_GGUF_F32: gguf_writer_add_f32(w, k, (float)x.f); break;
        case GRAFT_GGUF_BOOL: gguf_writer_add_bool(w, k, (int)x.u); break;
        case GRAFT_GGUF_STRING: gguf_writer_add_str(w, k, x.str, x.len); break;
        case GRAFT_GGUF_ARRAY: gguf_writer_add_arr(w, k, x.arr_type, graft_gguf_arr_data(g, &x), x.arr_n); break;
        default: ck_abort_msg("key %s has type %d", k, x.type);
        }
    }
    float *zeros = NULL;
    for (int64_t i = 0; i < graft_gguf_n_tensors(g); i++) {
        graft_gguf_tensor t = graft_gguf_tensor_info(g, i);
        if (drop && !strcmp(t.name, drop)) continue;
        if (reshape && !strcmp(t.name, reshape)) {
            zeros = calloc((size_t)(ne[0] * ne[1]), sizeof(float));
            gguf_writer_add_tensor(w, t.name, GRAFT_TYPE_F32, 2, ne, zeros, (size_t)(ne[0] * ne[1]) * sizeof(float),
                                   GGUF_W_COPY);
            continue;
        }
        gguf_writer_add_tensor(w, t.name, t.type, t.n_dims, t.ne, t.data, t.nbytes, 0);
    }
    const char *path = tu_tmppath(dst);
    ck_assert_msg(gguf_writer_write(w, path, &e) == GRAFT_OK, "%s", e.msg);
    gguf_writer_free(w);
    free(zeros);
    graft_gguf_close(g);
    return path;
}

static void expect_load_error(const char *path, int code, const char *s1, const char *s2) {
    graft_vision *v = NULL;
    graft_error e;
    memset(&e, 0, sizeof e);
    int rc = graft_vision_load(path, &v, &e);
    ck_assert_ptr_null(v);
    ck_assert_msg(rc == code, "%s: code %d, want %d (%s)", path, rc, code, e.msg);
    ck_assert_msg(strstr(e.msg, path) != NULL, "the message does not name the file: %s", e.msg);
    ck_assert_msg(strstr(e.msg, s1) != NULL, "'%s' lacks '%s'", e.msg, s1);
    if (s2) ck_assert_msg(strstr(e.msg, s2) != NULL, "'%s' lacks '%s'", e.msg, s2);
    ck_assert_ptr_null(strchr(e.msg, '\n'));
    fprintf(stderr, "qformer error (as expected): %s\n", e.msg);
}

/* A copy of the fixture's hf/ directory with config.json's `from` replaced by `to`. */
static const char *edited_dir(const char *src, const char *name, const char *from, const char *to) {
    static char dir[600];
    snprintf(dir, sizeof dir, "%s", tu_tmppath(name));
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    char path[1200], cmd[3000];
    snprintf(cmd, sizeof cmd, "cp '%s/model.safetensors' '%s/preprocessor_config.json' '%s/'", src, src, dir);
    ck_assert_int_eq(run_status(cmd), 0);
    snprintf(path, sizeof path, "%s/config.json", src);
    size_t n;
    char *raw = tu_read_file(path, &n);
    ck_assert_ptr_nonnull(raw);
    char *cfg = calloc(n + 1, 1);
    memcpy(cfg, raw, n);
    free(raw);
    char *at = strstr(cfg, from);
    ck_assert_msg(at != NULL, "config.json lacks '%s'", from);
    snprintf(path, sizeof path, "%s/config.json", dir);
    FILE *fp = fopen(path, "w");
    ck_assert_ptr_nonnull(fp);
    fprintf(fp, "%.*s%s%s", (int)(at - cfg), cfg, to, at + strlen(from));
    fclose(fp);
    free(cfg);
    return dir;
}

START_TEST(test_errors) {
    char base[1024], dir[1100], bdir[1100];
    if (!fixture_dir(&FIX[1], base, sizeof base)) return;
    snprintf(dir, sizeof dir, "%s/hf", base);
    char b2[1024];
    if (!fixture_dir(&FIX[0], b2, sizeof b2)) return;
    snprintf(bdir, sizeof bdir, "%s/hf", b2);

    /* GGUF files: a missing Q-Former tensor, a wrong shape, cross-attention where the key says none */
    expect_load_error(rewrite_view(dir, "no-cross.gguf", "qf.blk.1.cross_v.weight", NULL, NULL, NULL, 0),
                      GRAFT_E_FORMAT, "missing tensor 'qf.blk.1.cross_v.weight'", NULL);
    const int64_t bad_ne[2] = {40, 41};
    expect_load_error(rewrite_view(dir, "shape.gguf", NULL, "qf.blk.0.cross_k.weight", bad_ne, NULL, 0),
                      GRAFT_E_FORMAT, "tensor 'qf.blk.0.cross_k.weight' has shape [40, 41]", "expected a matrix [56, 40]");
    expect_load_error(rewrite_view(dir, "freq.gguf", NULL, NULL, NULL, "clip.qformer.cross_attention_freq", 2),
                      GRAFT_E_FORMAT, "tensor 'qf.blk.1.cross_q.weight' exists", "cross_attention_freq = 2");
    expect_load_error(rewrite_view(bdir, "freq1.gguf", NULL, NULL, NULL, "clip.qformer.cross_attention_freq", 1),
                      GRAFT_E_FORMAT, "missing tensor 'qf.blk.1.cross_q.weight'", NULL);
    expect_load_error(rewrite_view(dir, "no-pos.gguf", "qf.pos_embd.weight", NULL, NULL, NULL, 0), GRAFT_E_FORMAT,
                      "missing tensor 'qf.pos_embd.weight'", NULL);
    expect_load_error(rewrite_view(dir, "no-key.gguf", NULL, NULL, NULL, "clip.qformer.embedding_length", 0),
                      GRAFT_E_FORMAT, "clip.qformer.embedding_length = 0 is out of range", NULL);

    /* encode: too many instruction ids for the context, for the position table; an id outside the
     * vocabulary; a Q-Former without text embeddings ignores them */
    graft_vision *v = load_vision(dir);
    graft_vision_ctx *c = vision_ctx(v, 2, 40, 0);
    const int nq = graft_vision_ctx_n_tokens(c), De = graft_vision_n_embd(v);
    float *pix = npy_f32(base, "pixel_values", NULL), *out = malloc(sizeof(float) * (size_t)nq * De);
    int32_t ids[41];
    for (int i = 0; i < 41; i++) ids[i] = 101 + i;
    ck_assert_int_eq(graft_vision_encode(c, pix, ids, 41, out), GRAFT_E_LIMIT);
    fprintf(stderr, "qformer error (as expected): %s\n", graft_vision_ctx_last_error(c));
    ck_assert_int_eq(graft_vision_encode(c, pix, ids, 33, out), GRAFT_E_LIMIT);
    ck_assert_msg(strstr(graft_vision_ctx_last_error(c), "33 instruction tokens, more than the Q-Former's 32 positions"),
                  "%s", graft_vision_ctx_last_error(c));
    fprintf(stderr, "qformer error (as expected): %s\n", graft_vision_ctx_last_error(c));
    ck_assert_int_eq(graft_vision_encode(c, pix, ids, 32, out), GRAFT_OK);
    ids[3] = 1000;
    ck_assert_int_eq(graft_vision_encode(c, pix, ids, 5, out), GRAFT_E_INVALID);
    ck_assert_msg(strstr(graft_vision_ctx_last_error(c), "instruction token 3 is 1000, outside the Q-Former's vocabulary of 1000"),
                  "%s", graft_vision_ctx_last_error(c));
    free(out);
    free(pix);
    graft_vision_ctx_free(c);
    graft_vision_free(v);
    v = load_vision(bdir);
    ck_assert_int_eq(graft_vision_n_text_max(v), 0);
    int n1, d1, n2, d2;
    c = vision_ctx(v, 2, 8, 0);
    pix = npy_f32(b2, "pixel_values", NULL);
    float *o1 = malloc(sizeof(float) * 12 * 72), *o2 = malloc(sizeof(float) * 12 * 72);
    ck_assert_int_eq(graft_vision_encode(c, pix, ids, 5, o1), GRAFT_OK);
    ck_assert_int_eq(graft_vision_encode(c, pix, NULL, 0, o2), GRAFT_OK);
    ck_assert(!memcmp(o1, o2, sizeof(float) * 12 * 72));
    (void)n1, (void)d1, (void)n2, (void)d2;
    free(o1);
    free(o2);
    free(pix);
    graft_vision_ctx_free(c);
    graft_vision_free(v);

    /* directories: an unknown text model_type, an unknown architecture, a preprocessor size that is
     * not the ViT's, word_embed_proj_dim != hidden_size */
    graft_error e;
    graft_gguf *g;
    const char *d = edited_dir(bdir, "t5", "\"model_type\": \"opt\"", "\"model_type\": \"t5\"");
    ck_assert_int_eq(graft_hf_open_gguf(d, GRAFT_HF_MMPROJ, GRAFT_HF_NATIVE, &g, &e), GRAFT_E_UNSUPPORTED);
    ck_assert_msg(strstr(e.msg, "config.json: text_config.model_type 't5' is not supported") && strstr(e.msg, d), "%s",
                  e.msg);
    fprintf(stderr, "qformer error (as expected): %s\n", e.msg);
    d = edited_dir(bdir, "arch", "Blip2ForConditionalGeneration", "Blip2ForImageTextRetrieval");
    ck_assert_int_eq(graft_hf_open_gguf(d, GRAFT_HF_LLM, GRAFT_HF_NATIVE, &g, &e), GRAFT_E_UNSUPPORTED);
    ck_assert_msg(strstr(e.msg, "config.json: architecture 'Blip2ForImageTextRetrieval' is not supported"), "%s", e.msg);
    d = edited_dir(bdir, "vtype", "\"model_type\": \"blip_2_vision_model\"", "\"model_type\": \"clip_vision_model\"");
    ck_assert_int_eq(graft_hf_open_gguf(d, GRAFT_HF_MMPROJ, GRAFT_HF_NATIVE, &g, &e), GRAFT_E_UNSUPPORTED);
    ck_assert_msg(strstr(e.msg, "vision_config.model_type 'clip_vision_model' is not supported (graft reads "
                                "blip_2_vision_model)"), "%s", e.msg);
    d = edited_dir(bdir, "proj", "\"word_embed_proj_dim\": 72", "\"word_embed_proj_dim\": 64");
    ck_assert_int_eq(graft_hf_open_gguf(d, GRAFT_HF_LLM, GRAFT_HF_NATIVE, &g, &e), GRAFT_E_UNSUPPORTED);
    ck_assert_msg(strstr(e.msg, "word_embed_proj_dim 64 differs from hidden_size 72"), "%s", e.msg);
    fprintf(stderr, "qformer error (as expected): %s\n", e.msg);
    d = edited_dir(bdir, "qlayers", "\"num_hidden_layers\": 3,\n    \"vocab_size\": 1000", "\"num_hidden_layers\": 4,\n    \"vocab_size\": 1000");
    ck_assert_int_eq(graft_vision_load(d, &v, &e), GRAFT_E_FORMAT);
    ck_assert_msg(strstr(e.msg, "missing tensor 'qformer.encoder.layer.3.attention.attention.query.weight'") &&
                  strstr(e.msg, d), "%s", e.msg);
    fprintf(stderr, "qformer error (as expected): %s\n", e.msg);
    d = edited_dir(bdir, "nq", "\"num_query_tokens\": 12", "\"num_query_tokens\": 32");
    ck_assert_int_eq(graft_vision_load(d, &v, &e), GRAFT_E_FORMAT);
    ck_assert_msg(strstr(e.msg, "tensor 'query_tokens' has shape [1, 12, 48], config.json implies [1, 32, 48]"), "%s", e.msg);
    fprintf(stderr, "qformer error (as expected): %s\n", e.msg);
}
END_TEST

/* graft inspect DIR lists both views; the decoder of BLIP-2 is graft's "opt" */
START_TEST(test_inspect) {
    const char *cli = getenv("GRAFT_CLI");
    char base[1024];
    if (!fixture_dir(&FIX[0], base, sizeof base)) return;
    if (!cli || !*cli) {
        fprintf(stderr, "SKIP test_inspect: GRAFT_CLI is not set (make test sets it)\n");
        return;
    }
    char cmd[2400];
    snprintf(cmd, sizeof cmd, "'%s' inspect --no-tensors '%s/hf'", cli, base);
    FILE *p = popen(cmd, "r");
    ck_assert_ptr_nonnull(p);
    static char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf - 1, p);
    buf[n] = 0;
    ck_assert_int_eq(pclose(p), 0);
    ck_assert_msg(strstr(buf, "\"opt\"") && strstr(buf, "\"qformer\"") && strstr(buf, "\"blip2\"") &&
                  strstr(buf, "opt.layer_norm_before"), "%s", buf);
}
END_TEST

Suite *suite_qformer(void) {
    Suite *s = suite_create("qformer");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_stages, 0, 2);
    tcase_add_loop_test(tc, test_from_image, 0, 2);
    tcase_add_loop_test(tc, test_lm, 0, 2);
    tcase_add_loop_test(tc, test_convert, 0, 2);
    tcase_add_loop_test(tc, test_cli_encode, 0, 2);
    tcase_add_loop_test(tc, test_threads, 0, 2);
    tcase_add_test(tc, test_eval_variants);
    tcase_add_test(tc, test_instruction_text);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_inspect);
    suite_add_tcase(s, tc);
    return s;
}
