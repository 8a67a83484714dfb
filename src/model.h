/* model.h - the decoder model and its context, as the pipeline sees them. A graft_model holds
 * hyper-parameters and tensors that point into the mmap'd GGUF (read-only, shareable); a graft_ctx
 * owns the KV cache and one arena of activations sized at creation, so decoding allocates nothing.
 *
 * Dimension legend (math order, rows first):
 *   n_embd  E   model width           n_head  H    query heads      hd = E / H   head width
 *   n_ff    F   FFN hidden width      n_head_kv Hkv key/value heads
 *   n_vocab V   vocabulary            n  tokens in the current batch,  n_ctx  cache length */
#ifndef GRAFT_MODEL_H
#define GRAFT_MODEL_H

#include "graft.h"
#include "kernels.h"
#include "tensor.h"

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

typedef struct graft_hparams {
    int n_vocab, n_embd, n_layer, n_head, n_head_kv, head_dim, n_ff, n_ctx_train;
    int n_rot;           /* rotary dims per head (llama.rope.dimension_count, default hd) */
    int rope_mode;       /* GRAFT_ROPE_NORM for llama GGUF files */
    float rope_freq_base, rope_freq_scale, norm_eps;
} graft_hparams;

struct graft_model {
    char arch[32];
    struct graft_gguf *gguf; /* owns the mapping every tensor points into */
    graft_hparams hp;
    graft_tensor tok_embd;   /* (V, E) */
    graft_tensor out_norm;   /* (E) f32 */
    graft_tensor output;     /* (V, E); = tok_embd when the file ties them */
    graft_llama_layer *layers;
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

/* Y (n, rows of W) = X (n, cols of W) W^T with the context's kernels and threads. */
void graft_ctx_matmul(struct graft_ctx *c, const graft_tensor *W, const float *X, int n, float *Y);

#endif
