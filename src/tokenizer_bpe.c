/* tokenizer_bpe.c - byte-level BPE ("gpt2" vocabularies), as llama.cpp runs it
 * (llm_tokenizer_bpe_session + unicode_regex_split): the text is decoded to codepoints (invalid
 * bytes become U+FFFD), split into words by the pre-tokenizer of tokenizer.ggml.pre, each word's
 * UTF-8 bytes are spelled in GPT-2's byte alphabet, and adjacent symbols of a word are merged,
 * lowest merge rank first (ties: leftmost), until no merge applies.
 *
 * The pre-tokenizers are llama.cpp's regex lists, written out as code: the GPT-2 regex
 *   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)
 * as llama.cpp's hand-written matcher, and the character-class expressions ("[\p{P}$+<=>^~|]+",
 * "\p{N}+", "\p{N}", "[0-9][0-9][0-9]") as leftmost matches of a class, the text between
 * matches kept as words of its own (std::regex_iterator's split). */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tokenizer.h"
#include "unicode.h"

/* ---- pre-tokenizer splits: each turns a list of word lengths (in codepoints) into a finer one */

typedef struct lens {
    size_t *v;
    size_t n, cap;
} lens;

static int lens_push(lens *a, size_t x) {
    if (x == 0) return GRAFT_OK;
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 64;
        size_t *p = realloc(a->v, cap * sizeof *p);
        if (!p) return GRAFT_E_NOMEM;
        a->v = p;
        a->cap = cap;
    }
    a->v[a->n++] = x;
    return GRAFT_OK;
}

typedef struct text {
    const uint32_t *cp;  /* (n) codepoints */
    const uint16_t *fl;  /* (n) their flags */
} text;

/* The character classes, as llama.cpp evaluates them on its "collapsed" text: ASCII by the
 * character itself, anything else by its category (non-ASCII whitespace never matches). */
enum { CLASS_PUNCT, CLASS_PUNCT_FALCON, CLASS_NUMBER, CLASS_DIGIT };

static int in_class(int cls, uint32_t c, unsigned f) {
    switch (cls) {
    case CLASS_PUNCT:        /* [\p{P}\$\+<=>\^~\|] */
    case CLASS_PUNCT_FALCON: /* [\p{P}\$\+<=>\^~\|`] */
        if (c < 128) {
            if (c != 0 && strchr("!\"#%&'()*,-./:;?@[\\]_{}$+<=>^~|", (int)c)) return 1;
            return cls == CLASS_PUNCT_FALCON && c == '`';
        }
        return !(f & GRAFT_CPT_WHITESPACE) && (f & GRAFT_CPT_PUNCTUATION);
    case CLASS_NUMBER:       /* \p{N} */
        if (c < 128) return c >= '0' && c <= '9';
        return !(f & GRAFT_CPT_WHITESPACE) && (f & GRAFT_CPT_NUMBER);
    default:                 /* [0-9] */
        return c >= '0' && c <= '9';
    }
}

/* mode 0: class+ (maximal runs); 1: class (one codepoint); 3: class{3} */
static int split_class(const text *t, const lens *in, lens *out, int cls, int mode) {
    size_t start = 0;
    out->n = 0;
    for (size_t w = 0; w < in->n; w++) {
        size_t end = start + in->v[w], gap = start, p = start;
        while (p < end) {
            if (!in_class(cls, t->cp[p], t->fl[p])) {
                p++;
                continue;
            }
            size_t q = p;
            if (mode == 0) {
                while (q < end && in_class(cls, t->cp[q], t->fl[q])) q++;
            } else if (mode == 1) {
                q = p + 1;
            } else {
                while (q < end && q - p < 3 && in_class(cls, t->cp[q], t->fl[q])) q++;
                if (q - p < 3) { /* no match starting here */
                    p++;
                    continue;
                }
            }
            if (lens_push(out, p - gap) || lens_push(out, q - p)) return GRAFT_E_NOMEM;
            gap = p = q;
        }
        if (lens_push(out, end - gap)) return GRAFT_E_NOMEM;
        start = end;
    }
    return GRAFT_OK;
}

/* The GPT-2 regex, as llama.cpp's unicode_regex_split_custom_gpt2. */
static int split_gpt2(const text *t, const lens *in, lens *out) {
    size_t start = 0;
    out->n = 0;
    for (size_t w = 0; w < in->n; w++) {
        const size_t ini = start, end = start + in->v[w];
        start = end;
#define CP(i) ((i) >= ini && (i) < end ? t->cp[i] : 0xffffffffu)
#define FL(i) ((i) >= ini && (i) < end ? (unsigned)t->fl[i] : 0u)
        size_t prev = ini;
#define ADD(e) (lens_push(out, (e) - prev) ? GRAFT_E_NOMEM : (prev = (e), GRAFT_OK))
        for (size_t pos = ini; pos < end;) {
            uint32_t c = CP(pos);
            unsigned f = FL(pos);
            if (c == '\'' && pos + 1 < end) { /* 's 't 're 've 'm 'll 'd */
                uint32_t c1 = CP(pos + 1);
                if (c1 == 's' || c1 == 't' || c1 == 'm' || c1 == 'd') {
                    if (ADD(pos + 2)) return GRAFT_E_NOMEM;
                    pos += 2;
                    continue;
                }
                if (pos + 2 < end) {
                    uint32_t c2 = CP(pos + 2);
                    if ((c1 == 'r' && c2 == 'e') || (c1 == 'v' && c2 == 'e') || (c1 == 'l' && c2 == 'l')) {
                        if (ADD(pos + 3)) return GRAFT_E_NOMEM;
                        pos += 3;
                        continue;
                    }
                }
            }
            unsigned f2 = c == ' ' ? FL(pos + 1) : f;
            const unsigned WS = GRAFT_CPT_WHITESPACE, L = GRAFT_CPT_LETTER, N = GRAFT_CPT_NUMBER;
            if (f2 & L) { /* ' '?\p{L}+ */
                pos += c == ' ';
                while (FL(pos) & L) pos++;
                if (ADD(pos)) return GRAFT_E_NOMEM;
                continue;
            }
            if (f2 & N) { /* ' '?\p{N}+ */
                pos += c == ' ';
                while (FL(pos) & N) pos++;
                if (ADD(pos)) return GRAFT_E_NOMEM;
                continue;
            }
            if (!(f2 & (WS | L | N)) && f2) { /* ' '?[^\s\p{L}\p{N}]+ */
                pos += c == ' ';
                for (unsigned g = FL(pos); !(g & (WS | L | N)) && g; g = FL(pos)) pos++;
                if (ADD(pos)) return GRAFT_E_NOMEM;
                continue;
            }
            size_t nws = 0;
            while (FL(pos + nws) & WS) nws++;
            if (nws > 1 && CP(pos + nws) != 0xffffffffu) { /* \s+(?!\S): leave the last one */
                pos += nws - 1;
                if (ADD(pos)) return GRAFT_E_NOMEM;
                continue;
            }
            if (nws > 0) { /* \s+ */
                pos += nws;
                if (ADD(pos)) return GRAFT_E_NOMEM;
                continue;
            }
            if (ADD(pos + 1)) return GRAFT_E_NOMEM; /* no match: one codepoint */
            pos++;
        }
#undef CP
#undef FL
#undef ADD
    }
    return GRAFT_OK;
}

/* ---- BPE merging of one word ------------------------------------------------------------------ */

typedef struct bpe_sym {
    int prev, next;
    uint32_t off, n;
} bpe_sym;

typedef struct bpe_bigram {
    int left, right;
    int32_t rank;
    uint32_t size;
} bpe_bigram;

typedef struct bpe_work {
    const graft_vocab *v;
    char *word;          /* the word in GPT-2's byte alphabet */
    size_t word_cap;
    bpe_sym *sym;
    size_t sym_cap;
    bpe_bigram *heap;
    size_t n_heap, heap_cap;
} bpe_work;

static int before(const bpe_bigram *a, const bpe_bigram *b) {
    return a->rank < b->rank || (a->rank == b->rank && a->left < b->left);
}

static int heap_push(bpe_work *w, bpe_bigram x) {
    if (w->n_heap == w->heap_cap) {
        size_t cap = w->heap_cap ? 2 * w->heap_cap : 64;
        bpe_bigram *h = realloc(w->heap, cap * sizeof *h);
        if (!h) return GRAFT_E_NOMEM;
        w->heap = h;
        w->heap_cap = cap;
    }
    bpe_bigram *h = w->heap;
    size_t i = w->n_heap++;
    while (i > 0 && before(&x, &h[(i - 1) / 2])) {
        h[i] = h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    h[i] = x;
    return GRAFT_OK;
}

static bpe_bigram heap_pop(bpe_work *w) {
    bpe_bigram *h = w->heap, top = h[0], x = h[--w->n_heap];
    size_t i = 0, n = w->n_heap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && before(&h[c + 1], &h[c])) c++;
        if (!before(&h[c], &x)) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = x;
    return top;
}

static int try_bigram(bpe_work *w, int left, int right) {
    if (left < 0 || right < 0) return GRAFT_OK;
    const bpe_sym *l = &w->sym[left], *r = &w->sym[right];
    int32_t rank = graft_vocab_merge_rank(w->v, w->word + l->off, l->n, w->word + r->off, r->n);
    if (rank < 0) return GRAFT_OK;
    bpe_bigram b = {left, right, rank, l->n + r->n};
    return heap_push(w, b);
}

/* Merges w->word[0..n) and appends its tokens. */
static int bpe_word(bpe_work *w, size_t n, graft_ids *out) {
    const graft_vocab *v = w->v;
    if (n > w->sym_cap) {
        bpe_sym *s = realloc(w->sym, n * sizeof *s);
        if (!s) return GRAFT_E_NOMEM;
        w->sym = s;
        w->sym_cap = n;
    }
    int n_sym = 0;
    for (size_t off = 0; off < n;) {
        static const uint8_t len_of[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
        size_t l = len_of[(unsigned char)w->word[off] >> 4];
        if (l > n - off) l = n - off;
        w->sym[n_sym] = (bpe_sym){n_sym - 1, off + l == n ? -1 : n_sym + 1, (uint32_t)off, (uint32_t)l};
        off += l;
        n_sym++;
    }
    w->n_heap = 0;
    for (int i = 1; i < n_sym; i++)
        if (try_bigram(w, i - 1, i)) return GRAFT_E_NOMEM;
    while (w->n_heap) {
        bpe_bigram b = heap_pop(w);
        bpe_sym *l = &w->sym[b.left], *r = &w->sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) w->sym[r->next].prev = b.left;
        if (try_bigram(w, l->prev, b.left) || try_bigram(w, b.left, l->next)) return GRAFT_E_NOMEM;
    }
    for (int i = 0; i != -1; i = w->sym[i].next) {
        const char *s = w->word + w->sym[i].off;
        int32_t id = graft_vocab_find(v, s, w->sym[i].n);
        if (id >= 0) {
            if (graft_ids_push(out, id)) return GRAFT_E_NOMEM;
            continue;
        }
        /* llama.cpp: each byte of the symbol as a one-byte token, skipped when there is none */
        for (uint32_t j = 0; j < w->sym[i].n; j++) {
            id = graft_vocab_find(v, s + j, 1);
            if (id >= 0 && graft_ids_push(out, id)) return GRAFT_E_NOMEM;
        }
    }
    return GRAFT_OK;
}

/* ---- encode ----------------------------------------------------------------------------------- */

int graft_bpe_encode(const graft_vocab *v, const char *s, size_t len, graft_ids *out,
                     graft_error *err) {
    if (len == 0) return GRAFT_OK;
    uint32_t *cp = malloc(len * sizeof *cp);
    uint16_t *fl = malloc(len * sizeof *fl);
    lens a = {0}, b = {0};
    bpe_work w = {0};
    w.v = v;
    int rc = cp && fl ? GRAFT_OK : GRAFT_E_NOMEM;

    size_t n = 0;
    for (size_t i = 0; i < len && rc == GRAFT_OK;) {
        size_t l;
        cp[n] = graft_utf8_decode(s + i, len - i, &l);
        fl[n] = (uint16_t)graft_cpt_flags(cp[n]);
        n++;
        i += l;
    }
    text t = {cp, fl};
    if (rc == GRAFT_OK) rc = lens_push(&a, n);

#define STEP(call)                                                                                \
    do {                                                                                          \
        if (rc == GRAFT_OK) {                                                                     \
            rc = call;                                                                            \
            lens tmp_ = a;                                                                        \
            a = b;                                                                                \
            b = tmp_;                                                                             \
        }                                                                                         \
    } while (0)
    switch (v->pre_type) {
    case GRAFT_PRE_DEFAULT:
        STEP(split_class(&t, &a, &b, CLASS_PUNCT, 0));
        STEP(split_gpt2(&t, &a, &b));
        STEP(split_class(&t, &a, &b, CLASS_NUMBER, 0));
        STEP(split_class(&t, &a, &b, CLASS_DIGIT, 3));
        break;
    case GRAFT_PRE_GPT2:
        STEP(split_gpt2(&t, &a, &b));
        break;
    case GRAFT_PRE_STARCODER:
        STEP(split_class(&t, &a, &b, CLASS_NUMBER, 1));
        STEP(split_gpt2(&t, &a, &b));
        break;
    case GRAFT_PRE_FALCON:
        STEP(split_class(&t, &a, &b, CLASS_PUNCT_FALCON, 0));
        STEP(split_gpt2(&t, &a, &b));
        STEP(split_class(&t, &a, &b, CLASS_DIGIT, 3));
        break;
    default:
        rc = graft_error_set(err, GRAFT_E_UNSUPPORTED, "tokenize: BPE pre-tokenizer '%s' is not supported",
                             v->pre);
    }
#undef STEP

    /* each word: UTF-8, spelled in the byte alphabet, then merged */
    size_t start = 0;
    for (size_t k = 0; k < a.n && rc == GRAFT_OK; k++) {
        size_t need = 8 * a.v[k]; /* <= 4 bytes per codepoint, <= 2 per spelled byte */
        if (need > w.word_cap) {
            char *p = realloc(w.word, need);
            if (!p) {
                rc = GRAFT_E_NOMEM;
                break;
            }
            w.word = p;
            w.word_cap = need;
        }
        size_t m = 0;
        for (size_t i = start; i < start + a.v[k]; i++) {
            char u[4];
            size_t ul = graft_utf8_encode(cp[i], u);
            for (size_t j = 0; j < ul; j++) {
                unsigned char by = (unsigned char)u[j];
                memcpy(w.word + m, v->byte_enc[by], v->byte_enc_len[by]);
                m += v->byte_enc_len[by];
            }
        }
        start += a.v[k];
        rc = bpe_word(&w, m, out);
    }
    if (rc == GRAFT_E_NOMEM) graft_error_set(err, rc, "tokenize: out of memory");
    free(cp), free(fl), free(a.v), free(b.v), free(w.word), free(w.sym), free(w.heap);
    return rc;
}
