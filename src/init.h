/* init.h - random-weight models at real shapes, written as llama.cpp-layout GGUF files, for
 * benchmarks without downloads (`graft init`, bench/): llama decoders, and LLaVA pairs (a llama
 * decoder + an mmproj holding a CLIP ViT and an mlp2x_gelu projector). Deterministic from a seed:
 * the same preset, type and seed give byte-identical files, whatever the thread count. */
#ifndef GRAFT_INIT_H
#define GRAFT_INIT_H

#include <stdint.h>

#include "graft.h"

/* ---- llama decoders ------------------------------------------------------------------------ */

typedef struct graft_init_llama {
    const char *name;       /* preset name, also general.name */
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, n_ff, n_ctx;
    float rope_freq_base;
} graft_init_llama;

/* Presets: "llama-7b" (Llama-2-7B / Vicuna-7B shape), "llama-13b", "llama-1b" (TinyLlama-1.1B
 * shape), "tiny" (dim 64, 2 layers). NULL-terminated list and lookup (NULL if unknown). */
const graft_init_llama *graft_init_presets(void);
const graft_init_llama *graft_init_find(const char *name);

/* Bytes the file will take for `type` (matrices in type; norms f32), tensor data only. */
uint64_t graft_init_llama_bytes(const graft_init_llama *hp, int type);

/* Writes a random llama model: matrices (token_embd, attention, FFN, output) in `type` (f32, f16,
 * bf16, q8_0 or q4_0), norm weights f32 = 1, weights uniform in +-1/sqrt(fan_in) (embeddings
 * +-1), and a vocabulary of n_vocab pieces (<unk>, <s>, </s>, 256 byte tokens, then "▁tN")
 * so that the file is a complete model. Uses n_threads to generate. */
int graft_init_llama_write(const graft_init_llama *hp, int type, uint64_t seed, int n_threads,
                           const char *path, graft_error *err);

/* ---- CLIP vision towers + projector (mmproj files) ----------------------------------------- */

/* An mmproj in the layout of llama.cpp's legacy LLaVA converter: n_block stored blocks, no
 * clip.vision.feature_layer (graft runs every stored block: LLaVA's hidden_states[-2] when
 * n_block = the ViT's depth - 1), no post_ln, CLIP's fc1 stored as ffn_down and fc2 as ffn_up,
 * OpenAI CLIP's image mean/std, projector "mlp" (mlp2x_gelu: D -> proj_hidden -> proj_out). */
typedef struct graft_init_clip {
    const char *name;            /* general.name */
    int image_size, patch_size;  /* S, p */
    int n_embd, n_ff, n_head;    /* D, F, H */
    int n_block;                 /* blocks stored */
    int use_gelu;                /* 0: quick_gelu (OpenAI CLIP), 1: erf GELU */
    float eps;                   /* LayerNorm epsilon */
    int proj_hidden, proj_out;   /* mm.0: (proj_hidden, D), mm.2: (proj_out, proj_hidden) */
    int projection_dim;          /* CLIP's own visual projection width: metadata only (LLaVA skips it) */
} graft_init_clip;

/* Bytes of the mmproj's tensor data with matrices in `type` (see graft_init_mmproj_write). */
uint64_t graft_init_mmproj_bytes(const graft_init_clip *hp, int type);

/* Writes a random mmproj (general.architecture "clip"). Matrices (attention, FFN, projector) in
 * `type` (f32, f16, bf16, q8_0 or q4_0; the quantized types need D, F and proj_hidden multiples
 * of 32); the patch-embedding conv kernel f32 when type is f32, else f16 (its 3 p^2 inputs are
 * not a multiple of 32 for p = 14); norms, biases, class and position embeddings f32.
 * Values as PyTorch's default init: linear weights and biases uniform in +-1/sqrt(fan_in) (the
 * conv's fan_in is 3 p^2), class and position embeddings uniform in +-1/sqrt(D) (CLIP's scale),
 * LayerNorm weight 1, bias 0. With the pre-layernorm this keeps the residual stream O(1). */
int graft_init_mmproj_write(const graft_init_clip *hp, int type, uint64_t seed, int n_threads,
                            const char *path, graft_error *err);

/* ---- LLaVA presets: a decoder + an mmproj -------------------------------------------------- */

typedef struct graft_init_llava {
    const char *name;
    const char *llm;             /* the decoder preset (graft_init_find) */
    graft_init_clip vision;
} graft_init_llava;

/* Presets: "llava-1.5-7b" (CLIP ViT-L/14-336, 23 of 24 blocks stored, projector 1024 -> 4096 ->
 * 4096, llama-7b), "llava-1.5-13b" (same ViT, projector 1024 -> 5120 -> 5120, llama-13b),
 * "llava-tiny" (image 28, patch 14, width 32, 2 blocks, projector 32 -> 64 -> 64, "tiny").
 * NULL-terminated list and lookup (NULL if unknown). */
const graft_init_llava *graft_init_llava_presets(void);
const graft_init_llava *graft_init_llava_find(const char *name);

/* Writes dir/model.gguf (decoder, matrices in `type`) and dir/mmproj.gguf (matrices in
 * `mmproj_type`), creating dir if needed (its parent must exist). The decoder is the same file
 * graft_init_llama_write gives for the llm preset and seed. */
int graft_init_llava_write(const graft_init_llava *p, int type, int mmproj_type, uint64_t seed,
                           int n_threads, const char *dir, graft_error *err);

/* ---- OPT decoders and BLIP-2 / InstructBLIP pairs (init_blip.c) --------------------------- */

typedef struct graft_init_opt {
    const char *name;
    int n_vocab, n_embd, n_layer, n_head, n_ff, n_ctx; /* pre-LN, ReLU, tied head */
} graft_init_opt;

/* "opt-2.7b", "opt-6.7b" (BLIP-2's), "opt-tiny"; NULL-terminated list and lookup. */
const graft_init_opt *graft_init_opt_presets(void);
const graft_init_opt *graft_init_opt_find(const char *name);
uint64_t graft_init_opt_bytes(const graft_init_opt *hp, int type);
/* An `opt` model.gguf (docs/formats.md) without a tokenizer: matrices in `type`, the position
 * table f16 (f32 with type f32), LayerNorms 1/0, biases and weights uniform in +-1/sqrt(fan_in). */
int graft_init_opt_write(const graft_init_opt *hp, int type, uint64_t seed, int n_threads, const char *path,
                         graft_error *err);

/* An EVA ViT + Q-Former mmproj (clip.projector_type "qformer"). */
typedef struct graft_init_qformer {
    const char *name;
    int image_size, patch_size, n_embd, n_ff, n_head, n_block; /* the ViT */
    float eps;
    int q_embd, q_layer, q_head, q_ff, q_cross_freq, n_query; /* the Q-Former */
    float q_eps;
    int q_vocab, q_pos; /* InstructBLIP's text side (word pieces, positions); 0: BLIP-2 */
    int d_out;          /* mm.0: the decoder's width */
} graft_init_qformer;

typedef struct graft_init_blip {
    const char *name;
    const char *llm;    /* an OPT preset or a llama one */
    const char *recipe; /* graft.recipe */
    graft_init_qformer vision;
} graft_init_blip;

/* Presets: "blip2-opt-2.7b" and "blip2-opt-6.7b" (EVA ViT-g/14 at 224: 1408 wide, 39 blocks;
 * Q-Former 768 x 12 layers, 32 queries; OPT), "instructblip-vicuna-7b" (the same with the
 * instruction side, 30523 word pieces; llama-7b), and for tests "blip2-tiny" (llama "tiny"
 * decoder), "blip2-opt-tiny" and "instructblip-tiny". */
const graft_init_blip *graft_init_blip_presets(void);
const graft_init_blip *graft_init_blip_find(const char *name);
uint64_t graft_init_blip_mmproj_bytes(const graft_init_qformer *hp, int type);
int graft_init_blip_mmproj_write(const graft_init_qformer *hp, const char *recipe, int type, uint64_t seed,
                                 int n_threads, const char *path, graft_error *err);
/* dir/model.gguf and dir/mmproj.gguf, as graft_init_llava_write. */
int graft_init_blip_write(const graft_init_blip *p, int type, int mmproj_type, uint64_t seed, int n_threads,
                          const char *dir, graft_error *err);

#endif
