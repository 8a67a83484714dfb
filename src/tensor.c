/* tensor.c - tensor shapes and sizes, and the activation arena. */
#include <stdlib.h>
#include <string.h>

#include "kernels.h"
#include "tensor.h"

size_t graft_row_bytes(int type, int64_t ne0) {
    const int64_t bs = graft_type_block_size(type), bb = graft_type_block_bytes(type);
    if (bs <= 0 || ne0 < 0 || ne0 % bs) return 0;
    return (size_t)(ne0 / bs) * (size_t)bb;
}

int graft_tensor_init(graft_tensor *t, const char *name, int type, int n_dims, const int64_t *ne,
                      void *data) {
    memset(t, 0, sizeof *t);
    if (n_dims < 1 || n_dims > GRAFT_MAX_DIMS) return 0;
    t->name = name;
    t->type = type;
    t->n_dims = n_dims;
    for (int i = 0; i < GRAFT_MAX_DIMS; i++) t->ne[i] = i < n_dims ? ne[i] : 1;
    size_t row = graft_row_bytes(type, t->ne[0]);
    if (row == 0 && t->ne[0] != 0) return 0;
    t->nb[0] = (size_t)graft_type_block_bytes(type);
    t->nb[1] = row;
    for (int i = 2; i < GRAFT_MAX_DIMS; i++) {
        if (t->ne[i - 1] < 0 || (t->ne[i - 1] && t->nb[i - 1] > SIZE_MAX / (size_t)t->ne[i - 1]))
            return 0;
        t->nb[i] = t->nb[i - 1] * (size_t)t->ne[i - 1];
    }
    if (t->ne[3] && t->nb[3] > SIZE_MAX / (size_t)t->ne[3]) return 0;
    t->data = data;
    return 1;
}

int64_t graft_tensor_nelements(const graft_tensor *t) {
    return t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3];
}

size_t graft_tensor_nbytes(const graft_tensor *t) { return t->nb[3] * (size_t)t->ne[3]; }

int graft_arena_init(graft_arena *a, size_t size) {
    memset(a, 0, sizeof *a);
    size = (size + 63) & ~(size_t)63;
    if (size == 0) return GRAFT_OK;
    a->base = aligned_alloc(64, size);
    if (!a->base) return GRAFT_E_NOMEM;
    a->size = size;
    return GRAFT_OK;
}

void graft_arena_free(graft_arena *a) {
    free(a->base);
    memset(a, 0, sizeof *a);
}

void *graft_arena_alloc(graft_arena *a, size_t n) {
    n = (n + 63) & ~(size_t)63;
    if (n > a->size - a->used) return NULL;
    void *p = a->base + a->used;
    a->used += n;
    if (a->used > a->peak) a->peak = a->used;
    return p;
}

void graft_tensor_row_f32(const graft_kernels *kt, const graft_tensor *t, int64_t row, float *out) {
    const char *p = (const char *)t->data + (size_t)row * t->nb[1];
    const int64_t n = t->ne[0];
    switch (t->type) {
    case GRAFT_TYPE_F32: memcpy(out, p, (size_t)n * sizeof(float)); break;
    case GRAFT_TYPE_F16: kt->f16_to_f32(n, (const uint16_t *)p, out); break;
    case GRAFT_TYPE_BF16: kt->bf16_to_f32(n, (const uint16_t *)p, out); break;
    case GRAFT_TYPE_Q8_0: kt->dequantize_q8_0(n, (const block_q8_0 *)p, out); break;
    case GRAFT_TYPE_Q4_0: kt->dequantize_q4_0(n, (const block_q4_0 *)p, out); break;
    default: memset(out, 0, (size_t)n * sizeof(float)); break; /* rejected at load */
    }
}
