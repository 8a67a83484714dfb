/* test_vision.c - the CLIP vision encoder and the projectors (src/clip.c, src/projector.c):
 * parity with Hugging Face on ../shared's llava-tiny-b, with the independent numpy reference on
 * tests/fixtures/clip (both llama.cpp FFN layouts, quick_gelu and gelu, linear and mlp, F16),
 * feature-layer and selection rules, thread invariance, and load errors. */
#include <check.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clip.h"
#include "gguf_write.h"
#include "graft.h"
#include "npy.h"
#include "test_util.h"

#define FIX "tests/fixtures/clip/"

/* Tolerance: graft computes in f32 against a float64 reference; ~1e-6 x max|ref| is seen. 2e-5
 * leaves a 20x margin and still catches llama.cpp's tanh-approximated GELU in the projector
 * (1.5e-4). F16: the reference ran on the F16-rounded weights, which graft widens exactly and
 * accumulates in f32, so the same budget holds; 1e-3 would not even tell the F16 file from the
 * F32 one (they differ by 7e-4 x max|ref|). */
#define TOL 2e-5

static graft_vision *load_v(const char *path) {
    graft_vision *v = NULL;
    graft_error e;
    int rc = graft_vision_load(path, &v, &e);
    ck_assert_msg(rc == GRAFT_OK, "load %s: %s", path, e.msg);
    return v;
}

static graft_vision_ctx *ctx_v(const graft_vision *v, int n_threads, int select, int keep_hidden) {
    graft_vision_ctx_params p = graft_vision_ctx_default_params();
    p.n_threads = n_threads;
    p.select = select;
    p.keep_hidden = keep_hidden;
    graft_vision_ctx *c = NULL;
    graft_error e;
    ck_assert_msg(graft_vision_ctx_new(v, &p, &c, &e) == GRAFT_OK, "vision ctx: %s", e.msg);
    return c;
}

static float *load_npy(const char *path, size_t want_count) {
    npy_array a;
    ck_assert_msg(npy_load(path, &a) == 0, "cannot read %s", path);
    ck_assert_msg(a.count == want_count, "%s: %zu values, expected %zu", path, a.count, want_count);
    float *f = npy_as_f32(&a);
    npy_free(&a);
    return f;
}

/* max |got - want| / max |want|, printing the first mismatches beyond rel_tol. */
static double rel_err(const char *label, const float *got, const float *want, size_t n, double rel_tol) {
    double scale = tu_max_abs(want, n);
    if (scale == 0) scale = 1;
    return tu_max_abs_err(label, got, want, n, rel_tol * scale) / scale;
}

/* Encodes `pixels` and returns the projector output (malloc'd). */
static float *encode(graft_vision_ctx *c, const float *pixels) {
    const graft_vision *v = c->vis;
    float *out = malloc(sizeof(float) * (size_t)graft_vision_ctx_n_tokens(c) * graft_vision_n_embd(v));
    ck_assert_int_eq(graft_vision_encode(c, pixels, NULL, 0, out), GRAFT_OK);
    return out;
}

static float *read_pixels(const char *path, int S) {
    size_t len = 0;
    float *p = tu_read_file(path, &len);
    ck_assert_msg(p != NULL, "cannot read %s", path);
    ck_assert_uint_eq(len, (size_t)3 * S * S * sizeof(float));
    return p;
}

/* ---- parity with Hugging Face: ../shared llava-tiny-b ---------------------------------------- */

/* The GGUF pair's mmproj (legacy layout, F32) on HF's pixel_values: every hidden state up to the
 * feature layer and the projector output within TOL x max|ref| (HF's own fp32 vs fp64 noise is
 * ~1e-6 relative; the numpy float64 reference reaches 3.2e-6 absolute, 8e-7 relative). */
START_TEST(test_hf_llava_tiny_b) {
    const char *dir = tu_shared("fixtures/hf/llava-tiny-b");
    if (!dir) return;
    char path[1024];
    snprintf(path, sizeof path, "%s/gguf/llava-tiny-b-mmproj-f32.gguf", dir);
    graft_vision *v = load_v(path);
    ck_assert_int_eq(graft_vision_image_size(v), 56);
    ck_assert_int_eq(graft_vision_patch_size(v), 14);
    ck_assert_int_eq(graft_vision_n_tokens(v), 16);
    ck_assert_int_eq(graft_vision_n_embd(v), 56);
    ck_assert_int_eq(graft_vision_n_embd_vision(v), 48);
    ck_assert_int_eq(graft_vision_n_layer(v), 3);
    ck_assert_str_eq(graft_vision_projector(v), "mlp");
    ck_assert_int_eq(v->hp.legacy_ffn, 1);
    ck_assert_int_eq(v->hp.act, GRAFT_CLIP_ACT_GELU_ERF);
    float mean[3], std[3];
    graft_vision_norm(v, mean, std);
    ck_assert_float_eq_tol(mean[0], 0.48145467f, 1e-7f);
    ck_assert_float_eq_tol(std[2], 0.2757771f, 1e-7f);

    snprintf(path, sizeof path, "%s/ref/pixel_values.npy", dir);
    float *pix = load_npy(path, 3 * 56 * 56);
    graft_vision_ctx *c = ctx_v(v, 2, GRAFT_VISION_SELECT_DEFAULT, 1);
    float *out = encode(c, pix);

    const size_t T = 17, D = 48;
    snprintf(path, sizeof path, "%s/ref/vision_hidden_states.npy", dir);
    float *hs = load_npy(path, 5 * T * D);
    for (int k = 0; k <= 3; k++) {
        char label[32];
        snprintf(label, sizeof label, "hidden[%d]", k);
        const float *got = graft_vision_ctx_hidden(c, k);
        ck_assert_ptr_nonnull(got);
        double r = rel_err(label, got, hs + k * T * D, T * D, TOL);
        fprintf(stderr, "vision llava-tiny-b vs HF: hidden_states[%d] max error %.2e x max|ref|\n", k, r);
        ck_assert_msg(r <= TOL, "hidden state %d: %.3g", k, r);
    }
    ck_assert_ptr_null(graft_vision_ctx_hidden(c, 4)); /* the legacy file stores 3 blocks */
    int nr, nc;
    const float *feats = graft_vision_ctx_features(c, &nr, &nc);
    ck_assert_int_eq(nr, 16);
    ck_assert_int_eq(nc, 48);
    ck_assert(rel_err("features", feats, hs + 3 * T * D + D, 16 * D, TOL) <= TOL); /* rows 1..16 */

    snprintf(path, sizeof path, "%s/ref/image_features.npy", dir);
    float *ref = load_npy(path, 16 * 56);
    double r = rel_err("image_features", out, ref, 16 * 56, TOL);
    double abs_err = r * tu_max_abs(ref, 16 * 56);
    fprintf(stderr, "vision llava-tiny-b vs HF: image_features max error %.2e (%.2e x max|ref| %.2f)\n",
            abs_err, r, tu_max_abs(ref, 16 * 56));
    ck_assert_msg(r <= TOL, "image features: %.3g", r);

    free(ref);
    free(hs);
    free(out);
    free(pix);
    graft_vision_ctx_free(c);
    graft_vision_free(v);
}
END_TEST

/* ---- the numpy reference fixtures -------------------------------------------------------------- */

typedef struct {
    const char *name;
    int S, D, n_run, n_tok, d_out;
    const char *proj;
    int legacy, act;
    double tol;
} fixture;

static const fixture fixtures[] = {
    {"a-quickgelu-mlp", 32, 32, 2, 16, 40, "mlp", 0, GRAFT_CLIP_ACT_QUICK_GELU, TOL},
    {"b-gelu-linear-legacy", 32, 32, 3, 16, 24, "linear", 1, GRAFT_CLIP_ACT_GELU_ERF, TOL},
    {"c-quickgelu-mlp-f16", 32, 32, 2, 16, 40, "mlp", 0, GRAFT_CLIP_ACT_QUICK_GELU, TOL},
};

static void check_fixture(const fixture *f, int n_threads) {
    char path[512];
    snprintf(path, sizeof path, FIX "%s/mmproj.gguf", f->name);
    graft_vision *v = load_v(path);
    ck_assert_int_eq(graft_vision_image_size(v), f->S);
    ck_assert_int_eq(graft_vision_n_layer(v), f->n_run);
    ck_assert_int_eq(graft_vision_n_tokens(v), f->n_tok);
    ck_assert_int_eq(graft_vision_n_embd(v), f->d_out);
    ck_assert_str_eq(graft_vision_projector(v), f->proj);
    ck_assert_int_eq(v->hp.legacy_ffn, f->legacy);
    ck_assert_int_eq(v->hp.act, f->act);
    snprintf(path, sizeof path, FIX "%s/pixels.f32", f->name);
    float *pix = read_pixels(path, f->S);
    graft_vision_ctx *c = ctx_v(v, n_threads, GRAFT_VISION_SELECT_DEFAULT, 1);
    float *out = encode(c, pix);

    const size_t T = (size_t)f->n_tok + 1, D = (size_t)f->D;
    snprintf(path, sizeof path, FIX "%s/hidden_states.npy", f->name);
    float *hs = load_npy(path, (size_t)(f->n_run + 1) * T * D);
    double worst = 0;
    for (int k = 0; k <= f->n_run; k++) {
        double r = rel_err("hidden", graft_vision_ctx_hidden(c, k), hs + k * T * D, T * D, f->tol);
        worst = r > worst ? r : worst;
    }
    snprintf(path, sizeof path, FIX "%s/features.npy", f->name);
    float *feats_ref = load_npy(path, (size_t)f->n_tok * D);
    const float *feats = graft_vision_ctx_features(c, NULL, NULL);
    double rf = rel_err("features", feats, feats_ref, (size_t)f->n_tok * D, f->tol);
    snprintf(path, sizeof path, FIX "%s/image_features.npy", f->name);
    float *ref = load_npy(path, (size_t)f->n_tok * f->d_out);
    double ro = rel_err("image_features", out, ref, (size_t)f->n_tok * f->d_out, f->tol);
    fprintf(stderr, "vision fixture %s (%d threads): hidden %.2e, features %.2e, image_features %.2e x max|ref|\n",
            f->name, n_threads, worst, rf, ro);
    ck_assert_msg(worst <= f->tol && rf <= f->tol && ro <= f->tol, "%s: hidden %.3g features %.3g out %.3g",
                  f->name, worst, rf, ro);
    free(ref);
    free(feats_ref);
    free(hs);
    free(out);
    free(pix);
    graft_vision_ctx_free(c);
    graft_vision_free(v);
}

START_TEST(test_reference_fixtures) {
    for (size_t i = 0; i < sizeof fixtures / sizeof fixtures[0]; i++) check_fixture(&fixtures[i], 2);
    check_fixture(&fixtures[0], 1);
}
END_TEST

/* "full" keeps the class token as row 0: the features are the whole feature-layer hidden state,
 * and rows 1.. of the projector output are the "default" rows (same per-row maths; the matmul
 * may group rows differently, so 1e-5 relative rather than bit equality). */
START_TEST(test_select_full) {
    graft_vision *v = load_v(FIX "a-quickgelu-mlp/mmproj.gguf");
    float *pix = read_pixels(FIX "a-quickgelu-mlp/pixels.f32", 32);
    graft_vision_ctx *cd = ctx_v(v, 2, GRAFT_VISION_SELECT_DEFAULT, 0);
    graft_vision_ctx *cf = ctx_v(v, 2, GRAFT_VISION_SELECT_FULL, 1);
    ck_assert_int_eq(graft_vision_ctx_n_tokens(cd), 16);
    ck_assert_int_eq(graft_vision_ctx_n_tokens(cf), 17);
    ck_assert_ptr_null(graft_vision_ctx_features(cf, NULL, NULL)); /* nothing encoded yet */
    float *od = encode(cd, pix), *of = encode(cf, pix);
    ck_assert_ptr_null(graft_vision_ctx_hidden(cd, 0)); /* not kept */
    int nr, nc;
    const float *ff = graft_vision_ctx_features(cf, &nr, &nc);
    ck_assert_int_eq(nr, 17);
    ck_assert_int_eq(nc, 32);
    ck_assert(!memcmp(ff, graft_vision_ctx_hidden(cf, 2), 17 * 32 * sizeof(float)));
    ck_assert(rel_err("full rows 1..", of + 40, od, 16 * 40, 1e-5) <= 1e-5);
    free(od);
    free(of);
    free(pix);
    graft_vision_ctx_free(cd);
    graft_vision_ctx_free(cf);
    graft_vision_free(v);
}
END_TEST

/* ---- rewriting a GGUF with edits (for layout variants and error cases) ------------------------ */

typedef struct {
    const char *drop_tensor;
    const char *rename_from[4], *rename_to[4];
    const char *reshape_tensor;   /* replaced by zeros of shape [ne0, ne1], F32 */
    int64_t reshape_ne[2];
    const char *replace_tensor;   /* replaced by F32 data of shape [ne0, ne1] */
    const float *replace_data;
    int64_t replace_ne[2];
    const char *drop_key;
    const char *str_key, *str_val;   /* add or replace a string key */
    const char *int_key;             /* add or replace: an i32 array, or one i32 when int_scalar */
    const int32_t *int_vals;
    int n_int_vals, int_scalar;
} edits;

static int in_list(const char *name, const char *key) { return key && !strcmp(name, key); }

/* Copies src to a temporary file named `dst` with the edits applied; returns its path. */
static const char *rewrite(const char *src, const char *dst, const edits *ed) {
    graft_gguf *g;
    graft_error e;
    ck_assert_msg(graft_gguf_open(src, &g, &e) == GRAFT_OK, "%s", e.msg);
    gguf_writer *w = gguf_writer_new();
    void *bufs[8];
    int nbufs = 0;
    for (int64_t i = 0; i < graft_gguf_n_kv(g); i++) {
        const char *key = graft_gguf_kv_key(g, i);
        if (in_list(key, ed->drop_key) || in_list(key, ed->str_key) || in_list(key, ed->int_key)) continue;
        ck_assert(strcmp(key, "general.alignment"));
        graft_gguf_value val = graft_gguf_kv_value(g, i);
        switch (val.type) {
        case GRAFT_GGUF_U32: gguf_writer_add_u32(w, key, (uint32_t)val.u); break;
        case GRAFT_GGUF_I32: gguf_writer_add_i32(w, key, (int32_t)val.i); break;
        case GRAFT_GGUF_F32: gguf_writer_add_f32(w, key, (float)val.f); break;
        case GRAFT_GGUF_BOOL: gguf_writer_add_bool(w, key, (int)val.u); break;
        case GRAFT_GGUF_STRING: gguf_writer_add_str(w, key, val.str, val.len); break;
        case GRAFT_GGUF_ARRAY: {
            ck_assert(val.arr_type == GRAFT_GGUF_F32 || val.arr_type == GRAFT_GGUF_I32);
            void *copy = malloc(val.arr_n * 4 + 1);
            memcpy(copy, graft_gguf_arr_data(g, &val), val.arr_n * 4);
            gguf_writer_add_arr(w, key, val.arr_type, copy, val.arr_n);
            free(copy);
            break;
        }
        default: ck_abort_msg("rewrite: key %s has type %d", key, val.type);
        }
    }
    if (ed->str_key) gguf_writer_add_str(w, ed->str_key, ed->str_val, strlen(ed->str_val));
    if (ed->int_key) {
        if (ed->int_scalar) gguf_writer_add_i32(w, ed->int_key, ed->int_vals[0]);
        else gguf_writer_add_arr(w, ed->int_key, GRAFT_GGUF_I32, ed->int_vals, (uint64_t)ed->n_int_vals);
    }
    for (int64_t i = 0; i < graft_gguf_n_tensors(g); i++) {
        graft_gguf_tensor t = graft_gguf_tensor_info(g, i);
        if (in_list(t.name, ed->drop_tensor)) continue;
        const char *name = t.name;
        for (int r = 0; r < 4; r++)
            if (in_list(t.name, ed->rename_from[r])) name = ed->rename_to[r];
        if (in_list(t.name, ed->reshape_tensor) || in_list(t.name, ed->replace_tensor)) {
            const int64_t *ne = in_list(t.name, ed->reshape_tensor) ? ed->reshape_ne : ed->replace_ne;
            size_t nb = (size_t)(ne[0] * ne[1]) * sizeof(float);
            float *d = calloc(1, nb);
            if (ed->replace_data && in_list(t.name, ed->replace_tensor)) memcpy(d, ed->replace_data, nb);
            bufs[nbufs++] = d;
            gguf_writer_add_tensor(w, name, GRAFT_TYPE_F32, 2, ne, d, nb, 0);
        } else {
            gguf_writer_add_tensor(w, name, t.type, t.n_dims, t.ne, t.data, t.nbytes, 0);
        }
    }
    const char *path = tu_tmppath(dst);
    ck_assert_msg(gguf_writer_write(w, path, &e) == GRAFT_OK, "rewrite: %s", e.msg);
    gguf_writer_free(w);
    for (int i = 0; i < nbufs; i++) free(bufs[i]);
    graft_gguf_close(g);
    return path;
}

/* Loading must fail with `code` and a message containing each of the given strings. */
static void expect_load_error(const char *path, int code, const char *s1, const char *s2) {
    graft_vision *v = NULL;
    graft_error e;
    memset(&e, 0, sizeof e);
    int rc = graft_vision_load(path, &v, &e);
    ck_assert_msg(rc == code, "%s: code %d, expected %d (%s)", path, rc, code, e.msg);
    ck_assert_ptr_null(v);
    ck_assert_msg(strstr(e.msg, path) != NULL, "message does not name the file: %s", e.msg);
    ck_assert_msg(!s1 || strstr(e.msg, s1), "message lacks '%s': %s", s1, e.msg);
    ck_assert_msg(!s2 || strstr(e.msg, s2), "message lacks '%s': %s", s2, e.msg);
    fprintf(stderr, "vision error (expected): %s\n", e.msg);
}

/* ---- layout rules ------------------------------------------------------------------------------ */

/* LLaVA-1's linear projector as the legacy converter writes it: clip.projector_type "mlp" with
 * mm.weight / mm.bias. graft runs it as "linear": the same output as the b) file, bit for bit. */
START_TEST(test_legacy_linear_names) {
    const char *src = FIX "b-gelu-linear-legacy/mmproj.gguf";
    edits ed = {.rename_from = {"mm.0.weight", "mm.0.bias"}, .rename_to = {"mm.weight", "mm.bias"},
                .str_key = "clip.projector_type", .str_val = "mlp"};
    const char *path = rewrite(src, "legacy-linear.gguf", &ed);
    graft_vision *v0 = load_v(src), *v1 = load_v(path);
    ck_assert_str_eq(graft_vision_projector(v1), "linear");
    float *pix = read_pixels(FIX "b-gelu-linear-legacy/pixels.f32", 32);
    graft_vision_ctx *c0 = ctx_v(v0, 2, 0, 0), *c1 = ctx_v(v1, 2, 0, 0);
    float *o0 = encode(c0, pix), *o1 = encode(c1, pix);
    ck_assert(!memcmp(o0, o1, 16 * 24 * sizeof(float)));
    free(o0);
    free(o1);
    free(pix);
    graft_vision_ctx_free(c0);
    graft_vision_ctx_free(c1);
    graft_vision_free(v0);
    graft_vision_free(v1);
}
END_TEST

/* clip.vision.feature_layer: one index (here written as a scalar) runs that many blocks; several
 * indices are concatenated along the width in the order given (as HF does for a list), and the
 * projector then takes nf * D inputs. Checked against the reference hidden states of b). */
START_TEST(test_feature_layers) {
    const char *src = FIX "b-gelu-linear-legacy/mmproj.gguf";
    float *pix = read_pixels(FIX "b-gelu-linear-legacy/pixels.f32", 32);
    const size_t T = 17, D = 32;
    float *hs = load_npy(FIX "b-gelu-linear-legacy/hidden_states.npy", 4 * T * D);

    /* a single layer: 2 */
    int32_t two = 2;
    edits e1 = {.int_key = "clip.vision.feature_layer", .int_vals = &two, .n_int_vals = 1, .int_scalar = 1};
    graft_vision *v = load_v(rewrite(src, "fl2.gguf", &e1));
    ck_assert_int_eq(graft_vision_n_layer(v), 2);
    graft_vision_ctx *c = ctx_v(v, 2, 0, 0);
    free(encode(c, pix));
    ck_assert(rel_err("layer 2", graft_vision_ctx_features(c, NULL, NULL), hs + 2 * T * D + D, 16 * D, TOL) <= TOL);
    graft_vision_ctx_free(c);
    graft_vision_free(v);

    /* two layers, [3, 1], with a linear projector of 64 inputs */
    const int32_t fl[2] = {3, 1};
    float *W = malloc(24 * 64 * sizeof(float));
    tu_rng rng = {42};
    tu_fill(&rng, W, 24 * 64, 0.2f);
    edits e2 = {.int_key = "clip.vision.feature_layer", .int_vals = fl, .n_int_vals = 2,
                .replace_tensor = "mm.0.weight", .replace_data = W, .replace_ne = {64, 24}};
    v = load_v(rewrite(src, "fl31.gguf", &e2));
    ck_assert_int_eq(graft_vision_n_layer(v), 3);
    c = ctx_v(v, 2, 0, 0);
    float *out = encode(c, pix);
    int nr, nc;
    const float *feats = graft_vision_ctx_features(c, &nr, &nc);
    ck_assert_int_eq(nc, 64);
    float *want = malloc(16 * 64 * sizeof(float)), *want_out = malloc(16 * 24 * sizeof(float));
    for (int r = 0; r < 16; r++) {
        memcpy(want + r * 64, hs + 3 * T * D + (r + 1) * D, D * sizeof(float));
        memcpy(want + r * 64 + 32, hs + 1 * T * D + (r + 1) * D, D * sizeof(float));
    }
    ck_assert(rel_err("layers [3,1]", feats, want, 16 * 64, TOL) <= TOL);
    /* the projector on graft's own features, in double: W x + b */
    float bias[24];
    graft_gguf *g;
    graft_error e;
    ck_assert_int_eq(graft_gguf_open(src, &g, &e), GRAFT_OK);
    memcpy(bias, graft_gguf_tensor_info(g, graft_gguf_find_tensor(g, "mm.0.bias")).data, sizeof bias);
    graft_gguf_close(g);
    for (int r = 0; r < 16; r++)
        for (int o = 0; o < 24; o++) {
            double s = bias[o];
            for (int i = 0; i < 64; i++) s += (double)W[o * 64 + i] * feats[r * 64 + i];
            want_out[r * 24 + o] = (float)s;
        }
    ck_assert(rel_err("projector [3,1]", out, want_out, 16 * 24, 1e-5) <= 1e-5);
    free(want);
    free(want_out);
    free(out);
    free(W);
    graft_vision_ctx_free(c);
    graft_vision_free(v);
    free(hs);
    free(pix);
}
END_TEST

/* ---- thread invariance ------------------------------------------------------------------------- */

/* A random CLIP mmproj written with graft's GGUF writer at a size where the matmuls take the
 * batched paths (T = 65 rows: OpenBLAS sgemm for F32 from 32 rows, widen + sgemm for F16 from
 * 64, when OpenBLAS runs a proper core). */
static const char *random_mmproj(const char *name, int wtype) {
    const int S = 64, p = 8, D = 64, F = 128, H = 4, L = 2, De = 48, T = (S / p) * (S / p) + 1;
    gguf_writer *w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "clip", 4);
    gguf_writer_add_str(w, "clip.projector_type", "mlp", 3);
    gguf_writer_add_u32(w, "clip.vision.image_size", S);
    gguf_writer_add_u32(w, "clip.vision.patch_size", p);
    gguf_writer_add_u32(w, "clip.vision.embedding_length", D);
    gguf_writer_add_u32(w, "clip.vision.feed_forward_length", F);
    gguf_writer_add_u32(w, "clip.vision.attention.head_count", H);
    gguf_writer_add_f32(w, "clip.vision.attention.layer_norm_epsilon", 1e-5f);
    gguf_writer_add_u32(w, "clip.vision.block_count", L);
    gguf_writer_add_bool(w, "clip.use_gelu", 0);
    tu_rng rng = {7};
    /* name, ne0, ne1, ne2, ne3, is matrix */
    struct { char name[48]; int64_t ne[4]; int nd, mat; float scale; } ts[64];
    int n = 0;
#define T_ADD(nm, a, b, c_, d, nd_, mat_, sc) do { snprintf(ts[n].name, 48, "%s", nm); \
        ts[n].ne[0] = a; ts[n].ne[1] = b; ts[n].ne[2] = c_; ts[n].ne[3] = d; ts[n].nd = nd_; \
        ts[n].mat = mat_; ts[n].scale = sc; n++; } while (0)
    T_ADD("v.patch_embd.weight", p, p, 3, D, 4, 1, 0.07f);
    T_ADD("v.class_embd", D, 1, 1, 1, 1, 0, 0.5f);
    T_ADD("v.position_embd.weight", D, T, 1, 1, 2, 1, 0.5f);
    T_ADD("v.pre_ln.weight", D, 1, 1, 1, 1, 0, 1.0f);
    T_ADD("v.pre_ln.bias", D, 1, 1, 1, 1, 0, 0.1f);
    for (int l = 0; l < L; l++) {
        char b[48];
        const char *sq[] = {"attn_q", "attn_k", "attn_v", "attn_out"};
        for (int j = 0; j < 4; j++) {
            snprintf(b, sizeof b, "v.blk.%d.%s.weight", l, sq[j]);
            T_ADD(b, D, D, 1, 1, 2, 1, 0.2f);
            snprintf(b, sizeof b, "v.blk.%d.%s.bias", l, sq[j]);
            T_ADD(b, D, 1, 1, 1, 1, 0, 0.1f);
        }
        const char *ln[] = {"ln1", "ln2"};
        for (int j = 0; j < 2; j++) {
            snprintf(b, sizeof b, "v.blk.%d.%s.weight", l, ln[j]);
            T_ADD(b, D, 1, 1, 1, 1, 0, 1.0f);
            snprintf(b, sizeof b, "v.blk.%d.%s.bias", l, ln[j]);
            T_ADD(b, D, 1, 1, 1, 1, 0, 0.1f);
        }
        snprintf(b, sizeof b, "v.blk.%d.ffn_up.weight", l);
        T_ADD(b, D, F, 1, 1, 2, 1, 0.15f);
        snprintf(b, sizeof b, "v.blk.%d.ffn_up.bias", l);
        T_ADD(b, F, 1, 1, 1, 1, 0, 0.1f);
        snprintf(b, sizeof b, "v.blk.%d.ffn_down.weight", l);
        T_ADD(b, F, D, 1, 1, 2, 1, 0.1f);
        snprintf(b, sizeof b, "v.blk.%d.ffn_down.bias", l);
        T_ADD(b, D, 1, 1, 1, 1, 0, 0.1f);
    }
    T_ADD("mm.0.weight", D, De, 1, 1, 2, 1, 0.15f);
    T_ADD("mm.0.bias", De, 1, 1, 1, 1, 0, 0.1f);
    T_ADD("mm.2.weight", De, De, 1, 1, 2, 1, 0.15f);
    T_ADD("mm.2.bias", De, 1, 1, 1, 1, 0, 0.1f);
#undef T_ADD
    for (int i = 0; i < n; i++) {
        size_t cnt = (size_t)(ts[i].ne[0] * ts[i].ne[1] * ts[i].ne[2] * ts[i].ne[3]);
        float *d = malloc(cnt * sizeof(float));
        tu_fill(&rng, d, cnt, ts[i].scale);
        if (strstr(ts[i].name, "ln") && strstr(ts[i].name, ".weight"))
            for (size_t j = 0; j < cnt; j++) d[j] += 1.0f;
        if (ts[i].mat && wtype == GRAFT_TYPE_F16) {
            uint16_t *h = malloc(cnt * 2);
            for (size_t j = 0; j < cnt; j++) h[j] = graft_f32_to_f16(d[j]);
            gguf_writer_add_tensor(w, ts[i].name, GRAFT_TYPE_F16, ts[i].nd, ts[i].ne, h, cnt * 2, GGUF_W_COPY);
            free(h);
        } else {
            gguf_writer_add_tensor(w, ts[i].name, GRAFT_TYPE_F32, ts[i].nd, ts[i].ne, d, cnt * 4, GGUF_W_COPY);
        }
        free(d);
    }
    graft_error e;
    const char *path = tu_tmppath(name);
    ck_assert_msg(gguf_writer_write(w, path, &e) == GRAFT_OK, "%s", e.msg);
    gguf_writer_free(w);
    return path;
}

static void check_threads(const char *path, int S) {
    graft_vision *v = load_v(path);
    float *pix = malloc(sizeof(float) * 3 * S * S);
    tu_rng rng = {99};
    tu_fill(&rng, pix, (size_t)3 * S * S, 1.8f);
    graft_vision_ctx *c1 = ctx_v(v, 1, 0, 0), *c2 = ctx_v(v, 2, 0, 0);
    float *o1 = encode(c1, pix), *o2 = encode(c2, pix);
    size_t n = (size_t)graft_vision_n_tokens(v) * graft_vision_n_embd(v);
    int same = !memcmp(o1, o2, n * sizeof(float));
    if (!same) tu_max_abs_err("1 vs 2 threads", o1, o2, n, 0);
    ck_assert_msg(same, "%s: 1 and 2 threads differ", path);
    /* a second encode in the same context gives the same rows (no state leaks between images)
     * and allocates nothing: the heap's in-use bytes do not move */
    float *o3 = malloc(n * sizeof(float));
    /* two windows: graft allocating per encode moves both; once in a while under a loaded machine
     * libgomp allocates a few bytes on its own in one of them (seen: 112 bytes, once in dozens of
     * runs), which is not graft's per-image path */
    struct mallinfo2 m0 = mallinfo2();
    int rc = graft_vision_encode(c2, pix, NULL, 0, o3);
    struct mallinfo2 m1 = mallinfo2();
    if (m0.uordblks != m1.uordblks || m0.hblkhd != m1.hblkhd) {
        m0 = mallinfo2();
        rc |= graft_vision_encode(c2, pix, NULL, 0, o3);
        m1 = mallinfo2();
    }
    /* asserted outside the window: in fork mode every ck_assert mallocs and frees (Check's
     * send_loc_info), and a freed chunk parked in tcache still counts as in-use in mallinfo2 */
    ck_assert_int_eq(rc, GRAFT_OK);
#if defined(__clang__)
    /* clang links LLVM's libomp while Debian's OpenBLAS (OpenMP build) brings GNU libgomp: two
     * runtimes, and libomp allocates a little per parallel region that calls into OpenBLAS. The
     * supported build (gcc, one libgomp for both) is held to zero. */
    if (m0.uordblks != m1.uordblks)
        fprintf(stderr, "NOTE (clang build): encode allocated %zu bytes in the OpenMP runtime\n",
                m1.uordblks - m0.uordblks);
#else
    ck_assert_msg(m0.uordblks == m1.uordblks && m0.hblkhd == m1.hblkhd,
                  "encode allocated: in-use %zu -> %zu, mmap'd %zu -> %zu", m0.uordblks, m1.uordblks,
                  m0.hblkhd, m1.hblkhd);
#endif
    ck_assert(!memcmp(o2, o3, n * sizeof(float)));
    for (size_t i = 0; i < n; i++) ck_assert(isfinite(o1[i]));
    free(o1);
    free(o2);
    free(o3);
    free(pix);
    graft_vision_ctx_free(c1);
    graft_vision_ctx_free(c2);
    graft_vision_free(v);
}

START_TEST(test_threads_bitwise) {
    check_threads(FIX "a-quickgelu-mlp/mmproj.gguf", 32);
    check_threads(FIX "b-gelu-linear-legacy/mmproj.gguf", 32);
    check_threads(FIX "c-quickgelu-mlp-f16/mmproj.gguf", 32);
    check_threads(random_mmproj("rand-f32.gguf", GRAFT_TYPE_F32), 64);
    check_threads(random_mmproj("rand-f16.gguf", GRAFT_TYPE_F16), 64);
}
END_TEST

/* ---- errors -------------------------------------------------------------------------------------- */

START_TEST(test_errors) {
    const char *a = FIX "a-quickgelu-mlp/mmproj.gguf";
    graft_vision *v = NULL;
    graft_error e;
    ck_assert_int_eq(graft_vision_load("/nonexistent/mmproj.gguf", &v, &e), GRAFT_E_IO);
    ck_assert(strstr(e.msg, "/nonexistent/mmproj.gguf") != NULL);

    /* a decoder file is not an mmproj */
    expect_load_error("tests/fixtures/llama/tiny-f32/model.gguf", GRAFT_E_UNSUPPORTED, "'llama'", "clip");

    edits miss = {.drop_tensor = "v.blk.1.attn_q.bias"};
    expect_load_error(rewrite(a, "missing.gguf", &miss), GRAFT_E_FORMAT, "missing tensor", "v.blk.1.attn_q.bias");

    edits shape = {.reshape_tensor = "v.blk.0.attn_k.weight", .reshape_ne = {32, 16}};
    expect_load_error(rewrite(a, "shape.gguf", &shape), GRAFT_E_FORMAT, "v.blk.0.attn_k.weight", "[32, 16]");

    edits pos = {.reshape_tensor = "v.position_embd.weight", .reshape_ne = {32, 16}};
    expect_load_error(rewrite(a, "pos.gguf", &pos), GRAFT_E_FORMAT, "v.position_embd.weight", "[32, 17]");

    edits patch = {.reshape_tensor = "v.patch_embd.weight", .reshape_ne = {192, 32}};
    expect_load_error(rewrite(a, "patch.gguf", &patch), GRAFT_E_FORMAT, "v.patch_embd.weight", "[8, 8, 3, 32]");

    edits proj = {.str_key = "clip.projector_type", .str_val = "qformer_x"};
    expect_load_error(rewrite(a, "proj.gguf", &proj), GRAFT_E_UNSUPPORTED, "'qformer_x'", "linear, mlp");

    edits mm2 = {.drop_tensor = "mm.2.weight"};
    expect_load_error(rewrite(a, "mm2.gguf", &mm2), GRAFT_E_FORMAT, "mm.2.weight", "mlp");

    edits mm0 = {.reshape_tensor = "mm.0.weight", .reshape_ne = {48, 40}};
    expect_load_error(rewrite(a, "mm0.gguf", &mm0), GRAFT_E_FORMAT, "mm.0.weight", "[32, 40]");

    const int32_t five = 5, neg = -1;
    edits fl = {.int_key = "clip.vision.feature_layer", .int_vals = &five, .n_int_vals = 1};
    expect_load_error(rewrite(a, "fl5.gguf", &fl), GRAFT_E_FORMAT, "feature_layer", "3 blocks");
    edits fln = {.int_key = "clip.vision.feature_layer", .int_vals = &neg, .n_int_vals = 1};
    expect_load_error(rewrite(a, "flneg.gguf", &fln), GRAFT_E_FORMAT, "feature_layer", "-1");

    edits key = {.drop_key = "clip.vision.patch_size"};
    expect_load_error(rewrite(a, "nokey.gguf", &key), GRAFT_E_FORMAT, "clip.vision.patch_size", NULL);

    /* encode: bad arguments are reported on the context */
    v = load_v(a);
    graft_vision_ctx *c = ctx_v(v, 1, 0, 0);
    float out[16 * 40];
    ck_assert_int_eq(graft_vision_encode(c, NULL, NULL, 0, out), GRAFT_E_INVALID);
    ck_assert(strstr(graft_vision_ctx_last_error(c), "pixels") != NULL);
    /* conditioning text: more than n_text_max is refused; LLaVA's projectors ignore it */
    float *pix = read_pixels(FIX "a-quickgelu-mlp/pixels.f32", 32);
    const int32_t ids[3] = {5, 6, 7};
    ck_assert_int_eq(graft_vision_encode(c, pix, ids, 3, out), GRAFT_E_LIMIT);
    ck_assert(strstr(graft_vision_ctx_last_error(c), "n_text_max 0") != NULL);
    graft_vision_ctx_params tp = graft_vision_ctx_default_params();
    tp.n_text_max = 3;
    graft_vision_ctx *ct = NULL;
    ck_assert_int_eq(graft_vision_ctx_new(v, &tp, &ct, &e), GRAFT_OK);
    float out2[16 * 40];
    ck_assert_int_eq(graft_vision_encode(ct, pix, ids, 3, out2), GRAFT_OK);
    ck_assert_int_eq(graft_vision_encode(c, pix, NULL, 0, out), GRAFT_OK);
    ck_assert(!memcmp(out, out2, sizeof out));
    graft_vision_ctx_free(ct);
    free(pix);
    graft_vision_ctx_params bad = graft_vision_ctx_default_params();
    bad.select = 7;
    graft_vision_ctx *c2 = NULL;
    ck_assert_int_eq(graft_vision_ctx_new(v, &bad, &c2, &e), GRAFT_E_INVALID);
    ck_assert_ptr_null(c2);
    graft_vision_ctx_free(c);
    graft_vision_free(v);
}
END_TEST

Suite *suite_vision(void) {
    Suite *s = suite_create("vision");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_hf_llava_tiny_b);
    tcase_add_test(tc, test_reference_fixtures);
    tcase_add_test(tc, test_select_full);
    tcase_add_test(tc, test_legacy_linear_names);
    tcase_add_test(tc, test_feature_layers);
    tcase_add_test(tc, test_threads_bitwise);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}
