/* safetensors.c - the safetensors reader (include/graft_safetensors.h): maps each file read-only,
 * parses its JSON header with cJSON, validates every entry against the file (dtype, shape,
 * data_offsets, overlaps, duplicates, __metadata__) and keeps a tensor table whose data pointers
 * go into the mappings. Sharded checkpoints are opened through model.safetensors.index.json.
 * Layout and checks: docs/formats.md, section safetensors. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "error.h"
#include "fileio.h"
#include "graft.h"

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the safetensors reader hands out little-endian data in place: it needs a little-endian host"
#endif

#define ST_MAX_HEADER (100u << 20)        /* header bytes; the Rust reference refuses more too */
#define ST_MAX_INDEX (64u << 20)          /* bytes of a model.safetensors.index.json */
#define ST_MAX_INT 9007199254740992.0     /* 2^53: JSON numbers above are not exact doubles */

typedef struct st_file {
    char *path;
    const unsigned char *map;
    size_t size;
} st_file;

/* The handle: mappings, the tensor table in (file, offset) order, names sorted for lookup, and
 * the metadata pairs. Read-only after open. */
struct graft_st {
    int n_files;
    st_file *files;
    int64_t n_tensors, cap_tensors;
    graft_st_tensor *tensors;
    int64_t *by_name; /* tensor indices sorted by name */
    int64_t n_meta, cap_meta;
    char **meta;      /* key, value, key, value, ... */
};

/* ================================================================================================
 * dtypes
 * ============================================================================================= */

typedef struct st_dtype {
    const char *name;
    int size, type;
} st_dtype;

static const st_dtype st_dtypes[] = {
    {"F32", 4, GRAFT_TYPE_F32}, {"F16", 2, GRAFT_TYPE_F16}, {"BF16", 2, GRAFT_TYPE_BF16},
    {"F64", 8, -1},  {"I64", 8, -1},     {"I32", 4, -1},     {"I16", 2, -1},
    {"I8", 1, -1},   {"U64", 8, -1},     {"U32", 4, -1},     {"U16", 2, -1},
    {"U8", 1, -1},   {"BOOL", 1, -1},    {"F8_E4M3", 1, -1}, {"F8_E5M2", 1, -1},
};

static const st_dtype *find_dtype(const char *s) {
    for (size_t i = 0; i < sizeof st_dtypes / sizeof st_dtypes[0]; i++)
        if (!strcmp(st_dtypes[i].name, s)) return &st_dtypes[i];
    return NULL;
}

/* ================================================================================================
 * Growing the handle's tables
 * ============================================================================================= */

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static int oom(graft_error *err, const char *path) {
    return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
}

static int add_meta(graft_st *st, const char *key, const char *val) {
    if (st->n_meta == st->cap_meta) {
        int64_t cap = st->cap_meta ? 2 * st->cap_meta : 8;
        char **m = realloc(st->meta, (size_t)cap * 2 * sizeof *m);
        if (!m) return -1;
        st->meta = m;
        st->cap_meta = cap;
    }
    char *k = dup_str(key), *v = dup_str(val);
    if (!k || !v) {
        free(k);
        free(v);
        return -1;
    }
    st->meta[2 * st->n_meta] = k;
    st->meta[2 * st->n_meta + 1] = v;
    st->n_meta++;
    return 0;
}

/* ================================================================================================
 * One file: 8-byte LE header length N, N bytes of JSON, the data buffer.
 * ============================================================================================= */

/* An exact non-negative integer from a JSON number (<= 2^53). */
static int json_uint(const cJSON *j, uint64_t *out) {
    if (!cJSON_IsNumber(j)) return -1;
    double d = j->valuedouble;
    if (!(d >= 0.0) || d > ST_MAX_INT || d != (double)(uint64_t)d) return -1;
    *out = (uint64_t)d;
    return 0;
}

typedef struct pending {
    graft_st_tensor t;
    uint64_t begin, end;
} pending;

static int by_begin(const void *a, const void *b) {
    const pending *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Validates one tensor entry `e` (named e->string) of a file whose data buffer holds data_size
 * bytes at `data`. Fills *p; the name is not copied yet. */
static int parse_entry(const cJSON *e, const char *path, const unsigned char *data, uint64_t data_size,
                       pending *p, graft_error *err) {
    const char *name = e->string;
    if (!name[0]) return graft_error_set(err, GRAFT_E_FORMAT, "%s: a tensor has an empty name", path);
    if (!cJSON_IsObject(e))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tensor '%s': entry is not a JSON object", path, name);
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *jo = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(jd))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tensor '%s': \"dtype\" is missing or not a string",
                               path, name);
    const st_dtype *dt = find_dtype(jd->valuestring);
    if (!dt)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tensor '%s': unknown dtype \"%s\"", path, name,
                               jd->valuestring);
    if (!cJSON_IsArray(js))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tensor '%s': \"shape\" is missing or not an array",
                               path, name);
    int nd = cJSON_GetArraySize(js);
    if (nd > 4)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tensor '%s': %d dimensions (graft handles up to 4)",
                               path, name, nd);
    memset(p, 0, sizeof *p);
    p->t.n_dims = nd;
    for (int k = 0; k < 4; k++) p->t.ne[k] = 1;
    uint64_t n_elem = 1;
    int k = 0;
    for (const cJSON *d = js->child; d; d = d->next, k++) {
        uint64_t v;
        if (json_uint(d, &v))
            return graft_error_set(err, GRAFT_E_FORMAT,
                                   "%s: tensor '%s': shape entry %d is not a non-negative integer", path,
                                   name, k);
        if (__builtin_mul_overflow(n_elem, v, &n_elem) || n_elem > (uint64_t)INT64_MAX)
            return graft_error_set(err, GRAFT_E_FORMAT, "%s: tensor '%s': shape element count overflows",
                                   path, name);
        p->t.ne[nd - 1 - k] = (int64_t)v;
    }
    uint64_t nbytes;
    if (__builtin_mul_overflow(n_elem, (uint64_t)dt->size, &nbytes))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: tensor '%s': byte size overflows", path, name);
    if (!cJSON_IsArray(jo) || cJSON_GetArraySize(jo) != 2 || json_uint(jo->child, &p->begin) ||
        json_uint(jo->child->next, &p->end))
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: tensor '%s': \"data_offsets\" must be [begin, end] with non-negative "
                               "integers",
                               path, name);
    if (p->begin > p->end || p->end > data_size)
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: tensor '%s': data_offsets [%llu, %llu] outside the %llu-byte data buffer",
                               path, name, (unsigned long long)p->begin, (unsigned long long)p->end,
                               (unsigned long long)data_size);
    if (p->end - p->begin != nbytes)
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: tensor '%s': data_offsets span %llu bytes but %s shape needs %llu",
                               path, name, (unsigned long long)(p->end - p->begin), dt->name,
                               (unsigned long long)nbytes);
    p->t.dtype = dt->name;
    p->t.type = dt->type;
    p->t.elem_size = dt->size;
    p->t.nbytes = (size_t)nbytes;
    p->t.data = nbytes ? data + p->begin : NULL;
    p->t.name = name;
    return 0;
}

static int parse_meta(graft_st *st, const cJSON *m, const char *path, graft_error *err) {
    if (!cJSON_IsObject(m))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: \"__metadata__\" is not a JSON object", path);
    for (const cJSON *e = m->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return graft_error_set(err, GRAFT_E_FORMAT, "%s: __metadata__ value of '%s' is not a string",
                                   path, e->string);
        if (add_meta(st, e->string, e->valuestring)) return oom(err, path);
    }
    return 0;
}

/* Checks the parsed header `root` of file `fi` and appends its tensors and metadata to st. */
static int parse_header(graft_st *st, int fi, const cJSON *root, const unsigned char *data,
                        uint64_t data_size, graft_error *err) {
    const char *path = st->files[fi].path;
    if (!cJSON_IsObject(root))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: the JSON header is not an object", path);
    int n = 0, n_meta_seen = 0;
    for (const cJSON *e = root->child; e; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) {
            if (n_meta_seen++)
                return graft_error_set(err, GRAFT_E_FORMAT, "%s: \"__metadata__\" appears twice", path);
        } else {
            n++;
        }
    }
    pending *ps = calloc((size_t)n + 1, sizeof *ps);
    if (!ps) return oom(err, path);
    int rc = 0, j = 0;
    for (const cJSON *e = root->child; e && !rc; e = e->next) {
        if (!strcmp(e->string, "__metadata__")) rc = parse_meta(st, e, path, err);
        else rc = parse_entry(e, path, data, data_size, &ps[j++], err);
    }
    if (!rc) {
        qsort(ps, (size_t)n, sizeof *ps, by_begin);
        const pending *last = NULL; /* the non-empty range ending furthest so far */
        for (int i = 0; i < n && !rc; i++) {
            if (ps[i].end == ps[i].begin) continue;
            if (last && ps[i].begin < last->end)
                rc = graft_error_set(err, GRAFT_E_FORMAT,
                                     "%s: tensor '%s' [%llu, %llu] overlaps tensor '%s' [%llu, %llu]", path,
                                     ps[i].t.name, (unsigned long long)ps[i].begin,
                                     (unsigned long long)ps[i].end, last->t.name,
                                     (unsigned long long)last->begin, (unsigned long long)last->end);
            if (!last || ps[i].end > last->end) last = &ps[i];
        }
    }
    if (!rc && st->n_tensors + n > st->cap_tensors) {
        int64_t cap = st->cap_tensors ? st->cap_tensors : 16;
        while (cap < st->n_tensors + n) cap *= 2;
        graft_st_tensor *t = realloc(st->tensors, (size_t)cap * sizeof *t);
        if (!t) rc = oom(err, path);
        else st->tensors = t, st->cap_tensors = cap;
    }
    for (int i = 0; i < n && !rc; i++) {
        graft_st_tensor t = ps[i].t;
        t.file = fi;
        if (!(t.name = dup_str(t.name))) rc = oom(err, path);
        else st->tensors[st->n_tensors++] = t;
    }
    free(ps);
    return rc;
}

/* Opens path as file number st->n_files (files[] has room) and appends its tensors. */
static int add_file(graft_st *st, const char *path, graft_error *err) {
    int fi = st->n_files;
    st_file *f = &st->files[fi];
    memset(f, 0, sizeof *f);
    if (!(f->path = dup_str(path))) return oom(err, path);
    st->n_files++;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return graft_error_set(err, GRAFT_E_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return graft_error_set(err, GRAFT_E_IO, "%s: not a regular file", path);
    }
    size_t size = (size_t)sb.st_size;
    if (size < 8) {
        close(fd);
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: truncated: %zu bytes, too short for the 8-byte header length", path, size);
    }
    void *map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return graft_error_set(err, GRAFT_E_IO, "%s: mmap failed: %s", path, strerror(errno));
    f->map = map;
    f->size = size;
    uint64_t hn;
    memcpy(&hn, f->map, 8);
    if (hn == 0) return graft_error_set(err, GRAFT_E_FORMAT, "%s: header length is 0", path);
    if (hn > size - 8)
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: header length %llu is larger than the %zu bytes after it (truncated "
                               "file?)",
                               path, (unsigned long long)hn, size - 8);
    if (hn > ST_MAX_HEADER)
        return graft_error_set(err, GRAFT_E_LIMIT, "%s: header length %llu exceeds the %u-byte cap", path,
                               (unsigned long long)hn, ST_MAX_HEADER);
    const char *hdr = (const char *)f->map + 8, *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, (size_t)hn, &end, 0);
    if (!root) {
        size_t at = end && end >= hdr && end <= hdr + hn ? (size_t)(end - hdr) : 0;
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: the %llu-byte header is not valid JSON (near header byte %zu)",
                               path, (unsigned long long)hn, at);
    }
    for (const char *q = end; q < hdr + hn; q++)
        if (*q != ' ' && *q != '\t' && *q != '\n' && *q != '\r') {
            cJSON_Delete(root);
            return graft_error_set(err, GRAFT_E_FORMAT,
                                   "%s: unexpected byte 0x%02x after the JSON header (header byte %zu)", path,
                                   (unsigned char)*q, (size_t)(q - hdr));
        }
    int rc = parse_header(st, fi, root, f->map + 8 + hn, size - 8 - hn, err);
    cJSON_Delete(root);
    return rc;
}

/* ================================================================================================
 * Handles
 * ============================================================================================= */

static int by_name_cmp(const void *a, const void *b, void *ctx) {
    const graft_st *st = ctx;
    return strcmp(st->tensors[*(const int64_t *)a].name, st->tensors[*(const int64_t *)b].name);
}

/* Sorts names for lookup and refuses duplicates (within a file or across shards). */
static int index_names(graft_st *st, graft_error *err) {
    st->by_name = malloc(((size_t)st->n_tensors + 1) * sizeof *st->by_name);
    if (!st->by_name) return oom(err, st->files[0].path);
    for (int64_t i = 0; i < st->n_tensors; i++) st->by_name[i] = i;
    qsort_r(st->by_name, (size_t)st->n_tensors, sizeof *st->by_name, by_name_cmp, st);
    for (int64_t i = 1; i < st->n_tensors; i++) {
        const graft_st_tensor *a = &st->tensors[st->by_name[i - 1]], *b = &st->tensors[st->by_name[i]];
        if (!strcmp(a->name, b->name))
            return graft_error_set(err, GRAFT_E_FORMAT, "%s: tensor '%s' appears twice%s%s", st->files[b->file].path,
                                   b->name, a->file != b->file ? ", also in " : "",
                                   a->file != b->file ? st->files[a->file].path : "");
    }
    return 0;
}

void graft_st_close(graft_st *st) {
    if (!st) return;
    for (int i = 0; i < st->n_files; i++) {
        if (st->files[i].map) munmap((void *)st->files[i].map, st->files[i].size);
        free(st->files[i].path);
    }
    for (int64_t i = 0; i < st->n_tensors; i++) free((void *)st->tensors[i].name);
    for (int64_t i = 0; i < 2 * st->n_meta; i++) free(st->meta[i]);
    free(st->files);
    free(st->tensors);
    free(st->by_name);
    free(st->meta);
    free(st);
}

static graft_st *new_handle(int n_files) {
    graft_st *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->files = calloc((size_t)n_files, sizeof *st->files);
    if (!st->files) {
        free(st);
        return NULL;
    }
    return st;
}

int graft_st_open(const char *path, graft_st **out, graft_error *err) {
    *out = NULL;
    graft_st *st = new_handle(1);
    if (!st) return oom(err, path);
    int rc = add_file(st, path, err);
    if (!rc) rc = index_names(st, err);
    if (rc) {
        graft_st_close(st);
        return rc;
    }
    *out = st;
    return GRAFT_OK;
}

/* ---- sharded checkpoints ----------------------------------------------------------------------- */

static int safe_shard_name(const char *s) {
    return s[0] && !strchr(s, '/') && strcmp(s, ".") && strcmp(s, "..");
}

static int open_index(const char *ipath, const cJSON *root, graft_st **out, graft_error *err) {
    const cJSON *wm = cJSON_IsObject(root) ? cJSON_GetObjectItemCaseSensitive(root, "weight_map") : NULL;
    if (!cJSON_IsObject(wm))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: no \"weight_map\" object", ipath);
    int n_map = cJSON_GetArraySize(wm);
    if (n_map == 0) return graft_error_set(err, GRAFT_E_FORMAT, "%s: \"weight_map\" is empty", ipath);
    /* distinct shard names in order of first mention */
    const char **shards = calloc((size_t)n_map, sizeof *shards);
    int *shard_of = calloc((size_t)n_map, sizeof *shard_of);
    graft_st *st = NULL;
    char *spath = NULL;
    unsigned char *seen = NULL;
    int n_sh = 0, rc = 0, j = 0;
    if (!shards || !shard_of) rc = oom(err, ipath);
    for (const cJSON *e = wm->child; e && !rc; e = e->next, j++) {
        if (!cJSON_IsString(e) || !safe_shard_name(e->valuestring)) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: weight_map entry '%s' is not a plain file name",
                                 ipath, e->string);
            break;
        }
        int s = 0;
        while (s < n_sh && strcmp(shards[s], e->valuestring)) s++;
        if (s == n_sh) shards[n_sh++] = e->valuestring;
        shard_of[j] = s;
    }
    const char *slash = strrchr(ipath, '/');
    size_t dlen = slash ? (size_t)(slash - ipath + 1) : 0;
    if (!rc && !(st = new_handle(n_sh))) rc = oom(err, ipath);
    for (int s = 0; s < n_sh && !rc; s++) {
        size_t sl = strlen(shards[s]);
        free(spath);
        if (!(spath = malloc(dlen + sl + 1))) {
            rc = oom(err, ipath);
            break;
        }
        memcpy(spath, ipath, dlen);
        memcpy(spath + dlen, shards[s], sl + 1);
        rc = add_file(st, spath, err);
    }
    if (!rc) rc = index_names(st, err);
    if (!rc && !(seen = calloc((size_t)st->n_tensors + 1, 1))) rc = oom(err, ipath);
    j = 0;
    for (const cJSON *e = wm->child; e && !rc; e = e->next, j++) {
        int64_t t = graft_st_find_tensor(st, e->string);
        if (t < 0 || st->tensors[t].file != shard_of[j])
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: weight_map puts tensor '%s' in %s but %s", ipath,
                                 e->string, shards[shard_of[j]],
                                 t < 0 ? "no shard has it" : "that shard does not have it");
        else if (seen[t]++)
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: weight_map lists tensor '%s' twice", ipath,
                                 e->string);
    }
    for (int64_t t = 0; t < (st ? st->n_tensors : 0) && !rc; t++)
        if (!seen[t])
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: tensor '%s' of %s is not in the weight_map", ipath,
                                 st->tensors[t].name, st->files[st->tensors[t].file].path);
    free(seen);
    free(spath);
    free(shards);
    free(shard_of);
    if (rc) {
        graft_st_close(st);
        return rc;
    }
    *out = st;
    return GRAFT_OK;
}

int graft_st_open_index(const char *index_path, graft_st **out, graft_error *err) {
    *out = NULL;
    size_t len = 0;
    char *buf = NULL;
    int rc = graft_file_read(index_path, ST_MAX_INDEX, &buf, &len, err);
    if (rc) return rc;
    cJSON *root = cJSON_ParseWithLength(buf, len);
    if (!root) rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: not valid JSON", index_path);
    else rc = open_index(index_path, root, out, err);
    cJSON_Delete(root);
    free(buf);
    return rc;
}

int graft_st_open_dir(const char *dir, graft_st **out, graft_error *err) {
    *out = NULL;
    size_t dl = strlen(dir);
    char *p = malloc(dl + 40);
    if (!p) return oom(err, dir);
    int rc;
    snprintf(p, dl + 40, "%s/model.safetensors.index.json", dir);
    if (access(p, F_OK) == 0) {
        rc = graft_st_open_index(p, out, err);
    } else {
        snprintf(p, dl + 40, "%s/model.safetensors", dir);
        if (access(p, F_OK) == 0) rc = graft_st_open(p, out, err);
        else
            rc = graft_error_set(err, GRAFT_E_NOTFOUND,
                                 "%s: neither model.safetensors.index.json nor model.safetensors", dir);
    }
    free(p);
    return rc;
}

/* ================================================================================================
 * Queries
 * ============================================================================================= */

int graft_st_n_files(const graft_st *st) { return st->n_files; }

const char *graft_st_file_path(const graft_st *st, int file) {
    return file >= 0 && file < st->n_files ? st->files[file].path : NULL;
}

int64_t graft_st_n_meta(const graft_st *st) { return st->n_meta; }

const char *graft_st_meta_key(const graft_st *st, int64_t i) {
    return i >= 0 && i < st->n_meta ? st->meta[2 * i] : NULL;
}

const char *graft_st_meta_value(const graft_st *st, int64_t i) {
    return i >= 0 && i < st->n_meta ? st->meta[2 * i + 1] : NULL;
}

const char *graft_st_get_meta(const graft_st *st, const char *key) {
    for (int64_t i = 0; key && i < st->n_meta; i++)
        if (!strcmp(st->meta[2 * i], key)) return st->meta[2 * i + 1];
    return NULL;
}

int64_t graft_st_n_tensors(const graft_st *st) { return st->n_tensors; }

graft_st_tensor graft_st_tensor_info(const graft_st *st, int64_t i) {
    if (i < 0 || i >= st->n_tensors) {
        graft_st_tensor none;
        memset(&none, 0, sizeof none);
        none.type = -1;
        return none;
    }
    return st->tensors[i];
}

int64_t graft_st_find_tensor(const graft_st *st, const char *name) {
    if (!name || !st->by_name) return -1;
    int64_t lo = 0, hi = st->n_tensors;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = strcmp(st->tensors[st->by_name[mid]].name, name);
        if (c == 0) return st->by_name[mid];
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return -1;
}
