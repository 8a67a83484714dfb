/* gguf_query.c - answers from an opened GGUF handle (gguf.c builds it): header facts, keys and
 * values, array elements, tensor infos, typed getters. All O(1) or O(log n), all safe with any
 * argument: a bad index or handle gives type -1 / NULL / -1, never a read outside the mapping. */
#include <float.h>
#include <math.h>
#include <string.h>

#include "error.h"
#include "gguf_impl.h"
#include "graft.h"

const char *graft_gguf_path(const graft_gguf *g) { return g ? g->path : NULL; }
uint32_t graft_gguf_version(const graft_gguf *g) { return g ? g->version : 0; }
uint32_t graft_gguf_alignment(const graft_gguf *g) { return g ? g->alignment : 0; }
size_t graft_gguf_file_size(const graft_gguf *g) { return g ? g->size : 0; }
size_t graft_gguf_data_offset(const graft_gguf *g) { return g ? g->data_off : 0; }
int64_t graft_gguf_n_kv(const graft_gguf *g) { return g ? g->n_kv : 0; }
int64_t graft_gguf_n_tensors(const graft_gguf *g) { return g ? g->n_tensors : 0; }

const char *graft_gguf_kv_key(const graft_gguf *g, int64_t i) {
    return g && i >= 0 && i < g->n_kv ? g->kv[i].key : NULL;
}

static int64_t find_ix(const name_ix *ix, int64_t n, const char *s) {
    if (!s) return -1;
    int64_t lo = 0, hi = n;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(ix[mid].s, s);
        if (c == 0) return ix[mid].i;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}

int64_t graft_gguf_find_kv(const graft_gguf *g, const char *key) { return g ? find_ix(g->kv_ix, g->n_kv, key) : -1; }

int64_t graft_gguf_find_tensor(const graft_gguf *g, const char *name) {
    return g ? find_ix(g->t_ix, g->n_tensors, name) : -1;
}

static graft_gguf_value none(void) { return (graft_gguf_value){.type = -1, .arr_type = -1}; }

/* The value of `type` whose bytes start at p (validated at open). */
static graft_gguf_value decode(int type, const unsigned char *p, const arr_desc *arr) {
    graft_gguf_value v = none();
    v.type = type;
    switch (type) {
    case GRAFT_GGUF_U8: v.u = p[0]; break;
    case GRAFT_GGUF_I8: v.i = (int8_t)p[0]; break;
    case GRAFT_GGUF_BOOL: v.u = p[0]; break;
    case GRAFT_GGUF_U16: { uint16_t x; memcpy(&x, p, 2); v.u = x; break; }
    case GRAFT_GGUF_I16: { int16_t x; memcpy(&x, p, 2); v.i = x; break; }
    case GRAFT_GGUF_U32: v.u = gguf_rd32(p); break;
    case GRAFT_GGUF_I32: { int32_t x; memcpy(&x, p, 4); v.i = x; break; }
    case GRAFT_GGUF_F32: { float x; memcpy(&x, p, 4); v.f = x; break; }
    case GRAFT_GGUF_U64: v.u = gguf_rd64(p); break;
    case GRAFT_GGUF_I64: { int64_t x; memcpy(&x, p, 8); v.i = x; break; }
    case GRAFT_GGUF_F64: { double x; memcpy(&x, p, 8); v.f = x; break; }
    case GRAFT_GGUF_STRING:
        v.len = gguf_rd64(p);
        v.str = (const char *)p + 8;
        break;
    case GRAFT_GGUF_ARRAY:
        v.arr_type = arr->elem_type;
        v.arr_n = arr->n;
        v.handle = arr;
        break;
    default: return none();
    }
    return v;
}

graft_gguf_value graft_gguf_kv_value(const graft_gguf *g, int64_t i) {
    if (!g || i < 0 || i >= g->n_kv) return none();
    return decode(g->kv[i].type, g->kv[i].val, g->kv[i].arr);
}

/* The array descriptor behind a value, when it is one of g's. */
static const arr_desc *desc_of(const graft_gguf *g, const graft_gguf_value *arr) {
    if (!g || !arr || arr->type != GRAFT_GGUF_ARRAY || !arr->handle) return NULL;
    const arr_desc *d = arr->handle;
    if (d < g->descs || d >= g->descs + g->n_desc) return NULL;
    return d;
}

graft_gguf_value graft_gguf_arr_get(const graft_gguf *g, const graft_gguf_value *arr, uint64_t j) {
    const arr_desc *d = desc_of(g, arr);
    if (!d || j >= d->n) return none();
    int esz = gguf_scalar_size(d->elem_type);
    if (esz) return decode(d->elem_type, d->data + j * (uint64_t)esz, NULL);
    if (d->elem_type == GRAFT_GGUF_STRING) return decode(GRAFT_GGUF_STRING, d->data + d->offs[j], NULL);
    return decode(GRAFT_GGUF_ARRAY, NULL, &d->sub[j]);
}

const void *graft_gguf_arr_data(const graft_gguf *g, const graft_gguf_value *arr) {
    const arr_desc *d = desc_of(g, arr);
    return d && gguf_scalar_size(d->elem_type) ? d->data : NULL;
}

graft_gguf_tensor graft_gguf_tensor_info(const graft_gguf *g, int64_t i) {
    if (!g || i < 0 || i >= g->n_tensors) return (graft_gguf_tensor){.type = -1};
    return g->tensors[i];
}

/* ================================================================================================
 * Typed getters
 * ============================================================================================= */

static int lookup(const graft_gguf *g, const char *key, graft_gguf_value *v, graft_error *err) {
    if (!g || !key) return graft_error_set(err, GRAFT_E_INVALID, "graft_gguf_get: NULL argument");
    int64_t i = graft_gguf_find_kv(g, key);
    if (i < 0) return graft_error_set(err, GRAFT_E_NOTFOUND, "%s: key '%s' not found", g->path, key);
    *v = graft_gguf_kv_value(g, i);
    return GRAFT_OK;
}

static int wrong_type(const graft_gguf *g, const char *key, const graft_gguf_value *v, const char *want,
                      graft_error *err) {
    return graft_error_set(err, GRAFT_E_FORMAT, "%s: key '%s' has type %s, expected %s", g->path, key,
                           graft_gguf_type_name(v->type), want);
}

static int is_unsigned(int t) {
    return t == GRAFT_GGUF_U8 || t == GRAFT_GGUF_U16 || t == GRAFT_GGUF_U32 || t == GRAFT_GGUF_U64;
}

static int is_signed(int t) {
    return t == GRAFT_GGUF_I8 || t == GRAFT_GGUF_I16 || t == GRAFT_GGUF_I32 || t == GRAFT_GGUF_I64;
}

int graft_gguf_get_u32(const graft_gguf *g, const char *key, uint32_t *out, graft_error *err) {
    graft_gguf_value v;
    int rc = lookup(g, key, &v, err);
    if (rc) return rc;
    if (!is_unsigned(v.type) && !is_signed(v.type)) return wrong_type(g, key, &v, "an integer", err);
    if (is_unsigned(v.type) && v.u > UINT32_MAX)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: key '%s': value %llu does not fit in u32", g->path, key,
                               (unsigned long long)v.u);
    if (is_signed(v.type) && (v.i < 0 || v.i > (int64_t)UINT32_MAX))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: key '%s': value %lld does not fit in u32", g->path, key,
                               (long long)v.i);
    *out = is_unsigned(v.type) ? (uint32_t)v.u : (uint32_t)v.i;
    return GRAFT_OK;
}

int graft_gguf_get_i64(const graft_gguf *g, const char *key, int64_t *out, graft_error *err) {
    graft_gguf_value v;
    int rc = lookup(g, key, &v, err);
    if (rc) return rc;
    if (!is_unsigned(v.type) && !is_signed(v.type)) return wrong_type(g, key, &v, "an integer", err);
    if (is_unsigned(v.type) && v.u > (uint64_t)INT64_MAX)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: key '%s': value %llu does not fit in i64", g->path, key,
                               (unsigned long long)v.u);
    *out = is_unsigned(v.type) ? (int64_t)v.u : v.i;
    return GRAFT_OK;
}

int graft_gguf_get_f32(const graft_gguf *g, const char *key, float *out, graft_error *err) {
    graft_gguf_value v;
    int rc = lookup(g, key, &v, err);
    if (rc) return rc;
    if (v.type != GRAFT_GGUF_F32 && v.type != GRAFT_GGUF_F64) return wrong_type(g, key, &v, "f32 or f64", err);
    if (isfinite(v.f) && fabs(v.f) > FLT_MAX)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: key '%s': value %g does not fit in f32", g->path, key, v.f);
    *out = (float)v.f;
    return GRAFT_OK;
}

int graft_gguf_get_bool(const graft_gguf *g, const char *key, int *out, graft_error *err) {
    graft_gguf_value v;
    int rc = lookup(g, key, &v, err);
    if (rc) return rc;
    if (v.type != GRAFT_GGUF_BOOL) return wrong_type(g, key, &v, "bool", err);
    *out = (int)v.u;
    return GRAFT_OK;
}

int graft_gguf_get_str(const graft_gguf *g, const char *key, const char **s, size_t *len, graft_error *err) {
    graft_gguf_value v;
    int rc = lookup(g, key, &v, err);
    if (rc) return rc;
    if (v.type != GRAFT_GGUF_STRING) return wrong_type(g, key, &v, "string", err);
    if (s) *s = v.str;
    if (len) *len = (size_t)v.len;
    return GRAFT_OK;
}

int graft_gguf_get_arr(const graft_gguf *g, const char *key, int elem_type, graft_gguf_value *out,
                       graft_error *err) {
    graft_gguf_value v;
    int rc = lookup(g, key, &v, err);
    if (rc) return rc;
    if (v.type != GRAFT_GGUF_ARRAY) return wrong_type(g, key, &v, "array", err);
    if (elem_type >= 0 && v.arr_type != elem_type)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: key '%s' is an array of %s, expected an array of %s",
                               g->path, key, graft_gguf_type_name(v.arr_type),
                               graft_gguf_type_name(elem_type) ? graft_gguf_type_name(elem_type) : "?");
    if (out) *out = v;
    return GRAFT_OK;
}
