/* gguf.c - the GGUF reader's open: maps a file read-only, validates its whole metadata and tensor
 * table, and builds the indexes the queries (gguf_query.c) answer from: keys and tensor names
 * sorted for binary search, per-array offset tables for arrays of strings, descriptors for nested
 * arrays. After open nothing is written, so a handle may be shared by threads. Layout and checks:
 * docs/formats.md, section GGUF. The ggml type table is in gguf_types.c. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "gguf_impl.h"
#include "graft.h"

#define GGUF_HEADER_BYTES 24  /* magic, version, tensor count, kv count */
#define GGUF_MIN_KV_BYTES 14  /* key length 8 + key >= 1 + value type 4 + value >= 1 */
#define GGUF_MIN_TI_BYTES 33  /* name length 8 + name >= 1 + n_dims 4 + ne 8 + type 4 + offset 8 */
#define GGUF_MAX_DEPTH 16     /* arrays nested deeper than this are refused */
#define GGUF_DEFAULT_ALIGNMENT 32

/* ================================================================================================
 * Parsing. parse_all runs twice over the same bytes: pass 0 validates the structure and counts what
 * the tables need; pass 1 (fill) stores into tables allocated to those counts, then checks what
 * needs the whole table (tensor ranges, overlaps, duplicates).
 * ============================================================================================= */

typedef struct parser {
    const unsigned char *b;
    size_t size, pos;
    const char *path;
    graft_error *err;
    int fill;
    graft_gguf *g;
    const void *const *ext_data; /* an in-memory view's tensor data (graft_gguf_open_image) */
    size_t n_desc, n_offs, n_names; /* counted in pass 0, used in pass 1 */
    char ctx[160];                  /* the item being read, for messages */
} parser;

static int need(parser *P, uint64_t n, const char *what) {
    if (n <= P->size - P->pos) return 0;
    return graft_error_set(P->err, GRAFT_E_FORMAT,
                           "%s: truncated: the %s of %s needs %llu bytes at offset %zu but the "
                           "file ends at %zu",
                           P->path, what, P->ctx, (unsigned long long)n, P->pos, P->size);
}

static int take_u32(parser *P, uint32_t *v, const char *what) {
    int rc = need(P, 4, what);
    if (rc) return rc;
    *v = gguf_rd32(P->b + P->pos);
    P->pos += 4;
    return 0;
}

static int take_u64(parser *P, uint64_t *v, const char *what) {
    int rc = need(P, 8, what);
    if (rc) return rc;
    *v = gguf_rd64(P->b + P->pos);
    P->pos += 8;
    return 0;
}

/* A GGUF string: u64 length, then that many bytes (no NUL). */
static int take_str(parser *P, const unsigned char **s, uint64_t *len, const char *what) {
    int rc = take_u64(P, len, what);
    if (rc) return rc;
    if (*len > P->size - P->pos)
        return graft_error_set(P->err, GRAFT_E_FORMAT,
                               "%s: the %s of %s claims %llu bytes at offset %zu but the file "
                               "ends at %zu",
                               P->path, what, P->ctx, (unsigned long long)*len, P->pos, P->size);
    *s = P->b + P->pos;
    P->pos += *len;
    return 0;
}

static int bad_bool(parser *P, size_t at) {
    return graft_error_set(P->err, GRAFT_E_FORMAT, "%s: bool value %u at offset %zu in %s (must be 0 or 1)",
                           P->path, P->b[at], at, P->ctx);
}

/* One value of `type` at P->pos. ARRAY values describe themselves into *slot (pass 1). */
static int parse_value(parser *P, int type, int depth, arr_desc *slot) {
    int sz = gguf_scalar_size(type), rc;
    if (sz) {
        if ((rc = need(P, (uint64_t)sz, "value"))) return rc;
        if (type == GRAFT_GGUF_BOOL && P->b[P->pos] > 1) return bad_bool(P, P->pos);
        P->pos += (size_t)sz;
        return 0;
    }
    if (type == GRAFT_GGUF_STRING) {
        const unsigned char *s;
        uint64_t len;
        return take_str(P, &s, &len, "string value");
    }
    if (depth >= GGUF_MAX_DEPTH)
        return graft_error_set(P->err, GRAFT_E_FORMAT, "%s: %s: arrays nested deeper than %d levels",
                               P->path, P->ctx, GGUF_MAX_DEPTH);
    uint32_t et;
    uint64_t n;
    if ((rc = take_u32(P, &et, "array element type"))) return rc;
    if (!graft_gguf_type_name((int)et))
        return graft_error_set(P->err, GRAFT_E_FORMAT, "%s: %s: unknown array element type %u at offset %zu",
                               P->path, P->ctx, et, P->pos - 4);
    if ((rc = take_u64(P, &n, "array count"))) return rc;
    int esz = gguf_scalar_size((int)et);
    uint64_t min = esz ? (uint64_t)esz : et == GRAFT_GGUF_STRING ? 8 : 12;
    if (n > (P->size - P->pos) / min)
        return graft_error_set(P->err, GRAFT_E_FORMAT,
                               "%s: %s: array of %llu %s elements (at least %llu bytes each) does "
                               "not fit in the %zu bytes left after offset %zu",
                               P->path, P->ctx, (unsigned long long)n, graft_gguf_type_name((int)et),
                               (unsigned long long)min, P->size - P->pos, P->pos);
    const unsigned char *data = P->b + P->pos;
    uint64_t *offs = NULL;
    arr_desc *sub = NULL;
    if (esz) {
        if (et == GRAFT_GGUF_BOOL)
            for (uint64_t j = 0; j < n; j++)
                if (data[j] > 1) return bad_bool(P, P->pos + j);
        P->pos += n * (uint64_t)esz;
    } else if (et == GRAFT_GGUF_STRING) {
        if (P->fill) offs = P->g->offs + P->n_offs;
        P->n_offs += n;
        for (uint64_t j = 0; j < n; j++) {
            const unsigned char *s;
            uint64_t len;
            if (offs) offs[j] = (uint64_t)(P->b + P->pos - data);
            if ((rc = take_str(P, &s, &len, "string element"))) return rc;
        }
    } else {
        if (P->fill) sub = P->g->descs + P->n_desc;
        P->n_desc += n;
        for (uint64_t j = 0; j < n; j++)
            if ((rc = parse_value(P, GRAFT_GGUF_ARRAY, depth + 1, sub ? &sub[j] : NULL))) return rc;
    }
    if (slot) *slot = (arr_desc){(int)et, n, data, offs, sub};
    return 0;
}

/* A key or tensor name: non-empty, no NUL byte (names are handed out as C strings). */
static int take_name(parser *P, const unsigned char **s, uint64_t *len, const char *what) {
    int rc = take_str(P, s, len, what);
    if (rc) return rc;
    if (*len == 0) return graft_error_set(P->err, GRAFT_E_FORMAT, "%s: %s has an empty %s", P->path, P->ctx, what);
    if (memchr(*s, 0, *len))
        return graft_error_set(P->err, GRAFT_E_FORMAT, "%s: the %s of %s contains a NUL byte", P->path, what,
                               P->ctx);
    return 0;
}

static char *store_name(parser *P, const unsigned char *s, uint64_t len) {
    char *dst = NULL;
    if (P->fill) {
        dst = P->g->names + P->n_names;
        memcpy(dst, s, len);
        dst[len] = 0;
    }
    P->n_names += len + 1;
    return dst;
}

static int checked_mul(uint64_t a, uint64_t b, uint64_t *out) { return __builtin_mul_overflow(a, b, out); }

static int parse_kvs(parser *P) {
    graft_gguf *g = P->g;
    uint32_t alignment = GGUF_DEFAULT_ALIGNMENT;
    int rc;
    for (int64_t i = 0; i < g->n_kv; i++) {
        const unsigned char *key;
        uint64_t klen;
        uint32_t type;
        snprintf(P->ctx, sizeof P->ctx, "key/value #%lld", (long long)i);
        if ((rc = take_name(P, &key, &klen, "key"))) return rc;
        snprintf(P->ctx, sizeof P->ctx, "key '%.*s'%s", klen > 96 ? 96 : (int)klen, (const char *)key,
                 klen > 96 ? "..." : "");
        if ((rc = take_u32(P, &type, "value type"))) return rc;
        if (!graft_gguf_type_name((int)type))
            return graft_error_set(P->err, GRAFT_E_FORMAT, "%s: %s has unknown value type %u", P->path, P->ctx,
                                   type);
        const unsigned char *val = P->b + P->pos;
        arr_desc *d = NULL;
        if (type == GRAFT_GGUF_ARRAY) {
            if (P->fill) d = g->descs + P->n_desc;
            P->n_desc++;
        }
        if ((rc = parse_value(P, (int)type, 0, d))) return rc;
        if (klen == 17 && !memcmp(key, "general.alignment", 17)) {
            if (type != GRAFT_GGUF_U32)
                return graft_error_set(P->err, GRAFT_E_FORMAT, "%s: general.alignment has type %s, must be u32",
                                       P->path, graft_gguf_type_name((int)type));
            alignment = gguf_rd32(val);
            if (alignment == 0 || (alignment & (alignment - 1)))
                return graft_error_set(P->err, GRAFT_E_FORMAT,
                                       "%s: general.alignment is %u, must be a non-zero power of two", P->path,
                                       alignment);
        }
        char *copy = store_name(P, key, klen);
        if (P->fill) g->kv[i] = (kv_rec){copy, (int)type, val, d};
    }
    g->alignment = alignment;
    return 0;
}

static int parse_tensor_infos(parser *P) {
    graft_gguf *g = P->g;
    int rc;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        const unsigned char *name;
        uint64_t nlen, ne[4] = {1, 1, 1, 1}, offset;
        uint32_t n_dims, type;
        snprintf(P->ctx, sizeof P->ctx, "tensor info #%lld", (long long)i);
        if ((rc = take_name(P, &name, &nlen, "name"))) return rc;
        snprintf(P->ctx, sizeof P->ctx, "tensor '%.*s'%s", nlen > 96 ? 96 : (int)nlen, (const char *)name,
                 nlen > 96 ? "..." : "");
        if ((rc = take_u32(P, &n_dims, "n_dims"))) return rc;
        if (n_dims < 1 || n_dims > 4)
            return graft_error_set(P->err, GRAFT_E_FORMAT, "%s: %s has %u dimensions (must be 1 to 4)", P->path,
                                   P->ctx, n_dims);
        for (uint32_t d = 0; d < n_dims; d++) {
            if ((rc = take_u64(P, &ne[d], "shape"))) return rc;
            if (ne[d] > (uint64_t)INT64_MAX)
                return graft_error_set(P->err, GRAFT_E_FORMAT, "%s: %s: ne[%u] = %llu is negative as int64",
                                       P->path, P->ctx, d, (unsigned long long)ne[d]);
        }
        if ((rc = take_u32(P, &type, "type"))) return rc;
        if ((rc = take_u64(P, &offset, "offset"))) return rc;
        const char *tname = graft_ggml_type_name((int)type);
        int64_t bs = graft_ggml_type_block_size((int)type), bb = graft_ggml_type_block_bytes((int)type);
        if (!tname)
            return graft_error_set(P->err, GRAFT_E_FORMAT, "%s: %s has unknown ggml type %u", P->path, P->ctx,
                                   type);
        if (!bs)
            return graft_error_set(P->err, GRAFT_E_UNSUPPORTED,
                                   "%s: %s has ggml type %u (%s), which ggml no longer supports in files",
                                   P->path, P->ctx, type, tname);
        if (ne[0] % (uint64_t)bs)
            return graft_error_set(P->err, GRAFT_E_FORMAT,
                                   "%s: %s: ne[0] = %llu is not a multiple of %s's block size %lld", P->path,
                                   P->ctx, (unsigned long long)ne[0], tname, (long long)bs);
        uint64_t nel, nbytes;
        int ovf = checked_mul(ne[0], ne[1], &nel) || checked_mul(nel, ne[2], &nel) ||
                  checked_mul(nel, ne[3], &nel) || nel > (uint64_t)INT64_MAX;
        ovf = ovf || checked_mul(ne[0] / (uint64_t)bs, (uint64_t)bb, &nbytes) ||
              checked_mul(nbytes, ne[1], &nbytes) || checked_mul(nbytes, ne[2], &nbytes) ||
              checked_mul(nbytes, ne[3], &nbytes);
        if (ovf)
            return graft_error_set(P->err, GRAFT_E_FORMAT,
                                   "%s: %s: shape [%llu, %llu, %llu, %llu] overflows 64-bit sizes", P->path,
                                   P->ctx, (unsigned long long)ne[0], (unsigned long long)ne[1],
                                   (unsigned long long)ne[2], (unsigned long long)ne[3]);
        char *copy = store_name(P, name, nlen);
        if (P->fill) {
            graft_gguf_tensor *t = &g->tensors[i];
            *t = (graft_gguf_tensor){copy, (int)type, (int)n_dims, {0}, offset, (size_t)nbytes, NULL};
            for (int d = 0; d < 4; d++) t->ne[d] = (int64_t)ne[d];
        }
    }
    return 0;
}

static int cmp_name_ix(const void *a, const void *b) {
    return strcmp(((const name_ix *)a)->s, ((const name_ix *)b)->s);
}

/* Sorts (name, index) pairs for binary search; a repeated name is an error. */
static int build_index(parser *P, name_ix *ix, int64_t n, const char *what) {
    qsort(ix, (size_t)n, sizeof *ix, cmp_name_ix);
    for (int64_t i = 1; i < n; i++)
        if (!strcmp(ix[i - 1].s, ix[i].s)) {
            int64_t a = ix[i - 1].i < ix[i].i ? ix[i - 1].i : ix[i].i;
            int64_t b = ix[i - 1].i < ix[i].i ? ix[i].i : ix[i - 1].i;
            return graft_error_set(P->err, GRAFT_E_FORMAT, "%s: duplicate %s '%s' (#%lld and #%lld)", P->path,
                                   what, ix[i].s, (long long)a, (long long)b);
        }
    return 0;
}

typedef struct span {
    uint64_t off, end;
    int64_t i;
} span;

static int cmp_span(const void *a, const void *b) {
    const span *x = a, *y = b;
    if (x->off != y->off) return x->off < y->off ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return x->i < y->i ? -1 : x->i > y->i;
}

/* Offsets aligned, data inside the file, no two tensors sharing a byte; sets data pointers. */
static int check_tensor_data(parser *P) {
    graft_gguf *g = P->g;
    size_t data_size = g->size > g->data_off ? g->size - g->data_off : 0;
    /* Without tensors nothing but the padding may follow the metadata: catches a zeroed count. */
    if (g->n_tensors == 0 && g->size > g->data_off)
        return graft_error_set(P->err, GRAFT_E_FORMAT,
                               "%s: %zu bytes follow the metadata (which ends at %zu) but the file declares no "
                               "tensors", P->path, g->size - g->data_off, g->data_off);
    span *sp = malloc((size_t)(g->n_tensors ? g->n_tensors : 1) * sizeof *sp);
    if (!sp) return graft_error_set(P->err, GRAFT_E_NOMEM, "%s: out of memory", P->path);
    int64_t n = 0;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        graft_gguf_tensor *t = &g->tensors[i];
        if (t->offset % g->alignment) {
            free(sp);
            return graft_error_set(P->err, GRAFT_E_FORMAT,
                                   "%s: tensor '%s' data offset %llu is not a multiple of the alignment %u",
                                   P->path, t->name, (unsigned long long)t->offset, g->alignment);
        }
        if (t->offset > data_size || t->nbytes > data_size - t->offset) {
            free(sp);
            return graft_error_set(P->err, GRAFT_E_FORMAT,
                                   "%s: tensor '%s' data (offset %llu + %zu bytes, data section at %zu) "
                                   "extends past the end of the file (%zu bytes)",
                                   P->path, t->name, (unsigned long long)t->offset, t->nbytes, g->data_off,
                                   g->size);
        }
        if (t->nbytes == 0) continue; /* empty tensors own no bytes; their data stays NULL */
        t->data = g->map + g->data_off + t->offset;
        sp[n++] = (span){t->offset, t->offset + t->nbytes, i};
    }
    qsort(sp, (size_t)n, sizeof *sp, cmp_span);
    for (int64_t k = 1; k < n; k++)
        if (sp[k].off < sp[k - 1].end) {
            const graft_gguf_tensor *a = &g->tensors[sp[k - 1].i], *b = &g->tensors[sp[k].i];
            int rc = graft_error_set(P->err, GRAFT_E_FORMAT,
                                     "%s: tensors '%s' (offset %llu, %zu bytes) and '%s' (offset %llu) overlap",
                                     P->path, a->name, (unsigned long long)a->offset, a->nbytes, b->name,
                                     (unsigned long long)b->offset);
            free(sp);
            return rc;
        }
    free(sp);
    return 0;
}

/* An in-memory view: the caller supplies every tensor's data pointer. */
static int set_ext_data(parser *P) {
    graft_gguf *g = P->g;
    for (int64_t i = 0; i < g->n_tensors; i++) {
        graft_gguf_tensor *t = &g->tensors[i];
        t->data = t->nbytes ? P->ext_data[i] : NULL;
        if (t->nbytes && !t->data)
            return graft_error_set(P->err, GRAFT_E_INVALID, "%s: tensor '%s' has no data", P->path, t->name);
    }
    return 0;
}

static int parse_all(parser *P) {
    int rc;
    P->pos = GGUF_HEADER_BYTES;
    P->n_desc = P->n_offs = P->n_names = 0;
    if ((rc = parse_kvs(P))) return rc;
    if ((rc = parse_tensor_infos(P))) return rc;
    /* The data section starts at the next multiple of the alignment (pos < 2^63: no overflow). */
    uint64_t a = P->g->alignment;
    P->g->data_off = (size_t)((P->pos + a - 1) / a * a);
    if (!P->fill) return 0;
    graft_gguf *g = P->g;
    for (int64_t i = 0; i < g->n_kv; i++) g->kv_ix[i] = (name_ix){g->kv[i].key, i};
    for (int64_t i = 0; i < g->n_tensors; i++) g->t_ix[i] = (name_ix){g->tensors[i].name, i};
    if ((rc = build_index(P, g->kv_ix, g->n_kv, "key"))) return rc;
    if ((rc = build_index(P, g->t_ix, g->n_tensors, "tensor name"))) return rc;
    if (P->ext_data) return set_ext_data(P);
    return check_tensor_data(P);
}

/* Magic, version and counts, before anything is allocated. */
static int check_header(const unsigned char *b, size_t size, const char *path, graft_gguf *g, graft_error *err) {
    if (size >= 4 && memcmp(b, "GGUF", 4))
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: not a GGUF file (magic %02x %02x %02x %02x, expected 47 47 55 46 \"GGUF\")",
                               path, b[0], b[1], b[2], b[3]);
    if (size < GGUF_HEADER_BYTES)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: truncated: %zu bytes is too short for a GGUF header (%d)",
                               path, size, GGUF_HEADER_BYTES);
    uint32_t v = gguf_rd32(b + 4);
    if (v != 2 && v != 3) {
        uint32_t sw = __builtin_bswap32(v);
        if (sw >= 1 && sw <= 3)
            return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                                   "%s: big-endian GGUF (version %u, byte-swapped) is not supported", path, sw);
        return graft_error_set(err, GRAFT_E_UNSUPPORTED,
                               "%s: unsupported GGUF version %u (graft reads versions 2 and 3)", path, v);
    }
    uint64_t nt = gguf_rd64(b + 8), nkv = gguf_rd64(b + 16), room = size - GGUF_HEADER_BYTES;
    if (nkv > room / GGUF_MIN_KV_BYTES || nt > room / GGUF_MIN_TI_BYTES ||
        nkv * GGUF_MIN_KV_BYTES + nt * GGUF_MIN_TI_BYTES > room)
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: header claims %llu key/values and %llu tensors, more than the file's %zu "
                               "bytes can hold",
                               path, (unsigned long long)nkv, (unsigned long long)nt, size);
    g->version = v;
    g->n_kv = (int64_t)nkv;
    g->n_tensors = (int64_t)nt;
    return 0;
}

static void *alloc_n(size_t n, size_t sz) { return calloc(n ? n : 1, sz); }

static int parse_open(graft_gguf *g, const void *const *ext_data, graft_gguf **out, graft_error *err);

int graft_gguf_open(const char *path, graft_gguf **out, graft_error *err) {
    if (out) *out = NULL;
    if (!path || !out) return graft_error_set(err, GRAFT_E_INVALID, "graft_gguf_open: NULL argument");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return graft_error_set(err, GRAFT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int rc = graft_error_set(err, GRAFT_E_IO, "%s: not a regular file", path);
        close(fd);
        return rc;
    }
    size_t size = (size_t)st.st_size;
    if (size < GGUF_HEADER_BYTES) { /* also keeps mmap away from empty files */
        unsigned char head[GGUF_HEADER_BYTES] = {0};
        ssize_t got = read(fd, head, sizeof head);
        close(fd);
        graft_gguf tmp;
        int rc = check_header(head, got > 0 ? (size_t)got : 0, path, &tmp, err);
        return rc ? rc : graft_error_set(err, GRAFT_E_FORMAT, "%s: truncated", path);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    int merr = errno;
    close(fd);
    if (map == MAP_FAILED) return graft_error_set(err, GRAFT_E_IO, "%s: cannot map: %s", path, strerror(merr));

    graft_gguf *g = calloc(1, sizeof *g);
    char *pcopy = strdup(path);
    if (!g || !pcopy) {
        free(g);
        free(pcopy);
        munmap(map, size);
        return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
    }
    g->path = pcopy;
    g->map = map;
    g->size = size;
    return parse_open(g, NULL, out, err);
}

/* Validates g->map and builds the tables; closes g on failure. */
static int parse_open(graft_gguf *g, const void *const *ext_data, graft_gguf **out, graft_error *err) {
    const char *path = g->path;
    size_t size = g->size;
    int rc = check_header(g->map, size, path, g, err);
    if (rc) goto fail;
    parser P = {.b = g->map, .size = size, .path = path, .err = err, .fill = 0, .g = g, .ext_data = ext_data};
    if ((rc = parse_all(&P))) goto fail;
    /* Every count below is bounded by the file size (each item occupies file bytes). */
    g->kv = alloc_n((size_t)g->n_kv, sizeof *g->kv);
    g->kv_ix = alloc_n((size_t)g->n_kv, sizeof *g->kv_ix);
    g->tensors = alloc_n((size_t)g->n_tensors, sizeof *g->tensors);
    g->t_ix = alloc_n((size_t)g->n_tensors, sizeof *g->t_ix);
    g->descs = alloc_n(P.n_desc, sizeof *g->descs);
    g->offs = alloc_n(P.n_offs, sizeof *g->offs);
    g->names = alloc_n(P.n_names, 1);
    g->n_desc = P.n_desc;
    if (!g->kv || !g->kv_ix || !g->tensors || !g->t_ix || !g->descs || !g->offs || !g->names) {
        rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    P.fill = 1;
    if ((rc = parse_all(&P))) goto fail;
    *out = g;
    return GRAFT_OK;
fail:
    graft_gguf_close(g);
    return rc;
}

int graft_gguf_open_image(const char *name, unsigned char *image, size_t size, const void *const *data,
                          void *owner, void (*owner_free)(void *), graft_gguf **out, graft_error *err) {
    if (out) *out = NULL;
    graft_gguf *g = calloc(1, sizeof *g);
    char *pcopy = name ? strdup(name) : NULL;
    int rc = 0;
    if (!name || !image || !out || (!data && size >= GGUF_HEADER_BYTES && gguf_rd64(image + 8)))
        rc = graft_error_set(err, GRAFT_E_INVALID, "graft_gguf_open_image: NULL argument");
    else if (!g || !pcopy)
        rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", name);
    if (rc) {
        free(g);
        free(pcopy);
        free(image);
        if (owner_free) owner_free(owner);
        return rc;
    }
    static const void *const no_data[1] = {NULL};
    g->path = pcopy;
    g->map = image;
    g->image = image;
    g->size = size;
    g->owner = owner;
    g->owner_free = owner_free;
    if (size < GGUF_HEADER_BYTES) {
        rc = check_header(image, size, pcopy, g, err);
        if (!rc) rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: truncated", pcopy);
        graft_gguf_close(g);
        return rc;
    }
    return parse_open(g, data ? data : no_data, out, err);
}

void graft_gguf_close(graft_gguf *g) {
    if (!g) return;
    if (g->image) free(g->image);
    else if (g->map) munmap((void *)g->map, g->size);
    if (g->owner_free) g->owner_free(g->owner);
    free(g->path);
    free(g->kv);
    free(g->kv_ix);
    free(g->tensors);
    free(g->t_ix);
    free(g->descs);
    free(g->offs);
    free(g->names);
    free(g);
}
