/* test_gguf.c - the GGUF reader and writer: writer -> reader round trips of every value type,
 * nested and empty arrays, versions 2 and 3, several alignments and tensor types (data at the
 * right offsets with the right bytes), getters and accessors with bad arguments, and the real
 * llama.cpp files in ../shared (vocabularies, tiny-llm, aidreams260K) against facts read from them
 * by an independent parser. Corrupted files are in test_gguf_corrupt.c. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "error.h"
#include "gguf_write.h"
#include "graft.h"
#include "test_util.h"

static graft_gguf *open_ok(const char *path) {
    graft_gguf *g = NULL;
    graft_error err = {0};
    int rc = graft_gguf_open(path, &g, &err);
    ck_assert_msg(rc == GRAFT_OK, "open %s: %s", path, err.msg);
    ck_assert_ptr_nonnull(g);
    return g;
}

static graft_gguf_value kv_of(const graft_gguf *g, const char *key) {
    int64_t i = graft_gguf_find_kv(g, key);
    ck_assert_msg(i >= 0, "key %s missing", key);
    ck_assert_str_eq(graft_gguf_kv_key(g, i), key);
    return graft_gguf_kv_value(g, i);
}

static int str_is(const graft_gguf_value *v, const char *s) {
    return v->type == GRAFT_GGUF_STRING && v->len == strlen(s) && !memcmp(v->str, s, v->len);
}

/* ================================================================================================
 * The sample file: one key per value type, strings and arrays of every shape, tensors of several
 * types. write_sample writes it, check_sample checks what the reader gives back.
 * ============================================================================================= */

static const char *const uni = "h\xc3\xa9llo w\xc3\xb6rld \xe2\x9c\x93 \xe6\x97\xa5\xe6\x9c\xac"; /* héllo wörld ✓ 日本 */
static const char odd_bytes[] = {'a', '\n', '\t', '"', '\\', 1, (char)0xff, 'z'};

typedef struct sample_tensor {
    const char *name;
    int type, n_dims;
    int64_t ne[4];
    size_t nbytes;
} sample_tensor;

static const sample_tensor sample_tensors[] = {
    {"t.f32", GRAFT_TYPE_F32, 2, {7, 3}, 7 * 3 * 4},
    {"t.f16", GRAFT_TYPE_F16, 1, {5}, 10},
    {"t.bf16", GRAFT_TYPE_BF16, 3, {4, 2, 3}, 48},
    {"t.q8_0", GRAFT_TYPE_Q8_0, 2, {64, 2}, 2 * 2 * 34},
    {"t.q4_0", GRAFT_TYPE_Q4_0, 4, {32, 3, 1, 2}, 6 * 18},
    {"t.q4_K", 12, 1, {256}, 144},
    {"t.i32", 26, 1, {3}, 12},
    {"t.empty", GRAFT_TYPE_F32, 2, {0, 4}, 0},
    {"t.streamed", GRAFT_TYPE_F32, 2, {100, 3}, 1200},
};
#define N_SAMPLE_T (sizeof sample_tensors / sizeof sample_tensors[0])

static unsigned char tdata[N_SAMPLE_T][1200];

static void fill_tdata(void) {
    tu_rng r = {0x5eed};
    for (size_t i = 0; i < N_SAMPLE_T; i++)
        for (size_t j = 0; j < sizeof tdata[i]; j++) tdata[i][j] = (unsigned char)tu_next(&r);
}

/* Streams the "t.streamed" tensor in three uneven pieces. */
static int stream_three(void *ctx, gguf_stream *s) {
    const unsigned char *d = ctx;
    int rc = gguf_stream_write(s, d, 1);
    if (!rc) rc = gguf_stream_write(s, d + 1, 700);
    if (!rc) rc = gguf_stream_write(s, d + 701, 499);
    return rc;
}

static void write_sample(const char *path, uint32_t version, uint32_t alignment) {
    gguf_writer *w = gguf_writer_new();
    ck_assert_ptr_nonnull(w);
    ck_assert_int_eq(gguf_writer_set_version(w, version), 0);
    gguf_writer_add_u8(w, "v.u8", 250);
    gguf_writer_add_i8(w, "v.i8", -128);
    gguf_writer_add_u16(w, "v.u16", 65535);
    gguf_writer_add_i16(w, "v.i16", -32768);
    gguf_writer_add_u32(w, "v.u32", 4000000000u);
    gguf_writer_add_i32(w, "v.i32", INT32_MIN);
    gguf_writer_add_u64(w, "v.u64", UINT64_MAX);
    gguf_writer_add_i64(w, "v.i64", INT64_MIN);
    gguf_writer_add_f32(w, "v.f32", -1.5e-7f);
    gguf_writer_add_f64(w, "v.f64", 3.141592653589793);
    gguf_writer_add_bool(w, "v.true", 1);
    gguf_writer_add_bool(w, "v.false", 0);
    gguf_writer_add_str(w, "v.str", "llama", 5);
    gguf_writer_add_str(w, "v.empty", "", 0);
    gguf_writer_add_str(w, "v.unicode", uni, strlen(uni));
    gguf_writer_add_str(w, "v.bytes", odd_bytes, sizeof odd_bytes);
    gguf_writer_add_str(w, "k\xc3\xa9y.\xe2\x9c\x93", "x", 1);
    const int32_t ai32[] = {1, -2, 3, INT32_MAX};
    const uint8_t abool[] = {1, 0, 1};
    const double af64[] = {0.5, -0.0, 1e300};
    const float af32[] = {1.0f, -2.5f, 3.25f};
    const uint64_t au64[] = {0, UINT64_MAX};
    const int16_t ai16[] = {-7};
    gguf_writer_add_arr(w, "a.i32", GRAFT_GGUF_I32, ai32, 4);
    gguf_writer_add_arr(w, "a.bool", GRAFT_GGUF_BOOL, abool, 3);
    gguf_writer_add_arr(w, "a.f64", GRAFT_GGUF_F64, af64, 3);
    gguf_writer_add_arr(w, "a.f32", GRAFT_GGUF_F32, af32, 3);
    gguf_writer_add_arr(w, "a.u64", GRAFT_GGUF_U64, au64, 2);
    gguf_writer_add_arr(w, "a.i16", GRAFT_GGUF_I16, ai16, 1);
    gguf_writer_add_arr(w, "a.u8.empty", GRAFT_GGUF_U8, NULL, 0);
    const char *strs[] = {"<unk>", "", uni, "\xe2\x96\x81the"};
    gguf_writer_add_arr_str(w, "a.str", strs, NULL, 4);
    gguf_writer_add_arr_str(w, "a.str.empty", NULL, NULL, 0);
    /* [[1, 2], [], [3]] */
    gguf_wval *nest = gguf_wval_arr(GRAFT_GGUF_ARRAY), *s0 = gguf_wval_arr(GRAFT_GGUF_I32);
    int32_t one = 1, two = 2, three = 3;
    ck_assert_int_eq(gguf_wval_push(s0, &one), 0);
    ck_assert_int_eq(gguf_wval_push(s0, &two), 0);
    ck_assert_int_eq(gguf_wval_push_arr(nest, s0), 0);
    ck_assert_int_eq(gguf_wval_push_arr(nest, gguf_wval_arr(GRAFT_GGUF_I32)), 0);
    gguf_wval *s2 = gguf_wval_arr(GRAFT_GGUF_I32);
    ck_assert_int_eq(gguf_wval_push(s2, &three), 0);
    ck_assert_int_eq(gguf_wval_push_arr(nest, s2), 0);
    ck_assert_int_eq(gguf_writer_add_val(w, "a.nested", nest), 0);
    /* [[["a", ""]], [[]]] : three levels, strings inside */
    gguf_wval *top = gguf_wval_arr(GRAFT_GGUF_ARRAY), *mid0 = gguf_wval_arr(GRAFT_GGUF_ARRAY);
    gguf_wval *leaf = gguf_wval_arr(GRAFT_GGUF_STRING);
    ck_assert_int_eq(gguf_wval_push_str(leaf, "a", 1), 0);
    ck_assert_int_eq(gguf_wval_push_str(leaf, "", 0), 0);
    ck_assert_int_eq(gguf_wval_push_arr(mid0, leaf), 0);
    ck_assert_int_eq(gguf_wval_push_arr(top, mid0), 0);
    gguf_wval *mid1 = gguf_wval_arr(GRAFT_GGUF_ARRAY);
    ck_assert_int_eq(gguf_wval_push_arr(mid1, gguf_wval_arr(GRAFT_GGUF_STRING)), 0);
    ck_assert_int_eq(gguf_wval_push_arr(top, mid1), 0);
    ck_assert_int_eq(gguf_writer_add_val(w, "a.deep", top), 0);
    ck_assert_int_eq(gguf_writer_add_val(w, "a.arr.empty", gguf_wval_arr(GRAFT_GGUF_ARRAY)), 0);
    if (alignment != 32) ck_assert_int_eq(gguf_writer_set_alignment(w, alignment), 0);

    for (size_t i = 0; i < N_SAMPLE_T; i++) {
        const sample_tensor *t = &sample_tensors[i];
        int rc = i == N_SAMPLE_T - 1
                     ? gguf_writer_add_tensor_stream(w, t->name, t->type, t->n_dims, t->ne, stream_three, tdata[i])
                     : gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, tdata[i], t->nbytes,
                                              i % 2 ? GGUF_W_COPY : 0);
        ck_assert_int_eq(rc, 0);
    }
    graft_error err = {0};
    ck_assert_msg(gguf_writer_error(w, &err) == 0, "%s", err.msg);
    ck_assert_msg(gguf_writer_write(w, path, &err) == 0, "%s", err.msg);
    gguf_writer_free(w);
}

static void check_array_i32(const graft_gguf *g, const graft_gguf_value *a, const int32_t *want, uint64_t n) {
    ck_assert_int_eq(a->type, GRAFT_GGUF_ARRAY);
    ck_assert_int_eq(a->arr_type, GRAFT_GGUF_I32);
    ck_assert_uint_eq(a->arr_n, n);
    for (uint64_t j = 0; j < n; j++) {
        graft_gguf_value e = graft_gguf_arr_get(g, a, j);
        ck_assert_int_eq(e.type, GRAFT_GGUF_I32);
        ck_assert_int_eq(e.i, want[j]);
    }
    ck_assert_int_eq(graft_gguf_arr_get(g, a, n).type, -1);
}

static void check_sample(const char *path, uint32_t version, uint32_t alignment) {
    graft_gguf *g = open_ok(path);
    ck_assert_uint_eq(graft_gguf_version(g), version);
    ck_assert_uint_eq(graft_gguf_alignment(g), alignment);
    ck_assert_int_eq(graft_gguf_n_kv(g), 29 + (alignment != 32));
    graft_gguf_value v;
    v = kv_of(g, "v.u8"); ck_assert_int_eq(v.type, GRAFT_GGUF_U8); ck_assert_uint_eq(v.u, 250);
    v = kv_of(g, "v.i8"); ck_assert_int_eq(v.type, GRAFT_GGUF_I8); ck_assert_int_eq(v.i, -128);
    v = kv_of(g, "v.u16"); ck_assert_int_eq(v.type, GRAFT_GGUF_U16); ck_assert_uint_eq(v.u, 65535);
    v = kv_of(g, "v.i16"); ck_assert_int_eq(v.type, GRAFT_GGUF_I16); ck_assert_int_eq(v.i, -32768);
    v = kv_of(g, "v.u32"); ck_assert_int_eq(v.type, GRAFT_GGUF_U32); ck_assert_uint_eq(v.u, 4000000000u);
    v = kv_of(g, "v.i32"); ck_assert_int_eq(v.type, GRAFT_GGUF_I32); ck_assert_int_eq(v.i, INT32_MIN);
    v = kv_of(g, "v.u64"); ck_assert_int_eq(v.type, GRAFT_GGUF_U64); ck_assert(v.u == UINT64_MAX);
    v = kv_of(g, "v.i64"); ck_assert_int_eq(v.type, GRAFT_GGUF_I64); ck_assert(v.i == INT64_MIN);
    v = kv_of(g, "v.f32"); ck_assert_int_eq(v.type, GRAFT_GGUF_F32); ck_assert(v.f == (double)-1.5e-7f);
    v = kv_of(g, "v.f64"); ck_assert_int_eq(v.type, GRAFT_GGUF_F64); ck_assert(v.f == 3.141592653589793);
    v = kv_of(g, "v.true"); ck_assert_int_eq(v.type, GRAFT_GGUF_BOOL); ck_assert_uint_eq(v.u, 1);
    v = kv_of(g, "v.false"); ck_assert_int_eq(v.type, GRAFT_GGUF_BOOL); ck_assert_uint_eq(v.u, 0);
    v = kv_of(g, "v.str"); ck_assert(str_is(&v, "llama"));
    v = kv_of(g, "v.empty"); ck_assert(str_is(&v, ""));
    v = kv_of(g, "v.unicode"); ck_assert(str_is(&v, uni));
    v = kv_of(g, "v.bytes");
    ck_assert(v.len == sizeof odd_bytes && !memcmp(v.str, odd_bytes, sizeof odd_bytes));
    v = kv_of(g, "k\xc3\xa9y.\xe2\x9c\x93"); ck_assert(str_is(&v, "x"));

    const int32_t ai32[] = {1, -2, 3, INT32_MAX};
    v = kv_of(g, "a.i32");
    check_array_i32(g, &v, ai32, 4);
    int32_t raw[4];
    ck_assert_ptr_nonnull(graft_gguf_arr_data(g, &v));
    memcpy(raw, graft_gguf_arr_data(g, &v), sizeof raw);
    ck_assert(!memcmp(raw, ai32, sizeof raw));
    v = kv_of(g, "a.bool");
    ck_assert_int_eq(v.arr_type, GRAFT_GGUF_BOOL);
    ck_assert_uint_eq(graft_gguf_arr_get(g, &v, 0).u, 1);
    ck_assert_uint_eq(graft_gguf_arr_get(g, &v, 1).u, 0);
    ck_assert_int_eq(graft_gguf_arr_get(g, &v, 2).type, GRAFT_GGUF_BOOL);
    v = kv_of(g, "a.f64");
    ck_assert(graft_gguf_arr_get(g, &v, 2).f == 1e300);
    ck_assert(signbit(graft_gguf_arr_get(g, &v, 1).f));
    v = kv_of(g, "a.f32");
    ck_assert(graft_gguf_arr_get(g, &v, 1).f == -2.5);
    v = kv_of(g, "a.u64");
    ck_assert(graft_gguf_arr_get(g, &v, 1).u == UINT64_MAX);
    v = kv_of(g, "a.i16");
    ck_assert_int_eq(graft_gguf_arr_get(g, &v, 0).i, -7);
    v = kv_of(g, "a.u8.empty");
    ck_assert_int_eq(v.arr_type, GRAFT_GGUF_U8);
    ck_assert_uint_eq(v.arr_n, 0);
    ck_assert_int_eq(graft_gguf_arr_get(g, &v, 0).type, -1);

    v = kv_of(g, "a.str");
    ck_assert_int_eq(v.arr_type, GRAFT_GGUF_STRING);
    ck_assert_uint_eq(v.arr_n, 4);
    ck_assert_ptr_null(graft_gguf_arr_data(g, &v));
    graft_gguf_value e = graft_gguf_arr_get(g, &v, 0);
    ck_assert(str_is(&e, "<unk>"));
    e = graft_gguf_arr_get(g, &v, 1); ck_assert(str_is(&e, ""));
    e = graft_gguf_arr_get(g, &v, 2); ck_assert(str_is(&e, uni));
    e = graft_gguf_arr_get(g, &v, 3); ck_assert(str_is(&e, "\xe2\x96\x81the"));
    ck_assert_int_eq(graft_gguf_arr_get(g, &v, 4).type, -1);
    ck_assert_int_eq(graft_gguf_arr_get(g, &v, UINT64_MAX).type, -1);
    v = kv_of(g, "a.str.empty");
    ck_assert_int_eq(v.arr_type, GRAFT_GGUF_STRING);
    ck_assert_uint_eq(v.arr_n, 0);

    v = kv_of(g, "a.nested");
    ck_assert_int_eq(v.arr_type, GRAFT_GGUF_ARRAY);
    ck_assert_uint_eq(v.arr_n, 3);
    ck_assert_ptr_null(graft_gguf_arr_data(g, &v));
    const int32_t s0[] = {1, 2}, s2[] = {3};
    graft_gguf_value sub = graft_gguf_arr_get(g, &v, 0);
    check_array_i32(g, &sub, s0, 2);
    sub = graft_gguf_arr_get(g, &v, 1);
    check_array_i32(g, &sub, NULL, 0);
    sub = graft_gguf_arr_get(g, &v, 2);
    check_array_i32(g, &sub, s2, 1);

    v = kv_of(g, "a.deep");
    ck_assert_uint_eq(v.arr_n, 2);
    graft_gguf_value mid = graft_gguf_arr_get(g, &v, 0);
    ck_assert_int_eq(mid.arr_type, GRAFT_GGUF_ARRAY);
    ck_assert_uint_eq(mid.arr_n, 1);
    graft_gguf_value leaf = graft_gguf_arr_get(g, &mid, 0);
    ck_assert_int_eq(leaf.arr_type, GRAFT_GGUF_STRING);
    ck_assert_uint_eq(leaf.arr_n, 2);
    e = graft_gguf_arr_get(g, &leaf, 0); ck_assert(str_is(&e, "a"));
    e = graft_gguf_arr_get(g, &leaf, 1); ck_assert(str_is(&e, ""));
    mid = graft_gguf_arr_get(g, &v, 1);
    leaf = graft_gguf_arr_get(g, &mid, 0);
    ck_assert_int_eq(leaf.arr_type, GRAFT_GGUF_STRING);
    ck_assert_uint_eq(leaf.arr_n, 0);
    v = kv_of(g, "a.arr.empty");
    ck_assert_int_eq(v.arr_type, GRAFT_GGUF_ARRAY);
    ck_assert_uint_eq(v.arr_n, 0);

    /* Tensors: info as written, data at data_offset + offset in the file, aligned, bytes equal. */
    size_t flen;
    unsigned char *file = tu_read_file(path, &flen);
    ck_assert_ptr_nonnull(file);
    ck_assert_uint_eq(graft_gguf_file_size(g), flen);
    size_t data_off = graft_gguf_data_offset(g);
    ck_assert_uint_eq(data_off % alignment, 0);
    ck_assert_int_eq(graft_gguf_n_tensors(g), (int64_t)N_SAMPLE_T);
    uint64_t expect_off = 0;
    for (size_t i = 0; i < N_SAMPLE_T; i++) {
        const sample_tensor *st = &sample_tensors[i];
        ck_assert_int_eq(graft_gguf_find_tensor(g, st->name), (int64_t)i);
        graft_gguf_tensor t = graft_gguf_tensor_info(g, (int64_t)i);
        ck_assert_str_eq(t.name, st->name);
        ck_assert_int_eq(t.type, st->type);
        ck_assert_int_eq(t.n_dims, st->n_dims);
        for (int d = 0; d < 4; d++) ck_assert_int_eq(t.ne[d], d < st->n_dims ? st->ne[d] : 1);
        ck_assert_uint_eq(t.nbytes, st->nbytes);
        ck_assert_uint_eq(t.offset, expect_off); /* the writer packs tensors at aligned offsets */
        expect_off += (st->nbytes + alignment - 1) / alignment * alignment;
        if (!st->nbytes) {
            ck_assert_ptr_null(t.data);
            continue;
        }
        ck_assert_ptr_nonnull(t.data);
        ck_assert_uint_eq((uintptr_t)t.data % alignment, 0); /* the mapping is page-aligned */
        ck_assert_uint_le(data_off + t.offset + t.nbytes, flen);
        ck_assert_msg(!memcmp(t.data, tdata[i], st->nbytes), "tensor %s data differs", st->name);
        ck_assert(!memcmp(file + data_off + t.offset, tdata[i], st->nbytes));
    }
    /* Padding between the tensor infos and the data, and after each tensor, is zeros. */
    ck_assert_uint_eq(flen, data_off + expect_off);
    graft_gguf_tensor first = graft_gguf_tensor_info(g, 0);
    ck_assert_uint_eq(first.offset, 0);
    for (size_t k = data_off + first.nbytes; k < data_off + graft_gguf_tensor_info(g, 1).offset; k++)
        ck_assert_uint_eq(file[k], 0);
    free(file);
    graft_gguf_close(g);
}

START_TEST(test_roundtrip) {
    static const uint32_t versions[] = {3, 2};
    static const uint32_t aligns[] = {32, 1, 8, 64, 4096};
    fill_tdata();
    for (int vi = 0; vi < 2; vi++)
        for (int ai = 0; ai < 5; ai++) {
            char name[64];
            snprintf(name, sizeof name, "rt-v%u-a%u.gguf", versions[vi], aligns[ai]);
            const char *path = tu_tmppath(name);
            write_sample(path, versions[vi], aligns[ai]);
            check_sample(path, versions[vi], aligns[ai]);
        }
}
END_TEST

/* The typed getters convert integers between widths when in range and say why when not. */
START_TEST(test_getters) {
    fill_tdata();
    const char *path = tu_tmppath("getters.gguf");
    write_sample(path, 3, 32);
    graft_gguf *g = open_ok(path);
    graft_error err = {0};
    uint32_t u32 = 0;
    int64_t i64 = 0;
    float f = 0;
    int b = -1;
    const char *s = NULL;
    size_t len = 0;
    ck_assert_int_eq(graft_gguf_get_u32(g, "v.u8", &u32, &err), GRAFT_OK); ck_assert_uint_eq(u32, 250);
    ck_assert_int_eq(graft_gguf_get_u32(g, "v.u32", &u32, &err), GRAFT_OK); ck_assert_uint_eq(u32, 4000000000u);
    ck_assert_int_eq(graft_gguf_get_u32(g, "v.u64", &u32, &err), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "v.u64"));
    ck_assert_ptr_nonnull(strstr(err.msg, path));
    ck_assert_int_eq(graft_gguf_get_u32(g, "v.i8", &u32, &err), GRAFT_E_FORMAT);
    ck_assert_int_eq(graft_gguf_get_u32(g, "v.str", &u32, &err), GRAFT_E_FORMAT);
    ck_assert_ptr_nonnull(strstr(err.msg, "string"));
    ck_assert_int_eq(graft_gguf_get_u32(g, "nope", &u32, &err), GRAFT_E_NOTFOUND);
    ck_assert_int_eq(err.code, GRAFT_E_NOTFOUND);
    ck_assert_ptr_nonnull(strstr(err.msg, "nope"));
    ck_assert_int_eq(graft_gguf_get_i64(g, "v.i64", &i64, &err), GRAFT_OK); ck_assert(i64 == INT64_MIN);
    ck_assert_int_eq(graft_gguf_get_i64(g, "v.u32", &i64, &err), GRAFT_OK); ck_assert(i64 == 4000000000);
    ck_assert_int_eq(graft_gguf_get_i64(g, "v.i16", &i64, &err), GRAFT_OK); ck_assert(i64 == -32768);
    ck_assert_int_eq(graft_gguf_get_i64(g, "v.u64", &i64, &err), GRAFT_E_FORMAT);
    ck_assert_int_eq(graft_gguf_get_i64(g, "v.f32", &i64, &err), GRAFT_E_FORMAT);
    ck_assert_int_eq(graft_gguf_get_f32(g, "v.f32", &f, &err), GRAFT_OK); ck_assert(f == -1.5e-7f);
    ck_assert_int_eq(graft_gguf_get_f32(g, "v.f64", &f, &err), GRAFT_OK); ck_assert(f == 3.14159265f);
    ck_assert_int_eq(graft_gguf_get_f32(g, "v.u8", &f, &err), GRAFT_E_FORMAT);
    ck_assert_int_eq(graft_gguf_get_bool(g, "v.true", &b, &err), GRAFT_OK); ck_assert_int_eq(b, 1);
    ck_assert_int_eq(graft_gguf_get_bool(g, "v.false", &b, &err), GRAFT_OK); ck_assert_int_eq(b, 0);
    ck_assert_int_eq(graft_gguf_get_bool(g, "v.u8", &b, &err), GRAFT_E_FORMAT);
    ck_assert_int_eq(graft_gguf_get_str(g, "v.str", &s, &len, &err), GRAFT_OK);
    ck_assert(len == 5 && !memcmp(s, "llama", 5));
    ck_assert_int_eq(graft_gguf_get_str(g, "v.u8", &s, &len, &err), GRAFT_E_FORMAT);
    graft_gguf_value a;
    ck_assert_int_eq(graft_gguf_get_arr(g, "a.str", GRAFT_GGUF_STRING, &a, &err), GRAFT_OK);
    ck_assert_uint_eq(a.arr_n, 4);
    ck_assert_int_eq(graft_gguf_get_arr(g, "a.str", -1, &a, &err), GRAFT_OK);
    ck_assert_int_eq(graft_gguf_get_arr(g, "a.str", GRAFT_GGUF_I32, &a, &err), GRAFT_E_FORMAT);
    ck_assert_int_eq(graft_gguf_get_arr(g, "v.str", -1, &a, &err), GRAFT_E_FORMAT);
    ck_assert_int_eq(graft_gguf_get_u32(NULL, "v.u8", &u32, &err), GRAFT_E_INVALID);
    ck_assert_int_eq(graft_gguf_get_u32(g, NULL, &u32, NULL), GRAFT_E_INVALID);
    graft_gguf_close(g);
}
END_TEST

/* Every accessor is safe with any argument: bad indices, NULL handles, foreign array values. */
START_TEST(test_bad_arguments) {
    fill_tdata();
    const char *path = tu_tmppath("args.gguf");
    write_sample(path, 3, 32);
    graft_gguf *g = open_ok(path);
    const int64_t bad[] = {-1, INT64_MIN, graft_gguf_n_kv(g), INT64_MAX};
    for (int k = 0; k < 4; k++) {
        ck_assert_ptr_null(graft_gguf_kv_key(g, bad[k]));
        ck_assert_int_eq(graft_gguf_kv_value(g, bad[k]).type, -1);
    }
    const int64_t badt[] = {-1, graft_gguf_n_tensors(g), INT64_MAX};
    for (int k = 0; k < 3; k++) {
        graft_gguf_tensor t = graft_gguf_tensor_info(g, badt[k]);
        ck_assert_int_eq(t.type, -1);
        ck_assert_ptr_null(t.name);
        ck_assert_ptr_null(t.data);
    }
    ck_assert_int_eq(graft_gguf_find_kv(g, NULL), -1);
    ck_assert_int_eq(graft_gguf_find_kv(g, ""), -1);
    ck_assert_int_eq(graft_gguf_find_kv(g, "v.u"), -1);
    ck_assert_int_eq(graft_gguf_find_tensor(g, NULL), -1);
    ck_assert_int_eq(graft_gguf_find_tensor(g, "t.f3"), -1);
    /* arr_get on scalars, on a forged handle, on NULL */
    graft_gguf_value sc = kv_of(g, "v.u8");
    ck_assert_int_eq(graft_gguf_arr_get(g, &sc, 0).type, -1);
    ck_assert_ptr_null(graft_gguf_arr_data(g, &sc));
    int junk[16] = {0};
    graft_gguf_value forged = {.type = GRAFT_GGUF_ARRAY, .arr_type = GRAFT_GGUF_U8, .arr_n = 5, .handle = junk};
    ck_assert_int_eq(graft_gguf_arr_get(g, &forged, 0).type, -1);
    ck_assert_ptr_null(graft_gguf_arr_data(g, &forged));
    ck_assert_int_eq(graft_gguf_arr_get(g, NULL, 0).type, -1);
    graft_gguf_value arr = kv_of(g, "a.i32");
    ck_assert_int_eq(graft_gguf_arr_get(NULL, &arr, 0).type, -1);
    /* NULL handle */
    ck_assert_int_eq(graft_gguf_n_kv(NULL), 0);
    ck_assert_int_eq(graft_gguf_n_tensors(NULL), 0);
    ck_assert_ptr_null(graft_gguf_kv_key(NULL, 0));
    ck_assert_int_eq(graft_gguf_kv_value(NULL, 0).type, -1);
    ck_assert_int_eq(graft_gguf_tensor_info(NULL, 0).type, -1);
    ck_assert_int_eq(graft_gguf_find_kv(NULL, "v.u8"), -1);
    ck_assert_ptr_null(graft_gguf_path(NULL));
    graft_gguf_close(NULL);
    ck_assert_str_eq(graft_gguf_path(g), path);
    graft_gguf_close(g);
    /* open with bad arguments and on things that are not GGUF files */
    graft_error err = {0};
    graft_gguf *h = (graft_gguf *)&err;
    ck_assert_int_eq(graft_gguf_open(NULL, &h, &err), GRAFT_E_INVALID);
    ck_assert_ptr_null(h);
    ck_assert_int_eq(graft_gguf_open(path, NULL, &err), GRAFT_E_INVALID);
    ck_assert_int_eq(graft_gguf_open(tu_tmppath("does-not-exist.gguf"), &h, &err), GRAFT_E_IO);
    ck_assert_ptr_nonnull(strstr(err.msg, "does-not-exist.gguf"));
    ck_assert_int_eq(graft_gguf_open(tu_tmpdir(), &h, &err), GRAFT_E_IO);
    ck_assert_ptr_null(h);
}
END_TEST

/* Names for every ggml type id, sizes for the live ones, and the GGUF value type names. */
START_TEST(test_type_table) {
    ck_assert_str_eq(graft_ggml_type_name(0), "f32");
    ck_assert_str_eq(graft_ggml_type_name(12), "q4_K");
    ck_assert_str_eq(graft_ggml_type_name(39), "mxfp4");
    ck_assert_ptr_null(graft_ggml_type_name(-1));
    ck_assert_ptr_null(graft_ggml_type_name(40));
    ck_assert_str_eq(graft_ggml_type_name(31), "q4_0_4_4");
    ck_assert_int_eq(graft_ggml_type_block_size(31), 0);
    /* graft's own types agree with the ggml table */
    const int own[] = {GRAFT_TYPE_F32, GRAFT_TYPE_F16, GRAFT_TYPE_BF16, GRAFT_TYPE_Q8_0, GRAFT_TYPE_Q4_0};
    for (int k = 0; k < 5; k++) {
        ck_assert_str_eq(graft_ggml_type_name(own[k]), graft_type_name(own[k]));
        ck_assert_int_eq(graft_ggml_type_block_size(own[k]), graft_type_block_size(own[k]));
        ck_assert_int_eq(graft_ggml_type_block_bytes(own[k]), graft_type_block_bytes(own[k]));
    }
    /* block bytes per element are plausible for every live id (between 1 and 8 bytes per weight
     * for plain types, under 9 bits per weight for block types) */
    for (int t = 0; t < 40; t++) {
        int64_t bs = graft_ggml_type_block_size(t), bb = graft_ggml_type_block_bytes(t);
        ck_assert_ptr_nonnull(graft_ggml_type_name(t));
        if (!bs) continue;
        ck_assert(bs == 1 || bs == 32 || bs == 256);
        if (bs > 1) ck_assert_msg(bb * 8 <= bs * 9 + 32, "type %d: %lld bytes per %lld", t, (long long)bb, (long long)bs);
    }
    ck_assert_str_eq(graft_gguf_type_name(GRAFT_GGUF_STRING), "string");
    ck_assert_str_eq(graft_gguf_type_name(GRAFT_GGUF_F64), "f64");
    ck_assert_ptr_null(graft_gguf_type_name(13));
    ck_assert_ptr_null(graft_gguf_type_name(-1));
}
END_TEST

/* The writer refuses what would make an invalid file and remembers the first refusal. */
static int stream_short(void *ctx, gguf_stream *s) { return gguf_stream_write(s, ctx, 10); }
static int stream_long(void *ctx, gguf_stream *s) { return gguf_stream_write(s, ctx, 1300); }
static int stream_fail(void *ctx, gguf_stream *s) {
    return graft_error_set(gguf_stream_error(s), GRAFT_E_IO, "source went away");
}

START_TEST(test_writer_errors) {
    fill_tdata();
    graft_error err = {0};
    const int64_t ne31[] = {31, 2}, ne32[] = {32, 2}, neg[] = {-1};
    const int64_t huge[] = {INT64_MAX - 31, INT64_MAX / 2};
    gguf_writer *w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_add_u32(w, "a", 1), 0);
    ck_assert_int_eq(gguf_writer_add_u32(w, "a", 2), GRAFT_E_INVALID);
    ck_assert_int_eq(gguf_writer_add_u32(w, "", 2), GRAFT_E_INVALID);
    ck_assert_int_eq(gguf_writer_error(w, &err), GRAFT_E_INVALID);
    ck_assert_ptr_nonnull(strstr(err.msg, "duplicate key 'a'")); /* the first error is kept */
    ck_assert_int_eq(gguf_writer_write(w, tu_tmppath("never.gguf"), &err), GRAFT_E_INVALID);
    FILE *f = fopen(tu_tmppath("never.gguf"), "rb");
    ck_assert_ptr_null(f);
    gguf_writer_free(w);

    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_add_tensor(w, "q", GRAFT_TYPE_Q8_0, 2, ne31, tdata[0], 68, 0), GRAFT_E_INVALID);
    gguf_writer_free(w);
    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_add_tensor(w, "q", GRAFT_TYPE_Q8_0, 2, ne32, tdata[0], 67, 0), GRAFT_E_INVALID);
    gguf_writer_free(w);
    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_add_tensor(w, "q", GRAFT_TYPE_Q8_0, 2, ne32, tdata[0], 68, 0), 0);
    ck_assert_int_eq(gguf_writer_add_tensor(w, "q", GRAFT_TYPE_Q8_0, 2, ne32, tdata[0], 68, 0), GRAFT_E_INVALID);
    gguf_writer_free(w);
    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_add_tensor(w, "n", GRAFT_TYPE_F32, 1, neg, NULL, 0, 0), GRAFT_E_INVALID);
    gguf_writer_free(w);
    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_add_tensor(w, "h", GRAFT_TYPE_F32, 2, huge, tdata[0], 4, 0), GRAFT_E_INVALID);
    gguf_writer_free(w);
    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_add_tensor(w, "t", 4, 2, ne32, tdata[0], 64, 0), GRAFT_E_INVALID); /* removed id */
    gguf_writer_free(w);
    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_add_tensor(w, "t", GRAFT_TYPE_F32, 5, ne32, tdata[0], 64, 0), GRAFT_E_INVALID);
    gguf_writer_free(w);
    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_set_alignment(w, 3), GRAFT_E_INVALID);
    gguf_writer_free(w);
    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_set_alignment(w, 0), GRAFT_E_INVALID);
    gguf_writer_free(w);
    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_add_u16(w, "general.alignment", 32), GRAFT_E_INVALID);
    gguf_writer_free(w);
    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_set_version(w, 1), GRAFT_E_INVALID);
    gguf_writer_free(w);
    w = gguf_writer_new();
    const uint8_t twos[] = {0, 2};
    ck_assert_int_eq(gguf_writer_add_arr(w, "b", GRAFT_GGUF_BOOL, twos, 2), GRAFT_E_INVALID);
    ck_assert_int_eq(gguf_writer_add_arr(w, "s", GRAFT_GGUF_STRING, twos, 2), GRAFT_E_INVALID);
    gguf_writer_free(w);
    /* wval misuse */
    gguf_wval *a = gguf_wval_arr(GRAFT_GGUF_I32);
    ck_assert_int_eq(gguf_wval_push_str(a, "x", 1), GRAFT_E_INVALID);
    ck_assert_int_eq(gguf_wval_push_arr(a, gguf_wval_arr(GRAFT_GGUF_I32)), GRAFT_E_INVALID);
    gguf_wval_free(a);
    ck_assert_ptr_null(gguf_wval_arr(13));

    /* streams that write too little, too much, or fail */
    const gguf_stream_fn fns[] = {stream_short, stream_long, stream_fail};
    const int codes[] = {GRAFT_E_INVALID, GRAFT_E_INVALID, GRAFT_E_IO};
    const int64_t ne300[] = {300};
    for (int k = 0; k < 3; k++) {
        w = gguf_writer_new();
        ck_assert_int_eq(gguf_writer_add_tensor_stream(w, "s", GRAFT_TYPE_F32, 1, ne300, fns[k], tdata[0]), 0);
        const char *p = tu_tmppath("stream-bad.gguf");
        ck_assert_int_eq(gguf_writer_write(w, p, &err), codes[k]);
        ck_assert(strlen(err.msg) > 0);
        ck_assert_ptr_null(fopen(p, "rb"));
        gguf_writer_free(w);
    }
    /* a directory that does not exist */
    w = gguf_writer_new();
    ck_assert_int_eq(gguf_writer_write(w, tu_tmppath("no/such/dir.gguf"), &err), GRAFT_E_IO);
    gguf_writer_free(w);
}
END_TEST

/* ================================================================================================
 * Real files from llama.cpp (../shared). Expected values were read with an independent Python
 * parser (struct.unpack over the same layout), not with graft.
 * ============================================================================================= */

START_TEST(test_vocab_files_open) {
    const char *dir = tu_shared("vocab");
    if (!dir) return;
    char dirbuf[4096];
    snprintf(dirbuf, sizeof dirbuf, "%s", dir);
    DIR *d = opendir(dirbuf);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (l < 5 || strcmp(de->d_name + l - 5, ".gguf")) continue;
        char path[8192];
        snprintf(path, sizeof path, "%s/%s", dirbuf, de->d_name);
        graft_gguf *g = open_ok(path);
        ck_assert_int_eq(graft_gguf_n_tensors(g), 0);
        graft_gguf_value toks;
        graft_error err;
        ck_assert_msg(graft_gguf_get_arr(g, "tokenizer.ggml.tokens", GRAFT_GGUF_STRING, &toks, &err) == 0, "%s",
                      err.msg);
        ck_assert_uint_gt(toks.arr_n, 1000);
        graft_gguf_value last = graft_gguf_arr_get(g, &toks, toks.arr_n - 1);
        ck_assert_int_eq(last.type, GRAFT_GGUF_STRING);
        /* every key is findable by its own name */
        for (int64_t i = 0; i < graft_gguf_n_kv(g); i++)
            ck_assert_int_eq(graft_gguf_find_kv(g, graft_gguf_kv_key(g, i)), i);
        graft_gguf_close(g);
        n++;
    }
    closedir(d);
    ck_assert_int_ge(n, 10);
}
END_TEST

START_TEST(test_vocab_llama_spm) {
    const char *path = tu_shared("vocab/ggml-vocab-llama-spm.gguf");
    if (!path) return;
    graft_gguf *g = open_ok(path);
    ck_assert_uint_eq(graft_gguf_version(g), 3);
    ck_assert_int_eq(graft_gguf_n_kv(g), 22);
    ck_assert_uint_eq(graft_gguf_file_size(g), 723869);
    /* no tensors: the data section would start past the end (723872), which is fine */
    ck_assert_uint_eq(graft_gguf_data_offset(g), 723872);
    graft_gguf_value toks;
    ck_assert_int_eq(graft_gguf_get_arr(g, "tokenizer.ggml.tokens", GRAFT_GGUF_STRING, &toks, NULL), 0);
    ck_assert_uint_eq(toks.arr_n, 32000);
    const char *first[] = {"<unk>", "<s>", "</s>", "<0x00>"};
    for (int j = 0; j < 4; j++) {
        graft_gguf_value e = graft_gguf_arr_get(g, &toks, (uint64_t)j);
        ck_assert_msg(str_is(&e, first[j]), "token %d is '%.*s'", j, (int)e.len, e.str);
    }
    graft_gguf_value tt;
    ck_assert_int_eq(graft_gguf_get_arr(g, "tokenizer.ggml.token_type", GRAFT_GGUF_I32, &tt, NULL), 0);
    ck_assert_uint_eq(tt.arr_n, 32000);
    const int32_t types[] = {2, 3, 3, 6};
    for (int j = 0; j < 4; j++) ck_assert_int_eq(graft_gguf_arr_get(g, &tt, (uint64_t)j).i, types[j]);
    graft_gguf_value sc;
    ck_assert_int_eq(graft_gguf_get_arr(g, "tokenizer.ggml.scores", GRAFT_GGUF_F32, &sc, NULL), 0);
    ck_assert_uint_eq(sc.arr_n, 32000);
    uint32_t u = 0;
    ck_assert_int_eq(graft_gguf_get_u32(g, "tokenizer.ggml.bos_token_id", &u, NULL), 0);
    ck_assert_uint_eq(u, 1);
    ck_assert_int_eq(graft_gguf_get_u32(g, "llama.rope.dimension_count", &u, NULL), 0);
    ck_assert_uint_eq(u, 128);
    int b = -1;
    ck_assert_int_eq(graft_gguf_get_bool(g, "tokenizer.ggml.add_eos_token", &b, NULL), 0);
    ck_assert_int_eq(b, 0);
    float eps = 0;
    ck_assert_int_eq(graft_gguf_get_f32(g, "llama.attention.layer_norm_rms_epsilon", &eps, NULL), 0);
    ck_assert(eps == 1e-5f);
    const char *s;
    size_t len;
    ck_assert_int_eq(graft_gguf_get_str(g, "general.name", &s, &len, NULL), 0);
    ck_assert(len == 9 && !memcmp(s, "llama-spm", 9));
    graft_gguf_close(g);
}
END_TEST

/* tiny-llm: llama with n_embd 64, 2 blocks, 4 heads (2 kv heads), ffn 128, vocab 32000, all f32. */
START_TEST(test_tiny_llm) {
    const char *path = tu_shared("fixtures/llamacpp/tiny-a/tiny-llm.gguf");
    if (!path) return;
    graft_gguf *g = open_ok(path);
    ck_assert_int_eq(graft_gguf_n_kv(g), 23);
    ck_assert_int_eq(graft_gguf_n_tensors(g), 21);
    ck_assert_uint_eq(graft_gguf_data_offset(g), 725152);
    ck_assert_uint_eq(graft_gguf_alignment(g), 32);
    const char *s;
    size_t len;
    ck_assert_int_eq(graft_gguf_get_str(g, "general.architecture", &s, &len, NULL), 0);
    ck_assert(len == 5 && !memcmp(s, "llama", 5));
    uint32_t u;
    ck_assert_int_eq(graft_gguf_get_u32(g, "llama.attention.head_count_kv", &u, NULL), 0);
    ck_assert_uint_eq(u, 2);
    struct { const char *name; int64_t ne0, ne1; uint64_t off; } want[] = {
        {"token_embd.weight", 64, 32000, 0},
        {"output_norm.weight", 64, 1, 8192000},
        {"output.weight", 64, 32000, 8192256},
        {"blk.0.attn_norm.weight", 64, 1, 16384256},
        {"blk.0.attn_q.weight", 64, 64, 16384512},
        {"blk.0.attn_k.weight", 64, 32, 16400896},
        {"blk.0.attn_v.weight", 64, 32, 16409088},
        {"blk.0.ffn_down.weight", 128, 64, 16499456},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        int64_t i = graft_gguf_find_tensor(g, want[k].name);
        ck_assert_msg(i >= 0, "%s missing", want[k].name);
        graft_gguf_tensor t = graft_gguf_tensor_info(g, i);
        ck_assert_int_eq(t.type, GRAFT_TYPE_F32);
        ck_assert_int_eq(t.ne[0], want[k].ne0);
        ck_assert_int_eq(t.ne[1], want[k].ne1);
        ck_assert_int_eq(t.n_dims, want[k].ne1 == 1 ? 1 : 2);
        ck_assert_uint_eq(t.offset, want[k].off);
        ck_assert_uint_eq(t.nbytes, (size_t)(want[k].ne0 * want[k].ne1 * 4));
    }
    /* every tensor's data pointer reads the file's bytes at data_offset + offset */
    size_t flen;
    unsigned char *file = tu_read_file(path, &flen);
    ck_assert_ptr_nonnull(file);
    uint64_t total = 0;
    for (int64_t i = 0; i < graft_gguf_n_tensors(g); i++) {
        graft_gguf_tensor t = graft_gguf_tensor_info(g, i);
        ck_assert(!memcmp(t.data, file + 725152 + t.offset, t.nbytes));
        total += t.nbytes;
    }
    ck_assert_uint_le(725152 + total, flen);
    for (int l = 0; l < 2; l++) {
        char name[64];
        snprintf(name, sizeof name, "blk.%d.ffn_up.weight", l);
        ck_assert_int_ge(graft_gguf_find_tensor(g, name), 0);
    }
    ck_assert_int_eq(graft_gguf_find_tensor(g, "blk.2.ffn_up.weight"), -1);
    free(file);
    graft_gguf_close(g);
}
END_TEST

/* aidreams260K: dim 64, 4 layers, ffn 172, vocab 512, tied output (no output.weight). */
START_TEST(test_aidreams) {
    const char *path = tu_shared("models/aidreams260K/aidreams260K-f32.gguf");
    if (!path) return;
    graft_gguf *g = open_ok(path);
    ck_assert_int_eq(graft_gguf_n_kv(g), 19);
    ck_assert_int_eq(graft_gguf_n_tensors(g), 38);
    ck_assert_uint_eq(graft_gguf_data_offset(g), 13600);
    ck_assert_int_eq(graft_gguf_find_tensor(g, "output.weight"), -1);
    graft_gguf_tensor t = graft_gguf_tensor_info(g, graft_gguf_find_tensor(g, "token_embd.weight"));
    ck_assert_int_eq(t.ne[0], 64);
    ck_assert_int_eq(t.ne[1], 512);
    ck_assert_uint_eq(t.offset, 0);
    const char *parts[] = {"attn_norm", "attn_q", "attn_k", "attn_v", "attn_output",
                           "ffn_norm", "ffn_gate", "ffn_down", "ffn_up"};
    const int64_t ne0[] = {64, 64, 64, 64, 64, 64, 64, 172, 64};
    const int64_t ne1[] = {1, 64, 64, 64, 64, 1, 172, 64, 172};
    for (int l = 0; l < 4; l++)
        for (int p = 0; p < 9; p++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, parts[p]);
            int64_t i = graft_gguf_find_tensor(g, name);
            ck_assert_msg(i >= 0, "%s missing", name);
            t = graft_gguf_tensor_info(g, i);
            ck_assert_int_eq(t.type, GRAFT_TYPE_F32);
            ck_assert_int_eq(t.ne[0], ne0[p]);
            ck_assert_int_eq(t.ne[1], ne1[p]);
            ck_assert_uint_eq(t.nbytes, (size_t)(ne0[p] * ne1[p] * 4));
        }
    t = graft_gguf_tensor_info(g, graft_gguf_find_tensor(g, "blk.0.attn_q.weight"));
    ck_assert_uint_eq(t.offset, 131328);
    graft_gguf_value toks;
    ck_assert_int_eq(graft_gguf_get_arr(g, "tokenizer.ggml.tokens", GRAFT_GGUF_STRING, &toks, NULL), 0);
    ck_assert_uint_eq(toks.arr_n, 512);
    graft_gguf_close(g);
}
END_TEST


/* ================================================================================================
 * graft inspect (the CLI at $GRAFT_CLI, set by `make test`)
 * ============================================================================================= */

/* Runs `$GRAFT_CLI inspect args` with stdout and stderr captured (malloc'd); returns the exit status. */
static int run_inspect(const char *args, char **out, char **errs) {
    char cmd[4096];
    const char *o = tu_tmppath("inspect.out"), *e = tu_tmppath("inspect.err");
    snprintf(cmd, sizeof cmd, "'%s' inspect %s >'%s' 2>'%s'", getenv("GRAFT_CLI"), args, o, e);
    int st = system(cmd);
    *out = tu_read_file(o, NULL);
    *errs = tu_read_file(e, NULL);
    ck_assert_ptr_nonnull(*out);
    ck_assert_ptr_nonnull(*errs);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *nul_terminated(char *buf, const char *path) {
    size_t n;
    free(buf);
    buf = tu_read_file(path, &n);
    buf = realloc(buf, n + 1);
    buf[n] = 0;
    return buf;
}

START_TEST(test_inspect_cli) {
    const char *cli = getenv("GRAFT_CLI");
    if (!cli || !*cli) {
        fprintf(stderr, "SKIP test_inspect_cli: GRAFT_CLI is not set (make test sets it)\n");
        return;
    }
    fill_tdata();
    char path[512], bad[512]; /* tu_tmppath's buffers are reused */
    snprintf(path, sizeof path, "%s", tu_tmppath("inspect.gguf"));
    snprintf(bad, sizeof bad, "%s", tu_tmppath("inspect-bad.gguf"));
    write_sample(path, 3, 64);
    char args[1024], *out, *errs;
    /* text */
    snprintf(args, sizeof args, "'%s'", path);
    ck_assert_int_eq(run_inspect(args, &out, &errs), 0);
    out = nul_terminated(out, tu_tmppath("inspect.out"));
    const char *want[] = {"version       3", "alignment     64", "v.u64", "18446744073709551615", "-1.5e-07",
                          "string[4]", "[\"<unk>\", \"\", \"h\xc3\xa9llo", "\"a\\n\\t\\\"\\\\\\x01\\xffz\"",
                          "array[3]", "i32[2] [1, 2]", "t.q4_K", "q4_K", "32 x 3 x 1 x 2", "tensors (9)"};
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++)
        ck_assert_msg(strstr(out, want[k]), "text output lacks '%s':\n%s", want[k], out);
    free(out);
    free(errs);
    /* --no-tensors */
    snprintf(args, sizeof args, "--no-tensors '%s'", path);
    ck_assert_int_eq(run_inspect(args, &out, &errs), 0);
    out = nul_terminated(out, tu_tmppath("inspect.out"));
    ck_assert_ptr_null(strstr(out, "t.q4_K"));
    ck_assert_ptr_nonnull(strstr(out, "a.nested"));
    free(out);
    free(errs);
    /* --json, all array elements */
    snprintf(args, sizeof args, "--json --array 0 '%s'", path);
    ck_assert_int_eq(run_inspect(args, &out, &errs), 0);
    out = nul_terminated(out, tu_tmppath("inspect.out"));
    ck_assert_ptr_nonnull(strstr(out, "18446744073709551615")); /* integers exact, not via double */
    cJSON *j = cJSON_Parse(out);
    ck_assert_msg(j != NULL, "not JSON:\n%s", out);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "n_kv")->valueint, 30);
    ck_assert_int_eq(cJSON_GetObjectItem(j, "alignment")->valueint, 64);
    cJSON *md = cJSON_GetObjectItem(j, "metadata"), *ts = cJSON_GetObjectItem(j, "tensors");
    ck_assert_int_eq(cJSON_GetArraySize(md), 30);
    ck_assert_int_eq(cJSON_GetArraySize(ts), (int)N_SAMPLE_T);
    int seen = 0;
    cJSON *kv;
    cJSON_ArrayForEach(kv, md) {
        const char *key = cJSON_GetObjectItem(kv, "key")->valuestring;
        cJSON *val = cJSON_GetObjectItem(kv, "value");
        if (!strcmp(key, "v.unicode")) { ck_assert_str_eq(val->valuestring, uni); seen++; }
        if (!strcmp(key, "v.bytes")) { ck_assert_str_eq(val->valuestring, "a\n\t\"\\\x01\xef\xbf\xbdz"); seen++; }
        if (!strcmp(key, "a.str")) {
            ck_assert_int_eq(cJSON_GetArraySize(val), 4);
            ck_assert_str_eq(cJSON_GetArrayItem(val, 0)->valuestring, "<unk>");
            seen++;
        }
        if (!strcmp(key, "a.nested")) {
            cJSON *first = cJSON_GetArrayItem(val, 0);
            ck_assert_str_eq(cJSON_GetObjectItem(first, "elem_type")->valuestring, "i32");
            ck_assert_int_eq(cJSON_GetArrayItem(cJSON_GetObjectItem(first, "value"), 1)->valueint, 2);
            seen++;
        }
        if (!strcmp(key, "a.f64")) { ck_assert(cJSON_GetArrayItem(val, 2)->valuedouble == 1e300); seen++; }
        if (!strcmp(key, "v.true")) { ck_assert(cJSON_IsTrue(val)); seen++; }
    }
    ck_assert_int_eq(seen, 6);
    cJSON *t5 = cJSON_GetArrayItem(ts, 4);
    ck_assert_str_eq(cJSON_GetObjectItem(t5, "name")->valuestring, "t.q4_0");
    ck_assert_str_eq(cJSON_GetObjectItem(t5, "type")->valuestring, "q4_0");
    ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(t5, "shape")), 4);
    ck_assert_int_eq(cJSON_GetObjectItem(t5, "nbytes")->valueint, 108);
    cJSON_Delete(j);
    free(out);
    free(errs);
    /* a broken file: exit 1, one line on stderr naming it, nothing on stdout */
    size_t n;
    unsigned char *b = tu_read_file(path, &n);
    FILE *f = fopen(bad, "wb");
    ck_assert_uint_eq(fwrite(b, 1, n - 100, f), n - 100); /* into the last tensor, past its padding */
    fclose(f);
    free(b);
    snprintf(args, sizeof args, "'%s'", bad);
    ck_assert_int_eq(run_inspect(args, &out, &errs), 1);
    errs = nul_terminated(errs, tu_tmppath("inspect.err"));
    ck_assert_msg(!strncmp(errs, "graft inspect: ", 15) && strstr(errs, bad), "stderr: %s", errs);
    ck_assert_msg(strchr(errs, '\n') == errs + strlen(errs) - 1, "stderr is not one line: %s", errs);
    out = nul_terminated(out, tu_tmppath("inspect.out"));
    ck_assert_str_eq(out, "");
    free(out);
    free(errs);
    ck_assert_int_eq(run_inspect("--help", &out, &errs), 0);
    free(out);
    free(errs);
    ck_assert_int_eq(run_inspect("--frobnicate x.gguf", &out, &errs), 2);
    free(out);
    free(errs);
}
END_TEST

Suite *suite_gguf(void) {
    Suite *s = suite_create("gguf");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_roundtrip);
    tcase_add_test(tc, test_getters);
    tcase_add_test(tc, test_bad_arguments);
    tcase_add_test(tc, test_type_table);
    tcase_add_test(tc, test_writer_errors);
    tcase_add_test(tc, test_vocab_files_open);
    tcase_add_test(tc, test_vocab_llama_spm);
    tcase_add_test(tc, test_tiny_llm);
    tcase_add_test(tc, test_aidreams);
    tcase_add_test(tc, test_inspect_cli);
    suite_add_tcase(s, tc);
    return s;
}
