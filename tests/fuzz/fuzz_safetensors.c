/* fuzz_safetensors.c - any bytes as a .safetensors file: rejected with an error, or every tensor
 * and metadata entry it reports lies inside the mapping. */
#include <string.h>

#include "fuzz_util.h"
#include "graft.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    graft_error err;
    graft_st *st;
    if (graft_st_open(fz_file(data, size), &st, &err) != GRAFT_OK) return 0;
    unsigned s = 0;
    for (int64_t i = 0; i < graft_st_n_meta(st); i++)
        s += fz_touch(graft_st_meta_key(st, i), strlen(graft_st_meta_key(st, i))) +
             fz_touch(graft_st_meta_value(st, i), strlen(graft_st_meta_value(st, i)));
    for (int64_t i = 0; i < graft_st_n_tensors(st); i++) {
        graft_st_tensor t = graft_st_tensor_info(st, i);
        s += fz_touch(t.name, strlen(t.name)) + fz_touch(t.dtype, strlen(t.dtype));
        if (t.nbytes) s += fz_touch(t.data, 1) + fz_touch((const char *)t.data + t.nbytes - 1, 1);
        if (graft_st_find_tensor(st, t.name) != i) abort(); /* names are unique: lookup finds it */
    }
    (void)s;
    graft_st_close(st);
    return 0;
}
