/* gguf_impl.h - the GGUF reader's handle, shared by the parser (gguf.c) and the queries
 * (gguf_query.c). Not part of the API: include/graft_gguf.h is. */
#ifndef GRAFT_GGUF_IMPL_H
#define GRAFT_GGUF_IMPL_H

#include <stdint.h>
#include <string.h>

#include "graft.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF reader reads little-endian fields in place: it needs a little-endian host"
#endif

/* An array value: where its elements are and how to reach element j in O(1). */
typedef struct arr_desc {
    int elem_type;
    uint64_t n;
    const unsigned char *data;  /* first element, in the mapping */
    const uint64_t *offs;       /* STRING elements: byte offset of element j from data */
    const struct arr_desc *sub; /* ARRAY elements: the n sub-arrays */
} arr_desc;

typedef struct kv_rec {
    const char *key;          /* NUL-terminated copy in g->names */
    int type;
    const unsigned char *val; /* the value's bytes in the mapping (after its type) */
    const arr_desc *arr;      /* ARRAY values */
} kv_rec;

typedef struct name_ix {
    const char *s;
    int64_t i;
} name_ix;

/* The handle: the mapping and the tables built at open (gguf.c), read-only afterwards. */
struct graft_gguf {
    char *path;
    const unsigned char *map;
    size_t size;
    uint32_t version, alignment;
    size_t data_off;
    int64_t n_kv, n_tensors;
    kv_rec *kv;
    graft_gguf_tensor *tensors;
    name_ix *kv_ix, *t_ix; /* sorted by key / name */
    char *names;           /* keys then tensor names, each NUL-terminated */
    arr_desc *descs;
    size_t n_desc;
    uint64_t *offs;
    /* An in-memory view (graft_gguf_open_image): map is this malloc'd image, not a mapping */
    unsigned char *image;
    void *owner;                 /* what the tensor data points into, freed at close */
    void (*owner_free)(void *owner);
};

/* Opens a GGUF image held in memory (the bytes before the data section, as gguf_writer_header
 * makes them) whose tensor data lives elsewhere: tensor i's data is data[i] (read during the
 * call; non-NULL for non-empty tensors), trusted to hold the tensor's bytes, so the data-range
 * checks of files are skipped; everything else is validated as for a file. `name` stands for the
 * path in graft_gguf_path() and in messages. Takes ownership of `image` (malloc'd) and of `owner`
 * (freed with owner_free, which may be NULL) at close, and on failure. */
int graft_gguf_open_image(const char *name, unsigned char *image, size_t size, const void *const *data,
                          void *owner, void (*owner_free)(void *), graft_gguf **out, graft_error *err);

/* Fields are read with memcpy: GGUF aligns nothing but the data section. */
static inline uint32_t gguf_rd32(const unsigned char *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t gguf_rd64(const unsigned char *p) {
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

/* Bytes of one value of a fixed-size type (graft_gguf_value_size). */
static inline int gguf_scalar_size(int type) { return graft_gguf_value_size(type); }

#endif
