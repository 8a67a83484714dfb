/* init.h - random-weight models at real shapes, written as llama.cpp-layout GGUF files, for
 * benchmarks without downloads (`graft init`, bench/). Deterministic from a seed: the same preset,
 * type and seed give byte-identical files, whatever the thread count. */
#ifndef GRAFT_INIT_H
#define GRAFT_INIT_H

#include <stdint.h>

#include "graft.h"

typedef struct graft_init_llama {
    const char *name;       /* preset name, also general.name */
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float rope_freq_base;
} graft_init_llama;

/* Presets: "llama-7b" (Llama-2-7B / Vicuna-7B shape), "llama-13b", "llama-1b" (TinyLlama-1.1B
 * shape), "tiny" (dim 64, 2 layers). NULL-terminated list and lookup (NULL if unknown). */
const graft_init_llama *graft_init_presets(void);
const graft_init_llama *graft_init_find(const char *name);

/* Bytes the file will take for `type` (matrices in type; norms f32). */
uint64_t graft_init_llama_bytes(const graft_init_llama *hp, int type);

/* Writes a random llama model: matrices (token_embd, attention, FFN, output) in `type` (f32, f16,
 * bf16, q8_0 or q4_0), norm weights f32 = 1, weights uniform in +-1/sqrt(fan_in) (embeddings
 * +-1), and a vocabulary of n_vocab pieces (<unk>, <s>, </s>, 256 byte tokens, then "▁tN")
 * so that the file is a complete model. Uses n_threads to generate. */
int graft_init_llama_write(const graft_init_llama *hp, int type, uint64_t seed, int n_threads,
                           const char *path, graft_error *err);

#endif
