/* test_hf.c - Hugging Face directories as models (src/hf.c): loaded directly with
 * graft_model_load / graft_vision_load, against HF transformers' own outputs on ../shared's
 * llava-tiny-b, against the llama.cpp GGUF pair of the same model tensor by tensor, against the
 * committed float64 references of tests/fixtures/llava/pair-f32 (tests/fixtures/hf/, written by
 * tests/reference/make_hf_fixtures.py from that pair's weights), bad directories, and the CLI
 * without --mmproj. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "gguf_impl.h"
#include "gguf_write.h"
#include "graft.h"
#include "hf.h"
#include "kernels.h"
#include "npy.h"
#include "test_util.h"

/* Tolerances, relative to max|ref|. HF's fp32 vs fp64 noise on llava-tiny-b is 2.6e-6 absolute
 * (1.4e-6 relative); graft's GGUF pair of the same model reaches ~1e-6 (test_vision.c,
 * test_pipeline.c). 1e-4 leaves room for the kernel variants and still fails on any real
 * mistake: a wrong rope pairing or an unpermuted Q/K gives O(1) errors, a tanh GELU 1e-4 .. 5e-4. */
#define HF_TOL 1e-4

static double rel_err(const char *label, const float *got, const float *ref, size_t n) {
    double scale = tu_max_abs(ref, n);
    double e = tu_max_abs_err(label, got, ref, n, HF_TOL * scale);
    return e / (scale > 0 ? scale : 1);
}

static float *npy_f32(const char *dir, const char *name, size_t want) {
    char path[1200];
    snprintf(path, sizeof path, "%s/ref/%s.npy", dir, name);
    npy_array a;
    ck_assert_msg(npy_load(path, &a) == 0, "cannot read %s", path);
    ck_assert_msg(a.count == want, "%s: %zu values, want %zu", path, a.count, want);
    float *f = npy_as_f32(&a);
    npy_free(&a);
    return f;
}

static int64_t *npy_i64(const char *dir, const char *name, size_t *n) {
    char path[1200];
    snprintf(path, sizeof path, "%s/ref/%s.npy", dir, name);
    npy_array a;
    ck_assert_msg(npy_load(path, &a) == 0, "cannot read %s", path);
    int64_t *v = npy_as_i64(&a);
    *n = a.count;
    npy_free(&a);
    return v;
}

/* ---- in-memory GGUF images (gguf_writer_header + graft_gguf_open_image) ---------------------- */

static int n_owner_freed;
static void count_free(void *p) {
    (void)p;
    n_owner_freed++;
}

/* A header image opens with the caller's data pointers and owns what it is given; every prefix of
 * the image opens or fails cleanly, freeing the owner exactly once either way. */
START_TEST(test_open_image) {
    static const float a[6] = {1, 2, 3, 4, 5, 6};
    static const uint16_t b[3] = {0x3c00, 0x4000, 0x4200};
    gguf_writer *w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "llama", 5);
    gguf_writer_add_u32(w, "llama.block_count", 7);
    int64_t ne_a[2] = {3, 2}, ne_b[1] = {3};
    gguf_writer_add_tensor(w, "a", GRAFT_TYPE_F32, 2, ne_a, a, sizeof a, 0);
    gguf_writer_add_tensor(w, "b", GRAFT_TYPE_F16, 1, ne_b, b, sizeof b, 0);
    unsigned char *img;
    size_t size;
    const void **data;
    graft_error e;
    ck_assert_int_eq(gguf_writer_header(w, &img, &size, &data, &e), 0);
    ck_assert_uint_eq(size % 32, 0);
    ck_assert_ptr_eq(data[0], a);
    ck_assert_ptr_eq(data[1], b);
    for (size_t len = 0; len <= size; len++) {
        unsigned char *copy = malloc(len ? len : 1);
        memcpy(copy, img, len);
        graft_gguf *g = NULL;
        n_owner_freed = 0;
        int rc = graft_gguf_open_image("mem", copy, len, data, &n_owner_freed, count_free, &g, &e);
        ck_assert_int_eq(rc != 0, g == NULL);
        if (rc) {
            ck_assert_int_eq(n_owner_freed, 1);
            ck_assert_msg(!strncmp(e.msg, "mem: ", 5), "%s", e.msg);
            continue;
        }
        ck_assert_str_eq(graft_gguf_path(g), "mem");
        uint32_t v;
        ck_assert_int_eq(graft_gguf_get_u32(g, "llama.block_count", &v, NULL), 0);
        ck_assert_uint_eq(v, 7);
        graft_gguf_tensor t = graft_gguf_tensor_info(g, graft_gguf_find_tensor(g, "b"));
        ck_assert_ptr_eq(t.data, b);
        ck_assert_ptr_eq(graft_gguf_tensor_info(g, 0).data, a);
        ck_assert_int_eq(n_owner_freed, 0);
        graft_gguf_close(g);
        ck_assert_int_eq(n_owner_freed, 1);
    }
    /* a missing data pointer is refused */
    const void *none[2] = {a, NULL};
    unsigned char *copy = malloc(size);
    memcpy(copy, img, size);
    graft_gguf *g;
    ck_assert_int_eq(graft_gguf_open_image("mem", copy, size, none, NULL, NULL, &g, &e), GRAFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "tensor 'b' has no data"));
    free(img);
    free(data);
    gguf_writer_free(w);
}
END_TEST

/* ---- ../shared/fixtures/hf/llava-tiny-b: the HF directory itself ------------------------------ */

/* The vision tower straight from the HF directory: every hidden state up to the feature layer and
 * the projector rows against HF's. */
START_TEST(test_tiny_b_vision) {
    const char *base = tu_shared("fixtures/hf/llava-tiny-b");
    if (!base) return;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/hf", base);
    ck_assert(graft_hf_is_dir(dir));
    ck_assert(graft_path_has_vision(dir));
    graft_error e;
    graft_vision *v;
    ck_assert_msg(graft_vision_load(dir, &v, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_int_eq(graft_vision_image_size(v), 56);
    ck_assert_int_eq(graft_vision_n_tokens(v), 16);
    ck_assert_int_eq(graft_vision_n_embd(v), 56);
    ck_assert_int_eq(graft_vision_n_layer(v), 3);
    graft_vision_ctx_params cp = graft_vision_ctx_default_params();
    cp.keep_hidden = 1;
    graft_vision_ctx *c;
    ck_assert_msg(graft_vision_ctx_new(v, &cp, &c, &e) == GRAFT_OK, "%s", e.msg);
    float *pix = npy_f32(base, "pixel_values", 3 * 56 * 56);
    float out[16 * 56];
    ck_assert_int_eq(graft_vision_encode(c, pix, NULL, 0, out), GRAFT_OK);
    const size_t T = 17, D = 48;
    float *hs = npy_f32(base, "vision_hidden_states", 5 * T * D);
    double worst = 0;
    for (int k = 0; k <= 3; k++) {
        double r = rel_err("hidden", graft_vision_ctx_hidden(c, k), hs + k * T * D, T * D);
        worst = r > worst ? r : worst;
    }
    float *ref = npy_f32(base, "image_features", 16 * 56);
    double rf = rel_err("image_features", out, ref, 16 * 56);
    fprintf(stderr, "hf llava-tiny-b dir vs HF: vision hidden states %.2e, image_features %.2e x max|ref|\n", worst,
            rf);
    ck_assert_msg(worst <= HF_TOL && rf <= HF_TOL, "hidden %.3g, features %.3g", worst, rf);
    free(pix);
    free(hs);
    free(ref);
    graft_vision_ctx_free(c);
    graft_vision_free(v);
}
END_TEST

/* The decoder from the HF directory (Q/K as HF stores them, NEOX rope): logits at all 31 positions
 * with the image rows spliced at the <image> index, then HF's 32 greedy ids. */
START_TEST(test_tiny_b_logits_greedy) {
    const char *base = tu_shared("fixtures/hf/llava-tiny-b");
    if (!base) return;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/hf", base);
    graft_error e;
    graft_model *m;
    graft_vision *v;
    ck_assert_msg(graft_model_load(dir, NULL, &m, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_msg(graft_vision_load(dir, &v, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_int_eq(graft_model_n_vocab(m), 32064);
    ck_assert_int_eq(graft_model_n_embd(m), 56);
    ck_assert_int_eq(graft_model_n_ctx_train(m), 512);
    graft_vision_ctx *vc;
    ck_assert_int_eq(graft_vision_ctx_new(v, NULL, &vc, &e), GRAFT_OK);
    float *pix = npy_f32(base, "pixel_values", 3 * 56 * 56);
    float rows[16 * 56];
    ck_assert_int_eq(graft_vision_encode(vc, pix, NULL, 0, rows), GRAFT_OK);

    size_t n_ids, n_gen;
    int64_t *ids = npy_i64(base, "input_ids", &n_ids), *gen = npy_i64(base, "generated_ids", &n_gen);
    ck_assert_uint_eq(n_ids, 16);
    ck_assert_uint_eq(n_gen, 48);
    int32_t seq[31];
    float *embd = calloc(31 * 56, sizeof(float));
    int n = 0;
    for (size_t i = 0; i < n_ids; i++) {
        if (ids[i] == 32000) { /* <image>: the 16 projector rows */
            for (int r = 0; r < 16; r++, n++) {
                seq[n] = -1;
                memcpy(embd + (size_t)n * 56, rows + r * 56, 56 * sizeof(float));
            }
        } else {
            seq[n++] = (int32_t)ids[i];
        }
    }
    ck_assert_int_eq(n, 31);
    graft_ctx_params cp = graft_ctx_default_params();
    cp.n_ctx = 128;
    cp.n_batch = 64;
    cp.kv_type = GRAFT_TYPE_F32;
    cp.logits_all = 1;
    graft_ctx *ctx;
    ck_assert_msg(graft_ctx_new(m, &cp, &ctx, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_int_eq(graft_decode(ctx, seq, embd, 31), GRAFT_OK);
    const size_t V = 32064;
    float *ref = npy_f32(base, "logits", 31 * V);
    double worst = 0;
    for (int i = 0; i < 31; i++) {
        double r = rel_err("logits", graft_ctx_logits(ctx, i), ref + i * V, V);
        worst = r > worst ? r : worst;
    }
    fprintf(stderr, "hf llava-tiny-b dir vs HF: logits at 31 positions %.2e x max|ref|\n", worst);
    ck_assert_msg(worst <= HF_TOL, "logits %.3g", worst);

    graft_sampler_params sp = graft_sampler_default_params();
    sp.temp = 0;
    graft_sampler *s;
    ck_assert_int_eq(graft_sampler_new(&sp, (int)V, &s, &e), GRAFT_OK);
    for (int i = 16; i < 48; i++) {
        int32_t tok = graft_sampler_sample(s, graft_ctx_logits(ctx, -1));
        ck_assert_msg(tok == gen[i], "greedy token %d: %d, HF %lld", i - 16, tok, (long long)gen[i]);
        ck_assert_int_eq(graft_decode(ctx, &tok, NULL, 1), GRAFT_OK);
    }
    graft_sampler_free(s);
    free(ref);
    free(embd);
    free(ids);
    free(gen);
    free(pix);
    graft_ctx_free(ctx);
    graft_vision_ctx_free(vc);
    graft_vision_free(v);
    graft_model_free(m);
}
END_TEST

/* Key values equal (numbers by value, strings and arrays by content). */
static int same_value(const graft_gguf *a, graft_gguf_value x, const graft_gguf *b, graft_gguf_value y) {
    if (x.type != y.type) return 0;
    switch (x.type) {
    case GRAFT_GGUF_STRING: return x.len == y.len && !memcmp(x.str, y.str, x.len);
    case GRAFT_GGUF_F32: case GRAFT_GGUF_F64: return x.f == y.f;
    case GRAFT_GGUF_ARRAY:
        if (x.arr_type != y.arr_type || x.arr_n != y.arr_n) return 0;
        for (uint64_t j = 0; j < x.arr_n; j++)
            if (!same_value(a, graft_gguf_arr_get(a, &x, j), b, graft_gguf_arr_get(b, &y, j))) return 0;
        return 1;
    default: return x.u == y.u && x.i == y.i;
    }
}

/* The views against the GGUF pair llama.cpp's converters wrote for the same directory: the
 * llama.cpp layout is tensor for tensor the same bytes (Q/K permuted included) and carries the
 * same model keys; the native layout differs only in Q/K rows and its private rope key. */
static void compare_view(const char *dir, graft_hf_part part, const char *gguf_path) {
    graft_error e;
    graft_gguf *ref, *view[2];
    ck_assert_msg(graft_gguf_open(gguf_path, &ref, &e) == GRAFT_OK, "%s", e.msg);
    for (int lay = 0; lay < 2; lay++)
        ck_assert_msg(graft_hf_open_gguf(dir, part, lay, &view[lay], &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_ptr_nonnull(strstr(graft_gguf_path(view[0]), dir));
    for (int lay = 0; lay < 2; lay++) {
        graft_gguf *g = view[lay];
        ck_assert_int_eq(graft_gguf_n_tensors(g), graft_gguf_n_tensors(ref));
        int n_qk = 0;
        for (int64_t i = 0; i < graft_gguf_n_tensors(ref); i++) {
            graft_gguf_tensor t = graft_gguf_tensor_info(ref, i);
            int64_t j = graft_gguf_find_tensor(g, t.name);
            ck_assert_msg(j >= 0, "view lacks %s", t.name);
            graft_gguf_tensor u = graft_gguf_tensor_info(g, j);
            ck_assert_int_eq(u.type, t.type);
            ck_assert_int_eq(u.n_dims, t.n_dims);
            for (int d = 0; d < 4; d++) ck_assert_int_eq(u.ne[d], t.ne[d]);
            ck_assert_uint_eq(u.nbytes, t.nbytes);
            int qk = part == GRAFT_HF_LLM && (strstr(t.name, "attn_q.") || strstr(t.name, "attn_k."));
            int same = !memcmp(u.data, t.data, t.nbytes);
            if (lay == GRAFT_HF_NATIVE && qk) {
                ck_assert_msg(!same, "%s: native rows equal the permuted ones", t.name);
                n_qk++;
            } else {
                ck_assert_msg(same, "%s (layout %d): data differs from the GGUF", t.name, lay);
            }
        }
        uint32_t n_layer = 0;
        if (part == GRAFT_HF_LLM) ck_assert_int_eq(graft_gguf_get_u32(ref, "llama.block_count", &n_layer, NULL), 0);
        ck_assert_int_eq(n_qk, lay == GRAFT_HF_NATIVE ? 2 * (int)n_layer : 0);
        for (int64_t i = 0; i < graft_gguf_n_kv(ref); i++) {
            const char *k = graft_gguf_kv_key(ref, i);
            if (!strncmp(k, "tokenizer.", 10) || !strcmp(k, "general.name")) continue;
            int64_t j = graft_gguf_find_kv(g, k);
            ck_assert_msg(j >= 0, "view lacks key %s", k);
            ck_assert_msg(same_value(ref, graft_gguf_kv_value(ref, i), g, graft_gguf_kv_value(g, j)),
                          "key %s differs", k);
        }
        int neox = 0;
        int rc = graft_gguf_get_bool(g, "graft.rope.neox", &neox, NULL);
        if (part == GRAFT_HF_LLM && lay == GRAFT_HF_NATIVE) ck_assert(rc == GRAFT_OK && neox);
        else ck_assert_int_eq(rc, GRAFT_E_NOTFOUND);
    }
    graft_gguf_close(view[0]);
    graft_gguf_close(view[1]);
    graft_gguf_close(ref);
}

START_TEST(test_tiny_b_views_vs_pair) {
    const char *base = tu_shared("fixtures/hf/llava-tiny-b");
    if (!base) return;
    char dir[1100], p[1200];
    snprintf(dir, sizeof dir, "%s/hf", base);
    snprintf(p, sizeof p, "%s/gguf/llava-tiny-b-llm-f32.gguf", base);
    compare_view(dir, GRAFT_HF_LLM, p);
    snprintf(p, sizeof p, "%s/gguf/llava-tiny-b-mmproj-f32.gguf", base);
    compare_view(dir, GRAFT_HF_MMPROJ, p);
}
END_TEST

/* ---- tests/fixtures/hf: the committed llava pair as HF directories ---------------------------- */

#define PAIR "tests/fixtures/llava/pair-f32"
#define N_GEN 32
/* As test_llava_pair.c: rows 2e-5 x max|ref| (f32 ViT and projector; seen ~6e-7), logits 1e-4 (seen
 * ~3e-6); the references are float64 on exactly the weights the files hold (BF16/F16-rounded for
 * llava-pair-bf16, whose greedy margins are >= 0.076), so the greedy ids must be identical. */
#define ROW_TOL 2e-5
#define LOGIT_TOL 1e-4

static const char *const HF_VARIANTS[] = {"llava-pair", "llava-pair-bf16"};

static int read_id_list(const char *path, int32_t *ids, int cap) {
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    int n = 0, v;
    while (n < cap && fscanf(f, "%d", &v) == 1) ids[n++] = v;
    fclose(f);
    return n;
}

static float *read_f32_file(const char *path, size_t n) {
    size_t len;
    float *d = tu_read_file(path, &len);
    ck_assert_msg(d && len == n * sizeof(float), "%s: %zu bytes, want %zu", path, d ? len : 0, n * sizeof(float));
    return d;
}

/* The directory loaded as graft's model and vision tower, the pair's pixels and prompt: rows, logits
 * at every position, 32 greedy ids against the float64 reference (pair-f32's for llava-pair, its
 * own for llava-pair-bf16). */
START_TEST(test_pair_dir) {
    char dir[256], refdir[256], p[512];
    snprintf(dir, sizeof dir, "tests/fixtures/hf/%s", HF_VARIANTS[_i]);
    snprintf(refdir, sizeof refdir, "%s", _i == 0 ? PAIR : dir);
    ck_assert(graft_path_has_vision(dir));
    graft_error e;
    graft_model *m;
    graft_vision *v;
    ck_assert_msg(graft_model_load(dir, NULL, &m, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_msg(graft_vision_load(dir, &v, &e) == GRAFT_OK, "%s", e.msg);
    const int E = graft_model_n_embd(m), V = graft_model_n_vocab(m);
    ck_assert_int_eq(E, 64);
    ck_assert_int_eq(V, 320);
    ck_assert_int_eq(graft_vision_n_layer(v), 2);
    int32_t prompt[64], greedy[N_GEN];
    snprintf(p, sizeof p, PAIR "/prompt.ids.txt");
    int np = read_id_list(p, prompt, 64), na = 0;
    while (na < np && prompt[na] != -1) na++;
    ck_assert_int_lt(na, np);
    snprintf(p, sizeof p, "%s/greedy.txt", refdir);
    ck_assert_int_eq(read_id_list(p, greedy, N_GEN), N_GEN);
    float *pix = read_f32_file(PAIR "/pixels.f32", 3 * 32 * 32);
    snprintf(p, sizeof p, "%s/image_rows.f32", refdir);
    float *ref_rows = read_f32_file(p, 16 * 64);
    const int n = np - 1 + 16;
    snprintf(p, sizeof p, "%s/logits.f32", refdir);
    float *ref = read_f32_file(p, (size_t)n * V);

    graft_vision_ctx *vc;
    ck_assert_int_eq(graft_vision_ctx_new(v, NULL, &vc, &e), GRAFT_OK);
    float *embd = calloc((size_t)n * E, sizeof(float));
    ck_assert_int_eq(graft_vision_encode(vc, pix, NULL, 0, embd + (size_t)na * E), GRAFT_OK);
    double rs = tu_max_abs(ref_rows, 16 * 64);
    double row_err = tu_max_abs_err("rows", embd + (size_t)na * E, ref_rows, 16 * 64, ROW_TOL * rs) / rs;
    int32_t ids[96];
    for (int i = 0, k = 0; i < np; i++) {
        if (prompt[i] == -1)
            for (int r = 0; r < 16; r++) ids[k++] = -1;
        else ids[k++] = prompt[i];
    }
    graft_ctx_params cp = graft_ctx_default_params();
    cp.n_ctx = 128;
    cp.kv_type = GRAFT_TYPE_F32;
    cp.logits_all = 1;
    graft_ctx *ctx;
    ck_assert_msg(graft_ctx_new(m, &cp, &ctx, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_int_eq(graft_decode(ctx, ids, embd, n), GRAFT_OK);
    double ls = tu_max_abs(ref, (size_t)n * V), worst = 0;
    for (int i = 0; i < n; i++) {
        double err = tu_max_abs_err("logits", graft_ctx_logits(ctx, i), ref + (size_t)i * V, (size_t)V, LOGIT_TOL * ls);
        worst = err > worst ? err : worst;
    }
    graft_sampler_params sp = graft_sampler_default_params();
    sp.temp = 0;
    graft_sampler *s;
    ck_assert_int_eq(graft_sampler_new(&sp, V, &s, &e), GRAFT_OK);
    int first_bad = -1;
    for (int i = 0; i < N_GEN; i++) {
        int32_t tok = graft_sampler_sample(s, graft_ctx_logits(ctx, -1));
        if (tok != greedy[i] && first_bad < 0) first_bad = i;
        ck_assert_int_eq(graft_decode(ctx, &tok, NULL, 1), GRAFT_OK);
    }
    fprintf(stderr, "hf %s: rows %.2e, logits %.2e x max|ref| over %d positions, greedy %s\n", HF_VARIANTS[_i],
            row_err, worst / ls, n, first_bad < 0 ? "identical" : "DIFFERS");
    ck_assert_msg(row_err <= ROW_TOL, "rows %.3g", row_err);
    ck_assert_msg(worst <= LOGIT_TOL * ls, "logits %.3g", worst / ls);
    ck_assert_msg(first_bad < 0, "greedy id %d differs", first_bad);
    graft_sampler_free(s);
    graft_ctx_free(ctx);
    graft_vision_ctx_free(vc);
    free(embd);
    free(ref);
    free(ref_rows);
    free(pix);
    graft_vision_free(v);
    graft_model_free(m);
}
END_TEST

/* llava-pair against the pair's own GGUF files: the llama.cpp layout is the same bytes, the native
 * one differs in Q/K only; the 1-D F16 tensors of llava-pair-bf16 become F32 equal to their F16
 * values, its BF16 matrices stay BF16 in place. */
START_TEST(test_pair_views) {
    compare_view("tests/fixtures/hf/llava-pair", GRAFT_HF_LLM, PAIR "/model.gguf");
    compare_view("tests/fixtures/hf/llava-pair", GRAFT_HF_MMPROJ, PAIR "/mmproj.gguf");
    graft_error e;
    graft_gguf *g, *f;
    ck_assert_msg(graft_hf_open_gguf("tests/fixtures/hf/llava-pair-bf16", GRAFT_HF_LLM, GRAFT_HF_LLAMACPP, &g, &e) == 0,
                  "%s", e.msg);
    ck_assert_int_eq(graft_gguf_open(PAIR "/model.gguf", &f, &e), 0);
    for (int64_t i = 0; i < graft_gguf_n_tensors(f); i++) {
        graft_gguf_tensor a = graft_gguf_tensor_info(f, i);
        graft_gguf_tensor b = graft_gguf_tensor_info(g, graft_gguf_find_tensor(g, a.name));
        ck_assert_ptr_nonnull(b.name);
        int64_t ne = a.ne[0] * a.ne[1];
        const float *x = a.data;
        for (int64_t k = 0; k < ne; k++) {
            float want, got;
            if (a.n_dims == 1) { /* F16 on disk, F32 in the view */
                ck_assert_int_eq(b.type, GRAFT_TYPE_F32);
                want = graft_f16_to_f32(graft_f32_to_f16(x[k]));
                got = ((const float *)b.data)[k];
            } else {
                ck_assert_int_eq(b.type, GRAFT_TYPE_BF16);
                want = graft_bf16_to_f32(graft_f32_to_bf16(x[k]));
                got = graft_bf16_to_f32(((const uint16_t *)b.data)[k]);
            }
            ck_assert_msg(got == want, "%s[%lld]: %g, want %g", a.name, (long long)k, got, want);
        }
    }
    graft_gguf_close(f);
    graft_gguf_close(g);
}
END_TEST

/* A LlamaForCausalLM directory (F16 everywhere, norms included; an untied lm_head; defaults omitted
 * from config.json): logits of the text-only prompt and 32 greedy ids against its float64 reference
 * (min greedy margin 0.030); no vision tower. */
START_TEST(test_llama_text) {
    const char *dir = "tests/fixtures/hf/llama-text";
    graft_error e;
    graft_model *m;
    ck_assert(graft_hf_is_dir(dir));
    ck_assert(!graft_path_has_vision(dir));
    ck_assert_msg(graft_model_load(dir, NULL, &m, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_int_eq(graft_model_n_ctx_train(m), 2048); /* max_position_embeddings' default */
    graft_vision *v;
    ck_assert_int_eq(graft_vision_load(dir, &v, &e), GRAFT_E_NOTFOUND);
    ck_assert_msg(strstr(e.msg, "no vision tower") != NULL, "%s", e.msg);
    graft_gguf *g;
    ck_assert_int_eq(graft_hf_open_gguf(dir, GRAFT_HF_LLM, GRAFT_HF_NATIVE, &g, &e), GRAFT_OK);
    int64_t oi = graft_gguf_find_tensor(g, "output.weight");
    ck_assert(oi >= 0 && graft_gguf_tensor_info(g, oi).type == GRAFT_TYPE_F16);
    ck_assert_int_eq(graft_gguf_tensor_info(g, graft_gguf_find_tensor(g, "output_norm.weight")).type, GRAFT_TYPE_F32);
    graft_gguf_close(g);
    int32_t prompt[64], ids[64], greedy[N_GEN];
    int np = read_id_list(PAIR "/prompt.ids.txt", prompt, 64), n = 0;
    for (int i = 0; i < np; i++)
        if (prompt[i] >= 0) ids[n++] = prompt[i];
    ck_assert_int_eq(read_id_list("tests/fixtures/hf/llama-text/greedy.txt", greedy, N_GEN), N_GEN);
    const int V = graft_model_n_vocab(m);
    float *ref = read_f32_file("tests/fixtures/hf/llama-text/logits.f32", (size_t)n * V);
    graft_ctx_params cp = graft_ctx_default_params();
    cp.n_ctx = 64;
    cp.kv_type = GRAFT_TYPE_F32;
    cp.logits_all = 1;
    graft_ctx *ctx;
    ck_assert_msg(graft_ctx_new(m, &cp, &ctx, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_int_eq(graft_decode(ctx, ids, NULL, n), GRAFT_OK);
    double ls = tu_max_abs(ref, (size_t)n * V), worst = 0;
    for (int i = 0; i < n; i++) {
        double err = tu_max_abs_err("logits", graft_ctx_logits(ctx, i), ref + (size_t)i * V, (size_t)V, LOGIT_TOL * ls);
        worst = err > worst ? err : worst;
    }
    graft_sampler_params sp = graft_sampler_default_params();
    sp.temp = 0;
    graft_sampler *s;
    ck_assert_int_eq(graft_sampler_new(&sp, V, &s, &e), GRAFT_OK);
    int first_bad = -1;
    for (int i = 0; i < N_GEN; i++) {
        int32_t tok = graft_sampler_sample(s, graft_ctx_logits(ctx, -1));
        if (tok != greedy[i] && first_bad < 0) first_bad = i;
        ck_assert_int_eq(graft_decode(ctx, &tok, NULL, 1), GRAFT_OK);
    }
    fprintf(stderr, "hf llama-text: logits %.2e x max|ref| over %d positions, greedy %s\n", worst / ls, n,
            first_bad < 0 ? "identical" : "DIFFERS");
    ck_assert_msg(worst <= LOGIT_TOL * ls, "logits %.3g", worst / ls);
    ck_assert_msg(first_bad < 0, "greedy id %d differs", first_bad);
    graft_sampler_free(s);
    graft_ctx_free(ctx);
    free(ref);
    graft_model_free(m);
}
END_TEST

/* ---- bad directories ------------------------------------------------------------------------- */

static void write_text(const char *path, const char *text) {
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
}

/* A copy of llava-pair (config.json rewritten by `edit`: a from -> to replacement, or the whole text
 * when from is NULL; the safetensors copied with an optional byte-for-byte rename in its header). */
static const char *bad_dir(const char *name, const char *from, const char *to, const char *rename_from,
                           const char *rename_to) {
    static char dir[1024];
    snprintf(dir, sizeof dir, "%s", tu_tmppath(name));
    ck_assert_int_eq(mkdir(dir, 0755), 0);
    size_t n;
    char *raw = tu_read_file("tests/fixtures/hf/llava-pair/config.json", &n);
    ck_assert_ptr_nonnull(raw);
    char *cfg = calloc(n + 1, 1); /* NUL-terminated */
    memcpy(cfg, raw, n);
    free(raw);
    char path[1200], text[8192];
    if (!from) {
        snprintf(text, sizeof text, "%s", to);
    } else {
        char *at = strstr(cfg, from);
        ck_assert_msg(at != NULL, "config.json lacks '%s'", from);
        snprintf(text, sizeof text, "%.*s%s%s", (int)(at - cfg), cfg, to, at + strlen(from));
    }
    free(cfg);
    if (to) {
        snprintf(path, sizeof path, "%s/config.json", dir);
        write_text(path, text);
    }
    unsigned char *st = tu_read_file("tests/fixtures/hf/llava-pair/model.safetensors", &n);
    ck_assert_ptr_nonnull(st);
    if (rename_from) {
        ck_assert_uint_eq(strlen(rename_from), strlen(rename_to));
        unsigned char *at = memmem(st, 4096, rename_from, strlen(rename_from));
        ck_assert_ptr_nonnull(at);
        memcpy(at, rename_to, strlen(rename_to));
    }
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(st, 1, n, f), n);
    fclose(f);
    free(st);
    return dir;
}

typedef struct {
    const char *name, *from, *to, *rename_from, *rename_to;
    int part;       /* GRAFT_HF_LLM or GRAFT_HF_MMPROJ: what is loaded */
    int code;
    const char *expect, *expect2; /* in the message */
} bad_case;

static const bad_case BAD[] = {
    {"no-config", NULL, NULL, NULL, NULL, GRAFT_HF_LLM, GRAFT_E_NOTFOUND, "config.json: cannot open", NULL},
    {"not-json", NULL, "{\"architectures\": [\"Llava", NULL, NULL, GRAFT_HF_LLM, GRAFT_E_FORMAT,
     "config.json: not valid JSON", NULL},
    {"not-object", NULL, "[1, 2]", NULL, NULL, GRAFT_HF_LLM, GRAFT_E_FORMAT, "config.json: not a JSON object", NULL},
    {"arch", "LlavaForConditionalGeneration", "MistralForCausalLM", NULL, NULL, GRAFT_HF_LLM, GRAFT_E_UNSUPPORTED,
     "architecture 'MistralForCausalLM' is not supported", NULL},
    {"arch-type", "[\n    \"LlavaForConditionalGeneration\"\n  ]", "7", NULL, NULL, GRAFT_HF_LLM, GRAFT_E_FORMAT,
     "architectures must be a list of strings", NULL},
    {"width-str", "\"hidden_size\": 64", "\"hidden_size\": \"64\"", NULL, NULL, GRAFT_HF_LLM, GRAFT_E_FORMAT,
     "text_config.hidden_size must be a positive integer", NULL},
    {"width-neg", "\"hidden_size\": 32", "\"hidden_size\": -32", NULL, NULL, GRAFT_HF_MMPROJ, GRAFT_E_FORMAT,
     "vision_config.hidden_size must be a positive integer", NULL},
    {"tie-type", "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": 1", NULL, NULL, GRAFT_HF_LLM,
     GRAFT_E_FORMAT, "tie_word_embeddings must be true or false", NULL},
    {"text-config-type", "\"text_config\": {", "\"text_config\": [], \"x\": {", NULL, NULL, GRAFT_HF_LLM,
     GRAFT_E_FORMAT, "text_config must be an object", NULL},
    {"heads", "\"num_key_value_heads\": 2", "\"num_key_value_heads\": 3", NULL, NULL, GRAFT_HF_LLM, GRAFT_E_FORMAT,
     "do not divide evenly", NULL},
    {"rope", "\"rms_norm_eps\"", "\"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2.0}, \"rms_norm_eps\"", NULL,
     NULL, GRAFT_HF_LLM, GRAFT_E_UNSUPPORTED, "rope_scaling type 'dynamic' is not supported", NULL},
    {"act", "\"model_type\": \"clip_vision_model\"", "\"model_type\": \"clip_vision_model\", \"hidden_act\": \"relu\"",
     NULL, NULL, GRAFT_HF_MMPROJ, GRAFT_E_UNSUPPORTED, "hidden_act 'relu' is not supported", NULL},
    {"ffn-shape", "\"intermediate_size\": 32", "\"intermediate_size\": 33", NULL, NULL, GRAFT_HF_LLM, GRAFT_E_FORMAT,
     "tensor 'language_model.model.layers.0.mlp.gate_proj.weight' has shape [32, 64], config.json implies [33, 64]",
     NULL},
    {"patch-shape", "\"patch_size\": 8", "\"patch_size\": 4", NULL, NULL, GRAFT_HF_MMPROJ, GRAFT_E_FORMAT,
     "has shape [32, 3, 8, 8], config.json implies [32, 3, 4, 4]", NULL},
    {"missing-norm", NULL, NULL, "language_model.model.norm.weight", "language_model.model.norX.weight", GRAFT_HF_LLM,
     GRAFT_E_FORMAT, "missing tensor 'language_model.model.norm.weight'", NULL},
    {"missing-proj", NULL, NULL, "multi_modal_projector.linear_2.bias", "multi_modal_projector.linear_9.bias",
     GRAFT_HF_MMPROJ, GRAFT_E_FORMAT, "missing tensor 'multi_modal_projector.linear_2.bias'", NULL},
    {"dtype", NULL, NULL, "model.norm.weight\":{\"dtype\":\"F32\"", "model.norm.weight\":{\"dtype\":\"I32\"",
     GRAFT_HF_LLM, GRAFT_E_UNSUPPORTED, "tensor 'language_model.model.norm.weight' has dtype I32, which graft does not read",
     NULL},
    {"layer", "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3", NULL, NULL, GRAFT_HF_LLM, GRAFT_E_FORMAT,
     "missing tensor 'language_model.model.layers.2.input_layernorm.weight'", NULL},
    {"untied", "\"tie_word_embeddings\": true", "\"tie_word_embeddings\": false", NULL, NULL, GRAFT_HF_LLM,
     GRAFT_E_FORMAT, "missing tensor 'language_model.lm_head.weight'", NULL},
};

/* Each bad directory fails to load with one line naming the directory or file and the problem (the
 * same through graft_model_load / graft_vision_load); nothing leaks or crashes (SANITIZE=1). */
START_TEST(test_bad_dirs) {
    const bad_case *b = &BAD[_i];
    const char *from = b->from, *to = b->to;
    if (!from && !to && !b->rename_from) to = NULL; /* no config.json */
    else if (!from && !to) from = "\"model_type\": \"llava\"", to = "\"model_type\": \"llava\"";
    const char *dir = bad_dir(b->name, from, to, b->rename_from, b->rename_to);
    graft_error e;
    memset(&e, 0, sizeof e);
    graft_gguf *g = NULL;
    int rc = graft_hf_open_gguf(dir, b->part, GRAFT_HF_NATIVE, &g, &e);
    ck_assert_ptr_null(g);
    ck_assert_msg(rc == b->code, "%s: code %d, want %d (%s)", b->name, rc, b->code, e.msg);
    ck_assert_int_eq(e.code, rc);
    ck_assert_msg(strstr(e.msg, dir) != NULL, "%s: message does not name the directory: %s", b->name, e.msg);
    ck_assert_msg(strstr(e.msg, b->expect) != NULL, "%s: message '%s' lacks '%s'", b->name, e.msg, b->expect);
    ck_assert_ptr_null(strchr(e.msg, '\n'));
    /* the public loaders say the same */
    graft_error e2;
    if (b->part == GRAFT_HF_LLM) {
        graft_model *m = NULL;
        ck_assert_int_eq(graft_model_load(dir, NULL, &m, &e2), rc);
        ck_assert_ptr_null(m);
    } else {
        graft_vision *v = NULL;
        ck_assert_int_eq(graft_vision_load(dir, &v, &e2), rc);
        ck_assert_ptr_null(v);
    }
    ck_assert_str_eq(e2.msg, e.msg);
}
END_TEST

/* A Llama-only directory (LlamaForCausalLM config over the same checkpoint: its names are LLaVA's,
 * so the decoder is not found) and a directory that is no model: clean errors; no vision there. */
START_TEST(test_not_llava) {
    const char *dir = bad_dir("llama-only", NULL,
                              "{\"architectures\": [\"LlamaForCausalLM\"], \"hidden_size\": 64, \"intermediate_size\": 32,"
                              " \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"num_key_value_heads\": 2,"
                              " \"vocab_size\": 320, \"tie_word_embeddings\": true}",
                              NULL, NULL);
    ck_assert(graft_hf_is_dir(dir));
    ck_assert(!graft_path_has_vision(dir));
    graft_error e;
    graft_gguf *g;
    ck_assert_int_eq(graft_hf_open_gguf(dir, GRAFT_HF_MMPROJ, GRAFT_HF_NATIVE, &g, &e), GRAFT_E_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(e.msg, "no vision tower"));
    ck_assert_int_eq(graft_hf_open_gguf(dir, GRAFT_HF_LLM, GRAFT_HF_NATIVE, &g, &e), GRAFT_E_FORMAT);
    ck_assert_msg(strstr(e.msg, "no decoder in the checkpoint") != NULL, "%s", e.msg);
    ck_assert(!graft_path_has_vision("tests/fixtures"));
    ck_assert(!graft_path_has_vision(PAIR "/model.gguf"));
    ck_assert(!graft_hf_is_dir(PAIR));
    graft_model *m;
    ck_assert_int_eq(graft_model_load(PAIR, NULL, &m, &e), GRAFT_E_NOTFOUND);
    ck_assert_msg(strstr(e.msg, PAIR "/config.json") != NULL, "%s", e.msg);
}
END_TEST

/* config.json variants that load: rope_scaling {"rope_type": "default"} is no scaling, a linear one
 * becomes llama.cpp's keys; without vision_config LlavaConfig's CLIP ViT-L/14-336 is implied (so this
 * checkpoint's shapes disagree with it, and the message shows the default width 1024). */
START_TEST(test_config_variants) {
    graft_error e;
    graft_gguf *g;
    const char *dir = bad_dir("rope-default", "\"rms_norm_eps\"", "\"rope_scaling\": {\"rope_type\": \"default\"}, \"rms_norm_eps\"",
                              NULL, NULL);
    ck_assert_msg(graft_hf_open_gguf(dir, GRAFT_HF_LLM, GRAFT_HF_NATIVE, &g, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert(graft_gguf_find_kv(g, "llama.rope.scale_linear") < 0);
    graft_gguf_close(g);
    dir = bad_dir("rope-linear", "\"rms_norm_eps\"", "\"rope_scaling\": {\"type\": \"linear\", \"factor\": 2.0}, \"rms_norm_eps\"",
                  NULL, NULL);
    ck_assert_msg(graft_hf_open_gguf(dir, GRAFT_HF_LLM, GRAFT_HF_LLAMACPP, &g, &e) == GRAFT_OK, "%s", e.msg);
    float f = 0;
    ck_assert_int_eq(graft_gguf_get_f32(g, "llama.rope.scale_linear", &f, NULL), 0);
    ck_assert_float_eq(f, 2.0f);
    ck_assert_int_eq(graft_gguf_get_f32(g, "llama.rope.scaling.factor", &f, NULL), 0);
    ck_assert_float_eq(f, 2.0f);
    graft_gguf_close(g);
    dir = bad_dir("no-vision-config", "\"vision_config\"", "\"unused_vision_config\"", NULL, NULL);
    ck_assert_int_eq(graft_hf_open_gguf(dir, GRAFT_HF_MMPROJ, GRAFT_HF_NATIVE, &g, &e), GRAFT_E_FORMAT);
    ck_assert_msg(strstr(e.msg, "'multi_modal_projector.linear_1.weight' has shape [64, 32], config.json implies "
                                "[64, 1024]") != NULL, "%s", e.msg);
}
END_TEST

/* ---- the CLI: -m DIR without --mmproj -------------------------------------------------------- */

static char *run_cmd(const char *cmd, int *status) {
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    size_t cap = 1 << 16, n = 0, r;
    char *buf = malloc(cap);
    while ((r = fread(buf + n, 1, cap - 1 - n, f)) > 0) n += r;
    buf[n] = 0;
    int st = pclose(f);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return buf;
}

/* `graft -m DIR --pixels P --prompt-ids A,-1,B -n 4 --temp 0` runs the vision tower from the same
 * directory (no --mmproj) and prints the reference's first greedy ids (the fixture has no tokenizer,
 * so the CLI prints ids); `graft encode -m DIR` writes the reference's projector rows. */
START_TEST(test_cli_dir) {
    const char *cli = getenv("GRAFT_CLI");
    if (!cli || !*cli) {
        fprintf(stderr, "SKIP test_cli_dir: GRAFT_CLI is not set (make test sets it)\n");
        return;
    }
    int32_t prompt[64], greedy[N_GEN];
    int np = read_id_list(PAIR "/prompt.ids.txt", prompt, 64);
    ck_assert_int_eq(read_id_list(PAIR "/greedy.txt", greedy, N_GEN), N_GEN);
    char list[512] = "", cmd[2048], want[128];
    size_t k = 0;
    for (int i = 0; i < np; i++) k += (size_t)snprintf(list + k, sizeof list - k, "%s%d", i ? "," : "", prompt[i]);
    snprintf(want, sizeof want, "%d %d %d %d", greedy[0], greedy[1], greedy[2], greedy[3]);
    snprintf(cmd, sizeof cmd, "'%s' -m tests/fixtures/hf/llava-pair --pixels " PAIR "/pixels.f32 --prompt-ids %s "
             "-n 4 --temp 0 -ctk f32 2>/dev/null", cli, list);
    int st;
    char *out = run_cmd(cmd, &st);
    ck_assert_msg(st == 0, "%s: exit %d", cmd, st);
    ck_assert_msg(strstr(out, want) != NULL, "%s: printed '%s', want the ids '%s'", cmd, out, want);
    free(out);
    const char *rows = tu_tmppath("hf_rows.bin");
    snprintf(cmd, sizeof cmd, "'%s' encode -m tests/fixtures/hf/llava-pair --pixels " PAIR "/pixels.f32 -o %s 2>/dev/null",
             cli, rows);
    free(run_cmd(cmd, &st));
    ck_assert_msg(st == 0, "%s: exit %d", cmd, st);
    float *got = read_f32_file(rows, 16 * 64), *ref = read_f32_file(PAIR "/image_rows.f32", 16 * 64);
    double rs = tu_max_abs(ref, 16 * 64);
    ck_assert(tu_max_abs_err("encode rows", got, ref, 16 * 64, ROW_TOL * rs) <= ROW_TOL * rs);
    free(got);
    free(ref);
    /* a GGUF decoder with images still needs --mmproj */
    snprintf(cmd, sizeof cmd, "'%s' -m " PAIR "/model.gguf --pixels " PAIR "/pixels.f32 --prompt-ids %s -n 1 2>&1",
             cli, list);
    out = run_cmd(cmd, &st);
    ck_assert_int_ne(st, 0);
    ck_assert_msg(strstr(out, "need --mmproj") != NULL, "%s", out);
    free(out);
}
END_TEST

/* `graft -m HF_DIR --image IMG -p ...` on llava-tiny-b without --mmproj (the tokenizer from the
 * directory's tokenizer.model): the same text as the GGUF pair gives, which starts with HF's greedy
 * text. */
START_TEST(test_tiny_b_cli) {
    const char *cli = getenv("GRAFT_CLI");
    const char *base = tu_shared("fixtures/hf/llava-tiny-b");
    if (!base) return;
    if (!cli || !*cli) {
        fprintf(stderr, "SKIP test_tiny_b_cli: GRAFT_CLI is not set (make test sets it)\n");
        return;
    }
    char cmd[4096];
    char *out[2];
    int st;
    for (int k = 0; k < 2; k++) {
        char model[2400];
        if (k == 0) snprintf(model, sizeof model, "%s/hf", base);
        else
            snprintf(model, sizeof model, "%s/gguf/llava-tiny-b-llm-f32.gguf --mmproj %s/gguf/llava-tiny-b-mmproj-f32.gguf",
                     base, base);
        snprintf(cmd, sizeof cmd, "'%s' -m %s --image %s/../../../images/llava_extreme_ironing.jpg --image-mode crop "
                 "--chat-template none -p 'USER: <image>\\nWhat is shown? ASSISTANT:' --no-display-prompt -n 4 "
                 "--temp 0 -ctk f32 2>/dev/null", cli, model, base);
        out[k] = run_cmd(cmd, &st);
        ck_assert_msg(st == 0, "%s: exit %d", cmd, st);
    }
    ck_assert_str_eq(out[0], out[1]);
    ck_assert_msg(!strncmp(out[0], "WhyARCHAR", 9), "HF's greedy text starts 'WhyARCHAR', got '%.40s'", out[0]);
    free(out[0]);
    free(out[1]);
}
END_TEST

Suite *suite_hf(void) {
    Suite *s = suite_create("hf");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_open_image);
    tcase_add_test(tc, test_tiny_b_vision);
    tcase_add_test(tc, test_tiny_b_logits_greedy);
    tcase_add_test(tc, test_tiny_b_views_vs_pair);
    tcase_add_loop_test(tc, test_pair_dir, 0, 2);
    tcase_add_test(tc, test_pair_views);
    tcase_add_test(tc, test_llama_text);
    tcase_add_loop_test(tc, test_bad_dirs, 0, (int)(sizeof BAD / sizeof BAD[0]));
    tcase_add_test(tc, test_not_llava);
    tcase_add_test(tc, test_config_variants);
    tcase_add_test(tc, test_cli_dir);
    tcase_add_test(tc, test_tiny_b_cli);
    suite_add_tcase(s, tc);
    return s;
}
