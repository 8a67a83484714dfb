/* npy.h - reading NumPy .npy files (format version 1/2/3, little-endian, C order) in tests:
 * the reference tensors in fixtures are stored this way. */
#ifndef GRAFT_TEST_NPY_H
#define GRAFT_TEST_NPY_H

#include <stddef.h>
#include <stdint.h>

typedef struct npy_array {
    char dtype[8];      /* descr without the byte-order mark: "f4", "f8", "i8", "u1", "i4" ... */
    int n_dims;
    int64_t shape[8];
    size_t count;       /* elements */
    size_t elem_size;
    void *data;         /* malloc'd, count * elem_size bytes */
} npy_array;

/* Loads path; returns 0 on success, -1 (with a message on stderr) otherwise. Fortran order and
 * big-endian data are rejected. */
int npy_load(const char *path, npy_array *out);
void npy_free(npy_array *a);
/* The array converted to float32 / int64 (malloc'd), for f4/f8 and integer dtypes. */
float *npy_as_f32(const npy_array *a);
int64_t *npy_as_i64(const npy_array *a);

#endif
