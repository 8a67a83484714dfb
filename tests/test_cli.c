/* test_cli.c - end to end: the graft CLI (path in GRAFT_CLI, set by `make test`) on real models.
 * ../shared/models/aidreams260K is a trained llama2.c model converted to GGUF without changing a
 * weight: graft's greedy text must equal what Karpathy's run.c and llama.cpp print for it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "npy.h"
#include "test_util.h"

static const char *cli(void) {
    const char *p = getenv("GRAFT_CLI");
    return p && *p ? p : "build/graft";
}

/* Runs a shell command, returns its stdout (malloc'd) and exit status. */
static char *run(const char *cmd, int *status) {
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    size_t r;
    while ((r = fread(buf + n, 1, cap - 1 - n, f)) > 0) {
        n += r;
        if (n + 1 >= cap) buf = realloc(buf, cap *= 2);
    }
    buf[n] = 0;
    int st = pclose(f);
    *status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
    return buf;
}

static char *trim(char *s) {
    while (*s == ' ' || *s == '\n') s++;
    size_t n = strlen(s);
    while (n && (s[n - 1] == ' ' || s[n - 1] == '\n')) s[--n] = 0;
    return s;
}

/* run.c's texts: after each "## ./run ... -i "PROMPT"" line, one line of text. Greedy decoding
 * (-t 0) with 128 steps; graft's text must start with it. */
START_TEST(test_aidreams_runc) {
    const char *dir = tu_shared("models/aidreams260K");
    if (!dir) return;
    char path[1024], cmd[2048];
    snprintf(path, sizeof path, "%s/reference-run.c.txt", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    char line[1024], prompt[256];
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        char *q = strstr(line, "-i \"");
        if (strncmp(line, "## ./run", 8) || !q) continue;
        q += 4;
        char *end = strrchr(q, '"');
        ck_assert_ptr_nonnull(end);
        snprintf(prompt, sizeof prompt, "%.*s", (int)(end - q), q);
        ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
        char *want = trim(line);
        snprintf(cmd, sizeof cmd, "%s -m %s/aidreams260K-f32.gguf -p '%s' -n 128 --temp 0 -t 2 2>/dev/null",
                 cli(), dir, prompt);
        int st;
        char *out = run(cmd, &st);
        ck_assert_int_eq(st, 0);
        char *got = trim(out);
        ck_assert_msg(!strncmp(got, want, strlen(want)), "prompt '%s':\n got: %s\nwant: %s", prompt, got, want);
        free(out);
        cases++;
    }
    fclose(f);
    ck_assert_int_eq(cases, 3);
}
END_TEST

/* llama.cpp's greedy 60-token continuations: prompt<TAB>text. */
START_TEST(test_aidreams_llamacpp) {
    const char *dir = tu_shared("models/aidreams260K");
    if (!dir) return;
    char path[1024], cmd[4096], line[1024];
    snprintf(path, sizeof path, "%s/llamacpp_greedy_60.tsv", dir);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        char *tab = strchr(line, '\t');
        if (!tab) continue;
        *tab = 0;
        char *want = trim(tab + 1);
        snprintf(cmd, sizeof cmd, "%s -m %s/aidreams260K-f32.gguf -p '%s' -n 60 --temp 0 2>/dev/null", cli(), dir, line);
        int st;
        char *out = run(cmd, &st);
        ck_assert_int_eq(st, 0);
        ck_assert_msg(!strcmp(trim(out), want), "prompt '%s':\n got: %s\nwant: %s", line, trim(out), want);
        free(out);
        cases++;
    }
    fclose(f);
    ck_assert_int_eq(cases, 2);
}
END_TEST

/* --logits-out writes [n_prompt, n_vocab] f32 equal to llama.cpp's logits for the same ids. */
START_TEST(test_logits_out) {
    const char *dir = tu_shared("fixtures/llamacpp/tiny-a");
    if (!dir) return;
    char cmd[2048];
    const char *out = tu_tmppath("logits.f32");
    snprintf(cmd, sizeof cmd, "%s -m %s/tiny-llm.gguf --prompt-ids 1,450,4996,17354,1701,29916,432,17204,975,278,17366,11203 "
             "-n 1 --temp 0 -ctk f32 --logits-out %s >/dev/null 2>&1", cli(), dir, out);
    int st;
    free(run(cmd, &st));
    ck_assert_int_eq(st, 0);
    size_t n_got, n_ref;
    float *got = tu_read_file(out, &n_got);
    char ref_path[1024];
    snprintf(ref_path, sizeof ref_path, "%s/p1.logits.f32", dir);
    float *ref = tu_read_file(ref_path, &n_ref);
    ck_assert_uint_eq(n_got, n_ref);
    double scale = tu_max_abs(ref, n_ref / 4);
    ck_assert(tu_max_abs_err("logits-out", got, ref, n_ref / 4, 1e-4 * scale) <= 1e-4 * scale);
    free(got);
    free(ref);
}
END_TEST

/* Bad input: one line on stderr naming the problem, non-zero exit, nothing on stdout. */
START_TEST(test_errors) {
    const char *dir = tu_shared("models/aidreams260K");
    char cmd[2048];
    int st;
    struct { const char *args, *expect; } cases[] = {
        {"-m /nonexistent.gguf -p hi", "/nonexistent.gguf"},
        {"-m %s/aidreams260K-f32.gguf -p hi --chat-template nosuch", "unknown chat template 'nosuch'"},
        {"-m %s/aidreams260K-f32.gguf -p 'a b c d e f g h i j k l m n o p' -c 8", "more than the context of 8"},
        {"-m %s/aidreams260K-f32.gguf -p hi --temp x", "--temp expects a number"},
        {"-m %s/aidreams260K-f32.gguf -p hi --bogus", "unknown option '--bogus'"},
        {"-m %s/aidreams260K-f32.gguf --prompt-ids 1,99999", "outside the vocabulary"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (strstr(cases[i].args, "%s") && !dir) continue;
        char args[1024];
        snprintf(args, sizeof args, cases[i].args, dir);
        snprintf(cmd, sizeof cmd, "%s %s -n 4 2>&1 >/dev/null", cli(), args);
        char *err = run(cmd, &st);
        ck_assert_msg(st != 0, "'%s' exited 0", args);
        ck_assert_msg(strstr(err, cases[i].expect) != NULL, "'%s': stderr '%s' lacks '%s'", args, err, cases[i].expect);
        free(err);
    }
}
END_TEST

/* The vision commands on HF's llava-tiny-b: `graft preprocess` gives HF's pixel_values, `graft
 * encode` its image_features (1e-4 x max|ref|; seen 1e-6), and the main command with --image
 * generates HF's greedy text, the same through --prompt-ids with the <image> id. */
START_TEST(test_llava_commands) {
    const char *dir = tu_shared("fixtures/hf/llava-tiny-b");
    if (!dir) return;
    char cmd[4096], path[1024];
    int st;
    const char *px = tu_tmppath("pixels.bin"), *feats = tu_tmppath("feats.bin");
    snprintf(cmd, sizeof cmd, "%s preprocess --mmproj %s/gguf/llava-tiny-b-mmproj-f32.gguf --image %s/../../../images/"
             "llava_extreme_ironing.jpg --image-mode crop -o %s 2>/dev/null", cli(), dir, dir, px);
    free(run(cmd, &st));
    ck_assert_int_eq(st, 0);
    snprintf(cmd, sizeof cmd, "%s encode --mmproj %s/gguf/llava-tiny-b-mmproj-f32.gguf --pixels %s -o %s 2>/dev/null",
             cli(), dir, px, feats);
    free(run(cmd, &st));
    ck_assert_int_eq(st, 0);
    const char *names[2] = {"pixel_values", "image_features"}, *files[2] = {px, feats};
    for (int k = 0; k < 2; k++) {
        npy_array a;
        snprintf(path, sizeof path, "%s/ref/%s.npy", dir, names[k]);
        ck_assert_int_eq(npy_load(path, &a), 0);
        size_t n;
        float *got = tu_read_file(files[k], &n);
        ck_assert_uint_eq(n, a.count * 4);
        const double tol = (k ? 1e-4 : 1e-6) * tu_max_abs(a.data, a.count);
        ck_assert(tu_max_abs_err(names[k], got, a.data, a.count, tol) <= tol);
        free(got);
        npy_free(&a);
    }
    char *out[2];
    snprintf(cmd, sizeof cmd, "%s -m %s/gguf/llava-tiny-b-llm-f32.gguf --mmproj %s/gguf/llava-tiny-b-mmproj-f32.gguf "
             "--image %s/../../../images/llava_extreme_ironing.jpg --image-mode crop --chat-template none "
             "-p 'USER: <image>\\nWhat is shown? ASSISTANT:' --no-display-prompt -n 32 --temp 0 -ctk f32 2>/dev/null",
             cli(), dir, dir, dir);
    out[0] = run(cmd, &st);
    ck_assert_int_eq(st, 0);
    snprintf(cmd, sizeof cmd, "%s -m %s/gguf/llava-tiny-b-llm-f32.gguf --mmproj %s/gguf/llava-tiny-b-mmproj-f32.gguf "
             "--pixels %s --prompt-ids 1,3148,1001,29901,29871,32000,13,5618,338,4318,29973,319,1799,9047,13566,29901 "
             "-n 32 --temp 0 -ctk f32 2>/dev/null", cli(), dir, dir, px);
    out[1] = run(cmd, &st);
    ck_assert_int_eq(st, 0);
    ck_assert_str_eq(out[0], out[1]);
    ck_assert_msg(!strncmp(out[0], "WhyARCHAR", 9), "HF's greedy text starts 'WhyARCHAR', got '%.40s'", out[0]);
    free(out[0]);
    free(out[1]);
    /* errors */
    struct { const char *args, *expect; } cases[] = {
        {"--image x.jpg -p hi", "need --mmproj"},
        {"--mmproj %s/gguf/llava-tiny-b-mmproj-f32.gguf --image %s/../../../images/llava_extreme_ironing.jpg -p '<image> <image>'",
         "2 image markers"},
        {"--mmproj %s/gguf/llava-tiny-b-mmproj-f32.gguf --pixels %s/ref/input_ids.npy -p hi", "float32 tensor"},
        {"--mmproj %s/gguf/llava-tiny-b-mmproj-f32.gguf --image %s/gguf/llava-tiny-b-llm-f32.gguf -p hi", "llava-tiny-b-llm-f32.gguf"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char args[2048];
        snprintf(args, sizeof args, cases[i].args, dir, dir);
        snprintf(cmd, sizeof cmd, "%s -m %s/gguf/llava-tiny-b-llm-f32.gguf %s -n 2 2>&1 >/dev/null", cli(), dir, args);
        char *err = run(cmd, &st);
        ck_assert_msg(st != 0, "'%s' exited 0", args);
        ck_assert_msg(strstr(err, cases[i].expect) != NULL, "'%s': stderr '%s' lacks '%s'", args, err, cases[i].expect);
        free(err);
    }
}
END_TEST

Suite *suite_cli(void) {
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_aidreams_runc);
    tcase_add_test(tc, test_aidreams_llamacpp);
    tcase_add_test(tc, test_logits_out);
    tcase_add_test(tc, test_errors);
    tcase_add_test(tc, test_llava_commands);
    suite_add_tcase(s, tc);
    return s;
}
