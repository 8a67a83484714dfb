/* gguf_write.h - writing GGUF files (internal API): collect metadata key/values (every type,
 * arrays of numbers or strings, nested arrays) and tensors in memory, then write the file with
 * its padding in one go. Tensor data is copied, referenced, or streamed by a callback at write
 * time, so a converter never needs the whole model in one buffer. Used by the tests, and by
 * `graft convert` / `graft init`. The reader is include/graft_gguf.h.
 *
 *     gguf_writer *w = gguf_writer_new();
 *     gguf_writer_add_str(w, "general.architecture", "llama", 5);
 *     gguf_writer_add_u32(w, "llama.block_count", 4);
 *     gguf_writer_add_tensor(w, "token_embd.weight", GRAFT_TYPE_F32, 2, ne, data, nbytes, 0);
 *     if (gguf_writer_error(w) || gguf_writer_write(w, "out.gguf", &err)) ...
 *     gguf_writer_free(w);
 *
 * The add_* calls return 0 or a graft_status; the first failure is also remembered and reported
 * by gguf_writer_error() and gguf_writer_write(), so a sequence of adds may be checked once. */
#ifndef GRAFT_GGUF_WRITE_H
#define GRAFT_GGUF_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "graft.h"

typedef struct gguf_writer gguf_writer;

gguf_writer *gguf_writer_new(void); /* NULL when out of memory */
void gguf_writer_free(gguf_writer *w);

/* GGUF version 3 (default) or 2: the layout is the same, only the number differs. */
int gguf_writer_set_version(gguf_writer *w, uint32_t version);
/* Data alignment (default 32; a non-zero power of two). Adds or updates general.alignment
 * (written as the first key when added here). */
int gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment);

/* ---- metadata: keys must be non-empty, NUL-free and unique ------------------------------- */

int gguf_writer_add_u8(gguf_writer *w, const char *key, uint8_t v);
int gguf_writer_add_i8(gguf_writer *w, const char *key, int8_t v);
int gguf_writer_add_u16(gguf_writer *w, const char *key, uint16_t v);
int gguf_writer_add_i16(gguf_writer *w, const char *key, int16_t v);
int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v);
int gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v);
int gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v);
int gguf_writer_add_i64(gguf_writer *w, const char *key, int64_t v);
int gguf_writer_add_f32(gguf_writer *w, const char *key, float v);
int gguf_writer_add_f64(gguf_writer *w, const char *key, double v);
int gguf_writer_add_bool(gguf_writer *w, const char *key, int v);
int gguf_writer_add_str(gguf_writer *w, const char *key, const char *s, size_t len);
/* An array of n numbers or bools of elem_type (GRAFT_GGUF_U8 ... F64, BOOL as one byte 0/1),
 * given as n native values of that type. */
int gguf_writer_add_arr(gguf_writer *w, const char *key, int elem_type, const void *data, uint64_t n);
/* An array of n strings; lens may be NULL for NUL-terminated strings. */
int gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                            uint64_t n);

/* Arrays of any nesting, built bottom-up: make an array value, push elements of its element type
 * (pushing an array value moves it in and frees it), then add it under a key (which frees it
 * too, also on failure). */
typedef struct gguf_wval gguf_wval;
gguf_wval *gguf_wval_arr(int elem_type); /* NULL when out of memory or elem_type is unknown */
void gguf_wval_free(gguf_wval *v);
int gguf_wval_push(gguf_wval *arr, const void *elem);             /* one number/bool, native type */
int gguf_wval_push_str(gguf_wval *arr, const char *s, size_t len);
int gguf_wval_push_arr(gguf_wval *arr, gguf_wval *sub);             /* takes sub */
int gguf_writer_add_val(gguf_writer *w, const char *key, gguf_wval *arr); /* takes arr */

/* ---- tensors: names non-empty, NUL-free and unique; written in the order added ----------- */

enum { GGUF_W_COPY = 1 }; /* copy the data now; otherwise it must live until the file is written */

/* A tensor of ggml type `type` and shape ne[0..n_dims) (ggml order, ne[0] innermost). nbytes must
 * equal the size the type and shape imply. */
int gguf_writer_add_tensor(gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                           const void *data, size_t nbytes, int flags);

/* Streaming: at write time fn(ctx, s) is called once and must pass exactly the tensor's bytes,
 * in order and in pieces of any size, to gguf_stream_write(s, ...); non-zero from fn aborts the
 * write with that status (fn fills err through gguf_stream_error). */
typedef struct gguf_stream gguf_stream;
typedef int (*gguf_stream_fn)(void *ctx, gguf_stream *s);
int gguf_writer_add_tensor_stream(gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                                  gguf_stream_fn fn, void *ctx);
int gguf_stream_write(gguf_stream *s, const void *data, size_t n);
graft_error *gguf_stream_error(gguf_stream *s);

/* ---- output ------------------------------------------------------------------------------- */

/* The first error of the add_* calls (0 if none), copied into *err. */
int gguf_writer_error(const gguf_writer *w, graft_error *err);
/* Writes the file: to path.tmp, then renamed over path, so a failed write leaves no partial
 * file. The writer may be written again or freed afterwards. */
int gguf_writer_write(gguf_writer *w, const char *path, graft_error *err);

/* The file's bytes before the data section (header, key/values, tensor infos, padding to the
 * alignment) into *out (malloc'd, *size bytes), and the tensors' data pointers in the order added
 * into *data (malloc'd; NULL for streamed tensors): what graft_gguf_open_image (gguf_impl.h)
 * opens as an in-memory GGUF. The caller frees both. */
int gguf_writer_header(const gguf_writer *w, unsigned char **out, size_t *size, const void ***data,
                       graft_error *err);

#endif
