/* test_owl.c - mPLUG-Owl (CLIP-style ViT + visual abstractor + LLaMA) on the committed tiny random
 * model against the independent float64 reference (tests/reference/make_owl_fixtures.py, owl_ref.py,
 * README-owl.md): tests/fixtures/owl/tiny/ holds the graft GGUF pair, normalised pixels, the prompt
 * as ids and the reference's vision last hidden state, abstractor output, the rows entering the
 * LLM, logits at every position of [text, image rows, text] and 32 greedy ids. Driven through the
 * public API (graft_vision_encode, then graft_decode with the rows where the image goes); also
 * thread invariance, load errors and the CLI. */
#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "clip.h"
#include "gguf_write.h"
#include "hf.h"
#include "quantize.h"
#include "graft.h"
#include "projector.h"
#include "test_util.h"

#define DIR "tests/fixtures/owl/tiny/"
#define HF_DIR "tests/fixtures/owl/tiny-hf" /* the same weights under the authors' names, loaded in place */

/* The model under test: the graft GGUF pair, or the authors' Hugging Face directory (both parts). */
static const char *const SRC_LLM[2] = {DIR "model.gguf", HF_DIR};
static const char *const SRC_MMPROJ[2] = {DIR "mmproj.gguf", HF_DIR};
#define N_GEN 32
#define MAX_IDS 64

/* The fixture's sizes (README-owl.md): image 32, patch 8 -> T = 17 ViT rows of width 32; 8 queries
 * of width 32; LLM width 64, vocab 320; 9 rows enter the LLM. */
enum { S = 32, T = 17, D = 32, Q = 8, DE = 64, N_ROWS = Q + 1, V = 320 };

/* Tolerances, relative to max|ref| of each stage. graft runs in f32 against a float64 reference on
 * the same (f32) weights; O(1) activations through 2 ViT blocks and 2 abstractor layers give
 * about 1e-6 relative (measured below), so:
 * - vision / abstractor / rows 2e-5, the bar of the vision suite: 20x above what is seen, and
 *   still red for every plausible mistake the generator tabulates (the smallest detectable one,
 *   normk's eps at 1e-6 instead of 1e-5, moves the rows by 2.2e-3 x max|ref|; norm2's eps is the
 *   one mistake the fixture cannot see, 2e-6);
 * - logits 1e-4, the project's usual bound for the decoder (llama.cpp vs the float64 reference is
 *   1e-6 on a model of this size); the rows carry their own ~1e-6 into it.
 * The reference's smallest top1-top2 greedy margin is 0.140, so the 32 greedy ids must be equal. */
#define STAGE_TOL 2e-5
#define LOGIT_TOL 1e-4

static void *read_exact(const char *name, size_t n_bytes) {
    char p[256];
    snprintf(p, sizeof p, DIR "%s", name);
    size_t len = 0;
    void *d = tu_read_file(p, &len);
    ck_assert_msg(d != NULL, "cannot read %s", p);
    ck_assert_msg(len == n_bytes, "%s: %zu bytes, want %zu", p, len, n_bytes);
    return d;
}

static float *read_f32(const char *name, size_t n) { return read_exact(name, n * sizeof(float)); }

static int read_ids(const char *name, int32_t *ids, int cap) {
    char p[256];
    snprintf(p, sizeof p, DIR "%s", name);
    FILE *fp = fopen(p, "r");
    ck_assert_msg(fp != NULL, "cannot open %s", p);
    int n = 0, v;
    while (n < cap && fscanf(fp, "%d", &v) == 1) ids[n++] = v;
    fclose(fp);
    return n;
}

/* chunk A (BOS first), the image marker, chunk B, as prompt.ids.txt has them */
typedef struct {
    int32_t a[MAX_IDS], b[MAX_IDS];
    int na, nb;
} prompt;

static void read_prompt(prompt *pr) {
    int32_t ids[MAX_IDS];
    int n = read_ids("prompt.ids.txt", ids, MAX_IDS), marker = -1;
    for (int i = 0; i < n; i++)
        if (ids[i] == -1) {
            ck_assert_msg(marker < 0, "two image markers");
            marker = i;
        }
    ck_assert(marker > 0 && ids[0] == 1);
    pr->na = marker;
    pr->nb = n - marker - 1;
    memcpy(pr->a, ids, sizeof(int32_t) * (size_t)pr->na);
    memcpy(pr->b, ids + marker + 1, sizeof(int32_t) * (size_t)pr->nb);
}

static double rel(const char *label, const float *got, const float *want, size_t n, double tol) {
    double scale = tu_max_abs(want, n);
    return tu_max_abs_err(label, got, want, n, tol * scale) / scale;
}

static graft_vision *load_vision_from(const char *path) {
    graft_vision *v = NULL;
    graft_error e;
    ck_assert_msg(graft_vision_load(path, &v, &e) == GRAFT_OK, "%s", e.msg);
    return v;
}

static graft_vision *load_vision(void) { return load_vision_from(DIR "mmproj.gguf"); }

static graft_vision_ctx *vision_ctx(const graft_vision *v, int n_threads) {
    graft_vision_ctx_params p = graft_vision_ctx_default_params();
    p.n_threads = n_threads;
    p.keep_hidden = 1;
    graft_vision_ctx *c = NULL;
    graft_error e;
    ck_assert_msg(graft_vision_ctx_new(v, &p, &c, &e) == GRAFT_OK, "%s", e.msg);
    return c;
}

/* ---- the image path: vision last hidden state, abstractor output, rows -------------------------- */

START_TEST(test_owl_image_path) {
    graft_vision *v = load_vision_from(SRC_MMPROJ[_i]);
    ck_assert_str_eq(graft_vision_recipe(v)->name, "mplug_owl");
    ck_assert_str_eq(graft_vision_projector(v), "owl_abstractor");
    ck_assert_int_eq(graft_vision_image_size(v), S);
    ck_assert_int_eq(graft_vision_n_embd_vision(v), D);
    ck_assert_int_eq(graft_vision_n_embd(v), DE);
    ck_assert_int_eq(graft_vision_n_tokens(v), N_ROWS);   /* 8 queries + vit_eos */
    graft_vision_ctx *c = vision_ctx(v, 2);
    ck_assert_int_eq(graft_vision_ctx_n_tokens(c), N_ROWS);
    float *pixels = read_f32("pixels.f32", (size_t)3 * S * S);
    float *rows = malloc(sizeof(float) * N_ROWS * DE);
    ck_assert_msg(graft_vision_encode(c, pixels, NULL, 0, rows) == GRAFT_OK, "%s", graft_vision_ctx_last_error(c));

    /* what the abstractor reads: every ViT row, CLS first, post_layernorm applied */
    int nr = 0, nc = 0;
    const float *feats = graft_vision_ctx_features(c, &nr, &nc);
    ck_assert_ptr_nonnull(feats);
    ck_assert_int_eq(nr, T);
    ck_assert_int_eq(nc, D);
    float *ref_last = read_f32("vision_last_hidden.f32", (size_t)T * D);
    const double e_vis = rel("vision last hidden", feats, ref_last, (size_t)T * D, STAGE_TOL);
    /* the kept hidden states stay before post_layernorm, as Hugging Face's hidden_states do */
    ck_assert(memcmp(graft_vision_ctx_hidden(c, graft_vision_n_layer(v)), feats, sizeof(float) * T * D));

    float *ref_q = read_f32("abstractor_out.f32", (size_t)Q * D);
    const double e_ab = rel("abstractor output", graft_owl_abstractor_queries(c->proj_scratch), ref_q,
                            (size_t)Q * D, STAGE_TOL);
    float *ref_rows = read_f32("image_rows.f32", (size_t)N_ROWS * DE);
    const double e_rows = rel("image rows", rows, ref_rows, (size_t)N_ROWS * DE, STAGE_TOL);
    /* the last row is vit_eos itself, whatever the image */
    ck_assert(!memcmp(rows + (size_t)Q * DE, ref_rows + (size_t)Q * DE, sizeof(float) * DE));
    fprintf(stderr, "owl image path (%s): vision last hidden %.2e, abstractor %.2e, rows %.2e (x max|ref|)\n",
            SRC_MMPROJ[_i], e_vis, e_ab, e_rows);
    ck_assert_msg(e_vis <= STAGE_TOL, "vision last hidden state off by %.3e x max|ref|", e_vis);
    ck_assert_msg(e_ab <= STAGE_TOL, "abstractor output off by %.3e x max|ref|", e_ab);
    ck_assert_msg(e_rows <= STAGE_TOL, "rows entering the LLM off by %.3e x max|ref|", e_rows);
    free(ref_rows);
    free(ref_q);
    free(ref_last);
    free(rows);
    free(pixels);
    graft_vision_ctx_free(c);
    graft_vision_free(v);
}
END_TEST

/* 1 and 2 threads give the same bits, encoding twice gives the same bits (nothing carried over in
 * the scratch), and an encode allocates nothing (the failing-allocator hook never fires) */
START_TEST(test_owl_threads) {
    graft_vision *v = load_vision();
    float *pixels = read_f32("pixels.f32", (size_t)3 * S * S);
    float *out[3];
    for (int i = 0; i < 3; i++) {
        graft_vision_ctx *c = vision_ctx(v, i == 0 ? 1 : 2);
        out[i] = malloc(sizeof(float) * N_ROWS * DE);
        ck_assert_int_eq(graft_vision_encode(c, pixels, NULL, 0, out[i]), GRAFT_OK);
        if (i == 2) {
            tu_alloc_fail_after(0);
            int rc = graft_vision_encode(c, pixels, NULL, 0, out[i]);
            ck_assert_msg(!tu_alloc_disarm(), "an encode allocated memory");
            ck_assert_int_eq(rc, GRAFT_OK);
        }
        graft_vision_ctx_free(c);
    }
    ck_assert_msg(!memcmp(out[0], out[1], sizeof(float) * N_ROWS * DE), "1 vs 2 threads differ");
    ck_assert_msg(!memcmp(out[1], out[2], sizeof(float) * N_ROWS * DE), "a second encode differs");
    for (int i = 0; i < 3; i++) free(out[i]);
    free(pixels);
    graft_vision_free(v);
}
END_TEST

/* ---- the whole model: logits at every position, greedy ------------------------------------------ */

START_TEST(test_owl_logits_greedy) {
    prompt pr;
    read_prompt(&pr);
    int32_t greedy_ref[N_GEN];
    ck_assert_int_eq(read_ids("greedy.txt", greedy_ref, N_GEN), N_GEN);
    graft_error e;
    graft_model *m;
    ck_assert_msg(graft_model_load(SRC_LLM[_i], NULL, &m, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_int_eq(graft_model_n_embd(m), DE);
    ck_assert_int_eq(graft_model_n_vocab(m), V);
    graft_vision *v = load_vision_from(SRC_MMPROJ[_i]);
    graft_vision_ctx *vc = vision_ctx(v, 2);

    graft_ctx_params cp = graft_ctx_default_params();
    cp.n_ctx = 128;
    cp.n_batch = 64;
    cp.n_threads = 2;
    cp.kv_type = GRAFT_TYPE_F32;
    cp.logits_all = 1;
    graft_ctx *ctx;
    ck_assert_msg(graft_ctx_new(m, &cp, &ctx, &e) == GRAFT_OK, "%s", e.msg);

    /* [chunk A, 9 image rows, chunk B]: ids -1 where the rows go, positions 0..n-1 throughout */
    const int n = pr.na + N_ROWS + pr.nb;
    float *pixels = read_f32("pixels.f32", (size_t)3 * S * S);
    float *embd = calloc((size_t)n * DE, sizeof(float));
    int32_t ids[MAX_IDS];
    ck_assert_int_eq(graft_vision_encode(vc, pixels, NULL, 0, embd + (size_t)pr.na * DE), GRAFT_OK);
    for (int i = 0; i < pr.na; i++) ids[i] = pr.a[i];
    for (int i = 0; i < N_ROWS; i++) ids[pr.na + i] = -1;
    for (int i = 0; i < pr.nb; i++) ids[pr.na + N_ROWS + i] = pr.b[i];
    ck_assert_msg(graft_decode(ctx, ids, embd, n) == GRAFT_OK, "%s", graft_ctx_last_error(ctx));
    ck_assert_int_eq(graft_ctx_pos(ctx), n);
    float *ref = read_f32("logits.f32", (size_t)n * V);
    const double scale = tu_max_abs(ref, (size_t)n * V);
    double worst = 0;
    int worst_pos = 0;
    for (int i = 0; i < n; i++) {
        char label[48];
        snprintf(label, sizeof label, "logits row %d", i);
        double err = tu_max_abs_err(label, graft_ctx_logits(ctx, i), ref + (size_t)i * V, V, LOGIT_TOL * scale);
        if (err > worst) worst = err, worst_pos = i;
    }

    /* the decoder alone, on the reference's rows */
    float *embd_ref = calloc((size_t)n * DE, sizeof(float));
    float *ref_rows = read_f32("image_rows.f32", (size_t)N_ROWS * DE);
    memcpy(embd_ref + (size_t)pr.na * DE, ref_rows, sizeof(float) * N_ROWS * DE);
    ck_assert_int_eq(graft_ctx_rewind(ctx, 0), GRAFT_OK);
    ck_assert_msg(graft_decode(ctx, ids, embd_ref, n) == GRAFT_OK, "%s", graft_ctx_last_error(ctx));
    double worst_dec = 0;
    for (int i = 0; i < n; i++) {
        char label[48];
        snprintf(label, sizeof label, "logits (reference rows) row %d", i);
        double err = tu_max_abs_err(label, graft_ctx_logits(ctx, i), ref + (size_t)i * V, V, LOGIT_TOL * scale);
        if (err > worst_dec) worst_dec = err;
    }

    /* greedy, one token per graft_decode, from graft's own rows */
    ck_assert_int_eq(graft_ctx_rewind(ctx, 0), GRAFT_OK);
    ck_assert_msg(graft_decode(ctx, ids, embd, n) == GRAFT_OK, "%s", graft_ctx_last_error(ctx));
    graft_sampler_params sp = graft_sampler_default_params();
    sp.temp = 0;
    graft_sampler *smp;
    ck_assert_int_eq(graft_sampler_new(&sp, V, &smp, &e), GRAFT_OK);
    int first_bad = -1;
    int32_t got[N_GEN];
    for (int i = 0; i < N_GEN; i++) {
        int32_t tok = graft_sampler_sample(smp, graft_ctx_logits(ctx, -1));
        got[i] = tok;
        if (tok != greedy_ref[i] && first_bad < 0) first_bad = i;
        ck_assert_msg(graft_decode(ctx, &tok, NULL, 1) == GRAFT_OK, "%s", graft_ctx_last_error(ctx));
    }
    fprintf(stderr, "owl logits (%s): max err %.2e x max|ref| (%.3f) at position %d of %d (%.2e from the "
                    "reference's rows), greedy %s\n", SRC_LLM[_i], worst / scale, scale, worst_pos, n, worst_dec / scale,
            first_bad < 0 ? "identical (32 ids)" : "DIFFERS");
    if (first_bad >= 0)
        for (int i = first_bad; i < N_GEN && i < first_bad + 4; i++)
            fprintf(stderr, "  greedy step %d: graft %d, reference %d\n", i, got[i], greedy_ref[i]);
    ck_assert_msg(worst <= LOGIT_TOL * scale, "logits off by %.3e at position %d (tol %.3e)", worst, worst_pos,
                  LOGIT_TOL * scale);
    ck_assert_msg(worst_dec <= LOGIT_TOL * scale, "logits from the reference's rows off by %.3e", worst_dec);
    ck_assert_msg(first_bad < 0, "greedy id %d differs", first_bad);
    graft_sampler_free(smp);
    free(ref_rows);
    free(embd_ref);
    free(ref);
    free(embd);
    free(pixels);
    graft_ctx_free(ctx);
    graft_vision_ctx_free(vc);
    graft_vision_free(v);
    graft_model_free(m);
}
END_TEST

/* ---- graft convert of the authors' directory ------------------------------------------------------ */

/* `graft convert tiny-hf -o llm.gguf --mmproj-out mmproj.gguf` (the library's engine): the mmproj
 * holds the split-from-interleaved attn_qkv and gives the directory's rows bit for bit; the LLM
 * (Q/K rows permuted for llama.cpp's rope) gives the reference's greedy ids. */
START_TEST(test_owl_convert) {
    graft_quant_params qp = graft_quant_default_params();
    qp.type = GRAFT_QUANT_KEEP;
    qp.rules = GRAFT_QUANT_RULES_CONVERT;
    graft_error e;
    char llm[600], mm[600];
    snprintf(llm, sizeof llm, "%s", tu_tmppath("owl-llm.gguf"));
    snprintf(mm, sizeof mm, "%s", tu_tmppath("owl-mmproj.gguf"));
    for (int part = 0; part < 2; part++) {
        graft_gguf *g;
        ck_assert_msg(graft_hf_open_gguf(HF_DIR, part, GRAFT_HF_LLAMACPP, &g, &e) == GRAFT_OK, "%s", e.msg);
        ck_assert_msg(graft_quant_write(g, part ? mm : llm, &qp, &e) == GRAFT_OK, "%s", e.msg);
        graft_gguf_close(g);
    }
    float *pixels = read_f32("pixels.f32", (size_t)3 * S * S);
    float *rows[2];
    const char *src[2] = {HF_DIR, mm};
    for (int i = 0; i < 2; i++) {
        graft_vision *v = load_vision_from(src[i]);
        graft_vision_ctx *c = vision_ctx(v, 2);
        rows[i] = malloc(sizeof(float) * N_ROWS * DE);
        ck_assert_int_eq(graft_vision_encode(c, pixels, NULL, 0, rows[i]), GRAFT_OK);
        graft_vision_ctx_free(c);
        graft_vision_free(v);
    }
    ck_assert_msg(!memcmp(rows[0], rows[1], sizeof(float) * N_ROWS * DE), "converted mmproj rows differ from the dir's");
    /* greedy from the converted pair */
    prompt pr;
    read_prompt(&pr);
    int32_t greedy_ref[N_GEN];
    ck_assert_int_eq(read_ids("greedy.txt", greedy_ref, N_GEN), N_GEN);
    graft_model *m;
    ck_assert_msg(graft_model_load(llm, NULL, &m, &e) == GRAFT_OK, "%s", e.msg);
    graft_ctx_params cp = graft_ctx_default_params();
    cp.n_ctx = 128;
    cp.kv_type = GRAFT_TYPE_F32;
    graft_ctx *ctx;
    ck_assert_msg(graft_ctx_new(m, &cp, &ctx, &e) == GRAFT_OK, "%s", e.msg);
    const int n = pr.na + N_ROWS + pr.nb;
    float *embd = calloc((size_t)n * DE, sizeof(float));
    int32_t ids[MAX_IDS];
    memcpy(embd + (size_t)pr.na * DE, rows[1], sizeof(float) * N_ROWS * DE);
    for (int i = 0; i < pr.na; i++) ids[i] = pr.a[i];
    for (int i = 0; i < N_ROWS; i++) ids[pr.na + i] = -1;
    for (int i = 0; i < pr.nb; i++) ids[pr.na + N_ROWS + i] = pr.b[i];
    ck_assert_int_eq(graft_decode(ctx, ids, embd, n), GRAFT_OK);
    graft_sampler_params sp = graft_sampler_default_params();
    sp.temp = 0;
    graft_sampler *smp;
    ck_assert_int_eq(graft_sampler_new(&sp, V, &smp, &e), GRAFT_OK);
    int bad = -1;
    for (int i = 0; i < N_GEN; i++) {
        int32_t tok = graft_sampler_sample(smp, graft_ctx_logits(ctx, -1));
        if (tok != greedy_ref[i] && bad < 0) bad = i;
        ck_assert_int_eq(graft_decode(ctx, &tok, NULL, 1), GRAFT_OK);
    }
    fprintf(stderr, "owl convert: mmproj rows identical to the directory's, greedy %s\n", bad < 0 ? "identical (32 ids)" : "DIFFERS");
    ck_assert_msg(bad < 0, "greedy id %d differs", bad);
    graft_sampler_free(smp);
    free(embd);
    graft_ctx_free(ctx);
    graft_model_free(m);
    free(rows[0]);
    free(rows[1]);
    free(pixels);
}
END_TEST

/* ---- load errors ---------------------------------------------------------------------------------- */

typedef struct {
    const char *drop_tensor;
    const char *reshape_tensor;  /* replaced by zeros of shape [ne0, ne1] (F32) */
    int64_t ne[2];
    const char *u32_key;         /* replaced by u32_val */
    uint32_t u32_val;
} edits;

/* The fixture's mmproj with the edits applied, as a temporary file named `name`. */
static const char *rewrite(const char *name, const edits *ed) {
    graft_gguf *g;
    graft_error e;
    ck_assert_msg(graft_gguf_open(DIR "mmproj.gguf", &g, &e) == GRAFT_OK, "%s", e.msg);
    gguf_writer *w = gguf_writer_new();
    for (int64_t i = 0; i < graft_gguf_n_kv(g); i++) {
        const char *key = graft_gguf_kv_key(g, i);
        graft_gguf_value val = graft_gguf_kv_value(g, i);
        if (ed->u32_key && !strcmp(key, ed->u32_key)) {
            gguf_writer_add_u32(w, key, ed->u32_val);
            continue;
        }
        switch (val.type) {
        case GRAFT_GGUF_U32: gguf_writer_add_u32(w, key, (uint32_t)val.u); break;
        case GRAFT_GGUF_F32: gguf_writer_add_f32(w, key, (float)val.f); break;
        case GRAFT_GGUF_BOOL: gguf_writer_add_bool(w, key, (int)val.u); break;
        case GRAFT_GGUF_STRING: gguf_writer_add_str(w, key, val.str, val.len); break;
        case GRAFT_GGUF_ARRAY:
            ck_assert(val.arr_type == GRAFT_GGUF_F32);
            gguf_writer_add_arr(w, key, val.arr_type, graft_gguf_arr_data(g, &val), val.arr_n);
            break;
        default: ck_abort_msg("rewrite: key %s has type %d", key, val.type);
        }
    }
    float *zeros = NULL;
    for (int64_t i = 0; i < graft_gguf_n_tensors(g); i++) {
        graft_gguf_tensor t = graft_gguf_tensor_info(g, i);
        if (ed->drop_tensor && !strcmp(t.name, ed->drop_tensor)) continue;
        if (ed->reshape_tensor && !strcmp(t.name, ed->reshape_tensor)) {
            size_t nb = (size_t)(ed->ne[0] * ed->ne[1]) * sizeof(float);
            zeros = calloc(1, nb);
            gguf_writer_add_tensor(w, t.name, GRAFT_TYPE_F32, ed->ne[1] > 1 ? 2 : 1, ed->ne, zeros, nb, 0);
        } else {
            gguf_writer_add_tensor(w, t.name, t.type, t.n_dims, t.ne, t.data, t.nbytes, 0);
        }
    }
    const char *path = tu_tmppath(name);
    ck_assert_msg(gguf_writer_write(w, path, &e) == GRAFT_OK, "rewrite: %s", e.msg);
    gguf_writer_free(w);
    free(zeros);
    graft_gguf_close(g);
    return path;
}

/* Loading fails with `code` and one line naming the file and containing s1 and s2. */
static void expect_error(const char *path, int code, const char *s1, const char *s2) {
    graft_vision *v = NULL;
    graft_error e;
    memset(&e, 0, sizeof e);
    int rc = graft_vision_load(path, &v, &e);
    ck_assert_msg(rc == code, "%s: code %d, expected %d (%s)", path, rc, code, e.msg);
    ck_assert_ptr_null(v);
    ck_assert_msg(strstr(e.msg, path) != NULL, "message does not name the file: %s", e.msg);
    ck_assert_msg(!strchr(e.msg, '\n'), "message is not one line: %s", e.msg);
    ck_assert_msg(!s1 || strstr(e.msg, s1), "message lacks '%s': %s", s1, e.msg);
    ck_assert_msg(!s2 || strstr(e.msg, s2), "message lacks '%s': %s", s2, e.msg);
    fprintf(stderr, "owl error (expected): %s\n", e.msg);
}

START_TEST(test_owl_load_errors) {
    edits a = {.drop_tensor = "ab.blk.1.ln_kv.weight"};
    expect_error(rewrite("no_normk.gguf", &a), GRAFT_E_FORMAT, "missing tensor", "'ab.blk.1.ln_kv.weight'");
    edits b = {.drop_tensor = "ab.vit_eos"};
    expect_error(rewrite("no_eos.gguf", &b), GRAFT_E_FORMAT, "missing tensor", "'ab.vit_eos'");
    edits c = {.reshape_tensor = "ab.blk.0.ffn_down.weight", .ne = {D, 48}};  /* transposed: [F, D] expected */
    expect_error(rewrite("ffn_down.gguf", &c), GRAFT_E_FORMAT, "'ab.blk.0.ffn_down.weight'", "[48, 32]");
    edits d = {.reshape_tensor = "ab.query_embd", .ne = {D, Q + 1}};
    expect_error(rewrite("queries.gguf", &d), GRAFT_E_FORMAT, "'ab.query_embd'", "[32, 9]");
    edits f = {.reshape_tensor = "ab.vit_eos", .ne = {DE - 1, 1}};
    expect_error(rewrite("eos.gguf", &f), GRAFT_E_FORMAT, "'ab.vit_eos'", "[64]");
    edits g = {.u32_key = "clip.abstractor.embedding_length", .u32_val = 48};
    expect_error(rewrite("width.gguf", &g), GRAFT_E_FORMAT, "embedding_length 48", "width 32");
    edits h = {.u32_key = "clip.abstractor.block_count", .u32_val = 1000};
    expect_error(rewrite("blocks.gguf", &h), GRAFT_E_FORMAT, "block_count = 1000", NULL);
    edits k = {.u32_key = "clip.abstractor.attention.head_count", .u32_val = 5};
    expect_error(rewrite("heads.gguf", &k), GRAFT_E_FORMAT, "head_count 5", NULL);
}
END_TEST

/* ---- the CLI -------------------------------------------------------------------------------------- */

/* `graft -m model.gguf --mmproj mmproj.gguf --pixels P --prompt-ids A,-1,B -n 32 --temp 0 -ctk f32`
 * prints the bytes the reference's greedy ids render to, then a newline. */
START_TEST(test_owl_cli) {
    const char *cli = getenv("GRAFT_CLI");
    if (!cli || !*cli) {
        fprintf(stderr, "SKIP test_owl_cli: GRAFT_CLI is not set (make test sets it)\n");
        return;
    }
    prompt pr;
    read_prompt(&pr);
    char list[512] = "", cmd[2048];
    size_t k = 0;
    for (int i = 0; i < pr.na; i++) k += (size_t)snprintf(list + k, sizeof list - k, "%d,", pr.a[i]);
    k += (size_t)snprintf(list + k, sizeof list - k, "-1");
    for (int i = 0; i < pr.nb; i++) k += (size_t)snprintf(list + k, sizeof list - k, ",%d", pr.b[i]);
    snprintf(cmd, sizeof cmd,
             "'%s' -m " DIR "model.gguf --mmproj " DIR "mmproj.gguf --pixels " DIR "pixels.f32 --prompt-ids %s "
             "-n %d --temp 0 -ctk f32 -t 2 2>/dev/null", cli, list, N_GEN);
    FILE *pp = popen(cmd, "r");
    ck_assert_ptr_nonnull(pp);
    char out[4096];
    size_t n = fread(out, 1, sizeof out, pp);
    int st = pclose(pp);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: exit status %d", cmd, st);
    size_t want_len;
    char *want = tu_read_file(DIR "greedy.text", &want_len);
    ck_assert_ptr_nonnull(want);
    int same = n == want_len + 1 && !memcmp(out, want, want_len) && out[want_len] == '\n';
    if (!same) fprintf(stderr, "%s\n got %zu bytes: %.*s\nwant %zu bytes: %.*s\n", cmd, n, (int)n, out, want_len,
                       (int)want_len, want);
    ck_assert_msg(same, "the CLI's continuation differs from the reference's greedy text");
    free(want);
}
END_TEST

Suite *suite_owl(void) {
    Suite *s = suite_create("owl");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_owl_image_path, 0, 2);
    tcase_add_test(tc, test_owl_threads);
    tcase_add_loop_test(tc, test_owl_logits_greedy, 0, 2);
    tcase_add_test(tc, test_owl_convert);
    tcase_add_test(tc, test_owl_load_errors);
    tcase_add_test(tc, test_owl_cli);
    suite_add_tcase(s, tc);
    return s;
}
