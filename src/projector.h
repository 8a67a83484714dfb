/* projector.h - the projector stage: vision features in, LLM-width rows out. A projector is a small
 * table of functions (graft_projector_ops) found by name in a registry (projector.c), so ablating a
 * projector design means adding one entry and one file; the vision encoder (clip.c) and the
 * pipeline only ever call the functions below. How to add one: docs/projectors.md.
 *
 * The interface is shaped for the projectors of the other grafting recipes too:
 *   - n_out_tokens(n_in) may differ from n_in (token pooling, a Q-Former's or a perceiver
 *     resampler's fixed number of learned queries);
 *   - forward receives optional conditioning text ids (InstructBLIP's Q-Former reads the
 *     instruction tokens), ignored by projectors that do not use them;
 *   - each projector owns its weights and states its scratch need once, so the per-image path
 *     allocates nothing.
 *
 * Legend: n_in feature rows of width d_in (the vision tower's width, times the number of feature
 * layers when several are concatenated); n_out rows of width d_out (the LLM's n_embd). */
#ifndef GRAFT_PROJECTOR_H
#define GRAFT_PROJECTOR_H

#include <stddef.h>
#include <stdint.h>

#include "graft.h"
#include "kernels.h"
#include "tensor.h"

/* ---- loading weights: shared by the vision tower and every projector ------------------------ */

/* Finds tensors in an open GGUF by name, checks shape and type, and hands out either a matrix
 * pointing into the mapping (any graft_type the matmul kernels take) or an f32 vector. Vectors
 * (biases, norms, embeddings) stored F32 or F16 are copied into small owned f32 buffers, freed by
 * graft_wl_free(): they are a few KB per layer, and the copy gives every vector one type. */
typedef struct graft_wloader {
    const graft_gguf *g;
    const char *path;            /* for messages */
    const graft_kernels *kt;
    float **owned;               /* vectors converted at load */
    int n_owned, cap_owned;
    size_t weight_bytes;         /* bytes of matrices handed out */
} graft_wloader;

void graft_wl_init(graft_wloader *wl, const graft_gguf *g);
void graft_wl_free(graft_wloader *wl);
/* "[a, b, c]": a tensor's ne in ggml order, for messages; returns buf. */
const char *graft_wl_shape(const graft_gguf_tensor *t, char *buf, size_t cap);
/* 1 when the file has a tensor of that name. */
int graft_wl_has(const graft_wloader *wl, const char *name);
/* A matrix W (M, K) in math order: GGUF ne = {K, M}. A tensor of more dims is taken as the matrix
 * (last dim, product of the others): a conv kernel (M, C, kh, kw), ne = {kw, kh, C, M}, is the
 * matrix (M, C*kh*kw) with rows in (c, ky, kx) order (callers check the individual dims). Types:
 * f32, f16, bf16, q8_0, q4_0. Missing: GRAFT_E_FORMAT ("missing tensor"), unless optional, which
 * leaves out->data NULL and returns GRAFT_OK. */
int graft_wl_matrix(graft_wloader *wl, const char *name, int64_t K, int64_t M, int optional,
                    graft_tensor *out, graft_error *err);
/* A vector of n floats (f32 or f16 in the file; any shape with n elements in ne[0], other dims 1).
 * Missing and optional: *out = NULL, GRAFT_OK. */
int graft_wl_vector(graft_wloader *wl, const char *name, int64_t n, int optional,
                    const float **out, graft_error *err);
/* "<prefix>.weight" as W (M, K) and "<prefix>.bias" (M), both required (a Linear layer). */
int graft_wl_linear(graft_wloader *wl, const char *prefix, int64_t K, int64_t M, graft_tensor *w, const float **b,
                    graft_error *err);
/* "<prefix>.weight" and "<prefix>.bias", n floats each, both required (a LayerNorm). */
int graft_wl_norm(graft_wloader *wl, const char *prefix, int64_t n, const float **w, const float **b, graft_error *err);
/* Y (n, M) = X (n, K) W^T + b for W (M, K) (b may be NULL), with the context's kernels and
 * threads; scratch as graft_linear_scratch_bytes(W, n, n_threads) says. */
size_t graft_linear_scratch_bytes(const graft_tensor *W, int n, int n_threads);
void graft_linear(const graft_kernels *kt, const graft_tensor *W, const float *b, const float *X,
                  int n, float *Y, void *scratch, int n_threads);

/* ---- the projector interface ---------------------------------------------------------------- */

typedef struct graft_projector graft_projector;

/* What forward may use besides its input: kernels, threads, scratch sized by scratch_bytes(), and
 * the optional conditioning text (token ids of the instruction, NULL / 0 when there is none). */
typedef struct graft_projector_run {
    const graft_kernels *kt;
    int n_threads;
    void *scratch;               /* scratch_bytes(p, n_in, n_text_max, n_threads) bytes, 64-byte aligned */
    const int32_t *text_ids;     /* (n_text), n_text <= the n_text_max scratch was sized for */
    int n_text;
    graft_error *err;            /* may be NULL: forward's one-line message when it fails */
} graft_projector_run;

/* Which rows of the vision tower a projector reads. */
enum {
    /* LLaVA's: the feature layer(s) of clip.vision.feature_layer, class token dropped (or kept with
     * the "full" selection of the vision context) */
    GRAFT_PROJ_ROWS_SELECTED = 0,
    /* the tower's last_hidden_state: every row (class token first) of the last block's output,
     * with the post-layernorm applied when the file has v.post_ln (BLIP-2's Q-Former, mPLUG-Owl's
     * abstractor) */
    GRAFT_PROJ_ROWS_LAST_HIDDEN = 1,
};

typedef struct graft_projector_ops {
    const char *name;            /* the clip.projector_type value it answers to */
    const char *summary;         /* one line for listings and docs */
    /* Reads the weights from wl (their lifetime is the loader's), checks them against d_in and
     * sets p->d_out and p->state. On failure the caller calls free(). */
    int (*load)(graft_projector *p, graft_wloader *wl, graft_error *err);
    void (*free)(graft_projector *p); /* releases p->state (may be NULL) */
    /* Rows forward writes for n_in input rows; < 1 when it cannot take n_in rows (a pooling
     * projector given a row count that is not a square grid). */
    int (*n_out_tokens)(const graft_projector *p, int n_in);
    /* Scratch bytes forward needs for n_in rows and up to n_text_max conditioning tokens, for the
     * context's arena (sized once). */
    size_t (*scratch_bytes)(const graft_projector *p, int n_in, int n_text_max, int n_threads);
    /* out (n_out_tokens(n_in), d_out) from feats (n_in, d_in). Allocates nothing. */
    int (*forward)(const graft_projector *p, const float *feats, int n_in, float *out,
                   const graft_projector_run *run);
    int rows;                    /* GRAFT_PROJ_ROWS_*: what the vision tower hands it */
} graft_projector_ops;

struct graft_projector {
    const graft_projector_ops *ops;
    int d_in;                    /* set by the caller before load */
    int d_out;                   /* set by load */
    void *state;                 /* the projector's weights */
};

/* Projectors that live in their own files (the registry in projector.c lists them too). */
extern const graft_projector_ops graft_projector_qformer; /* qformer.c: BLIP-2 / InstructBLIP */

/* The registry: ops by name, NULL when unknown. */
const graft_projector_ops *graft_projector_find(const char *name, size_t len);
/* "linear, mlp": the registered names, for messages, into buf (cap bytes, NUL-terminated). */
void graft_projector_list(char *buf, size_t cap);

/* Resolves the projector for an mmproj file and loads it: the name is clip.projector_type
 * (`type`, `len` bytes), with one file-layout rule: "mlp" whose file has mm.weight and no
 * mm.0.weight is LLaVA-1's linear projector as the legacy llama.cpp converter names it. */
int graft_projector_load(graft_projector *p, const char *type, size_t len, int d_in,
                         graft_wloader *wl, graft_error *err);
void graft_projector_free(graft_projector *p);

/* ---- projectors of their own files ---------------------------------------------------------- */

/* mPLUG-Owl's visual abstractor (abstractor.c), clip.projector_type "owl_abstractor". */
extern const graft_projector_ops graft_proj_owl_abstractor;
/* After its forward: the queries after the last abstractor layer, before mm.0, (Q, d_in) at the
 * start of the scratch the forward was given (for tests). */
const float *graft_owl_abstractor_queries(const void *scratch);

#endif
