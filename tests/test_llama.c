/* test_llama.c - the llama decoder against independent references:
 *   - tests/fixtures/llama/<model>/ : tiny random models and float64 numpy reference outputs
 *     written by tests/reference/make_llama_fixtures.py from the Hugging Face model definition;
 *   - ../shared/fixtures/llamacpp/tiny-a : logits and greedy tokens produced by llama.cpp itself.
 * Logits must match to 1e-4 x max|ref| (llama.cpp vs float64 numpy differ by ~1e-6 on these,
 * and f32 accumulation over K <= 128 costs ~1e-6 relative: 1e-4 is generous yet catches any
 * wrong rope pair, head mapping or norm); greedy tokens must be identical. */
#include <dirent.h>
#include <malloc.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graft.h"
#include "test_util.h"

/* Reads whitespace-separated decimal ids; returns the count (at most cap). */
static int read_ids(const char *path, int32_t *ids, int cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    long v;
    while (n < cap && fscanf(f, "%ld", &v) == 1) ids[n++] = (int32_t)v;
    fclose(f);
    return n;
}

static graft_model *load(const char *path) {
    graft_model *m = NULL;
    graft_error e;
    int rc = graft_model_load(path, NULL, &m, &e);
    ck_assert_msg(rc == GRAFT_OK, "load %s: %s", path, e.msg);
    return m;
}

static graft_ctx *ctx_for(const graft_model *m, int logits_all, int n_threads) {
    graft_ctx_params p = graft_ctx_default_params();
    p.n_ctx = 256;
    p.n_batch = 64;
    p.kv_type = GRAFT_TYPE_F32;
    p.logits_all = logits_all;
    p.n_threads = n_threads;
    graft_ctx *c = NULL;
    graft_error e;
    ck_assert_msg(graft_ctx_new(m, &p, &c, &e) == GRAFT_OK, "ctx: %s", e.msg);
    return c;
}

/* All-position logits of `ids` vs the reference file; returns max |err| / max |ref|. */
static double check_logits(graft_model *m, const int32_t *ids, int n, const char *ref_path,
                           double rel_tol) {
    const int V = graft_model_n_vocab(m);
    size_t len = 0;
    float *ref = tu_read_file(ref_path, &len);
    ck_assert_msg(ref != NULL, "cannot read %s", ref_path);
    ck_assert_uint_eq(len, (size_t)n * V * sizeof(float));
    graft_ctx *c = ctx_for(m, 1, 2);
    ck_assert_int_eq(graft_decode(c, ids, NULL, n), GRAFT_OK);
    const double scale = tu_max_abs(ref, (size_t)n * V);
    double worst = 0;
    for (int i = 0; i < n; i++) {
        const float *got = graft_ctx_logits(c, i);
        ck_assert_ptr_nonnull(got);
        double e = tu_max_abs_err("logits", got, ref + (size_t)i * V, (size_t)V, rel_tol * scale);
        if (e > worst) worst = e;
    }
    graft_ctx_free(c);
    free(ref);
    return worst / scale;
}

/* Greedy continuation of n_gen tokens, one decode per token (the KV-cache path). */
static void greedy(graft_model *m, const int32_t *ids, int n, int32_t *out, int n_gen, int n_threads) {
    graft_ctx *c = ctx_for(m, 0, n_threads);
    graft_sampler_params sp = graft_sampler_default_params();
    sp.temp = 0;
    graft_sampler *s;
    graft_error e;
    ck_assert_int_eq(graft_sampler_new(&sp, graft_model_n_vocab(m), &s, &e), GRAFT_OK);
    ck_assert_int_eq(graft_decode(c, ids, NULL, n), GRAFT_OK);
    for (int i = 0; i < n_gen; i++) {
        out[i] = graft_sampler_sample(s, graft_ctx_logits(c, -1));
        ck_assert_int_eq(graft_decode(c, &out[i], NULL, 1), GRAFT_OK);
    }
    graft_sampler_free(s);
    graft_ctx_free(c);
}

static void check_greedy(graft_model *m, const int32_t *ids, int n, const char *ref_path) {
    int32_t want[64], got[64];
    int n_gen = read_ids(ref_path, want, 64);
    ck_assert_int_gt(n_gen, 0);
    greedy(m, ids, n, got, n_gen, 2);
    for (int i = 0; i < n_gen; i++)
        ck_assert_msg(got[i] == want[i], "%s: token %d is %d, reference %d", ref_path, i, got[i], want[i]);
}

START_TEST(test_llamacpp_tiny_a) {
    const char *dir = tu_shared("fixtures/llamacpp/tiny-a");
    if (!dir) return;
    char path[1024];
    snprintf(path, sizeof path, "%s/tiny-llm.gguf", dir);
    graft_model *m = load(path);
    ck_assert_int_eq(graft_model_n_vocab(m), 32000);
    const char *prompts[] = {"p1", "p2"};
    for (int p = 0; p < 2; p++) {
        int32_t ids[64];
        snprintf(path, sizeof path, "%s/%s.tokens.txt", dir, prompts[p]);
        int n = read_ids(path, ids, 64);
        ck_assert_int_gt(n, 0);
        snprintf(path, sizeof path, "%s/%s.logits.f32", dir, prompts[p]);
        double rel = check_logits(m, ids, n, path, 1e-4);
        fprintf(stderr, "llama.cpp tiny-a %s: max logit error %.2e x max|ref|\n", prompts[p], rel);
        ck_assert(rel <= 1e-4);
        snprintf(path, sizeof path, "%s/%s.greedy.txt", dir, prompts[p]);
        check_greedy(m, ids, n, path);
    }
    graft_model_free(m);
}
END_TEST

/* Every model under tests/fixtures/llama. Float models: logits to 1e-4 x max|ref| and identical
 * greedy tokens. Quantised models: graft, like llama.cpp, quantises activations to Q8_0 blocks
 * before a matmul with Q8_0/Q4_0 weights, so the reference on the dequantised weights with float
 * activations (pN.logits.f32) differs by that rounding: ~1/254 relative per activation, 1.2e-2 x
 * max|ref| seen, checked at 3e-2. The reference that also quantises activations as ggml does
 * (pN.q8act.*) must match to 2e-3 (it computes in float64, graft in f32: an activation within
 * 1e-6 of a rounding boundary may land on the other int8, which moves a logit by ~1e-3) and its
 * greedy tokens exactly. */
START_TEST(test_reference_fixtures) {
    const char *root = "tests/fixtures/llama";
    DIR *d = opendir(root);
    ck_assert_msg(d != NULL, "%s is missing", root);
    struct dirent *de;
    int n_models = 0;
    while ((de = readdir(d))) {
        if (de->d_name[0] == '.') continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s/model.gguf", root, de->d_name);
        FILE *f = fopen(path, "rb");
        if (!f) continue;
        fclose(f);
        graft_model *m = load(path);
        const int quant = strstr(de->d_name, "q8_0") || strstr(de->d_name, "q4_0");
        for (int p = 1; p <= 2; p++) {
            int32_t ids[64];
            snprintf(path, sizeof path, "%s/%s/p%d.ids.txt", root, de->d_name, p);
            int n = read_ids(path, ids, 64);
            ck_assert_int_gt(n, 0);
            snprintf(path, sizeof path, "%s/%s/p%d.logits.f32", root, de->d_name, p);
            const double tol = quant ? 3e-2 : 1e-4;
            double rel = check_logits(m, ids, n, path, tol);
            fprintf(stderr, "fixture %s p%d: max logit error %.2e x max|ref|\n", de->d_name, p, rel);
            ck_assert_msg(rel <= tol, "%s p%d: %.3g > %.3g", de->d_name, p, rel, tol);
            const char *greedy_ref = "greedy";
            if (quant) {
                snprintf(path, sizeof path, "%s/%s/p%d.q8act.logits.f32", root, de->d_name, p);
                ck_assert_msg((f = fopen(path, "rb")) != NULL, "%s is missing", path);
                fclose(f);
                rel = check_logits(m, ids, n, path, 2e-3);
                fprintf(stderr, "fixture %s p%d (q8 activations): max logit error %.2e x max|ref|\n",
                        de->d_name, p, rel);
                ck_assert_msg(rel <= 2e-3, "%s p%d q8act: %.3g", de->d_name, p, rel);
                greedy_ref = "q8act.greedy";
            }
            snprintf(path, sizeof path, "%s/%s/p%d.%s.txt", root, de->d_name, p, greedy_ref);
            check_greedy(m, ids, n, path);
        }
        graft_model_free(m);
        n_models++;
    }
    closedir(d);
    ck_assert_int_ge(n_models, 6);
}
END_TEST

/* Logits do not depend on the thread count, bit for bit; a chunked prefill equals one batch. */
START_TEST(test_thread_and_chunk_invariance) {
    graft_model *m = load("tests/fixtures/llama/tiny-f32/model.gguf");
    int32_t ids[19];
    int n = read_ids("tests/fixtures/llama/tiny-f32/p2.ids.txt", ids, 19);
    const int V = graft_model_n_vocab(m);
    float *ref = malloc((size_t)V * sizeof(float));
    for (int t = 1; t <= 2; t++) {
        graft_ctx *c = ctx_for(m, 0, t);
        ck_assert_int_eq(graft_decode(c, ids, NULL, n), GRAFT_OK);
        if (t == 1) memcpy(ref, graft_ctx_logits(c, -1), (size_t)V * sizeof(float));
        else ck_assert(!memcmp(ref, graft_ctx_logits(c, -1), (size_t)V * sizeof(float)));
        graft_ctx_free(c);
    }
    /* a prefill in chunks of 4 (n_batch 4: 19 = 4+4+4+4+3) vs one batch */
    {
        graft_ctx_params p = graft_ctx_default_params();
        p.n_ctx = 64;
        p.n_batch = 4;
        p.kv_type = GRAFT_TYPE_F32;
        graft_ctx *cc;
        graft_error e;
        ck_assert_int_eq(graft_ctx_new(m, &p, &cc, &e), GRAFT_OK);
        ck_assert_int_eq(graft_decode(cc, ids, NULL, n), GRAFT_OK);
        ck_assert(tu_max_abs_err("chunked", graft_ctx_logits(cc, -1), ref, (size_t)V, 1e-4) <= 1e-4);
        graft_ctx_free(cc);
    }
    /* token by token through the cache vs one batch: same maths, different grouping */
    graft_ctx *c = ctx_for(m, 0, 2);
    for (int i = 0; i < n; i++) ck_assert_int_eq(graft_decode(c, ids + i, NULL, 1), GRAFT_OK);
    ck_assert(tu_max_abs_err("incremental", graft_ctx_logits(c, -1), ref, (size_t)V, 1e-4) <= 1e-4);
    /* rewind and replay the tail */
    ck_assert_int_eq(graft_ctx_rewind(c, 5), GRAFT_OK);
    ck_assert_int_eq(graft_decode(c, ids + 5, NULL, n - 5), GRAFT_OK);
    ck_assert(tu_max_abs_err("rewound", graft_ctx_logits(c, -1), ref, (size_t)V, 1e-4) <= 1e-4);
    graft_ctx_free(c);
    free(ref);
    graft_model_free(m);
}
END_TEST

/* Bad input gets a clear error: unknown architecture, missing tensor, a full context. */
START_TEST(test_errors) {
    graft_model *m = NULL;
    graft_error e;
    ck_assert_int_ne(graft_model_load("/nonexistent/model.gguf", NULL, &m, &e), GRAFT_OK);
    ck_assert(strstr(e.msg, "/nonexistent/model.gguf") != NULL);
    m = load("tests/fixtures/llama/tiny-f32/model.gguf");
    graft_ctx_params p = graft_ctx_default_params();
    p.n_ctx = 8;
    graft_ctx *c;
    ck_assert_int_eq(graft_ctx_new(m, &p, &c, &e), GRAFT_OK);
    int32_t ids[10] = {1, 5, 6, 7, 8, 9, 10, 11, 12, 13};
    ck_assert_int_eq(graft_decode(c, ids, NULL, 10), GRAFT_E_LIMIT);
    ck_assert(strstr(graft_ctx_last_error(c), "n_ctx 8") != NULL);
    ck_assert_int_eq(graft_ctx_pos(c), 0); /* nothing was consumed */
    ck_assert_int_eq(graft_decode(c, ids, NULL, 8), GRAFT_OK);
    ck_assert_int_eq(graft_decode(c, ids, NULL, 1), GRAFT_E_LIMIT);
    int32_t bad = 1 << 20;
    ck_assert_int_eq(graft_ctx_rewind(c, 0), GRAFT_OK);
    ck_assert_int_eq(graft_decode(c, &bad, NULL, 1), GRAFT_E_INVALID);
    graft_ctx_free(c);
    graft_model_free(m);
}
END_TEST

/* The per-token path allocates nothing: the heap's in-use bytes do not move over 8 decodes. */
START_TEST(test_decode_allocates_nothing) {
    graft_model *m = load("tests/fixtures/llama/tiny-q4_0/model.gguf");
    graft_ctx *c = ctx_for(m, 0, 2);
    int32_t ids[4] = {1, 300, 301, 302};
    ck_assert_int_eq(graft_decode(c, ids, NULL, 4), GRAFT_OK); /* warm: thread pool, lazy init */
    ck_assert_int_eq(graft_decode(c, ids + 1, NULL, 1), GRAFT_OK);
    /* no ck_assert inside the window: Check itself allocates in fork mode */
    int rc = GRAFT_OK;
    struct mallinfo2 m0 = mallinfo2();
    for (int i = 0; i < 8; i++) rc |= graft_decode(c, ids + 1 + i % 3, NULL, 1);
    struct mallinfo2 m1 = mallinfo2();
    ck_assert_int_eq(rc, GRAFT_OK);
    ck_assert_msg(m0.uordblks == m1.uordblks && m0.hblkhd == m1.hblkhd, "decode allocated: %zu -> %zu bytes",
                  m0.uordblks, m1.uordblks);
    graft_ctx_free(c);
    graft_model_free(m);
}
END_TEST

Suite *suite_llama(void) {
    Suite *s = suite_create("llama");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_llamacpp_tiny_a);
    tcase_add_test(tc, test_reference_fixtures);
    tcase_add_test(tc, test_thread_and_chunk_invariance);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_decode_allocates_nothing);
    suite_add_tcase(s, tc);
    return s;
}
