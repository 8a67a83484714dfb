/* graft_safetensors.h - reading safetensors checkpoints (Hugging Face's tensor format): one
 * .safetensors file, or a sharded checkpoint through model.safetensors.index.json. Files are
 * mmap'd read-only; tensor data points into the mappings (zero copy) and lives as long as the
 * handle. Everything is validated at open, so a handle that opened is safe to query with any
 * argument. A graft_st is read-only after open and may be shared between threads. Part of graft.h.
 *
 *   graft_st *st; graft_error err;
 *   if (graft_st_open_dir("llava-1.5-7b-hf", &st, &err)) { puts(err.msg); return 1; }
 *   int64_t i = graft_st_find_tensor(st, "multi_modal_projector.linear_1.bias");
 *   graft_st_tensor t = graft_st_tensor_info(st, i);
 *   if (t.type < 0) ... t.dtype names a dtype graft cannot compute with ...
 *   ... t.ne[0] floats at t.data ...
 *   graft_st_close(st); */
#ifndef GRAFT_SAFETENSORS_H
#define GRAFT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct graft_error;
typedef struct graft_st graft_st;

/* Opens, maps and validates one .safetensors file. On failure returns non-zero (a graft_status)
 * and says why in *err, naming the file (and the tensor). */
int graft_st_open(const char *path, graft_st **out, struct graft_error *err);
/* Opens a sharded checkpoint from its index (model.safetensors.index.json): every shard named in
 * "weight_map" (plain file names, in the index's directory) is opened and validated, each tensor
 * must be in the shard the map names, and every tensor of every shard must be in the map. */
int graft_st_open_index(const char *index_path, graft_st **out, struct graft_error *err);
/* A Hugging Face directory: its model.safetensors.index.json when present, else its
 * model.safetensors; GRAFT_E_NOTFOUND when it has neither. */
int graft_st_open_dir(const char *dir, graft_st **out, struct graft_error *err);
void graft_st_close(graft_st *st);

/* The files behind the handle: 1 for graft_st_open, the shards (in index order of first mention)
 * otherwise. */
int graft_st_n_files(const graft_st *st);
const char *graft_st_file_path(const graft_st *st, int file); /* NULL when out of range */

/* ---- metadata: the string map "__metadata__" of each file, in file order ---------------------- */

int64_t graft_st_n_meta(const graft_st *st);
const char *graft_st_meta_key(const graft_st *st, int64_t i);   /* NULL when out of range */
const char *graft_st_meta_value(const graft_st *st, int64_t i); /* NULL when out of range */
/* The value of the first entry with this key, or NULL when absent. */
const char *graft_st_get_meta(const graft_st *st, const char *key);

/* ---- tensors ----------------------------------------------------------------------------------- */

typedef struct graft_st_tensor {
    const char *name;  /* NUL-terminated, owned by st */
    const char *dtype; /* as the file spells it: "F32", "BF16", "I64", "F8_E4M3", ... */
    int type;          /* graft_type for F32/F16/BF16; -1 for the other dtypes (unsupported) */
    int elem_size;     /* bytes per element of dtype */
    int n_dims;        /* 0..4 (0 = a scalar) */
    int64_t ne[4];     /* ggml order: ne[0] innermost = the last entry of "shape"; unused dims 1 */
    size_t nbytes;
    const void *data;  /* into the mapping; NULL when nbytes is 0. NOT necessarily aligned */
    int file;          /* index of the file holding it (graft_st_file_path) */
} graft_st_tensor;

/* Tensors in the order of (file, offset in the file's data buffer). */
int64_t graft_st_n_tensors(const graft_st *st);
/* Tensor i; a zeroed struct with type -1 and name NULL when i is out of range. */
graft_st_tensor graft_st_tensor_info(const graft_st *st, int64_t i);
int64_t graft_st_find_tensor(const graft_st *st, const char *name); /* -1 when absent */

#ifdef __cplusplus
}
#endif

#endif /* GRAFT_SAFETENSORS_H */
