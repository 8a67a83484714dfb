/* test_pipeline.c - the LLaVA pipeline end to end against Hugging Face transformers itself:
 * ../shared/fixtures/hf/llava-tiny-b holds a tiny random LLaVA-1.5 saved by HF, the same model as a
 * llama.cpp-layout GGUF pair, and HF's logits and greedy ids for a prompt with one <image> run on
 * a real photo. From the GGUF pair and the JPEG, graft must reproduce the logits at all 31
 * positions (1e-4 x max|ref|: HF's own fp32-vs-fp64 noise is 2.6e-6, i.e. 1.4e-6 relative) and
 * the 32 greedy ids exactly (min greedy margin 0.0047). Also: the image-embedding cache, and the
 * errors the pipeline must give. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graft.h"
#include "npy.h"
#include "test_util.h"

typedef struct {
    graft_model *m;
    graft_vision *v;
    graft_ctx *ctx;
    graft_mm *mm;
    char dir[1024];
} fixture;

static int open_fixture(fixture *f, int logits_all, int n_ctx) {
    const char *dir = tu_shared("fixtures/hf/llava-tiny-b");
    if (!dir) return 0;
    snprintf(f->dir, sizeof f->dir, "%s", dir);
    char llm[1200], mmproj[1200];
    snprintf(llm, sizeof llm, "%s/gguf/llava-tiny-b-llm-f32.gguf", dir);
    snprintf(mmproj, sizeof mmproj, "%s/gguf/llava-tiny-b-mmproj-f32.gguf", dir);
    graft_error e;
    ck_assert_msg(graft_model_load(llm, NULL, &f->m, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_msg(graft_vision_load(mmproj, &f->v, &e) == GRAFT_OK, "%s", e.msg);
    graft_ctx_params cp = graft_ctx_default_params();
    cp.n_ctx = n_ctx;
    cp.n_batch = 64;
    cp.kv_type = GRAFT_TYPE_F32;
    cp.logits_all = logits_all;
    ck_assert_msg(graft_ctx_new(f->m, &cp, &f->ctx, &e) == GRAFT_OK, "%s", e.msg);
    graft_mm_params mp = graft_mm_default_params();
    mp.image_mode = GRAFT_MM_MODE_CROP; /* HF's LlavaProcessor uses CLIPImageProcessor: crop */
    ck_assert_msg(graft_mm_new(f->ctx, f->v, &mp, &f->mm, &e) == GRAFT_OK, "%s", e.msg);
    return 1;
}

static void close_fixture(fixture *f) {
    graft_mm_free(f->mm);
    graft_ctx_free(f->ctx);
    graft_vision_free(f->v);
    graft_model_free(f->m);
}

static const char PROMPT[] = "USER: <image>\nWhat is shown? ASSISTANT:";

START_TEST(test_hf_logits_from_jpeg) {
    fixture f;
    if (!open_fixture(&f, 1, 128)) return;
    char path[1200];
    snprintf(path, sizeof path, "%s/../../../images/llava_extreme_ironing.jpg", f.dir);
    graft_image_input img = {.path = path};
    graft_mm_timings t = {0};
    graft_error e;
    ck_assert_msg(graft_mm_eval(f.mm, PROMPT, &img, 1, &t, &e) == GRAFT_OK, "%s", e.msg);
    ck_assert_int_eq(t.n_text_tokens, 15); /* HF input_ids: 16 with the one <image> id */
    ck_assert_int_eq(t.n_image_tokens, 16);
    snprintf(path, sizeof path, "%s/ref/logits.npy", f.dir);
    npy_array a;
    ck_assert_int_eq(npy_load(path, &a), 0);
    ck_assert_int_eq(a.shape[1], 31);
    const int V = graft_model_n_vocab(f.m);
    ck_assert_int_eq(a.shape[2], V);
    const float *ref = a.data;
    const double scale = tu_max_abs(ref, a.count);
    double worst = 0;
    for (int i = 0; i < 31; i++) {
        double err = tu_max_abs_err("logits", graft_ctx_logits(f.ctx, i), ref + (size_t)i * V, (size_t)V, 1e-4 * scale);
        if (err > worst) worst = err;
    }
    fprintf(stderr, "llava-tiny-b from the JPEG: max logit error %.2e x max|ref| over 31 positions\n", worst / scale);
    ck_assert(worst <= 1e-4 * scale);
    npy_free(&a);
    close_fixture(&f);
}
END_TEST

START_TEST(test_hf_greedy) {
    fixture f;
    if (!open_fixture(&f, 0, 128)) return;
    char path[1200];
    snprintf(path, sizeof path, "%s/ref/pixel_values.npy", f.dir);
    npy_array px;
    ck_assert_int_eq(npy_load(path, &px), 0);
    graft_image_input img = {.pixels = px.data}; /* HF's own pixel_values: the other input route */
    graft_error e;
    ck_assert_msg(graft_mm_eval(f.mm, PROMPT, &img, 1, NULL, &e) == GRAFT_OK, "%s", e.msg);
    snprintf(path, sizeof path, "%s/ref/generated_ids.npy", f.dir);
    npy_array g;
    ck_assert_int_eq(npy_load(path, &g), 0);
    int64_t *want = npy_as_i64(&g);
    graft_sampler_params sp = graft_sampler_default_params();
    sp.temp = 0;
    graft_sampler *s;
    ck_assert_int_eq(graft_sampler_new(&sp, graft_model_n_vocab(f.m), &s, &e), GRAFT_OK);
    for (int i = 16; i < 48; i++) {
        int32_t tok = graft_sampler_sample(s, graft_ctx_logits(f.ctx, -1));
        ck_assert_msg(tok == want[i], "greedy token %d: %d, HF %lld", i - 16, tok, (long long)want[i]);
        ck_assert_int_eq(graft_decode(f.ctx, &tok, NULL, 1), GRAFT_OK);
    }
    free(want);
    npy_free(&g);
    npy_free(&px);
    graft_sampler_free(s);
    close_fixture(&f);
}
END_TEST

/* A second question about the same image reuses its embedding; the rows equal a fresh encode. */
START_TEST(test_image_cache) {
    fixture f;
    if (!open_fixture(&f, 0, 256)) return;
    char path[1200];
    snprintf(path, sizeof path, "%s/../../../images/llava_extreme_ironing.jpg", f.dir);
    graft_image_input img = {.path = path};
    graft_mm_timings t = {0};
    graft_error e;
    ck_assert_int_eq(graft_mm_eval(f.mm, PROMPT, &img, 1, &t, &e), GRAFT_OK);
    ck_assert_int_eq(graft_ctx_rewind(f.ctx, 0), GRAFT_OK);
    ck_assert_int_eq(graft_mm_eval(f.mm, "USER: <image>\nAnd now? ASSISTANT:", &img, 1, &t, &e), GRAFT_OK);
    ck_assert_int_eq(t.n_images_encoded, 1);
    ck_assert_int_eq(t.n_images_cached, 1);
    /* two images in one prompt, the same twice: one encode, both places filled */
    ck_assert_int_eq(graft_ctx_rewind(f.ctx, 0), GRAFT_OK);
    graft_image_input two[2] = {img, img};
    ck_assert_int_eq(graft_mm_eval(f.mm, "<image><image>hi", two, 2, &t, &e), GRAFT_OK);
    ck_assert_int_eq(t.n_images_encoded, 1);
    close_fixture(&f);
}
END_TEST

START_TEST(test_errors) {
    fixture f;
    if (!open_fixture(&f, 0, 24)) return;
    graft_error e;
    char path[1200];
    snprintf(path, sizeof path, "%s/../../../images/llava_extreme_ironing.jpg", f.dir);
    graft_image_input img = {.path = path};
    /* markers vs images */
    ck_assert_int_eq(graft_mm_eval(f.mm, "USER: <image> <image>", &img, 1, NULL, &e), GRAFT_E_INVALID);
    ck_assert_msg(strstr(e.msg, "2 image markers") && strstr(e.msg, "1 image was"), "%s", e.msg);
    ck_assert_int_eq(graft_mm_eval(f.mm, "USER: hello", &img, 1, NULL, &e), GRAFT_E_INVALID);
    /* a context too small for the image tokens: nothing consumed */
    ck_assert_int_eq(graft_mm_eval(f.mm, "USER: <image>\nWhat is shown in this picture, in detail? ASSISTANT:", &img,
                                   1, NULL, &e), GRAFT_E_LIMIT);
    ck_assert_msg(strstr(e.msg, "context of 24"), "%s", e.msg);
    ck_assert_int_eq(graft_ctx_pos(f.ctx), 0);
    /* an image that does not decode */
    const char *bad = tu_tmppath("not-an-image.jpg");
    FILE *fp = fopen(bad, "wb");
    fputs("this is not a JPEG", fp);
    fclose(fp);
    graft_image_input bimg = {.path = bad};
    ck_assert_int_ne(graft_mm_eval(f.mm, "<image>", &bimg, 1, NULL, &e), GRAFT_OK);
    ck_assert_msg(strstr(e.msg, "not-an-image.jpg"), "%s", e.msg);
    close_fixture(&f);
    /* an mmproj whose rows do not have the LLM's width */
    graft_model *m;
    graft_vision *v;
    graft_ctx *c;
    graft_mm *mm;
    ck_assert_int_eq(graft_model_load("tests/fixtures/llama/tiny-f32/model.gguf", NULL, &m, &e), GRAFT_OK);
    snprintf(path, sizeof path, "%s/gguf/llava-tiny-b-mmproj-f32.gguf", f.dir);
    ck_assert_int_eq(graft_vision_load(path, &v, &e), GRAFT_OK);
    ck_assert_int_eq(graft_ctx_new(m, NULL, &c, &e), GRAFT_OK);
    ck_assert_int_eq(graft_mm_new(c, v, NULL, &mm, &e), GRAFT_E_FORMAT);
    ck_assert_msg(strstr(e.msg, "width of 56") || strstr(e.msg, "width 56"), "%s", e.msg);
    graft_ctx_free(c);
    graft_vision_free(v);
    graft_model_free(m);
}
END_TEST

Suite *suite_pipeline(void) {
    Suite *s = suite_create("pipeline");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_hf_logits_from_jpeg);
    tcase_add_test(tc, test_hf_greedy);
    tcase_add_test(tc, test_image_cache);
    tcase_add_test(tc, test_errors);
    suite_add_tcase(s, tc);
    return s;
}
