/* tokenizer.c - the model-independent half of tokenizing (tokenizer.h): splitting the text
 * around special tokens (llama.cpp's tokenizer_st_partition), BOS/EOS and the prefix-space rule,
 * dispatch to the per-model tokenizer, and decoding ids back to bytes, whole or streamed. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tokenizer.h"

int graft_ids_push(graft_ids *a, int32_t id) {
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        int32_t *p = realloc(a->v, cap * sizeof *p);
        if (!p) return GRAFT_E_NOMEM;
        a->v = p;
        a->cap = cap;
    }
    a->v[a->n++] = id;
    return GRAFT_OK;
}

/* ---- special-token splitting ---------------------------------------------------------------- */

/* A piece of the input: a matched special token (id >= 0) or the raw text [off, off + len). */
typedef struct frag {
    int32_t id;
    size_t off, len;
} frag;

typedef struct frags {
    frag *v;
    size_t n, cap;
} frags;

static int frags_push(frags *f, frag x) {
    if (f->n == f->cap) {
        size_t cap = f->cap ? 2 * f->cap : 16;
        frag *p = realloc(f->v, cap * sizeof *p);
        if (!p) return GRAFT_E_NOMEM;
        f->v = p;
        f->cap = cap;
    }
    f->v[f->n++] = x;
    return GRAFT_OK;
}

/* isspace() in the C locale, on a byte as llama.cpp passes it (a char: bytes >= 0x80 are not) */
static int is_space(char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

/* Splits every text fragment of *in at each occurrence of token id, leftmost first, into *out
 * (which is emptied first), honouring the token's lstrip/rstrip attributes. */
static int split_at(const graft_vocab *v, const char *text, int32_t id, const frags *in,
                    frags *out) {
    const char *tok = v->text[id];
    size_t tl = v->len[id];
    uint32_t attr = v->attr[id];
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        frag f = in->v[i];
        if (f.id >= 0) {
            if (frags_push(out, f)) return GRAFT_E_NOMEM;
            continue;
        }
        size_t off = f.off, len = f.len;
        for (;;) {
            const char *m = len >= tl ? memmem(text + off, len, tok, tl) : NULL;
            if (!m) {
                if (len > 0) {
                    frag r = {-1, off, len};
                    if (frags_push(out, r)) return GRAFT_E_NOMEM;
                }
                break;
            }
            size_t at = (size_t)(m - text);
            size_t left = at - off;
            if (attr & GRAFT_ATTR_LSTRIP)
                while (left > 0 && is_space(text[off + left - 1])) left--;
            if (left > 0) {
                frag l = {-1, off, left};
                if (frags_push(out, l)) return GRAFT_E_NOMEM;
            }
            frag t = {id, 0, 0};
            if (frags_push(out, t)) return GRAFT_E_NOMEM;
            size_t end = off + len;
            off = at + tl;
            len = end - off;
            if (attr & GRAFT_ATTR_RSTRIP)
                while (len > 0 && is_space(text[off])) off++, len--;
        }
    }
    return GRAFT_OK;
}

/* first_prefix: whether the first text piece may get the prefix space (then add_space_prefix
 * decides); pieces after a special token follow llama.cpp's is_prev_special rule. */
static int tokenize_impl(const graft_vocab *v, const char *text, size_t len, int add_special,
                         int parse_special, int first_prefix, int32_t **ids, size_t *n_ids,
                         graft_error *err) {
    *ids = NULL;
    *n_ids = 0;
    if (len > GRAFT_TOKENIZE_MAX_BYTES)
        return graft_error_set(err, GRAFT_E_LIMIT, "tokenize: text of %zu bytes is over the limit of %zu",
                               len, GRAFT_TOKENIZE_MAX_BYTES);
    if (len > 0 && !text)
        return graft_error_set(err, GRAFT_E_INVALID, "tokenize: text is NULL");

    frags a = {0}, b = {0};
    graft_ids out = {0};
    int rc = GRAFT_OK;
    if (len > 0) {
        frag all = {-1, 0, len};
        rc = frags_push(&a, all);
    }
    for (int32_t k = 0; k < v->n_special && rc == GRAFT_OK && a.n; k++) {
        int32_t id = v->special[k];
        /* control and unknown tokens only when asked; user-defined ones always */
        if (!parse_special && (v->attr[id] & (GRAFT_ATTR_CONTROL | GRAFT_ATTR_UNKNOWN))) continue;
        rc = split_at(v, text, id, &a, &b);
        frags t = a;
        a = b;
        b = t;
    }

    if (rc == GRAFT_OK && add_special && v->add_bos) rc = graft_ids_push(&out, v->bos);
    int prev_special = first_prefix; /* the first text piece gets the prefix space */
    for (size_t i = 0; i < a.n && rc == GRAFT_OK; i++) {
        if (a.v[i].id >= 0) {
            rc = graft_ids_push(&out, a.v[i].id);
            prev_special = 1;
            continue;
        }
        switch (v->type) {
        case GRAFT_VOCAB_SPM:
            rc = graft_spm_encode(v, text + a.v[i].off, a.v[i].len,
                                  v->add_space_prefix && prev_special, &out, err);
            break;
        case GRAFT_VOCAB_BPE:
            rc = graft_bpe_encode(v, text + a.v[i].off, a.v[i].len, &out, err);
            break;
        case GRAFT_VOCAB_WPM:
            rc = graft_wpm_encode(v, text + a.v[i].off, a.v[i].len, &out, err);
            break;
        default:
            rc = graft_error_set(err, GRAFT_E_UNSUPPORTED, "tokenize: %s vocabularies are not supported",
                                 graft_vocab_type_name(v->type));
        }
        prev_special = 0;
    }
    if (rc == GRAFT_OK && add_special && v->add_eos) rc = graft_ids_push(&out, v->eos);

    free(a.v);
    free(b.v);
    if (rc != GRAFT_OK) {
        if (rc == GRAFT_E_NOMEM) graft_error_set(err, rc, "tokenize: out of memory");
        free(out.v);
        return rc;
    }
    *ids = out.v;
    *n_ids = out.n;
    return GRAFT_OK;
}

int graft_tokenize(const graft_vocab *v, const char *text, size_t len, int add_special,
                   int parse_special, int32_t **ids, size_t *n_ids, graft_error *err) {
    return tokenize_impl(v, text, len, add_special, parse_special, 1, ids, n_ids, err);
}

int graft_tokenize_continue(const graft_vocab *v, const char *text, size_t len, int parse_special,
                            int32_t **ids, size_t *n_ids, graft_error *err) {
    return tokenize_impl(v, text, len, 0, parse_special, 0, ids, n_ids, err);
}

/* ---- decoding -------------------------------------------------------------------------------- */

const char *graft_token_piece(const graft_vocab *v, int32_t id, int special, size_t *len) {
    *len = 0;
    if (id < 0 || id >= v->n_tokens) return NULL;
    const char *p = v->piece_blob + v->piece_off[id];
    if (!special && (v->attr[id] & (GRAFT_ATTR_UNKNOWN | GRAFT_ATTR_CONTROL))) return p;
    *len = v->piece_off[id + 1] - v->piece_off[id];
    return p;
}

/* llama.cpp's clean_up_tokenization_spaces passes, in place (BPE vocabularies). */
static size_t clean_spaces(char *t, size_t n) {
    size_t m = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) { /* " ?", " !", " .", " ," */
        char x = t[i];
        if (t[i - 1] == ' ' && (x == '?' || x == '!' || x == '.' || x == ',')) m--;
        t[m++] = x;
    }
    n = m, m = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) { /* " ' " -> "'" */
        char x = t[i];
        if (x == '\'' && i + 1 < n && t[i - 1] == ' ' && t[i + 1] == ' ') {
            m--;
            t[++i] = 0;
        }
        t[m++] = x;
    }
    n = m, m = n ? 1 : 0;
    for (size_t i = 1; i < n; i++) { /* " 's", " 'm", " 're", " 've" */
        char x = t[i];
        if (t[i - 1] == ' ' && x == '\'' && i + 1 < n) {
            char x1 = t[i + 1];
            if (x1 == 's' || x1 == 'm') m--;
            else if (i + 2 < n && ((x1 == 'r' && t[i + 2] == 'e') || (x1 == 'v' && t[i + 2] == 'e')))
                m--;
        }
        t[m++] = x;
    }
    return m;
}

int graft_detokenize(const graft_vocab *v, const int32_t *ids, size_t n, int remove_special,
                     int unparse_special, char **out, size_t *out_len, graft_error *err) {
    *out = NULL;
    *out_len = 0;
    int strip = v->add_space_prefix;
    if (remove_special && v->add_bos && n > 0 && ids[0] == v->bos) {
        strip = 0;
        ids++, n--;
    }
    if (remove_special && v->add_eos && n > 0 && ids[n - 1] == v->eos) n--;

    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        if (!graft_token_piece(v, ids[i], unparse_special, &l))
            return graft_error_set(err, GRAFT_E_INVALID, "detokenize: id %d at %zu is outside the vocabulary (%d tokens)",
                                   ids[i], i, v->n_tokens);
        total += l;
    }
    char *s = malloc(total + 1);
    if (!s) return graft_error_set(err, GRAFT_E_NOMEM, "detokenize: out of memory");
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l;
        const char *p = graft_token_piece(v, ids[i], unparse_special, &l);
        if (strip && l > 0 && p[0] == ' ') p++, l--;
        strip = 0;
        memcpy(s + k, p, l);
        k += l;
    }
    if (v->clean_spaces) k = clean_spaces(s, k);
    s[k] = 0;
    *out = s;
    *out_len = k;
    return GRAFT_OK;
}

/* ---- streaming ------------------------------------------------------------------------------- */

void graft_detok_stream_init(graft_detok_stream *s, const graft_vocab *v, int special,
                             int strip_first_space) {
    memset(s, 0, sizeof *s);
    s->v = v;
    s->special = special;
    s->lstrip = strip_first_space;
}

size_t graft_detok_stream_cap(const graft_vocab *v) { return (size_t)v->max_piece_len + 4; }

/* Length of the sequence a lead byte starts (0: not a valid lead byte). */
static int lead_len(unsigned char c) {
    if (c >= 0xc2 && c <= 0xdf) return 2;
    if (c >= 0xe0 && c <= 0xef) return 3;
    if (c >= 0xf0 && c <= 0xf4) return 4;
    return 0;
}

int graft_detok_stream_push(graft_detok_stream *s, int32_t id, char *out, size_t cap, size_t *n,
                            graft_error *err) {
    size_t l;
    *n = 0;
    const char *p = graft_token_piece(s->v, id, s->special, &l);
    if (!p)
        return graft_error_set(err, GRAFT_E_INVALID, "detokenize: id %d is outside the vocabulary (%d tokens)",
                               id, s->v->n_tokens);
    if (s->lstrip && l > 0 && p[0] == ' ') p++, l--;
    s->lstrip = 0;
    if ((size_t)s->n_held + l > cap)
        return graft_error_set(err, GRAFT_E_INVALID, "detokenize: output buffer of %zu bytes is too small",
                               cap);
    memcpy(out, s->held, (size_t)s->n_held);
    memcpy(out + s->n_held, p, l);
    size_t m = (size_t)s->n_held + l;
    s->n_held = 0;

    /* hold back a trailing lead byte and its continuation bytes if the sequence is unfinished */
    size_t i = m, back = 0;
    while (i > 0 && back < 3 && ((unsigned char)out[i - 1] & 0xc0) == 0x80) i--, back++;
    if (i > 0) {
        int need = lead_len((unsigned char)out[i - 1]);
        size_t have = m - (i - 1);
        if (need > 0 && have < (size_t)need) {
            s->n_held = (int)have;
            memcpy(s->held, out + i - 1, have);
            m = i - 1;
        }
    }
    *n = m;
    return GRAFT_OK;
}

size_t graft_detok_stream_flush(graft_detok_stream *s, char *out) {
    size_t k = (size_t)s->n_held;
    memcpy(out, s->held, k);
    s->n_held = 0;
    return k;
}
