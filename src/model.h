/* model.h - the decoder model and its context, as the pipeline sees them. A graft_model holds
 * hyper-parameters and tensors that point into the mmap'd GGUF (read-only, shareable); a graft_ctx
 * owns the KV cache and one arena of activations sized at creation, so decoding allocates nothing.
 * Two decoder families: llama (src/llama.c) and OPT (src/opt.c); the model says which.
 *
 * Dimension legend (math order, rows first):
 *   n_embd  E   model width           n_head  H    query heads      hd = E / H   head width
 *   n_ff    F   FFN hidden width      n_head_kv Hkv key/value heads (OPT: = H)
 *   n_vocab V   vocabulary            n  tokens in the current batch,  n_ctx  cache length
 *   P = n_ctx_train + 2               rows of OPT's learned position table */
#ifndef GRAFT_MODEL_H
#define GRAFT_MODEL_H

#include "graft.h"
#include "kernels.h"
#include "projector.h" /* graft_wloader: the weight loader shared with the vision side */
#include "tensor.h"

enum { GRAFT_ARCH_LLAMA = 0, GRAFT_ARCH_OPT = 1 };

typedef struct graft_llama_layer {
    graft_tensor attn_norm; /* (E) f32 */
    graft_tensor wq;        /* (H * hd, E)   rows permuted for ggml's NORM rope (llama.cpp layout) */
    graft_tensor wk;        /* (Hkv * hd, E) likewise */
    graft_tensor wv;        /* (Hkv * hd, E) */
    graft_tensor wo;        /* (E, H * hd) */
    graft_tensor ffn_norm;  /* (E) f32 */
    graft_tensor w_gate;    /* (F, E) */
    graft_tensor w_up;      /* (F, E) */
    graft_tensor w_down;    /* (E, F) */
} graft_llama_layer;

/* An OPT block (Hugging Face OPTDecoderLayer). Every vector is an f32 copy owned by the model's
 * weight loader; matrices point into the mapping. */
typedef struct graft_opt_layer {
    const float *attn_norm_w, *attn_norm_b; /* (E) self_attn_layer_norm */
    graft_tensor wq, wk, wv, wo;            /* (E, E) q_proj, k_proj, v_proj, out_proj */
    const float *bq, *bk, *bv, *bo;         /* (E) their biases */
    const float *ffn_norm_w, *ffn_norm_b;   /* (E) the layer's final_layer_norm */
    graft_tensor w_up;                      /* (F, E) fc1 */
    const float *b_up;                      /* (F) */
    graft_tensor w_down;                    /* (E, F) fc2 */
    const float *b_down;                    /* (E) */
} graft_opt_layer;

/* What only OPT has: learned positions, biased LayerNorms, its blocks. */
typedef struct graft_opt_weights {
    graft_tensor pos_embd;                /* (P, E): cache position p reads row p + 2 */
    const float *out_norm_w, *out_norm_b; /* (E) decoder.final_layer_norm; NULL when post-LN */
    graft_opt_layer *layers;
    graft_wloader wl;                     /* owns the f32 vectors */
} graft_opt_weights;

#define GRAFT_OPT_POS_OFFSET 2 /* OPTLearnedPositionalEmbedding.offset */

typedef struct graft_hparams {
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx_train;
    int n_pos_max;       /* positions the model can address at all (OPT: n_ctx_train); 0 = no limit */
    int n_rot;           /* rotary dims per head (llama.rope.dimension_count, default hd) */
    int rope_mode;       /* GRAFT_ROPE_NORM for llama GGUF files */
    int norm_before;     /* OPT: 1 = pre-LN (do_layer_norm_before), 0 = post-LN */
    float rope_freq_base, rope_freq_scale, norm_eps;
} graft_hparams;

struct graft_ctx;
/* A family's forward pass over one batch (see graft_llama_forward). */
typedef int (*graft_forward_fn)(struct graft_ctx *c, const int32_t *ids, const float *embd, int n,
                                int want_logits);

struct graft_model {
    char arch[32];
    int arch_id;             /* GRAFT_ARCH_* */
    graft_forward_fn forward;
    struct graft_gguf *gguf; /* owns the mapping every tensor points into */
    graft_hparams hp;
    graft_tensor tok_embd;   /* (V, E) */
    graft_tensor out_norm;   /* (E) f32 (llama) */
    graft_tensor output;     /* (V, E); = tok_embd when the file ties them */
    graft_llama_layer *layers; /* llama */
    graft_opt_weights opt;     /* OPT */
    size_t weight_bytes;
    struct graft_vocab *vocab; /* from tokenizer.ggml.*; NULL when the file has none */
};

struct graft_ctx {
    const struct graft_model *model;
    graft_ctx_params params;
    const graft_kernels *kt;
    int pos;                 /* positions filled in the KV cache */
    int n_logits;            /* rows in `logits` from the last decode */
    char err[GRAFT_ERROR_MAX];

    graft_arena arena;       /* everything below lives in it */
    void *k_cache, *v_cache; /* per layer (n_ctx, Hkv * hd) of kv_type, layer-major */
    size_t kv_row_bytes;     /* bytes of one cache row */
    float *x;                /* (n_batch, E) residual stream */
    float *xn;               /* (n_batch, E) normed input of a sub-layer */
    float *q;                /* (n_batch, H * hd) */
    float *k, *v;            /* (n_batch, Hkv * hd) */
    float *att;              /* (n_batch, H * hd) attention output */
    float *ff_gate, *ff_up;  /* (n_batch, F) */
    float *logits;           /* (n_batch or 1, V) */
    void *mm_scratch;        /* for graft_matmul */
    float *att_scratch;      /* for graft_attention */
};

/* llama.c: fills m->hp and the tensors from m->gguf; the forward pass over one batch. */
int graft_llama_load(struct graft_model *m, graft_error *err);
int graft_llama_forward(struct graft_ctx *c, const int32_t *ids, const float *embd, int n,
                        int want_logits);
/* opt.c: the same for OPT (Hugging Face OPTForCausalLM). */
int graft_opt_load(struct graft_model *m, graft_error *err);
int graft_opt_forward(struct graft_ctx *c, const int32_t *ids, const float *embd, int n,
                      int want_logits);

/* model.c: hyper-parameter `<arch>.<key>` of m->gguf. hp_u32: required (def < 0) or def when
 * absent; 0 or > 2^30 is out of range. hp_f32: def when absent; must be finite and > 0. */
int graft_model_hp_u32(struct graft_model *m, const char *key, int def, int *out, graft_error *err);
int graft_model_hp_f32(struct graft_model *m, const char *key, float def, float *out, graft_error *err);

/* Y (n, rows of W) = X (n, cols of W) W^T with the context's kernels and threads. */
void graft_ctx_matmul(struct graft_ctx *c, const graft_tensor *W, const float *X, int n, float *Y);

#endif
