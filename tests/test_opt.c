/* test_opt.c - the OPT decoder (src/opt.c) against an independent reference: the tiny random
 * models of tests/fixtures/opt/ and the float64 numpy outputs that tests/reference/make_opt_fixtures.py
 * computed from Hugging Face's OPTForCausalLM definition (tests/reference/opt_ref.py). Also: thread
 * and batching invariance, embedding-row input, the position table's end, load errors, the
 * tokenizer the files carry, the CLI, and a decode path that allocates nothing.
 *
 * Logit tolerance: 1e-4 x max|ref|, as for llama. graft computes in f32 from the same (decoded)
 * weights as the float64 reference; f32 rounding through LayerNorms, sums over K <= 128 and a
 * 286-wide head costs ~1e-6 relative (measured: README-opt.md), so 1e-4 leaves room for other
 * kernels and summation orders yet is far below what a real mistake costs: reading position row p
 * instead of p + 2 moves the logits by 8.4 to 13.4 (1.1 to 1.2 x max|ref|), the other LayerNorm
 * placement by 10.6 to 11.6, and ignoring post-untied's LayerNorm eps (0.1) for the default 1e-5
 * by 1.4e-3 x max|ref|. The greedy margins are >= 0.02, so greedy ids must be identical. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "gguf_write.h"
#include "graft.h"
#include "graft_gguf.h"
#include "model.h"
#include "test_util.h"

#define FIX "tests/fixtures/opt/"
#define N_GEN 32
#define TOL 1e-4

static const char *const FIXTURES[] = {"pre-tied", "pre-tied-f16", "post-untied"};
enum { N_FIXTURES = 3 };

static int read_ids(const char *path, int32_t *ids, int cap) {
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    int n = 0;
    long v;
    while (n < cap && fscanf(f, "%ld", &v) == 1) ids[n++] = (int32_t)v;
    fclose(f);
    return n;
}

static const char *fix_path(const char *name, const char *file) {
    static char buf[4][512];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, 512, FIX "%s/%s", name, file);
    return p;
}

static graft_model *load(const char *path) {
    graft_model *m = NULL;
    graft_error e;
    int rc = graft_model_load(path, NULL, &m, &e);
    ck_assert_msg(rc == GRAFT_OK, "load %s: %s", path, e.msg);
    return m;
}

static graft_ctx *ctx_for(const graft_model *m, int logits_all, int n_threads, int n_batch) {
    graft_ctx_params p = graft_ctx_default_params();
    p.n_ctx = 64;
    p.n_batch = n_batch;
    p.kv_type = GRAFT_TYPE_F32;
    p.logits_all = logits_all;
    p.n_threads = n_threads;
    graft_ctx *c = NULL;
    graft_error e;
    ck_assert_msg(graft_ctx_new(m, &p, &c, &e) == GRAFT_OK, "ctx: %s", e.msg);
    return c;
}

/* All-position logits of ids (one batch) into a malloc'd (n, V) array. */
static float *all_logits(const graft_model *m, const int32_t *ids, const float *embd, int n, int n_threads) {
    const int V = graft_model_n_vocab(m);
    graft_ctx *c = ctx_for(m, 1, n_threads, 64);
    ck_assert_int_eq(graft_decode(c, ids, embd, n), GRAFT_OK);
    float *out = malloc((size_t)n * V * sizeof(float));
    for (int i = 0; i < n; i++) {
        const float *row = graft_ctx_logits(c, i);
        ck_assert_ptr_nonnull(row);
        memcpy(out + (size_t)i * V, row, (size_t)V * sizeof(float));
    }
    graft_ctx_free(c);
    return out;
}

/* ---- against the reference ------------------------------------------------------------------ */

/* Every fixture, both prompts: logits at every position to TOL x max|ref|, and the 32 greedy ids
 * (one graft_decode per token through the KV cache) identical to the reference's. */
START_TEST(test_reference_fixtures) {
    const char *name = FIXTURES[_i];
    graft_model *m = load(fix_path(name, "model.gguf"));
    ck_assert_str_eq(graft_model_arch(m), "opt");
    ck_assert_int_eq(graft_model_n_vocab(m), 286);
    ck_assert_int_eq(graft_model_n_ctx_train(m), 64);
    const int V = graft_model_n_vocab(m);
    for (int p = 1; p <= 2; p++) {
        char file[64];
        int32_t ids[64];
        snprintf(file, sizeof file, "p%d.ids.txt", p);
        int n = read_ids(fix_path(name, file), ids, 64);
        ck_assert_int_gt(n, 0);
        snprintf(file, sizeof file, "p%d.logits.f32", p);
        size_t len = 0;
        float *ref = tu_read_file(fix_path(name, file), &len);
        ck_assert_msg(ref != NULL, "cannot read %s", fix_path(name, file));
        ck_assert_uint_eq(len, (size_t)n * V * sizeof(float));
        float *got = all_logits(m, ids, NULL, n, 2);
        const double scale = tu_max_abs(ref, (size_t)n * V);
        double worst = 0;
        for (int i = 0; i < n; i++) {
            double e = tu_max_abs_err("logits", got + (size_t)i * V, ref + (size_t)i * V, (size_t)V, TOL * scale);
            if (e > worst) worst = e;
        }
        fprintf(stderr, "opt fixture %s p%d: max logit error %.2e x max|ref| (max|ref| %.2f)\n", name, p,
                worst / scale, scale);
        ck_assert_msg(worst <= TOL * scale, "%s p%d: %.3g x max|ref| > %.0e", name, p, worst / scale, TOL);
        free(got);
        free(ref);

        /* greedy through the cache */
        int32_t want[N_GEN], out[N_GEN];
        snprintf(file, sizeof file, "p%d.greedy.txt", p);
        ck_assert_int_eq(read_ids(fix_path(name, file), want, N_GEN), N_GEN);
        graft_ctx *c = ctx_for(m, 0, 2, 64);
        graft_sampler_params sp = graft_sampler_default_params();
        sp.temp = 0;
        graft_sampler *s;
        graft_error e;
        ck_assert_int_eq(graft_sampler_new(&sp, V, &s, &e), GRAFT_OK);
        ck_assert_int_eq(graft_decode(c, ids, NULL, n), GRAFT_OK);
        for (int i = 0; i < N_GEN; i++) {
            out[i] = graft_sampler_sample(s, graft_ctx_logits(c, -1));
            ck_assert_int_eq(graft_decode(c, &out[i], NULL, 1), GRAFT_OK);
        }
        for (int i = 0; i < N_GEN; i++)
            ck_assert_msg(out[i] == want[i], "%s p%d: greedy token %d is %d, reference %d", name, p, i, out[i], want[i]);
        graft_sampler_free(s);
        graft_ctx_free(c);
    }
    graft_model_free(m);
}
END_TEST

/* Bytes of weights read per token: every block matrix and the head once, the embedding tables
 * not (one row each). pre-tied: 2 x (4 x 32 x 32 + 2 x 32 x 128) f32 + the tied 286 x 32 head. */
START_TEST(test_weight_bytes) {
    graft_model *m = load(FIX "pre-tied/model.gguf");
    ck_assert_uint_eq(graft_model_weight_bytes(m), (2 * (4 * 32 * 32 + 2 * 32 * 128) + 286 * 32) * 4);
    graft_model_free(m);
    m = load(FIX "post-untied/model.gguf");
    ck_assert_uint_eq(graft_model_weight_bytes(m), (2 * (4 * 48 * 48 + 2 * 48 * 80) + 286 * 48) * 4);
    graft_model_free(m);
}
END_TEST

/* ---- invariances ------------------------------------------------------------------------------ */

/* 1 and 2 threads give the same logits bit for bit (every position); a prefill in chunks of 4,
 * token by token through the cache, and a rewind + replay agree with one batch to TOL. */
START_TEST(test_threads_and_batching) {
    const char *name = FIXTURES[_i];
    graft_model *m = load(fix_path(name, "model.gguf"));
    const int V = graft_model_n_vocab(m);
    int32_t ids[64];
    int n = read_ids(fix_path(name, "p2.ids.txt"), ids, 64);
    ck_assert_int_eq(n, 19);
    float *one = all_logits(m, ids, NULL, n, 1), *two = all_logits(m, ids, NULL, n, 2);
    ck_assert_msg(!memcmp(one, two, (size_t)n * V * sizeof(float)), "%s: 1 and 2 threads differ", name);
    const float *last = one + (size_t)(n - 1) * V;
    const double tol = TOL * tu_max_abs(one, (size_t)n * V);

    graft_ctx *c = ctx_for(m, 0, 2, 4); /* 19 = 4 + 4 + 4 + 4 + 3 */
    ck_assert_int_eq(graft_decode(c, ids, NULL, n), GRAFT_OK);
    ck_assert(tu_max_abs_err("chunked", graft_ctx_logits(c, -1), last, (size_t)V, tol) <= tol);
    graft_ctx_free(c);

    c = ctx_for(m, 0, 2, 64);
    for (int i = 0; i < n; i++) {
        ck_assert_int_eq(graft_decode(c, ids + i, NULL, 1), GRAFT_OK);
        const float *row = one + (size_t)i * V;
        ck_assert_msg(tu_max_abs_err("incremental", graft_ctx_logits(c, -1), row, (size_t)V, tol) <= tol,
                      "%s: position %d token by token", name, i);
    }
    ck_assert_int_eq(graft_ctx_rewind(c, 5), GRAFT_OK);
    ck_assert_int_eq(graft_decode(c, ids + 5, NULL, n - 5), GRAFT_OK);
    ck_assert(tu_max_abs_err("rewound", graft_ctx_logits(c, -1), last, (size_t)V, tol) <= tol);
    graft_ctx_free(c);
    free(one);
    free(two);
    graft_model_free(m);
}
END_TEST

/* The caller's embedding rows (graft_decode with ids NULL or -1, as the pipeline splices image
 * rows) get the same learned positions as token ids: feeding the token embedding's own rows gives
 * the id path's logits bit for bit, all rows at once and mixed with ids. */
START_TEST(test_embedding_rows) {
    const char *name = FIXTURES[_i];
    graft_model *m = load(fix_path(name, "model.gguf"));
    const int V = graft_model_n_vocab(m), E = graft_model_n_embd(m);
    int32_t ids[64];
    int n = read_ids(fix_path(name, "p2.ids.txt"), ids, 64);
    float *rows = malloc((size_t)n * E * sizeof(float));
    for (int i = 0; i < n; i++) graft_tensor_row_f32(graft_kernels_get(), &m->tok_embd, ids[i], rows + (size_t)i * E);
    float *by_id = all_logits(m, ids, NULL, n, 2);
    float *by_row = all_logits(m, NULL, rows, n, 2);
    ck_assert_msg(!memcmp(by_id, by_row, (size_t)n * V * sizeof(float)), "%s: embedding rows differ from ids", name);
    int32_t mixed[64];
    for (int i = 0; i < n; i++) mixed[i] = (i >= 3 && i < 11) ? -1 : ids[i];
    float *by_mix = all_logits(m, mixed, rows, n, 2);
    ck_assert_msg(!memcmp(by_id, by_mix, (size_t)n * V * sizeof(float)), "%s: mixed rows/ids differ", name);
    free(by_mix);
    free(by_row);
    free(by_id);
    free(rows);
    graft_model_free(m);
}
END_TEST

/* OPT has context_length learned positions and no more: a context is capped at it (asking for
 * 256 gives 64), the last row (position 63, table row 65) decodes, one more is a clean
 * GRAFT_E_LIMIT that changes nothing. */
START_TEST(test_context_limit) {
    graft_model *m = load(FIX "pre-tied/model.gguf");
    graft_ctx_params p = graft_ctx_default_params();
    graft_error e;
    graft_ctx *c;
    p.n_ctx = 256;
    p.n_batch = 512;
    ck_assert_int_eq(graft_ctx_new(m, &p, &c, &e), GRAFT_OK);
    ck_assert_int_eq(graft_ctx_n_ctx(c), 64);
    int32_t ids[65];
    for (int i = 0; i < 65; i++) ids[i] = 4 + (i * 37) % 282;
    ck_assert_int_eq(graft_decode(c, ids, NULL, 65), GRAFT_E_LIMIT);
    ck_assert_msg(strstr(graft_ctx_last_error(c), "n_ctx 64") != NULL, "%s", graft_ctx_last_error(c));
    ck_assert_int_eq(graft_ctx_pos(c), 0);
    ck_assert_int_eq(graft_decode(c, ids, NULL, 60), GRAFT_OK);
    for (int i = 60; i < 64; i++) ck_assert_int_eq(graft_decode(c, ids + i, NULL, 1), GRAFT_OK);
    const float *row = graft_ctx_logits(c, -1);
    for (int v = 0; v < graft_model_n_vocab(m); v++) ck_assert(row[v] == row[v] && row[v] > -1e30f && row[v] < 1e30f);
    ck_assert_int_eq(graft_decode(c, ids + 64, NULL, 1), GRAFT_E_LIMIT);
    ck_assert_int_eq(graft_ctx_pos(c), 64);
    graft_ctx_free(c);
    p.n_ctx = 0; /* the model's own */
    ck_assert_int_eq(graft_ctx_new(m, &p, &c, &e), GRAFT_OK);
    ck_assert_int_eq(graft_ctx_n_ctx(c), 64);
    graft_ctx_free(c);
    p.n_ctx = 16; /* smaller is kept */
    ck_assert_int_eq(graft_ctx_new(m, &p, &c, &e), GRAFT_OK);
    ck_assert_int_eq(graft_ctx_n_ctx(c), 16);
    ck_assert_int_eq(graft_decode(c, ids, NULL, 17), GRAFT_E_LIMIT);
    graft_ctx_free(c);
    graft_model_free(m);
}
END_TEST

/* ---- the tokenizer the file carries, and the CLI --------------------------------------------- */

/* GPT-2 byte-level BPE with OPT's specials: the prompt text tokenizes to p1.ids (BOS "</s>" = 2
 * first), as the generator's own BPE made them. */
START_TEST(test_tokenizer) {
    graft_model *m = load(FIX "pre-tied/model.gguf");
    ck_assert_int_eq(graft_model_token_bos(m), 2);
    ck_assert_int_eq(graft_model_token_eos(m), 2);
    ck_assert(graft_model_token_is_eog(m, 2));
    size_t len;
    char *text = tu_read_file(FIX "pre-tied/p1.txt", &len);
    ck_assert_ptr_nonnull(text);
    int32_t want[64], *ids;
    int n = read_ids(FIX "pre-tied/p1.ids.txt", want, 64);
    size_t n_ids;
    graft_error e;
    ck_assert_int_eq(graft_model_tokenize(m, text, len, 1, 0, &ids, &n_ids, &e), GRAFT_OK);
    ck_assert_uint_eq(n_ids, (size_t)n);
    for (int i = 0; i < n; i++) ck_assert_msg(ids[i] == want[i], "token %d: %d, expected %d", i, ids[i], want[i]);
    char *back;
    size_t back_len;
    ck_assert_int_eq(graft_model_detokenize(m, ids, n_ids, 1, &back, &back_len, &e), GRAFT_OK);
    ck_assert_uint_eq(back_len, len);
    ck_assert(!memcmp(back, text, len));
    free(back);
    free(ids);
    free(text);
    graft_model_free(m);
}
END_TEST

/* `graft -m model.gguf --prompt-ids p1 -n 32 --temp 0 -ctk f32` prints the bytes of the reference's
 * greedy ids (p1.greedy.text) and a newline; `-p TEXT --no-display-prompt` the same. */
START_TEST(test_cli) {
    const char *cli = getenv("GRAFT_CLI");
    if (!cli || !*cli) {
        fprintf(stderr, "SKIP test_cli (opt): GRAFT_CLI is not set (make test sets it)\n");
        return;
    }
    const char *name = FIXTURES[_i / 2];
    int32_t ids[64];
    int n = read_ids(fix_path(name, "p1.ids.txt"), ids, 64);
    char list[512] = "", cmd[2048];
    size_t k = 0;
    for (int i = 0; i < n; i++) k += (size_t)snprintf(list + k, sizeof list - k, "%s%d", i ? "," : "", ids[i]);
    if (_i % 2 == 0)
        snprintf(cmd, sizeof cmd, "'%s' -m %s --prompt-ids %s -n %d --temp 0 -ctk f32 -t 2 2>/dev/null", cli,
                 fix_path(name, "model.gguf"), list, N_GEN);
    else
        snprintf(cmd, sizeof cmd, "'%s' -m %s -f %s --no-display-prompt -n %d --temp 0 -ctk f32 -t 2 2>/dev/null",
                 cli, fix_path(name, "model.gguf"), fix_path(name, "p1.txt"), N_GEN);
    FILE *pp = popen(cmd, "r");
    ck_assert_ptr_nonnull(pp);
    char out[4096];
    size_t got = fread(out, 1, sizeof out, pp);
    int st = pclose(pp);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: exit status %d", cmd, st);
    size_t want_len;
    char *want = tu_read_file(fix_path(name, "p1.greedy.text"), &want_len);
    ck_assert_ptr_nonnull(want);
    int same = got == want_len + 1 && !memcmp(out, want, want_len) && out[want_len] == '\n';
    ck_assert_msg(same, "%s: the CLI printed %zu bytes, the reference's greedy text is %zu + newline", cmd, got,
                  want_len);
    free(want);
}
END_TEST

/* ---- load errors ----------------------------------------------------------------------------- */

typedef struct {
    const char *drop_tensor;
    const char *reshape_tensor;   /* replaced by zeros, F32, of shape reshape_ne (1 or 2 dims) */
    int64_t reshape_ne[2];
    const char *retype_tensor;    /* same shape, zeros of ggml type retype */
    int retype;
    const char *add_tensor;       /* an extra F32 [4, 4] tensor */
    const char *drop_key;
    const char *u32_key;          /* add or replace */
    uint32_t u32_val;
    const char *f32_key;
    float f32_val;
    const char *bool_key;
    int bool_val;
    const char *str_key, *str_val;
} edits;

static int same(const char *a, const char *b) { return a && b && !strcmp(a, b); }

/* Copies src to the temporary file `dst` with the edits applied (every key type the fixtures use,
 * string arrays included); returns its path. */
static const char *rewrite(const char *src, const char *dst, const edits *ed) {
    graft_gguf *g;
    graft_error e;
    ck_assert_msg(graft_gguf_open(src, &g, &e) == GRAFT_OK, "%s", e.msg);
    gguf_writer *w = gguf_writer_new();
    for (int64_t i = 0; i < graft_gguf_n_kv(g); i++) {
        const char *key = graft_gguf_kv_key(g, i);
        if (same(key, ed->drop_key) || same(key, ed->u32_key) || same(key, ed->f32_key) ||
            same(key, ed->bool_key) || same(key, ed->str_key))
            continue;
        graft_gguf_value v = graft_gguf_kv_value(g, i);
        switch (v.type) {
        case GRAFT_GGUF_U32: gguf_writer_add_u32(w, key, (uint32_t)v.u); break;
        case GRAFT_GGUF_F32: gguf_writer_add_f32(w, key, (float)v.f); break;
        case GRAFT_GGUF_BOOL: gguf_writer_add_bool(w, key, (int)v.u); break;
        case GRAFT_GGUF_STRING: gguf_writer_add_str(w, key, v.str, v.len); break;
        case GRAFT_GGUF_ARRAY:
            if (v.arr_type == GRAFT_GGUF_STRING) {
                const char **s = malloc(v.arr_n * sizeof *s);
                size_t *l = malloc(v.arr_n * sizeof *l);
                for (uint64_t j = 0; j < v.arr_n; j++) {
                    graft_gguf_value x = graft_gguf_arr_get(g, &v, j);
                    s[j] = x.str;
                    l[j] = x.len;
                }
                gguf_writer_add_arr_str(w, key, s, l, v.arr_n);
                free(s);
                free(l);
            } else {
                ck_assert(v.arr_type == GRAFT_GGUF_I32 || v.arr_type == GRAFT_GGUF_F32);
                void *copy = malloc(v.arr_n * 4 + 1);
                memcpy(copy, graft_gguf_arr_data(g, &v), v.arr_n * 4);
                gguf_writer_add_arr(w, key, v.arr_type, copy, v.arr_n);
                free(copy);
            }
            break;
        default: ck_abort_msg("rewrite: key %s has type %d", key, v.type);
        }
    }
    if (ed->u32_key) gguf_writer_add_u32(w, ed->u32_key, ed->u32_val);
    if (ed->f32_key) gguf_writer_add_f32(w, ed->f32_key, ed->f32_val);
    if (ed->bool_key) gguf_writer_add_bool(w, ed->bool_key, ed->bool_val);
    if (ed->str_key) gguf_writer_add_str(w, ed->str_key, ed->str_val, strlen(ed->str_val));
    void *bufs[4];
    int nbufs = 0;
    for (int64_t i = 0; i < graft_gguf_n_tensors(g); i++) {
        graft_gguf_tensor t = graft_gguf_tensor_info(g, i);
        if (same(t.name, ed->drop_tensor)) continue;
        if (same(t.name, ed->reshape_tensor)) {
            const int nd = ed->reshape_ne[1] ? 2 : 1;
            size_t nb = (size_t)(ed->reshape_ne[0] * (nd == 2 ? ed->reshape_ne[1] : 1)) * sizeof(float);
            bufs[nbufs] = calloc(1, nb);
            gguf_writer_add_tensor(w, t.name, GRAFT_TYPE_F32, nd, ed->reshape_ne, bufs[nbufs++], nb, 0);
        } else if (same(t.name, ed->retype_tensor)) {
            int64_t n = t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3];
            size_t nb = (size_t)(n / graft_ggml_type_block_size(ed->retype) * graft_ggml_type_block_bytes(ed->retype));
            bufs[nbufs] = calloc(1, nb);
            gguf_writer_add_tensor(w, t.name, ed->retype, t.n_dims, t.ne, bufs[nbufs++], nb, 0);
        } else {
            gguf_writer_add_tensor(w, t.name, t.type, t.n_dims, t.ne, t.data, t.nbytes, 0);
        }
    }
    static const float zeros[16];
    static const int64_t ne44[2] = {4, 4};
    if (ed->add_tensor) gguf_writer_add_tensor(w, ed->add_tensor, GRAFT_TYPE_F32, 2, ne44, zeros, sizeof zeros, 0);
    const char *path = tu_tmppath(dst);
    ck_assert_msg(gguf_writer_write(w, path, &e) == GRAFT_OK, "rewrite: %s", e.msg);
    gguf_writer_free(w);
    for (int i = 0; i < nbufs; i++) free(bufs[i]);
    graft_gguf_close(g);
    return path;
}

/* Loading fails with `code` and one line that names the file and contains s1 and s2. */
static void expect_error(const char *path, int code, const char *s1, const char *s2) {
    graft_model *m = NULL;
    graft_error e;
    memset(&e, 0, sizeof e);
    int rc = graft_model_load(path, NULL, &m, &e);
    ck_assert_msg(rc == code, "%s: status %d, expected %d (%s)", path, rc, code, e.msg);
    ck_assert_ptr_null(m);
    ck_assert_msg(strncmp(e.msg, path, strlen(path)) == 0, "message does not start with the file: %s", e.msg);
    ck_assert_msg(!strchr(e.msg, '\n'), "message is not one line: %s", e.msg);
    ck_assert_msg(!s1 || strstr(e.msg, s1), "message lacks '%s': %s", s1, e.msg);
    ck_assert_msg(!s2 || strstr(e.msg, s2), "message lacks '%s': %s", s2, e.msg);
    fprintf(stderr, "opt error (expected): %s\n", e.msg);
}

START_TEST(test_load_errors) {
    const char *pre = FIX "pre-tied/model.gguf", *post = FIX "post-untied/model.gguf";
    struct {
        const char *src, *dst;
        edits ed;
        int code;
        const char *s1, *s2;
    } cases[] = {
        /* missing tensors */
        {pre, "no_kbias.gguf", {.drop_tensor = "blk.1.attn_k.bias"}, GRAFT_E_FORMAT, "missing tensor", "'blk.1.attn_k.bias'"},
        {pre, "no_pos.gguf", {.drop_tensor = "position_embd.weight"}, GRAFT_E_FORMAT, "missing tensor", "'position_embd.weight'"},
        {pre, "no_tok.gguf", {.drop_tensor = "token_embd.weight"}, GRAFT_E_FORMAT, "missing tensor", "'token_embd.weight'"},
        {pre, "no_onb.gguf", {.drop_tensor = "output_norm.bias"}, GRAFT_E_FORMAT, "missing tensor", "'output_norm.bias'"},
        {post, "no_ffnw.gguf", {.drop_tensor = "blk.0.ffn_norm.weight"}, GRAFT_E_FORMAT, "missing tensor", "'blk.0.ffn_norm.weight'"},
        /* wrong shapes and types */
        {pre, "pos_rows.gguf", {.reshape_tensor = "position_embd.weight", .reshape_ne = {32, 64}}, GRAFT_E_FORMAT,
         "'position_embd.weight' has 64 rows", "opt.context_length + 2 = 66"},
        {pre, "fc1_shape.gguf", {.reshape_tensor = "blk.0.ffn_up.weight", .reshape_ne = {32, 64}}, GRAFT_E_FORMAT,
         "'blk.0.ffn_up.weight' has shape [32, 64]", "[32, 128]"},
        {pre, "qbias_shape.gguf", {.reshape_tensor = "blk.1.attn_q.bias", .reshape_ne = {16, 0}}, GRAFT_E_FORMAT,
         "'blk.1.attn_q.bias' has shape [16]", "expected [32]"},
        {post, "out_shape.gguf", {.reshape_tensor = "output.weight", .reshape_ne = {48, 200}}, GRAFT_E_FORMAT,
         "'output.weight'", "[48, 286]"},
        {pre, "q_i32.gguf", {.retype_tensor = "blk.0.attn_q.weight", .retype = 26}, GRAFT_E_UNSUPPORTED,
         "'blk.0.attn_q.weight' has type i32", NULL},
        {pre, "bias_q8.gguf", {.retype_tensor = "blk.0.attn_output.bias", .retype = GRAFT_TYPE_Q8_0}, GRAFT_E_UNSUPPORTED,
         "'blk.0.attn_output.bias' has type q8_0", NULL},
        /* variants graft does not implement */
        {pre, "proj_in.gguf", {.add_tensor = "project_in.weight"}, GRAFT_E_UNSUPPORTED, "'project_in.weight'",
         "word_embed_proj_dim"},
        {pre, "proj_dim.gguf", {.u32_key = "opt.word_embed_proj_dim", .u32_val = 16}, GRAFT_E_UNSUPPORTED,
         "opt.word_embed_proj_dim = 16", "project_in"},
        {pre, "tok_width.gguf", {.reshape_tensor = "token_embd.weight", .reshape_ne = {16, 286}}, GRAFT_E_UNSUPPORTED,
         "token_embd.weight rows are 16 wide", "project_in"},
        /* LayerNorm placement vs the final norm */
        {pre, "post_with_norm.gguf", {.bool_key = "opt.layer_norm_before", .bool_val = 0}, GRAFT_E_FORMAT,
         "'output_norm'", "layer_norm_before is false"},
        {post, "pre_without_norm.gguf", {.bool_key = "opt.layer_norm_before", .bool_val = 1}, GRAFT_E_FORMAT,
         "missing tensor", "'output_norm.weight'"},
        /* bad keys */
        {pre, "no_ctx.gguf", {.drop_key = "opt.context_length"}, GRAFT_E_FORMAT, "'opt.context_length'", "not found"},
        {pre, "no_heads.gguf", {.drop_key = "opt.attention.head_count"}, GRAFT_E_FORMAT, "'opt.attention.head_count'", NULL},
        {pre, "heads5.gguf", {.u32_key = "opt.attention.head_count", .u32_val = 5}, GRAFT_E_FORMAT,
         "opt.embedding_length 32", "head_count 5"},
        {pre, "blocks.gguf", {.u32_key = "opt.block_count", .u32_val = 100000}, GRAFT_E_FORMAT,
         "opt.block_count = 100000", "only 36 tensors"},
        {pre, "ctx0.gguf", {.u32_key = "opt.context_length", .u32_val = 0}, GRAFT_E_FORMAT, "opt.context_length = 0",
         "out of range"},
        {pre, "eps.gguf", {.f32_key = "opt.attention.layer_norm_epsilon", .f32_val = -1.0f}, GRAFT_E_FORMAT,
         "opt.attention.layer_norm_epsilon = -1", "out of range"},
        {pre, "lnb_str.gguf", {.str_key = "opt.layer_norm_before", .str_val = "yes"}, GRAFT_E_FORMAT,
         "'opt.layer_norm_before'", "expected"},
        {pre, "arch.gguf", {.str_key = "general.architecture", .str_val = "gptj"}, GRAFT_E_UNSUPPORTED, "'gptj'",
         "llama, opt"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(rewrite(cases[i].src, cases[i].dst, &cases[i].ed), cases[i].code, cases[i].s1, cases[i].s2);

    /* a truncated file: the reader names the file and the first tensor past the end */
    size_t len;
    unsigned char *bytes = tu_read_file(pre, &len);
    ck_assert_ptr_nonnull(bytes);
    const char *cut = tu_tmppath("truncated.gguf");
    FILE *f = fopen(cut, "wb");
    ck_assert_uint_eq(fwrite(bytes, 1, len / 2, f), len / 2);
    fclose(f);
    free(bytes);
    expect_error(cut, GRAFT_E_FORMAT, "tensor '", "past the end of the file");
}
END_TEST

/* ---- the per-token path allocates nothing ------------------------------------------------------ */

/* After a warm-up, 8 single-token decodes (ids, then an embedding row) neither move the heap's
 * in-use bytes nor make one malloc/calloc/realloc call: the failing-allocator hook (alloc_hook.c),
 * armed to fail the very next allocation, must find none to fail. */
START_TEST(test_decode_allocates_nothing) {
    const char *name = FIXTURES[_i];
    graft_model *m = load(fix_path(name, "model.gguf"));
    const int E = graft_model_n_embd(m);
    graft_ctx_params p = graft_ctx_default_params(); /* f16 KV cache, as the CLI */
    p.n_threads = 2;
    graft_ctx *c;
    graft_error e;
    ck_assert_int_eq(graft_ctx_new(m, &p, &c, &e), GRAFT_OK);
    int32_t ids[4] = {2, 270, 280, 100};
    float *row = malloc((size_t)E * sizeof(float));
    graft_tensor_row_f32(graft_kernels_get(), &m->tok_embd, 77, row);
    ck_assert_int_eq(graft_decode(c, ids, NULL, 4), GRAFT_OK); /* warm: thread pool, lazy init */
    ck_assert_int_eq(graft_decode(c, ids + 1, NULL, 1), GRAFT_OK);
    /* no ck_assert inside the window: Check itself allocates in fork mode */
    int rc = GRAFT_OK;
    struct mallinfo2 m0 = mallinfo2();
    tu_alloc_fail_after(0);
    for (int i = 0; i < 8; i++) rc |= graft_decode(c, i % 2 ? ids + 1 + i % 3 : NULL, row, 1);
    int allocated = tu_alloc_disarm();
    struct mallinfo2 m1 = mallinfo2();
    ck_assert_int_eq(rc, GRAFT_OK);
    ck_assert_msg(!allocated, "%s: decode called the allocator", name);
    ck_assert_msg(m0.uordblks == m1.uordblks && m0.hblkhd == m1.hblkhd, "%s: decode allocated: %zu -> %zu bytes",
                  name, m0.uordblks, m1.uordblks);
    free(row);
    graft_ctx_free(c);
    graft_model_free(m);
}
END_TEST

Suite *suite_opt(void) {
    Suite *s = suite_create("opt");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_loop_test(tc, test_reference_fixtures, 0, N_FIXTURES);
    tcase_add_test(tc, test_weight_bytes);
    tcase_add_loop_test(tc, test_threads_and_batching, 0, N_FIXTURES);
    tcase_add_loop_test(tc, test_embedding_rows, 0, N_FIXTURES);
    tcase_add_test(tc, test_context_limit);
    tcase_add_test(tc, test_tokenizer);
    tcase_add_loop_test(tc, test_cli, 0, 2 * N_FIXTURES);
    tcase_add_test(tc, test_load_errors);
    tcase_add_loop_test(tc, test_decode_allocates_nothing, 0, N_FIXTURES);
    suite_add_tcase(s, tc);
    return s;
}
