/* tokenizer_wpm.c - the WordPiece tokenizer of "bert" vocabularies (BERT uncased: the instruction
 * tokenizer of InstructBLIP's Q-Former), as llama.cpp runs it (llm_tokenizer_wpm):
 *   1. words: each codepoint is mapped to the first codepoint of its NFD decomposition (accents
 *      go) and lowercased; whitespace ends a word; NUL, U+FFFD and control characters are
 *      dropped; punctuation, ASCII symbols and CJK ideographs are words of their own;
 *   2. each word, written "▁" + word (llama.cpp's converter stores word-start pieces with "▁" and
 *      continuation pieces without BERT's "##"), is cut greedily into the longest vocabulary
 *      pieces from the left; a word with any part not in the vocabulary becomes [UNK] whole.
 * Called by the front-end in tokenizer.c for each text piece between special tokens. */
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "tokenizer.h"
#include "unicode.h"

/* CJK ideograph blocks, llama.cpp's list (which follows Hugging Face's: 0x2B920, not 0x2B820) */
static int is_cjk(uint32_t c) {
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) || (c >= 0x20000 && c <= 0x2A6DF) ||
           (c >= 0x2A700 && c <= 0x2B73F) || (c >= 0x2B740 && c <= 0x2B81F) || (c >= 0x2B920 && c <= 0x2CEAF) ||
           (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x2F800 && c <= 0x2FA1F);
}

/* Appends the pieces of "▁" + w[0..n) (or [UNK]) to out. */
static int encode_word(const graft_vocab *v, const char *w, size_t n, graft_ids *out) {
    if (!n) return GRAFT_OK;
    const size_t start = out->n, total = n + 3, max = (size_t)v->max_token_len;
    char stack[256], *buf = total <= sizeof stack ? stack : malloc(total);
    if (!buf) return GRAFT_E_NOMEM;
    memcpy(buf, "\xe2\x96\x81", 3);
    memcpy(buf + 3, w, n);
    int rc = GRAFT_OK;
    for (size_t i = 0; i < total && rc == GRAFT_OK;) {
        size_t j = i + max < total ? i + max : total;
        int32_t id = GRAFT_TOKEN_NULL;
        for (; j > i; j--)
            if ((id = graft_vocab_find(v, buf + i, j - i)) != GRAFT_TOKEN_NULL) break;
        if (id == GRAFT_TOKEN_NULL) { /* a part is not in the vocabulary: the whole word is unknown */
            out->n = start;
            break;
        }
        rc = graft_ids_push(out, id);
        i = j;
    }
    if (rc == GRAFT_OK && out->n == start) rc = graft_ids_push(out, v->unk);
    if (buf != stack) free(buf);
    return rc;
}

int graft_wpm_encode(const graft_vocab *v, const char *text, size_t len, graft_ids *out, graft_error *err) {
    if (v->unk == GRAFT_TOKEN_NULL)
        return graft_error_set(err, GRAFT_E_FORMAT, "tokenize: WordPiece vocabulary without an unknown token");
    /* the normalised word being built: at most 4 bytes per input byte */
    char *word = malloc(4 * len + 4);
    if (!word) return graft_error_set(err, GRAFT_E_NOMEM, "tokenize: out of memory");
    size_t n = 0;
    int rc = GRAFT_OK;
    for (size_t i = 0; i < len && rc == GRAFT_OK;) {
        size_t cl;
        uint32_t cp = graft_utf8_decode(text + i, len - i, &cl);
        i += cl;
        cp = graft_cpt_nfd_first(cp);
        const unsigned f = graft_cpt_flags(cp);
        if (f & GRAFT_CPT_WHITESPACE) {
            rc = encode_word(v, word, n, out);
            n = 0;
            continue;
        }
        if (cp == 0 || cp == 0xFFFD || (f & GRAFT_CPT_CONTROL)) continue;
        char u[4];
        const size_t ul = graft_utf8_encode(graft_cpt_tolower(cp), u);
        if ((f & GRAFT_CPT_PUNCTUATION) || (cp < 0x7F && (f & GRAFT_CPT_SYMBOL)) || is_cjk(cp)) {
            rc = encode_word(v, word, n, out);
            if (rc == GRAFT_OK) rc = encode_word(v, u, ul, out);
            n = 0;
        } else {
            memcpy(word + n, u, ul);
            n += ul;
        }
    }
    if (rc == GRAFT_OK) rc = encode_word(v, word, n, out);
    free(word);
    return rc == GRAFT_E_NOMEM ? graft_error_set(err, rc, "tokenize: out of memory") : rc;
}
