/* init_impl.h - what init.c shares with init_blip.c: a tensor list (name, type, ggml shape, fill)
 * built once to size a file and again to write it, and the writer that streams its random
 * tensors. Internal: not part of the public API. */
#ifndef GRAFT_INIT_IMPL_H
#define GRAFT_INIT_IMPL_H

#include <stdint.h>

#include "error.h"
#include "gguf_write.h"

enum { INIT_FILL_RAND, INIT_FILL_ONES, INIT_FILL_ZEROS };

/* One tensor of a file being written: name, type, shape (ggml order) and how it is filled. */
typedef struct {
    char name[48];
    int type, n_dims, fill;
    int64_t ne[4];
    float scale; /* INIT_FILL_RAND: uniform in +-scale */
} init_tensor;

/* A list of tensors being built; with out == NULL only counted. */
typedef struct {
    init_tensor *out;
    int n;
} init_list;

void init_push(init_list *l, const char *name, int type, int fill, float scale, int n_dims, int64_t ne0,
               int64_t ne1, int64_t ne2, int64_t ne3);
/* A linear layer W (M, K) in `type` + b (M) f32, both uniform in +-1/sqrt(K). */
void init_push_linear(init_list *l, const char *prefix, int type, int64_t M, int64_t K);
/* A LayerNorm of width D: weight 1, bias 0. */
void init_push_norm(init_list *l, const char *prefix, int64_t D);
uint64_t init_tensor_bytes(const init_tensor *t);
/* The clip.vision.* keys, OpenAI CLIP's image mean/std (projection_dim 0: left out). */
void init_add_vision_keys(gguf_writer *w, int image_size, int patch_size, int n_embd, int n_ff, int projection_dim,
                          int n_head, float eps, int n_block, int use_gelu);
/* f32, f16, bf16, q8_0 or q4_0 */
int init_is_type(int type);
/* Adds ts[0..n) to w (random ones streamed from (seed, name, row), so thread-count independent)
 * and writes w to path. w's keys must be set; the caller frees w. */
int init_write_tensors(gguf_writer *w, const init_tensor *ts, int n, uint64_t seed, int n_threads, const char *path,
                       graft_error *err);

#endif
