/* test_safetensors.c - the safetensors reader: files written here by a tiny writer (round trip of
 * F32/F16/BF16, scalars, empty and unsupported-dtype tensors, __metadata__), sharded directories
 * with an index, systematic corruption (every truncation, every header byte flipped, a table of
 * malformed headers and indexes: all clean errors naming the file), and the tiny LLaVA saved by
 * Hugging Face transformers in ../shared. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "graft.h"
#include "test_util.h"

/* ================================================================================================
 * A tiny writer: u64 header length, the header (padded with spaces to 8 bytes), the data buffer.
 * ============================================================================================= */

static void write_raw(const char *path, uint64_t hlen, const char *hdr, size_t hdr_bytes,
                      const void *data, size_t data_bytes) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert(fwrite(&hlen, 8, 1, f) == 1);
    if (hdr_bytes) ck_assert(fwrite(hdr, 1, hdr_bytes, f) == hdr_bytes);
    if (data_bytes) ck_assert(fwrite(data, 1, data_bytes, f) == data_bytes);
    ck_assert(fclose(f) == 0);
}

/* Writes `hdr` padded to a multiple of 8 and `data_bytes` bytes of data (a byte pattern when data
 * is NULL). */
static void write_st(const char *path, const char *hdr, const void *data, size_t data_bytes) {
    size_t n = strlen(hdr), padded = (n + 7) / 8 * 8;
    char *h = malloc(padded + 1);
    memcpy(h, hdr, n);
    memset(h + n, ' ', padded - n);
    unsigned char *pat = NULL;
    if (!data && data_bytes) {
        pat = malloc(data_bytes);
        for (size_t i = 0; i < data_bytes; i++) pat[i] = (unsigned char)(i * 7 + 1);
        data = pat;
    }
    write_raw(path, padded, h, padded, data, data_bytes);
    free(h);
    free(pat);
}

static graft_st *open_ok(const char *path) {
    graft_st *st = NULL;
    graft_error err = {0};
    int rc = graft_st_open(path, &st, &err);
    ck_assert_msg(rc == GRAFT_OK, "open %s: %s", path, err.msg);
    ck_assert_ptr_nonnull(st);
    return st;
}

/* Opening must fail cleanly with a message naming the file and containing `want` (if not NULL). */
static void open_bad(const char *path, const char *want, const char *label) {
    graft_st *st = (graft_st *)1;
    graft_error err = {0};
    int rc = graft_st_open(path, &st, &err);
    ck_assert_msg(rc != GRAFT_OK, "%s: opened but should have failed", label);
    ck_assert_msg(st == NULL, "%s: *out not NULL on failure", label);
    ck_assert_msg(err.code == rc, "%s: err.code %d != rc %d", label, err.code, rc);
    ck_assert_msg(strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", label, err.msg);
    ck_assert_msg(!strchr(err.msg, '\n'), "%s: message is not one line: %s", label, err.msg);
    if (want) ck_assert_msg(strstr(err.msg, want) != NULL, "%s: message lacks '%s': %s", label, want, err.msg);
}

/* ================================================================================================
 * Round trip
 * ============================================================================================= */

/* a (2, 3) F32, b (5) F16, c (3, 2, 4) BF16, s scalar F32, z (0, 4) F32, i (2) I64 */
#define RT_A 0
#define RT_B 24
#define RT_C 34
#define RT_S 82
#define RT_I 86
#define RT_END 102
static const char rt_hdr[] =
    "{\"__metadata__\":{\"format\":\"pt\",\"note\":\"h\\u00e9llo\"},"
    "\"c\":{\"dtype\":\"BF16\",\"shape\":[3,2,4],\"data_offsets\":[34,82]},"
    "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
    "\"z\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[24,24]},"
    "\"b\":{\"dtype\":\"F16\",\"shape\":[5],\"data_offsets\":[24,34]},"
    "\"s\":{\"shape\":[],\"data_offsets\":[82,86],\"dtype\":\"F32\"},"
    "\"i\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[86,102]}}";

static unsigned char rt_data[RT_END];

static void fill_rt_data(void) {
    tu_rng r = {0x5afe7e45};
    float a[6];
    tu_fill(&r, a, 6, 1.0f);
    memcpy(rt_data + RT_A, a, 24);
    for (int i = RT_B; i < RT_END; i++) rt_data[i] = (unsigned char)tu_next(&r);
}

static void check_tensor(const graft_st *st, const char *name, const char *dtype, int type, int n_dims,
                         int64_t ne0, int64_t ne1, int64_t ne2, size_t off, size_t nbytes) {
    int64_t i = graft_st_find_tensor(st, name);
    ck_assert_msg(i >= 0, "tensor %s missing", name);
    graft_st_tensor t = graft_st_tensor_info(st, i);
    ck_assert_str_eq(t.name, name);
    ck_assert_str_eq(t.dtype, dtype);
    ck_assert_int_eq(t.type, type);
    ck_assert_int_eq(t.n_dims, n_dims);
    ck_assert_msg(t.ne[0] == ne0 && t.ne[1] == ne1 && t.ne[2] == ne2 && t.ne[3] == 1,
                  "%s: ne (%lld %lld %lld %lld)", name, (long long)t.ne[0], (long long)t.ne[1],
                  (long long)t.ne[2], (long long)t.ne[3]);
    ck_assert_uint_eq(t.nbytes, nbytes);
    ck_assert_int_eq(t.file, 0);
    if (nbytes) {
        ck_assert_ptr_nonnull(t.data);
        ck_assert_msg(!memcmp(t.data, rt_data + off, nbytes), "%s: data bytes differ", name);
    } else {
        ck_assert_ptr_null(t.data);
    }
}

START_TEST(test_round_trip) {
    fill_rt_data();
    const char *path = tu_tmppath("rt.safetensors");
    write_st(path, rt_hdr, rt_data, RT_END);
    graft_st *st = open_ok(path);
    ck_assert_int_eq(graft_st_n_files(st), 1);
    ck_assert_str_eq(graft_st_file_path(st, 0), path);
    ck_assert_ptr_null(graft_st_file_path(st, 1));
    ck_assert_ptr_null(graft_st_file_path(st, -1));
    ck_assert_int_eq(graft_st_n_tensors(st), 6);
    check_tensor(st, "a", "F32", GRAFT_TYPE_F32, 2, 3, 2, 1, RT_A, 24);
    check_tensor(st, "b", "F16", GRAFT_TYPE_F16, 1, 5, 1, 1, RT_B, 10);
    check_tensor(st, "c", "BF16", GRAFT_TYPE_BF16, 3, 4, 2, 3, RT_C, 48);
    check_tensor(st, "s", "F32", GRAFT_TYPE_F32, 0, 1, 1, 1, RT_S, 4);
    check_tensor(st, "z", "F32", GRAFT_TYPE_F32, 2, 4, 0, 1, 0, 0);
    check_tensor(st, "i", "I64", -1, 1, 2, 1, 1, RT_I, 16);
    ck_assert_int_eq(graft_st_tensor_info(st, graft_st_find_tensor(st, "i")).elem_size, 8);
    /* table order is by offset: a (0), z (24, empty) / b (24), c, s, i */
    ck_assert_str_eq(graft_st_tensor_info(st, 0).name, "a");
    ck_assert_str_eq(graft_st_tensor_info(st, 5).name, "i");
    /* the F32 values come back exactly (zero copy: same bytes) */
    float a[6];
    memcpy(a, graft_st_tensor_info(st, 0).data, 24);
    ck_assert(tu_max_abs_err("a", a, (const float *)(const void *)(rt_data + RT_A), 6, 0.0) == 0.0);
    ck_assert_int_eq(graft_st_find_tensor(st, "nope"), -1);
    ck_assert_int_eq(graft_st_find_tensor(st, ""), -1);
    ck_assert_int_eq(graft_st_find_tensor(st, NULL), -1);
    graft_st_tensor none = graft_st_tensor_info(st, 6);
    ck_assert_ptr_null(none.name);
    ck_assert_int_eq(none.type, -1);
    ck_assert_ptr_null(graft_st_tensor_info(st, -1).name);
    ck_assert_int_eq(graft_st_n_meta(st), 2);
    ck_assert_str_eq(graft_st_meta_key(st, 0), "format");
    ck_assert_str_eq(graft_st_meta_value(st, 0), "pt");
    ck_assert_str_eq(graft_st_get_meta(st, "note"), "h\xc3\xa9llo");
    ck_assert_ptr_null(graft_st_get_meta(st, "absent"));
    ck_assert_ptr_null(graft_st_meta_key(st, 2));
    ck_assert_ptr_null(graft_st_meta_value(st, -1));
    graft_st_close(st);
    graft_st_close(NULL);
}
END_TEST

/* A header that is exactly its JSON (no padding), no metadata, no tensors, an empty data buffer. */
START_TEST(test_minimal) {
    const char *path = tu_tmppath("min.safetensors");
    write_raw(path, 2, "{}", 2, NULL, 0);
    graft_st *st = open_ok(path);
    ck_assert_int_eq(graft_st_n_tensors(st), 0);
    ck_assert_int_eq(graft_st_n_meta(st), 0);
    ck_assert_int_eq(graft_st_find_tensor(st, "a"), -1);
    graft_st_close(st);
    /* data that starts at an odd file offset, after whitespace of every kind */
    const char *h = "{\"x\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}  \t\n\r  ";
    ck_assert_uint_eq(strlen(h) % 2, 1);
    write_raw(path, strlen(h), h, strlen(h), "\1\2\3\4", 4);
    st = open_ok(path);
    ck_assert_int_eq(graft_st_n_tensors(st), 1);
    ck_assert(!memcmp(graft_st_tensor_info(st, 0).data, "\1\2\3\4", 4));
    graft_st_close(st);
}
END_TEST

/* ================================================================================================
 * Corruption
 * ============================================================================================= */

/* Every proper prefix of the round-trip file must fail cleanly. */
START_TEST(test_truncation) {
    fill_rt_data();
    const char *full = tu_tmppath("full.safetensors");
    write_st(full, rt_hdr, rt_data, RT_END);
    size_t len = 0;
    unsigned char *b = tu_read_file(full, &len);
    ck_assert_ptr_nonnull(b);
    const char *path = tu_tmppath("trunc.safetensors");
    char label[64];
    for (size_t n = 0; n < len; n++) {
        FILE *f = fopen(path, "wb");
        ck_assert(fwrite(b, 1, n, f) == n);
        fclose(f);
        snprintf(label, sizeof label, "truncated to %zu of %zu bytes", n, len);
        open_bad(path, NULL, label);
    }
    free(b);
}
END_TEST

/* Every header byte replaced by a few values: opens or fails cleanly (ASan/UBSan watch). When it
 * opens, every tensor must lie inside the file. */
START_TEST(test_header_bytes) {
    fill_rt_data();
    const char *full = tu_tmppath("full2.safetensors");
    write_st(full, rt_hdr, rt_data, RT_END);
    size_t len = 0;
    unsigned char *b = tu_read_file(full, &len);
    const char *path = tu_tmppath("flip.safetensors");
    static const unsigned char vals[] = {0, '"', '9', ']', '}', '-', 0xff};
    int n_ok = 0, n_bad = 0;
    for (size_t i = 0; i < len - RT_END; i++)
        for (size_t v = 0; v < sizeof vals; v++) {
            unsigned char old = b[i];
            b[i] = vals[v];
            FILE *f = fopen(path, "wb");
            ck_assert(fwrite(b, 1, len, f) == len);
            fclose(f);
            b[i] = old;
            graft_st *st = NULL;
            graft_error err = {0};
            if (graft_st_open(path, &st, &err) == GRAFT_OK) {
                n_ok++;
                for (int64_t t = 0; t < graft_st_n_tensors(st); t++) {
                    graft_st_tensor ti = graft_st_tensor_info(st, t);
                    ck_assert(ti.nbytes <= (size_t)RT_END);
                    if (ti.nbytes) ck_assert(ti.data != NULL);
                }
                graft_st_close(st);
            } else {
                n_bad++;
                ck_assert_msg(strstr(err.msg, path) && err.code != 0, "byte %zu: %s", i, err.msg);
            }
        }
    ck_assert_int_gt(n_bad, 0);
    ck_assert_int_gt(n_ok, 0); /* e.g. a space pad byte, or "note" text changed */
    free(b);
}
END_TEST

typedef struct bad_case {
    const char *hdr;
    size_t data_bytes;
    const char *want;
} bad_case;

static const bad_case bad_cases[] = {
    {"[]", 0, "not an object"},
    {"{", 0, "not valid JSON"},
    {"{\"a\":1,}", 0, "not valid JSON"},
    {"nul", 0, "not valid JSON"},
    {"{} x", 0, "after the JSON header"},
    {"{\"a\":1}", 0, "'a': entry is not a JSON object"},
    {"{\"a\":{\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"dtype\" is missing"},
    {"{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "\"dtype\" is missing or not a string"},
    {"{\"a\":{\"dtype\":\"Q4_0\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype \"Q4_0\""},
    {"{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unknown dtype"},
    {"{\"a\":{\"dtype\":\"F32\",\"data_offsets\":[0,4]}}", 4, "\"shape\" is missing"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":4,\"data_offsets\":[0,4]}}", 4, "\"shape\" is missing or not an array"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[-1],\"data_offsets\":[0,4]}}", 4, "shape entry 0"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1.5],\"data_offsets\":[0,4]}}", 4, "shape entry 1"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[\"1\"],\"data_offsets\":[0,4]}}", 4, "shape entry 0"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,4]}}", 4, "shape entry 0"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1],\"data_offsets\":[0,4]}}", 4, "5 dimensions"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296,4],\"data_offsets\":[0,4]}}", 4,
     "element count overflows"},
    {"{\"a\":{\"dtype\":\"F64\",\"shape\":[4294967296,1073741824],\"data_offsets\":[0,4]}}", 4,
     "byte size overflows"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1]}}", 4, "\"data_offsets\" must be"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0]}}", 4, "\"data_offsets\" must be"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4,8]}}", 8, "\"data_offsets\" must be"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":{\"a\":0,\"b\":4}}}", 4, "\"data_offsets\" must be"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,-4]}}", 4, "\"data_offsets\" must be"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,\"4\"]}}", 4, "\"data_offsets\" must be"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,1e30]}}", 4, "\"data_offsets\" must be"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,0]}}", 4, "outside"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 4, "outside the 4-byte data buffer"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[8,8]}}", 4, "outside"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[18446744073709551612,18446744073709551616]}}", 4,
     "\"data_offsets\" must be"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4, "span 4 bytes but F32 shape needs 8"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "span 8 bytes"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
     "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "overlaps"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
     "\"e\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[4,4]},"
     "\"b\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]}}", 16, "overlaps tensor 'a'"},
    {"{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
     "\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", 8, "'a' appears twice"},
    {"{\"\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "empty name"},
    {"{\"__metadata__\":{\"a\":1}}", 0, "value of 'a' is not a string"},
    {"{\"__metadata__\":[\"a\"]}", 0, "\"__metadata__\" is not a JSON object"},
    {"{\"__metadata__\":{\"a\":{\"b\":\"c\"}}}", 0, "not a string"},
    {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "appears twice"},
};

START_TEST(test_bad_headers) {
    const char *path = tu_tmppath("bad.safetensors");
    char label[64];
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        write_st(path, bad_cases[i].hdr, NULL, bad_cases[i].data_bytes);
        snprintf(label, sizeof label, "bad case %zu", i);
        open_bad(path, bad_cases[i].want, label);
    }
}
END_TEST

START_TEST(test_bad_lengths) {
    const char *path = tu_tmppath("len.safetensors");
    const char *hdr = "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]}}"; /* 54 bytes */
    size_t n = strlen(hdr);
    char buf[128];
    memcpy(buf, hdr, n);
    memcpy(buf + n, "\x01\x02\x03\x04", 4);
    write_raw(path, 0, buf, n + 4, NULL, 0);
    open_bad(path, "header length is 0", "length 0");
    write_raw(path, UINT64_MAX, buf, n + 4, NULL, 0);
    open_bad(path, "larger than", "length 2^64-1");
    write_raw(path, (uint64_t)1 << 63, buf, n + 4, NULL, 0);
    open_bad(path, "larger than", "length 2^63");
    write_raw(path, n + 5, buf, n + 4, NULL, 0);
    open_bad(path, "larger than the 58 bytes", "length past the end");
    write_raw(path, n - 1, buf, n + 4, NULL, 0); /* cuts the JSON */
    open_bad(path, "not valid JSON", "length one short");
    write_raw(path, n - 9, buf, n + 4, NULL, 0);
    open_bad(path, "not valid JSON", "length 9 short");
    write_raw(path, n + 2, buf, n + 4, NULL, 0); /* eats data bytes into the header */
    open_bad(path, "after the JSON header", "length 2 long");
    write_raw(path, n + 3, buf, n + 4, NULL, 0);
    open_bad(path, NULL, "length 3 long");
    write_raw(path, n, buf, n + 4, NULL, 0); /* the right length opens */
    graft_st_close(open_ok(path));
    /* the header cap: a file whose header claims (and has) 100 MiB + 8 is refused without
     * parsing; sparse, so it costs no disk */
    FILE *f = fopen(path, "wb");
    uint64_t big = (100u << 20) + 8;
    fwrite(&big, 8, 1, f);
    ck_assert(fseek(f, (long)big, SEEK_CUR) == 0);
    fputc(' ', f);
    fclose(f);
    open_bad(path, "exceeds", "header over the cap");
    /* not a file, not there, empty, 7 bytes */
    open_bad(tu_tmpdir(), "not a regular file", "directory");
    open_bad(tu_tmppath("absent.safetensors"), "cannot open", "absent");
    write_raw(path, 0, NULL, 0, NULL, 0);
    f = fopen(path, "wb");
    fclose(f);
    open_bad(path, "too short", "empty file");
    f = fopen(path, "wb");
    fwrite("1234567", 1, 7, f);
    fclose(f);
    open_bad(path, "too short", "7 bytes");
}
END_TEST

/* ================================================================================================
 * Sharded checkpoints
 * ============================================================================================= */

static void write_text(const char *path, const char *s) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fputs(s, f);
    fclose(f);
}

static const char *make_dir(const char *name) {
    const char *d = tu_tmppath(name);
    ck_assert(mkdir(d, 0755) == 0);
    return d;
}

static char *join(const char *dir, const char *file) {
    static char buf[2][1024];
    static int k;
    k ^= 1;
    snprintf(buf[k], sizeof buf[k], "%s/%s", dir, file);
    return buf[k];
}

static const char sh1[] = "{\"__metadata__\":{\"format\":\"pt\"},"
                          "\"w1\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                          "\"w2\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[8,12]}}";
static const char sh2[] = "{\"__metadata__\":{\"format\":\"pt\"},"
                          "\"w3\":{\"dtype\":\"BF16\",\"shape\":[1,3],\"data_offsets\":[0,6]}}";
static const char good_index[] =
    "{\"metadata\":{\"total_size\":18},\"weight_map\":{\"w3\":\"model-00002-of-00002.safetensors\","
    "\"w1\":\"model-00001-of-00002.safetensors\",\"w2\":\"model-00001-of-00002.safetensors\"}}";

static const char *make_sharded(const char *name, const char *index) {
    const char *d = make_dir(name);
    write_st(join(d, "model-00001-of-00002.safetensors"), sh1, NULL, 12);
    write_st(join(d, "model-00002-of-00002.safetensors"), sh2, NULL, 6);
    write_text(join(d, "model.safetensors.index.json"), index);
    return d;
}

START_TEST(test_sharded) {
    const char *d = make_sharded("sharded", good_index);
    graft_st *st = NULL;
    graft_error err = {0};
    ck_assert_msg(graft_st_open_dir(d, &st, &err) == GRAFT_OK, "%s", err.msg);
    ck_assert_int_eq(graft_st_n_files(st), 2);
    ck_assert_str_eq(graft_st_file_path(st, 0), join(d, "model-00002-of-00002.safetensors"));
    ck_assert_int_eq(graft_st_n_tensors(st), 3);
    graft_st_tensor t = graft_st_tensor_info(st, graft_st_find_tensor(st, "w3"));
    ck_assert_int_eq(t.file, 0);
    ck_assert_int_eq(t.type, GRAFT_TYPE_BF16);
    ck_assert(t.ne[0] == 3 && t.ne[1] == 1 && t.n_dims == 2);
    unsigned char pat[12];
    for (int i = 0; i < 12; i++) pat[i] = (unsigned char)(i * 7 + 1);
    ck_assert(!memcmp(t.data, pat, 6));
    t = graft_st_tensor_info(st, graft_st_find_tensor(st, "w2"));
    ck_assert_int_eq(t.file, 1);
    ck_assert(!memcmp(t.data, pat + 8, 4));
    ck_assert_int_eq(graft_st_n_meta(st), 2); /* one pair per shard */
    ck_assert_str_eq(graft_st_get_meta(st, "format"), "pt");
    graft_st_close(st);
    /* the index opened directly */
    ck_assert_msg(graft_st_open_index(join(d, "model.safetensors.index.json"), &st, &err) == GRAFT_OK, "%s",
                  err.msg);
    ck_assert_int_eq(graft_st_n_tensors(st), 3);
    graft_st_close(st);
    /* a directory with one model.safetensors */
    const char *d1 = make_dir("single");
    write_st(join(d1, "model.safetensors"), sh2, NULL, 6);
    ck_assert_msg(graft_st_open_dir(d1, &st, &err) == GRAFT_OK, "%s", err.msg);
    ck_assert_int_eq(graft_st_n_tensors(st), 1);
    graft_st_close(st);
    /* neither */
    const char *d0 = make_dir("empty");
    ck_assert_int_eq(graft_st_open_dir(d0, &st, &err), GRAFT_E_NOTFOUND);
    ck_assert_ptr_null(st);
    ck_assert_ptr_nonnull(strstr(err.msg, d0));
}
END_TEST

typedef struct bad_index {
    const char *index, *want;
} bad_index;

static const bad_index bad_indexes[] = {
    {"{\"weight_map\":", "not valid JSON"},
    {"[]", "no \"weight_map\""},
    {"{\"weight_map\":[]}", "no \"weight_map\""},
    {"{\"weight_map\":{}}", "empty"},
    {"{\"weight_map\":{\"w1\":1}}", "not a plain file name"},
    {"{\"weight_map\":{\"w1\":\"../model-00001-of-00002.safetensors\"}}", "not a plain file name"},
    {"{\"weight_map\":{\"w1\":\"\"}}", "not a plain file name"},
    {"{\"weight_map\":{\"w1\":\"absent.safetensors\"}}", "absent.safetensors: cannot open"},
    {"{\"weight_map\":{\"w1\":\"model-00001-of-00002.safetensors\",\"w2\":\"model-00001-of-00002.safetensors\","
     "\"w3\":\"model-00001-of-00002.safetensors\"}}",
     "'w3'"}, /* no shard listed has w3 */
    {"{\"weight_map\":{\"w1\":\"model-00001-of-00002.safetensors\",\"w2\":\"model-00002-of-00002.safetensors\","
     "\"w3\":\"model-00001-of-00002.safetensors\"}}",
     "that shard does not have it"},
    {"{\"weight_map\":{\"w1\":\"model-00001-of-00002.safetensors\",\"w3\":\"model-00002-of-00002.safetensors\"}}",
     "'w2' of"},
    {"{\"weight_map\":{\"w1\":\"model-00001-of-00002.safetensors\",\"w2\":\"model-00001-of-00002.safetensors\","
     "\"w3\":\"model-00002-of-00002.safetensors\",\"w1\":\"model-00001-of-00002.safetensors\"}}",
     "twice"},
};

START_TEST(test_sharded_bad) {
    char name[32];
    for (size_t i = 0; i < sizeof bad_indexes / sizeof bad_indexes[0]; i++) {
        snprintf(name, sizeof name, "badidx%zu", i);
        const char *d = make_sharded(name, bad_indexes[i].index);
        graft_st *st = (graft_st *)1;
        graft_error err = {0};
        int rc = graft_st_open_dir(d, &st, &err);
        ck_assert_msg(rc != GRAFT_OK && st == NULL, "bad index %zu opened", i);
        ck_assert_msg(strstr(err.msg, d) && strstr(err.msg, bad_indexes[i].want),
                      "bad index %zu: message lacks '%s': %s", i, bad_indexes[i].want, err.msg);
    }
    /* the same tensor in two shards */
    const char *d = make_dir("dupshard");
    write_st(join(d, "a.safetensors"), sh2, NULL, 6);
    write_st(join(d, "b.safetensors"), sh2, NULL, 6);
    write_text(join(d, "model.safetensors.index.json"),
               "{\"weight_map\":{\"w3\":\"a.safetensors\",\"x\":\"b.safetensors\"}}");
    graft_st *st = NULL;
    graft_error err = {0};
    ck_assert(graft_st_open_dir(d, &st, &err) != GRAFT_OK);
    ck_assert_msg(strstr(err.msg, "'w3' appears twice, also in"), "%s", err.msg);
    /* a corrupt shard is named */
    d = make_dir("badshard");
    write_st(join(d, "a.safetensors"), sh2, NULL, 5);
    write_text(join(d, "model.safetensors.index.json"), "{\"weight_map\":{\"w3\":\"a.safetensors\"}}");
    ck_assert(graft_st_open_dir(d, &st, &err) != GRAFT_OK);
    ck_assert_msg(strstr(err.msg, "a.safetensors: tensor 'w3'"), "%s", err.msg);
}
END_TEST

/* ================================================================================================
 * The tiny LLaVA saved by transformers 4.40.2 (../shared): 104 F32 tensors; sizes from its
 * config.json (text hidden 56, intermediate 152, vocab 32064, 3 layers; vision hidden 48, patch 14,
 * image 56, 4 layers); tied embeddings, so no lm_head.
 * ============================================================================================= */

START_TEST(test_llava_tiny) {
    const char *dir = tu_shared("fixtures/hf/llava-tiny-b/hf");
    if (!dir) return;
    char d[1024];
    snprintf(d, sizeof d, "%s", dir);
    graft_st *st = NULL;
    graft_error err = {0};
    ck_assert_msg(graft_st_open_dir(d, &st, &err) == GRAFT_OK, "%s", err.msg);
    ck_assert_int_eq(graft_st_n_files(st), 1);
    ck_assert_int_eq(graft_st_n_tensors(st), 104);
    for (int64_t i = 0; i < 104; i++) {
        graft_st_tensor t = graft_st_tensor_info(st, i);
        ck_assert_msg(t.type == GRAFT_TYPE_F32 && !strcmp(t.dtype, "F32"), "%s is %s", t.name, t.dtype);
    }
    ck_assert_str_eq(graft_st_get_meta(st, "format"), "pt");
    ck_assert_int_eq(graft_st_find_tensor(st, "language_model.lm_head.weight"), -1);
    static const struct {
        const char *name;
        int n_dims;
        int64_t ne0, ne1, ne2, ne3;
    } want[] = {
        {"language_model.model.embed_tokens.weight", 2, 56, 32064, 1, 1},
        {"language_model.model.layers.2.mlp.down_proj.weight", 2, 152, 56, 1, 1},
        {"language_model.model.layers.0.input_layernorm.weight", 1, 56, 1, 1, 1},
        {"language_model.model.norm.weight", 1, 56, 1, 1, 1},
        {"vision_tower.vision_model.embeddings.patch_embedding.weight", 4, 14, 14, 3, 48},
        {"vision_tower.vision_model.embeddings.position_embedding.weight", 2, 48, 17, 1, 1},
        {"vision_tower.vision_model.encoder.layers.3.mlp.fc1.weight", 2, 48, 176, 1, 1},
        {"multi_modal_projector.linear_1.weight", 2, 48, 56, 1, 1},
        {"multi_modal_projector.linear_2.bias", 1, 56, 1, 1, 1},
    };
    for (size_t k = 0; k < sizeof want / sizeof want[0]; k++) {
        int64_t i = graft_st_find_tensor(st, want[k].name);
        ck_assert_msg(i >= 0, "%s missing", want[k].name);
        graft_st_tensor t = graft_st_tensor_info(st, i);
        ck_assert_msg(t.n_dims == want[k].n_dims && t.ne[0] == want[k].ne0 && t.ne[1] == want[k].ne1 &&
                          t.ne[2] == want[k].ne2 && t.ne[3] == want[k].ne3,
                      "%s: n_dims %d ne (%lld %lld %lld %lld)", t.name, t.n_dims, (long long)t.ne[0],
                      (long long)t.ne[1], (long long)t.ne[2], (long long)t.ne[3]);
        ck_assert_uint_eq(t.nbytes, (size_t)(t.ne[0] * t.ne[1] * t.ne[2] * t.ne[3] * 4));
    }
    /* the mapping holds the file's bytes: the input layernorm weight of layer 0, read with stdio
     * from offset 8 + 12912 (header) + 7182336 (data_offsets, read with Python's json) */
    float ref[56];
    FILE *f = fopen(graft_st_file_path(st, 0), "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert(fseek(f, 8 + 12912 + 7182336, SEEK_SET) == 0);
    ck_assert(fread(ref, 4, 56, f) == 56);
    fclose(f);
    graft_st_tensor t = graft_st_tensor_info(st, graft_st_find_tensor(st, "language_model.model.layers.0.input_layernorm.weight"));
    float got[56];
    memcpy(got, t.data, sizeof got);
    ck_assert(tu_max_abs_err("input_layernorm", got, ref, 56, 0.0) == 0.0);
    graft_st_close(st);
}
END_TEST

Suite *suite_safetensors(void) {
    Suite *s = suite_create("safetensors");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, test_round_trip);
    tcase_add_test(tc, test_minimal);
    tcase_add_test(tc, test_truncation);
    tcase_add_test(tc, test_header_bytes);
    tcase_add_test(tc, test_bad_headers);
    tcase_add_test(tc, test_bad_lengths);
    tcase_add_test(tc, test_sharded);
    tcase_add_test(tc, test_sharded_bad);
    tcase_add_test(tc, test_llava_tiny);
    suite_add_tcase(s, tc);
    return s;
}
