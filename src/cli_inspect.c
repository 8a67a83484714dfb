/* cli_inspect.c - `graft inspect FILE.gguf`: a GGUF file's header, every metadata key/value and the
 * tensor table, as text (like llama.cpp's gguf-dump) or as JSON (--json, built with cJSON). Reads
 * through the public reader (include/graft_gguf.h) only. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "graft.h"
#include "hf.h"

#define STR_SHOW 64 /* bytes of a string shown in text mode before it is cut */

typedef struct opts {
    const char *path;
    int json, tensors;
    uint64_t max_elems; /* array elements shown; UINT64_MAX = all */
} opts;

static void usage(FILE *f) {
    fprintf(f,
            "usage: graft inspect [options] FILE.gguf | HF_DIR\n"
            "\n"
            "Prints a GGUF file's header, metadata and tensor table. The file is validated as a\n"
            "whole first; a broken file gives one line on stderr and exit status 1. For a Hugging\n"
            "Face directory it prints the GGUF views graft reads it as (decoder, then vision tower;\n"
            "--json: an array of the two).\n"
            "\n"
            "options:\n"
            "  --json          print JSON instead of text\n"
            "  --no-tensors    leave out the tensor table\n"
            "  --array N       array elements to show (default 8; 0 = all)\n"
            "  -h, --help      this text\n");
}

/* ---- strings ----------------------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s[0..n), or 0 when it is not one. */
static size_t utf8_len(const unsigned char *s, size_t n) {
    unsigned c = s[0];
    size_t len;
    unsigned min;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf) len = 2, min = 0x80;
    else if (c >= 0xe0 && c <= 0xef) len = 3, min = 0x800;
    else if (c >= 0xf0 && c <= 0xf4) len = 4, min = 0x10000;
    else return 0;
    if (len > n) return 0;
    unsigned cp = c & (0x7f >> len);
    for (size_t k = 1; k < len; k++) {
        if ((s[k] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[k] & 0x3f);
    }
    if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0;
    return len;
}

/* A quoted, escaped string for text output; control bytes and invalid UTF-8 as \xNN. At most
 * `show` bytes of the input are shown, then the full length. */
static void print_str(FILE *f, const char *str, uint64_t len, uint64_t show) {
    const unsigned char *s = (const unsigned char *)str;
    uint64_t n = len < show ? len : show;
    fputc('"', f);
    for (uint64_t i = 0; i < n;) {
        unsigned c = s[i];
        size_t u = utf8_len(s + i, (size_t)(len - i));
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c == '\n') fputs("\\n", f);
        else if (c == '\t') fputs("\\t", f);
        else if (c == '\r') fputs("\\r", f);
        else if (c < 0x20 || c == 0x7f || u == 0) fprintf(f, "\\x%02x", c);
        else {
            fwrite(s + i, 1, u, f);
            i += u;
            continue;
        }
        i++;
    }
    fputc('"', f);
    if (n < len) fprintf(f, "... (%llu bytes)", (unsigned long long)len);
}

/* The same string as a JSON string literal (malloc'd): invalid UTF-8 bytes become U+FFFD. */
static char *json_str(const char *str, uint64_t len) {
    const unsigned char *s = (const unsigned char *)str;
    if (len > (SIZE_MAX - 3) / 6) return NULL;
    char *out = malloc((size_t)len * 6 + 3), *o = out;
    if (!out) return NULL;
    *o++ = '"';
    for (uint64_t i = 0; i < len;) {
        unsigned c = s[i];
        size_t u = utf8_len(s + i, (size_t)(len - i));
        if (c == '"' || c == '\\') o += sprintf(o, "\\%c", c);
        else if (c == '\n') o += sprintf(o, "\\n");
        else if (c == '\t') o += sprintf(o, "\\t");
        else if (c == '\r') o += sprintf(o, "\\r");
        else if (c < 0x20 || c == 0x7f) o += sprintf(o, "\\u%04x", c);
        else if (u == 0) o += sprintf(o, "\\ufffd");
        else {
            memcpy(o, s + i, u);
            o += u;
            i += u;
            continue;
        }
        i++;
    }
    *o++ = '"';
    *o = 0;
    return out;
}

/* ---- numbers ----------------------------------------------------------------------------- */

/* Shortest decimal that reads back as the same float (f32) or double (f64). */
static void fmt_float(char *buf, size_t n, double v, int is_f32) {
    if (isnan(v)) { snprintf(buf, n, "nan"); return; }
    if (isinf(v)) { snprintf(buf, n, v < 0 ? "-inf" : "inf"); return; }
    for (int p = is_f32 ? 6 : 15; p <= 17; p++) {
        snprintf(buf, n, "%.*g", p, v);
        if (is_f32 ? strtof(buf, NULL) == (float)v : strtod(buf, NULL) == v) return;
    }
}

static void fmt_scalar(char *buf, size_t n, const graft_gguf_value *v) {
    switch (v->type) {
    case GRAFT_GGUF_U8:
    case GRAFT_GGUF_U16:
    case GRAFT_GGUF_U32:
    case GRAFT_GGUF_U64: snprintf(buf, n, "%llu", (unsigned long long)v->u); break;
    case GRAFT_GGUF_I8:
    case GRAFT_GGUF_I16:
    case GRAFT_GGUF_I32:
    case GRAFT_GGUF_I64: snprintf(buf, n, "%lld", (long long)v->i); break;
    case GRAFT_GGUF_F32: fmt_float(buf, n, v->f, 1); break;
    case GRAFT_GGUF_F64: fmt_float(buf, n, v->f, 0); break;
    case GRAFT_GGUF_BOOL: snprintf(buf, n, "%s", v->u ? "true" : "false"); break;
    default: snprintf(buf, n, "?"); break;
    }
}

/* ---- text ---------------------------------------------------------------------------------- */

static void print_value(FILE *f, const graft_gguf *g, const graft_gguf_value *v, const opts *o, int depth) {
    char buf[64];
    if (v->type == GRAFT_GGUF_STRING) {
        print_str(f, v->str, v->len, depth ? 40 : STR_SHOW);
        return;
    }
    if (v->type != GRAFT_GGUF_ARRAY) {
        fmt_scalar(buf, sizeof buf, v);
        fputs(buf, f);
        return;
    }
    uint64_t show = v->arr_n < o->max_elems ? v->arr_n : o->max_elems;
    if (depth >= 4 && v->arr_n) show = 0;
    fputc('[', f);
    for (uint64_t j = 0; j < show; j++) {
        graft_gguf_value e = graft_gguf_arr_get(g, v, j);
        if (j) fputs(", ", f);
        if (e.type == GRAFT_GGUF_ARRAY) fprintf(f, "%s[%llu] ", graft_gguf_type_name(e.arr_type), (unsigned long long)e.arr_n);
        print_value(f, g, &e, o, depth + 1);
    }
    if (show < v->arr_n) fputs(show ? ", ..." : "...", f);
    fputc(']', f);
}

static void shape_str(char *buf, size_t n, const graft_gguf_tensor *t) {
    size_t k = 0;
    buf[0] = 0;
    for (int d = 0; d < t->n_dims && k < n; d++)
        k += (size_t)snprintf(buf + k, n - k, d ? " x %lld" : "%lld", (long long)t->ne[d]);
}

static void print_text(FILE *f, const graft_gguf *g, const opts *o) {
    int64_t nkv = graft_gguf_n_kv(g), nt = graft_gguf_n_tensors(g);
    uint64_t total = 0;
    for (int64_t i = 0; i < nt; i++) total += graft_gguf_tensor_info(g, i).nbytes;
    fprintf(f, "GGUF file %s\n", o->path);
    fprintf(f, "  version       %u\n", graft_gguf_version(g));
    fprintf(f, "  alignment     %u\n", graft_gguf_alignment(g));
    fprintf(f, "  file size     %zu bytes\n", graft_gguf_file_size(g));
    fprintf(f, "  data offset   %zu\n", graft_gguf_data_offset(g));
    fprintf(f, "  key/values    %lld\n", (long long)nkv);
    fprintf(f, "  tensors       %lld (%llu bytes of data)\n", (long long)nt, (unsigned long long)total);

    int kw = 8;
    for (int64_t i = 0; i < nkv; i++) {
        int l = (int)strlen(graft_gguf_kv_key(g, i));
        if (l > kw) kw = l;
    }
    if (kw > 48) kw = 48;
    fprintf(f, "\nmetadata (%lld):\n", (long long)nkv);
    for (int64_t i = 0; i < nkv; i++) {
        graft_gguf_value v = graft_gguf_kv_value(g, i);
        char type[48];
        if (v.type == GRAFT_GGUF_ARRAY)
            snprintf(type, sizeof type, "%s[%llu]", graft_gguf_type_name(v.arr_type), (unsigned long long)v.arr_n);
        else snprintf(type, sizeof type, "%s", graft_gguf_type_name(v.type));
        fprintf(f, "  %4lld  %-*s  %-14s ", (long long)i, kw, graft_gguf_kv_key(g, i), type);
        print_value(f, g, &v, o, 0);
        fputc('\n', f);
    }
    if (!o->tensors) return;
    fprintf(f, "\ntensors (%lld):\n", (long long)nt);
    fprintf(f, "  %5s  %-8s  %-24s  %12s  %12s  %s\n", "index", "type", "shape", "bytes", "offset", "name");
    for (int64_t i = 0; i < nt; i++) {
        graft_gguf_tensor t = graft_gguf_tensor_info(g, i);
        char shape[128];
        shape_str(shape, sizeof shape, &t);
        fprintf(f, "  %5lld  %-8s  %-24s  %12zu  %12llu  %s\n", (long long)i, graft_ggml_type_name(t.type), shape,
                t.nbytes, (unsigned long long)t.offset, t.name);
    }
}

/* ---- JSON ---------------------------------------------------------------------------------- */

static cJSON *raw_num(const char *s) { return cJSON_CreateRaw(s); }

static cJSON *raw_u64(uint64_t v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%llu", (unsigned long long)v);
    return cJSON_CreateRaw(buf);
}

/* A value as JSON; arrays list at most o->max_elems elements. NULL when out of memory. */
static cJSON *json_value(const graft_gguf *g, const graft_gguf_value *v, const opts *o) {
    char buf[64];
    if (v->type == GRAFT_GGUF_STRING) {
        char *s = json_str(v->str, v->len);
        cJSON *j = s ? cJSON_CreateRaw(s) : NULL;
        free(s);
        return j;
    }
    if (v->type == GRAFT_GGUF_BOOL) return cJSON_CreateBool(v->u != 0);
    if ((v->type == GRAFT_GGUF_F32 || v->type == GRAFT_GGUF_F64) && !isfinite(v->f)) return cJSON_CreateNull();
    if (v->type != GRAFT_GGUF_ARRAY) {
        fmt_scalar(buf, sizeof buf, v);
        return raw_num(buf);
    }
    cJSON *a = cJSON_CreateArray();
    uint64_t show = v->arr_n < o->max_elems ? v->arr_n : o->max_elems;
    for (uint64_t j = 0; a && j < show; j++) {
        graft_gguf_value e = graft_gguf_arr_get(g, v, j);
        cJSON *je = json_value(g, &e, o);
        if (!je) {
            cJSON_Delete(a);
            return NULL;
        }
        if (e.type == GRAFT_GGUF_ARRAY) { /* nested: keep the element type and count */
            cJSON *w = cJSON_CreateObject();
            cJSON_AddStringToObject(w, "elem_type", graft_gguf_type_name(e.arr_type));
            cJSON_AddItemToObject(w, "count", raw_u64(e.arr_n));
            cJSON_AddItemToObject(w, "value", je);
            je = w;
        }
        cJSON_AddItemToArray(a, je);
    }
    return a;
}

static int print_json(FILE *f, const graft_gguf *g, const opts *o) {
    cJSON *root = cJSON_CreateObject();
    char *p = json_str(o->path, strlen(o->path));
    cJSON_AddItemToObject(root, "file", cJSON_CreateRaw(p ? p : "null"));
    free(p);
    cJSON_AddItemToObject(root, "version", raw_u64(graft_gguf_version(g)));
    cJSON_AddItemToObject(root, "alignment", raw_u64(graft_gguf_alignment(g)));
    cJSON_AddItemToObject(root, "file_size", raw_u64(graft_gguf_file_size(g)));
    cJSON_AddItemToObject(root, "data_offset", raw_u64(graft_gguf_data_offset(g)));
    cJSON_AddItemToObject(root, "n_kv", raw_u64((uint64_t)graft_gguf_n_kv(g)));
    cJSON_AddItemToObject(root, "n_tensors", raw_u64((uint64_t)graft_gguf_n_tensors(g)));
    cJSON *md = cJSON_AddArrayToObject(root, "metadata");
    int ok = md != NULL;
    for (int64_t i = 0; ok && i < graft_gguf_n_kv(g); i++) {
        graft_gguf_value v = graft_gguf_kv_value(g, i);
        cJSON *kv = cJSON_CreateObject();
        char *k = json_str(graft_gguf_kv_key(g, i), strlen(graft_gguf_kv_key(g, i)));
        cJSON *val = json_value(g, &v, o);
        ok = kv && k && val;
        if (!ok) {
            free(k);
            cJSON_Delete(kv);
            cJSON_Delete(val);
            break;
        }
        cJSON_AddItemToObject(kv, "key", cJSON_CreateRaw(k));
        free(k);
        cJSON_AddStringToObject(kv, "type", graft_gguf_type_name(v.type));
        if (v.type == GRAFT_GGUF_ARRAY) {
            cJSON_AddStringToObject(kv, "elem_type", graft_gguf_type_name(v.arr_type));
            cJSON_AddItemToObject(kv, "count", raw_u64(v.arr_n));
            cJSON_AddBoolToObject(kv, "truncated", v.arr_n > o->max_elems);
        }
        cJSON_AddItemToObject(kv, "value", val);
        cJSON_AddItemToArray(md, kv);
    }
    if (ok && o->tensors) {
        cJSON *ts = cJSON_AddArrayToObject(root, "tensors");
        for (int64_t i = 0; ts && i < graft_gguf_n_tensors(g); i++) {
            graft_gguf_tensor t = graft_gguf_tensor_info(g, i);
            cJSON *jt = cJSON_CreateObject(), *shape = cJSON_CreateArray();
            char *name = json_str(t.name, strlen(t.name));
            cJSON_AddItemToObject(jt, "index", raw_u64((uint64_t)i));
            cJSON_AddItemToObject(jt, "name", cJSON_CreateRaw(name ? name : "null"));
            free(name);
            cJSON_AddStringToObject(jt, "type", graft_ggml_type_name(t.type));
            cJSON_AddItemToObject(jt, "type_id", raw_u64((uint64_t)t.type));
            for (int d = 0; d < t.n_dims; d++) cJSON_AddItemToArray(shape, raw_u64((uint64_t)t.ne[d]));
            cJSON_AddItemToObject(jt, "shape", shape);
            cJSON_AddItemToObject(jt, "nbytes", raw_u64(t.nbytes));
            cJSON_AddItemToObject(jt, "offset", raw_u64(t.offset));
            cJSON_AddItemToArray(ts, jt);
        }
    }
    char *text = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    if (!text) return 1;
    fputs(text, f);
    fputc('\n', f);
    free(text);
    return 0;
}

/* ---- command --------------------------------------------------------------------------------- */

int cli_inspect(int argc, char **argv) {
    opts o = {.tensors = 1, .max_elems = 8};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--json")) {
            o.json = 1;
        } else if (!strcmp(a, "--no-tensors")) {
            o.tensors = 0;
        } else if (!strcmp(a, "--array") && i + 1 < argc) {
            char *end;
            unsigned long long n = strtoull(argv[++i], &end, 10);
            if (*end || argv[i][0] == '-' || !argv[i][0]) {
                fprintf(stderr, "graft inspect: --array needs a count, not '%s'\n", argv[i]);
                return 2;
            }
            o.max_elems = n ? (uint64_t)n : UINT64_MAX;
        } else if (a[0] == '-' && a[1]) {
            fprintf(stderr, "graft inspect: unknown option '%s'\n", a);
            usage(stderr);
            return 2;
        } else if (o.path) {
            fprintf(stderr, "graft inspect: one file at a time ('%s' and '%s')\n", o.path, a);
            return 2;
        } else {
            o.path = a;
        }
    }
    if (!o.path) {
        usage(stderr);
        return 2;
    }
    /* a Hugging Face directory: the in-memory GGUF views graft runs (the decoder, then the
     * vision tower when there is one), with llama.cpp's key and tensor names */
    const int hf = graft_hf_path_is_dir(o.path);
    int rc = 0;
    for (int part = 0; part < (hf ? 2 : 1) && !rc; part++) {
        graft_gguf *g;
        graft_error err;
        int orc = hf ? graft_hf_open_gguf(o.path, (graft_hf_part)part, GRAFT_HF_NATIVE, &g, &err)
                     : graft_gguf_open(o.path, &g, &err);
        if (orc == GRAFT_E_NOTFOUND && part == 1) break; /* no vision tower */
        if (orc != GRAFT_OK) {
            fprintf(stderr, "graft inspect: %s\n", err.msg);
            return 1;
        }
        if (o.json) {
            if (hf) fputs(part ? ",\n" : "[\n", stdout);
            rc = print_json(stdout, g, &o);
        } else {
            if (part) fputs("\n", stdout);
            print_text(stdout, g, &o);
        }
        graft_gguf_close(g);
    }
    if (o.json && hf && !rc) fputs("]\n", stdout);
    if (rc) fprintf(stderr, "graft inspect: out of memory building the JSON output\n");
    if (fflush(stdout) != 0) rc = 1;
    return rc;
}
