/* tokenizer_spm.c - the SentencePiece tokenizer of "llama" vocabularies, as llama.cpp runs it
 * (llm_tokenizer_spm): spaces become U+2581 "▁", the text is split into UTF-8 characters, and
 * adjacent symbols are merged, best-scoring vocabulary piece first (ties: leftmost), until no
 * adjacent pair forms a piece. A final symbol that is not a piece is written as byte tokens
 * <0xXX> (or, when the vocabulary lacks one of them, as the unknown token). Called by the front-end in tokenizer.c for each text piece between special tokens. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tokenizer.h"

/* A run of the escaped text, linked to its neighbours; n == 0 once merged into its left one. */
typedef struct spm_sym {
    int prev, next;
    uint32_t off, n;
} spm_sym;

/* A candidate merge of symbols left and right (adjacent when pushed) into a piece of `size`
 * bytes scoring `score`. Stale entries are recognised on pop by their size. */
typedef struct spm_bigram {
    int left, right;
    float score;
    uint32_t size;
} spm_bigram;

/* ---- max-heap of bigrams: best score first, then leftmost ---------------------------------- */

static int better(const spm_bigram *a, const spm_bigram *b) {
    return a->score > b->score || (a->score == b->score && a->left < b->left);
}

static void heap_push(spm_bigram *h, size_t *n, spm_bigram x) {
    size_t i = (*n)++; /* the caller made room */
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!better(&x, &h[p])) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
}

static spm_bigram heap_pop(spm_bigram *h, size_t *n) {
    spm_bigram top = h[0], x = h[--(*n)];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= *n) break;
        if (c + 1 < *n && better(&h[c + 1], &h[c])) c++;
        if (!better(&h[c], &x)) break;
        h[i] = h[c];
        i = c;
    }
    if (*n) h[i] = x;
    return top;
}

/* ---- encode ---------------------------------------------------------------------------------- */

/* Bytes of the UTF-8 character starting with byte c, as llama.cpp's unicode_len_utf8 (a
 * continuation byte counts as a character of its own). */
static uint32_t utf8_len(unsigned char c) {
    static const uint8_t lookup[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return lookup[c >> 4];
}

typedef struct spm_work {
    const graft_vocab *v;
    const char *text;
    spm_sym *sym;
    spm_bigram *heap;
    size_t n_heap, cap_heap;
    int nomem;
} spm_work;

static void try_add_bigram(spm_work *w, int left, int right) {
    if (left < 0 || right < 0) return;
    const spm_sym *l = &w->sym[left], *r = &w->sym[right];
    uint32_t size = l->n + r->n;
    int32_t id = graft_vocab_find(w->v, w->text + l->off, size);
    if (id < 0) return;
    if (w->n_heap == w->cap_heap) {
        size_t cap = 2 * w->cap_heap;
        spm_bigram *h = realloc(w->heap, cap * sizeof *h);
        if (!h) {
            w->nomem = 1;
            return;
        }
        w->heap = h;
        w->cap_heap = cap;
    }
    spm_bigram b = {left, right, w->v->score[id], size};
    heap_push(w->heap, &w->n_heap, b);
}

int graft_spm_encode(const graft_vocab *v, const char *text, size_t len, int prefix_space,
                     graft_ids *out, graft_error *err) {
    static const char esc[3] = {(char)0xe2, (char)0x96, (char)0x81}; /* U+2581 */
    if (len > GRAFT_TOKENIZE_MAX_BYTES)
        return graft_error_set(err, GRAFT_E_LIMIT, "tokenize: text of %zu bytes is over the limit of %zu",
                               len, GRAFT_TOKENIZE_MAX_BYTES);
    size_t n_space = prefix_space ? 1 : 0;
    for (size_t i = 0; i < len; i++) n_space += text[i] == ' ';
    size_t n_bytes = len + (prefix_space ? 1 : 0) + 2 * n_space;
    if (n_bytes == 0) return GRAFT_OK;

    char *buf = malloc(n_bytes);
    spm_sym *sym = malloc(n_bytes * sizeof *sym);
    size_t cap_heap = n_bytes < 64 ? 64 : n_bytes; /* grows as needed */
    spm_bigram *heap = malloc(cap_heap * sizeof *heap);
    if (!buf || !sym || !heap) {
        free(buf), free(sym), free(heap);
        return graft_error_set(err, GRAFT_E_NOMEM, "tokenize: out of memory for %zu bytes", len);
    }

    /* escape spaces (and add the prefix space) */
    size_t k = 0;
    if (prefix_space) memcpy(buf, esc, 3), k = 3;
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') memcpy(buf + k, esc, 3), k += 3;
        else buf[k++] = text[i];
    }

    /* one symbol per UTF-8 character */
    int n_sym = 0;
    for (size_t off = 0; off < n_bytes;) {
        uint32_t l = utf8_len((unsigned char)buf[off]);
        if (l > n_bytes - off) l = (uint32_t)(n_bytes - off);
        sym[n_sym].off = (uint32_t)off;
        sym[n_sym].n = l;
        sym[n_sym].prev = n_sym - 1;
        off += l;
        sym[n_sym].next = off == n_bytes ? -1 : n_sym + 1;
        n_sym++;
    }

    /* merge the best pair while one forms a vocabulary piece */
    spm_work w = {v, buf, sym, heap, 0, cap_heap, 0};
    for (int i = 1; i < n_sym; i++) try_add_bigram(&w, i - 1, i);
    while (w.n_heap && !w.nomem) {
        spm_bigram b = heap_pop(w.heap, &w.n_heap);
        spm_sym *l = &sym[b.left], *r = &sym[b.right];
        if (l->n == 0 || r->n == 0 || l->n + r->n != b.size) continue; /* stale */
        l->n += r->n;
        r->n = 0;
        l->next = r->next;
        if (r->next >= 0) sym[r->next].prev = b.left;
        try_add_bigram(&w, l->prev, b.left);
        try_add_bigram(&w, b.left, l->next);
    }

    /* emit: pieces as their ids, anything else byte by byte */
    int rc = w.nomem ? GRAFT_E_NOMEM : GRAFT_OK;
    for (int i = 0; i != -1 && rc == GRAFT_OK; i = sym[i].next) {
        int32_t id = graft_vocab_find(v, buf + sym[i].off, sym[i].n);
        if (id >= 0) {
            rc = graft_ids_push(out, id);
            continue;
        }
        /* llama.cpp fails when a byte has no token; graft writes one unknown token for the
         * character then */
        int all_bytes = 1;
        for (uint32_t j = 0; j < sym[i].n; j++)
            all_bytes &= v->byte_token[(unsigned char)buf[sym[i].off + j]] >= 0;
        if (!all_bytes) {
            if (v->unk < 0)
                rc = graft_error_set(err, GRAFT_E_UNSUPPORTED,
                                     "tokenize: a character has no token, no byte tokens and the vocabulary no unknown token");
            else
                rc = graft_ids_push(out, v->unk);
            continue;
        }
        for (uint32_t j = 0; j < sym[i].n && rc == GRAFT_OK; j++)
            rc = graft_ids_push(out, v->byte_token[(unsigned char)buf[sym[i].off + j]]);
    }
    if (rc == GRAFT_E_NOMEM) graft_error_set(err, rc, "tokenize: out of memory");
    free(buf), free(sym), free(w.heap);
    return rc;
}
