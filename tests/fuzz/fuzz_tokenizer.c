/* fuzz_tokenizer.c - arbitrary bytes through graft's tokenizers (encode, with and without special
 * tokens, and the continuation after an image) and arbitrary id sequences through the decoders
 * (whole and streaming). Vocabularies: the repo's tiny SPM fixture, and llama.cpp's real ones from
 * ../shared/vocab when present (SPM and several BPE pre-tokenizers). Run from the repo root. */
#include <string.h>

#include "fuzz_util.h"
#include "graft.h"
#include "tokenizer.h"
#include "vocab.h"

static const char *const vocab_files[] = {
    "tests/fixtures/llama/tiny-f32/model.gguf",
    "../shared/vocab/ggml-vocab-llama-spm.gguf",
    "../shared/vocab/ggml-vocab-gpt-2.gguf",
    "../shared/vocab/ggml-vocab-falcon.gguf",
    "../shared/vocab/ggml-vocab-deepseek-coder.gguf",
    "../shared/vocab/ggml-vocab-mpt.gguf",
};
#define N_FILES (int)(sizeof vocab_files / sizeof vocab_files[0])
static graft_vocab *vocabs[N_FILES];
static int n_vocabs;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    for (int i = 0; i < N_FILES; i++) {
        graft_error err;
        if (graft_vocab_load_file(vocab_files[i], &vocabs[n_vocabs], &err) == GRAFT_OK) n_vocabs++;
        else if (i == 0) {
            fprintf(stderr, "fuzz_tokenizer: %s (run from the repo root)\n", err.msg);
            abort();
        }
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 1) return 0;
    const graft_vocab *v = vocabs[data[0] % n_vocabs];
    const int mode = (data[0] / N_FILES) % 4;
    const char *text = (const char *)data + 1;
    const size_t len = size - 1;
    graft_error err;
    int32_t *ids = NULL;
    size_t n = 0;
    if (mode < 2) {
        /* encode: bit 0 of mode = parse special tokens; then decode what came out */
        if (graft_tokenize(v, text, len, 1, mode & 1, &ids, &n, &err) == GRAFT_OK) {
            char *out;
            size_t out_len;
            for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= v->n_tokens) abort(); /* ids stay in the vocabulary */
            if (graft_detokenize(v, ids, n, 1, mode & 1, &out, &out_len, &err) == GRAFT_OK) free(out);
        }
    } else if (mode == 2) {
        if (graft_tokenize_continue(v, text, len, 1, &ids, &n, &err) == GRAFT_OK)
            for (size_t i = 0; i < n; i++)
                if (ids[i] < 0 || ids[i] >= v->n_tokens) abort();
    } else {
        /* decode: 16-bit little-endian ids, a few out of range on purpose */
        size_t k = len / 2;
        ids = malloc((k ? k : 1) * sizeof *ids);
        if (!ids) return 0;
        for (size_t i = 0; i < k; i++) {
            int32_t r = (int32_t)(data[1 + 2 * i] | data[2 + 2 * i] << 8);
            ids[i] = r % (v->n_tokens + 4) - 2;
        }
        char *out;
        size_t out_len;
        if (graft_detokenize(v, ids, k, 0, 1, &out, &out_len, &err) == GRAFT_OK) free(out);
        graft_detok_stream s;
        graft_detok_stream_init(&s, v, 1, 0);
        size_t cap = graft_detok_stream_cap(v);
        char *buf = malloc(cap);
        for (size_t i = 0; buf && i < k; i++) {
            size_t w;
            if (graft_detok_stream_push(&s, ids[i], buf, cap, &w, &err) == GRAFT_OK && w > cap) abort();
        }
        if (buf) graft_detok_stream_flush(&s, buf);
        free(buf);
    }
    free(ids);
    return 0;
}
