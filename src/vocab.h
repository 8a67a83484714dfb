/* vocab.h - a tokenizer vocabulary: token strings, scores, types and the special-token settings
 * read from a GGUF file's tokenizer.ggml.* metadata (or built from arrays, for tests). One
 * struct serves every tokenizer model; tokenizer.h turns text into ids and back.
 *
 * Ownership: graft_vocab_load copies everything it keeps (token strings go into one blob, about
 * 250 KB for a 32k vocabulary), so the vocab outlives the graft_gguf it was read from. A vocab is
 * read-only after load and may be shared between threads.
 *
 * Token attributes follow llama.cpp's (llama_token_attr) so that its rules carry over: the GGUF
 * token_type (1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte) sets one bit at
 * load, and a few rules of llama.cpp's loader add more (see vocab.c). */
#ifndef GRAFT_VOCAB_H
#define GRAFT_VOCAB_H

#include <stddef.h>
#include <stdint.h>

#include "graft.h"

/* tokenizer.ggml.model */
typedef enum graft_vocab_type {
    GRAFT_VOCAB_SPM = 1, /* "llama": SentencePiece BPE by piece scores, byte fallback */
    GRAFT_VOCAB_BPE = 2, /* "gpt2": byte-level BPE with merges after a pre-tokenizer split */
    GRAFT_VOCAB_WPM = 3, /* "bert": WordPiece (BERT uncased), tokenizer_wpm.c */
} graft_vocab_type;

/* BPE pre-tokenizers (tokenizer.ggml.pre), by the splitting they do (llama.cpp's regexes) */
typedef enum graft_vocab_pre {
    GRAFT_PRE_NONE = 0,      /* SPM */
    GRAFT_PRE_DEFAULT,       /* "default" or absent: punctuation runs, GPT-2, digit runs, 3 digits */
    GRAFT_PRE_GPT2,          /* "gpt-2", "mpt", "olmo", "phi-2", ...: the GPT-2 regex */
    GRAFT_PRE_STARCODER,     /* "starcoder", "refact", ...: single digits, then GPT-2 */
    GRAFT_PRE_FALCON,        /* "falcon": punctuation runs, GPT-2, 3 digits */
} graft_vocab_pre;

/* GGUF tokenizer.ggml.token_type values */
enum {
    GRAFT_TOKTYPE_UNDEFINED = 0,
    GRAFT_TOKTYPE_NORMAL = 1,
    GRAFT_TOKTYPE_UNKNOWN = 2,
    GRAFT_TOKTYPE_CONTROL = 3,
    GRAFT_TOKTYPE_USER_DEFINED = 4,
    GRAFT_TOKTYPE_UNUSED = 5,
    GRAFT_TOKTYPE_BYTE = 6,
};

/* Token attribute bits (llama.cpp's values). */
enum {
    GRAFT_ATTR_UNDEFINED = 0,
    GRAFT_ATTR_UNKNOWN = 1 << 0,
    GRAFT_ATTR_UNUSED = 1 << 1,
    GRAFT_ATTR_NORMAL = 1 << 2,
    GRAFT_ATTR_CONTROL = 1 << 3,
    GRAFT_ATTR_USER_DEFINED = 1 << 4,
    GRAFT_ATTR_BYTE = 1 << 5,
    GRAFT_ATTR_LSTRIP = 1 << 7, /* special-token matching eats whitespace on its left */
    GRAFT_ATTR_RSTRIP = 1 << 8, /* ... on its right */
    GRAFT_ATTR_EOG = 1 << 16,   /* graft's own: ends generation (eos, eot, <|im_end|>, ...) */
};

#define GRAFT_TOKEN_NULL (-1)

typedef struct graft_vocab {
    int type;                /* graft_vocab_type */
    char model[32];          /* tokenizer.ggml.model as read ("llama") */
    char pre[64];            /* tokenizer.ggml.pre, "" when absent */
    int pre_type;            /* graft_vocab_pre */
    int32_t n_tokens;

    char *blob;              /* every token string, each followed by a NUL */
    const char **text;       /* (n_tokens) token string (NUL-terminated; may contain NULs) */
    uint32_t *len;           /* (n_tokens) its byte length */
    float *score;            /* (n_tokens) */
    uint32_t *attr;          /* (n_tokens) GRAFT_ATTR_* bits */

    /* The piece each token decodes to with special rendering on (llama.cpp's token-to-piece
     * cache): "▁" -> " " for normal tokens, the byte for <0xXX>, the text itself for control,
     * unknown and user-defined tokens, "" for the rest. */
    char *piece_blob;
    uint32_t *piece_off;     /* (n_tokens + 1) piece i is piece_blob[piece_off[i] .. piece_off[i+1]) */

    int32_t bos, eos, unk, pad, eot, nl; /* GRAFT_TOKEN_NULL when absent */
    int add_bos, add_eos, add_space_prefix;
    int clean_spaces;        /* detokenize removes " ," etc. (BPE vocabs; off for SPM) */
    int32_t max_token_len;   /* longest token string in bytes */
    int32_t max_piece_len;   /* longest decode piece in bytes */

    int32_t byte_token[256]; /* per byte: SPM "<0xXX>" (else the 1-byte string), BPE its spelling; -1 */

    /* Tokens matched whole in the text before tokenizing (control, user-defined, unknown),
     * longest first; control and unknown ones only when parse_special is on. */
    int32_t *special;
    int32_t n_special;

    /* piece -> id: open addressing on a power-of-two table of ids (-1 = empty) */
    int32_t *map;
    uint32_t map_mask;

    /* BPE: merge "left right" has rank = its line in tokenizer.ggml.merges (first one wins) */
    int32_t n_merges;
    char *merge_blob;        /* the lines, each followed by a NUL */
    uint32_t *merge_off;     /* (n_merges) start of line i */
    uint32_t *merge_left;    /* (n_merges) bytes of the left part (the space follows) */
    uint32_t *merge_len;     /* (n_merges) bytes of the line */
    int32_t *merge_map;      /* pair -> rank, open addressing (-1 = empty) */
    uint32_t merge_mask;
    char byte_enc[256][2];   /* BPE: UTF-8 of GPT-2's codepoint for each byte */
    uint8_t byte_enc_len[256];
} graft_vocab;

/* The vocabulary as plain arrays, for graft_vocab_build: what the GGUF loader reads, and what
 * tests write by hand. Strings are (ptr, len) pairs and are copied. Ids of -2 mean "not given":
 * the model's default is used (SPM: bos 1, eos 2, unk 0, as llama.cpp). Flags of -1 likewise. */
typedef struct graft_vocab_desc {
    const char *model;       /* "llama", "gpt2", "bert" */
    const char *pre;         /* NULL or "" when absent */
    const char *name;        /* general.name (a llama.cpp rule keys on it: Phi-3); may be NULL */
    int32_t n_tokens;
    const char *const *tokens;   /* (n_tokens) */
    const size_t *token_lens;    /* (n_tokens); NULL = strlen */
    const float *scores;         /* (n_tokens) or NULL (all 0) */
    const int32_t *types;        /* (n_tokens) GRAFT_TOKTYPE_* or NULL (all normal) */
    int32_t n_merges;            /* BPE: tokenizer.ggml.merges, "left right" lines */
    const char *const *merges;
    const size_t *merge_lens;    /* NULL = strlen */
    int32_t bos, eos, unk, pad, eot;
    int add_bos, add_eos, add_space_prefix;
} graft_vocab_desc;

/* A desc with every id "not given" and every flag "default". */
graft_vocab_desc graft_vocab_desc_default(void);

/* Builds a vocab from `desc`. `where` names the source in error messages (a file path). */
int graft_vocab_build(const graft_vocab_desc *desc, const char *where, graft_vocab **out,
                      graft_error *err);

/* Reads the tokenizer.ggml.* metadata of an open GGUF file. An unsupported tokenizer model fails
 * with GRAFT_E_UNSUPPORTED naming it; malformed metadata with GRAFT_E_FORMAT naming the key. */
int graft_vocab_load(const graft_gguf *g, graft_vocab **out, graft_error *err);
/* Opens `path`, loads its vocabulary and closes the file. */
int graft_vocab_load_file(const char *path, graft_vocab **out, graft_error *err);
void graft_vocab_free(graft_vocab *v);

/* Id of the token whose string is exactly s[0..len), or GRAFT_TOKEN_NULL. */
int32_t graft_vocab_find(const graft_vocab *v, const char *s, size_t len);
/* BPE: rank of merging a[0..na) with b[0..nb), or -1 when no merge joins them. */
int32_t graft_vocab_merge_rank(const graft_vocab *v, const char *a, size_t na, const char *b, size_t nb);

/* "SPM", "BPE", "WPM" */
const char *graft_vocab_type_name(int type);

static inline int graft_vocab_is_eog(const graft_vocab *v, int32_t id) {
    return id >= 0 && id < v->n_tokens && (v->attr[id] & GRAFT_ATTR_EOG);
}

#endif /* GRAFT_VOCAB_H */
