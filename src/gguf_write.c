/* gguf_write.c - the GGUF writer (see gguf_write.h): key/values are serialized as they are added,
 * tensors are recorded (copied, referenced or streamed) and laid out at write time, each at the
 * next multiple of the alignment in the data section. Writes to path.tmp, then renames. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gguf_write.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the GGUF writer stores native values as little-endian bytes: it needs a little-endian host"
#endif

typedef struct buf {
    unsigned char *p;
    size_t n, cap;
} buf;

static int buf_put(buf *b, const void *d, size_t n) {
    if (n > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap - b->n < n) {
            if (cap > SIZE_MAX / 2) return GRAFT_E_NOMEM;
            cap *= 2;
        }
        unsigned char *p = realloc(b->p, cap);
        if (!p) return GRAFT_E_NOMEM;
        b->p = p;
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, d, n);
    b->n += n;
    return 0;
}

static int buf_u32(buf *b, uint32_t v) { return buf_put(b, &v, 4); }
static int buf_u64(buf *b, uint64_t v) { return buf_put(b, &v, 8); }

static int buf_str(buf *b, const char *s, size_t len) {
    int rc = buf_u64(b, len);
    return rc ? rc : buf_put(b, s, len);
}

struct gguf_wval {
    int elem_type;
    uint64_t n;
    buf b; /* the elements, serialized */
};

typedef struct wkv {
    char *key;
    int type;
    buf val; /* the value, serialized (without its type) */
} wkv;

typedef struct wtensor {
    char *name;
    int type, n_dims;
    int64_t ne[4];
    size_t nbytes;
    const void *data;
    void *owned; /* copied data */
    gguf_stream_fn fn;
    void *ctx;
} wtensor;

struct gguf_writer {
    uint32_t version, alignment;
    wkv *kv;
    size_t n_kv, cap_kv;
    wtensor *t;
    size_t n_t, cap_t;
    int rc;            /* first error of the add_* calls */
    graft_error err;
};

struct gguf_stream {
    FILE *f;
    const char *path, *name;
    size_t left;
    graft_error *err;
};

static int elem_size(int type) { return graft_gguf_value_size(type); }

/* Records the first failure of an add_* call and returns its code. */
__attribute__((format(printf, 3, 4))) static int fail(gguf_writer *w, int code, const char *fmt, ...) {
    if (w && !w->rc) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(w->err.msg, sizeof w->err.msg, fmt, ap);
        va_end(ap);
        w->err.code = code;
        w->rc = code;
    }
    return code;
}

gguf_writer *gguf_writer_new(void) {
    gguf_writer *w = calloc(1, sizeof *w);
    if (!w) return NULL;
    w->version = 3;
    w->alignment = 32;
    return w;
}

void gguf_writer_free(gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) {
        free(w->kv[i].key);
        free(w->kv[i].val.p);
    }
    for (size_t i = 0; i < w->n_t; i++) {
        free(w->t[i].name);
        free(w->t[i].owned);
    }
    free(w->kv);
    free(w->t);
    free(w);
}

int gguf_writer_set_version(gguf_writer *w, uint32_t version) {
    if (!w) return GRAFT_E_INVALID;
    if (version != 2 && version != 3) return fail(w, GRAFT_E_INVALID, "gguf writer: version must be 2 or 3");
    w->version = version;
    return 0;
}

/* ---- metadata ---------------------------------------------------------------------------- */

static wkv *find_kv(gguf_writer *w, const char *key) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) return &w->kv[i];
    return NULL;
}

/* Adds key with an already serialized value (taking val's memory, also on failure). */
static int add_kv(gguf_writer *w, const char *key, int type, buf *val, int at_front) {
    int rc = GRAFT_E_INVALID;
    if (!w) goto out;
    if (!key || !*key) {
        rc = fail(w, GRAFT_E_INVALID, "gguf writer: empty key");
        goto out;
    }
    if (find_kv(w, key)) {
        rc = fail(w, GRAFT_E_INVALID, "gguf writer: duplicate key '%s'", key);
        goto out;
    }
    if (!strcmp(key, "general.alignment")) {
        uint32_t a = 0;
        if (type == GRAFT_GGUF_U32) memcpy(&a, val->p, 4);
        if (type != GRAFT_GGUF_U32 || a == 0 || (a & (a - 1))) {
            rc = fail(w, GRAFT_E_INVALID, "gguf writer: %s must be a u32 power of two", key);
            goto out;
        }
        w->alignment = a;
    }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? 2 * w->cap_kv : 16;
        wkv *p = realloc(w->kv, cap * sizeof *p);
        if (!p) goto nomem;
        w->kv = p;
        w->cap_kv = cap;
    }
    char *k = strdup(key);
    if (!k) goto nomem;
    if (at_front) memmove(w->kv + 1, w->kv, w->n_kv * sizeof *w->kv);
    w->kv[at_front ? 0 : w->n_kv] = (wkv){k, type, *val};
    w->n_kv++;
    return 0;
nomem:
    rc = fail(w, GRAFT_E_NOMEM, "gguf writer: out of memory adding key '%s'", key);
out:
    free(val->p);
    return rc;
}

static int add_scalar(gguf_writer *w, const char *key, int type, const void *v) {
    buf b = {0};
    if (buf_put(&b, v, (size_t)elem_size(type))) return fail(w, GRAFT_E_NOMEM, "gguf writer: out of memory");
    return add_kv(w, key, type, &b, 0);
}

int gguf_writer_add_u8(gguf_writer *w, const char *key, uint8_t v) { return add_scalar(w, key, GRAFT_GGUF_U8, &v); }
int gguf_writer_add_i8(gguf_writer *w, const char *key, int8_t v) { return add_scalar(w, key, GRAFT_GGUF_I8, &v); }
int gguf_writer_add_u16(gguf_writer *w, const char *key, uint16_t v) { return add_scalar(w, key, GRAFT_GGUF_U16, &v); }
int gguf_writer_add_i16(gguf_writer *w, const char *key, int16_t v) { return add_scalar(w, key, GRAFT_GGUF_I16, &v); }
int gguf_writer_add_u32(gguf_writer *w, const char *key, uint32_t v) { return add_scalar(w, key, GRAFT_GGUF_U32, &v); }
int gguf_writer_add_i32(gguf_writer *w, const char *key, int32_t v) { return add_scalar(w, key, GRAFT_GGUF_I32, &v); }
int gguf_writer_add_u64(gguf_writer *w, const char *key, uint64_t v) { return add_scalar(w, key, GRAFT_GGUF_U64, &v); }
int gguf_writer_add_i64(gguf_writer *w, const char *key, int64_t v) { return add_scalar(w, key, GRAFT_GGUF_I64, &v); }
int gguf_writer_add_f32(gguf_writer *w, const char *key, float v) { return add_scalar(w, key, GRAFT_GGUF_F32, &v); }
int gguf_writer_add_f64(gguf_writer *w, const char *key, double v) { return add_scalar(w, key, GRAFT_GGUF_F64, &v); }

int gguf_writer_add_bool(gguf_writer *w, const char *key, int v) {
    uint8_t b = v != 0;
    return add_scalar(w, key, GRAFT_GGUF_BOOL, &b);
}

int gguf_writer_add_str(gguf_writer *w, const char *key, const char *s, size_t len) {
    buf b = {0};
    if (!s && len) return fail(w, GRAFT_E_INVALID, "gguf writer: NULL string for key '%s'", key);
    if (buf_str(&b, s, len)) {
        free(b.p);
        return fail(w, GRAFT_E_NOMEM, "gguf writer: out of memory");
    }
    return add_kv(w, key, GRAFT_GGUF_STRING, &b, 0);
}

int gguf_writer_set_alignment(gguf_writer *w, uint32_t alignment) {
    if (!w) return GRAFT_E_INVALID;
    if (alignment == 0 || (alignment & (alignment - 1)))
        return fail(w, GRAFT_E_INVALID, "gguf writer: alignment must be a non-zero power of two");
    wkv *kv = find_kv(w, "general.alignment");
    if (kv) {
        memcpy(kv->val.p, &alignment, 4);
        w->alignment = alignment;
        return 0;
    }
    buf b = {0};
    if (buf_u32(&b, alignment)) return fail(w, GRAFT_E_NOMEM, "gguf writer: out of memory");
    return add_kv(w, "general.alignment", GRAFT_GGUF_U32, &b, 1);
}

gguf_wval *gguf_wval_arr(int elem_type) {
    if (!graft_gguf_type_name(elem_type)) return NULL;
    gguf_wval *v = calloc(1, sizeof *v);
    if (v) v->elem_type = elem_type;
    return v;
}

void gguf_wval_free(gguf_wval *v) {
    if (!v) return;
    free(v->b.p);
    free(v);
}

int gguf_wval_push(gguf_wval *arr, const void *elem) {
    if (!arr || !elem || !elem_size(arr->elem_type)) return GRAFT_E_INVALID;
    if (arr->elem_type == GRAFT_GGUF_BOOL && *(const uint8_t *)elem > 1) return GRAFT_E_INVALID;
    if (buf_put(&arr->b, elem, (size_t)elem_size(arr->elem_type))) return GRAFT_E_NOMEM;
    arr->n++;
    return 0;
}

int gguf_wval_push_str(gguf_wval *arr, const char *s, size_t len) {
    if (!arr || arr->elem_type != GRAFT_GGUF_STRING || (!s && len)) return GRAFT_E_INVALID;
    size_t n0 = arr->b.n;
    if (buf_str(&arr->b, s, len)) {
        arr->b.n = n0;
        return GRAFT_E_NOMEM;
    }
    arr->n++;
    return 0;
}

/* The array's serialized form: element type, count, elements. */
static int wval_bytes(buf *out, const gguf_wval *v) {
    int rc = buf_u32(out, (uint32_t)v->elem_type);
    if (!rc) rc = buf_u64(out, v->n);
    if (!rc) rc = buf_put(out, v->b.p, v->b.n);
    return rc;
}

int gguf_wval_push_arr(gguf_wval *arr, gguf_wval *sub) {
    int rc = GRAFT_E_INVALID;
    if (arr && sub && arr->elem_type == GRAFT_GGUF_ARRAY) {
        size_t n0 = arr->b.n;
        rc = wval_bytes(&arr->b, sub);
        if (rc) arr->b.n = n0;
        else arr->n++;
    }
    gguf_wval_free(sub);
    return rc;
}

int gguf_writer_add_val(gguf_writer *w, const char *key, gguf_wval *arr) {
    buf b = {0};
    int rc;
    if (!arr) rc = fail(w, GRAFT_E_INVALID, "gguf writer: NULL array for key '%s'", key);
    else if (wval_bytes(&b, arr)) rc = fail(w, GRAFT_E_NOMEM, "gguf writer: out of memory");
    else rc = add_kv(w, key, GRAFT_GGUF_ARRAY, &b, 0);
    if (rc) free(b.p);
    gguf_wval_free(arr);
    return rc;
}

int gguf_writer_add_arr(gguf_writer *w, const char *key, int elem_type, const void *data, uint64_t n) {
    int esz = elem_size(elem_type);
    if (!esz || (!data && n) || n > SIZE_MAX / (uint64_t)esz)
        return fail(w, GRAFT_E_INVALID, "gguf writer: bad numeric array for key '%s'", key);
    if (elem_type == GRAFT_GGUF_BOOL)
        for (uint64_t j = 0; j < n; j++)
            if (((const uint8_t *)data)[j] > 1)
                return fail(w, GRAFT_E_INVALID, "gguf writer: bool array '%s' holds a value other than 0/1", key);
    buf b = {0};
    if (buf_u32(&b, (uint32_t)elem_type) || buf_u64(&b, n) || buf_put(&b, data, (size_t)n * (size_t)esz)) {
        free(b.p);
        return fail(w, GRAFT_E_NOMEM, "gguf writer: out of memory");
    }
    return add_kv(w, key, GRAFT_GGUF_ARRAY, &b, 0);
}

int gguf_writer_add_arr_str(gguf_writer *w, const char *key, const char *const *strs, const size_t *lens,
                            uint64_t n) {
    if (!strs && n) return fail(w, GRAFT_E_INVALID, "gguf writer: NULL strings for key '%s'", key);
    buf b = {0};
    int rc = buf_u32(&b, GRAFT_GGUF_STRING) || buf_u64(&b, n);
    for (uint64_t j = 0; j < n && !rc; j++) {
        if (!strs[j] && (!lens || lens[j])) {
            free(b.p);
            return fail(w, GRAFT_E_INVALID, "gguf writer: NULL string in array '%s'", key);
        }
        rc = buf_str(&b, strs[j], lens ? lens[j] : strlen(strs[j]));
    }
    if (rc) {
        free(b.p);
        return fail(w, GRAFT_E_NOMEM, "gguf writer: out of memory");
    }
    return add_kv(w, key, GRAFT_GGUF_ARRAY, &b, 0);
}

/* ---- tensors ----------------------------------------------------------------------------- */

/* Checks name, type and shape and returns the byte size in *nbytes. */
static int check_tensor(gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne, size_t *nbytes) {
    if (!name || !*name) return fail(w, GRAFT_E_INVALID, "gguf writer: empty tensor name");
    for (size_t i = 0; i < w->n_t; i++)
        if (!strcmp(w->t[i].name, name)) return fail(w, GRAFT_E_INVALID, "gguf writer: duplicate tensor '%s'", name);
    int64_t bs = graft_ggml_type_block_size(type), bb = graft_ggml_type_block_bytes(type);
    if (!bs) return fail(w, GRAFT_E_INVALID, "gguf writer: tensor '%s': unknown or removed ggml type", name);
    if (n_dims < 1 || n_dims > 4 || !ne)
        return fail(w, GRAFT_E_INVALID, "gguf writer: tensor '%s' must have 1 to 4 dimensions", name);
    uint64_t nb;
    int bad = ne[0] < 0 || ne[0] % bs || __builtin_mul_overflow((uint64_t)(ne[0] / bs), (uint64_t)bb, &nb);
    for (int d = 1; d < n_dims && !bad; d++) bad = ne[d] < 0 || __builtin_mul_overflow(nb, (uint64_t)ne[d], &nb);
    if (bad || nb > SIZE_MAX)
        return fail(w, GRAFT_E_INVALID, "gguf writer: tensor '%s': bad shape for type %s", name, graft_ggml_type_name(type));
    *nbytes = (size_t)nb;
    return 0;
}

static int push_tensor(gguf_writer *w, wtensor *t, const char *name, int n_dims, const int64_t *ne) {
    if (w->n_t == w->cap_t) {
        size_t cap = w->cap_t ? 2 * w->cap_t : 16;
        wtensor *p = realloc(w->t, cap * sizeof *p);
        if (!p) return fail(w, GRAFT_E_NOMEM, "gguf writer: out of memory");
        w->t = p;
        w->cap_t = cap;
    }
    t->name = strdup(name);
    if (!t->name) return fail(w, GRAFT_E_NOMEM, "gguf writer: out of memory");
    t->n_dims = n_dims;
    for (int d = 0; d < 4; d++) t->ne[d] = d < n_dims ? ne[d] : 1;
    w->t[w->n_t++] = *t;
    return 0;
}

int gguf_writer_add_tensor(gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                           const void *data, size_t nbytes, int flags) {
    if (!w) return GRAFT_E_INVALID;
    size_t want;
    int rc = check_tensor(w, name, type, n_dims, ne, &want);
    if (rc) return rc;
    if (nbytes != want || (!data && nbytes))
        return fail(w, GRAFT_E_INVALID, "gguf writer: tensor '%s': %zu bytes given, its type and shape make %zu",
                    name, nbytes, want);
    wtensor t = {.type = type, .nbytes = nbytes, .data = data};
    if ((flags & GGUF_W_COPY) && nbytes) {
        t.owned = malloc(nbytes);
        if (!t.owned) return fail(w, GRAFT_E_NOMEM, "gguf writer: out of memory copying tensor '%s'", name);
        memcpy(t.owned, data, nbytes);
        t.data = t.owned;
    }
    rc = push_tensor(w, &t, name, n_dims, ne);
    if (rc) free(t.owned);
    return rc;
}

int gguf_writer_add_tensor_stream(gguf_writer *w, const char *name, int type, int n_dims, const int64_t *ne,
                                  gguf_stream_fn fn, void *ctx) {
    if (!w) return GRAFT_E_INVALID;
    size_t nbytes;
    int rc = check_tensor(w, name, type, n_dims, ne, &nbytes);
    if (rc) return rc;
    if (!fn) return fail(w, GRAFT_E_INVALID, "gguf writer: tensor '%s': NULL stream function", name);
    wtensor t = {.type = type, .nbytes = nbytes, .fn = fn, .ctx = ctx};
    return push_tensor(w, &t, name, n_dims, ne);
}

int gguf_stream_write(gguf_stream *s, const void *data, size_t n) {
    if (!s) return GRAFT_E_INVALID;
    if (n > s->left)
        return graft_error_set(s->err, GRAFT_E_INVALID, "%s: tensor '%s': stream wrote %zu bytes more than its size",
                               s->path, s->name, n - s->left);
    if (n && fwrite(data, 1, n, s->f) != n)
        return graft_error_set(s->err, GRAFT_E_IO, "%s: write failed: %s", s->path, strerror(errno));
    s->left -= n;
    return 0;
}

graft_error *gguf_stream_error(gguf_stream *s) { return s ? s->err : NULL; }

/* ---- output ------------------------------------------------------------------------------ */

int gguf_writer_error(const gguf_writer *w, graft_error *err) {
    if (!w) return graft_error_set(err, GRAFT_E_INVALID, "gguf writer: NULL writer");
    if (w->rc && err) *err = w->err;
    return w->rc;
}

static int put(FILE *f, const void *d, size_t n) { return n && fwrite(d, 1, n, f) != n; }
static int put_u32(FILE *f, uint32_t v) { return put(f, &v, 4); }
static int put_u64(FILE *f, uint64_t v) { return put(f, &v, 8); }

static int put_zeros(FILE *f, uint64_t n) {
    static const unsigned char z[256];
    for (; n; ) {
        size_t k = n < sizeof z ? (size_t)n : sizeof z;
        if (put(f, z, k)) return 1;
        n -= k;
    }
    return 0;
}

static uint64_t align_up(uint64_t x, uint64_t a) { return (x + a - 1) / a * a; }

static int write_all(gguf_writer *w, FILE *f, const char *path, graft_error *err) {
    int e = put(f, "GGUF", 4) || put_u32(f, w->version) || put_u64(f, w->n_t) || put_u64(f, w->n_kv);
    uint64_t pos = 24;
    for (size_t i = 0; i < w->n_kv && !e; i++) {
        const wkv *kv = &w->kv[i];
        size_t kl = strlen(kv->key);
        e = put_u64(f, kl) || put(f, kv->key, kl) || put_u32(f, (uint32_t)kv->type) || put(f, kv->val.p, kv->val.n);
        pos += 8 + kl + 4 + kv->val.n;
    }
    uint64_t off = 0; /* from the data section's start */
    for (size_t i = 0; i < w->n_t && !e; i++) {
        const wtensor *t = &w->t[i];
        size_t nl = strlen(t->name);
        e = put_u64(f, nl) || put(f, t->name, nl) || put_u32(f, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims && !e; d++) e = put_u64(f, (uint64_t)t->ne[d]);
        e = e || put_u32(f, (uint32_t)t->type) || put_u64(f, off);
        pos += 8 + nl + 4 + 8 * (uint64_t)t->n_dims + 4 + 8;
        off = align_up(off + t->nbytes, w->alignment);
    }
    e = e || put_zeros(f, align_up(pos, w->alignment) - pos);
    if (e) return graft_error_set(err, GRAFT_E_IO, "%s: write failed: %s", path, strerror(errno));
    for (size_t i = 0; i < w->n_t; i++) {
        const wtensor *t = &w->t[i];
        if (t->fn) {
            gguf_stream s = {f, path, t->name, t->nbytes, err};
            int rc = t->fn(t->ctx, &s);
            if (rc) return rc;
            if (s.left)
                return graft_error_set(err, GRAFT_E_INVALID, "%s: tensor '%s': stream wrote %zu bytes too few",
                                       path, t->name, s.left);
        } else if (put(f, t->data, t->nbytes)) {
            return graft_error_set(err, GRAFT_E_IO, "%s: write failed: %s", path, strerror(errno));
        }
        if (put_zeros(f, align_up(t->nbytes, w->alignment) - t->nbytes))
            return graft_error_set(err, GRAFT_E_IO, "%s: write failed: %s", path, strerror(errno));
    }
    return 0;
}

/* The file's bytes up to the data section (header, key/values, tensor infos, padding) in one
 * malloc'd buffer, and each tensor's data pointer (streamed tensors: NULL) in a malloc'd array. */
int gguf_writer_header(const gguf_writer *w, unsigned char **out, size_t *size, const void ***data,
                       graft_error *err) {
    if (!w || !out || !size || !data) return graft_error_set(err, GRAFT_E_INVALID, "gguf writer: NULL argument");
    *out = NULL;
    *size = 0;
    *data = NULL;
    if (w->rc) {
        if (err) *err = w->err;
        return w->rc;
    }
    buf b = {0};
    int e = buf_put(&b, "GGUF", 4) || buf_u32(&b, w->version) || buf_u64(&b, w->n_t) || buf_u64(&b, w->n_kv);
    for (size_t i = 0; i < w->n_kv && !e; i++) {
        const wkv *kv = &w->kv[i];
        e = buf_str(&b, kv->key, strlen(kv->key)) || buf_u32(&b, (uint32_t)kv->type) ||
            buf_put(&b, kv->val.p, kv->val.n);
    }
    uint64_t off = 0;
    for (size_t i = 0; i < w->n_t && !e; i++) {
        const wtensor *t = &w->t[i];
        e = buf_str(&b, t->name, strlen(t->name)) || buf_u32(&b, (uint32_t)t->n_dims);
        for (int d = 0; d < t->n_dims && !e; d++) e = buf_u64(&b, (uint64_t)t->ne[d]);
        e = e || buf_u32(&b, (uint32_t)t->type) || buf_u64(&b, off);
        off = align_up(off + t->nbytes, w->alignment);
    }
    static const unsigned char z[64];
    while (!e && b.n % w->alignment) {
        size_t pad = w->alignment - b.n % w->alignment;
        e = buf_put(&b, z, pad < sizeof z ? pad : sizeof z);
    }
    const void **ptrs = malloc((w->n_t ? w->n_t : 1) * sizeof *ptrs);
    if (e || !ptrs) {
        free(b.p);
        free(ptrs);
        return graft_error_set(err, GRAFT_E_NOMEM, "gguf writer: out of memory");
    }
    for (size_t i = 0; i < w->n_t; i++) ptrs[i] = w->t[i].fn ? NULL : w->t[i].data;
    *out = b.p;
    *size = b.n;
    *data = ptrs;
    return 0;
}

int gguf_writer_write(gguf_writer *w, const char *path, graft_error *err) {
    if (!w || !path) return graft_error_set(err, GRAFT_E_INVALID, "gguf writer: NULL argument");
    if (w->rc) {
        if (err) *err = w->err;
        return w->rc;
    }
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 5);
    if (!tmp) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, pl);
    memcpy(tmp + pl, ".tmp", 5);
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int rc = graft_error_set(err, GRAFT_E_IO, "%s: cannot create: %s", tmp, strerror(errno));
        free(tmp);
        return rc;
    }
    setvbuf(f, NULL, _IOFBF, 1 << 20);
    int rc = write_all(w, f, path, err);
    if (fclose(f) != 0 && !rc) rc = graft_error_set(err, GRAFT_E_IO, "%s: write failed: %s", path, strerror(errno));
    if (!rc && rename(tmp, path) != 0)
        rc = graft_error_set(err, GRAFT_E_IO, "%s: cannot rename %s: %s", path, tmp, strerror(errno));
    if (rc) remove(tmp);
    free(tmp);
    return rc;
}
