/* tensor.h - graft's tensor: an element type, a shape of up to 4 dimensions, byte strides and a
 * data pointer that may point into an mmap'd model file (weights are never copied at load) or into
 * a context's arena (activations).
 *
 * Dimension order is ggml's (and GGUF's): ne[0] is the innermost, contiguous dimension. A weight
 * matrix W (M, K) in math order, M rows of K, has ne = {K, M}. Shape comments in model code use
 * math order: `// (n_tokens, n_embd)`. */
#ifndef GRAFT_TENSOR_H
#define GRAFT_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "graft.h"

#define GRAFT_MAX_DIMS 4

typedef struct graft_tensor {
    const char *name;          /* points into the file's metadata or a static string */
    int type;                  /* graft_type */
    int n_dims;
    int64_t ne[GRAFT_MAX_DIMS];  /* elements per dimension, ne[0] innermost; unused dims are 1 */
    size_t nb[GRAFT_MAX_DIMS];   /* bytes between consecutive indices of each dimension */
    void *data;
} graft_tensor;

/* Fills ne/nb for a contiguous tensor. Fails (returns 0) when ne[0] is not a multiple of the
 * type's block size or the byte size overflows. */
int graft_tensor_init(graft_tensor *t, const char *name, int type, int n_dims, const int64_t *ne,
                      void *data);
int64_t graft_tensor_nelements(const graft_tensor *t);
size_t graft_tensor_nbytes(const graft_tensor *t);
/* Bytes of one row of ne0 elements of `type`; 0 when ne0 is not a whole number of blocks. */
size_t graft_row_bytes(int type, int64_t ne0);

/* ---- arena: one allocation per context, bump-allocated, 64-byte aligned ---------------- */

typedef struct graft_arena {
    unsigned char *base;
    size_t size, used, peak;
} graft_arena;

/* Reserves `size` bytes (rounded up to 64) once. Returns GRAFT_OK or GRAFT_E_NOMEM. */
int graft_arena_init(graft_arena *a, size_t size);
void graft_arena_free(graft_arena *a);
/* Hands out n bytes aligned to 64, or NULL when the arena is exhausted (a sizing bug: contexts
 * compute their arena size from the model's hyper-parameters). */
void *graft_arena_alloc(graft_arena *a, size_t n);
/* Everything allocated after a mark is released by graft_arena_reset(a, mark). */
static inline size_t graft_arena_mark(const graft_arena *a) { return a->used; }
static inline void graft_arena_reset(graft_arena *a, size_t mark) { a->used = mark; }

/* Copies row `row` of a 2-D tensor (f32, f16, bf16, q8_0 or q4_0) into out as f32 (ne[0] floats). */
struct graft_kernels;
void graft_tensor_row_f32(const struct graft_kernels *kt, const graft_tensor *t, int64_t row, float *out);

#endif
