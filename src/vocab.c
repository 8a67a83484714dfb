/* vocab.c - building a graft_vocab from tokenizer.ggml.* GGUF metadata or from plain arrays:
 * copies the strings, builds the piece -> id hash map, the special-token list and the decode
 * pieces, and applies llama.cpp's loader rules (defaults per model, EOG detection, Phi-3 rstrip)
 * so that tokenize/detokenize can reproduce llama.cpp exactly. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "unicode.h"
#include "vocab.h"

const char *graft_vocab_type_name(int type) {
    switch (type) {
    case GRAFT_VOCAB_SPM: return "SPM";
    case GRAFT_VOCAB_BPE: return "BPE";
    case GRAFT_VOCAB_WPM: return "WPM";
    default: return "unknown";
    }
}

graft_vocab_desc graft_vocab_desc_default(void) {
    graft_vocab_desc d;
    memset(&d, 0, sizeof d);
    d.bos = d.eos = d.unk = d.pad = d.eot = -2;
    d.add_bos = d.add_eos = d.add_space_prefix = -1;
    return d;
}

void graft_vocab_free(graft_vocab *v) {
    if (!v) return;
    free(v->blob);
    free(v->text);
    free(v->len);
    free(v->score);
    free(v->attr);
    free(v->piece_blob);
    free(v->piece_off);
    free(v->special);
    free(v->map);
    free(v->merge_blob);
    free(v->merge_off);
    free(v->merge_left);
    free(v->merge_len);
    free(v->merge_map);
    free(v);
}

/* ---- piece -> id map ----------------------------------------------------------------------- */

static uint64_t hash_bytes(const char *s, size_t n) {
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 1099511628211ULL;
    }
    return h ^ (h >> 29);
}

int32_t graft_vocab_find(const graft_vocab *v, const char *s, size_t len) {
    uint32_t i = (uint32_t)hash_bytes(s, len) & v->map_mask;
    for (;;) {
        int32_t id = v->map[i];
        if (id < 0) return GRAFT_TOKEN_NULL;
        if (v->len[id] == len && memcmp(v->text[id], s, len) == 0) return id;
        i = (i + 1) & v->map_mask;
    }
}

/* Inserts id; returns the id already holding the same string, or -1. */
static int32_t map_insert(graft_vocab *v, int32_t id) {
    uint32_t i = (uint32_t)hash_bytes(v->text[id], v->len[id]) & v->map_mask;
    for (;;) {
        int32_t o = v->map[i];
        if (o < 0) {
            v->map[i] = id;
            return -1;
        }
        if (v->len[o] == v->len[id] && memcmp(v->text[o], v->text[id], v->len[id]) == 0) return o;
        i = (i + 1) & v->map_mask;
    }
}

/* ---- BPE merges: (left, right) -> rank --------------------------------------------------------- */

static uint64_t hash_pair(const char *a, size_t na, const char *b, size_t nb) {
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < na; i++) h = (h ^ (unsigned char)a[i]) * 1099511628211ULL;
    h = (h ^ 0x100) * 1099511628211ULL; /* not a byte: separates the halves */
    for (size_t i = 0; i < nb; i++) h = (h ^ (unsigned char)b[i]) * 1099511628211ULL;
    return h ^ (h >> 29);
}

static int merge_is(const graft_vocab *v, int32_t r, const char *a, size_t na, const char *b,
                    size_t nb) {
    const char *m = v->merge_blob + v->merge_off[r];
    uint32_t nl = v->merge_left[r], nr = v->merge_len[r] - nl - 1;
    return nl == na && nr == nb && !memcmp(m, a, na) && !memcmp(m + nl + 1, b, nb);
}

int32_t graft_vocab_merge_rank(const graft_vocab *v, const char *a, size_t na, const char *b,
                               size_t nb) {
    if (!v->merge_map) return -1;
    uint32_t i = (uint32_t)hash_pair(a, na, b, nb) & v->merge_mask;
    for (;;) {
        int32_t r = v->merge_map[i];
        if (r < 0) return -1;
        if (merge_is(v, r, a, na, b, nb)) return r;
        i = (i + 1) & v->merge_mask;
    }
}

/* Copies the merge lines and indexes them; a line is split at its first space after the first
 * byte (llama.cpp: word.find(' ', 1)); lines without one join nothing. */
static int build_merges(graft_vocab *v, const graft_vocab_desc *d) {
    int32_t n = d->n_merges;
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) total += (d->merge_lens ? d->merge_lens[i] : strlen(d->merges[i])) + 1;
    uint32_t size = 1;
    while (size < 2u * (uint32_t)n) size <<= 1;
    v->merge_blob = malloc(total ? total : 1);
    v->merge_off = malloc(n * sizeof *v->merge_off + 1);
    v->merge_left = malloc(n * sizeof *v->merge_left + 1);
    v->merge_len = malloc(n * sizeof *v->merge_len + 1);
    v->merge_map = malloc(size * sizeof *v->merge_map);
    if (!v->merge_blob || !v->merge_off || !v->merge_left || !v->merge_len || !v->merge_map)
        return GRAFT_E_NOMEM;
    memset(v->merge_map, 0xff, size * sizeof *v->merge_map);
    v->merge_mask = size - 1;
    v->n_merges = n;
    size_t off = 0;
    for (int32_t r = 0; r < n; r++) {
        size_t l = d->merge_lens ? d->merge_lens[r] : strlen(d->merges[r]);
        memcpy(v->merge_blob + off, d->merges[r], l);
        v->merge_blob[off + l] = 0;
        v->merge_off[r] = (uint32_t)off;
        v->merge_len[r] = (uint32_t)l;
        const char *sp = l > 1 ? memchr(d->merges[r] + 1, ' ', l - 1) : NULL;
        off += l + 1;
        if (!sp) {
            v->merge_left[r] = 0, v->merge_len[r] = 1; /* never matches a non-empty pair */
            continue;
        }
        size_t nl = (size_t)(sp - d->merges[r]);
        v->merge_left[r] = (uint32_t)nl;
        const char *a = d->merges[r], *b = sp + 1;
        size_t nb = l - nl - 1;
        uint32_t i = (uint32_t)hash_pair(a, nl, b, nb) & v->merge_mask;
        while (v->merge_map[i] >= 0 && !merge_is(v, v->merge_map[i], a, nl, b, nb))
            i = (i + 1) & v->merge_mask;
        if (v->merge_map[i] < 0) v->merge_map[i] = r; /* the first line of a pair wins */
    }
    return GRAFT_OK;
}

/* ---- llama.cpp's text-based rules ---------------------------------------------------------- */

/* Tokens llama.cpp's loader recognises by their text (llama-vocab.cpp, "auto-detect special
 * tokens by text"): each becomes a control token; `eog` ones also end generation; `eot` ones
 * are candidates for the end-of-turn id when the file gives none. */
static const struct {
    const char *text;
    unsigned eog : 1, eot : 1;
} text_rules[] = {
    {"<|eot_id|>", 1, 1},      {"<|im_end|>", 1, 1},       {"<|end|>", 1, 1},
    {"<end_of_turn>", 1, 1},   {"<|endoftext|>", 1, 1},    {"<|end_of_text|>", 1, 1},
    {"<EOT>", 1, 1},           {"_<EOT>", 1, 1},           {"[EOT]", 1, 1},
    {"<\xef\xbd\x9c" "end\xe2\x96\x81" "of\xe2\x96\x81" "sentence\xef\xbd\x9c>", 1, 1},
    {"<end_of_utterance>", 1, 1},
    {"<|eom_id|>", 1, 0},      {"<|return|>", 1, 0},       {"<|call|>", 1, 0},
    {"<|flush|>", 1, 0},       {"<|calls|>", 1, 0},        {"[EOS]", 1, 0},
    {"</s>", 1, 0},            {"<eos>", 1, 0},            {"<turn|>", 1, 0},
    {"<|tool_response>", 1, 0}, {"[e~[", 1, 0},
    /* fill-in-the-middle tokens: control; pad/repo/file-separator ones end generation */
    {"<|fim_prefix|>", 0, 0},  {"<fim-prefix>", 0, 0},     {"<fim_prefix>", 0, 0},
    {"<PRE>", 0, 0},           {"\xe2\x96\x81<PRE>", 0, 0}, {"<|code_prefix|>", 0, 0},
    {"<|fim_suffix|>", 0, 0},  {"<fim-suffix>", 0, 0},     {"<fim_suffix>", 0, 0},
    {"<SUF>", 0, 0},           {"\xe2\x96\x81<SUF>", 0, 0}, {"<|code_suffix|>", 0, 0},
    {"<|fim_middle|>", 0, 0},  {"<fim-middle>", 0, 0},     {"<fim_middle>", 0, 0},
    {"<MID>", 0, 0},           {"\xe2\x96\x81<MID>", 0, 0}, {"<|code_middle|>", 0, 0},
    {"<|fim_pad|>", 1, 0},     {"<fim-pad>", 1, 0},        {"<fim_pad>", 1, 0},
    {"<PAD>", 1, 0},           {"[PAD]", 1, 0},
    {"<|fim_repo|>", 1, 0},    {"<|repo_name|>", 1, 0},    {"<fim-repo>", 1, 0},
    {"<REPO>", 1, 0},          {"<reponame>", 1, 0},       {"<|file_sep|>", 1, 0},
};

static void lowercase_ascii(char *s) {
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z') *s = (char)(*s + 32);
}

static int cmp_special(const void *a, const void *b, void *ctx) {
    const graft_vocab *v = ctx;
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    if (v->len[x] != v->len[y]) return v->len[x] > v->len[y] ? -1 : 1; /* longest first */
    return x < y ? -1 : x > y;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

/* The byte of a "<0xXX>" token, as llama.cpp's strtol on text[3..5) reads it. */
static unsigned char byte_of_token(const char *t, uint32_t len) {
    int v = 0;
    for (uint32_t i = 3; i < 5 && i < len; i++) {
        int h = hexval(t[i]);
        if (h < 0) break;
        v = v * 16 + h;
    }
    return (unsigned char)v;
}

/* GPT-2 byte-level text back to bytes (llama.cpp's llama_decode_text): each codepoint of the
 * alphabet is its byte; any other is written as "[UNK_BYTE_0x<hex of its UTF-8><text>]". out has
 * room for bpe_piece_room(n) bytes. */
static uint32_t bpe_decode_text(const char *t, uint32_t n, char *out) {
    uint32_t k = 0;
    for (size_t i = 0; i < n;) {
        size_t l;
        uint32_t cp = graft_utf8_decode(t + i, n - i, &l);
        int b = graft_cpt_to_byte(cp);
        if (b >= 0) {
            out[k++] = (char)b;
        } else {
            char u[4];
            size_t ul = graft_utf8_encode(cp, u);
            k += (uint32_t)sprintf(out + k, "[UNK_BYTE_0x");
            for (size_t j = 0; j < ul; j++) k += (uint32_t)sprintf(out + k, "%02x", (unsigned char)u[j]);
            memcpy(out + k, t, n);
            k += n;
            out[k++] = ']';
        }
        i += l;
    }
    return k;
}

/* Worst case of bpe_decode_text for a token of n bytes: every byte unknown. */
static size_t bpe_piece_room(size_t n) { return n * (12 + 8 + n + 1) + 1; }

/* Decode piece of token id with special rendering on (llama.cpp token_to_piece(special=true)).
 * Writes into out (room for len[id] bytes, or bpe_piece_room for BPE) and returns the length. */
static uint32_t make_piece(const graft_vocab *v, int32_t id, char *out) {
    const char *t = v->text[id];
    uint32_t n = v->len[id], a = v->attr[id];
    if (a & (GRAFT_ATTR_UNKNOWN | GRAFT_ATTR_CONTROL | GRAFT_ATTR_USER_DEFINED)) {
        memcpy(out, t, n);
        return n;
    }
    if ((a & GRAFT_ATTR_NORMAL) && v->type == GRAFT_VOCAB_BPE) return bpe_decode_text(t, n, out);
    if (a & GRAFT_ATTR_NORMAL) {
        uint32_t k = 0;
        for (uint32_t i = 0; i < n;) {
            if (v->type != GRAFT_VOCAB_BPE && i + 3 <= n && (unsigned char)t[i] == 0xe2 &&
                (unsigned char)t[i + 1] == 0x96 && (unsigned char)t[i + 2] == 0x81) {
                out[k++] = ' ';
                i += 3;
            } else {
                out[k++] = t[i++];
            }
        }
        return k;
    }
    if (a & GRAFT_ATTR_BYTE) {
        out[0] = (char)byte_of_token(t, n);
        return 1;
    }
    return 0;
}

/* The splitting a BPE vocabulary's tokenizer.ggml.pre asks for, and whether llama.cpp cleans
 * spaces when decoding it (clean_up_tokenization_spaces); GRAFT_PRE_NONE when graft lacks it. */
static int bpe_pre_type(const char *pre, int *clean) {
    static const struct { const char *name; int type, clean; } tab[] = {
        {"", GRAFT_PRE_DEFAULT, 1},           {"default", GRAFT_PRE_DEFAULT, 1},
        {"gpt-2", GRAFT_PRE_GPT2, 1},         {"phi-2", GRAFT_PRE_GPT2, 1},
        {"gigachat", GRAFT_PRE_GPT2, 1},      {"a.x-4.0", GRAFT_PRE_GPT2, 1},
        {"mellum", GRAFT_PRE_GPT2, 1},        {"exaone4", GRAFT_PRE_GPT2, 1},
        {"mpt", GRAFT_PRE_GPT2, 1},           {"olmo", GRAFT_PRE_GPT2, 1},
        {"jais", GRAFT_PRE_GPT2, 1},          {"trillion", GRAFT_PRE_GPT2, 0},
        {"granite-docling", GRAFT_PRE_GPT2, 0},
        {"starcoder", GRAFT_PRE_STARCODER, 1}, {"refact", GRAFT_PRE_STARCODER, 1},
        {"codeshell", GRAFT_PRE_STARCODER, 1}, {"exaone", GRAFT_PRE_STARCODER, 1},
        {"minerva-7b", GRAFT_PRE_STARCODER, 1}, {"mellum2", GRAFT_PRE_STARCODER, 1},
        {"command-r", GRAFT_PRE_STARCODER, 0}, {"smollm", GRAFT_PRE_STARCODER, 0},
        {"falcon", GRAFT_PRE_FALCON, 1},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (!strcmp(pre, tab[i].name)) {
            *clean = tab[i].clean;
            return tab[i].type;
        }
    return GRAFT_PRE_NONE;
}

/* ---- build --------------------------------------------------------------------------------- */

int graft_vocab_build(const graft_vocab_desc *d, const char *where, graft_vocab **out,
                      graft_error *err) {
    *out = NULL;
    if (!where) where = "vocab";
    if (!d->model)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: no tokenizer.ggml.model", where);
    int type, pre = GRAFT_PRE_NONE, clean = 0;
    if (!strcmp(d->model, "llama")) {
        type = GRAFT_VOCAB_SPM;
    } else if (!strcmp(d->model, "gpt2")) {
        type = GRAFT_VOCAB_BPE;
        if ((pre = bpe_pre_type(d->pre ? d->pre : "", &clean)) == GRAFT_PRE_NONE)
            return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                                   "%s: BPE pre-tokenizer '%s' (tokenizer.ggml.pre) is not supported yet",
                                   where, d->pre);
        if (!d->merges)
            return graft_error_set(err, GRAFT_E_FORMAT, "%s: no tokenizer.ggml.merges", where);
    } else if (!strcmp(d->model, "bert")) {
        type = GRAFT_VOCAB_WPM;
    } else {
        return graft_error_set(err, GRAFT_E_UNSUPPORTED, "%s: unsupported tokenizer model '%s'",
                               where, d->model);
    }
    if (d->n_tokens <= 0 || !d->tokens)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tokenizer.ggml.tokens is empty", where);

    graft_vocab *v = calloc(1, sizeof *v);
    if (!v) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", where);
    int32_t n = d->n_tokens;
    v->type = type;
    v->pre_type = pre;
    snprintf(v->model, sizeof v->model, "%s", d->model);
    snprintf(v->pre, sizeof v->pre, "%s", d->pre ? d->pre : "");
    v->n_tokens = n;

    /* strings: one blob; an empty token becomes "[EMPTY_<id>]" as in llama.cpp */
    size_t total = 0;
    for (int32_t i = 0; i < n; i++) {
        size_t l = d->token_lens ? d->token_lens[i] : strlen(d->tokens[i]);
        total += (l ? l : 24) + 1;
        if (l > 0x7fffffff) {
            graft_vocab_free(v);
            return graft_error_set(err, GRAFT_E_FORMAT, "%s: token %d is too long", where, i);
        }
    }
    v->blob = malloc(total);
    v->text = malloc(n * sizeof *v->text);
    v->len = malloc(n * sizeof *v->len);
    v->score = malloc(n * sizeof *v->score);
    v->attr = malloc(n * sizeof *v->attr);
    v->piece_off = malloc((n + 1) * sizeof *v->piece_off);
    uint32_t map_size = 1;
    while (map_size < 2u * (uint32_t)n) map_size <<= 1;
    v->map = malloc(map_size * sizeof *v->map);
    v->map_mask = map_size - 1;
    if (!v->blob || !v->text || !v->len || !v->score || !v->attr || !v->piece_off || !v->map) {
        graft_vocab_free(v);
        return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory for %d tokens", where, n);
    }
    memset(v->map, 0xff, map_size * sizeof *v->map);

    char *p = v->blob;
    for (int32_t i = 0; i < n; i++) {
        size_t l = d->token_lens ? d->token_lens[i] : strlen(d->tokens[i]);
        if (l) memcpy(p, d->tokens[i], l);
        else l = (size_t)sprintf(p, "[EMPTY_%d]", i);
        p[l] = 0;
        v->text[i] = p;
        v->len[i] = (uint32_t)l;
        p += l + 1;
        if ((int32_t)l > v->max_token_len) v->max_token_len = (int32_t)l;

        v->score[i] = d->scores ? d->scores[i] : 0.0f;
        uint32_t a = GRAFT_ATTR_NORMAL;
        if (d->types) {
            switch (d->types[i]) {
            case GRAFT_TOKTYPE_NORMAL: a = GRAFT_ATTR_NORMAL; break;
            case GRAFT_TOKTYPE_UNKNOWN: a = GRAFT_ATTR_UNKNOWN; break;
            case GRAFT_TOKTYPE_CONTROL: a = GRAFT_ATTR_CONTROL; break;
            case GRAFT_TOKTYPE_USER_DEFINED: a = GRAFT_ATTR_USER_DEFINED; break;
            case GRAFT_TOKTYPE_UNUSED: a = GRAFT_ATTR_UNUSED; break;
            case GRAFT_TOKTYPE_BYTE: a = GRAFT_ATTR_BYTE; break;
            default: a = GRAFT_ATTR_UNDEFINED; break;
            }
        }
        v->attr[i] = a;

        int32_t dup = map_insert(v, i);
        if (dup >= 0) {
            graft_error_set(err, GRAFT_E_FORMAT,
                            "%s: tokenizer.ggml.tokens: duplicate token '%.64s' has ids %d and %d",
                            where, v->text[i], dup, i);
            graft_vocab_free(v);
            return err ? err->code : GRAFT_E_FORMAT;
        }
    }

    /* special ids: the model's defaults (llama.cpp's), disabled when out of range; given ids
     * must be in range */
    if (type == GRAFT_VOCAB_SPM) v->bos = 1, v->eos = 2, v->unk = 0;
    else if (type == GRAFT_VOCAB_WPM) v->bos = 101, v->eos = 102, v->unk = 100; /* [CLS], [SEP], [UNK] */
    else v->bos = 11, v->eos = 11, v->unk = GRAFT_TOKEN_NULL;
    v->pad = GRAFT_TOKEN_NULL, v->eot = GRAFT_TOKEN_NULL;
    struct { int32_t given; int32_t *dst; const char *key; } ids[] = {
        {d->bos, &v->bos, "tokenizer.ggml.bos_token_id"},
        {d->eos, &v->eos, "tokenizer.ggml.eos_token_id"},
        {d->unk, &v->unk, "tokenizer.ggml.unknown_token_id"},
        {d->pad, &v->pad, "tokenizer.ggml.padding_token_id"},
        {d->eot, &v->eot, "tokenizer.ggml.eot_token_id"},
    };
    for (size_t k = 0; k < sizeof ids / sizeof ids[0]; k++) {
        if (*ids[k].dst >= n) *ids[k].dst = GRAFT_TOKEN_NULL;
        if (ids[k].given == -2) continue;
        if (ids[k].given < 0 || ids[k].given >= n) {
            graft_error_set(err, GRAFT_E_FORMAT, "%s: %s = %d is outside the vocabulary (%d tokens)",
                            where, ids[k].key, ids[k].given, n);
            graft_vocab_free(v);
            return err ? err->code : GRAFT_E_FORMAT;
        }
        *ids[k].dst = ids[k].given;
    }

    /* flags, defaults as llama.cpp: SPM adds BOS and a prefix space; BPE neither, and cleans
     * spaces when decoding */
    int spm = type == GRAFT_VOCAB_SPM, wpm = type == GRAFT_VOCAB_WPM;
    /* WordPiece: [CLS] text [SEP], as BERT's tokenizer and llama.cpp (bos = cls, eos = sep) */
    v->add_bos = d->add_bos >= 0 ? d->add_bos : spm || wpm;
    v->add_eos = d->add_eos >= 0 ? d->add_eos : wpm;
    v->add_space_prefix = d->add_space_prefix >= 0 ? d->add_space_prefix : spm;
    v->clean_spaces = clean;
    if (v->add_bos && v->bos == GRAFT_TOKEN_NULL) {
        graft_error_set(err, GRAFT_E_FORMAT,
                        "%s: tokenizer.ggml.add_bos_token is true, but tokenizer.ggml.bos_token_id is not set",
                        where);
        graft_vocab_free(v);
        return err ? err->code : GRAFT_E_FORMAT;
    }
    if (v->add_eos && v->eos == GRAFT_TOKEN_NULL) {
        graft_error_set(err, GRAFT_E_FORMAT,
                        "%s: tokenizer.ggml.add_eos_token is true, but tokenizer.ggml.eos_token_id is not set",
                        where);
        graft_vocab_free(v);
        return err ? err->code : GRAFT_E_FORMAT;
    }

    /* byte tables and the newline token. SPM falls back to "<0xXX>" (else the one-byte string);
     * BPE spells byte b as GPT-2's codepoint for it. */
    for (int b = 0; b < 256; b++) {
        char e[4];
        size_t el = graft_utf8_encode(graft_byte_to_cpt((uint8_t)b), e);
        memcpy(v->byte_enc[b], e, 2);
        v->byte_enc_len[b] = (uint8_t)el;
        int32_t id;
        if (spm) {
            char hex[7];
            snprintf(hex, sizeof hex, "<0x%02X>", b);
            id = graft_vocab_find(v, hex, 6);
            if (id < 0) {
                char c = (char)b;
                id = graft_vocab_find(v, &c, 1);
            }
        } else {
            id = graft_vocab_find(v, e, el);
        }
        v->byte_token[b] = id;
    }
    v->nl = v->byte_token['\n'] >= 0 ? v->byte_token['\n'] : v->pad;
    if (type == GRAFT_VOCAB_BPE && build_merges(v, d) != GRAFT_OK) {
        graft_vocab_free(v);
        return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory for %d merges", where, d->n_merges);
    }

    /* llama.cpp's text rules: control-looking tokens, end-of-generation set */
    for (size_t k = 0; k < sizeof text_rules / sizeof text_rules[0]; k++) {
        int32_t id = graft_vocab_find(v, text_rules[k].text, strlen(text_rules[k].text));
        if (id < 0) continue;
        v->attr[id] |= GRAFT_ATTR_CONTROL;
        if (text_rules[k].eog) v->attr[id] |= GRAFT_ATTR_EOG;
        if (text_rules[k].eot && v->eot == GRAFT_TOKEN_NULL) v->eot = id;
    }
    {   /* llama.cpp's Gemma-4 workaround: with <|tool_response>, </s> is a normal token */
        int32_t tr = graft_vocab_find(v, "<|tool_response>", 16), s = graft_vocab_find(v, "</s>", 4);
        if (tr >= 0 && s >= 0) v->attr[s] = GRAFT_ATTR_NORMAL;
    }
    if (v->eos >= 0) v->attr[v->eos] |= GRAFT_ATTR_EOG;
    if (v->eot >= 0) v->attr[v->eot] |= GRAFT_ATTR_EOG;

    /* special tokens matched whole before tokenizing, longest first */
    v->special = malloc(n * sizeof *v->special);
    if (!v->special) {
        graft_vocab_free(v);
        return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", where);
    }
    for (int32_t i = 0; i < n; i++)
        if (v->attr[i] & (GRAFT_ATTR_CONTROL | GRAFT_ATTR_USER_DEFINED | GRAFT_ATTR_UNKNOWN))
            v->special[v->n_special++] = i;
    qsort_r(v->special, v->n_special, sizeof *v->special, cmp_special, v);

    /* llama.cpp: models named Phi-3 strip whitespace right of their special tokens, except
     * <unk>, <s> and <|endoftext|> */
    if (d->name) {
        char name[256];
        snprintf(name, sizeof name, "%s", d->name);
        lowercase_ascii(name);
        if (strstr(name, "phi-3") || strstr(name, "phi3")) {
            for (int32_t k = 0; k < v->n_special; k++) v->attr[v->special[k]] |= GRAFT_ATTR_RSTRIP;
            const char *on[] = {"</s>"}, *off[] = {"<unk>", "<s>", "<|endoftext|>"};
            int32_t id = graft_vocab_find(v, on[0], strlen(on[0]));
            if (id >= 0) v->attr[id] |= GRAFT_ATTR_RSTRIP;
            for (int k = 0; k < 3; k++) {
                id = graft_vocab_find(v, off[k], strlen(off[k]));
                if (id >= 0) v->attr[id] &= ~(uint32_t)GRAFT_ATTR_RSTRIP;
            }
        }
    }

    /* decode pieces (special rendering on), through a scratch buffer for the worst case */
    size_t cap = total, off = 0;
    char *tmp = malloc(spm ? (size_t)v->max_token_len + 1 : bpe_piece_room((size_t)v->max_token_len));
    v->piece_blob = malloc(cap);
    int ok = tmp && v->piece_blob;
    for (int32_t i = 0; i < n && ok; i++) {
        uint32_t l = make_piece(v, i, tmp);
        if (off + l > cap) {
            while (off + l > cap) cap *= 2;
            char *p2 = realloc(v->piece_blob, cap);
            if (!p2 || cap > UINT32_MAX) {
                ok = 0;
                if (p2) v->piece_blob = p2;
                break;
            }
            v->piece_blob = p2;
        }
        memcpy(v->piece_blob + off, tmp, l);
        v->piece_off[i] = (uint32_t)off;
        if ((int32_t)l > v->max_piece_len) v->max_piece_len = (int32_t)l;
        off += l;
        v->piece_off[i + 1] = (uint32_t)off;
    }
    free(tmp);
    if (!ok) {
        graft_vocab_free(v);
        return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", where);
    }

    *out = v;
    return GRAFT_OK;
}

/* ---- GGUF ------------------------------------------------------------------------------------ */

/* A NUL-terminated copy of a string value into buf (truncated to cap). */
static int get_str_opt(const graft_gguf *g, const char *key, char *buf, size_t cap, int *found,
                       graft_error *err) {
    const char *s;
    size_t len;
    graft_error e;
    int rc = graft_gguf_get_str(g, key, &s, &len, &e);
    *found = 0;
    buf[0] = 0;
    if (rc == GRAFT_E_NOTFOUND) return GRAFT_OK;
    if (rc != GRAFT_OK)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: %s must be a string",
                               graft_gguf_path(g), key);
    if (len >= cap) len = cap - 1;
    memcpy(buf, s, len);
    buf[len] = 0;
    *found = 1;
    return GRAFT_OK;
}

static int get_id_opt(const graft_gguf *g, const char *key, int32_t *out, graft_error *err) {
    int64_t x;
    graft_error e;
    int rc = graft_gguf_get_i64(g, key, &x, &e);
    if (rc == GRAFT_E_NOTFOUND) return GRAFT_OK; /* keep -2: not given */
    if (rc != GRAFT_OK)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: %s must be an integer",
                               graft_gguf_path(g), key);
    if (x < 0 || x > INT32_MAX)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: %s = %lld is not a token id",
                               graft_gguf_path(g), key, (long long)x);
    *out = (int32_t)x;
    return GRAFT_OK;
}

static int get_bool_opt(const graft_gguf *g, const char *key, int *out, graft_error *err) {
    int b;
    graft_error e;
    int rc = graft_gguf_get_bool(g, key, &b, &e);
    if (rc == GRAFT_E_NOTFOUND) return GRAFT_OK; /* keep -1: default */
    if (rc != GRAFT_OK)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: %s must be a bool", graft_gguf_path(g),
                               key);
    *out = b ? 1 : 0;
    return GRAFT_OK;
}

int graft_vocab_load(const graft_gguf *g, graft_vocab **out, graft_error *err) {
    const char *path = graft_gguf_path(g);
    graft_vocab_desc d = graft_vocab_desc_default();
    char model[64], pre[64], name[256];
    int found, rc;
    *out = NULL;

    if ((rc = get_str_opt(g, "tokenizer.ggml.model", model, sizeof model, &found, err))) return rc;
    if (!found)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: no tokenizer.ggml.model (not a model with a vocabulary)",
                               path);
    if ((rc = get_str_opt(g, "tokenizer.ggml.pre", pre, sizeof pre, &found, err))) return rc;
    if ((rc = get_str_opt(g, "general.name", name, sizeof name, &found, err))) return rc;
    d.model = model;
    d.pre = pre;
    d.name = found ? name : NULL;
    /* unsupported models fail before the arrays are read */
    int bpe = !strcmp(model, "gpt2");
    if (strcmp(model, "llama") != 0 && strcmp(model, "bert") != 0 && !bpe) return graft_vocab_build(&d, path, out, err);

    graft_gguf_value toks, scores, types;
    graft_error e;
    rc = graft_gguf_get_arr(g, "tokenizer.ggml.tokens", GRAFT_GGUF_STRING, &toks, &e);
    if (rc == GRAFT_E_NOTFOUND)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: no tokenizer.ggml.tokens", path);
    if (rc != GRAFT_OK)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tokenizer.ggml.tokens must be an array of strings",
                               path);
    if (toks.arr_n == 0 || toks.arr_n > INT32_MAX)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tokenizer.ggml.tokens has %llu entries",
                               path, (unsigned long long)toks.arr_n);
    int32_t n = (int32_t)toks.arr_n;

    int has_scores = 0, has_types = 0;
    rc = graft_gguf_get_arr(g, "tokenizer.ggml.scores", -1, &scores, &e);
    if (rc == GRAFT_OK) {
        if (scores.arr_type != GRAFT_GGUF_F32 && scores.arr_type != GRAFT_GGUF_I32)
            return graft_error_set(err, GRAFT_E_FORMAT, "%s: tokenizer.ggml.scores must be an f32 or i32 array",
                                   path);
        if (scores.arr_n != toks.arr_n)
            return graft_error_set(err, GRAFT_E_FORMAT,
                                   "%s: tokenizer.ggml.scores has %llu entries for %d tokens", path,
                                   (unsigned long long)scores.arr_n, n);
        has_scores = 1;
    } else if (rc != GRAFT_E_NOTFOUND) {
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tokenizer.ggml.scores must be an array", path);
    }
    rc = graft_gguf_get_arr(g, "tokenizer.ggml.token_type", -1, &types, &e);
    if (rc == GRAFT_OK) {
        if (types.arr_type != GRAFT_GGUF_I32)
            return graft_error_set(err, GRAFT_E_FORMAT, "%s: tokenizer.ggml.token_type must be an i32 array",
                                   path);
        if (types.arr_n != toks.arr_n)
            return graft_error_set(err, GRAFT_E_FORMAT,
                                   "%s: tokenizer.ggml.token_type has %llu entries for %d tokens",
                                   path, (unsigned long long)types.arr_n, n);
        has_types = 1;
    } else if (rc != GRAFT_E_NOTFOUND) {
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tokenizer.ggml.token_type must be an array",
                               path);
    }

    if ((rc = get_id_opt(g, "tokenizer.ggml.bos_token_id", &d.bos, err))) return rc;
    if ((rc = get_id_opt(g, "tokenizer.ggml.eos_token_id", &d.eos, err))) return rc;
    if ((rc = get_id_opt(g, "tokenizer.ggml.unknown_token_id", &d.unk, err))) return rc;
    if ((rc = get_id_opt(g, "tokenizer.ggml.padding_token_id", &d.pad, err))) return rc;
    if ((rc = get_id_opt(g, "tokenizer.ggml.eot_token_id", &d.eot, err))) return rc;
    /* BERT files name [CLS] / [SEP] instead of bos / eos (llama.cpp's converter) */
    if (d.bos == -2 && (rc = get_id_opt(g, "tokenizer.ggml.cls_token_id", &d.bos, err))) return rc;
    if (d.eos == -2 && (rc = get_id_opt(g, "tokenizer.ggml.seperator_token_id", &d.eos, err))) return rc;
    if ((rc = get_bool_opt(g, "tokenizer.ggml.add_bos_token", &d.add_bos, err))) return rc;
    if ((rc = get_bool_opt(g, "tokenizer.ggml.add_eos_token", &d.add_eos, err))) return rc;
    if ((rc = get_bool_opt(g, "tokenizer.ggml.add_space_prefix", &d.add_space_prefix, err))) return rc;

    const char **tp = malloc(n * sizeof *tp);
    size_t *tl = malloc(n * sizeof *tl);
    float *sc = has_scores ? malloc(n * sizeof *sc) : NULL;
    int32_t *ty = has_types ? malloc(n * sizeof *ty) : NULL;
    if (!tp || !tl || (has_scores && !sc) || (has_types && !ty)) {
        free(tp), free(tl), free(sc), free(ty);
        return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory for %d tokens", path, n);
    }
    for (int32_t i = 0; i < n; i++) {
        graft_gguf_value s = graft_gguf_arr_get(g, &toks, (uint64_t)i);
        tp[i] = s.str;
        tl[i] = (size_t)s.len;
    }
    if (has_scores) {
        const unsigned char *raw = graft_gguf_arr_data(g, &scores);
        for (int32_t i = 0; i < n; i++) {
            if (scores.arr_type == GRAFT_GGUF_F32) {
                memcpy(&sc[i], raw + 4 * (size_t)i, 4);
            } else {
                int32_t x;
                memcpy(&x, raw + 4 * (size_t)i, 4);
                sc[i] = (float)x;
            }
        }
    }
    if (has_types) memcpy(ty, graft_gguf_arr_data(g, &types), n * sizeof *ty);

    graft_gguf_value merges;
    const char **mp = NULL;
    size_t *ml = NULL;
    if (bpe) {
        rc = graft_gguf_get_arr(g, "tokenizer.ggml.merges", GRAFT_GGUF_STRING, &merges, &e);
        if (rc == GRAFT_OK && merges.arr_n > INT32_MAX) rc = GRAFT_E_FORMAT;
        if (rc == GRAFT_OK) {
            d.n_merges = (int32_t)merges.arr_n;
            mp = malloc((merges.arr_n + 1) * sizeof *mp);
            ml = malloc((merges.arr_n + 1) * sizeof *ml);
            if (!mp || !ml) rc = GRAFT_E_NOMEM;
            for (int32_t i = 0; rc == GRAFT_OK && i < d.n_merges; i++) {
                graft_gguf_value m = graft_gguf_arr_get(g, &merges, (uint64_t)i);
                mp[i] = m.str;
                ml[i] = (size_t)m.len;
            }
            d.merges = mp;
            d.merge_lens = ml;
        }
        if (rc != GRAFT_OK) {
            free(tp), free(tl), free(sc), free(ty), free(mp), free(ml);
            if (rc == GRAFT_E_NOMEM) return graft_error_set(err, rc, "%s: out of memory", path);
            return graft_error_set(err, GRAFT_E_FORMAT,
                                   rc == GRAFT_E_NOTFOUND ? "%s: no tokenizer.ggml.merges"
                                                          : "%s: tokenizer.ggml.merges must be an array of strings",
                                   path);
        }
    }
    d.n_tokens = n;
    d.tokens = tp;
    d.token_lens = tl;
    d.scores = sc;
    d.types = ty;
    rc = graft_vocab_build(&d, path, out, err);
    free(tp), free(tl), free(sc), free(ty), free(mp), free(ml);
    return rc;
}

int graft_vocab_load_file(const char *path, graft_vocab **out, graft_error *err) {
    graft_gguf *g;
    *out = NULL;
    int rc = graft_gguf_open(path, &g, err);
    if (rc != GRAFT_OK) return rc;
    rc = graft_vocab_load(g, out, err);
    graft_gguf_close(g);
    return rc;
}
