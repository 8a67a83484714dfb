/* graft_gguf.h - reading GGUF files (llama.cpp's model format, versions 2 and 3): metadata
 * key/values of every type including nested arrays, and the tensor table. The file is mmap'd;
 * strings, arrays and tensor data point into the mapping and live as long as the handle.
 * Everything is validated at open: a handle that opened is safe to query with any argument.
 * A graft_gguf is read-only after open and may be shared between threads. Part of graft.h. */
#ifndef GRAFT_GGUF_H
#define GRAFT_GGUF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

struct graft_error;
typedef struct graft_gguf graft_gguf;

/* Metadata value types, with GGUF's numbering. */
typedef enum graft_gguf_type {
    GRAFT_GGUF_U8 = 0,
    GRAFT_GGUF_I8 = 1,
    GRAFT_GGUF_U16 = 2,
    GRAFT_GGUF_I16 = 3,
    GRAFT_GGUF_U32 = 4,
    GRAFT_GGUF_I32 = 5,
    GRAFT_GGUF_F32 = 6,
    GRAFT_GGUF_BOOL = 7,
    GRAFT_GGUF_STRING = 8,
    GRAFT_GGUF_ARRAY = 9,
    GRAFT_GGUF_U64 = 10,
    GRAFT_GGUF_I64 = 11,
    GRAFT_GGUF_F64 = 12,
} graft_gguf_type;

/* Bytes of one value of a fixed-size metadata type (1, 2, 4 or 8); 0 for string, array and
 * unknown types. */
int graft_gguf_value_size(int type);

/* "u8", "i8", ..., "string", "array"; NULL if unknown. */
const char *graft_gguf_type_name(int type);

/* Opens, maps and validates `path`. On failure returns non-zero and says why in *err. */
int graft_gguf_open(const char *path, graft_gguf **out, struct graft_error *err);
void graft_gguf_close(graft_gguf *g);

const char *graft_gguf_path(const graft_gguf *g);
uint32_t graft_gguf_version(const graft_gguf *g);
uint32_t graft_gguf_alignment(const graft_gguf *g); /* general.alignment, default 32 */
size_t graft_gguf_file_size(const graft_gguf *g);
size_t graft_gguf_data_offset(const graft_gguf *g); /* file offset of the tensor data section */

/* ---- metadata ---------------------------------------------------------------------------- */

int64_t graft_gguf_n_kv(const graft_gguf *g);
const char *graft_gguf_kv_key(const graft_gguf *g, int64_t i); /* NUL-terminated, owned by g */
int64_t graft_gguf_find_kv(const graft_gguf *g, const char *key); /* -1 when absent */

/* A metadata value. Scalars are widened into u/i/f/b; a string is (str, len) pointing into the
 * mapping and NOT NUL-terminated; an array gives its element type and count, and its elements
 * are read with graft_gguf_arr_*. `handle` is internal. */
typedef struct graft_gguf_value {
    int type;              /* graft_gguf_type */
    uint64_t u;            /* unsigned integer types, and bool (0/1) */
    int64_t i;             /* signed integer types */
    double f;              /* f32 / f64 */
    const char *str;       /* STRING: bytes, not NUL-terminated */
    uint64_t len;          /* STRING: byte length */
    int arr_type;          /* ARRAY: element type */
    uint64_t arr_n;        /* ARRAY: element count */
    const void *handle;
} graft_gguf_value;

graft_gguf_value graft_gguf_kv_value(const graft_gguf *g, int64_t i);
/* Element j of an array value (nested arrays give array values). j out of range or a value that
 * is not one of g's arrays yields a value of type -1. O(1) for every element type (arrays of
 * strings and of arrays are indexed at open). */
graft_gguf_value graft_gguf_arr_get(const graft_gguf *g, const graft_gguf_value *arr, uint64_t j);
/* Raw little-endian elements of a numeric array (possibly unaligned), or NULL for strings and
 * nested arrays. */
const void *graft_gguf_arr_data(const graft_gguf *g, const graft_gguf_value *arr);

/* Typed getters by key. They return GRAFT_OK, GRAFT_E_NOTFOUND when the key is absent (err is
 * then filled too, so callers with a default simply ignore that code), or GRAFT_E_FORMAT when the
 * value has another type or does not fit (integers convert between widths when in range;
 * get_f32 accepts f32/f64). */
int graft_gguf_get_u32(const graft_gguf *g, const char *key, uint32_t *out, struct graft_error *err);
int graft_gguf_get_i64(const graft_gguf *g, const char *key, int64_t *out, struct graft_error *err);
int graft_gguf_get_f32(const graft_gguf *g, const char *key, float *out, struct graft_error *err);
int graft_gguf_get_bool(const graft_gguf *g, const char *key, int *out, struct graft_error *err);
int graft_gguf_get_str(const graft_gguf *g, const char *key, const char **s, size_t *len,
                       struct graft_error *err);
/* An array value by key, checking the element type (-1 accepts any). */
int graft_gguf_get_arr(const graft_gguf *g, const char *key, int elem_type,
                       graft_gguf_value *out, struct graft_error *err);

/* ---- tensors ----------------------------------------------------------------------------- */

typedef struct graft_gguf_tensor {
    const char *name;  /* NUL-terminated, owned by g */
    int type;          /* ggml type id (graft_type for the ones graft computes with) */
    int n_dims;
    int64_t ne[4];     /* ggml order: ne[0] innermost; unused dims are 1 */
    uint64_t offset;   /* from the start of the data section */
    size_t nbytes;
    const void *data;  /* into the mapping, aligned to graft_gguf_alignment; NULL when nbytes is 0 */
} graft_gguf_tensor;

int64_t graft_gguf_n_tensors(const graft_gguf *g);
graft_gguf_tensor graft_gguf_tensor_info(const graft_gguf *g, int64_t i);
int64_t graft_gguf_find_tensor(const graft_gguf *g, const char *name); /* -1 when absent */
/* Name of any ggml type id, spelled as ggml does ("f32", "q4_K", "iq2_xxs", "mxfp4", ...), for
 * listings; also names the ids ggml removed ("q4_2", "q4_0_4_4", ...); NULL if unknown. */
const char *graft_ggml_type_name(int type);
/* Elements per block and bytes per block of a ggml type id; 0 for unknown or removed ids. */
int64_t graft_ggml_type_block_size(int type);
int64_t graft_ggml_type_block_bytes(int type);

#ifdef __cplusplus
}
#endif

#endif /* GRAFT_GGUF_H */
