/* hf.h - Hugging Face model directories (config.json + safetensors) as read-only in-memory GGUF
 * views with llama.cpp's key and tensor names, so the GGUF loaders (model.c, clip.c) run them
 * unchanged. Tensor data points into the safetensors mapping (zero copy) except where a
 * conversion is needed (F16/BF16 vectors to F32; Q/K rows in the llama.cpp layout). The names
 * and keys: docs/formats.md, section "Hugging Face directories". */
#ifndef GRAFT_HF_H
#define GRAFT_HF_H

#include "graft.h"

typedef enum { GRAFT_HF_LLM = 0, GRAFT_HF_MMPROJ = 1 } graft_hf_part;
/* NATIVE: Q/K rows as Hugging Face stores them (zero copy) and the private key graft.rope.neox,
 * which makes llama.c rotate pairs (i, i + n_rot/2). LLAMACPP: Q/K rows permuted into owned
 * memory as llama.cpp's converter does, no private key: tensor for tensor llama.cpp's file. */
typedef enum { GRAFT_HF_NATIVE = 0, GRAFT_HF_LLAMACPP = 1 } graft_hf_layout;

/* 1 when path is a directory containing config.json. */
int graft_hf_is_dir(const char *path);
/* 1 when path is a directory at all: the loaders send every directory here, so one without
 * config.json gets an error that says so. */
int graft_hf_path_is_dir(const char *path);
/* Opens `dir` as a read-only in-memory GGUF of `part` (llama.cpp names and keys). The handle owns
 * the safetensors mapping and converted buffers; graft_gguf_close frees them. GRAFT_E_NOTFOUND
 * for GRAFT_HF_MMPROJ when the model has no vision tower. */
int graft_hf_open_gguf(const char *dir, graft_hf_part part, graft_hf_layout layout, graft_gguf **out,
                       graft_error *err);

/* ---- internal: the name tables (hf_map.c) ------------------------------------------------- */

enum { HF_ROOT_BODY = 0, HF_ROOT_HEAD = 1, HF_ROOT_VISION = 2, HF_ROOT_PROJ = 3, HF_ROOT_QFORMER = 4,
       HF_ROOT_QFORMER_LN = 5, /* the Q-Former's embedding LayerNorm: "qformer." or "qformer.embeddings." */
       HF_ROOT_TOP = 6, HF_N_ROOTS = 7 };
enum { HF_ROW_PLAIN = 0, HF_ROW_Q = 1, HF_ROW_K = 2, /* Q/K: rope row permutation applies */
       HF_ROW_HEAD3 = 3 /* a fused qkv interleaved per head, (H, 3, hd) rows -> [q; k; v], in every layout */ };
/* When an entry exists: always, or as the config decides (hf.c). */
enum { HF_WHEN_ALWAYS = 0,
       HF_WHEN_CROSS = 1,    /* Q-Former layer i has cross-attention: i % cross_attention_frequency == 0 */
       HF_WHEN_TEXT = 2,     /* the Q-Former has a text side (InstructBLIP) */
       HF_WHEN_QKV_BIAS = 3, /* the BLIP ViT's qkv_bias */
       HF_WHEN_NORM_BEFORE = 4 /* OPT's do_layer_norm_before: decoder.final_layer_norm exists */ };

/* One tensor: llama.cpp name and Hugging Face name (both may hold one %d, the layer), which
 * prefix the HF name takes (HF_ROOT_*), its shape in ggml order as dimension letters (see
 * hf.c: E, F, V, Q, K, C for the decoder; D, G, T, P, W, M for the vision side; H, I, N, U, O for
 * the Q-Former; digits are literal), and flags. */
typedef struct hf_map_entry {
    const char *gguf, *hf;
    int root;
    const char *shape;
    int per_layer; /* 1: once per block, %d in both names */
    int rows;      /* HF_ROW_* */
    int optional;  /* absent is fine (output.weight with tied embeddings is decided in hf.c) */
    int n_dims;    /* 0: as the shape; else the view keeps only the first n_dims (the rest are the
                      leading 1-dims of an nn.Parameter such as BLIP's (1, T, D) position table) */
    int when;      /* HF_WHEN_* */
} hf_map_entry;

extern const hf_map_entry graft_hf_map_llama[];   /* terminated by a NULL gguf name */
extern const hf_map_entry graft_hf_map_opt[];     /* OPTForCausalLM -> graft's "opt" */
extern const hf_map_entry graft_hf_map_clip[];    /* legacy llama.cpp mmproj layout */
extern const hf_map_entry graft_hf_map_blip[];    /* BLIP-2 / InstructBLIP: ViT, Q-Former, projection */
extern const hf_map_entry graft_hf_map_owl[];     /* mPLUG-Owl: ViT, visual abstractor, visual_fc, vit_eos */

#endif
