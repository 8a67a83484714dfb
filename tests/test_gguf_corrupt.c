/* test_gguf_corrupt.c - the GGUF reader on broken files: a small file from the writer truncated
 * at every length, every count/length field overwritten with huge values and zero, targeted
 * corruptions (magic, version, types, n_dims, offsets, overlaps, overflow, duplicates, alignment,
 * nesting), thousands of seeded random mutations, and the same over the header region of a real
 * llama.cpp vocabulary. Each must fail with a one-line message naming the file - or, where the
 * change leaves a valid file, open and read back without touching memory it should not (the
 * ASan/UBSan build checks that). */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gguf_write.h"
#include "graft.h"
#include "test_util.h"

/* ================================================================================================
 * A field map of a valid GGUF file, walked here independently of the reader.
 * ============================================================================================= */

enum fkind { F_NT, F_NKV, F_KEYLEN, F_KEY, F_VTYPE, F_SCALAR, F_STRLEN, F_ATYPE, F_ACOUNT,
             F_NAMELEN, F_NAME, F_NDIMS, F_NE, F_GTYPE, F_OFFSET };

typedef struct field {
    size_t pos;
    int size, kind;
    int64_t item; /* kv or tensor index */
} field;

typedef struct fmap {
    field *f;
    size_t n, cap;
    size_t tensor_info_end;
} fmap;

static void add_field(fmap *m, size_t pos, int size, int kind, int64_t item) {
    if (m->n == m->cap) {
        m->cap = m->cap ? 2 * m->cap : 256;
        m->f = realloc(m->f, m->cap * sizeof *m->f);
        if (!m->f) ck_abort_msg("out of memory");
    }
    m->f[m->n++] = (field){pos, size, kind, item};
}

static uint64_t get64(const unsigned char *b, size_t pos) {
    uint64_t v;
    memcpy(&v, b + pos, 8);
    return v;
}

static uint32_t get32(const unsigned char *b, size_t pos) {
    uint32_t v;
    memcpy(&v, b + pos, 4);
    return v;
}

static int vsize(uint32_t t) {
    static const int sz[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (t >= 13) ck_abort_msg("walk: value type %u", t);
    return sz[t];
}

static size_t walk_value(fmap *m, const unsigned char *b, size_t pos, uint32_t type, int64_t item) {
    if (vsize(type)) {
        add_field(m, pos, vsize(type), F_SCALAR, item);
        return pos + (size_t)vsize(type);
    }
    if (type == GRAFT_GGUF_STRING) {
        add_field(m, pos, 8, F_STRLEN, item);
        return pos + 8 + get64(b, pos);
    }
    uint32_t et = get32(b, pos);
    uint64_t n = get64(b, pos + 4);
    add_field(m, pos, 4, F_ATYPE, item);
    add_field(m, pos + 4, 8, F_ACOUNT, item);
    pos += 12;
    for (uint64_t j = 0; j < n; j++) pos = walk_value(m, b, pos, et, item);
    return pos;
}

static fmap walk(const unsigned char *b) {
    fmap m = {0};
    uint64_t nt = get64(b, 8), nkv = get64(b, 16);
    add_field(&m, 8, 8, F_NT, -1);
    add_field(&m, 16, 8, F_NKV, -1);
    size_t pos = 24;
    for (uint64_t i = 0; i < nkv; i++) {
        uint64_t kl = get64(b, pos);
        add_field(&m, pos, 8, F_KEYLEN, (int64_t)i);
        add_field(&m, pos + 8, (int)kl, F_KEY, (int64_t)i);
        pos += 8 + kl;
        add_field(&m, pos, 4, F_VTYPE, (int64_t)i);
        pos = walk_value(&m, b, pos + 4, get32(b, pos), (int64_t)i);
    }
    for (uint64_t i = 0; i < nt; i++) {
        uint64_t nl = get64(b, pos);
        add_field(&m, pos, 8, F_NAMELEN, (int64_t)i);
        add_field(&m, pos + 8, (int)nl, F_NAME, (int64_t)i);
        pos += 8 + nl;
        uint32_t nd = get32(b, pos);
        add_field(&m, pos, 4, F_NDIMS, (int64_t)i);
        pos += 4;
        for (uint32_t d = 0; d < nd; d++, pos += 8) add_field(&m, pos, 8, F_NE, (int64_t)i);
        add_field(&m, pos, 4, F_GTYPE, (int64_t)i);
        add_field(&m, pos + 4, 8, F_OFFSET, (int64_t)i);
        pos += 12;
    }
    m.tensor_info_end = pos;
    return m;
}

/* The n-th field of a kind (for kv/tensor `item`, or any when item < 0). */
static const field *find_field(const fmap *m, int kind, int64_t item, int nth) {
    for (size_t k = 0; k < m->n; k++)
        if (m->f[k].kind == kind && (item < 0 || m->f[k].item == item) && nth-- == 0) return &m->f[k];
    ck_abort_msg("field kind %d item %lld not found", kind, (long long)item);
    return NULL;
}

/* ================================================================================================
 * Opening a mutated copy
 * ============================================================================================= */

/* Overwrites path with b[0..n) in place: no O_TRUNC, since on ext4 truncating to zero then
 * closing forces the blocks out (and freeing them costs a discard), ~1 ms per case. */
static void write_bytes(const char *path, const void *b, size_t n) {
    int fd = open(path, O_WRONLY | O_CREAT, 0644);
    if (fd < 0) ck_abort_msg("cannot create %s", path);
    int bad = (n && pwrite(fd, b, n, 0) != (ssize_t)n) || ftruncate(fd, (off_t)n) != 0;
    if (close(fd) != 0 || bad) ck_abort_msg("cannot write %s", path);
}

/* Reads everything an opened handle hands out (under ASan, an out-of-bounds pointer shows). */
static uint64_t touch_value(const graft_gguf *g, graft_gguf_value v, int depth) {
    uint64_t s = (uint64_t)v.type + v.u + (uint64_t)v.i;
    if (v.type == GRAFT_GGUF_STRING)
        for (uint64_t k = 0; k < v.len; k++) s += (unsigned char)v.str[k];
    if (v.type == GRAFT_GGUF_ARRAY && depth < 20) {
        uint64_t n = v.arr_n < 200 ? v.arr_n : 200;
        for (uint64_t j = 0; j < n; j++) s += touch_value(g, graft_gguf_arr_get(g, &v, j), depth + 1);
        if (v.arr_n) s += touch_value(g, graft_gguf_arr_get(g, &v, v.arr_n - 1), depth + 1);
    }
    return s;
}

static uint64_t touch(const graft_gguf *g) {
    uint64_t s = 0;
    for (int64_t i = 0; i < graft_gguf_n_kv(g); i++) {
        s += strlen(graft_gguf_kv_key(g, i));
        s += touch_value(g, graft_gguf_kv_value(g, i), 0);
    }
    for (int64_t i = 0; i < graft_gguf_n_tensors(g); i++) {
        graft_gguf_tensor t = graft_gguf_tensor_info(g, i);
        const unsigned char *d = t.data;
        s += strlen(t.name);
        for (size_t k = 0; k < t.nbytes; k++) s += d[k];
    }
    return s;
}

static const char *cpath(void) { return tu_tmppath("corrupt.gguf"); }

/* Writes b[0..n) and opens it; on success reads everything and closes. */
static int try_open(const unsigned char *b, size_t n, graft_error *err) {
    const char *path = cpath();
    write_bytes(path, b, n);
    graft_gguf *g = NULL;
    memset(err, 0, sizeof *err);
    int rc = graft_gguf_open(path, &g, err);
    if (rc == GRAFT_OK) {
        if (!g) ck_abort_msg("open succeeded without a handle");
        volatile uint64_t s = touch(g);
        (void)s;
        graft_gguf_close(g);
    } else if (g) {
        ck_abort_msg("failed open left a handle");
    }
    return rc;
}

/* Opening `path` must fail with a FORMAT (or UNSUPPORTED; want_code when non-zero) error: one line
 * that names the file (and contains frag when given). */
static void expect_fail_path(const char *what, const char *path, int want_code, const char *frag) {
    /* Plain ifs, not ck_assert: in fork mode every ck_assert reports to the parent through a pipe,
     * which dominates the run time over thousands of cases. */
    graft_error err = {0};
    graft_gguf *g = NULL;
    int rc = graft_gguf_open(path, &g, &err);
    if (rc == GRAFT_OK) {
        graft_gguf_close(g);
        ck_abort_msg("%s: opened although corrupt", what);
    }
    if (g) ck_abort_msg("%s: failed open left a handle", what);
    if (rc != GRAFT_E_FORMAT && rc != GRAFT_E_UNSUPPORTED) ck_abort_msg("%s: code %d (%s)", what, rc, err.msg);
    if (want_code && rc != want_code) ck_abort_msg("%s: code %d, want %d (%s)", what, rc, want_code, err.msg);
    if (err.code != rc) ck_abort_msg("%s: err.code %d != %d", what, err.code, rc);
    if (!strstr(err.msg, path)) ck_abort_msg("%s: message does not name the file: %s", what, err.msg);
    if (strchr(err.msg, '\n')) ck_abort_msg("%s: message is not one line: %s", what, err.msg);
    if (frag && !strstr(err.msg, frag)) ck_abort_msg("%s: message '%s' lacks '%s'", what, err.msg, frag);
}

static void expect_fail_code(const char *what, const unsigned char *b, size_t n, int want_code, const char *frag) {
    write_bytes(cpath(), b, n);
    expect_fail_path(what, cpath(), want_code, frag);
}

static void expect_fail(const char *what, const unsigned char *b, size_t n) { expect_fail_code(what, b, n, 0, NULL); }

static void put64(unsigned char *b, size_t pos, uint64_t v) { memcpy(b + pos, &v, 8); }
static void put32(unsigned char *b, size_t pos, uint32_t v) { memcpy(b + pos, &v, 4); }

/* ================================================================================================
 * The sample: several value types incl. arrays of strings and a nested array, four tensors, the
 * last one ending the file exactly (so every shorter length is a truncation).
 * ============================================================================================= */

static unsigned char *sample(size_t *n) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_alignment(w, 32);
    gguf_writer_add_str(w, "general.architecture", "llama", 5);
    gguf_writer_add_u32(w, "dup.a", 7);
    gguf_writer_add_u32(w, "dup.b", 8);
    gguf_writer_add_bool(w, "flag", 1);
    gguf_writer_add_i64(w, "big", -5);
    gguf_writer_add_f64(w, "pi", 3.14);
    const float sc[] = {0.0f, -1.0f, 2.5f, 4.0f, 8.0f};
    gguf_writer_add_arr(w, "tok.scores", GRAFT_GGUF_F32, sc, 5);
    const char *toks[] = {"<unk>", "<s>", "a", "bb", ""};
    gguf_writer_add_arr_str(w, "tok.tokens", toks, NULL, 5);
    gguf_wval *nest = gguf_wval_arr(GRAFT_GGUF_ARRAY), *a = gguf_wval_arr(GRAFT_GGUF_I32);
    int32_t one = 1, two = 2;
    gguf_wval_push(a, &one);
    gguf_wval_push(a, &two);
    gguf_wval_push_arr(nest, a);
    gguf_wval *strs = gguf_wval_arr(GRAFT_GGUF_STRING);
    gguf_wval_push_str(strs, "x", 1);
    gguf_wval *nest2 = gguf_wval_arr(GRAFT_GGUF_ARRAY);
    gguf_wval_push_arr(nest2, strs);
    gguf_wval_push_arr(nest, gguf_wval_arr(GRAFT_GGUF_I32));
    gguf_writer_add_val(w, "nested", nest);
    gguf_writer_add_val(w, "nested.str", nest2);
    static unsigned char data[256];
    for (int k = 0; k < 256; k++) data[k] = (unsigned char)(k * 7 + 1);
    const int64_t ne_a[] = {8, 2}, ne_b[] = {32, 2}, ne_c[] = {16}, ne_d[] = {8, 4};
    gguf_writer_add_tensor(w, "t.a", GRAFT_TYPE_F32, 2, ne_a, data, 64, 0);
    gguf_writer_add_tensor(w, "t.b", GRAFT_TYPE_Q8_0, 2, ne_b, data, 68, 0);
    gguf_writer_add_tensor(w, "t.c", GRAFT_TYPE_F16, 1, ne_c, data, 32, 0);
    gguf_writer_add_tensor(w, "t.d", GRAFT_TYPE_F32, 2, ne_d, data, 128, 0); /* 128: no trailing padding */
    graft_error err;
    const char *path = tu_tmppath("sample.gguf");
    ck_assert_msg(gguf_writer_write(w, path, &err) == 0, "%s", err.msg);
    gguf_writer_free(w);
    unsigned char *b = tu_read_file(path, n);
    ck_assert_ptr_nonnull(b);
    /* it is valid as written */
    graft_error e2;
    ck_assert_msg(try_open(b, *n, &e2) == GRAFT_OK, "%s", e2.msg);
    return b;
}

/* (a) every truncation fails; only the whole file opens. */
START_TEST(test_truncate_every_length) {
    size_t n;
    unsigned char *b = sample(&n);
    ck_assert_uint_lt(n, 5000);
    for (size_t len = 0; len < n; len++) {
        char what[64];
        snprintf(what, sizeof what, "truncated to %zu of %zu bytes", len, n);
        expect_fail(what, b, len);
    }
    graft_error err;
    ck_assert_int_eq(try_open(b, n, &err), GRAFT_OK);
    free(b);
}
END_TEST

/* (b) every count and length field set to huge values and zero. */
START_TEST(test_count_fields) {
    size_t n;
    unsigned char *b = sample(&n);
    fmap m = walk(b);
    unsigned char *c = malloc(n);
    const uint64_t vals[] = {UINT64_MAX, 1ULL << 63, 1ULL << 32, (uint64_t)n + 1, 0, (uint64_t)n - 24, 0x7fffffffffffffe0ULL};
    int n_cases = 0;
    for (size_t k = 0; k < m.n; k++) {
        const field *f = &m.f[k];
        if (f->size != 8 || f->kind == F_SCALAR) continue;
        for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
            if (get64(b, f->pos) == vals[v]) continue;
            memcpy(c, b, n);
            put64(c, f->pos, vals[v]);
            char what[128];
            snprintf(what, sizeof what, "field kind %d at %zu (item %lld) = %llu", f->kind, f->pos, (long long)f->item,
                     (unsigned long long)vals[v]);
            if (f->kind == F_NE && vals[v] == 0) {
                /* a zero dimension is valid: the tensor becomes empty */
                graft_gguf *g;
                graft_error err;
                write_bytes(cpath(), c, n);
                ck_assert_msg(graft_gguf_open(cpath(), &g, &err) == 0, "%s: %s", what, err.msg);
                graft_gguf_tensor t = graft_gguf_tensor_info(g, f->item);
                ck_assert_uint_eq(t.nbytes, 0);
                ck_assert_ptr_null(t.data);
                graft_gguf_close(g);
            } else {
                expect_fail(what, c, n);
            }
            n_cases++;
        }
    }
    ck_assert_int_gt(n_cases, 200);
    /* the u32 type fields with values no type has */
    const uint32_t tvals[] = {0xffffffffu, 0x80000000u, 13, 40, 1000};
    for (size_t k = 0; k < m.n; k++) {
        const field *f = &m.f[k];
        if (f->kind != F_VTYPE && f->kind != F_ATYPE && f->kind != F_GTYPE && f->kind != F_NDIMS) continue;
        for (size_t v = 0; v < sizeof tvals / sizeof tvals[0]; v++) {
            if (f->kind == F_GTYPE && tvals[v] == 13) continue; /* 13 is q5_K: a valid ggml type */
            memcpy(c, b, n);
            put32(c, f->pos, tvals[v]);
            char what[128];
            snprintf(what, sizeof what, "type field kind %d at %zu = %u", f->kind, f->pos, tvals[v]);
            expect_fail(what, c, n);
        }
    }
    free(c);
    free(m.f);
    free(b);
}
END_TEST

/* (c) targeted corruptions, each with the error it must produce. */
START_TEST(test_targeted) {
    size_t n;
    unsigned char *b = sample(&n);
    fmap m = walk(b);
    unsigned char *c = malloc(n + 64);
#define RESET() memcpy(c, b, n)

    /* magic */
    for (int k = 0; k < 4; k++) {
        RESET();
        c[k] ^= 0x20;
        expect_fail_code("bad magic", c, n, GRAFT_E_FORMAT, "not a GGUF file");
    }
    /* versions */
    RESET(); put32(c, 4, 1); expect_fail_code("version 1", c, n, GRAFT_E_UNSUPPORTED, "unsupported GGUF version 1");
    RESET(); put32(c, 4, 0); expect_fail_code("version 0", c, n, GRAFT_E_UNSUPPORTED, "unsupported GGUF version 0");
    RESET(); put32(c, 4, 4); expect_fail_code("version 4", c, n, GRAFT_E_UNSUPPORTED, "unsupported GGUF version 4");
    RESET(); put32(c, 4, 0x03000000u); expect_fail_code("big-endian", c, n, GRAFT_E_UNSUPPORTED, "big-endian");
    RESET(); put32(c, 4, 2);
    graft_error err;
    ck_assert_msg(try_open(c, n, &err) == 0, "version 2: %s", err.msg);

    /* value types */
    /* kv order: general.alignment, general.architecture, dup.a, dup.b, flag, big, pi, tok.scores,
     * tok.tokens, nested, nested.str */
    int64_t i_align = 0, i_dupa = 2, i_dupb = 3, i_flag = 4, i_big = 5, i_scores = 7, i_tokens = 8, i_nested = 9;
    RESET(); put32(c, find_field(&m, F_VTYPE, i_flag, 0)->pos, 13);
    expect_fail_code("unknown value type", c, n, GRAFT_E_FORMAT, "unknown value type 13");
    RESET(); put32(c, find_field(&m, F_ATYPE, i_scores, 0)->pos, 99);
    expect_fail_code("unknown array element type", c, n, GRAFT_E_FORMAT, "unknown array element type 99");
    RESET(); c[find_field(&m, F_SCALAR, i_flag, 0)->pos] = 2;
    expect_fail_code("bool 2", c, n, GRAFT_E_FORMAT, "bool");
    /* a value type changed to another of the same size stays valid (u32 -> i32) */
    RESET(); put32(c, find_field(&m, F_VTYPE, i_dupa, 0)->pos, GRAFT_GGUF_I32);
    ck_assert_msg(try_open(c, n, &err) == 0, "u32 -> i32: %s", err.msg);
    /* i64 -> string: the value's 8 bytes read as a length of 2^64-5 */
    RESET(); put32(c, find_field(&m, F_VTYPE, i_big, 0)->pos, GRAFT_GGUF_STRING);
    expect_fail_code("i64 as string", c, n, GRAFT_E_FORMAT, "big");

    /* alignment */
    const field *av = find_field(&m, F_SCALAR, i_align, 0);
    ck_assert_int_eq(av->size, 4);
    ck_assert_uint_eq(get32(b, av->pos), 32);
    RESET(); put32(c, av->pos, 0); expect_fail_code("alignment 0", c, n, GRAFT_E_FORMAT, "general.alignment is 0");
    RESET(); put32(c, av->pos, 3); expect_fail_code("alignment 3", c, n, GRAFT_E_FORMAT, "general.alignment is 3");
    RESET(); put32(c, av->pos, 0x80000001u); expect_fail("alignment 2^31+1", c, n);
    RESET(); put32(c, find_field(&m, F_VTYPE, i_align, 0)->pos, GRAFT_GGUF_I32);
    expect_fail_code("alignment as i32", c, n, GRAFT_E_FORMAT, "must be u32");
    /* alignment 16 and 64: valid layouts change, which the tensor offsets may or may not follow */
    RESET(); put32(c, av->pos, 1u << 20);
    expect_fail_code("alignment 1 MiB", c, n, GRAFT_E_FORMAT, NULL); /* data start moves past the end */

    /* keys */
    const field *kb = find_field(&m, F_KEY, i_dupb, 0); /* "dup.b" */
    RESET(); c[kb->pos + 4] = 'a';
    expect_fail_code("duplicate key", c, n, GRAFT_E_FORMAT, "duplicate key 'dup.a'");
    RESET(); c[kb->pos + 2] = 0;
    expect_fail_code("NUL in key", c, n, GRAFT_E_FORMAT, "NUL");
    RESET(); put64(c, find_field(&m, F_KEYLEN, i_dupb, 0)->pos, 0);
    expect_fail("empty key", c, n);

    /* tensors */
    const field *nm = find_field(&m, F_NAME, 1, 0); /* "t.b" */
    RESET(); c[nm->pos + 2] = 'a';
    expect_fail_code("duplicate tensor name", c, n, GRAFT_E_FORMAT, "duplicate tensor name 't.a'");
    RESET(); c[nm->pos + 1] = 0;
    expect_fail_code("NUL in tensor name", c, n, GRAFT_E_FORMAT, "NUL");
    RESET(); put32(c, find_field(&m, F_NDIMS, 0, 0)->pos, 0);
    expect_fail_code("n_dims 0", c, n, GRAFT_E_FORMAT, "0 dimensions");
    RESET(); put32(c, find_field(&m, F_NDIMS, 0, 0)->pos, 5);
    expect_fail_code("n_dims 5", c, n, GRAFT_E_FORMAT, "5 dimensions");
    RESET(); put32(c, find_field(&m, F_GTYPE, 0, 0)->pos, 40);
    expect_fail_code("unknown ggml type", c, n, GRAFT_E_FORMAT, "unknown ggml type 40");
    RESET(); put32(c, find_field(&m, F_GTYPE, 0, 0)->pos, 4);
    expect_fail_code("removed ggml type", c, n, GRAFT_E_UNSUPPORTED, "q4_2");
    RESET(); put32(c, find_field(&m, F_GTYPE, 0, 0)->pos, 31);
    expect_fail_code("removed ggml type 31", c, n, GRAFT_E_UNSUPPORTED, "q4_0_4_4");
    RESET(); put32(c, find_field(&m, F_GTYPE, 0, 0)->pos, GRAFT_TYPE_Q8_0); /* ne0 = 8 */
    expect_fail_code("ne0 not a block multiple", c, n, GRAFT_E_FORMAT, "block size 32");
    /* f32 -> i32: same sizes, still valid */
    RESET(); put32(c, find_field(&m, F_GTYPE, 0, 0)->pos, 26);
    ck_assert_msg(try_open(c, n, &err) == 0, "f32 -> i32: %s", err.msg);

    const field *off1 = find_field(&m, F_OFFSET, 1, 0), *off2 = find_field(&m, F_OFFSET, 2, 0);
    const field *off3 = find_field(&m, F_OFFSET, 3, 0);
    uint64_t o1 = get64(b, off1->pos), o3 = get64(b, off3->pos);
    ck_assert_uint_eq(o1, 64);
    RESET(); put64(c, off1->pos, o1 + 1);
    expect_fail_code("misaligned offset", c, n, GRAFT_E_FORMAT, "not a multiple of the alignment 32");
    RESET(); put64(c, off1->pos, o1 + 16);
    expect_fail_code("offset + 16", c, n, GRAFT_E_FORMAT, "alignment");
    RESET(); put64(c, off3->pos, o3 + 32);
    expect_fail_code("last tensor past the end", c, n, GRAFT_E_FORMAT, "extends past the end of the file");
    RESET(); put64(c, off1->pos, 0xffffffffffffffe0ULL);
    expect_fail_code("offset near 2^64", c, n, GRAFT_E_FORMAT, "extends past the end");
    RESET(); put64(c, off2->pos, o1);
    expect_fail_code("overlap (same offset)", c, n, GRAFT_E_FORMAT, "overlap");
    RESET(); put64(c, off2->pos, o1 + 32); /* t.b (68 bytes) at [96, 164), t.c at [160, 192) */
    expect_fail_code("overlap (inside)", c, n, GRAFT_E_FORMAT, "overlap");
    /* shape overflow: ne product beyond 64 bits, and byte size beyond 64 bits */
    const field *ne0 = find_field(&m, F_NE, 0, 0), *ne1 = find_field(&m, F_NE, 0, 1);
    RESET(); put64(c, ne0->pos, 1ULL << 40); put64(c, ne1->pos, 1ULL << 40);
    expect_fail_code("ne product overflow", c, n, GRAFT_E_FORMAT, "overflows");
    RESET(); put64(c, ne0->pos, 1ULL << 62); put64(c, ne1->pos, 1);
    expect_fail_code("byte size overflow", c, n, GRAFT_E_FORMAT, "overflows");
    RESET(); put64(c, ne0->pos, 1ULL << 63);
    expect_fail_code("negative ne", c, n, GRAFT_E_FORMAT, "negative");
    RESET(); put64(c, ne0->pos, 1ULL << 30); put64(c, ne1->pos, 1ULL << 30); /* 2^62 bytes: not in the file */
    expect_fail_code("huge tensor", c, n, GRAFT_E_FORMAT, "extends past the end");

    /* header counts: one kv or tensor fewer/more than present */
    RESET(); put64(c, 16, get64(b, 16) + 1); expect_fail("one kv more", c, n);
    RESET(); put64(c, 8, get64(b, 8) + 1); expect_fail("one tensor more", c, n);
    RESET(); put64(c, 16, get64(b, 16) - 1); expect_fail("one kv fewer", c, n);
    /* array counts one more / one fewer */
    RESET(); put64(c, find_field(&m, F_ACOUNT, i_tokens, 0)->pos, 6); expect_fail("tokens +1", c, n);
    RESET(); put64(c, find_field(&m, F_ACOUNT, i_nested, 0)->pos, 3); expect_fail("nested +1", c, n);
#undef RESET
    free(c);
    free(m.f);
    free(b);
}
END_TEST

/* Arrays nested 16 deep open; 17 deep are refused (and do not recurse without bound). */
START_TEST(test_nesting_depth) {
    for (int depth = 16; depth <= 17; depth++) {
        gguf_writer *w = gguf_writer_new();
        gguf_wval *v = gguf_wval_arr(GRAFT_GGUF_U8);
        for (int d = 1; d < depth; d++) {
            gguf_wval *up = gguf_wval_arr(GRAFT_GGUF_ARRAY);
            ck_assert_int_eq(gguf_wval_push_arr(up, v), 0);
            v = up;
        }
        ck_assert_int_eq(gguf_writer_add_val(w, "deep", v), 0);
        graft_error err;
        const char *p = tu_tmppath("deep.gguf");
        ck_assert_int_eq(gguf_writer_write(w, p, &err), 0);
        gguf_writer_free(w);
        size_t n;
        unsigned char *b = tu_read_file(p, &n);
        if (depth == 16) ck_assert_msg(try_open(b, n, &err) == 0, "%s", err.msg);
        else expect_fail_code("17 levels", b, n, GRAFT_E_FORMAT, "nested deeper than 16");
        free(b);
    }
    /* A file that is almost all array headers: count fits the file, nesting runs out of bytes. */
    size_t n = 24 + 8 + 1 + 4 + 12 * 100;
    unsigned char *b = calloc(1, n);
    memcpy(b, "GGUF", 4);
    put32(b, 4, 3);
    put64(b, 8, 0);
    put64(b, 16, 1);
    put64(b, 24, 1);
    b[32] = 'k';
    put32(b, 33, GRAFT_GGUF_ARRAY);
    for (size_t pos = 37; pos + 12 <= n; pos += 12) {
        put32(b, pos, GRAFT_GGUF_ARRAY);
        put64(b, pos + 4, 1);
    }
    expect_fail_code("100 levels", b, n, GRAFT_E_FORMAT, "nested deeper");
    free(b);
}
END_TEST

/* (d) seeded random mutations: 1-4 random bytes, sometimes a random u64 or u32 at a field. */
START_TEST(test_random_mutations) {
    size_t n;
    unsigned char *b = sample(&n);
    fmap m = walk(b);
    unsigned char *c = malloc(n);
    tu_rng r = {0x6775756673656564ULL};
    int failed = 0, opened = 0;
    for (int it = 0; it < 3000; it++) {
        memcpy(c, b, n);
        int kind = (int)(tu_next(&r) % 3);
        if (kind == 0) {
            int k = 1 + (int)(tu_next(&r) % 4);
            while (k--) c[tu_next(&r) % n] = (unsigned char)tu_next(&r);
        } else {
            const field *f = &m.f[tu_next(&r) % m.n];
            uint64_t v = tu_next(&r);
            if (tu_next(&r) % 2) v >>= tu_next(&r) % 64; /* small values too */
            if (f->size == 8) put64(c, f->pos, v);
            else if (f->size == 4) put32(c, f->pos, (uint32_t)v);
            else if (f->size > 0) c[f->pos + tu_next(&r) % (uint64_t)f->size] = (unsigned char)v;
        }
        graft_error err;
        int rc = try_open(c, n, &err);
        if (rc == GRAFT_OK) {
            opened++;
            continue;
        }
        failed++;
        if (rc != GRAFT_E_FORMAT && rc != GRAFT_E_UNSUPPORTED) ck_abort_msg("mutation %d: code %d: %s", it, rc, err.msg);
        if (!strstr(err.msg, cpath())) ck_abort_msg("mutation %d: message without the file name: %s", it, err.msg);
    }
    /* most mutations land in metadata (the file is mostly header) and must be caught */
    ck_assert_int_gt(failed, 1500);
    fprintf(stderr, "gguf_corrupt: random mutations: %d rejected, %d still valid\n", failed, opened);
    free(c);
    free(m.f);
    free(b);
}
END_TEST

/* The same over a real llama.cpp file: its header counts, array counts, key lengths and some string
 * lengths overwritten, then truncations near its end and of its first 64 KiB at a stride. One
 * copy is patched in place and cut shorter and shorter, to keep the disk traffic small. */
START_TEST(test_real_vocab) {
    const char *src = tu_shared("vocab/ggml-vocab-llama-spm.gguf");
    if (!src) return;
    size_t n;
    unsigned char *b = tu_read_file(src, &n);
    ck_assert_ptr_nonnull(b);
    fmap m = walk(b);
    ck_assert_uint_eq(m.tensor_info_end, n); /* no tensors, no padding: the file ends there */
    char path[512];
    snprintf(path, sizeof path, "%s", tu_tmppath("llama-spm-copy.gguf"));
    write_bytes(path, b, n);
    int fd = open(path, O_RDWR);
    ck_assert_int_ge(fd, 0);
    const uint64_t vals[] = {UINT64_MAX, 1ULL << 63, 1ULL << 32, (uint64_t)n + 1, 0};
    int strlens = 0;
    for (size_t k = 0; k < m.n; k++) {
        const field *f = &m.f[k];
        int pick = f->kind == F_NT || f->kind == F_NKV || f->kind == F_ACOUNT || f->kind == F_KEYLEN ||
                   (f->kind == F_STRLEN && (strlens++ < 12 || strlens % 4000 == 0));
        if (!pick) continue;
        for (size_t v = 0; v < sizeof vals / sizeof vals[0]; v++) {
            if (get64(b, f->pos) == vals[v]) continue;
            if (pwrite(fd, &vals[v], 8, (off_t)f->pos) != 8) ck_abort_msg("pwrite");
            char what[96];
            snprintf(what, sizeof what, "llama-spm field kind %d at %zu = %llu", f->kind, f->pos,
                     (unsigned long long)vals[v]);
            expect_fail_path(what, path, 0, NULL);
            if (pwrite(fd, b + f->pos, 8, (off_t)f->pos) != 8) ck_abort_msg("pwrite");
        }
    }
    graft_error err;
    graft_gguf *g;
    ck_assert_msg(graft_gguf_open(path, &g, &err) == 0, "restored copy: %s", err.msg);
    graft_gguf_close(g);
    /* truncations, longest first */
    const size_t ends[] = {n - 1, n - 8, n - 100000, n / 2};
    for (int k = 0; k < 4; k++) {
        ck_assert_int_eq(ftruncate(fd, (off_t)ends[k]), 0);
        expect_fail_path("llama-spm truncated near the end", path, 0, NULL);
    }
    size_t start = n < 65536 ? n - 1 : 65536;
    for (size_t len = start + 1; len-- > 0;) {
        if (len >= 64 && len % 61) continue;
        if (ftruncate(fd, (off_t)len) != 0) ck_abort_msg("ftruncate");
        char what[64];
        snprintf(what, sizeof what, "llama-spm truncated to %zu", len);
        expect_fail_path(what, path, 0, NULL);
    }
    close(fd);
    free(m.f);
    free(b);
}
END_TEST

Suite *suite_gguf_corrupt(void) {
    Suite *s = suite_create("gguf_corrupt");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, test_truncate_every_length);
    tcase_add_test(tc, test_count_fields);
    tcase_add_test(tc, test_targeted);
    tcase_add_test(tc, test_nesting_depth);
    tcase_add_test(tc, test_random_mutations);
    tcase_add_test(tc, test_real_vocab);
    suite_add_tcase(s, tc);
    return s;
}
