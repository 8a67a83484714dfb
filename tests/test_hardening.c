/* test_hardening.c - failure paths and sharing (issue 8): every allocation of the main entry
 * points made to fail in turn (the failing-allocator hook in tests/alloc_hook.c) must give an
 * error and no crash or leak; one loaded model and vision tower shared read-only by several
 * threads, each with its own contexts, give bit-for-bit the outputs of sequential use. */
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "dataset.h"
#include "error.h"
#include "gguf_write.h"
#include "quantize.h"
#include "graft.h"
#include "test_util.h"
#include "tokenizer.h"

#define LLM "tests/fixtures/llava/pair-f32/model.gguf"
#define MMPROJ "tests/fixtures/llava/pair-f32/mmproj.gguf"
#define PIXELS "tests/fixtures/llava/pair-f32/pixels.f32"
#define PROMPT "USER: <image>\nWhat is in the picture? ASSISTANT:"
#define N_GEN 8

/* ---- allocation failures ------------------------------------------------------------------- */

typedef int (*op_fn)(void *ctx, graft_error *err); /* runs the operation, frees what it made */

/* Fails allocation 0, 1, 2, ... of op until it needs no more; each failing run must return an
 * error with a message (GRAFT_E_NOMEM unless the failure surfaced as another honest error). */
static void walk(const char *name, op_fn op, void *ctx) {
    int n_nomem = 0, n_other = 0;
    for (long n = 0;; n++) {
        graft_error err = {0};
        tu_alloc_fail_after(n);
        int rc = op(ctx, &err);
        int failed = tu_alloc_disarm();
        if (!failed) {
            ck_assert_msg(rc == GRAFT_OK, "%s: fails with no allocation failure: %s", name, err.msg);
            printf("alloc-fail %s: %ld allocations, each failure reported (%d as out of memory, %d other)\n",
                   name, n, n_nomem, n_other);
            return;
        }
        if (rc == GRAFT_OK) continue; /* tolerated (an optional buffer): the op verified its result */
        ck_assert_msg(err.msg[0], "%s: allocation %ld failed, error without a message", name, n);
        ck_assert_msg(!strstr(err.msg, "succeeded with different"), "%s: allocation %ld: %s", name, n, err.msg);
        if (rc == GRAFT_E_NOMEM) n_nomem++;
        else n_other++;
        ck_assert_msg(n < 100000, "%s: no end", name);
    }
}

static int op_model(void *ctx, graft_error *err) {
    graft_model *m;
    int rc = graft_model_load((const char *)ctx, NULL, &m, err);
    if (!rc) graft_model_free(m);
    return rc;
}

static int op_vision(void *ctx, graft_error *err) {
    graft_vision *v;
    int rc = graft_vision_load((const char *)ctx, &v, err);
    if (!rc) graft_vision_free(v);
    return rc;
}

typedef struct {
    graft_model *m;
    graft_vision *v;
    float *pixels;
    int32_t want[N_GEN]; /* greedy ids of the sequential run */
} shared;

static void load_shared(shared *s) {
    graft_error err;
    ck_assert_msg(graft_model_load(LLM, NULL, &s->m, &err) == GRAFT_OK, "%s", err.msg);
    ck_assert_msg(graft_vision_load(MMPROJ, &s->v, &err) == GRAFT_OK, "%s", err.msg);
    size_t len;
    s->pixels = tu_read_file(PIXELS, &len);
    int S = graft_vision_image_size(s->v);
    ck_assert(s->pixels && len == sizeof(float) * 3 * S * S);
}

static void free_shared(shared *s) {
    free(s->pixels);
    graft_vision_free(s->v);
    graft_model_free(s->m);
}

/* One question about one image: a context and a session of its own, greedy N_GEN ids. The
 * pixels are flipped horizontally `variant` times mod 2 so threads ask about different images. */
static int answer(const shared *s, int variant, int n_threads, int32_t *out, graft_error *err) {
    graft_ctx_params cp = graft_ctx_default_params();
    cp.n_ctx = 128;
    cp.n_threads = n_threads;
    graft_ctx *c = NULL;
    graft_mm *mm = NULL;
    int S = graft_vision_image_size(s->v);
    float *px = malloc(sizeof(float) * 3 * S * S);
    int rc = px ? GRAFT_OK : graft_error_set(err, GRAFT_E_NOMEM, "out of memory");
    for (int i = 0; !rc && i < 3 * S * S; i++) {
        int x = i % S;
        px[i] = s->pixels[(variant & 1) ? i - x + (S - 1 - x) : i];
    }
    if (!rc) rc = graft_ctx_new(s->m, &cp, &c, err);
    graft_mm_params mp = graft_mm_default_params();
    mp.n_threads = n_threads;
    if (!rc) rc = graft_mm_new(c, s->v, &mp, &mm, err);
    graft_image_input im = {0};
    im.pixels = px;
    if (!rc) rc = graft_mm_eval(mm, PROMPT, &im, 1, NULL, err);
    for (int k = 0; !rc && k < N_GEN; k++) {
        const float *lg = graft_ctx_logits(c, -1);
        int best = 0;
        for (int j = 1; j < graft_model_n_vocab(s->m); j++)
            if (lg[j] > lg[best]) best = j;
        out[k] = best;
        if (graft_decode(c, &out[k], NULL, 1))
            rc = graft_error_set(err, GRAFT_E_INVALID, "%s", graft_ctx_last_error(c));
    }
    graft_mm_free(mm);
    graft_ctx_free(c);
    free(px);
    return rc;
}

/* No Check assertion while the hook is armed (Check allocates for each one): results are
 * compared here and reported as an error code. */
static int op_answer(void *ctx, graft_error *err) {
    shared *s = ctx;
    int32_t got[N_GEN];
    int rc = answer(s, 0, 1, got, err);
    if (!rc && memcmp(got, s->want, sizeof got)) /* a tolerated failure must change nothing */
        rc = graft_error_set(err, GRAFT_E_INVALID, "succeeded with different greedy ids");
    return rc;
}

static int op_tokenize(void *ctx, graft_error *err) {
    shared *s = ctx;
    int32_t *ids;
    size_t n;
    static const char text[] = "What is in the picture? A red circle, \xc3\xa9t\xc3\xa9 2024.";
    int rc = graft_model_tokenize(s->m, text, sizeof text - 1, 1, 1, &ids, &n, err);
    if (!rc) free(ids);
    return rc;
}

static int op_dataset(void *ctx, graft_error *err) {
    graft_eval_dataset ds = {0};
    int rc = graft_eval_read(GRAFT_DS_GRAFT, (const char *)ctx, NULL, &ds, err);
    graft_eval_dataset_free(&ds);
    return rc;
}

static int op_quantize(void *ctx, graft_error *err) {
    graft_quant_params p = graft_quant_default_params();
    p.type = GRAFT_TYPE_Q4_0;
    return graft_quant_file((const char *)ctx, tu_tmppath("hardening-q4.gguf"), &p, err);
}

START_TEST(test_alloc_failures) {
    walk("graft_model_load", op_model, LLM);
    walk("graft_vision_load", op_vision, MMPROJ);
    walk("graft_model_load (HF directory)", op_model, "tests/fixtures/hf/llava-pair");
    walk("graft_vision_load (HF directory)", op_vision, "tests/fixtures/hf/llava-pair");
    walk("graft_model_load (HF directory, sharded bf16)", op_model, "tests/fixtures/hf/llava-pair-bf16");
    shared s;
    load_shared(&s);
    graft_error err;
    ck_assert_msg(answer(&s, 0, 1, s.want, &err) == GRAFT_OK, "%s", err.msg);
    walk("context + session + image question", op_answer, &s);
    walk("graft_model_tokenize", op_tokenize, &s);
    free_shared(&s);
    const char *jsonl = tu_tmppath("hardening.jsonl");
    FILE *f = fopen(jsonl, "w");
    ck_assert(f);
    fputs("{\"id\": \"q1\", \"type\": \"vqa\", \"image\": \"a.jpg\", \"question\": \"How many?\", \"answers\": [\"2\", \"two\"]}\n"
          "{\"id\": 5, \"type\": \"mcq\", \"image\": \"b.png\", \"question\": \"Which?\", \"choices\": [\"x\", \"y\"], \"answer\": \"B\", \"category\": \"c\"}\n", f);
    fclose(f);
    walk("graft_eval_read (graft JSONL)", op_dataset, (void *)jsonl);
    walk("graft_quant_file (q4_0)", op_quantize, LLM);
    struct stat st;
    ck_assert(stat(tu_tmppath("hardening-q4.gguf.tmp"), &st) != 0); /* no temp file left behind */
}
END_TEST

/* ---- resource limits: each a clear GRAFT_E_LIMIT naming the limit ------------------------- */

START_TEST(test_limits) {
    shared s;
    load_shared(&s);
    graft_error err;
    graft_ctx_params cp = graft_ctx_default_params();
    cp.n_ctx = 64;
    cp.n_threads = 1;
    graft_ctx *c;
    ck_assert_msg(graft_ctx_new(s.m, &cp, &c, &err) == GRAFT_OK, "%s", err.msg);
    graft_mm_params mp = graft_mm_default_params();
    mp.max_images = 2;
    mp.max_pixels = 5000;
    graft_mm *mm;
    ck_assert_msg(graft_mm_new(c, s.v, &mp, &mm, &err) == GRAFT_OK, "%s", err.msg);
    graft_image_input im[3] = {{0}};
    for (int i = 0; i < 3; i++) im[i].pixels = s.pixels;
    /* more images than max_images */
    ck_assert_int_eq(graft_mm_eval(mm, "<image><image><image>", im, 3, NULL, &err), GRAFT_E_LIMIT);
    ck_assert_msg(strstr(err.msg, "max_images"), "%s", err.msg);
    /* more positions than the context: 2 images x 16 rows + text > 64, and nothing was decoded */
    ck_assert_int_eq(graft_mm_eval(mm, "USER: <image> and <image>, compare them in detail please. ASSISTANT:",
                                   im, 2, NULL, &err), GRAFT_E_LIMIT);
    ck_assert_msg(strstr(err.msg, "context"), "%s", err.msg);
    ck_assert_int_eq(graft_ctx_pos(c), 0);
    /* an image over the pixel limit is refused before its pixels are allocated */
    static unsigned char rgb[100 * 100 * 3];
    graft_image_input big = {0};
    big.rgb = rgb, big.w = 100, big.h = 100;
    ck_assert_int_eq(graft_mm_eval(mm, "<image>", &big, 1, NULL, &err), GRAFT_E_LIMIT);
    ck_assert_msg(strstr(err.msg, "limit of 5000"), "%s", err.msg);
    /* a decode past n_ctx changes nothing */
    int32_t ids[80];
    for (int i = 0; i < 80; i++) ids[i] = 5;
    ck_assert_int_eq(graft_decode(c, ids, NULL, 80), GRAFT_E_LIMIT);
    ck_assert_int_eq(graft_ctx_pos(c), 0);
    graft_mm_free(mm);
    graft_ctx_free(c);
    free_shared(&s);
}
END_TEST

/* ---- regressions found by fuzzing ----------------------------------------------------------- */

/* fuzz_gguf: a llama file whose block_count was 2^28 made the loader calloc 2.3 GB for the layer
 * table before looking for a single layer tensor; same for clip.vision.block_count. Both are now
 * checked against the file's tensor count first. */
START_TEST(test_forged_block_count) {
    static float zeros[64];
    int64_t ne[2] = {8, 4};
    graft_error err;
    gguf_writer *w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "llama", 5);
    gguf_writer_add_u32(w, "llama.embedding_length", 8);
    gguf_writer_add_u32(w, "llama.block_count", 1u << 28);
    gguf_writer_add_u32(w, "llama.feed_forward_length", 16);
    gguf_writer_add_u32(w, "llama.attention.head_count", 2);
    gguf_writer_add_tensor(w, "token_embd.weight", GRAFT_TYPE_F32, 2, ne, zeros, sizeof(float) * 32, 0);
    gguf_writer_add_tensor(w, "output_norm.weight", GRAFT_TYPE_F32, 1, ne, zeros, sizeof(float) * 8, 0);
    const char *path = tu_tmppath("forged-blocks.gguf");
    ck_assert_msg(gguf_writer_write(w, path, &err) == GRAFT_OK, "%s", err.msg);
    gguf_writer_free(w);
    graft_model *m;
    ck_assert_int_eq(graft_model_load(path, NULL, &m, &err), GRAFT_E_FORMAT);
    ck_assert_msg(strstr(err.msg, "block_count = 268435456, but the file has only 2 tensors"), "%s", err.msg);

    w = gguf_writer_new();
    gguf_writer_add_str(w, "general.architecture", "clip", 4);
    gguf_writer_add_bool(w, "clip.has_vision_encoder", 1);
    gguf_writer_add_str(w, "clip.projector_type", "mlp", 3);
    gguf_writer_add_u32(w, "clip.vision.image_size", 8);
    gguf_writer_add_u32(w, "clip.vision.patch_size", 4);
    gguf_writer_add_u32(w, "clip.vision.embedding_length", 8);
    gguf_writer_add_u32(w, "clip.vision.feed_forward_length", 16);
    gguf_writer_add_u32(w, "clip.vision.attention.head_count", 2);
    gguf_writer_add_f32(w, "clip.vision.attention.layer_norm_epsilon", 1e-5f);
    gguf_writer_add_u32(w, "clip.vision.block_count", 1u << 24); /* the largest the key check takes */
    int64_t pe[4] = {4, 4, 3, 8};
    static float patch[4 * 4 * 3 * 8];
    gguf_writer_add_tensor(w, "v.patch_embd.weight", GRAFT_TYPE_F32, 4, pe, patch, sizeof patch, 0);
    int64_t ce[1] = {8}, pos[2] = {8, 5}; /* class token; 4 patches + 1 positions */
    gguf_writer_add_tensor(w, "v.class_embd", GRAFT_TYPE_F32, 1, ce, zeros, sizeof(float) * 8, 0);
    gguf_writer_add_tensor(w, "v.position_embd.weight", GRAFT_TYPE_F32, 2, pos, zeros, sizeof(float) * 40, 0);
    path = tu_tmppath("forged-blocks-clip.gguf");
    ck_assert_msg(gguf_writer_write(w, path, &err) == GRAFT_OK, "%s", err.msg);
    gguf_writer_free(w);
    graft_vision *v;
    ck_assert_int_eq(graft_vision_load(path, &v, &err), GRAFT_E_FORMAT);
    ck_assert_msg(strstr(err.msg, "block_count = 16777216, but the file has only 3 tensors"), "%s", err.msg);
}
END_TEST

/* ---- one model, several threads --------------------------------------------------------------- */

#define N_THREADS 3

typedef struct {
    const shared *s;
    int variant;
    int32_t got[N_GEN];
    int rc;
    char msg[GRAFT_ERROR_MAX];
} job;

static void *run_job(void *arg) {
    job *j = arg;
    graft_error err = {0};
    for (int rep = 0; rep < 2 && !j->rc; rep++) j->rc = answer(j->s, j->variant, 1, j->got, &err);
    memcpy(j->msg, err.msg, sizeof j->msg);
    return NULL;
}

START_TEST(test_shared_model_threads) {
    shared s;
    load_shared(&s);
    int32_t want[2][N_GEN];
    graft_error err;
    for (int v = 0; v < 2; v++) ck_assert_msg(answer(&s, v, 1, want[v], &err) == GRAFT_OK, "%s", err.msg);
    ck_assert_msg(memcmp(want[0], want[1], sizeof want[0]), "the two images should give different answers");
    job jobs[N_THREADS];
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        memset(&jobs[i], 0, sizeof jobs[i]);
        jobs[i].s = &s;
        jobs[i].variant = i;
        ck_assert(pthread_create(&th[i], NULL, run_job, &jobs[i]) == 0);
    }
    for (int i = 0; i < N_THREADS; i++) pthread_join(th[i], NULL);
    for (int i = 0; i < N_THREADS; i++) {
        ck_assert_msg(jobs[i].rc == GRAFT_OK, "thread %d: %s", i, jobs[i].msg);
        ck_assert_msg(!memcmp(jobs[i].got, want[i & 1], sizeof want[0]),
                      "thread %d: greedy ids differ from the sequential run", i);
    }
    free_shared(&s);
}
END_TEST

/* ---- graft eval killed with SIGKILL mid-run, then --resume ----------------------------------- */

static const char *cli_path(char *buf, size_t cap) {
    const char *p = getenv("GRAFT_CLI");
    if (!p || !*p) p = "build/graft";
    if (p[0] == '/') return p;
    char cwd[1024];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(buf, cap, "%s/%s", cwd, p);
    return buf;
}

static int count_lines(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF) n += c == '\n';
    fclose(f);
    return n;
}

/* The "id\tprediction" pairs of a predictions.jsonl, sorted, one per line (via cJSON-free text
 * handling: the runner writes one JSON object per line with "id" first). */
static char *sorted_lines(const char *path) {
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "sort '%s' > '%s.sorted'", path, path);
    ck_assert_int_eq(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s.sorted", path);
    size_t n;
    char *b = tu_read_file(cmd, &n);
    ck_assert_ptr_nonnull(b);
    char *s = malloc(n + 1);
    memcpy(s, b, n);
    s[n] = 0;
    free(b);
    return s;
}

START_TEST(test_eval_kill_resume) {
    char buf[1200], cmd[4096];
    const char *graft = cli_path(buf, sizeof buf);
    const char *w = tu_tmppath("kill-world");
    snprintf(cmd, sizeof cmd, "'%s' world --seed 11 --n 400 -o '%s' > /dev/null", graft, w);
    ck_assert_int_eq(system(cmd), 0);
    char data[1024], full[1024], killed[1024];
    snprintf(data, sizeof data, "%s/pope_random.jsonl", w);
    snprintf(full, sizeof full, "%s", tu_tmppath("kill-full"));
    snprintf(killed, sizeof killed, "%s", tu_tmppath("kill-killed"));
    const int total = count_lines(data);
    ck_assert_int_gt(total, 100);
    /* the reference: one uninterrupted run */
    snprintf(cmd, sizeof cmd,
             "'%s' eval -m " LLM " --mmproj " MMPROJ " --task yesno --data '%s' --images '%s' -o '%s' "
             "--max-new-tokens 4 -t 1 --image-mode resize > /dev/null 2>&1", graft, data, w, full);
    ck_assert_int_eq(system(cmd), 0);
    /* the same run, killed with SIGKILL once some predictions are on disk */
    char pred[1100];
    snprintf(pred, sizeof pred, "%s/predictions.jsonl", killed);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        int devnull = open("/dev/null", O_WRONLY);
        dup2(devnull, 1), dup2(devnull, 2);
        execl(graft, graft, "eval", "-m", LLM, "--mmproj", MMPROJ, "--task", "yesno", "--data", data,
              "--images", w, "-o", killed, "--max-new-tokens", "4", "-t", "1", "--image-mode", "resize",
              (char *)NULL);
        _exit(127);
    }
    int done_at_kill = 0;
    for (int tries = 0; tries < 20000; tries++) {
        done_at_kill = count_lines(pred);
        if (done_at_kill >= 10) break;
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
    }
    kill(pid, SIGKILL);
    int st;
    waitpid(pid, &st, 0);
    ck_assert_msg(WIFSIGNALED(st), "the run ended before it could be killed (%d of %d done)", done_at_kill, total);
    const int on_disk = count_lines(pred);
    struct stat sb;
    ck_assert_msg(stat(tu_tmppath("kill-killed/summary.json"), &sb) != 0, "a killed run left a summary");
    printf("eval kill -9: killed with %d of %d predictions on disk\n", on_disk, total);
    ck_assert_int_lt(on_disk, total);
    /* resume: completes the set; every sample once; the same predictions as the uninterrupted run */
    snprintf(cmd, sizeof cmd,
             "'%s' eval -m " LLM " --mmproj " MMPROJ " --task yesno --data '%s' --images '%s' -o '%s' "
             "--max-new-tokens 4 -t 1 --image-mode resize --resume > /dev/null 2>&1", graft, data, w, killed);
    ck_assert_int_eq(system(cmd), 0);
    ck_assert_int_eq(count_lines(pred), total);
    char fp[1100];
    snprintf(fp, sizeof fp, "%s/predictions.jsonl", full);
    char *a = sorted_lines(fp), *b = sorted_lines(pred);
    ck_assert_msg(!strcmp(a, b), "resumed predictions differ from an uninterrupted run");
    free(a), free(b);
    ck_assert_int_eq(stat(tu_tmppath("kill-killed/summary.json"), &sb), 0);
}
END_TEST

Suite *suite_hardening(void) {
    Suite *su = suite_create("hardening");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_alloc_failures);
    tcase_add_test(tc, test_limits);
    tcase_add_test(tc, test_forged_block_count);
    tcase_add_test(tc, test_shared_model_threads);
    tcase_add_test(tc, test_eval_kill_resume);
    suite_add_tcase(su, tc);
    return su;
}
