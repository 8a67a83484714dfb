/* test_hf_vocab.c - suite hf_vocab: Hugging Face tokenizer files -> tokenizer.ggml.* metadata
 * (src/hf_vocab.c). Against llama.cpp's converter output (the llava-tiny-b GGUF in ../shared),
 * llama.cpp's SPM test vectors, a hand-written Llama-style tokenizer.json with ids from an
 * independent BPE (tests/reference/make_hf_tokenizer_fixture.py), and corrupted inputs. */
#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "graft.h"
#include "gguf_write.h"
#include "hf_vocab.h"
#include "test_util.h"
#include "tokenizer.h"
#include "vocab.h"

#define FIX "tests/fixtures/hf_tok"

/* ---- helpers ----------------------------------------------------------------------------------- */

/* Runs graft_hf_vocab_add on dir and writes the result to a temp GGUF; returns the status. */
static int add_to_file(const char *dir, const cJSON *config, int64_t n_embd, const char *out, graft_error *err) {
    gguf_writer *w = gguf_writer_new();
    ck_assert_ptr_nonnull(w);
    int rc = graft_hf_vocab_add(dir, config, n_embd, w, err);
    if (!rc) rc = gguf_writer_write(w, out, err);
    gguf_writer_free(w);
    return rc;
}

static graft_vocab *vocab_of(const char *dir, const cJSON *config, int64_t n_embd, const char *name) {
    graft_error err = {0};
    const char *out = tu_tmppath(name);
    ck_assert_msg(add_to_file(dir, config, n_embd, out, &err) == GRAFT_OK, "%s", err.msg);
    graft_vocab *v = NULL;
    ck_assert_msg(graft_vocab_load_file(out, &v, &err) == GRAFT_OK, "%s", err.msg);
    return v;
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    fclose(f);
}

static void write_text(const char *path, const char *s) { write_bytes(path, s, strlen(s)); }

/* A fresh empty directory under the test temp dir. */
static const char *fresh_dir(const char *name) {
    static char buf[4][1024];
    static int k;
    char *p = buf[k++ & 3];
    snprintf(p, 1024, "%s", tu_tmppath(name));
    mkdir(p, 0755);
    const char *files[] = {"tokenizer.model", "tokenizer.json", "tokenizer_config.json", "added_tokens.json",
                           "special_tokens_map.json", "generation_config.json"};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char f[1100];
        snprintf(f, sizeof f, "%s/%s", p, files[i]);
        unlink(f);
    }
    return p;
}

static void copy_file(const char *from, const char *to) {
    size_t n;
    void *b = tu_read_file(from, &n);
    ck_assert_msg(b != NULL, "cannot read %s", from);
    write_bytes(to, b, n);
    free(b);
}

static int check_ids(const char *label, const int32_t *got, size_t n_got, const int32_t *want, size_t n_want) {
    int ok = n_got == n_want && (n_got == 0 || !memcmp(got, want, n_got * sizeof *got));
    if (!ok) {
        fprintf(stderr, "%s: want", label);
        for (size_t i = 0; i < n_want; i++) fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n%s: got ", label);
        for (size_t i = 0; i < n_got; i++) fprintf(stderr, " %d", got[i]);
        fprintf(stderr, "\n");
    }
    return ok;
}

/* ---- llava-tiny-b: the converter's vocabulary ----------------------------------------------- */

/* Compares every tokenizer.* key of the reference GGUF with ours: strings and scalars by value,
 * arrays element by element (scores bit for bit). */
static void compare_tokenizer_keys(const graft_gguf *ref, const graft_gguf *got) {
    int n_keys = 0;
    for (int64_t i = 0; i < graft_gguf_n_kv(ref); i++) {
        const char *key = graft_gguf_kv_key(ref, i);
        if (strncmp(key, "tokenizer.", 10)) continue;
        n_keys++;
        int64_t j = graft_gguf_find_kv(got, key);
        ck_assert_msg(j >= 0, "%s missing", key);
        graft_gguf_value a = graft_gguf_kv_value(ref, i), b = graft_gguf_kv_value(got, j);
        ck_assert_msg(a.type == b.type, "%s: type %d vs %d", key, a.type, b.type);
        if (a.type == GRAFT_GGUF_STRING) {
            ck_assert_msg(a.len == b.len && !memcmp(a.str, b.str, a.len), "%s differs", key);
        } else if (a.type == GRAFT_GGUF_ARRAY) {
            ck_assert_msg(a.arr_type == b.arr_type && a.arr_n == b.arr_n, "%s: %llu vs %llu elements", key,
                          (unsigned long long)a.arr_n, (unsigned long long)b.arr_n);
            int bad = 0;
            for (uint64_t k = 0; k < a.arr_n; k++) {
                graft_gguf_value x = graft_gguf_arr_get(ref, &a, k), y = graft_gguf_arr_get(got, &b, k);
                int same = x.type == GRAFT_GGUF_STRING ? x.len == y.len && !memcmp(x.str, y.str, x.len)
                           : x.type == GRAFT_GGUF_F32  ? memcmp(&x.f, &y.f, sizeof x.f) == 0
                                                       : x.u == y.u && x.i == y.i;
                if (!same && bad++ < 5)
                    fprintf(stderr, "%s[%llu]: '%.*s' %g %lld vs '%.*s' %g %lld\n", key, (unsigned long long)k,
                            (int)x.len, x.str ? x.str : "", x.f, (long long)x.i, (int)y.len, y.str ? y.str : "", y.f,
                            (long long)y.i);
            }
            ck_assert_msg(bad == 0, "%s: %d elements differ", key, bad);
        } else {
            ck_assert_msg(a.u == b.u && a.i == b.i && a.f == b.f, "%s: value differs", key);
        }
    }
    ck_assert_int_ge(n_keys, 7);
    /* and nothing more than the reference has, except a chat template */
    for (int64_t i = 0; i < graft_gguf_n_kv(got); i++) {
        const char *key = graft_gguf_kv_key(got, i);
        ck_assert_msg(graft_gguf_find_kv(ref, key) >= 0, "extra key %s", key);
    }
}

START_TEST(llava_tiny_matches_converter) {
    const char *dir = tu_shared("fixtures/hf/llava-tiny-b/hf");
    const char *ref_path = tu_shared("fixtures/hf/llava-tiny-b/gguf/llava-tiny-b-llm-f32.gguf");
    if (!dir || !ref_path) return;
    char dirc[1024], refc[1024], cfgp[1100];
    snprintf(dirc, sizeof dirc, "%s", dir);
    snprintf(refc, sizeof refc, "%s", ref_path);
    snprintf(cfgp, sizeof cfgp, "%s/config.json", dirc);
    size_t n;
    char *txt = tu_read_file(cfgp, &n);
    ck_assert_ptr_nonnull(txt);
    cJSON *config = cJSON_ParseWithLength(txt, n);
    free(txt);
    ck_assert_ptr_nonnull(config);

    graft_error err = {0};
    const char *out = tu_tmppath("llava_tiny_vocab.gguf");
    /* n_embd = the embedding rows (32064); 0 must give the same from text_config.vocab_size */
    for (int pass = 0; pass < 2; pass++) {
        ck_assert_msg(add_to_file(dirc, config, pass ? 0 : 32064, out, &err) == GRAFT_OK, "%s", err.msg);
        graft_gguf *ref, *got;
        ck_assert_msg(graft_gguf_open(refc, &ref, &err) == GRAFT_OK, "%s", err.msg);
        ck_assert_msg(graft_gguf_open(out, &got, &err) == GRAFT_OK, "%s", err.msg);
        compare_tokenizer_keys(ref, got);
        graft_gguf_close(ref);
        graft_gguf_close(got);
    }
    cJSON_Delete(config);

    /* the HF prompt: "USER: <image>\nWhat is shown? ASSISTANT:" -> input_ids.npy */
    graft_vocab *v;
    ck_assert_msg(graft_vocab_load_file(out, &v, &err) == GRAFT_OK, "%s", err.msg);
    static const int32_t want[] = {1, 3148, 1001, 29901, 29871, 32000, 13, 5618, 338, 4318, 29973, 319, 1799, 9047, 13566, 29901};
    int32_t all[32], *ids;
    size_t n_all = 0, n_ids;
    ck_assert_int_eq(graft_tokenize(v, "USER: ", 6, 1, 1, &ids, &n_ids, &err), GRAFT_OK);
    memcpy(all, ids, n_ids * sizeof *ids), n_all = n_ids, free(ids);
    ck_assert_int_eq(graft_tokenize(v, "<image>", 7, 0, 1, &ids, &n_ids, &err), GRAFT_OK);
    ck_assert(n_ids == 1 && ids[0] == 32000);
    all[n_all++] = ids[0], free(ids);
    const char *rest = "\nWhat is shown? ASSISTANT:";
    ck_assert_int_eq(graft_tokenize_continue(v, rest, strlen(rest), 1, &ids, &n_ids, &err), GRAFT_OK);
    memcpy(all + n_all, ids, n_ids * sizeof *ids), n_all += n_ids, free(ids);
    ck_assert(check_ids("llava prompt", all, n_all, want, sizeof want / sizeof want[0]));
    ck_assert_int_eq(v->n_tokens, 32064);
    ck_assert_int_eq(v->pad, 32001);
    graft_vocab_free(v);
}
END_TEST

/* ---- llama-2 tokenizer.model against llama.cpp's vectors -------------------------------------- */

static char *read_all(const char *path, size_t *n) {
    char *b = tu_read_file(path, n);
    ck_assert_msg(b != NULL, "cannot read %s", path);
    char *s = realloc(b, *n + 1);
    s[*n] = 0;
    return s;
}

/* Runs llama.cpp's test vectors NAME.inp / NAME.out from ../shared/vocab (without BOS, without
 * parsing special tokens); all must match. */
static void run_vectors(const graft_vocab *v, const char *name) {
    char rel[256];
    snprintf(rel, sizeof rel, "vocab/%s.inp", name);
    const char *inp_path = tu_shared(rel);
    if (!inp_path) return;
    size_t n_inp, n_out;
    char *inp = read_all(inp_path, &n_inp);
    snprintf(rel, sizeof rel, "vocab/%s.out", name);
    char *outs = read_all(tu_shared(rel), &n_out);
    static const char marker[] = "\n__ggml_vocab_test__\n";
    size_t ml = sizeof marker - 1;
    char *line = outs;
    int n_cases = 0, pass = 0;
    for (size_t off = 0; off < n_inp;) {
        char *m = memmem(inp + off, n_inp - off, marker, ml);
        ck_assert_ptr_nonnull(m);
        ck_assert(line < outs + n_out);
        char *eol = strchr(line, '\n');
        if (eol) *eol = 0;
        int32_t want[4096];
        size_t n_want = 0;
        for (char *q = line, *e;; q = e) {
            long x = strtol(q, &e, 10);
            if (e == q) break;
            ck_assert(n_want < 4096);
            want[n_want++] = (int32_t)x;
        }
        int32_t *ids;
        size_t n_ids;
        graft_error err = {0};
        ck_assert_msg(graft_tokenize(v, inp + off, (size_t)(m - (inp + off)), 0, 0, &ids, &n_ids, &err) == GRAFT_OK,
                      "%s", err.msg);
        char label[96];
        snprintf(label, sizeof label, "%s case %d", name, n_cases);
        pass += check_ids(label, ids, n_ids, want, n_want);
        free(ids);
        n_cases++;
        off = (size_t)(m - inp) + ml;
        line = eol ? eol + 1 : outs + n_out;
    }
    ck_assert_int_gt(n_cases, 10);
    ck_assert_msg(pass == n_cases, "%d of %d %s vectors match", pass, n_cases, name);
    free(inp), free(outs);
}

START_TEST(llama2_spm_vectors) {
    const char *model = tu_shared("vocab/llama2-tokenizer.model");
    if (!model) return;
    const char *dir = fresh_dir("llama2_dir");
    char p[1100];
    snprintf(p, sizeof p, "%s/tokenizer.model", dir);
    copy_file(model, p);
    graft_vocab *v = vocab_of(dir, NULL, 0, "llama2_vocab.gguf");
    ck_assert_int_eq(v->n_tokens, 32000);

    /* the token table equals llama.cpp's own ggml-vocab-llama-spm.gguf where it has one */
    const char *ref_path = tu_shared("vocab/ggml-vocab-llama-spm.gguf");
    if (ref_path) {
        graft_vocab *r;
        graft_error err = {0};
        ck_assert_msg(graft_vocab_load_file(ref_path, &r, &err) == GRAFT_OK, "%s", err.msg);
        ck_assert_int_eq(r->n_tokens, v->n_tokens);
        int bad = 0;
        for (int32_t i = 0; i < v->n_tokens; i++) {
            int same = r->len[i] == v->len[i] && !memcmp(r->text[i], v->text[i], v->len[i]) &&
                       r->score[i] == v->score[i] && r->attr[i] == v->attr[i];
            if (!same && bad++ < 5)
                fprintf(stderr, "token %d: '%s' %g %u vs '%s' %g %u\n", i, r->text[i], r->score[i], r->attr[i],
                        v->text[i], v->score[i], v->attr[i]);
        }
        ck_assert_msg(bad == 0, "%d tokens differ from ggml-vocab-llama-spm.gguf", bad);
        ck_assert_int_eq(r->bos, v->bos);
        ck_assert_int_eq(r->eos, v->eos);
        ck_assert_int_eq(r->unk, v->unk);
        ck_assert_int_eq(r->add_space_prefix, v->add_space_prefix);
        graft_vocab_free(r);
    }

    run_vectors(v, "ggml-vocab-llama-spm.gguf");
    graft_vocab_free(v);
}
END_TEST

/* ---- tokenizer.json (Llama-style BPE with byte fallback) --------------------------------------- */

START_TEST(tokenizer_json_fixture) {
    size_t n;
    char *txt = read_all(FIX "/expected.json", &n);
    cJSON *exp = cJSON_Parse(txt);
    free(txt);
    ck_assert_ptr_nonnull(exp);
    int n_base = cJSON_GetObjectItem(exp, "n_base")->valueint;
    graft_vocab *v = vocab_of(FIX "/json", NULL, 0, "json_vocab.gguf");
    ck_assert_int_eq(v->n_tokens, n_base + 1);
    ck_assert_int_eq(v->bos, 1);
    ck_assert_int_eq(v->eos, 2);
    ck_assert_int_eq(v->unk, 0);
    ck_assert_int_eq(v->add_bos, 1);
    ck_assert_int_eq(v->add_eos, 0);
    ck_assert_int_eq(v->add_space_prefix, 1); /* from the Prepend normalizer */
    ck_assert(v->attr[0] & GRAFT_ATTR_CONTROL);
    ck_assert(v->attr[3] & GRAFT_ATTR_BYTE);     /* <0x00> */
    ck_assert(v->attr[n_base] & GRAFT_ATTR_CONTROL); /* <image>: an additional special token */

    int n_cases = 0, pass = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(exp, "cases")) {
        const char *text = cJSON_GetObjectItem(c, "text")->valuestring;
        const cJSON *jids = cJSON_GetObjectItem(c, "ids");
        int32_t want[256];
        size_t n_want = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, jids) want[n_want++] = x->valueint;
        int32_t *ids;
        size_t n_ids;
        graft_error err = {0};
        ck_assert_int_eq(graft_tokenize(v, text, strlen(text), 1, 0, &ids, &n_ids, &err), GRAFT_OK);
        pass += check_ids(text, ids, n_ids, want, n_want);
        free(ids);
        n_cases++;
    }
    ck_assert_int_ge(n_cases, 10);
    ck_assert_msg(pass == n_cases, "%d of %d tokenizer.json cases match HF", pass, n_cases);

    /* <image> with parse_special */
    int32_t *ids;
    size_t n_ids;
    graft_error err = {0};
    ck_assert_int_eq(graft_tokenize(v, "<image>", 7, 0, 1, &ids, &n_ids, &err), GRAFT_OK);
    ck_assert(n_ids == 1 && ids[0] == n_base);
    free(ids);
    graft_vocab_free(v);
    cJSON_Delete(exp);

    /* the chat template is carried over; padding to the embedding rows */
    gguf_writer *w = gguf_writer_new();
    ck_assert_int_eq(graft_hf_vocab_add(FIX "/json", NULL, n_base + 9, w, &err), GRAFT_OK);
    const char *out = tu_tmppath("json_vocab_pad.gguf");
    ck_assert_int_eq(gguf_writer_write(w, out, &err), GRAFT_OK);
    gguf_writer_free(w);
    graft_gguf *g;
    ck_assert_int_eq(graft_gguf_open(out, &g, &err), GRAFT_OK);
    const char *s;
    size_t len;
    ck_assert_int_eq(graft_gguf_get_str(g, "tokenizer.chat_template", &s, &len, &err), GRAFT_OK);
    ck_assert(len > 10 && !memcmp(s, "{% for m in", 11));
    graft_gguf_close(g);
    ck_assert_int_eq(graft_vocab_load_file(out, &v, &err), GRAFT_OK);
    ck_assert_int_eq(v->n_tokens, n_base + 9);
    ck_assert(v->attr[n_base + 8] & GRAFT_ATTR_UNUSED);
    ck_assert_int_eq(v->len[n_base + 8], strlen("[PAD347]"));
    graft_vocab_free(v);

    /* fewer rows than tokens: an error naming the file */
    w = gguf_writer_new();
    ck_assert_int_eq(graft_hf_vocab_add(FIX "/json", NULL, n_base, w, &err), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "tokenizer.json"));
    gguf_writer_free(w);
}
END_TEST

/* ---- the Llama-2 vocabulary as a tokenizer.json ------------------------------------------------ */

typedef struct split {
    float score; /* of the merged piece */
    int32_t id, l, r;
} split;

/* HF's SentencePieceExtractor order: merged piece's score (best first), then its id, then the
 * parts' ids */
static int cmp_split(const void *a, const void *b) {
    const split *x = a, *y = b;
    if (x->score != y->score) return x->score < y->score ? 1 : -1;
    if (x->id != y->id) return (x->id > y->id) - (x->id < y->id);
    return x->l != y->l ? (x->l > y->l) - (x->l < y->l) : (x->r > y->r) - (x->r < y->r);
}

/* Writes llama2-tokenizer.model as the tokenizer.json HF's converter makes of it (vocab = pieces by
 * id, merges = every split of every normal piece into two pieces, ordered as cmp_split), then
 * checks graft's conversion of it against llama.cpp's SPM vectors: the merge-rank scores must
 * reproduce SentencePiece's merge order on a real 32k vocabulary. */
START_TEST(llama2_as_tokenizer_json) {
    const char *model = tu_shared("vocab/llama2-tokenizer.model");
    if (!model) return;
    const char *sdir = fresh_dir("llama2_spm_dir");
    char p[1100];
    snprintf(p, sizeof p, "%s/tokenizer.model", sdir);
    copy_file(model, p);
    graft_vocab *sv = vocab_of(sdir, NULL, 0, "llama2_for_json.gguf");

    cJSON *root = cJSON_CreateObject(), *m = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(m, "type", "BPE");
    cJSON_AddTrueToObject(m, "byte_fallback");
    cJSON *vocab = cJSON_AddObjectToObject(m, "vocab"), *merges = cJSON_AddArrayToObject(m, "merges");
    cJSON *added = cJSON_AddArrayToObject(root, "added_tokens");
    size_t cap = 1 << 16, ns = 0;
    split *sp = malloc(cap * sizeof *sp);
    for (int32_t i = 0; i < sv->n_tokens; i++) {
        cJSON_AddNumberToObject(vocab, sv->text[i], i);
        if (i < 3) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddNumberToObject(a, "id", i);
            cJSON_AddStringToObject(a, "content", sv->text[i]);
            cJSON_AddTrueToObject(a, "special");
            cJSON_AddItemToArray(added, a);
        }
        if (!(sv->attr[i] & GRAFT_ATTR_NORMAL)) continue;
        for (uint32_t k = 1; k < sv->len[i]; k++) {
            if (((unsigned char)sv->text[i][k] & 0xc0) == 0x80) continue; /* inside a character */
            int32_t l = graft_vocab_find(sv, sv->text[i], k), r = graft_vocab_find(sv, sv->text[i] + k, sv->len[i] - k);
            if (l < 0 || r < 0) continue;
            if (ns == cap) sp = realloc(sp, (cap *= 2) * sizeof *sp);
            sp[ns].score = sv->score[i], sp[ns].id = i, sp[ns].l = l, sp[ns].r = r, ns++;
        }
    }
    qsort(sp, ns, sizeof *sp, cmp_split);
    char line[512];
    for (size_t k = 0; k < ns; k++) {
        snprintf(line, sizeof line, "%s %s", sv->text[sp[k].l], sv->text[sp[k].r]);
        cJSON_AddItemToArray(merges, cJSON_CreateString(line));
    }
    int n_merges = (int)ns;
    free(sp);
    cJSON *nz = cJSON_AddObjectToObject(root, "normalizer");
    cJSON_AddStringToObject(nz, "type", "Sequence");
    cJSON *nl = cJSON_AddArrayToObject(nz, "normalizers"), *n1 = cJSON_CreateObject();
    cJSON_AddStringToObject(n1, "type", "Prepend");
    cJSON_AddStringToObject(n1, "prepend", "\xe2\x96\x81");
    cJSON_AddItemToArray(nl, n1);
    cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "decoder"), "type", "Sequence");
    const char *jdir = fresh_dir("llama2_json_dir");
    snprintf(p, sizeof p, "%s/tokenizer.json", jdir);
    char *txt = cJSON_PrintUnformatted(root);
    write_text(p, txt);
    free(txt);
    cJSON_Delete(root);
    ck_assert_int_gt(n_merges, 60000);

    graft_vocab *v = vocab_of(jdir, NULL, 0, "llama2_json.gguf");
    ck_assert_int_eq(v->n_tokens, 32000);
    /* same strings, same kinds of token (but <unk>, <s>, </s>: LlamaHfVocab types specials by the
     * special-token strings, and this directory has none) */
    for (int32_t i = 0; i < v->n_tokens; i++)
        ck_assert_msg(v->len[i] == sv->len[i] && !memcmp(v->text[i], sv->text[i], v->len[i]) &&
                          (i < 3 || v->attr[i] == sv->attr[i]),
                      "token %d: '%s' %u vs '%s' %u", i, v->text[i], v->attr[i], sv->text[i], sv->attr[i]);
    run_vectors(v, "ggml-vocab-llama-spm.gguf");
    graft_vocab_free(v);
    graft_vocab_free(sv);
}
END_TEST

/* ---- byte-level BPE: GPT-2's tokenizer.json, rebuilt from llama.cpp's converted vocabulary ------ */

/* Writes a tokenizer.json as HF stores GPT-2's (model.vocab without the added token, merges,
 * <|endoftext|> in added_tokens, ByteLevel pre-tokenizer and decoder) from the GGUF's arrays. */
static void write_gpt2_json(const graft_gguf *g, const char *path, int pair_merges) {
    graft_gguf_value toks, types, merges;
    graft_error err = {0};
    ck_assert_int_eq(graft_gguf_get_arr(g, "tokenizer.ggml.tokens", GRAFT_GGUF_STRING, &toks, &err), GRAFT_OK);
    ck_assert_int_eq(graft_gguf_get_arr(g, "tokenizer.ggml.token_type", GRAFT_GGUF_I32, &types, &err), GRAFT_OK);
    ck_assert_int_eq(graft_gguf_get_arr(g, "tokenizer.ggml.merges", GRAFT_GGUF_STRING, &merges, &err), GRAFT_OK);
    const int32_t *ty = graft_gguf_arr_data(g, &types);
    cJSON *root = cJSON_CreateObject(), *model = cJSON_AddObjectToObject(root, "model");
    cJSON_AddStringToObject(model, "type", "BPE");
    cJSON *vocab = cJSON_AddObjectToObject(model, "vocab"), *added = cJSON_AddArrayToObject(root, "added_tokens");
    char buf[1024];
    for (uint64_t i = 0; i < toks.arr_n; i++) {
        graft_gguf_value t = graft_gguf_arr_get(g, &toks, i);
        ck_assert(t.len < sizeof buf);
        memcpy(buf, t.str, t.len), buf[t.len] = 0;
        int32_t tt;
        memcpy(&tt, ty + i, 4);
        if (tt == 3) {
            cJSON *a = cJSON_CreateObject();
            cJSON_AddNumberToObject(a, "id", (double)i);
            cJSON_AddStringToObject(a, "content", buf);
            cJSON_AddTrueToObject(a, "special");
            cJSON_AddItemToArray(added, a);
        } else {
            cJSON_AddNumberToObject(vocab, buf, (double)i);
        }
    }
    cJSON *ml = cJSON_AddArrayToObject(model, "merges");
    for (uint64_t i = 0; i < merges.arr_n; i++) {
        graft_gguf_value m = graft_gguf_arr_get(g, &merges, i);
        memcpy(buf, m.str, m.len), buf[m.len] = 0;
        if (!pair_merges) {
            cJSON_AddItemToArray(ml, cJSON_CreateString(buf));
        } else { /* the newer [a, b] form (no spaces inside GPT-2's parts) */
            char *sp = strchr(buf, ' ');
            *sp = 0;
            const char *pair[2] = {buf, sp + 1};
            cJSON_AddItemToArray(ml, cJSON_CreateStringArray(pair, 2));
        }
    }
    cJSON *pt = cJSON_AddObjectToObject(root, "pre_tokenizer");
    cJSON_AddStringToObject(pt, "type", "ByteLevel");
    cJSON_AddFalseToObject(pt, "add_prefix_space");
    cJSON_AddTrueToObject(pt, "use_regex");
    cJSON_AddStringToObject(cJSON_AddObjectToObject(root, "decoder"), "type", "ByteLevel");
    char *txt = cJSON_PrintUnformatted(root);
    write_text(path, txt);
    free(txt);
    cJSON_Delete(root);
}

START_TEST(gpt2_tokenizer_json) {
    const char *ref_path = tu_shared("vocab/ggml-vocab-gpt-2.gguf");
    if (!ref_path) return;
    graft_gguf *ref;
    graft_error err = {0};
    ck_assert_msg(graft_gguf_open(ref_path, &ref, &err) == GRAFT_OK, "%s", err.msg);
    cJSON *config = cJSON_Parse("{\"vocab_size\": 50257, \"bos_token_id\": 50256, \"eos_token_id\": 50256}");
    for (int pairs = 0; pairs < 2; pairs++) {
        const char *dir = fresh_dir("gpt2_dir");
        char p[1100];
        snprintf(p, sizeof p, "%s/tokenizer.json", dir);
        write_gpt2_json(ref, p, pairs);
        const char *out = tu_tmppath("gpt2_vocab.gguf");
        ck_assert_msg(add_to_file(dir, config, 50257, out, &err) == GRAFT_OK, "%s", err.msg);
        graft_gguf *got;
        ck_assert_msg(graft_gguf_open(out, &got, &err) == GRAFT_OK, "%s", err.msg);
        compare_tokenizer_keys(ref, got); /* tokens, types, merges, pre, bos, eos */
        graft_gguf_close(got);
        if (pairs) {
            graft_vocab *v;
            ck_assert_msg(graft_vocab_load_file(out, &v, &err) == GRAFT_OK, "%s", err.msg);
            run_vectors(v, "ggml-vocab-gpt-2.gguf");
            graft_vocab_free(v);
        }
    }
    cJSON_Delete(config);
    graft_gguf_close(ref);
}
END_TEST

/* ---- add_space_prefix from a tokenizer.json's normalizer / pre-tokenizer -------------------- */

START_TEST(json_prefix_space) {
    static const char *const head =
        "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"<unk>\": 0, \"<s>\": 1,"
        " \"</s>\": 2, \"a\": 3}, \"merges\": []}, \"decoder\": {\"type\": \"Sequence\"}";
    static const struct {
        const char *tail;
        int want;
    } cases[] = {
        {"}", 0},
        {", \"normalizer\": {\"type\": \"Prepend\", \"prepend\": \"\u2581\"}}", 1},
        {", \"normalizer\": {\"type\": \"Sequence\", \"normalizers\": [{\"type\": \"Replace\"}]}}", 0},
        {", \"pre_tokenizer\": {\"type\": \"Metaspace\", \"replacement\": \"\u2581\", \"prepend_scheme\": \"first\"}}", 1},
        {", \"pre_tokenizer\": {\"type\": \"Metaspace\", \"prepend_scheme\": \"never\"}}", 0},
        {", \"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": [{\"type\": \"Metaspace\","
         " \"add_prefix_space\": true}]}}", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *dir = fresh_dir("prefix_case");
        char p[1100], json[1024];
        snprintf(p, sizeof p, "%s/tokenizer.json", dir);
        snprintf(json, sizeof json, "%s%s", head, cases[i].tail);
        write_text(p, json);
        char name[32];
        snprintf(name, sizeof name, "prefix%zu.gguf", i);
        graft_vocab *v = vocab_of(dir, NULL, 0, name);
        ck_assert_msg(v->add_space_prefix == cases[i].want, "case %zu: add_space_prefix %d", i, v->add_space_prefix);
        graft_vocab_free(v);
    }
}
END_TEST

/* ---- the small tokenizer.model: fields, and every kind of damage ------------------------------- */

START_TEST(spm_small_model) {
    size_t n;
    char *buf = tu_read_file(FIX "/spm/tokenizer.model", &n);
    ck_assert_ptr_nonnull(buf);
    graft_spm_model m;
    graft_error err = {0};
    ck_assert_msg(graft_spm_model_parse(buf, n, "small", &m, &err) == GRAFT_OK, "%s", err.msg);
    ck_assert_int_eq(m.n, 33);
    ck_assert_int_eq(m.model_type, 2);
    ck_assert_int_eq(m.add_dummy_prefix, 1);
    ck_assert(m.pieces[0].type == 2 && m.pieces[1].type == 3 && m.pieces[3].type == 6);
    ck_assert(m.pieces[19].len == 4 && !memcmp(m.pieces[19].s, "\xe2\x96\x81t", 4));
    ck_assert(m.pieces[21].score == -2.0f);
    graft_spm_model_free(&m);

    /* through the directory: USER_DEFINED pieces become NORMAL (the converter's rule), types */
    const char *dir = fresh_dir("spm_small");
    char p[1100];
    snprintf(p, sizeof p, "%s/tokenizer.model", dir);
    write_bytes(p, buf, n);
    graft_vocab *v = vocab_of(dir, NULL, 0, "spm_small.gguf");
    ck_assert_int_eq(v->n_tokens, 33);
    ck_assert(v->attr[0] & GRAFT_ATTR_UNKNOWN);
    ck_assert(v->attr[1] & GRAFT_ATTR_CONTROL);
    ck_assert(v->attr[31] & GRAFT_ATTR_NORMAL);  /* <user> */
    ck_assert(v->attr[32] & GRAFT_ATTR_UNUSED);  /* <unused0> */
    graft_vocab_free(v);
    /* more pieces than embedding rows */
    gguf_writer *w = gguf_writer_new();
    ck_assert_int_eq(graft_hf_vocab_add(dir, NULL, 20, w, &err), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "tokenizer.model"));
    gguf_writer_free(w);
    /* added tokens: added_tokens.json user-defined, added_tokens_decoder special -> control, a
     * non-special one with "▁" -> " ", padding to config vocab_size */
    snprintf(p, sizeof p, "%s/added_tokens.json", dir);
    write_text(p, "{\"<img>\": 33, \"<far>\": 99}");
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    write_text(p, "{\"added_tokens_decoder\": {\"34\": {\"content\": \"<|x|>\", \"special\": false},"
                  " \"35\": {\"content\": \"a\\u2581b\", \"special\": false}}, \"add_prefix_space\": false,"
                  " \"bos_token\": \"<s>\", \"eos_token\": {\"content\": \"</s>\"}, \"chat_template\": \"T\"}");
    /* a tokenizer.json beside tokenizer.model: only its post-processor is read (add_eos here) */
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    write_text(p, "{\"post_processor\": {\"type\": \"TemplateProcessing\", \"single\": [{\"SpecialToken\": {\"id\": \"<s>\"}},"
                  " {\"Sequence\": {\"id\": \"A\"}}, {\"SpecialToken\": {\"id\": \"</s>\"}}]}}");
    cJSON *cfg = cJSON_Parse("{\"text_config\": {\"vocab_size\": 40}, \"vocab_size\": 7, \"pad_token_id\": 35}");
    v = vocab_of(dir, cfg, 0, "spm_small2.gguf");
    cJSON_Delete(cfg);
    ck_assert_int_eq(v->n_tokens, 40);
    ck_assert(v->attr[33] & GRAFT_ATTR_USER_DEFINED);
    ck_assert(v->attr[34] & GRAFT_ATTR_CONTROL); /* looks special */
    ck_assert(v->attr[35] & GRAFT_ATTR_USER_DEFINED);
    ck_assert(v->len[35] == 3 && !memcmp(v->text[35], "a b", 3));
    ck_assert(v->score[33] == -1000.0f && v->score[39] == -10000.0f);
    ck_assert(!strcmp(v->text[39], "[PAD39]"));
    ck_assert_int_eq(v->pad, 35);
    ck_assert_int_eq(v->add_space_prefix, 0);
    ck_assert_int_eq(v->add_bos, 1);
    ck_assert_int_eq(v->add_eos, 1);
    graft_vocab_free(v);

    /* a list of chat templates, as gguf-py writes it */
    snprintf(p, sizeof p, "%s/tokenizer_config.json", dir);
    write_text(p, "{\"chat_template\": [{\"name\": \"default\", \"template\": \"D\"},"
                  " {\"name\": \"tool use\", \"template\": \"T\"}, {\"name\": \"x\"}]}");
    const char *out = tu_tmppath("spm_tmpl.gguf");
    ck_assert_msg(add_to_file(dir, NULL, 0, out, &err) == GRAFT_OK, "%s", err.msg);
    graft_gguf *g;
    ck_assert_int_eq(graft_gguf_open(out, &g, &err), GRAFT_OK);
    const char *ts;
    size_t tl;
    ck_assert_int_eq(graft_gguf_get_str(g, "tokenizer.chat_template", &ts, &tl, &err), GRAFT_OK);
    ck_assert(tl == 1 && *ts == 'D');
    ck_assert_int_eq(graft_gguf_get_str(g, "tokenizer.chat_template.tool_use", &ts, &tl, &err), GRAFT_OK);
    ck_assert(tl == 1 && *ts == 'T');
    graft_gguf_value names;
    ck_assert_int_eq(graft_gguf_get_arr(g, "tokenizer.chat_templates", GRAFT_GGUF_STRING, &names, &err), GRAFT_OK);
    ck_assert_int_eq(names.arr_n, 1);
    graft_gguf_close(g);
    snprintf(p, sizeof p, "%s/tokenizer.json", dir);
    unlink(p);

    /* every prefix: parses (a prefix ending on a field boundary is a valid shorter model) or fails
     * with GRAFT_E_FORMAT; never anything else */
    int n_fail = 0;
    for (size_t k = 0; k < n; k++) {
        char *cut = malloc(k ? k : 1); /* exact size, so ASan sees any overread */
        memcpy(cut, buf, k);
        int rc = graft_spm_model_parse(cut, k, "cut", &m, &err);
        ck_assert_msg(rc == GRAFT_OK || rc == GRAFT_E_FORMAT, "prefix %zu: rc %d", k, rc);
        if (rc == GRAFT_OK) ck_assert_int_le(m.n, 33);
        n_fail += rc != GRAFT_OK;
        graft_spm_model_free(&m);
        free(cut);
    }
    ck_assert_int_gt(n_fail, (int)n / 2);
    /* random byte flips */
    tu_rng r = {0x1234567};
    for (int it = 0; it < 3000; it++) {
        char *mut = malloc(n);
        memcpy(mut, buf, n);
        int flips = 1 + (int)(tu_next(&r) % 4);
        for (int f = 0; f < flips; f++) mut[tu_next(&r) % n] = (char)(tu_next(&r) & 0xff);
        int rc = graft_spm_model_parse(mut, n, "mut", &m, &err);
        ck_assert_msg(rc == GRAFT_OK || rc == GRAFT_E_FORMAT, "flip %d: rc %d", it, rc);
        graft_spm_model_free(&m);
        if (it % 50 == 0) { /* and the whole path, through a file */
            const char *d2 = fresh_dir("spm_mut");
            snprintf(p, sizeof p, "%s/tokenizer.model", d2);
            write_bytes(p, mut, n);
            w = gguf_writer_new();
            rc = graft_hf_vocab_add(d2, NULL, 0, w, &err);
            ck_assert_msg(rc == GRAFT_OK || rc == GRAFT_E_FORMAT || rc == GRAFT_E_UNSUPPORTED, "rc %d", rc);
            gguf_writer_free(w);
        }
        free(mut);
    }
    free(buf);
}
END_TEST

/* ---- malformed JSON files ----------------------------------------------------------------------- */

typedef struct json_case {
    const char *file, *text;
    int code;
    const char *needle; /* in the message */
} json_case;

START_TEST(malformed_json) {
    static const char *const base =
        "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2},"
        " \"merges\": [\"a b\"]}, \"decoder\": {\"type\": \"Sequence\"}, \"added_tokens\": []}";
    const json_case cases[] = {
        {"tokenizer.json", base, GRAFT_OK, NULL},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0, \"b\": 1,"
                           " \"ab\": 2}, \"merges\": [[\"a\", \"b\"]]}, \"decoder\": {\"type\": \"Sequence\"}}", GRAFT_OK, NULL},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0, \"b\": 5}},"
                           " \"decoder\": {\"type\": \"Sequence\"}}", GRAFT_E_FORMAT, "outside"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0, \"b\": 0}},"
                           " \"decoder\": {\"type\": \"Sequence\"}}", GRAFT_E_FORMAT, "twice"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": \"0\"}},"
                           " \"decoder\": {\"type\": \"Sequence\"}}", GRAFT_E_FORMAT, "model.vocab"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": [\"a\"]},"
                           " \"decoder\": {\"type\": \"Sequence\"}}", GRAFT_E_FORMAT, "model.vocab"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0, \"b\": 1},"
                           " \"merges\": [\"a b\"]}, \"decoder\": {\"type\": \"Sequence\"}}", GRAFT_E_FORMAT, "merge 0"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0, \"b\": 1},"
                           " \"merges\": [\"ab\"]}, \"decoder\": {\"type\": \"Sequence\"}}", GRAFT_E_FORMAT, "merge 0"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0, \"b\": 1},"
                           " \"merges\": [7]}, \"decoder\": {\"type\": \"Sequence\"}}", GRAFT_E_FORMAT, "merge 0"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0}},"
                           " \"decoder\": {\"type\": \"Sequence\"}, \"added_tokens\": [{\"id\": 2, \"content\": \"x\"}]}",
         GRAFT_E_FORMAT, "without gaps"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0}},"
                           " \"decoder\": {\"type\": \"Sequence\"}, \"added_tokens\": [{\"id\": 1, \"content\": \"x\"},"
                           " {\"id\": 1, \"content\": \"y\"}]}", GRAFT_E_FORMAT, "without gaps"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0}},"
                           " \"decoder\": {\"type\": \"Sequence\"}, \"added_tokens\": [{\"id\": -1, \"content\": \"x\"}]}",
         GRAFT_E_FORMAT, "added_tokens"},
        {"tokenizer.json", "{\"model\": {\"type\": \"Unigram\", \"vocab\": [[\"a\", 0.0]]}}", GRAFT_E_UNSUPPORTED, "Unigram"},
        {"tokenizer.json", "{\"model\": {\"type\": \"WordPiece\", \"vocab\": {\"a\": 0}}}", GRAFT_E_UNSUPPORTED, "WordPiece"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                           " \"decoder\": {\"type\": \"ByteLevel\"}}", GRAFT_E_UNSUPPORTED, "GPT-2"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                           " \"pre_tokenizer\": {\"type\": \"Sequence\"}}", GRAFT_E_UNSUPPORTED, "Sequence"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2},"
                           " \"merges\": [\"a b\"]}, \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", GRAFT_OK, NULL},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0, \"b\": 0}, \"merges\": []},"
                           " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", GRAFT_E_FORMAT, "twice"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -1}, \"merges\": []},"
                           " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", GRAFT_E_FORMAT, "valid id"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}},"
                           " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", GRAFT_E_FORMAT, "merges"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [\"ab\"]},"
                           " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", GRAFT_E_FORMAT, "merge 0"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": [[\"a\"]]},"
                           " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}}", GRAFT_E_FORMAT, "merge 0"},
        {"tokenizer.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, \"merges\": []},"
                           " \"pre_tokenizer\": {\"type\": \"ByteLevel\"}, \"added_tokens\": [{\"id\": \"1\"}]}",
         GRAFT_E_FORMAT, "added_tokens"},
        {"tokenizer.json", "{\"model\": {\"vocab\": {}}}", GRAFT_E_FORMAT, "model.type"},
        {"tokenizer.json", "[1, 2]", GRAFT_E_FORMAT, "model.type"},
        {"tokenizer.json", "{\"model\": ", GRAFT_E_FORMAT, "malformed JSON"},
        {"tokenizer.json", "{} x", GRAFT_E_FORMAT, "malformed JSON"},
        {"tokenizer_config.json", "{\"a\": }", GRAFT_E_FORMAT, "tokenizer_config.json"},
        {"special_tokens_map.json", "nul", GRAFT_E_FORMAT, "special_tokens_map.json"},
        {NULL, NULL, GRAFT_E_NOTFOUND, "no tokenizer.model or tokenizer.json"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *dir = fresh_dir("json_case");
        char p[1100];
        if (cases[i].file) {
            if (strcmp(cases[i].file, "tokenizer.json")) {
                snprintf(p, sizeof p, "%s/tokenizer.json", dir);
                write_text(p, base);
            }
            snprintf(p, sizeof p, "%s/%s", dir, cases[i].file);
            write_text(p, cases[i].text);
        }
        gguf_writer *w = gguf_writer_new();
        graft_error err = {0};
        int rc = graft_hf_vocab_add(dir, NULL, 0, w, &err);
        ck_assert_msg(rc == cases[i].code, "case %zu: rc %d (%s), want %d", i, rc, err.msg, cases[i].code);
        if (cases[i].needle)
            ck_assert_msg(strstr(err.msg, cases[i].needle) != NULL, "case %zu: '%s' lacks '%s'", i, err.msg,
                          cases[i].needle);
        gguf_writer_free(w);
    }

    /* SPM side files */
    size_t n;
    char *model = tu_read_file(FIX "/spm/tokenizer.model", &n);
    ck_assert_ptr_nonnull(model);
    const json_case spm_cases[] = {
        {"added_tokens.json", "[1]", GRAFT_E_FORMAT, "not a JSON object"},
        {"added_tokens.json", "{\"x\": \"3\"}", GRAFT_E_FORMAT, "no valid id"},
        {"added_tokens.json", "{\"x\": -3}", GRAFT_E_FORMAT, "no valid id"},
        {"added_tokens.json", "{\"x\": 3.5}", GRAFT_E_FORMAT, "no valid id"},
        {"tokenizer_config.json", "{\"added_tokens_decoder\": []}", GRAFT_E_FORMAT, "not an object"},
        {"tokenizer_config.json", "{\"added_tokens_decoder\": {\"x\": {\"content\": \"a\"}}}", GRAFT_E_FORMAT, "'x'"},
        {"tokenizer_config.json", "{\"added_tokens_decoder\": {\"-1\": {\"content\": \"a\"}}}", GRAFT_E_FORMAT, "'-1'"},
        {"tokenizer_config.json", "{\"added_tokens_decoder\": {\"3\": {\"content\": 5}}}", GRAFT_E_FORMAT, "'3'"},
        {"tokenizer_config.json", "{\"added_tokens_decoder\": {\"3\": \"a\"}}", GRAFT_E_FORMAT, "'3'"},
        {"tokenizer_config.json", "{\"added_tokens_decoder\": {\"99999\": {\"content\": \"a\"}}}", GRAFT_OK, NULL},
    };
    for (size_t i = 0; i < sizeof spm_cases / sizeof spm_cases[0]; i++) {
        const char *dir = fresh_dir("spm_case");
        char p[1100];
        snprintf(p, sizeof p, "%s/tokenizer.model", dir);
        write_bytes(p, model, n);
        snprintf(p, sizeof p, "%s/%s", dir, spm_cases[i].file);
        write_text(p, spm_cases[i].text);
        gguf_writer *w = gguf_writer_new();
        graft_error err = {0};
        int rc = graft_hf_vocab_add(dir, NULL, 0, w, &err);
        ck_assert_msg(rc == spm_cases[i].code, "spm case %zu: rc %d (%s)", i, rc, err.msg);
        if (spm_cases[i].needle)
            ck_assert_msg(strstr(err.msg, spm_cases[i].needle) != NULL, "spm case %zu: '%s'", i, err.msg);
        gguf_writer_free(w);
    }
    free(model);

    /* every prefix of the fixture tokenizer.json: a clean error or (the whole file) success */
    char *tj = read_all(FIX "/json/tokenizer.json", &n);
    for (size_t k = 0; k < n; k += 97) {
        const char *dir = fresh_dir("json_cut");
        char p[1100];
        snprintf(p, sizeof p, "%s/tokenizer.json", dir);
        write_bytes(p, tj, k);
        gguf_writer *w = gguf_writer_new();
        graft_error err = {0};
        ck_assert_int_eq(graft_hf_vocab_add(dir, NULL, 0, w, &err), GRAFT_E_FORMAT);
        gguf_writer_free(w);
    }
    free(tj);
}
END_TEST

Suite *suite_hf_vocab(void) {
    Suite *s = suite_create("hf_vocab");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, llava_tiny_matches_converter);
    tcase_add_test(tc, llama2_spm_vectors);
    tcase_add_test(tc, tokenizer_json_fixture);
    tcase_add_test(tc, llama2_as_tokenizer_json);
    tcase_add_test(tc, gpt2_tokenizer_json);
    tcase_add_test(tc, json_prefix_space);
    tcase_add_test(tc, spm_small_model);
    tcase_add_test(tc, malformed_json);
    suite_add_tcase(s, tc);
    return s;
}
