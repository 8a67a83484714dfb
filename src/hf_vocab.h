/* hf_vocab.h - a Hugging Face model directory's tokenizer files (tokenizer.model, tokenizer.json,
 * tokenizer_config.json, added_tokens.json, special_tokens_map.json) turned into the
 * tokenizer.ggml.* metadata llama.cpp's convert_hf_to_gguf.py writes for a Llama / LLaVA model, so
 * that vocab.c and the tokenizers read an HF directory like a converted GGUF. Used by hf.c (HF
 * directory -> in-memory GGUF) and `graft convert`. See docs/tokenizers.md, "Hugging Face
 * tokenizer files", for what is read and where graft differs from the converter.
 *
 *     gguf_writer *w = gguf_writer_new();
 *     if (graft_hf_vocab_add("llava-1.5-7b-hf", config, n_rows, w, &err)) ...err.msg...
 *
 * Reentrant: no global state. */
#ifndef GRAFT_HF_VOCAB_H
#define GRAFT_HF_VOCAB_H

#include <stdint.h>

#include "gguf_write.h"

struct cJSON;

/* Adds tokenizer.ggml.model, .pre, .tokens, .scores (SPM), .token_type, .merges (BPE),
 * .bos_token_id, .eos_token_id, .unknown_token_id, .padding_token_id (when known),
 * .add_bos_token, .add_eos_token (when the files say), .add_space_prefix (SPM), and
 * tokenizer.chat_template (when tokenizer_config.json has a string chat_template, or
 * chat_template.jinja / chat_template.json exists) for the HF directory `dir`:
 *   tokenizer.model                       -> "llama", pre "default" (as the converter writes)
 *   tokenizer.json, BPE with byte fallback -> "llama", pre "default" (Llama "fast" tokenizer)
 *   tokenizer.json, ByteLevel BPE          -> "gpt2", pre "gpt-2", merges (GPT-2 / OPT style)
 * config: the parsed config.json of the model (may be NULL), for vocab_size (for LLaVA the text
 * model's: text_config.vocab_size, else top-level vocab_size; the token list is padded to it as
 * llama.cpp does) and bos/eos/pad ids. n_vocab_embd: rows of the embedding matrix (0 = unknown):
 * the token list ends up with exactly that many entries when > 0 (padded like llama.cpp; more
 * tokenizer pieces than rows is an error naming the file).
 * Errors: GRAFT_E_NOTFOUND "DIR: no tokenizer.model or tokenizer.json", GRAFT_E_FORMAT naming the
 * file and the problem; GRAFT_E_UNSUPPORTED for tokenizer types graft cannot run (a Unigram,
 * WordPiece or WordLevel tokenizer.json, a byte-level one with another pre-tokenizer than
 * GPT-2's, e.g. Llama 3's: the message says which). */
int graft_hf_vocab_add(const char *dir, const struct cJSON *config, int64_t n_vocab_embd,
                       gguf_writer *w, graft_error *err);

/* A BERT WordPiece folder (InstructBLIP's qformer_tokenizer/: vocab.txt, optional added_tokens.json
 * such as its [DEC]) as llama.cpp's converter writes a BERT vocabulary: tokenizer.ggml.model
 * "bert", "##x" pieces as "x", other pieces as "▁x", [PAD] [UNK] [CLS] [SEP] [MASK] and the added
 * tokens as control tokens, padded to n_vocab_embd rows (0: no padding), plus the unknown,
 * separator, padding and cls ids. GRAFT_E_NOTFOUND when there is no vocab.txt. */
int graft_hf_vocab_add_wordpiece(const char *dir, int64_t n_vocab_embd, gguf_writer *w, graft_error *err);

/* ---- internal: the SentencePiece model reader (spm_model.c), exposed for tests ------------- */

typedef struct graft_spm_piece {
    const char *s; /* into the parsed buffer, not NUL-terminated */
    uint32_t len;
    float score;
    int type; /* SentencePiece's: 1 NORMAL, 2 UNKNOWN, 3 CONTROL, 4 USER_DEFINED, 5 UNUSED, 6 BYTE */
} graft_spm_piece;

typedef struct graft_spm_model {
    graft_spm_piece *pieces; /* (n) */
    int32_t n;
    int add_dummy_prefix; /* normalizer_spec.add_dummy_prefix (default 1) */
    int model_type;       /* trainer_spec.model_type: 1 UNIGRAM (default), 2 BPE, 3 WORD, 4 CHAR */
} graft_spm_model;

/* Parses a ModelProto in buf[0..len) (which must outlive *out: pieces point into it). `where`
 * names the file in errors. */
int graft_spm_model_parse(const void *buf, size_t len, const char *where, graft_spm_model *out,
                          graft_error *err);
void graft_spm_model_free(graft_spm_model *m);

#endif
