/* test_eval_run.c - `graft eval` end to end (src/cli_eval_run.c, src/eval/run.c) on the tiny
 * random LLaVA fixture (tests/fixtures/llava/pair-f32): its answers are gibberish but
 * deterministic, so the tests check mechanics: files written, determinism, resume after an
 * interruption (also a torn last line), reuse on == reuse off, shards, the up-front image check,
 * and MCQ log-likelihoods against a brute-force recomputation from scratch per option. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "model.h"
#include "run.h"
#include "test_util.h"
#include "tokenizer.h"

#define FIX "tests/fixtures/llava/pair-f32"

static const char *cli(void) {
    const char *p = getenv("GRAFT_CLI");
    return p && *p ? p : "build/graft";
}

static char *slurp(const char *path) {
    size_t n;
    char *b = tu_read_file(path, &n);
    if (!b) return NULL;
    char *s = malloc(n + 1);
    memcpy(s, b, n);
    s[n] = 0;
    free(b);
    return s;
}

static void put(const char *path, const char *text) {
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    fclose(f);
}

/* Runs `graft eval ARGS` with stdout + stderr into tmp/NAME.log; returns the exit status. */
static int eval(const char *log_name, const char *args) {
    char cmd[8192], cwd[1024];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(cmd, sizeof cmd, "cd %s && %s%s%s eval %s >%s 2>&1", tu_tmpdir(), cli()[0] == '/' ? "" : cwd,
             cli()[0] == '/' ? "" : "/", cli(), args, tu_tmppath(log_name));
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *log_text(const char *name) { return slurp(tu_tmppath(name)); }

/* Small P6 images of different sizes and content, and one JSONL per task type. POPE-like yes/no
 * set: 6 questions x 4 images, grouped by image as POPE's files are. */
static char model_args[2048];

static void setup_data(void) {
    mkdir(tu_tmppath("img"), 0777);
    tu_rng r = {0x9E3779B97F4A7C15ULL};
    for (int k = 0; k < 4; k++) {
        char name[64];
        snprintf(name, sizeof name, "img/im%d.ppm", k);
        FILE *f = fopen(tu_tmppath(name), "wb");
        ck_assert_ptr_nonnull(f);
        const int w = 20 + 7 * k, h = 16 + 5 * k;
        fprintf(f, "P6\n%d %d\n255\n", w, h);
        for (int i = 0; i < w * h * 3; i++) fputc((int)(tu_next(&r) >> 56), f);
        fclose(f);
    }
    static const char *objs[] = {"dog", "cat", "car", "person", "chair", "cup"};
    static const char *cats[] = {"random", "popular", "adversarial"};
    char buf[16384];
    size_t n = 0;
    for (int k = 0; k < 4; k++)
        for (int j = 0; j < 6; j++)
            n += (size_t)snprintf(buf + n, sizeof buf - n,
                                  "{\"id\": \"p%d_%d\", \"type\": \"yesno\", \"image\": \"im%d.ppm\", \"question\": \"Is "
                                  "there a %s in the image?\", \"answer\": \"%s\", \"category\": \"%s\"}\n",
                                  k, j, k, objs[j], (j + k) % 2 ? "yes" : "no", cats[j % 3]);
    put(tu_tmppath("yesno.jsonl"), buf);
    put(tu_tmppath("mcq.jsonl"),
        "{\"id\": \"m0\", \"type\": \"mcq\", \"image\": \"im0.ppm\", \"question\": \"Which animal is shown?\", "
        "\"choices\": [\"dog\", \"cat\"], \"answer\": \"A\"}\n"
        "{\"id\": \"m1\", \"type\": \"mcq\", \"image\": \"im1.ppm\", \"context\": \"Look at the picture.\", "
        "\"question\": \"Which animal is shown?\", \"choices\": [\"dog\", \"cat\", \"a small red bird\"], \"answer\": \"B\"}\n"
        "{\"id\": \"m2\", \"type\": \"mcq\", \"image\": \"im1.ppm\", \"question\": \"What is it?\", "
        "\"choices\": [\"a\", \"bb\", \"ccc\", \"dddd\"], \"answer\": \"D\"}\n"
        "{\"id\": \"m3\", \"type\": \"mcq\", \"image\": \"im3.ppm\", \"question\": \"Which?\", "
        "\"choices\": [\"red\", \"blue\"], \"answer\": \"B\", \"category\": \"colour\"}\n");
    put(tu_tmppath("vqa.jsonl"),
        "{\"id\": \"v0\", \"type\": \"vqa\", \"image\": \"im0.ppm\", \"question\": \"What color is it?\", \"answers\": [\"red\", \"red\", \"blue\"]}\n"
        "{\"id\": \"v1\", \"type\": \"vqa\", \"image\": \"im0.ppm\", \"question\": \"How many?\", \"answers\": [\"2\"]}\n"
        "{\"id\": \"v2\", \"type\": \"vqa\", \"image\": \"im2.ppm\", \"question\": \"What is it?\", \"answers\": [\"a cup\"]}\n");
    put(tu_tmppath("caption.jsonl"),
        "{\"id\": \"c0\", \"type\": \"caption\", \"image\": \"im0.ppm\", \"answers\": [\"a dog on a couch\", \"a brown dog\"]}\n"
        "{\"id\": \"c1\", \"type\": \"caption\", \"image\": \"im1.ppm\", \"answers\": [\"a red car\"]}\n"
        "{\"id\": \"c2\", \"type\": \"caption\", \"image\": \"im2.ppm\", \"question\": \"Describe it briefly.\", \"answers\": [\"a cup\"]}\n");
    put(tu_tmppath("open.jsonl"),
        "{\"id\": 1, \"type\": \"open\", \"image\": \"im0.ppm\", \"question\": \"Describe the image.\", \"answers\": [\"A dog sleeps.\"], \"category\": \"conv\"}\n"
        "{\"id\": 2, \"type\": \"open\", \"image\": \"im1.ppm\", \"question\": \"What is unusual?\", \"answers\": [\"Nothing.\"], \"category\": \"complex\"}\n"
        "{\"id\": 3, \"type\": \"open\", \"image\": \"im1.ppm\", \"question\": \"Describe in detail.\", \"answers\": [\"A red car.\"], \"category\": \"detail\"}\n");
    char cwd[900];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(model_args, sizeof model_args, "-m %s/" FIX "/model.gguf --mmproj %s/" FIX "/mmproj.gguf --images img -t 1",
             cwd, cwd);
}

static int count_lines(const char *text) {
    int n = 0;
    for (const char *p = text; *p; p++) n += *p == '\n';
    return n;
}

static char *out_file(const char *dir, const char *name) {
    char rel[512];
    snprintf(rel, sizeof rel, "%s/%s", dir, name);
    return slurp(tu_tmppath(rel));
}

/* ---- every task type: the files written -------------------------------------------------------- */

START_TEST(test_all_types) {
    setup_data();
    static const struct {
        const char *task, *file, *extra;
        int n;
        const char *key; /* a metric summary.json must have */
    } cases[] = {
        {"yesno", "yesno.jsonl", "", 24, "f1"},
        {"mcq", "mcq.jsonl", "", 4, "accuracy"},
        {"vqa", "vqa.jsonl", "", 3, "accuracy"},
        {"caption", "caption.jsonl", "", 3, "cider"},
        {"open", "open.jsonl", "", 3, "rouge_l"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char args[8192], dir[64];
        snprintf(dir, sizeof dir, "out_%s", cases[i].task);
        snprintf(args, sizeof args, "%s --task %s --data %s -o %s --max-new-tokens 4", model_args, cases[i].task,
                 cases[i].file, dir);
        int st = eval("all.log", args);
        char *log = log_text("all.log");
        ck_assert_msg(st == 0, "%s: exit %d\n%.2000s", cases[i].task, st, log);
        ck_assert_msg(strstr(log, "# graft eval") != NULL, "%s: no summary.md on stdout:\n%.2000s", cases[i].task, log);
        free(log);
        char *pred = out_file(dir, "predictions.jsonl"), *js = out_file(dir, "summary.json"),
             *md = out_file(dir, "summary.md");
        ck_assert_ptr_nonnull(pred);
        ck_assert_ptr_nonnull(js);
        ck_assert_ptr_nonnull(md);
        ck_assert_int_eq(count_lines(pred), cases[i].n);
        /* each line: id, index, prediction */
        for (char *l = pred, *nl; (nl = strchr(l, '\n')); l = nl + 1) {
            *nl = 0;
            cJSON *o = cJSON_Parse(l);
            ck_assert_msg(o != NULL, "%s: bad line %s", cases[i].task, l);
            ck_assert(cJSON_IsString(cJSON_GetObjectItem(o, "id")));
            ck_assert(cJSON_IsNumber(cJSON_GetObjectItem(o, "index")));
            ck_assert(cJSON_IsString(cJSON_GetObjectItem(o, "prediction")));
            cJSON_Delete(o);
        }
        cJSON *s = cJSON_Parse(js);
        ck_assert_ptr_nonnull(s);
        ck_assert_msg(cJSON_IsNumber(cJSON_GetObjectItem(s, cases[i].key)), "%s: summary.json lacks %s", cases[i].task,
                      cases[i].key);
        ck_assert_int_eq((int)cJSON_GetObjectItem(s, "n")->valuedouble, cases[i].n);
        const cJSON *ru = cJSON_GetObjectItem(s, "reuse");
        ck_assert_msg(cJSON_IsObject(ru), "%s: summary.json lacks reuse", cases[i].task);
        ck_assert_int_eq((int)cJSON_GetObjectItem(ru, "samples")->valuedouble, cases[i].n);
        cJSON_Delete(s);
        free(pred);
        free(js);
        free(md);
    }
}
END_TEST

/* ---- determinism, reuse, resume, shards ---------------------------------------------------------- */

START_TEST(test_deterministic_and_reuse) {
    setup_data();
    char args[8192];
    snprintf(args, sizeof args, "%s --task pope --data-format graft --data yesno.jsonl -o a --max-new-tokens 6", model_args);
    ck_assert_int_eq(eval("a.log", args), 0);
    snprintf(args, sizeof args, "%s --task pope --data-format graft --data yesno.jsonl -o b --max-new-tokens 6", model_args);
    ck_assert_int_eq(eval("b.log", args), 0);
    snprintf(args, sizeof args, "%s --task pope --data-format graft --data yesno.jsonl -o c --max-new-tokens 6 --no-reuse",
             model_args);
    ck_assert_int_eq(eval("c.log", args), 0);
    char *a = out_file("a", "predictions.jsonl"), *b = out_file("b", "predictions.jsonl"),
         *c = out_file("c", "predictions.jsonl");
    ck_assert_int_eq(count_lines(a), 24);
    ck_assert_msg(!strcmp(a, b), "two runs differ:\n%.1500s\n---\n%.1500s", a, b);
    ck_assert_msg(!strcmp(a, c), "reuse on and off differ:\n%.1500s\n---\n%.1500s", a, c);
    /* the saving: 4 images encoded once each, 20 reused; 20 prompt prefixes reused */
    char *js = out_file("a", "summary.json"), *jc = out_file("c", "summary.json");
    cJSON *s = cJSON_Parse(js), *so = cJSON_Parse(jc);
    const cJSON *ru = cJSON_GetObjectItem(s, "reuse"), *ro = cJSON_GetObjectItem(so, "reuse");
    ck_assert_int_eq((int)cJSON_GetObjectItem(ru, "image_encodes")->valuedouble, 4);
    ck_assert_int_eq((int)cJSON_GetObjectItem(ru, "image_encodes_avoided")->valuedouble, 20);
    ck_assert_int_eq((int)cJSON_GetObjectItem(ro, "image_encodes")->valuedouble, 24);
    ck_assert_int_eq((int)cJSON_GetObjectItem(ro, "prefill_tokens_avoided")->valuedouble, 0);
    const double saved = cJSON_GetObjectItem(ru, "prefill_tokens_avoided")->valuedouble;
    /* every position is either decoded or reused: the totals match the baseline's */
    ck_assert_int_eq((int)(cJSON_GetObjectItem(ru, "prefill_tokens")->valuedouble + saved),
                     (int)cJSON_GetObjectItem(ro, "prefill_tokens")->valuedouble);
    ck_assert(saved > 0);
    char *log = log_text("a.log");
    ck_assert_msg(strstr(log, "4 image encodes, 20 avoided") != NULL, "no reuse line on stderr:\n%.2000s", log);
    /* stderr is a file here: plain progress lines (no \r), the last one complete */
    ck_assert_msg(strstr(log, "eval pope: 24/24  ") && !strchr(log, '\r'), "progress lines:\n%.2000s", log);
    free(log);
    cJSON_Delete(s);
    cJSON_Delete(so);
    free(js);
    free(jc);
    free(a);
    free(b);
    free(c);
}
END_TEST

START_TEST(test_resume) {
    setup_data();
    char args[8192];
    snprintf(args, sizeof args, "%s --task yesno --data yesno.jsonl -o full --max-new-tokens 5", model_args);
    ck_assert_int_eq(eval("full.log", args), 0);
    char *full = out_file("full", "predictions.jsonl");
    /* interrupted after 3 samples, then resumed to completion */
    snprintf(args, sizeof args, "%s --task yesno --data yesno.jsonl -o part --max-new-tokens 5 --limit 3", model_args);
    ck_assert_int_eq(eval("part.log", args), 0);
    char *part = out_file("part", "predictions.jsonl");
    ck_assert_int_eq(count_lines(part), 3);
    /* running again without --resume refuses to clobber */
    snprintf(args, sizeof args, "%s --task yesno --data yesno.jsonl -o part --max-new-tokens 5", model_args);
    ck_assert_int_ne(eval("part2.log", args), 0);
    snprintf(args, sizeof args, "%s --task yesno --data yesno.jsonl -o part --max-new-tokens 5 --resume", model_args);
    ck_assert_int_eq(eval("part3.log", args), 0);
    char *resumed = out_file("part", "predictions.jsonl");
    ck_assert_msg(!strcmp(full, resumed), "resumed run differs from one run:\n%.1500s\n---\n%.1500s", full, resumed);
    /* a kill in the middle of a write: the file ends in half a line */
    mkdir(tu_tmppath("torn"), 0777);
    size_t cut = 0;
    for (int k = 0, i = 0; full[i]; i++)
        if (full[i] == '\n' && ++k == 5) cut = (size_t)i + 1;
    char *torn = strndup(full, cut + 17); /* 5 lines and 17 bytes of the 6th */
    put(tu_tmppath("torn/predictions.jsonl"), torn);
    snprintf(args, sizeof args, "%s --task yesno --data yesno.jsonl -o torn --max-new-tokens 5 --resume", model_args);
    int st = eval("torn.log", args);
    char *log = log_text("torn.log");
    ck_assert_msg(st == 0, "exit %d:\n%.2000s", st, log);
    ck_assert_msg(strstr(log, "torn last line") != NULL, "no note about the torn line:\n%.2000s", log);
    char *fixed = out_file("torn", "predictions.jsonl");
    ck_assert_msg(!strcmp(full, fixed), "torn + resumed differs from one run:\n%.1500s\n---\n%.1500s", full, fixed);
    /* the summary counts every sample once */
    char *js = out_file("torn", "summary.json");
    cJSON *s = cJSON_Parse(js);
    ck_assert_int_eq((int)cJSON_GetObjectItem(s, "n")->valuedouble, 24);
    ck_assert_int_eq((int)cJSON_GetObjectItem(s, "n_missing")->valuedouble, 0);
    ck_assert_int_eq((int)cJSON_GetObjectItem(s, "n_resumed")->valuedouble, 5);
    cJSON_Delete(s);
    free(js);
    free(log);
    free(torn);
    free(fixed);
    free(full);
    free(part);
    free(resumed);
}
END_TEST

START_TEST(test_shards) {
    setup_data();
    char args[8192];
    snprintf(args, sizeof args, "%s --task vqa --data vqa.jsonl --data vqa.jsonl -o whole --max-new-tokens 3 "
             "--data-format graft", model_args);
    /* the same file twice: 6 samples, ids repeated across files (allowed), told apart by index */
    ck_assert_int_eq(eval("w.log", args), 0);
    snprintf(args, sizeof args, "%s --task vqa --data vqa.jsonl --data vqa.jsonl -o s0 --max-new-tokens 3 --shard 0/2",
             model_args);
    ck_assert_int_eq(eval("s0.log", args), 0);
    snprintf(args, sizeof args, "%s --task vqa --data vqa.jsonl --data vqa.jsonl -o s1 --max-new-tokens 3 --shard 1/2",
             model_args);
    ck_assert_int_eq(eval("s1.log", args), 0);
    snprintf(args, sizeof args, "%s --task yesno --data yesno.jsonl -o y0 --max-new-tokens 3 --shard 1/5 --limit 3",
             model_args);
    ck_assert_int_eq(eval("y0.log", args), 0);
    char *w = out_file("whole", "predictions.jsonl"), *a = out_file("s0", "predictions.jsonl"),
         *b = out_file("s1", "predictions.jsonl"), *y = out_file("y0", "predictions.jsonl");
    ck_assert_int_eq(count_lines(w), 6);
    ck_assert_int_eq(count_lines(a), 3);
    ck_assert_int_eq(count_lines(b), 3);
    /* shard 1/5 of 24 = indices 1, 6, 11, 16, 21; --limit 3 keeps the first three */
    ck_assert_msg(strstr(y, "\"index\":1,") && strstr(y, "\"index\":6,") && strstr(y, "\"index\":11,") &&
                      count_lines(y) == 3, "%s", y);
    /* interleave the shards' lines by index: the whole run's file */
    char *la[8], *lb[8];
    int na = 0, nb = 0;
    for (char *l = a, *nl; (nl = strchr(l, '\n')); l = nl + 1) *nl = 0, la[na++] = l;
    for (char *l = b, *nl; (nl = strchr(l, '\n')); l = nl + 1) *nl = 0, lb[nb++] = l;
    char merged[16384] = "";
    for (int i = 0; i < 6; i++) {
        strcat(merged, i % 2 ? lb[i / 2] : la[i / 2]);
        strcat(merged, "\n");
    }
    ck_assert_msg(!strcmp(merged, w), "shards 0/2 + 1/2 differ from the whole run:\n%.1500s\n---\n%.1500s", merged, w);
    free(w);
    free(a);
    free(b);
    free(y);
}
END_TEST

/* ---- errors before any model loads ---------------------------------------------------------------- */

START_TEST(test_missing_image_first) {
    setup_data();
    put(tu_tmppath("missing.jsonl"),
        "{\"id\": \"a\", \"type\": \"vqa\", \"image\": \"im0.ppm\", \"question\": \"Q?\"}\n"
        "{\"id\": \"b\", \"type\": \"vqa\", \"image\": \"nope.png\", \"question\": \"Q?\"}\n");
    /* the model path does not exist either: the image error must come first */
    int st = eval("miss.log", "-m /nonexistent/model.gguf --mmproj /nonexistent/mmproj.gguf --task vqa "
                              "--data missing.jsonl --images img -o miss");
    char *log = log_text("miss.log");
    ck_assert_msg(st == 1, "exit %d:\n%.2000s", st, log);
    ck_assert_msg(strstr(log, "nope.png") && strstr(log, "missing"), "no missing-image message:\n%.2000s", log);
    ck_assert_msg(!strstr(log, "nonexistent"), "a model was opened before the image check:\n%.2000s", log);
    free(log);
    /* a malformed line: file:line */
    put(tu_tmppath("bad.jsonl"),
        "{\"id\": \"a\", \"type\": \"vqa\", \"image\": \"im0.ppm\", \"question\": \"Q?\"}\n"
        "{\"id\": \"b\", \"type\": \"vqa\", \"image\": \"im0.ppm\"\n");
    st = eval("bad.log", "-m /nonexistent/model.gguf --task vqa --data bad.jsonl --images img -o bad");
    log = log_text("bad.log");
    ck_assert_msg(st == 1 && strstr(log, "bad.jsonl:2:"), "exit %d:\n%.2000s", st, log);
    free(log);
}
END_TEST

/* ---- MCQ log-likelihood ---------------------------------------------------------------------------- */

/* sum of log p(cont) after the whole prompt, decoded from scratch in one batch per option. */
static double brute_loglik(const graft_model *m, graft_mm *mm, graft_ctx *ctx, const char *prompt,
                           const char *image, const char *choice, int *n_scored) {
    graft_error e;
    const char *mark = strstr(prompt, "<image>");
    ck_assert_ptr_nonnull(mark);
    const size_t head = (size_t)(mark - prompt), nt = (size_t)graft_mm_n_tokens(mm), E = (size_t)graft_model_n_embd(m);
    int32_t *a = NULL, *t = NULL, *f = NULL;
    size_t na, ntl, nf;
    const char *tail = mark + 7;
    char *full = malloc(strlen(tail) + strlen(choice) + 2);
    sprintf(full, "%s %s", tail, choice); /* vicuna_v1: "ASSISTANT: " + answer */
    ck_assert_int_eq(graft_tokenize(m->vocab, prompt, head, 1, 1, &a, &na, &e), 0);
    ck_assert_int_eq(graft_tokenize_continue(m->vocab, tail, strlen(tail), 1, &t, &ntl, &e), 0);
    ck_assert_int_eq(graft_tokenize_continue(m->vocab, full, strlen(full), 1, &f, &nf, &e), 0);
    size_t c = 0;
    while (c < ntl && c < nf && t[c] == f[c]) c++;
    const size_t n = na + nt + nf;
    int32_t *ids = malloc(sizeof *ids * n);
    float *embd = calloc(n * E, sizeof(float));
    for (size_t i = 0; i < na; i++) ids[i] = a[i];
    for (size_t i = 0; i < nt; i++) ids[na + i] = -1;
    for (size_t i = 0; i < nf; i++) ids[na + nt + i] = f[i];
    graft_image_input in = {.path = image};
    ck_assert_int_eq(graft_mm_encode(mm, &in, embd + na * E, NULL, &e), 0);
    ck_assert_int_eq(graft_ctx_rewind(ctx, 0), 0);
    ck_assert_int_eq(graft_decode(ctx, ids, embd, (int)n), 0);
    const int V = graft_model_n_vocab(m);
    double sum = 0;
    for (size_t j = na + nt + c; j < n; j++) { /* token j from the logits of row j - 1 */
        const float *lg = graft_ctx_logits(ctx, (int)j - 1);
        double mx = lg[0], z = 0;
        for (int v = 1; v < V; v++) mx = lg[v] > mx ? lg[v] : mx;
        for (int v = 0; v < V; v++) z += exp(lg[v] - mx);
        sum += lg[ids[j]] - mx - log(z);
    }
    *n_scored = (int)(nf - c);
    free(a), free(t), free(f), free(full), free(ids), free(embd);
    return sum;
}

START_TEST(test_loglik) {
    setup_data();
    char args[8192];
    snprintf(args, sizeof args, "%s --task mcq --data mcq.jsonl -o ll --mcq-mode loglik", model_args);
    ck_assert_int_eq(eval("ll.log", args), 0);
    snprintf(args, sizeof args, "%s --task mcq --data mcq.jsonl -o ll2 --mcq-mode loglik --no-reuse --mcq-norm sum",
             model_args);
    ck_assert_int_eq(eval("ll2.log", args), 0);
    char *pred = out_file("ll", "predictions.jsonl"), *pred2 = out_file("ll2", "predictions.jsonl");
    ck_assert_int_eq(count_lines(pred), 4);

    graft_error e;
    graft_model *m;
    graft_vision *v;
    graft_ctx *ctx;
    graft_mm *mm;
    ck_assert_int_eq(graft_model_load(FIX "/model.gguf", NULL, &m, &e), 0);
    ck_assert_int_eq(graft_vision_load(FIX "/mmproj.gguf", &v, &e), 0);
    graft_ctx_params cp = graft_ctx_default_params();
    cp.n_ctx = 512;
    cp.n_batch = 512;
    cp.logits_all = 1;
    cp.n_threads = 1;
    ck_assert_int_eq(graft_ctx_new(m, &cp, &ctx, &e), 0);
    ck_assert_int_eq(graft_mm_new(ctx, v, NULL, &mm, &e), 0);
    graft_eval_dataset ds = {0};
    char path[1024];
    snprintf(path, sizeof path, "%s", tu_tmppath("mcq.jsonl"));
    ck_assert_int_eq(graft_eval_read(GRAFT_DS_GRAFT, path, NULL, &ds, &e), 0);
    graft_eval_run_params p = graft_eval_run_default_params();
    p.suffix[GRAFT_TASK_MCQ] = "Answer with the option's letter from the given choices directly.";
    char *l = pred, *l2 = pred2, *nl, *nl2;
    for (size_t i = 0; i < ds.n; i++, l = nl + 1, l2 = nl2 + 1) {
        nl = strchr(l, '\n');
        nl2 = strchr(l2, '\n');
        *nl = *nl2 = 0;
        cJSON *o = cJSON_Parse(l), *o2 = cJSON_Parse(l2);
        const cJSON *ll = cJSON_GetObjectItem(o, "loglik"), *ll2 = cJSON_GetObjectItem(o2, "loglik");
        const cJSON *sum = cJSON_GetObjectItem(ll, "sum"), *mean = cJSON_GetObjectItem(ll, "mean"),
                    *ntok = cJSON_GetObjectItem(ll, "n_tokens");
        const graft_eval_sample *s = &ds.samples[i];
        ck_assert_int_eq(cJSON_GetArraySize(sum), s->n_choices);
        char *prompt;
        ck_assert_int_eq(graft_eval_prompt(&p, "vicuna_v1", s, &prompt, &e), 0);
        char img[1024];
        snprintf(img, sizeof img, "%s/img/%s", tu_tmpdir(), s->images[0]);
        int best_sum = 0, best_mean = 0;
        double bs[8], bm[8];
        for (int k = 0; k < s->n_choices; k++) {
            int nsc;
            bs[k] = brute_loglik(m, mm, ctx, prompt, img, s->choices[k], &nsc);
            bm[k] = bs[k] / nsc;
            /* f32 activations, different batch splits (one batch here, prefix + tokens there):
             * sums of a few log-probs of magnitude ~7 agree to ~1e-5; 1e-3 leaves room and still
             * catches an off-by-one token (a whole log-prob, ~5). */
            const double got = cJSON_GetArrayItem(sum, k)->valuedouble;
            ck_assert_msg(fabs(got - bs[k]) < 1e-3, "sample %s option %c: loglik %.6f, from scratch %.6f", s->id,
                          'A' + k, got, bs[k]);
            ck_assert_int_eq((int)cJSON_GetArrayItem(ntok, k)->valuedouble, nsc);
            ck_assert(fabs(cJSON_GetArrayItem(mean, k)->valuedouble - bm[k]) < 1e-3);
            /* reuse off gives the same numbers bit for bit (same batches) */
            ck_assert(cJSON_GetArrayItem(sum, k)->valuedouble ==
                      cJSON_GetArrayItem(cJSON_GetObjectItem(ll2, "sum"), k)->valuedouble);
            if (bs[k] > bs[best_sum]) best_sum = k;
            if (bm[k] > bm[best_mean]) best_mean = k;
        }
        char want_mean[2] = {(char)('A' + best_mean), 0}, want_sum[2] = {(char)('A' + best_sum), 0};
        ck_assert_str_eq(cJSON_GetObjectItem(o, "prediction")->valuestring, want_mean);
        ck_assert_str_eq(cJSON_GetObjectItem(ll, "best_sum")->valuestring, want_sum);
        ck_assert_str_eq(cJSON_GetObjectItem(o2, "prediction")->valuestring, want_sum);
        free(prompt);
        cJSON_Delete(o);
        cJSON_Delete(o2);
    }
    graft_eval_dataset_free(&ds);
    graft_mm_free(mm);
    graft_ctx_free(ctx);
    graft_vision_free(v);
    graft_model_free(m);
    free(pred);
    free(pred2);
}
END_TEST

/* ---- prompts and the judge protocol (pure functions) -------------------------------------------- */

START_TEST(test_prompt_text) {
    graft_eval_run_params p = graft_eval_run_default_params();
    p.suffix[GRAFT_TASK_MCQ] = "Answer with the option's letter from the given choices directly.";
    p.suffix[GRAFT_TASK_YESNO] = "Answer the question using a single word or phrase.";
    char *imgs[] = {"a.jpg"}, *choices[] = {"x", "y z"};
    graft_eval_sample s = {.id = "1", .type = GRAFT_TASK_MCQ, .images = imgs, .n_images = 1, .question = "Which?",
                           .context = "Context: hint", .choices = choices, .n_choices = 2};
    char *out;
    graft_error e;
    ck_assert_int_eq(graft_eval_prompt(&p, "vicuna_v1", &s, &out, &e), 0);
    ck_assert_str_eq(out, "A chat between a curious human and an artificial intelligence assistant. The assistant gives "
                          "helpful, detailed, and polite answers to the human's questions. USER: <image>\nContext: hint\n"
                          "Which?\nA. x\nB. y z\nAnswer with the option's letter from the given choices directly. "
                          "ASSISTANT:");
    free(out);
    /* the scienceqa reader's hint, labelled as LLaVA's converted file has it */
    p.context_prefix = "Context: ";
    s.context = "hint";
    ck_assert_int_eq(graft_eval_prompt(&p, "none", &s, &out, &e), 0);
    ck_assert_str_eq(out, "<image>\nContext: hint\nWhich?\nA. x\nB. y z\n"
                          "Answer with the option's letter from the given choices directly.");
    free(out);
    /* LLaVA's POPE question file already carries the suffix: it is not added twice */
    graft_eval_sample y = {.id = "2", .type = GRAFT_TASK_YESNO, .images = imgs, .n_images = 1,
                           .question = "Is there a dog in the image?\nAnswer the question using a single word or phrase."};
    ck_assert_int_eq(graft_eval_prompt(&p, NULL, &y, &out, &e), 0);
    ck_assert_str_eq(out, "<image>\nIs there a dog in the image?\nAnswer the question using a single word or phrase.");
    free(out);
}
END_TEST

START_TEST(test_judge_protocol) {
    char *c = graft_eval_judge_content("cap1\ncap2", "Q?", "ref", "ans", "Assistant", "Rate them.");
    ck_assert_str_eq(c, "[Context]\ncap1\ncap2\n\n[Question]\nQ?\n\n[Assistant 1]\nref\n\n[End of Assistant 1]\n\n"
                        "[Assistant 2]\nans\n\n[End of Assistant 2]\n\n[System]\nRate them.\n\n");
    free(c);
    double pr[2];
    ck_assert_int_eq(graft_eval_judge_parse("8 7\nBoth answers ...", pr), 1);
    ck_assert(pr[0] == 8 && pr[1] == 7);
    ck_assert_int_eq(graft_eval_judge_parse("8.5,9", pr), 1); /* ',' becomes ' ' */
    ck_assert(pr[0] == 8.5 && pr[1] == 9);
    ck_assert_int_eq(graft_eval_judge_parse("8, 9", pr), 0); /* "8  9" splits into 3 parts */
    ck_assert(pr[0] == -1 && pr[1] == -1);
    ck_assert_int_eq(graft_eval_judge_parse("Score: 8 9", pr), 0);
    ck_assert_int_eq(graft_eval_judge_parse("\n8 9", pr), 0); /* the first line is empty */
    ck_assert_int_eq(graft_eval_judge_parse("8 x", pr), 0);
    ck_assert_int_eq(graft_eval_judge_parse("7 0x10", pr), 0); /* no hex in Python's float() */
}
END_TEST

/* The judge end to end: the fixture's decoder as a (nonsense) judge; the file format is LLaVA's. */
START_TEST(test_judge_run) {
    setup_data();
    put(tu_tmppath("rule.json"), "{\"llava_bench_conv\": {\"role\": \"Assistant\", \"prompt\": \"Rate.\"},"
                                 " \"llava_bench_detail\": {\"role\": \"Assistant\", \"prompt\": \"Rate.\"},"
                                 " \"llava_bench_complex\": {\"role\": \"Assistant\", \"prompt\": \"Rate.\"}}");
    put(tu_tmppath("ctx.jsonl"), "{\"image\": \"im0.ppm\", \"caption\": [\"a\", \"b\"]}\n");
    char args[8192], cwd[1024];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    snprintf(args, sizeof args, "%s --task open --data open.jsonl -o j --max-new-tokens 3 --judge %s/" FIX "/model.gguf "
             "--judge-rules rule.json --judge-context ctx.jsonl --judge-max-tokens 4", model_args, cwd);
    int st = eval("j.log", args);
    char *log = log_text("j.log");
    ck_assert_msg(st == 0, "exit %d\n%.2000s", st, log);
    char *rev = out_file("j", "reviews.jsonl");
    ck_assert_int_eq(count_lines(rev), 3);
    char *nl = strchr(rev, '\n');
    *nl = 0;
    cJSON *o = cJSON_Parse(rev);
    ck_assert_ptr_nonnull(o);
    ck_assert_int_eq((int)cJSON_GetObjectItem(o, "question_id")->valuedouble, 1);
    ck_assert_str_eq(cJSON_GetObjectItem(o, "category")->valuestring, "llava_bench_conv");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(o, "tuple")), 2);
    ck_assert(cJSON_IsString(cJSON_GetObjectItem(o, "content")));
    cJSON_Delete(o);
    char *js = out_file("j", "summary.json");
    ck_assert_msg(strstr(js, "relative_score") != NULL, "summary.json without judge scores:\n%s", js);
    free(js);
    free(rev);
    free(log);
}
END_TEST

/* Text-only samples (ScienceQA's without an image) on a runner without a vision tower: reuse on
 * and off agree, in generate and loglik mode. */
START_TEST(test_text_only_runner) {
    graft_error e;
    graft_model *m;
    ck_assert_int_eq(graft_model_load(FIX "/model.gguf", NULL, &m, &e), 0);
    char *choices[] = {"north", "south pole"};
    graft_eval_sample smp[2] = {
        {.id = "t0", .type = GRAFT_TASK_MCQ, .question = "Which way?", .choices = choices, .n_choices = 2},
        {.id = "t1", .type = GRAFT_TASK_VQA, .question = "What is two plus two?"}};
    graft_eval_dataset ds = {.samples = smp, .n = 2};
    char *got[2][2][2] = {{{0}}}; /* [loglik][reuse][sample] */
    for (int ll = 0; ll < 2; ll++)
        for (int reuse = 0; reuse < 2; reuse++) {
            graft_eval_run_params p = graft_eval_run_default_params();
            p.reuse = reuse;
            p.mcq_loglik = ll;
            p.n_threads = 1;
            p.n_ctx = 256;
            p.max_new_tokens[GRAFT_TASK_MCQ] = p.max_new_tokens[GRAFT_TASK_VQA] = 5;
            graft_eval_runner *r;
            ck_assert_int_eq(graft_eval_runner_new(m, NULL, &p, &r, &e), 0);
            for (size_t i = 0; i < ds.n; i++) {
                graft_eval_result res;
                ck_assert_msg(graft_eval_runner_sample(r, &ds.samples[i], i, &res, &e) == 0, "%s", e.msg);
                got[ll][reuse][i] = strdup(res.prediction);
                if (ll && i == 0) ck_assert_int_eq(res.n_choices, 2);
                graft_eval_result_free(&res);
            }
            graft_eval_runner_free(r);
        }
    for (int ll = 0; ll < 2; ll++)
        for (int i = 0; i < 2; i++) {
            ck_assert_str_eq(got[ll][0][i], got[ll][1][i]);
            free(got[ll][0][i]);
            free(got[ll][1][i]);
        }
    graft_model_free(m);
}
END_TEST

/* ---- variants and prompt files ---------------------------------------------------------------- */

START_TEST(test_variants) {
    setup_data();
    char args[8192], cwd[900];
    ck_assert_ptr_nonnull(getcwd(cwd, sizeof cwd));
    /* the f32 and the f16 pair, and the f32 decoder with the f16 projector, from a JSON config */
    snprintf(args, sizeof args, "--task yesno --data yesno.jsonl --images img -t 1 -o var --max-new-tokens 3 "
             "--variant f32:%s/" FIX "/model.gguf:%s/" FIX "/mmproj.gguf "
             "--variant f16:%s/tests/fixtures/llava/pair-f16/model.gguf:%s/tests/fixtures/llava/pair-f16/mmproj.gguf",
             cwd, cwd, cwd, cwd);
    int st = eval("var.log", args);
    char *log = log_text("var.log");
    ck_assert_msg(st == 0, "exit %d\n%.2000s", st, log);
    free(log);
    static const char *const files[] = {"f32/predictions.jsonl", "f32/summary.json", "f32/summary.md",
                                        "f16/predictions.jsonl", "f16/summary.json", "summary.md", "summary.csv"};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char *t = out_file("var", files[i]);
        ck_assert_msg(t != NULL, "var/%s missing", files[i]);
        if (strstr(files[i], "predictions")) ck_assert_int_eq(count_lines(t), 24);
        free(t);
    }
    char *md = out_file("var", "summary.md");
    ck_assert_msg(strstr(md, "f32") && strstr(md, "f16"), "comparison without both variants:\n%.2000s", md);
    free(md);
    char cfg[2048];
    snprintf(cfg, sizeof cfg, "{\"variants\": [{\"name\": \"a\", \"model\": \"%s/" FIX "/model.gguf\", \"mmproj\": "
             "\"%s/tests/fixtures/llava/pair-f16/mmproj.gguf\"}]}", cwd, cwd);
    put(tu_tmppath("variants.json"), cfg);
    st = eval("var2.log", "--task yesno --data yesno.jsonl --images img -t 1 -o var2 --max-new-tokens 3 --limit 2 "
                          "--variants variants.json");
    log = log_text("var2.log");
    ck_assert_msg(st == 0, "exit %d\n%.2000s", st, log);
    free(log);
    char *t = out_file("var2", "a/predictions.jsonl");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq(count_lines(t), 2);
    free(t);
}
END_TEST

/* --prompt-file changes the prompt (so the answers), and the JSON and text forms agree */
START_TEST(test_prompt_file) {
    setup_data();
    put(tu_tmppath("p.json"), "{\"yesno\": \"Reply in one word, please.\"}");
    put(tu_tmppath("p.txt"), "Reply in one word, please.\n");
    char args[8192];
    snprintf(args, sizeof args, "%s --task yesno --data yesno.jsonl -o pj --max-new-tokens 4 --limit 6 "
             "--prompt-file p.json", model_args);
    ck_assert_int_eq(eval("pj.log", args), 0);
    snprintf(args, sizeof args, "%s --task yesno --data yesno.jsonl -o pt --max-new-tokens 4 --limit 6 "
             "--prompt-file p.txt", model_args);
    ck_assert_int_eq(eval("pt.log", args), 0);
    snprintf(args, sizeof args, "%s --task yesno --data yesno.jsonl -o pd --max-new-tokens 4 --limit 6", model_args);
    ck_assert_int_eq(eval("pd.log", args), 0);
    char *a = out_file("pj", "predictions.jsonl"), *b = out_file("pt", "predictions.jsonl"),
         *c = out_file("pd", "predictions.jsonl");
    ck_assert_msg(!strcmp(a, b), "JSON and text prompt files differ:\n%.1500s\n---\n%.1500s", a, b);
    ck_assert_msg(strcmp(a, c), "the prompt file changed nothing:\n%.1500s", a);
    free(a);
    free(b);
    free(c);
    put(tu_tmppath("bad.json"), "{\"yes-no\": \"x\"}");
    snprintf(args, sizeof args, "%s --task yesno --data yesno.jsonl -o pb --prompt-file bad.json", model_args);
    ck_assert_int_ne(eval("pb.log", args), 0);
}
END_TEST

Suite *suite_eval_run(void) {
    Suite *s = suite_create("eval_run");
    TCase *tc = tcase_create("eval_run");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_prompt_text);
    tcase_add_test(tc, test_judge_protocol);
    tcase_add_test(tc, test_all_types);
    tcase_add_test(tc, test_deterministic_and_reuse);
    tcase_add_test(tc, test_resume);
    tcase_add_test(tc, test_shards);
    tcase_add_test(tc, test_missing_image_first);
    tcase_add_test(tc, test_loglik);
    tcase_add_test(tc, test_judge_run);
    tcase_add_test(tc, test_text_only_runner);
    tcase_add_test(tc, test_variants);
    tcase_add_test(tc, test_prompt_file);
    suite_add_tcase(s, tc);
    return s;
}
