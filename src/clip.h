/* clip.h - the vision tower of a LLaVA-style model as loaded from a llama.cpp mmproj GGUF
 * (general.architecture "clip"): a CLIP ViT (Hugging Face CLIPVisionModel semantics) and the
 * projector stage (projector.h). A graft_vision holds hyper-parameters and tensors pointing into
 * the mapping (read-only, shareable); a graft_vision_ctx owns one arena sized at creation, so
 * encoding an image allocates nothing. Rules for the file layout: docs/vision.md.
 *
 * Dimension legend (math order, rows first):
 *   S  image side (pixels)     p  patch side      g = S / p  patches per side
 *   Np = g * g  patches        T = Np + 1  tokens (class token first, row 0)
 *   D  ViT width               H  heads           hd = D / H  head width      F  MLP width
 *   nf feature layers (usually 1)   Df = nf * D  projector input width   De  projector output
 *   width (the LLM's n_embd)   Nt  rows handed to the projector (Np, or T with "full") */
#ifndef GRAFT_CLIP_H
#define GRAFT_CLIP_H

#include "graft.h"
#include "kernels.h"
#include "projector.h"
#include "tensor.h"

#define GRAFT_CLIP_MAX_FEATURE_LAYERS 8

enum { GRAFT_CLIP_ACT_QUICK_GELU = 0, GRAFT_CLIP_ACT_GELU_ERF = 1, GRAFT_CLIP_ACT_SILU = 2 };

typedef struct graft_clip_layer {
    const float *ln1_w, *ln1_b;  /* (D) */
    graft_tensor wq, wk, wv, wo; /* (D, D) */
    const float *bq, *bk, *bv, *bo; /* (D) */
    const float *ln2_w, *ln2_b;  /* (D) */
    graft_tensor fc1;            /* (F, D)  CLIP mlp.fc1, whichever of ffn_up / ffn_down holds it */
    const float *fc1_b;          /* (F) */
    graft_tensor fc2;            /* (D, F)  CLIP mlp.fc2 */
    const float *fc2_b;          /* (D) */
} graft_clip_layer;

typedef struct graft_clip_hparams {
    int image_size, patch_size, grid, n_patches, n_pos; /* S, p, g, Np, T */
    int n_embd, n_head, head_dim, n_ff;                 /* D, H, hd, F */
    int n_block;            /* blocks stored in the file (clip.vision.block_count) */
    int n_run;              /* blocks run: the deepest feature layer */
    int n_feature_layers;   /* nf */
    int feature_layers[GRAFT_CLIP_MAX_FEATURE_LAYERS]; /* hidden-state indices: 0 = after pre-LN, k = after block k */
    int act;                /* GRAFT_CLIP_ACT_*: the ViT MLP's activation */
    int legacy_ffn;         /* 1 when the file stores fc1 as ffn_down (llama.cpp's legacy converter) */
    float eps;
    float mean[3], std[3];  /* clip.vision.image_mean / image_std */
} graft_clip_hparams;

struct graft_vision {
    struct graft_gguf *gguf;    /* owns the mapping the matrices point into */
    graft_wloader wl;           /* owns the f32 vectors */
    graft_clip_hparams hp;
    graft_tensor patch_w;       /* (D, 3 * p * p) conv kernel, rows in (c, ky, kx) order */
    const float *patch_b;       /* (D) or NULL (CLIP has none) */
    const float *class_embd;    /* (D) */
    graft_tensor pos_embd;      /* (T, D) */
    const float *pre_ln_w, *pre_ln_b; /* (D) or NULL */
    const float *post_ln_w, *post_ln_b; /* (D) or NULL: applied only for projectors that read the
                                          last hidden state (GRAFT_PROJ_ROWS_LAST_HIDDEN) */
    graft_clip_layer *layers;   /* n_block */
    graft_projector proj;       /* Df -> De */
    char proj_name[32];
    const struct graft_recipe *recipe; /* graft.recipe ("llava" when absent) */
    struct graft_vocab *vocab;  /* the projector's own tokenizer (tokenizer.ggml.* in the mmproj), or NULL */
    int n_text_max;             /* most instruction tokens the projector reads (0: none) */
};

struct graft_vision_ctx {
    const struct graft_vision *vis;
    graft_vision_ctx_params params;
    const graft_kernels *kt;
    char err[GRAFT_ERROR_MAX];
    int n_feat_rows;            /* Nt */
    int encoded;                /* an encode finished: features/hidden are valid */
    double vit_ms, proj_ms;

    graft_arena arena;          /* everything below lives in it */
    float *col;                 /* (Np, 3 * p * p) im2col of the image */
    float *x;                   /* (T, D) residual stream */
    float *xn;                  /* (T, D) normed input of a sub-layer / sub-layer output */
    float *q, *k, *v;           /* (T, D) */
    float *att;                 /* (T, D) */
    float *ff;                  /* (T, F) */
    float *hidden;              /* (n_run + 1, T, D) when keep_hidden, else NULL */
    float *feats;               /* (Nt, Df) the projector's input */
    void *mm_scratch;           /* graft_matmul scratch, the largest over the ViT's matrices */
    float *scores;              /* (T, T) one head's attention weights */
    float *vt;                  /* (hd, T) one head's values, transposed */
    void *proj_scratch;         /* the projector's scratch */
};

#endif
