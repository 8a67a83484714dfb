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

#include "graft.h"
#include "hf.h"
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
        ck_assert_int_eq(n_qk, lay == GRAFT_HF_NATIVE && part == GRAFT_HF_LLM ? 6 : 0);
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

Suite *suite_hf(void) {
    Suite *s = suite_create("hf");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tiny_b_vision);
    tcase_add_test(tc, test_tiny_b_logits_greedy);
    tcase_add_test(tc, test_tiny_b_views_vs_pair);
    suite_add_tcase(s, tc);
    return s;
}
