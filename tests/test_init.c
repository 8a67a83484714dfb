/* test_init.c - `graft init` (src/init.c): random-weight models at real shapes. The files written
 * for the "tiny" decoder and the "llava-tiny" pair must load, run (one graft_mm_eval with a
 * generated image gives finite logits), match the sizes init announces, and be byte-identical for
 * the same seed whatever the thread count (1 vs 2). The 7B/13B presets are exercised by
 * bench/bench_vision.c (too large for a unit test); here their announced sizes are checked
 * against the parameter counts of ViT-L/14-336 and LLaVA-1.5's projector. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graft.h"
#include "init.h"
#include "test_util.h"

/* 1 when the two files have identical bytes (else, when verbose, prints where they first differ). */
static int same_file(const char *a, const char *b, int verbose) {
    size_t na, nb;
    unsigned char *da = tu_read_file(a, &na), *db = tu_read_file(b, &nb);
    ck_assert_msg(da && db, "cannot read %s or %s", a, b);
    int same = na == nb && !memcmp(da, db, na);
    if (!same && verbose) {
        size_t i = 0;
        while (i < na && i < nb && da[i] == db[i]) i++;
        fprintf(stderr, "%s and %s differ: sizes %zu / %zu, first difference at byte %zu\n", a, b, na, nb, i);
    }
    free(da);
    free(db);
    return same;
}

/* Sum of the tensors' data bytes of a GGUF file. */
static uint64_t tensor_bytes(const char *path) {
    graft_gguf *g;
    graft_error e;
    ck_assert_msg(graft_gguf_open(path, &g, &e) == GRAFT_OK, "%s", e.msg);
    uint64_t n = 0;
    for (int64_t i = 0; i < graft_gguf_n_tensors(g); i++) n += graft_gguf_tensor_info(g, i).nbytes;
    graft_gguf_close(g);
    return n;
}

static int all_finite(const float *x, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i])) return 0;
    return 1;
}

/* ---- the tiny decoder ---------------------------------------------------------------------- */

START_TEST(test_tiny_decoder) {
    const graft_init_llama *hp = graft_init_find("tiny");
    ck_assert_ptr_nonnull(hp);
    char a[1024], b[1024], c[1024];
    snprintf(a, sizeof a, "%s", tu_tmppath("tiny-t1.gguf"));
    snprintf(b, sizeof b, "%s", tu_tmppath("tiny-t2.gguf"));
    snprintf(c, sizeof c, "%s", tu_tmppath("tiny-seed2.gguf"));
    graft_error e;
    ck_assert_msg(graft_init_llama_write(hp, GRAFT_TYPE_F16, 7, 1, a, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_msg(graft_init_llama_write(hp, GRAFT_TYPE_F16, 7, 2, b, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_msg(graft_init_llama_write(hp, GRAFT_TYPE_F16, 8, 2, c, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_msg(same_file(a, b, 1), "same seed, 1 vs 2 threads: the files differ");
    ck_assert_msg(!same_file(a, c, 0), "seeds 7 and 8 gave the same file");
    ck_assert_uint_eq(tensor_bytes(a), graft_init_llama_bytes(hp, GRAFT_TYPE_F16));

    graft_model *m;
    graft_ctx *ctx;
    ck_assert_msg(graft_model_load(a, NULL, &m, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_msg(graft_ctx_new(m, NULL, &ctx, &e) == GRAFT_OK, "%s", e.msg);
    const int32_t ids[4] = {1, 300, 301, 302};
    ck_assert_int_eq(graft_decode(ctx, ids, NULL, 4), GRAFT_OK);
    const float *lg = graft_ctx_logits(ctx, -1);
    ck_assert_ptr_nonnull(lg);
    ck_assert_msg(all_finite(lg, (size_t)hp->n_vocab), "non-finite logits");
    ck_assert_msg(tu_max_abs(lg, (size_t)hp->n_vocab) > 0.0, "all-zero logits");
    graft_ctx_free(ctx);
    graft_model_free(m);
}
END_TEST

/* ---- the tiny LLaVA pair ------------------------------------------------------------------- */

/* Writes llava-tiny into dir (decoder f16, mmproj in mtype) with n_threads. */
static void write_llava_tiny(const char *dir, int mtype, int n_threads) {
    const graft_init_llava *p = graft_init_llava_find("llava-tiny");
    ck_assert_ptr_nonnull(p);
    graft_error e;
    ck_assert_msg(graft_init_llava_write(p, GRAFT_TYPE_F16, mtype, 5, n_threads, dir, &e) == GRAFT_OK, "%s", e.msg);
}

/* Loads dir's pair and runs one prompt with a generated 40x30 RGB image; checks the logits. */
static void run_llava(const char *dir) {
    char llm[1200], mmproj[1200];
    snprintf(llm, sizeof llm, "%s/model.gguf", dir);
    snprintf(mmproj, sizeof mmproj, "%s/mmproj.gguf", dir);
    graft_error e;
    graft_model *m;
    graft_vision *v;
    graft_ctx *ctx;
    graft_mm *mm;
    ck_assert_msg(graft_model_load(llm, NULL, &m, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_msg(graft_vision_load(mmproj, &v, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_int_eq(graft_vision_image_size(v), 28);
    ck_assert_int_eq(graft_vision_n_layer(v), 2); /* every stored block runs: no feature_layer key */
    ck_assert_int_eq(graft_vision_n_tokens(v), 4);
    ck_assert_str_eq(graft_vision_projector(v), "mlp");
    graft_ctx_params cp = graft_ctx_default_params();
    cp.n_ctx = 128;
    ck_assert_msg(graft_ctx_new(m, &cp, &ctx, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_msg(graft_mm_new(ctx, v, NULL, &mm, &e) == GRAFT_OK, "%s", e.msg);
    enum { W = 40, H = 30 };
    unsigned char rgb[W * H * 3];
    for (int y = 0; y < H; y++)
        for (int x = 0; x < W; x++) {
            unsigned char *px = rgb + (y * W + x) * 3;
            px[0] = (unsigned char)(x * 6), px[1] = (unsigned char)(y * 8), px[2] = (unsigned char)((x ^ y) * 9);
        }
    graft_image_input img = {.rgb = rgb, .w = W, .h = H};
    graft_mm_timings t;
    memset(&t, 0, sizeof t);
    ck_assert_msg(graft_mm_eval(mm, "USER: <image>\nWhat is this? ASSISTANT:", &img, 1, &t, &e) == GRAFT_OK, "%s",
                  e.msg);
    ck_assert_int_eq(t.n_image_tokens, 4);
    ck_assert_int_eq(t.n_images_encoded, 1);
    const int V = graft_model_n_vocab(m);
    const float *lg = graft_ctx_logits(ctx, -1);
    ck_assert_ptr_nonnull(lg);
    ck_assert_msg(all_finite(lg, (size_t)V), "non-finite logits");
    ck_assert_msg(tu_max_abs(lg, (size_t)V) > 0.0, "all-zero logits");
    /* the image rows themselves: finite and O(1). With the init's scales max |x| is about 0.53 for
     * llava-tiny (every type) and 1.7 for llava-1.5-7b (23 blocks); weights 30x too large give 3e5. */
    const int n = graft_mm_n_tokens(mm), E = graft_vision_n_embd(v);
    float *rows = malloc(sizeof(float) * (size_t)n * E);
    ck_assert_msg(graft_mm_encode(mm, &img, rows, NULL, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_msg(all_finite(rows, (size_t)n * E), "non-finite image rows");
    const double amax = tu_max_abs(rows, (size_t)n * E);
    ck_assert_msg(amax > 1e-3 && amax < 10.0, "image rows max |x| = %g, expected O(1)", amax);
    free(rows);
    graft_mm_free(mm);
    graft_ctx_free(ctx);
    graft_vision_free(v);
    graft_model_free(m);
}

START_TEST(test_llava_tiny) {
    char d1[1024], d2[1024], a[1200], b[1200];
    snprintf(d1, sizeof d1, "%s", tu_tmppath("llava-t1"));
    snprintf(d2, sizeof d2, "%s", tu_tmppath("llava-t2"));
    write_llava_tiny(d1, GRAFT_TYPE_F16, 1);
    write_llava_tiny(d2, GRAFT_TYPE_F16, 2);
    const char *files[2] = {"model.gguf", "mmproj.gguf"};
    for (int i = 0; i < 2; i++) {
        snprintf(a, sizeof a, "%s/%s", d1, files[i]);
        snprintf(b, sizeof b, "%s/%s", d2, files[i]);
        ck_assert_msg(same_file(a, b, 1), "%s: same seed, 1 vs 2 threads: the files differ", files[i]);
    }
    const graft_init_llava *p = graft_init_llava_find("llava-tiny");
    snprintf(a, sizeof a, "%s/mmproj.gguf", d1);
    ck_assert_uint_eq(tensor_bytes(a), graft_init_mmproj_bytes(&p->vision, GRAFT_TYPE_F16));
    run_llava(d1);
}
END_TEST

/* The vision tower computes with every matrix type init writes (q8_0/q4_0 ViT matrices; the
 * patch kernel then stays f16). */
START_TEST(test_llava_tiny_types) {
    const int types[] = {GRAFT_TYPE_F32, GRAFT_TYPE_BF16, GRAFT_TYPE_Q8_0, GRAFT_TYPE_Q4_0};
    for (int i = 0; i < 4; i++) {
        char d[1024];
        snprintf(d, sizeof d, "%s", tu_tmppath(graft_type_name(types[i])));
        write_llava_tiny(d, types[i], 2);
        run_llava(d);
    }
}
END_TEST

START_TEST(test_llava_errors) {
    graft_error e;
    graft_init_llava p = *graft_init_llava_find("llava-tiny");
    p.vision.n_embd = 48; /* not a multiple of 32: q8_0 cannot hold it */
    p.vision.n_head = 3;
    ck_assert_int_eq(graft_init_llava_write(&p, GRAFT_TYPE_F16, GRAFT_TYPE_Q8_0, 1, 1, tu_tmppath("bad1"), &e),
                     GRAFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "multiples of 32"));
    p = *graft_init_llava_find("llava-tiny");
    p.vision.proj_out = 32; /* the decoder's width is 64 */
    ck_assert_int_eq(graft_init_llava_write(&p, GRAFT_TYPE_F16, GRAFT_TYPE_F16, 1, 1, tu_tmppath("bad2"), &e),
                     GRAFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(e.msg, "decoder width"));
    ck_assert_ptr_null(graft_init_llava_find("llava-nope"));
}
END_TEST

/* The real-shape presets announce the sizes their parameter counts imply. ViT-L/14-336 with 23
 * blocks: per block 4 (D^2 + D) + 2 D F + F + D + 4 D (norms); plus the conv (588 D, f16), the
 * class embedding, 577 position rows and the pre-LN; the projector D h + h + h^2 + h. */
START_TEST(test_real_preset_sizes) {
    const int64_t D = 1024, F = 4096, L = 23, T = 577;
    const int64_t vit_mat = L * (4 * D * D + 2 * D * F), vit_vec = L * (4 * D + F + D + 4 * D) + D + T * D + 2 * D;
    const int64_t hs[2] = {4096, 5120};
    const char *names[2] = {"llava-1.5-7b", "llava-1.5-13b"};
    for (int i = 0; i < 2; i++) {
        const graft_init_llava *p = graft_init_llava_find(names[i]);
        ck_assert_ptr_nonnull(p);
        const int64_t h = hs[i], mats = vit_mat + D * h + h * h, vecs = vit_vec + 2 * h;
        ck_assert_uint_eq(graft_init_mmproj_bytes(&p->vision, GRAFT_TYPE_F16),
                          (uint64_t)(2 * mats + 4 * vecs + 2 * 588 * D));
        ck_assert_uint_eq(graft_init_mmproj_bytes(&p->vision, GRAFT_TYPE_F32),
                          (uint64_t)(4 * mats + 4 * vecs + 4 * 588 * D));
        ck_assert_uint_eq(graft_init_mmproj_bytes(&p->vision, GRAFT_TYPE_Q8_0),
                          (uint64_t)(mats / 32 * 34 + 4 * vecs + 2 * 588 * D));
        ck_assert_int_eq(graft_init_find(p->llm)->n_embd, (int)h);
    }
}
END_TEST

/* The BLIP-family tiny presets: thread-count independent files, the announced size, and a pair
 * that loads (projector qformer, the preset's recipe, n_query rows) and decodes an image prompt
 * to finite logits (llama decoders for blip2-tiny and instructblip-tiny, OPT for blip2-opt-tiny). */
START_TEST(test_blip_tiny) {
    const char *names[3] = {"blip2-tiny", "blip2-opt-tiny", "instructblip-tiny"};
    for (int i = 0; i < 3; i++) {
        const graft_init_blip *p = graft_init_blip_find(names[i]);
        ck_assert_ptr_nonnull(p);
        char d1[1024], d2[1024], a[1200], b[1200], name[64];
        graft_error e;
        snprintf(name, sizeof name, "%s-1", names[i]);
        snprintf(d1, sizeof d1, "%s", tu_tmppath(name));
        snprintf(name, sizeof name, "%s-2", names[i]);
        snprintf(d2, sizeof d2, "%s", tu_tmppath(name));
        ck_assert_msg(graft_init_blip_write(p, GRAFT_TYPE_F16, GRAFT_TYPE_F16, 7, 1, d1, &e) == GRAFT_OK, "%s", e.msg);
        ck_assert_msg(graft_init_blip_write(p, GRAFT_TYPE_F16, GRAFT_TYPE_F16, 7, 2, d2, &e) == GRAFT_OK, "%s", e.msg);
        const char *files[2] = {"model.gguf", "mmproj.gguf"};
        for (int f = 0; f < 2; f++) {
            snprintf(a, sizeof a, "%s/%s", d1, files[f]);
            snprintf(b, sizeof b, "%s/%s", d2, files[f]);
            ck_assert_msg(same_file(a, b, 1), "%s %s: 1 vs 2 threads: the files differ", names[i], files[f]);
        }
        snprintf(a, sizeof a, "%s/mmproj.gguf", d1);
        ck_assert_uint_eq(tensor_bytes(a), graft_init_blip_mmproj_bytes(&p->vision, GRAFT_TYPE_F16));
        snprintf(b, sizeof b, "%s/model.gguf", d1);
        graft_model *m;
        graft_vision *v;
        graft_ctx *ctx;
        graft_mm *mm;
        ck_assert_msg(graft_model_load(b, NULL, &m, &e) == GRAFT_OK, "%s", e.msg);
        ck_assert_msg(graft_vision_load(a, &v, &e) == GRAFT_OK, "%s", e.msg);
        ck_assert_str_eq(graft_vision_projector(v), "qformer");
        ck_assert_str_eq(graft_vision_recipe(v)->name, p->recipe);
        ck_assert_int_eq(graft_vision_n_tokens(v), p->vision.n_query);
        graft_ctx_params cp = graft_ctx_default_params();
        cp.n_ctx = 64;
        ck_assert_msg(graft_ctx_new(m, &cp, &ctx, &e) == GRAFT_OK, "%s", e.msg);
        ck_assert_msg(graft_mm_new(ctx, v, NULL, &mm, &e) == GRAFT_OK, "%s", e.msg);
        unsigned char rgb[40 * 30 * 3];
        for (size_t k = 0; k < sizeof rgb; k++) rgb[k] = (unsigned char)(k * 37);
        graft_image_input img = {.rgb = rgb, .w = 40, .h = 30};
        /* no tokenizer in these files: [query rows; 3 ids], as BLIP-2 places them */
        const int nq = graft_mm_n_tokens(mm), E = graft_model_n_embd(m), n = nq + 3;
        float *embd = calloc((size_t)n * E, sizeof(float));
        int32_t seq[64];
        ck_assert_msg(graft_mm_encode(mm, &img, embd, NULL, &e) == GRAFT_OK, "%s", e.msg);
        for (int k = 0; k < n; k++) seq[k] = k < nq ? -1 : 2 + k;
        ck_assert_int_eq(graft_decode(ctx, seq, embd, n), GRAFT_OK);
        free(embd);
        const float *lg = graft_ctx_logits(ctx, -1);
        ck_assert_msg(all_finite(lg, (size_t)graft_model_n_vocab(m)), "%s: non-finite logits", names[i]);
        graft_mm_free(mm);
        graft_ctx_free(ctx);
        graft_vision_free(v);
        graft_model_free(m);
    }
}
END_TEST

/* The real BLIP-2 / InstructBLIP mmproj sizes, counted here from the published shapes (EVA ViT-g:
 * 1408 wide, 39 blocks, MLP 6144, fused qkv with bias, patch bias, post-LN, no pre-LN; Q-Former
 * 768 x 12, FFN 3072, cross-attention in the 6 even layers, keys/values from 1408; 32 queries),
 * all-f32 so every tensor counts 4 bytes: about 1.09 G parameters for blip2-opt-2.7b. */
START_TEST(test_real_blip_sizes) {
    const int64_t D = 1408, F = 6144, L = 39, T = 257, Dq = 768, Fq = 3072, Lq = 12, Q = 32;
    const int64_t vit = 588 * D + D + D + T * D + L * (2 * D + 3 * D * D + 3 * D + D * D + D + 2 * D + F * D + F + D * F + D) +
                        2 * D;
    const int64_t qf_layer = 4 * (Dq * Dq + Dq) + 2 * Dq + (Fq * Dq + Fq + Dq * Fq + Dq + 2 * Dq);
    const int64_t cross = 2 * (Dq * Dq + Dq) + 2 * (D * Dq + Dq) + 2 * Dq;
    const int64_t text = 30523 * Dq + 512 * Dq + Lq * (Fq * Dq + Fq + Dq * Fq + Dq + 2 * Dq);
    const struct { const char *name; int64_t De; int text; } cases[3] = {
        {"blip2-opt-2.7b", 2560, 0}, {"blip2-opt-6.7b", 4096, 0}, {"instructblip-vicuna-7b", 4096, 1}};
    for (int i = 0; i < 3; i++) {
        const graft_init_blip *p = graft_init_blip_find(cases[i].name);
        ck_assert_ptr_nonnull(p);
        const int64_t params = vit + Q * Dq + 2 * Dq + Lq * qf_layer + (Lq / 2) * cross + (cases[i].text ? text : 0) +
                               cases[i].De * Dq + cases[i].De;
        ck_assert_uint_eq(graft_init_blip_mmproj_bytes(&p->vision, GRAFT_TYPE_F32), (uint64_t)(4 * params));
    }
    ck_assert_int_eq(graft_init_opt_find("opt-2.7b")->n_embd, 2560);
    ck_assert_str_eq(graft_init_blip_find("instructblip-vicuna-7b")->llm, "llama-7b");
}
END_TEST

Suite *suite_init(void) {
    Suite *s = suite_create("init");
    TCase *tc = tcase_create("init");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_tiny_decoder);
    tcase_add_test(tc, test_llava_tiny);
    tcase_add_test(tc, test_llava_tiny_types);
    tcase_add_test(tc, test_llava_errors);
    tcase_add_test(tc, test_real_preset_sizes);
    tcase_add_test(tc, test_blip_tiny);
    tcase_add_test(tc, test_real_blip_sizes);
    suite_add_tcase(s, tc);
    return s;
}
