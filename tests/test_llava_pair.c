/* test_llava_pair.c - the LLaVA pipeline on a committed tiny random GGUF pair against the
 * independent float64 numpy reference (tests/reference/make_llava_fixtures.py, README-llava.md):
 * tests/fixtures/llava/pair-{f32,f16}/ hold an LLM .gguf, an mmproj .gguf, normalised pixels, a
 * prompt as ids (chunk A, -1 for the image, chunk B) and the reference projector rows, logits at
 * every position of the merged sequence and 32 greedy ids. Driven through the public API
 * (graft_mm_encode + graft_decode with the rows spliced at the marker) and through the CLI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "graft.h"
#include "test_util.h"

#define N_GEN 32
#define MAX_IDS 64

static const char *const VARIANTS[] = {"pair-f32", "pair-f16"};

/* Tolerances, relative to max|ref| (the reference is float64 on the weights exactly as decoded
 * from the files, F16-rounded for pair-f16, so both variants get the same bound):
 * - projector rows 2e-5: graft runs the ViT and projector in f32 (f32 activations also against F16
 *   weights); 2 blocks of width 32, 16 patches, O(1) activations, max|rows| 6.5: f32 rounding
 *   through that is ~1e-6 relative.
 * - logits 1e-4: the llama fixtures' bar (llama.cpp vs the same float64 reference: 1e-6 on a
 *   model of this size); the rows carry their own ~1e-6 into the decoder.
 * Measured (all three kernel variants): rows 5.5e-7 to 7.8e-7, logits 2.3e-6 to 3.7e-6, and
 * 1.1e-6 to 1.2e-6 when the decoder gets the reference's rows. Breaking the projector's GELU
 * (tanh form instead of erf) gives rows 1.1e-4 and logits 5.5e-4: red.
 * The reference's smallest top1-top2 greedy margin is 0.114 (pair-f32) / 0.118 (pair-f16), far
 * above these errors, so the greedy ids must be identical. */
#define ROW_TOL 2e-5
#define LOGIT_TOL 1e-4

typedef struct {
    char dir[256];
    int32_t a[MAX_IDS], b[MAX_IDS]; /* chunk A (BOS first) and chunk B */
    int na, nb;
    int32_t greedy[N_GEN];
} fixture;

static void path_of(const fixture *f, const char *name, char *out, size_t cap) {
    snprintf(out, cap, "%s/%s", f->dir, name);
}

static void *read_f32(const fixture *f, const char *name, size_t n_floats) {
    char p[512];
    path_of(f, name, p, sizeof p);
    size_t len;
    void *d = tu_read_file(p, &len);
    ck_assert_msg(d != NULL, "cannot read %s", p);
    ck_assert_msg(len == n_floats * sizeof(float), "%s: %zu bytes, want %zu", p, len, n_floats * sizeof(float));
    return d;
}

/* Reads decimal ids separated by spaces; returns the count. */
static int read_ids(const fixture *f, const char *name, int32_t *ids, int cap) {
    char p[512];
    path_of(f, name, p, sizeof p);
    FILE *fp = fopen(p, "r");
    ck_assert_msg(fp != NULL, "cannot open %s", p);
    int n = 0, v;
    while (n < cap && fscanf(fp, "%d", &v) == 1) ids[n++] = v;
    fclose(fp);
    return n;
}

static void open_fixture(fixture *f, int variant) {
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "tests/fixtures/llava/%s", VARIANTS[variant]);
    int32_t ids[MAX_IDS];
    int n = read_ids(f, "prompt.ids.txt", ids, MAX_IDS), marker = -1;
    for (int i = 0; i < n; i++)
        if (ids[i] == -1) {
            ck_assert_msg(marker < 0, "two image markers");
            marker = i;
        }
    ck_assert(marker > 0 && ids[0] == 1);
    f->na = marker;
    f->nb = n - marker - 1;
    memcpy(f->a, ids, sizeof(int32_t) * (size_t)f->na);
    memcpy(f->b, ids + marker + 1, sizeof(int32_t) * (size_t)f->nb);
    ck_assert_int_eq(read_ids(f, "greedy.txt", f->greedy, N_GEN), N_GEN);
}

/* The whole public-API path: load both files, encode the pixels to projector rows, decode chunk A,
 * the rows and chunk B in one batch with logits at every position, then 32 greedy steps. */
START_TEST(test_pair_api) {
    fixture f;
    open_fixture(&f, _i);
    char p[512];
    graft_error e;
    graft_model *m;
    graft_vision *v;
    path_of(&f, "model.gguf", p, sizeof p);
    ck_assert_msg(graft_model_load(p, NULL, &m, &e) == GRAFT_OK, "%s", e.msg);
    path_of(&f, "mmproj.gguf", p, sizeof p);
    ck_assert_msg(graft_vision_load(p, &v, &e) == GRAFT_OK, "%s", e.msg);
    const int E = graft_model_n_embd(m), V = graft_model_n_vocab(m);
    ck_assert_int_eq(E, 64);
    ck_assert_int_eq(graft_vision_n_embd(v), E);
    ck_assert_int_eq(graft_vision_image_size(v), 32);

    graft_ctx_params cp = graft_ctx_default_params();
    cp.n_ctx = 128;
    cp.n_batch = 64;
    cp.n_threads = 2;
    cp.kv_type = GRAFT_TYPE_F32;
    cp.logits_all = 1;
    graft_ctx *ctx;
    ck_assert_msg(graft_ctx_new(m, &cp, &ctx, &e) == GRAFT_OK, "%s", e.msg);
    graft_mm *mm;
    ck_assert_msg(graft_mm_new(ctx, v, NULL, &mm, &e) == GRAFT_OK, "%s", e.msg);
    const int n_img = graft_mm_n_tokens(mm);
    ck_assert_int_eq(n_img, 16);

    /* projector rows */
    const int S = graft_vision_image_size(v);
    float *pixels = read_f32(&f, "pixels.f32", (size_t)3 * S * S);
    float *ref_rows = read_f32(&f, "image_rows.f32", (size_t)n_img * E);
    const int n = f.na + n_img + f.nb;
    float *embd = calloc((size_t)n * E, sizeof(float));
    int32_t ids[MAX_IDS + 32];
    graft_image_input img = {.pixels = pixels};
    ck_assert_msg(graft_mm_encode(mm, &img, embd + (size_t)f.na * E, NULL, &e) == GRAFT_OK, "%s", e.msg);
    const double row_scale = tu_max_abs(ref_rows, (size_t)n_img * E);
    const double row_err = tu_max_abs_err("image rows", embd + (size_t)f.na * E, ref_rows, (size_t)n_img * E,
                                          ROW_TOL * row_scale);

    /* the merged sequence: ids -1 where the rows go */
    for (int i = 0; i < f.na; i++) ids[i] = f.a[i];
    for (int i = 0; i < n_img; i++) ids[f.na + i] = -1;
    for (int i = 0; i < f.nb; i++) ids[f.na + n_img + i] = f.b[i];
    ck_assert_msg(graft_decode(ctx, ids, embd, n) == GRAFT_OK, "%s", graft_ctx_last_error(ctx));
    ck_assert_int_eq(graft_ctx_pos(ctx), n);
    float *ref = read_f32(&f, "logits.f32", (size_t)n * V);
    const double scale = tu_max_abs(ref, (size_t)n * V);
    double worst = 0;
    int worst_pos = 0;
    for (int i = 0; i < n; i++) {
        char label[64];
        snprintf(label, sizeof label, "logits row %d", i);
        const float *got = graft_ctx_logits(ctx, i);
        ck_assert_ptr_nonnull(got);
        double err = tu_max_abs_err(label, got, ref + (size_t)i * V, (size_t)V, LOGIT_TOL * scale);
        if (err > worst) worst = err, worst_pos = i;
    }

    /* the decoder alone: the same sequence with the reference's rows spliced in (separates the
     * decoder's error from what graft's rows carry into it) */
    float *embd_ref = calloc((size_t)n * E, sizeof(float));
    memcpy(embd_ref + (size_t)f.na * E, ref_rows, sizeof(float) * (size_t)n_img * E);
    ck_assert_int_eq(graft_ctx_rewind(ctx, 0), GRAFT_OK);
    ck_assert_msg(graft_decode(ctx, ids, embd_ref, n) == GRAFT_OK, "%s", graft_ctx_last_error(ctx));
    double worst_dec = 0;
    for (int i = 0; i < n; i++) {
        char label[64];
        snprintf(label, sizeof label, "logits (reference rows) row %d", i);
        double err = tu_max_abs_err(label, graft_ctx_logits(ctx, i), ref + (size_t)i * V, (size_t)V, LOGIT_TOL * scale);
        if (err > worst_dec) worst_dec = err;
    }
    free(embd_ref);

    /* greedy, one graft_decode per token (the cache holds the sequence with graft's own rows) */
    ck_assert_int_eq(graft_ctx_rewind(ctx, 0), GRAFT_OK);
    ck_assert_msg(graft_decode(ctx, ids, embd, n) == GRAFT_OK, "%s", graft_ctx_last_error(ctx));
    graft_sampler_params sp = graft_sampler_default_params();
    sp.temp = 0;
    graft_sampler *s;
    ck_assert_int_eq(graft_sampler_new(&sp, V, &s, &e), GRAFT_OK);
    int first_bad = -1;
    int32_t got_ids[N_GEN];
    for (int i = 0; i < N_GEN; i++) {
        int32_t tok = graft_sampler_sample(s, graft_ctx_logits(ctx, -1));
        got_ids[i] = tok;
        if (tok != f.greedy[i] && first_bad < 0) first_bad = i;
        ck_assert_msg(graft_decode(ctx, &tok, NULL, 1) == GRAFT_OK, "%s", graft_ctx_last_error(ctx));
    }
    fprintf(stderr, "llava_pair %s: rows max err %.2e x max|ref| (%.3f), logits max err %.2e x max|ref| (%.3f) "
                    "at position %d of %d (%.2e with the reference's rows), greedy %s\n", VARIANTS[_i], row_err / row_scale,
            row_scale, worst / scale, scale, worst_pos, n, worst_dec / scale, first_bad < 0 ? "identical" : "DIFFERS");
    if (first_bad >= 0)
        for (int i = first_bad; i < N_GEN && i < first_bad + 4; i++)
            fprintf(stderr, "  greedy step %d: graft %d, reference %d\n", i, got_ids[i], f.greedy[i]);
    ck_assert_msg(row_err <= ROW_TOL * row_scale, "%s: image rows off by %.3e (tol %.3e)", VARIANTS[_i], row_err,
                  ROW_TOL * row_scale);
    ck_assert_msg(worst <= LOGIT_TOL * scale, "%s: logits off by %.3e at position %d (tol %.3e)", VARIANTS[_i], worst,
                  worst_pos, LOGIT_TOL * scale);
    ck_assert_msg(worst_dec <= LOGIT_TOL * scale, "%s: logits from the reference's rows off by %.3e (tol %.3e)",
                  VARIANTS[_i], worst_dec, LOGIT_TOL * scale);
    ck_assert_msg(first_bad < 0, "%s: greedy id %d differs", VARIANTS[_i], first_bad);

    graft_sampler_free(s);
    free(ref);
    free(embd);
    free(ref_rows);
    free(pixels);
    graft_mm_free(mm);
    graft_ctx_free(ctx);
    graft_vision_free(v);
    graft_model_free(m);
}
END_TEST

/* `graft -m LLM --mmproj MMPROJ --pixels P --prompt-ids A,-1,B -n 32 --temp 0 -ctk f32` prints the
 * bytes the reference's greedy ids render to (greedy.text, written by the generator from the vocab),
 * then a newline. */
START_TEST(test_pair_cli) {
    const char *cli = getenv("GRAFT_CLI");
    if (!cli || !*cli) {
        fprintf(stderr, "SKIP test_pair_cli: GRAFT_CLI is not set (make test sets it)\n");
        return;
    }
    fixture f;
    open_fixture(&f, _i);
    char list[512] = "", cmd[2048];
    size_t k = 0;
    for (int i = 0; i < f.na; i++) k += (size_t)snprintf(list + k, sizeof list - k, "%d,", f.a[i]);
    k += (size_t)snprintf(list + k, sizeof list - k, "-1");
    for (int i = 0; i < f.nb; i++) k += (size_t)snprintf(list + k, sizeof list - k, ",%d", f.b[i]);
    snprintf(cmd, sizeof cmd,
             "'%s' -m %s/model.gguf --mmproj %s/mmproj.gguf --pixels %s/pixels.f32 --prompt-ids %s -n %d "
             "--temp 0 -ctk f32 -t 2 2>/dev/null",
             cli, f.dir, f.dir, f.dir, list, N_GEN);
    FILE *pp = popen(cmd, "r");
    ck_assert_ptr_nonnull(pp);
    char out[4096];
    size_t n = fread(out, 1, sizeof out, pp);
    int st = pclose(pp);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: exit status %d", cmd, st);
    char p[512];
    path_of(&f, "greedy.text", p, sizeof p);
    size_t want_len;
    char *want = tu_read_file(p, &want_len);
    ck_assert_ptr_nonnull(want);
    int same = n == want_len + 1 && !memcmp(out, want, want_len) && out[want_len] == '\n';
    if (!same) {
        fprintf(stderr, "%s\n got %zu bytes:", cmd, n);
        for (size_t i = 0; i < n && i < 48; i++) fprintf(stderr, " %02x", (unsigned char)out[i]);
        fprintf(stderr, "\nwant %zu bytes + \\n:", want_len);
        for (size_t i = 0; i < want_len && i < 48; i++) fprintf(stderr, " %02x", (unsigned char)want[i]);
        fprintf(stderr, "\n");
    }
    ck_assert_msg(same, "%s: the CLI's continuation differs from the reference's greedy text", VARIANTS[_i]);
    free(want);
}
END_TEST

Suite *suite_llava_pair(void) {
    Suite *s = suite_create("llava_pair");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_loop_test(tc, test_pair_api, 0, 2);
    tcase_add_loop_test(tc, test_pair_cli, 0, 2);
    suite_add_tcase(s, tc);
    return s;
}
