/* fuzz_gguf.c - any bytes as a GGUF file: the reader either rejects them with an error or hands
 * out key/values and tensors that are safe to read; the decoder, vocabulary and vision loaders
 * on top of it either load or reject. */
#include <string.h>

#include "fuzz_util.h"
#include "graft.h"
#include "vocab.h"

static unsigned touch_value(const graft_gguf *g, graft_gguf_value v, int depth) {
    unsigned s = 0;
    if (v.type == GRAFT_GGUF_STRING) return fz_touch(v.str, v.len);
    if (v.type != GRAFT_GGUF_ARRAY) return (unsigned)v.u;
    uint64_t n = v.arr_n < 64 ? v.arr_n : 64; /* first and last elements are enough to catch bad offsets */
    for (uint64_t j = 0; j < n; j++) s += touch_value(g, graft_gguf_arr_get(g, &v, j), depth + 1);
    if (v.arr_n > 64) s += touch_value(g, graft_gguf_arr_get(g, &v, v.arr_n - 1), depth + 1);
    return s;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *path = fz_file(data, size);
    graft_error err;
    graft_gguf *g;
    if (graft_gguf_open(path, &g, &err) == GRAFT_OK) {
        unsigned s = 0;
        for (int64_t i = 0; i < graft_gguf_n_kv(g); i++) s += touch_value(g, graft_gguf_kv_value(g, i), 0);
        for (int64_t i = 0; i < graft_gguf_n_tensors(g); i++) {
            graft_gguf_tensor t = graft_gguf_tensor_info(g, i);
            s += fz_touch(t.name, strlen(t.name));
            if (t.nbytes) s += fz_touch(t.data, 1) + fz_touch((const char *)t.data + t.nbytes - 1, 1);
        }
        graft_vocab *v;
        if (graft_vocab_load(g, &v, &err) == GRAFT_OK) graft_vocab_free(v);
        graft_gguf_close(g);
        (void)s;
    }
    graft_model *m;
    if (graft_model_load(path, NULL, &m, &err) == GRAFT_OK) graft_model_free(m);
    graft_vision *vis;
    if (graft_vision_load(path, &vis, &err) == GRAFT_OK) graft_vision_free(vis);
    return 0;
}
