/* tokenizer.h - text <-> token ids over a graft_vocab (vocab.h), reproducing llama.cpp's
 * llama_tokenize / llama_token_to_piece / llama_detokenize exactly for the tokenizer models graft
 * supports ("llama" = SentencePiece BPE in tokenizer_spm.c, "gpt2" = byte-level BPE in
 * tokenizer_bpe.c, "bert" = WordPiece in tokenizer_wpm.c). tokenizer.c holds the model-independent
 * front-end: special-token splitting, BOS/EOS, decoding and streaming decoding.
 *
 * All functions only read the vocab: several threads may tokenize with one vocab at once.
 *
 *     int32_t *ids; size_t n;
 *     if (graft_tokenize(v, text, strlen(text), 1, 1, &ids, &n, &err)) { ...err.msg... }
 *     char *s; size_t len;
 *     graft_detokenize(v, ids, n, 1, 0, &s, &len, &err);    // == text
 *     free(ids), free(s);
 *
 * Encoding rules (llama.cpp; the prefix space is SPM's, BPE vocabularies have none):
 *   - With parse_special, control and unknown tokens ("<s>", "</s>", "<unk>") written in the text
 *     are matched whole, longest first, and emitted as their ids; user-defined tokens are matched
 *     whole always. The text between them is tokenized piece by piece.
 *   - add_space_prefix puts a space before the first text piece and before every text piece that
 *     follows a matched special token (llama.cpp's is_prev_special rule; HF's legacy=False
 *     tokenizer does not do the latter). Empty text gives no tokens (just BOS when add_special).
 *   - add_special prepends BOS when the vocab's add_bos is set and appends EOS when add_eos is.
 *   - Input is limited to GRAFT_TOKENIZE_MAX_BYTES (GRAFT_E_LIMIT beyond): symbol indices are
 *     32-bit. Encoding is O(n log n) in the text length, plus O(n) per special token searched. */
#ifndef GRAFT_TOKENIZER_H
#define GRAFT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "graft.h"
#include "vocab.h"

#define GRAFT_TOKENIZE_MAX_BYTES ((size_t)256 << 20)

/* Tokenizes text[0..len) (any bytes; invalid UTF-8 falls back to byte tokens). On success *ids is
 * a malloc'd array of *n_ids ids (NULL when 0) that the caller frees. */
int graft_tokenize(const graft_vocab *v, const char *text, size_t len, int add_special,
                   int parse_special, int32_t **ids, size_t *n_ids, graft_error *err);

/* Text that continues a sequence right after a special token (an image, say): no BOS/EOS and no
 * prefix space before its first piece. Tokenizing "A<image>B" as graft_tokenize("A") + <image> +
 * graft_tokenize_continue("B") gives what Hugging Face's Llama tokenizer (legacy=False) gives
 * with <image> as an added token; llama.cpp's mtmd tokenizes each chunk with the prefix space. */
int graft_tokenize_continue(const graft_vocab *v, const char *text, size_t len, int parse_special,
                            int32_t **ids, size_t *n_ids, graft_error *err);

/* The bytes token `id` decodes to, pointing into the vocab (not NUL-terminated), or NULL for an
 * id outside the vocabulary. Control and unknown tokens give "" unless `special` (then their
 * text, e.g. "<s>"); "▁" becomes " "; a byte token <0xXX> gives that one byte, so a piece may be
 * part of a UTF-8 character. */
const char *graft_token_piece(const graft_vocab *v, int32_t id, int special, size_t *len);

/* Concatenates the pieces of ids[0..n) into a malloc'd, NUL-terminated *out of *out_len bytes,
 * as llama_detokenize: the first piece loses one leading space when the vocab adds a prefix
 * space; remove_special drops a leading BOS (then no space is stripped) and a trailing EOS when
 * the vocab adds them; unparse_special renders control tokens as their text. An id outside the
 * vocabulary fails with GRAFT_E_INVALID. */
int graft_detokenize(const graft_vocab *v, const int32_t *ids, size_t n, int remove_special,
                     int unparse_special, char **out, size_t *out_len, graft_error *err);

/* ---- streaming decode ------------------------------------------------------------------------
 * Decodes one token at a time for generation, holding back the bytes of a UTF-8 character whose
 * remaining bytes have not arrived yet, so that each chunk written ends on a character boundary
 * (a byte that cannot start or continue a valid sequence is passed through as is). The chunks of
 * a whole sequence concatenate to exactly what graft_detokenize gives for it (without
 * remove_special; the clean-up of spaces that BPE vocabs do is not applied). */
typedef struct graft_detok_stream {
    const graft_vocab *v;
    int special;            /* render control tokens as their text */
    int lstrip;             /* strip one leading space from the next token's piece */
    unsigned char held[4];  /* an incomplete UTF-8 sequence carried to the next call */
    int n_held;
} graft_detok_stream;

/* strip_first_space: drop a leading space of the first token's piece (set it when decoding a
 * whole text from its start, as graft_detokenize does; clear it for tokens generated after a
 * prompt). */
void graft_detok_stream_init(graft_detok_stream *s, const graft_vocab *v, int special,
                             int strip_first_space);
/* Bytes an output buffer of push/flush needs at most. */
size_t graft_detok_stream_cap(const graft_vocab *v);
/* Adds token id and writes the bytes now ready to out[0..*n). out has room for cap bytes. */
int graft_detok_stream_push(graft_detok_stream *s, int32_t id, char *out, size_t cap, size_t *n,
                            graft_error *err);
/* Writes the bytes still held (an unfinished character at the end of the text, <= 3 bytes). */
size_t graft_detok_stream_flush(graft_detok_stream *s, char *out);

/* ---- between the front-end and the per-model tokenizers --------------------------------------- */

/* A growable list of ids. */
typedef struct graft_ids {
    int32_t *v;
    size_t n, cap;
} graft_ids;

int graft_ids_push(graft_ids *a, int32_t id);

/* SPM: appends the ids of one text piece (no special tokens in it) to out. prefix_space adds the
 * leading space; spaces become "▁" before merging. */
int graft_spm_encode(const graft_vocab *v, const char *text, size_t len, int prefix_space,
                     graft_ids *out, graft_error *err);

/* WPM: appends the ids of one text piece (no special tokens in it) to out. */
int graft_wpm_encode(const graft_vocab *v, const char *text, size_t len, graft_ids *out, graft_error *err);

/* BPE: appends the ids of one text piece (no special tokens in it) to out. */
int graft_bpe_encode(const graft_vocab *v, const char *text, size_t len, graft_ids *out,
                     graft_error *err);

#endif /* GRAFT_TOKENIZER_H */
