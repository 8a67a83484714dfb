/* test_tokenizer.c - the SPM tokenizer against llama.cpp: its vocab test vectors (llama-spm,
 * phi-3), the token ids llama.cpp gave for the tiny-a fixture prompts, decode(encode(x)) == x,
 * streaming decode, hand-made vocabularies for each rule (merge order, byte fallback, unknown,
 * special tokens, prefix space, BOS/EOS), loader errors and the `graft tokenize` CLI. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "gguf_write.h"
#include "test_util.h"
#include "tokenizer.h"
#include "unicode.h"
#include "vocab.h"

/* ---- helpers ---------------------------------------------------------------------------------- */

static void print_escaped(FILE *f, const char *s, size_t n) {
    fputc('"', f);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20 || c == 0x7f) fprintf(f, "\\x%02x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

static void print_ids(FILE *f, const int32_t *ids, size_t n) {
    fputc('[', f);
    for (size_t i = 0; i < n; i++) fprintf(f, i ? " %d" : "%d", ids[i]);
    fputc(']', f);
}

/* Tokenizes and compares with want[0..n_want); prints input, expected and got on mismatch. */
static int check_ids(const graft_vocab *v, const char *label, const char *text, size_t len,
                     int add_special, int parse_special, const int32_t *want, size_t n_want) {
    int32_t *got;
    size_t n;
    graft_error err = {0};
    int rc = graft_tokenize(v, text, len, add_special, parse_special, &got, &n, &err);
    int ok = rc == GRAFT_OK && n == n_want && (n == 0 || !memcmp(got, want, n * sizeof *got));
    if (!ok) {
        fprintf(stderr, "%s: input ", label);
        print_escaped(stderr, text, len);
        fprintf(stderr, "\n  expected ");
        print_ids(stderr, want, n_want);
        if (rc) fprintf(stderr, "\n  got error %d: %s\n", rc, err.msg);
        else {
            fprintf(stderr, "\n  got      ");
            print_ids(stderr, got, n);
            fputc('\n', stderr);
        }
    }
    free(got);
    return ok;
}

#define EXPECT_IDS(v, text, add_special, parse_special, ...)                                      \
    do {                                                                                          \
        const int32_t want_[] = {__VA_ARGS__};                                                    \
        ck_assert(check_ids(v, __func__, text, strlen(text), add_special, parse_special, want_,   \
                            sizeof want_ / sizeof want_[0]));                                     \
    } while (0)
#define EXPECT_NO_IDS(v, text, add_special, parse_special)                                        \
    ck_assert(check_ids(v, __func__, text, strlen(text), add_special, parse_special, NULL, 0))

/* A whole file, NUL-terminated (tu_read_file's buffer is not). */
static char *read_text(const char *path, size_t *len) {
    char *p = tu_read_file(path, len);
    if (!p) return NULL;
    char *q = realloc(p, *len + 1);
    if (!q) {
        free(p);
        return NULL;
    }
    q[*len] = 0;
    return q;
}

static int utf8_valid(const char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned char c = (unsigned char)s[i];
        size_t l = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3
                 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
        if (!l || i + l > n) return 0;
        for (size_t k = 1; k < l; k++)
            if (((unsigned char)s[i + k] & 0xc0) != 0x80) return 0;
        i += l;
    }
    return 1;
}

/* ---- llama.cpp's vocab test vectors ------------------------------------------------------------ */

typedef struct cases {
    char *inp;      /* the .inp file, cases cut in place (NUL at each end) */
    char **text;
    size_t *len;
    int32_t **ids;  /* expected ids of each case */
    size_t *n_ids;
    int n;
} cases;

static void cases_free(cases *c) {
    for (int i = 0; i < c->n; i++) free(c->ids[i]);
    free(c->inp), free(c->text), free(c->len), free(c->ids), free(c->n_ids);
}

/* Reads NAME.inp / NAME.out: each case of .inp is followed by "\n__ggml_vocab_test__\n"; .out
 * has one line of space-separated ids per case. Returns 0 when ../shared is absent. */
static int cases_load(const char *name, cases *c) {
    char rel[256];
    memset(c, 0, sizeof *c);
    snprintf(rel, sizeof rel, "vocab/%s.inp", name);
    const char *p = tu_shared(rel);
    if (!p) return 0;
    size_t n_inp, n_out;
    c->inp = read_text(p, &n_inp);
    snprintf(rel, sizeof rel, "vocab/%s.out", name);
    p = tu_shared(rel);
    ck_assert_ptr_nonnull(p);
    char *out = read_text(p, &n_out);
    ck_assert(c->inp && out);

    static const char marker[] = "\n__ggml_vocab_test__\n";
    size_t ml = sizeof marker - 1, cap = 0;
    for (size_t off = 0; off < n_inp;) {
        char *m = memmem(c->inp + off, n_inp - off, marker, ml);
        ck_assert_msg(m != NULL, "%s.inp: case at byte %zu has no end marker", name, off);
        if (c->n == (int)cap) {
            cap = cap ? 2 * cap : 64;
            c->text = realloc(c->text, cap * sizeof *c->text);
            c->len = realloc(c->len, cap * sizeof *c->len);
        }
        c->text[c->n] = c->inp + off;
        c->len[c->n] = (size_t)(m - (c->inp + off));
        *m = 0;
        c->n++;
        off = (size_t)(m - c->inp) + ml;
    }

    c->ids = calloc(c->n, sizeof *c->ids);
    c->n_ids = calloc(c->n, sizeof *c->n_ids);
    char *line = out;
    for (int i = 0; i < c->n; i++) {
        ck_assert_msg(line < out + n_out, "%s.out has fewer lines than %d cases", name, c->n);
        char *eol = memchr(line, '\n', (size_t)(out + n_out - line));
        if (eol) *eol = 0;
        c->ids[i] = malloc((strlen(line) / 2 + 1) * sizeof(int32_t));
        for (char *q = line, *e;; q = e) {
            long x = strtol(q, &e, 10);
            if (e == q) break;
            c->ids[i][c->n_ids[i]++] = (int32_t)x;
        }
        line = eol ? eol + 1 : out + n_out;
    }
    free(out);
    return 1;
}

/* Tokenizes every case without BOS and without parsing special tokens; returns passes. */
static int run_vectors(const char *name, int *n_cases) {
    cases c;
    *n_cases = 0;
    if (!cases_load(name, &c)) return 0;
    char rel[256];
    snprintf(rel, sizeof rel, "vocab/%s", name);
    graft_vocab *v;
    graft_error err = {0};
    ck_assert_msg(graft_vocab_load_file(tu_shared(rel), &v, &err) == GRAFT_OK, "%s", err.msg);
    int pass = 0;
    for (int i = 0; i < c.n; i++) {
        char label[300];
        snprintf(label, sizeof label, "%s case %d", name, i);
        pass += check_ids(v, label, c.text[i], c.len[i], 0, 0, c.ids[i], c.n_ids[i]);
    }
    fprintf(stderr, "%s: %d/%d cases\n", name, pass, c.n);
    *n_cases = c.n;
    graft_vocab_free(v);
    cases_free(&c);
    return pass;
}

/* WordPiece (BERT uncased, as InstructBLIP's Q-Former reads its instruction): every case of
 * llama.cpp's bge vectors (NFD accent stripping, lowercasing, punctuation and CJK splitting,
 * greedy longest pieces, [UNK] words); then with add_special, [CLS] ... [SEP] as BERT's tokenizer. */
START_TEST(test_bert_wpm_vectors) {
    int n, pass = run_vectors("ggml-vocab-bert-bge.gguf", &n);
    ck_assert_int_eq(pass, n);
    const char *path = tu_shared("vocab/ggml-vocab-bert-bge.gguf");
    if (!path) return;
    graft_vocab *v;
    graft_error err = {0};
    ck_assert_msg(graft_vocab_load_file(path, &v, &err) == GRAFT_OK, "%s", err.msg);
    const int32_t want[] = {101, 7592, 1010, 2088, 999, 102}; /* "Hello, world!" */
    ck_assert(check_ids(v, "bert [CLS] ... [SEP]", "Hello, world!", 13, 1, 0, want, 6));
    graft_vocab_free(v);
}
END_TEST

START_TEST(test_llama_spm_vectors) {
    int n, pass = run_vectors("ggml-vocab-llama-spm.gguf", &n);
    ck_assert_int_eq(pass, n);
}
END_TEST

/* Phi-3's vocabulary: SPM with user-defined tokens and the Phi-3 rstrip rule. */
START_TEST(test_phi3_vectors) {
    int n, pass = run_vectors("ggml-vocab-phi-3.gguf", &n);
    ck_assert_int_eq(pass, n);
}
END_TEST

/* Byte-level BPE vocabularies, one per pre-tokenizer graft implements. */
START_TEST(test_bpe_vectors) {
    const char *names[] = {"ggml-vocab-gpt-2.gguf", "ggml-vocab-mpt.gguf", "ggml-vocab-starcoder.gguf",
                           "ggml-vocab-refact.gguf", "ggml-vocab-falcon.gguf"};
    int bad = 0;
    for (int i = 0; i < 5; i++) {
        int n, pass = run_vectors(names[i], &n);
        bad += n - pass;
    }
    ck_assert_int_eq(bad, 0);
}
END_TEST

/* decode(encode(x)) == x for every case of a vocab's vectors. SPM: encode adds the prefix space,
 * decode strips it from the first piece; with a BOS, llama.cpp's detokenize keeps the space
 * (whether or not remove_special drops the BOS), so " " + x comes back. Streaming decode gives
 * the same bytes, each chunk valid UTF-8 when x is. Returns the number of failures. */
static int roundtrip(const char *name) {
    cases c;
    if (!cases_load(name, &c)) return 0;
    graft_vocab *v;
    graft_error err = {0};
    char rel[256];
    snprintf(rel, sizeof rel, "vocab/%s", name);
    ck_assert(graft_vocab_load_file(tu_shared(rel), &v, &err) == 0);
    /* BPE: decoding cleans " ," and the like; the bytes themselves must come back. Invalid UTF-8
     * is tokenized as U+FFFD there, so those cases are skipped. */
    int bpe = v->type == GRAFT_VOCAB_BPE;
    v->clean_spaces = 0;
    int bad = 0;
    size_t cap = graft_detok_stream_cap(v);
    char *chunk = malloc(cap);
    for (int i = 0; i < c.n; i++) {
        if (bpe && !utf8_valid(c.text[i], c.len[i])) continue;
        char *want = malloc(c.len[i] + 2);
        for (int bos = 0; bos < 2; bos++) {
            size_t wl = 0;
            if (bos && v->add_bos && v->add_space_prefix && c.len[i]) want[wl++] = ' ';
            memcpy(want + wl, c.text[i], c.len[i]);
            wl += c.len[i];

            int32_t *ids;
            size_t n;
            ck_assert(graft_tokenize(v, c.text[i], c.len[i], bos, 0, &ids, &n, &err) == 0);
            for (int rs = 0; rs < 2; rs++) {
                char *s;
                size_t len;
                ck_assert(graft_detokenize(v, ids, n, rs, 0, &s, &len, &err) == 0);
                if (len != wl || memcmp(s, want, wl)) {
                    fprintf(stderr, "%s roundtrip case %d (bos %d, remove_special %d): ", name, i, bos, rs);
                    print_escaped(stderr, c.text[i], c.len[i]);
                    fprintf(stderr, " -> ");
                    print_escaped(stderr, s, len);
                    fputc('\n', stderr);
                    bad++;
                }
                free(s);
            }

            graft_detok_stream st;
            graft_detok_stream_init(&st, v, 0, v->add_space_prefix);
            char *cat = malloc(wl + 8);
            size_t k = 0, m;
            int valid = 1, x_valid = utf8_valid(c.text[i], c.len[i]);
            for (size_t j = 0; j < n; j++) {
                ck_assert(graft_detok_stream_push(&st, ids[j], chunk, cap, &m, &err) == 0);
                if (x_valid && !utf8_valid(chunk, m)) valid = 0;
                ck_assert(k + m <= wl);
                memcpy(cat + k, chunk, m), k += m;
            }
            m = graft_detok_stream_flush(&st, chunk);
            ck_assert(k + m <= wl);
            memcpy(cat + k, chunk, m), k += m;
            if (k != wl || memcmp(cat, want, k) || !valid) {
                fprintf(stderr, "%s stream case %d (bos %d): valid chunks %d, got ", name, i, bos, valid);
                print_escaped(stderr, cat, k);
                fputc('\n', stderr);
                bad++;
            }
            free(cat), free(ids);
        }
        free(want);
    }
    free(chunk);
    graft_vocab_free(v);
    cases_free(&c);
    return bad;
}

START_TEST(test_llama_spm_roundtrip) {
    ck_assert_int_eq(roundtrip("ggml-vocab-llama-spm.gguf"), 0);
}
END_TEST

START_TEST(test_bpe_roundtrip) {
    ck_assert_int_eq(roundtrip("ggml-vocab-gpt-2.gguf"), 0);
    ck_assert_int_eq(roundtrip("ggml-vocab-mpt.gguf"), 0);
}
END_TEST

/* ---- the tiny-a fixture: ids llama.cpp tokenized the prompts into ------------------------------ */

/* The JSON string value following `"text": ` after the object whose name is `name`. */
static char *json_prompt_text(const char *json, const char *name, size_t *len) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"name\": \"%s\"", name);
    const char *p = strstr(json, pat);
    ck_assert_ptr_nonnull(p);
    p = strstr(p, "\"text\": \"");
    ck_assert_ptr_nonnull(p);
    p += 9;
    char *s = malloc(strlen(p) + 1);
    size_t k = 0;
    for (; *p && *p != '"'; p++) {
        if (*p != '\\') {
            s[k++] = *p;
            continue;
        }
        p++;
        switch (*p) {
        case 'n': s[k++] = '\n'; break;
        case 't': s[k++] = '\t'; break;
        case 'r': s[k++] = '\r'; break;
        case 'u': {
            unsigned cp = (unsigned)strtoul((char[5]){p[1], p[2], p[3], p[4], 0}, NULL, 16);
            ck_assert_msg(cp < 0x80, "test JSON reader: only ASCII \\u escapes");
            s[k++] = (char)cp;
            p += 4;
            break;
        }
        default: s[k++] = *p;
        }
    }
    s[k] = 0;
    *len = k;
    return s;
}

START_TEST(test_fixture_prompts) {
    const char *dir = tu_shared("fixtures/llamacpp/tiny-a/tiny-llm.gguf");
    if (!dir) return;
    graft_vocab *v;
    graft_error err = {0};
    ck_assert_msg(graft_vocab_load_file(dir, &v, &err) == 0, "%s", err.msg);
    size_t jl;
    char *json = read_text(tu_shared("fixtures/llamacpp/tiny-a/prompts.json"), &jl);
    ck_assert_ptr_nonnull(json);
    const char *names[] = {"p1", "p2"};
    for (int i = 0; i < 2; i++) {
        size_t len, tl;
        char *text = json_prompt_text(json, names[i], &len);
        char rel[128];
        snprintf(rel, sizeof rel, "fixtures/llamacpp/tiny-a/%s.tokens.txt", names[i]);
        char *tok = read_text(tu_shared(rel), &tl);
        ck_assert_ptr_nonnull(tok);
        int32_t want[256];
        size_t n = 0;
        for (char *q = tok, *e;; q = e) {
            long x = strtol(q, &e, 10);
            if (e == q) break;
            ck_assert(n < 256);
            want[n++] = (int32_t)x;
        }
        ck_assert_uint_gt(n, 5);
        ck_assert(check_ids(v, names[i], text, len, 1, 1, want, n));
        free(text), free(tok);
    }
    free(json);
    graft_vocab_free(v);
}
END_TEST

/* ---- hand-made vocabularies ------------------------------------------------------------------- */

#define U2581 "\xe2\x96\x81"

enum { T_UNK, T_BOS, T_EOS, T_XC3, T_XA9, T_X0A, T_SP, T_A, T_B, T_C, T_AB, T_BC, T_ABC, T_SPA,
       T_IMG, T_AA, T_E, T_E2, T_N };

static const char *tiny_tokens[T_N] = {
    "<unk>", "<s>", "</s>", "<0xC3>", "<0xA9>", "<0x0A>", U2581, "a", "b", "c", "ab", "bc", "abc",
    U2581 "a", "<img>", "aa", "<|e|>", "<|e|>!",
};
static const int32_t tiny_types[T_N] = {2, 3, 3, 6, 6, 6, 1, 1, 1, 1, 1, 1, 1, 1, 4, 1, 3, 3};

/* The tiny vocabulary with scores changed by the caller; `drop` (if >= 0) is renamed out of the
 * way so that it never matches. */
static graft_vocab *tiny(const float *scores, int drop, const char *name, int add_eos,
                         int add_space_prefix) {
    float sc[T_N] = {0, 0, 0, 0, 0, 0, -1, -2, -2, -2, -3, -1.5f, -1, -1.2f, 0, -0.5f, 0, 0};
    if (scores) memcpy(sc, scores, sizeof sc);
    const char *toks[T_N];
    memcpy(toks, tiny_tokens, sizeof toks);
    if (drop >= 0) toks[drop] = "#dropped#";
    graft_vocab_desc d = graft_vocab_desc_default();
    d.model = "llama";
    d.name = name;
    d.n_tokens = T_N;
    d.tokens = toks;
    d.scores = sc;
    d.types = tiny_types;
    if (add_eos >= 0) d.add_eos = add_eos;
    if (add_space_prefix >= 0) d.add_space_prefix = add_space_prefix;
    graft_vocab *v;
    graft_error err = {0};
    ck_assert_msg(graft_vocab_build(&d, "tiny", &v, &err) == GRAFT_OK, "%s", err.msg);
    return v;
}

/* The best-scoring pair merges first: "bc" (-1.5) before "ab" (-3), then "a"+"bc" = "abc". */
START_TEST(test_spm_merge_by_score) {
    graft_vocab *v = tiny(NULL, -1, NULL, -1, 0);
    EXPECT_IDS(v, "abc", 0, 0, T_ABC);
    graft_vocab_free(v);
    v = tiny(NULL, T_ABC, NULL, -1, 0);
    EXPECT_IDS(v, "abc", 0, 0, T_A, T_BC);
    graft_vocab_free(v);
    float sc[T_N] = {0, 0, 0, 0, 0, 0, -1, -2, -2, -2, -1, -1.5f, -1, -1.2f, 0, -0.5f, 0, 0};
    v = tiny(sc, T_ABC, NULL, -1, 0); /* now "ab" scores better */
    EXPECT_IDS(v, "abc", 0, 0, T_AB, T_C);
    graft_vocab_free(v);
}
END_TEST

/* Equal scores: the leftmost pair merges first. */
START_TEST(test_spm_ties_leftmost) {
    graft_vocab *v = tiny(NULL, -1, NULL, -1, 0);
    EXPECT_IDS(v, "aaa", 0, 0, T_AA, T_A);
    EXPECT_IDS(v, "aaaaa", 0, 0, T_AA, T_AA, T_A);
    graft_vocab_free(v);
}
END_TEST

/* Spaces become U+2581; the prefix space is added (add_space_prefix) and merges. */
START_TEST(test_spm_prefix_space) {
    graft_vocab *v = tiny(NULL, -1, NULL, -1, -1);
    ck_assert_int_eq(v->add_space_prefix, 1); /* SPM default */
    EXPECT_IDS(v, "a", 0, 0, T_SPA);
    EXPECT_IDS(v, "ab", 0, 0, T_SPA, T_B); /* "▁a" (-1.2) beats "ab" (-3) */
    EXPECT_IDS(v, "a a", 0, 0, T_SPA, T_SPA);
    EXPECT_IDS(v, " ", 0, 0, T_SP, T_SP);
    graft_vocab_free(v);
    v = tiny(NULL, -1, NULL, -1, 0);
    EXPECT_IDS(v, "a a", 0, 0, T_A, T_SPA);
    graft_vocab_free(v);
}
END_TEST

/* A character that is no piece is written as its bytes; without byte tokens as <unk>. */
START_TEST(test_spm_byte_fallback_and_unk) {
    graft_vocab *v = tiny(NULL, -1, NULL, -1, 0);
    EXPECT_IDS(v, "\xc3\xa9", 0, 0, T_XC3, T_XA9);
    EXPECT_IDS(v, "a\n", 0, 0, T_A, T_X0A);
    EXPECT_IDS(v, "d", 0, 0, T_UNK);               /* no piece, no <0x64> */
    EXPECT_IDS(v, "\xe2\x82\xac", 0, 0, T_UNK);    /* one <unk> for a whole character */
    EXPECT_IDS(v, "\xc3", 0, 0, T_XC3);            /* a truncated character: its byte */
    EXPECT_IDS(v, "\xa9\xa9", 0, 0, T_XA9, T_XA9); /* stray continuation bytes */
    graft_vocab_free(v);
}
END_TEST

/* Control text is matched only with parse_special; user-defined tokens always; longest first;
 * each text piece after a special token gets the prefix space. */
START_TEST(test_spm_special_tokens) {
    graft_vocab *v = tiny(NULL, -1, NULL, -1, -1);
    EXPECT_IDS(v, "<s>a</s>", 0, 1, T_BOS, T_SPA, T_EOS);
    EXPECT_IDS(v, "<s>a</s>", 0, 0, T_SP, T_UNK, T_UNK, T_UNK, T_A, T_UNK, T_UNK, T_UNK, T_UNK);
    EXPECT_IDS(v, "a<img>a", 0, 0, T_SPA, T_IMG, T_SPA);
    EXPECT_IDS(v, "<img>", 0, 0, T_IMG);
    EXPECT_IDS(v, "<|e|>!<|e|>", 0, 1, T_E2, T_E);
    EXPECT_IDS(v, "<|e|>  a", 0, 1, T_E, T_SP, T_SP, T_SPA);
    EXPECT_IDS(v, "<unk>", 0, 1, T_UNK);
    graft_vocab_free(v);
    /* llama.cpp's Phi-3 rule: whitespace right of a special token is dropped (not after <s>) */
    v = tiny(NULL, -1, "Phi3-mini", -1, -1);
    EXPECT_IDS(v, "<|e|>  a", 0, 1, T_E, T_SPA);
    EXPECT_IDS(v, "<s> a", 0, 1, T_BOS, T_SP, T_SPA);
    graft_vocab_free(v);
}
END_TEST

/* BOS when add_special (add_bos defaults on), EOS when the vocab says; empty text. */
START_TEST(test_spm_bos_eos_empty) {
    graft_vocab *v = tiny(NULL, -1, NULL, -1, -1);
    EXPECT_IDS(v, "a", 1, 0, T_BOS, T_SPA);
    EXPECT_IDS(v, "", 1, 0, T_BOS);
    EXPECT_NO_IDS(v, "", 0, 0);
    EXPECT_NO_IDS(v, "", 0, 1);
    EXPECT_IDS(v, "<s>", 1, 1, T_BOS, T_BOS);
    graft_vocab_free(v);
    v = tiny(NULL, -1, NULL, 1, -1);
    EXPECT_IDS(v, "a", 1, 0, T_BOS, T_SPA, T_EOS);
    EXPECT_IDS(v, "", 1, 0, T_BOS, T_EOS);
    EXPECT_IDS(v, "a", 0, 0, T_SPA);
    graft_vocab_free(v);
}
END_TEST

static void expect_text(const graft_vocab *v, const int32_t *ids, size_t n, int remove_special,
                        int unparse, const char *want) {
    char *s;
    size_t len;
    graft_error err = {0};
    ck_assert_int_eq(graft_detokenize(v, ids, n, remove_special, unparse, &s, &len, &err), 0);
    ck_assert_uint_eq(len, strlen(s));
    ck_assert_msg(!strcmp(s, want), "detokenize: got '%s', want '%s'", s, want);
    free(s);
}

/* Pieces and llama_detokenize's rules for the leading space and special tokens. */
START_TEST(test_spm_decode) {
    graft_vocab *v = tiny(NULL, -1, NULL, -1, -1);
    size_t l;
    const char *p = graft_token_piece(v, T_SPA, 0, &l);
    ck_assert(l == 2 && !memcmp(p, " a", 2));
    p = graft_token_piece(v, T_XC3, 0, &l);
    ck_assert(l == 1 && (unsigned char)p[0] == 0xc3);
    graft_token_piece(v, T_BOS, 0, &l);
    ck_assert_uint_eq(l, 0);
    graft_token_piece(v, T_UNK, 0, &l);
    ck_assert_uint_eq(l, 0);
    p = graft_token_piece(v, T_BOS, 1, &l);
    ck_assert(l == 3 && !memcmp(p, "<s>", 3));
    p = graft_token_piece(v, T_IMG, 0, &l); /* user-defined: always its text */
    ck_assert(l == 5 && !memcmp(p, "<img>", 5));
    ck_assert_ptr_null(graft_token_piece(v, T_N, 0, &l));
    ck_assert_ptr_null(graft_token_piece(v, -1, 0, &l));

    const int32_t a[] = {T_SPA, T_B, T_SPA}, b[] = {T_BOS, T_SPA, T_B}, c[] = {T_XC3, T_XA9, T_EOS};
    expect_text(v, a, 3, 0, 0, "ab a");     /* leading space stripped */
    expect_text(v, b, 3, 0, 0, " ab");      /* the strip applied to BOS's empty piece */
    expect_text(v, b, 3, 1, 0, " ab");      /* BOS removed: llama.cpp strips nothing then */
    expect_text(v, b, 3, 0, 1, "<s> ab");
    expect_text(v, c, 3, 0, 0, "\xc3\xa9");
    expect_text(v, c, 3, 0, 1, "\xc3\xa9</s>");
    expect_text(v, a, 0, 0, 0, "");

    const int32_t bad[] = {T_A, 99};
    char *s;
    size_t len;
    graft_error err = {0};
    ck_assert_int_eq(graft_detokenize(v, bad, 2, 0, 0, &s, &len, &err), GRAFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "99"));
    graft_vocab_free(v);
}
END_TEST

/* Streaming holds back an unfinished character and passes invalid bytes through. */
START_TEST(test_spm_stream) {
    graft_vocab *v = tiny(NULL, -1, NULL, -1, -1);
    graft_detok_stream s;
    char out[64];
    size_t n;
    graft_error err = {0};
    ck_assert_uint_ge(graft_detok_stream_cap(v), 6 + 4);
    graft_detok_stream_init(&s, v, 0, 1);
    ck_assert_int_eq(graft_detok_stream_push(&s, T_SPA, out, sizeof out, &n, &err), 0);
    ck_assert(n == 1 && out[0] == 'a'); /* first piece's space stripped */
    ck_assert_int_eq(graft_detok_stream_push(&s, T_XC3, out, sizeof out, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(graft_detok_stream_push(&s, T_XA9, out, sizeof out, &n, &err), 0);
    ck_assert(n == 2 && !memcmp(out, "\xc3\xa9", 2));
    ck_assert_int_eq(graft_detok_stream_push(&s, T_XC3, out, sizeof out, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(graft_detok_stream_push(&s, T_SPA, out, sizeof out, &n, &err), 0);
    ck_assert(n == 3 && !memcmp(out, "\xc3 a", 3)); /* no continuation came: passed through */
    ck_assert_int_eq(graft_detok_stream_push(&s, T_XC3, out, sizeof out, &n, &err), 0);
    ck_assert_uint_eq(n, 0);
    ck_assert_uint_eq(graft_detok_stream_flush(&s, out), 1);
    ck_assert_uint_eq(graft_detok_stream_flush(&s, out), 0);
    ck_assert_int_eq(graft_detok_stream_push(&s, 1000, out, sizeof out, &n, &err), GRAFT_E_INVALID);
    ck_assert_int_eq(graft_detok_stream_push(&s, T_ABC, out, 2, &n, &err), GRAFT_E_INVALID);
    graft_vocab_free(v);
}
END_TEST

/* ---- a hand-made byte-level BPE vocabulary ------------------------------------------------------- */

#define G "\xc4\xa0" /* U+0120, GPT-2's spelling of the space byte */

static graft_vocab *tiny_bpe(const char *pre, const char *const *merges, int n_merges) {
    static const char *toks[] = {"a", "b", "c", ",", G, "1", "2", "3", "4", "5", "6", "7",
                                 "ab", "bc", ",,", "a,", "b" G, G "1", "12", "123", "45", "456",
                                 "67", "34", G "a", "aa", "\xe2\x82\xac", "<|e|>"};
    static const int32_t types[] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
                                    1, 1, 1, 1, 1, 1, 3};
    graft_vocab_desc d = graft_vocab_desc_default();
    d.model = "gpt2";
    d.pre = pre;
    d.n_tokens = (int32_t)(sizeof toks / sizeof toks[0]);
    d.tokens = toks;
    d.types = types;
    d.merges = merges;
    d.n_merges = n_merges;
    d.eos = 27;
    graft_vocab *v;
    graft_error err = {0};
    ck_assert_msg(graft_vocab_build(&d, "tiny-bpe", &v, &err) == GRAFT_OK, "%s", err.msg);
    return v;
}

/* Lowest rank first, ties leftmost; a symbol that is no token goes byte by byte (dropped here). */
START_TEST(test_bpe_merges) {
    const char *m1[] = {"b c", "a b", "a a"};
    graft_vocab *v = tiny_bpe("gpt-2", m1, 3);
    ck_assert_int_eq(v->add_bos, 0);
    ck_assert_int_eq(v->add_space_prefix, 0);
    EXPECT_IDS(v, "abc", 1, 0, 0, 13);       /* "bc" (rank 0) first, no "a bc" merge */
    EXPECT_IDS(v, "aaa", 0, 0, 25, 0);       /* leftmost of two equal pairs */
    EXPECT_IDS(v, "adb", 0, 0, 0, 1);        /* "d" has no token: llama.cpp drops it */
    EXPECT_IDS(v, "<|e|>", 0, 1, 27);
    graft_vocab_free(v);
    const char *m2[] = {"a b", "b c"};
    v = tiny_bpe("gpt-2", m2, 2);
    EXPECT_IDS(v, "abc", 0, 0, 12, 2);
    EXPECT_IDS(v, " a", 0, 0, 4, 0);         /* no merge "Ġ a" */
    graft_vocab_free(v);
}
END_TEST

/* The "default" pre-tokenizer: punctuation runs, GPT-2 words, digit runs, then groups of three
 * digits; merges never cross a word: a | ,, | b | " " | 123 | 456 | 7. */
START_TEST(test_bpe_default_pre) {
    const char *m[] = {", ,", "a ,", "b " G, G " 1", "1 2", "12 3", "4 5", "45 6", "6 7", "3 4"};
    graft_vocab *v = tiny_bpe("default", m, 10);
    EXPECT_IDS(v, "a,,b 1234567", 0, 0, 0, 14, 1, 4, 19, 21, 11);
    graft_vocab_free(v);
    v = tiny_bpe(NULL, m, 10); /* no tokenizer.ggml.pre: default too */
    EXPECT_IDS(v, "a,,b 1234567", 0, 0, 0, 14, 1, 4, 19, 21, 11);
    graft_vocab_free(v);
    v = tiny_bpe("gpt-2", m, 10); /* GPT-2 alone: a | ,, | b | " 1234567" -> Ġ1 2 3 456 7 */
    EXPECT_IDS(v, "a,,b 1234567", 0, 0, 0, 14, 1, 17, 6, 7, 21, 11);
    graft_vocab_free(v);
}
END_TEST

/* Pieces in the byte alphabet, a codepoint outside it, and the clean-up of spaces. */
START_TEST(test_bpe_decode) {
    const char *m[] = {"a b"};
    graft_vocab *v = tiny_bpe("gpt-2", m, 1);
    size_t l;
    const char *p = graft_token_piece(v, 24, 0, &l); /* "Ġa" */
    ck_assert(l == 2 && !memcmp(p, " a", 2));
    p = graft_token_piece(v, 26, 0, &l); /* "€" is no byte of the alphabet */
    ck_assert_msg(l == 22 && !memcmp(p, "[UNK_BYTE_0xe282ac\xe2\x82\xac]", 22), "%.*s", (int)l, p);
    const int32_t ids[] = {0, 4, 3, 4, 0, 4, 3}; /* "a , a ," */
    expect_text(v, ids, 7, 0, 0, "a, a,");
    graft_vocab_free(v);

    /* invalid UTF-8 is tokenized as U+FFFD, as llama.cpp does */
    const char *path = tu_shared("vocab/ggml-vocab-gpt-2.gguf");
    if (!path) return;
    graft_error err = {0};
    ck_assert(graft_vocab_load_file(path, &v, &err) == 0);
    int32_t *ids2;
    size_t n2;
    ck_assert(graft_tokenize(v, "\xef\xbf\xbd", 3, 0, 0, &ids2, &n2, &err) == 0);
    int32_t *ids3;
    size_t n3;
    ck_assert(graft_tokenize(v, "\xff", 1, 0, 0, &ids3, &n3, &err) == 0);
    ck_assert(n2 == n3 && n2 > 0 && !memcmp(ids2, ids3, n2 * sizeof *ids2));
    free(ids2), free(ids3);
    graft_vocab_free(v);
}
END_TEST

/* GPT-2's contractions are words of their own: "I" "'d", "they" "'re", ... */
START_TEST(test_bpe_contractions) {
    const char *path = tu_shared("vocab/ggml-vocab-gpt-2.gguf");
    if (!path) return;
    graft_vocab *v;
    graft_error err = {0};
    ck_assert(graft_vocab_load_file(path, &v, &err) == 0);
    const char *words[][2] = {{"I", "'d"}, {"they", "'re"}, {"we", "'ve"}, {"I", "'m"},
                              {"it", "'ll"}, {"it", "'s"}, {"don", "'t"}};
    for (int i = 0; i < 7; i++) {
        char text[32];
        snprintf(text, sizeof text, "%s%s", words[i][0], words[i][1]);
        int32_t want[2] = {graft_vocab_find(v, words[i][0], strlen(words[i][0])),
                           graft_vocab_find(v, words[i][1], strlen(words[i][1]))};
        ck_assert(want[0] >= 0 && want[1] >= 0);
        ck_assert(check_ids(v, __func__, text, strlen(text), 0, 0, want, 2));
    }
    graft_vocab_free(v);
}
END_TEST

/* Codepoint flags (categories, White_Space), llama.cpp's UTF-8 decoding, GPT-2's byte alphabet. */
START_TEST(test_unicode) {
    const struct { uint32_t cp; unsigned flags; } f[] = {
        {'A', GRAFT_CPT_LETTER}, {0x4e2d, GRAFT_CPT_LETTER}, {'7', GRAFT_CPT_NUMBER},
        {0x663, GRAFT_CPT_NUMBER}, {0x2167, GRAFT_CPT_NUMBER}, {',', GRAFT_CPT_PUNCTUATION},
        {0xbf, GRAFT_CPT_PUNCTUATION}, {'$', GRAFT_CPT_SYMBOL}, {0x20ac, GRAFT_CPT_SYMBOL},
        {0x301, GRAFT_CPT_MARK}, {0xe000, GRAFT_CPT_CONTROL}, {0x378, GRAFT_CPT_CONTROL},
        {0x200b, GRAFT_CPT_CONTROL}, {0x110000, GRAFT_CPT_UNDEFINED},
        {' ', GRAFT_CPT_SEPARATOR | GRAFT_CPT_WHITESPACE}, {'\n', GRAFT_CPT_CONTROL | GRAFT_CPT_WHITESPACE},
        {0x85, GRAFT_CPT_CONTROL | GRAFT_CPT_WHITESPACE}, {0xa0, GRAFT_CPT_SEPARATOR | GRAFT_CPT_WHITESPACE},
        {0x1680, GRAFT_CPT_SEPARATOR | GRAFT_CPT_WHITESPACE}, {0x2028, GRAFT_CPT_SEPARATOR | GRAFT_CPT_WHITESPACE},
        {0x3000, GRAFT_CPT_SEPARATOR | GRAFT_CPT_WHITESPACE}, {0x1c, GRAFT_CPT_CONTROL},
    };
    for (size_t i = 0; i < sizeof f / sizeof f[0]; i++)
        ck_assert_msg(graft_cpt_flags(f[i].cp) == f[i].flags, "U+%04X: flags %#x, want %#x", f[i].cp,
                      graft_cpt_flags(f[i].cp), f[i].flags);

    const struct { const char *s; size_t n; uint32_t cp; size_t len; } d[] = {
        {"a", 1, 'a', 1}, {"\xc3\xa9", 2, 0xe9, 2}, {"\xe2\x82\xac", 3, 0x20ac, 3},
        {"\xf0\x9f\x98\x80", 4, 0x1f600, 4}, {"\xc3", 1, 0xfffd, 1}, {"\xe2\x82", 2, 0xfffd, 1},
        {"\xa9", 1, 0xfffd, 1}, {"\xf8\x80", 2, 0xfffd, 1}, {"\xc0\x80", 2, 0, 2}, /* overlong: accepted */
        {"\xc3" "a", 2, 0xfffd, 1},
    };
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++) {
        size_t len;
        uint32_t cp = graft_utf8_decode(d[i].s, d[i].n, &len);
        ck_assert_msg(cp == d[i].cp && len == d[i].len, "case %zu: U+%04X/%zu", i, cp, len);
    }
    char u[4];
    ck_assert_uint_eq(graft_utf8_encode(0x1f600, u), 4);
    ck_assert(!memcmp(u, "\xf0\x9f\x98\x80", 4));
    ck_assert_uint_eq(graft_utf8_encode(0x200000, u), 3); /* beyond Unicode: U+FFFD */

    ck_assert_uint_eq(graft_byte_to_cpt(' '), 0x120);
    ck_assert_uint_eq(graft_byte_to_cpt(0), 0x100);
    ck_assert_uint_eq(graft_byte_to_cpt('A'), 'A');
    ck_assert_uint_eq(graft_byte_to_cpt(0xad), 0x143);
    ck_assert_uint_eq(graft_byte_to_cpt(0xff), 0xff);
    for (int b = 0; b < 256; b++) ck_assert_int_eq(graft_cpt_to_byte(graft_byte_to_cpt((uint8_t)b)), b);
    ck_assert_int_eq(graft_cpt_to_byte(0x20), -1);
    ck_assert_int_eq(graft_cpt_to_byte(0x144), -1);
}
END_TEST

/* ---- loader errors ------------------------------------------------------------------------------ */

START_TEST(test_vocab_build_errors) {
    const char *toks[] = {"<unk>", "<s>", "</s>", "a", "a"};
    graft_vocab_desc d = graft_vocab_desc_default();
    graft_vocab *v = (graft_vocab *)1;
    graft_error err = {0};
    d.n_tokens = 4;
    d.tokens = toks;
    const char *models[] = {"rwkv", "t5", "ugm"};
    for (int i = 0; i < 3; i++) {
        d.model = models[i];
        ck_assert_int_eq(graft_vocab_build(&d, "m.gguf", &v, &err), GRAFT_E_UNSUPPORTED);
        ck_assert_ptr_null(v);
        ck_assert_msg(strstr(err.msg, models[i]) && strstr(err.msg, "m.gguf"), "%s", err.msg);
    }
    d.model = "gpt2"; /* a BPE pre-tokenizer graft lacks; then no merges */
    d.pre = "qwen2";
    ck_assert_int_eq(graft_vocab_build(&d, "m.gguf", &v, &err), GRAFT_E_UNSUPPORTED);
    ck_assert_msg(strstr(err.msg, "'qwen2'"), "%s", err.msg);
    d.pre = "gpt-2";
    ck_assert_int_eq(graft_vocab_build(&d, "m.gguf", &v, &err), GRAFT_E_FORMAT);
    ck_assert_msg(strstr(err.msg, "tokenizer.ggml.merges"), "%s", err.msg);
    d.pre = NULL;
    d.model = "llama";
    d.n_tokens = 5;
    ck_assert_int_eq(graft_vocab_build(&d, "m.gguf", &v, &err), GRAFT_E_FORMAT);
    ck_assert_msg(strstr(err.msg, "duplicate") && strstr(err.msg, "3 and 4"), "%s", err.msg);
    d.n_tokens = 4;
    d.bos = 4;
    ck_assert_int_eq(graft_vocab_build(&d, "m.gguf", &v, &err), GRAFT_E_FORMAT);
    ck_assert_msg(strstr(err.msg, "bos_token_id"), "%s", err.msg);
    d.bos = -2;
    d.n_tokens = 1; /* default bos 1 is out of range: disabled, but add_bos needs it */
    ck_assert_int_eq(graft_vocab_build(&d, "m.gguf", &v, &err), GRAFT_E_FORMAT);
    ck_assert_msg(strstr(err.msg, "add_bos_token"), "%s", err.msg);
    d.add_bos = 0;
    ck_assert_int_eq(graft_vocab_build(&d, "m.gguf", &v, &err), GRAFT_OK);
    ck_assert_int_eq(v->bos, GRAFT_TOKEN_NULL);
    ck_assert_int_eq(v->unk, 0);
    graft_vocab_free(v);
}
END_TEST

/* A vocab-only GGUF written here; `breakage` spoils one thing. */
static int load_written(int breakage, graft_error *err) {
    const char *toks[] = {"<unk>", "<s>", "</s>", U2581 "a"};
    float sc[] = {0, 0, 0, -1};
    int32_t ty[] = {2, 3, 3, 1};
    gguf_writer *w = gguf_writer_new();
    ck_assert_ptr_nonnull(w);
    if (breakage == 2 || breakage == 6) gguf_writer_add_str(w, "tokenizer.ggml.model", "gpt2", 4);
    else if (breakage != 1) gguf_writer_add_str(w, "tokenizer.ggml.model", "llama", 5);
    if (breakage == 6) gguf_writer_add_str(w, "tokenizer.ggml.pre", "gpt-2", 5);
    gguf_writer_add_arr_str(w, "tokenizer.ggml.tokens", toks, NULL, 4);
    if (breakage == 3) gguf_writer_add_arr(w, "tokenizer.ggml.scores", GRAFT_GGUF_F32, sc, 3);
    else gguf_writer_add_arr(w, "tokenizer.ggml.scores", GRAFT_GGUF_F32, sc, 4);
    if (breakage == 4) gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GRAFT_GGUF_F32, sc, 4);
    else gguf_writer_add_arr(w, "tokenizer.ggml.token_type", GRAFT_GGUF_I32, ty, 4);
    gguf_writer_add_u32(w, "tokenizer.ggml.eos_token_id", breakage == 5 ? 4 : 2);
    gguf_writer_add_bool(w, "tokenizer.ggml.add_space_prefix", 0);
    const char *path = tu_tmppath("vocab.gguf");
    ck_assert_int_eq(gguf_writer_write(w, path, err), 0);
    gguf_writer_free(w);
    graft_vocab *v;
    int rc = graft_vocab_load_file(path, &v, err);
    if (rc == GRAFT_OK) {
        ck_assert_int_eq(v->n_tokens, 4);
        ck_assert_int_eq(v->add_space_prefix, 0);
        ck_assert_int_eq(v->add_bos, 1);
        ck_assert(v->score[3] == -1.0f && v->attr[1] == (GRAFT_ATTR_CONTROL) && v->eos == 2);
        EXPECT_IDS(v, " a", 1, 0, 1, 3);
        graft_vocab_free(v);
    }
    return rc;
}

START_TEST(test_vocab_gguf_errors) {
    graft_error err = {0};
    ck_assert_msg(load_written(0, &err) == GRAFT_OK, "%s", err.msg);
    const struct { int rc; const char *what; } want[] = {
        {0, NULL},
        {GRAFT_E_FORMAT, "tokenizer.ggml.model"},
        {GRAFT_E_FORMAT, "tokenizer.ggml.merges"}, /* gpt2 without merges */
        {GRAFT_E_FORMAT, "tokenizer.ggml.scores"},
        {GRAFT_E_FORMAT, "tokenizer.ggml.token_type"},
        {GRAFT_E_FORMAT, "eos_token_id"},
        {GRAFT_E_FORMAT, "tokenizer.ggml.merges"},
    };
    for (int b = 1; b < 7; b++) {
        ck_assert_int_eq(load_written(b, &err), want[b].rc);
        ck_assert_msg(strstr(err.msg, want[b].what) && strstr(err.msg, "vocab.gguf"), "%d: %s", b,
                      err.msg);
    }
}
END_TEST

/* ---- encoding speed sanity: long input is not quadratic ------------------------------------------ */

START_TEST(test_spm_long_text) {
    const char *p = tu_shared("vocab/ggml-vocab-llama-spm.gguf");
    if (!p) return;
    graft_vocab *v;
    graft_error err = {0};
    ck_assert(graft_vocab_load_file(p, &v, &err) == 0);
    /* 1 MB of words and one 64 KB run without spaces: both finish quickly (a quadratic merge
     * would take minutes) and give as many tokens as the pieces they repeat */
    size_t n = 20 * 52000;
    char *t = malloc(n);
    for (size_t i = 0; i < n; i++) t[i] = "the quick brown fox "[i % 20];
    int32_t *ids;
    size_t k;
    ck_assert(graft_tokenize(v, t, n, 0, 0, &ids, &k, &err) == 0);
    ck_assert_uint_eq(k, 5 * (n / 20) + 1); /* "▁the" "▁quick" "▁brown" "▁fo" "x" ... and "▁" */
    free(ids);
    memset(t, 'a', 65536);
    ck_assert(graft_tokenize(v, t, 65536, 0, 0, &ids, &k, &err) == 0);
    ck_assert_uint_gt(k, 1000);
    free(ids);
    free(t);
    graft_vocab_free(v);
}
END_TEST

/* ---- the CLI ------------------------------------------------------------------------------------- */

/* Runs `$GRAFT_CLI args`, capturing stdout (and stderr when err_too). Returns the exit status. */
static int run_cli(const char *args, char *out, size_t cap, int err_too) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s%s", getenv("GRAFT_CLI"), args, err_too ? " 2>&1" : " 2>/dev/null");
    FILE *f = popen(cmd, "r");
    ck_assert_ptr_nonnull(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = 0;
    int st = pclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

START_TEST(test_cli_tokenize) {
    const char *cli = getenv("GRAFT_CLI");
    const char *m = tu_shared("fixtures/llamacpp/tiny-a/tiny-llm.gguf");
    if (!m) return;
    if (!cli || !*cli) {
        fprintf(stderr, "SKIP test_cli_tokenize: GRAFT_CLI is not set (make test sets it)\n");
        return;
    }
    char args[1024], out[4096];
    snprintf(args, sizeof args, "tokenize -m '%s' -p 'The quick brown fox jumps over the lazy dog' --ids", m);
    ck_assert_int_eq(run_cli(args, out, sizeof out, 0), 0);
    ck_assert_str_eq(out, "[1, 450, 4996, 17354, 1701, 29916, 432, 17204, 975, 278, 17366, 11203]\n");
    snprintf(args, sizeof args, "tokenize -m '%s' -p 'Hello <s>world'", m);
    ck_assert_int_eq(run_cli(args, out, sizeof out, 0), 0);
    ck_assert_str_eq(out, "1\t'<s>'\n15043\t' Hello'\n29871\t' '\n1\t'<s>'\n3186\t' world'\n");
    snprintf(args, sizeof args, "tokenize -m '%s' -p 'Hello <s>' --no-special --no-bos --ids", m);
    ck_assert_int_eq(run_cli(args, out, sizeof out, 0), 0);
    ck_assert_str_eq(out, "[15043, 529, 29879, 29958]\n");
    const char *f = tu_tmppath("prompt.txt");
    FILE *fp = fopen(f, "wb");
    fputs("Hello\n", fp);
    fclose(fp);
    snprintf(args, sizeof args, "tokenize -m '%s' -f '%s' --ids", m, f);
    ck_assert_int_eq(run_cli(args, out, sizeof out, 0), 0);
    ck_assert_str_eq(out, "[1, 15043, 13]\n");
    /* errors: one line on stderr, status 1 */
    const char *g = tu_shared("vocab/ggml-vocab-gpt-2.gguf");
    if (g) { /* a BPE vocab-only file */
        snprintf(args, sizeof args, "tokenize -m '%s' -p 'Hello world' --ids", g);
        ck_assert_int_eq(run_cli(args, out, sizeof out, 0), 0);
        ck_assert_str_eq(out, "[15496, 995]\n");
    }
    ck_assert_int_eq(run_cli("tokenize -m /nonexistent.gguf -p x", out, sizeof out, 1), 1);
    ck_assert(strchr(out, '\n') == out + strlen(out) - 1 && strstr(out, "/nonexistent.gguf"));
    ck_assert_int_eq(run_cli("tokenize -p x", out, sizeof out, 1), 1);
    ck_assert_int_eq(run_cli("tokenize --help", out, sizeof out, 0), 0);
    ck_assert_ptr_nonnull(strstr(out, "--no-special"));
}
END_TEST

Suite *suite_tokenizer(void) {
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("spm");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_spm_merge_by_score);
    tcase_add_test(tc, test_spm_ties_leftmost);
    tcase_add_test(tc, test_spm_prefix_space);
    tcase_add_test(tc, test_spm_byte_fallback_and_unk);
    tcase_add_test(tc, test_spm_special_tokens);
    tcase_add_test(tc, test_spm_bos_eos_empty);
    tcase_add_test(tc, test_spm_decode);
    tcase_add_test(tc, test_spm_stream);
    tcase_add_test(tc, test_bpe_merges);
    tcase_add_test(tc, test_bpe_default_pre);
    tcase_add_test(tc, test_bpe_decode);
    tcase_add_test(tc, test_bpe_contractions);
    tcase_add_test(tc, test_unicode);
    tcase_add_test(tc, test_vocab_build_errors);
    tcase_add_test(tc, test_vocab_gguf_errors);
    tcase_add_test(tc, test_llama_spm_vectors);
    tcase_add_test(tc, test_bert_wpm_vectors);
    tcase_add_test(tc, test_phi3_vectors);
    tcase_add_test(tc, test_bpe_vectors);
    tcase_add_test(tc, test_llama_spm_roundtrip);
    tcase_add_test(tc, test_bpe_roundtrip);
    tcase_add_test(tc, test_fixture_prompts);
    tcase_add_test(tc, test_spm_long_text);
    tcase_add_test(tc, test_cli_tokenize);
    suite_add_tcase(s, tc);
    return s;
}
