/* quantize.c - the GGUF rewrite engine of `graft quantize` / `graft convert`: per-tensor type rules
 * (llama.cpp's quantizer and converters, see quantize.h), KV copy, and streamed row conversion
 * with graft's kernels (src -> f32 row -> target). Sits between the format reader (graft_gguf) and
 * the writer (gguf_write.h). */
#include "quantize.h"

#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "error.h"
#include "gguf_write.h"
#include "kernels.h"

graft_quant_params graft_quant_default_params(void) {
    graft_quant_params p = {.type = GRAFT_TYPE_Q8_0, .rules = GRAFT_QUANT_RULES_QUANTIZE, .n_threads = 1};
    return p;
}

int graft_quant_ftype(int type) {
    switch (type) {
    case GRAFT_TYPE_F32: return 0;
    case GRAFT_TYPE_F16: return 1;
    case GRAFT_TYPE_Q4_0: return 2;
    case GRAFT_TYPE_Q8_0: return 7;
    case GRAFT_TYPE_BF16: return 32;
    default: return -1;
    }
}

static int is_block(int type) { return type == GRAFT_TYPE_Q8_0 || type == GRAFT_TYPE_Q4_0; }
static int is_float(int type) {
    return type == GRAFT_TYPE_F32 || type == GRAFT_TYPE_F16 || type == GRAFT_TYPE_BF16;
}
static int is_target(int type) { return is_float(type) || is_block(type); }

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int is_clip(const graft_gguf *g) {
    const char *a;
    size_t n;
    return !graft_gguf_get_str(g, "general.architecture", &a, &n, NULL) && n == 4 && !memcmp(a, "clip", 4);
}

/* Dimensions after numpy's squeeze() (the converters squeeze before choosing a type). */
static int squeezed_dims(const graft_gguf_tensor *t) {
    int n = 0;
    for (int d = 0; d < t->n_dims; d++) n += t->ne[d] != 1;
    return n;
}

/* ---- type rules ---------------------------------------------------------------------------- */

/* A block type needs whole 32-element blocks per row: llama.cpp's fallback for Q4_0/Q8_0 has no
 * compatible type ("no tensor type fallback is defined"): graft falls back to F16. */
static int fallback(const graft_gguf_tensor *t, int type, const char **note) {
    if (is_block(type) && t->ne[0] % QK) {
        *note = "row length not a multiple of 32: F16 (llama.cpp has no fallback for this type)";
        return GRAFT_TYPE_F16;
    }
    return type;
}

/* llama-quantize's tensor_allows_quantization, the parts that can apply to a llama decoder. */
static int llama_allows(const graft_gguf_tensor *t) {
    if (t->n_dims < 2) return 0;
    const char *n = t->name;
    if (!ends_with(n, "weight") || strstr(n, "_norm.weight") || strstr(n, "ffn_gate_inp.weight")) return 0;
    if (!strcmp(n, "position_embd.weight") || !strcmp(n, "token_types.weight")) return 0;
    if (strstr(n, ".position_embd") || strstr(n, ".patch_embd")) return 0;
    return 1;
}

/* llama-quantize (llama_tensor_get_type) for the plain ftypes graft has. */
static int rule_llama_quantize(const graft_gguf *g, const graft_gguf_tensor *t, int target, const char **note) {
    if (!llama_allows(t)) return t->type;
    int type = target;
    if (is_block(target)) {
        /* output.weight, or token_embd.weight when there is no output.weight (tied): Q8_0 stays,
         * anything else becomes Q6_K, which graft does not have */
        const int tied = graft_gguf_find_tensor(g, "output.weight") < 0;
        if ((!strcmp(t->name, "output.weight") || (tied && !strcmp(t->name, "token_embd.weight"))) &&
            target != GRAFT_TYPE_Q8_0) {
            type = GRAFT_TYPE_Q8_0;
            *note = t->ne[0] % QK ? "llama.cpp: Q8_0 (row length)" : "llama.cpp: Q6_K; graft: Q8_0";
        }
        type = fallback(t, type, note);
    }
    return type;
}

/* clip_model_quantize: every tensor whose name ends in "weight" and that has exactly 2 dims. */
static int rule_clip_quantize(const graft_gguf_tensor *t, int target, const char **note) {
    if (t->n_dims != 2 || !ends_with(t->name, "weight")) return t->type;
    return fallback(t, target, note);
}

/* convert_hf_to_gguf.py's prepare_tensors (for a llama decoder): 1-D tensors, norms, names not
 * ending in ".weight" and a few special tensors are F32; the rest take --outtype; Q8_0 that does
 * not fit falls back to F16. Q4_0 (not an outtype of the converter) is what llama-quantize makes
 * from the F16 conversion. */
static int rule_llama_convert(const graft_gguf *g, const graft_gguf_tensor *t, int target, const char **note) {
    const char *n = t->name;
    if (squeezed_dims(t) <= 1 || ends_with(n, "_norm.weight") || !ends_with(n, ".weight") ||
        strstr(n, "ffn_gate_inp.weight") || !strcmp(n, "position_embd.weight") || !strcmp(n, "token_types.weight"))
        return GRAFT_TYPE_F32;
    if (target == GRAFT_QUANT_KEEP) return is_float(t->type) ? t->type : GRAFT_TYPE_F32;
    if (target == GRAFT_TYPE_Q4_0) {
        graft_gguf_tensor f16 = *t;
        f16.type = GRAFT_TYPE_F16;
        return rule_llama_quantize(g, &f16, target, note);
    }
    return fallback(t, target, note);
}

/* convert_image_encoder_to_gguf.py: 4-D tensors (the patch conv) always F16, 2-D ".weight" tensors
 * F16 with --use-f32 off, the rest F32. graft's --type f32 keeps everything F32 (the legacy
 * script forces the patch conv and the mm.* projector to F16 even then). Q8_0/Q4_0: the F16
 * conversion, then clip_model_quantize on it. */
static int rule_clip_convert(const graft_gguf_tensor *t, int target, const char **note) {
    const int nd = squeezed_dims(t), mat = nd == 2 && ends_with(t->name, ".weight");
    if (target == GRAFT_TYPE_F32) return GRAFT_TYPE_F32;
    if (target == GRAFT_QUANT_KEEP) return (nd == 4 || mat) && is_float(t->type) ? t->type : GRAFT_TYPE_F32;
    if (nd == 4) return is_block(target) ? GRAFT_TYPE_F16 : target;
    if (!mat) return GRAFT_TYPE_F32;
    return fallback(t, target, note);
}

int graft_quant_tensor_type(const graft_gguf *g, int64_t i, const graft_quant_params *p, const char **note) {
    const char *dummy;
    if (!note) note = &dummy;
    *note = NULL;
    graft_gguf_tensor t = graft_gguf_tensor_info(g, i);
    const int clip = is_clip(g);
    if (p->rules == GRAFT_QUANT_RULES_CONVERT)
        return clip ? rule_clip_convert(&t, p->type, note) : rule_llama_convert(g, &t, p->type, note);
    return clip ? rule_clip_quantize(&t, p->type, note) : rule_llama_quantize(g, &t, p->type, note);
}

/* ---- key/values ---------------------------------------------------------------------------- */

/* A nested array value as a writer value (recursive). */
static gguf_wval *wval_of(const graft_gguf *g, const graft_gguf_value *arr) {
    gguf_wval *w = gguf_wval_arr(arr->arr_type);
    if (!w) return NULL;
    for (uint64_t j = 0; j < arr->arr_n; j++) {
        graft_gguf_value e = graft_gguf_arr_get(g, arr, j);
        int rc;
        if (e.type == GRAFT_GGUF_STRING) {
            rc = gguf_wval_push_str(w, e.str, (size_t)e.len);
        } else if (e.type == GRAFT_GGUF_ARRAY) {
            gguf_wval *sub = wval_of(g, &e);
            rc = sub ? gguf_wval_push_arr(w, sub) : GRAFT_E_NOMEM;
        } else {
            union { uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
                    uint64_t u64; int64_t i64; float f32; double f64; } v;
            switch (e.type) {
            case GRAFT_GGUF_U8: case GRAFT_GGUF_BOOL: v.u8 = (uint8_t)e.u; break;
            case GRAFT_GGUF_I8: v.i8 = (int8_t)e.i; break;
            case GRAFT_GGUF_U16: v.u16 = (uint16_t)e.u; break;
            case GRAFT_GGUF_I16: v.i16 = (int16_t)e.i; break;
            case GRAFT_GGUF_U32: v.u32 = (uint32_t)e.u; break;
            case GRAFT_GGUF_I32: v.i32 = (int32_t)e.i; break;
            case GRAFT_GGUF_U64: v.u64 = e.u; break;
            case GRAFT_GGUF_I64: v.i64 = e.i; break;
            case GRAFT_GGUF_F32: v.f32 = (float)e.f; break;
            case GRAFT_GGUF_F64: v.f64 = e.f; break;
            default: gguf_wval_free(w); return NULL;
            }
            rc = gguf_wval_push(w, &v);
        }
        if (rc) {
            gguf_wval_free(w);
            return NULL;
        }
    }
    return w;
}

/* Copies key i of g to w under the same key. */
static int copy_kv(gguf_writer *w, const graft_gguf *g, int64_t i) {
    const char *key = graft_gguf_kv_key(g, i);
    graft_gguf_value v = graft_gguf_kv_value(g, i);
    switch (v.type) {
    case GRAFT_GGUF_U8: return gguf_writer_add_u8(w, key, (uint8_t)v.u);
    case GRAFT_GGUF_I8: return gguf_writer_add_i8(w, key, (int8_t)v.i);
    case GRAFT_GGUF_U16: return gguf_writer_add_u16(w, key, (uint16_t)v.u);
    case GRAFT_GGUF_I16: return gguf_writer_add_i16(w, key, (int16_t)v.i);
    case GRAFT_GGUF_U32: return gguf_writer_add_u32(w, key, (uint32_t)v.u);
    case GRAFT_GGUF_I32: return gguf_writer_add_i32(w, key, (int32_t)v.i);
    case GRAFT_GGUF_U64: return gguf_writer_add_u64(w, key, v.u);
    case GRAFT_GGUF_I64: return gguf_writer_add_i64(w, key, v.i);
    case GRAFT_GGUF_F32: return gguf_writer_add_f32(w, key, (float)v.f);
    case GRAFT_GGUF_F64: return gguf_writer_add_f64(w, key, v.f);
    case GRAFT_GGUF_BOOL: return gguf_writer_add_bool(w, key, (int)v.u);
    case GRAFT_GGUF_STRING: return gguf_writer_add_str(w, key, v.str, (size_t)v.len);
    case GRAFT_GGUF_ARRAY: break;
    default: return GRAFT_E_FORMAT;
    }
    const size_t es = (size_t)graft_gguf_value_size(v.arr_type);
    const void *raw = graft_gguf_arr_data(g, &v);
    if (es && raw) { /* numbers: raw little-endian, possibly unaligned: copy to aligned memory */
        void *buf = malloc(v.arr_n ? (size_t)v.arr_n * es : 1);
        if (!buf) return GRAFT_E_NOMEM;
        memcpy(buf, raw, (size_t)v.arr_n * es);
        int rc = gguf_writer_add_arr(w, key, v.arr_type, buf, v.arr_n);
        free(buf);
        return rc;
    }
    if (v.arr_type == GRAFT_GGUF_STRING) {
        const char **s = malloc((v.arr_n ? v.arr_n : 1) * sizeof *s);
        size_t *len = malloc((v.arr_n ? v.arr_n : 1) * sizeof *len);
        int rc = GRAFT_E_NOMEM;
        if (s && len) {
            for (uint64_t j = 0; j < v.arr_n; j++) {
                graft_gguf_value e = graft_gguf_arr_get(g, &v, j);
                s[j] = e.str;
                len[j] = (size_t)e.len;
            }
            rc = gguf_writer_add_arr_str(w, key, s, len, v.arr_n);
        }
        free(s);
        free(len);
        return rc;
    }
    gguf_wval *arr = wval_of(g, &v);
    return arr ? gguf_writer_add_val(w, key, arr) : GRAFT_E_NOMEM;
}

/* ---- tensor streaming ---------------------------------------------------------------------- */

typedef struct job {
    graft_gguf_tensor t;
    int dst;
    int n_threads;
    const graft_kernels *kt;
    graft_quant_tensor info; /* for the progress callback */
    const graft_quant_params *p;
} job;

/* Source row (n elements of type src) -> f32. */
static void row_to_f32(const graft_kernels *kt, int src, int64_t n, const void *x, float *y) {
    switch (src) {
    case GRAFT_TYPE_F32: memcpy(y, x, (size_t)n * sizeof(float)); break;
    case GRAFT_TYPE_F16: kt->f16_to_f32(n, x, y); break;
    case GRAFT_TYPE_BF16: kt->bf16_to_f32(n, x, y); break;
    }
}

/* f32 row -> n elements of type dst. */
static void row_from_f32(const graft_kernels *kt, int dst, int64_t n, const float *x, void *y) {
    switch (dst) {
    case GRAFT_TYPE_F32: memcpy(y, x, (size_t)n * sizeof(float)); break;
    case GRAFT_TYPE_F16: kt->f32_to_f16(n, x, y); break;
    case GRAFT_TYPE_BF16: kt->f32_to_bf16(n, x, y); break;
    case GRAFT_TYPE_Q8_0: kt->quantize_q8_0(n, x, y); break;
    case GRAFT_TYPE_Q4_0: kt->quantize_q4_0(n, x, y); break;
    }
}

static size_t type_bytes(int type, const int64_t ne[4], int n_dims) {
    const int64_t bs = graft_ggml_type_block_size(type), bb = graft_ggml_type_block_bytes(type);
    if (!bs) return 0;
    size_t n = (size_t)(ne[0] / bs) * (size_t)bb;
    for (int d = 1; d < n_dims; d++) n *= (size_t)ne[d];
    return n;
}

enum { PANEL_BYTES = 4 << 20 }; /* converted rows are written in panels of about this size */

static int stream_tensor(void *ctx, gguf_stream *s) {
    job *j = ctx;
    const graft_gguf_tensor *t = &j->t;
    int rc = 0;
    if (j->dst == t->type) { /* unchanged: copy the bytes from the mapping */
        for (size_t off = 0; off < t->nbytes && !rc; off += PANEL_BYTES) {
            size_t n = t->nbytes - off < PANEL_BYTES ? t->nbytes - off : PANEL_BYTES;
            rc = gguf_stream_write(s, (const unsigned char *)t->data + off, n);
        }
    } else if (t->nbytes) {
        const int64_t cols = t->ne[0];
        int64_t rows = 1;
        for (int d = 1; d < t->n_dims; d++) rows *= t->ne[d];
        const int64_t ne_row[4] = {cols, 1, 1, 1};
        const size_t src_row = type_bytes(t->type, ne_row, 1), dst_row = type_bytes(j->dst, ne_row, 1);
        int64_t panel = dst_row ? (int64_t)(PANEL_BYTES / dst_row) : 1;
        if (panel < 1) panel = 1;
        if (panel > rows) panel = rows > 0 ? rows : 1;
        const int nt = j->n_threads;
        unsigned char *buf = malloc((size_t)panel * dst_row);
        float *tmp = malloc((size_t)nt * (size_t)cols * sizeof(float));
        if (!buf || !tmp) rc = graft_error_set(gguf_stream_error(s), GRAFT_E_NOMEM, "out of memory converting %s", t->name);
        for (int64_t r0 = 0; r0 < rows && !rc; r0 += panel) {
            const int64_t n = rows - r0 < panel ? rows - r0 : panel;
#pragma omp parallel for num_threads(nt) schedule(static)
            for (int64_t i = 0; i < n; i++) {
                float *x = tmp + (size_t)omp_get_thread_num() * (size_t)cols;
                row_to_f32(j->kt, t->type, cols, (const unsigned char *)t->data + (size_t)(r0 + i) * src_row, x);
                row_from_f32(j->kt, j->dst, cols, x, buf + (size_t)i * dst_row);
            }
            rc = gguf_stream_write(s, buf, (size_t)n * dst_row);
        }
        free(buf);
        free(tmp);
    }
    if (!rc && j->p->progress) j->p->progress(j->p->progress_ctx, &j->info);
    return rc;
}

/* ---- the rewrite ------------------------------------------------------------------------------ */

static int is_split_key(const char *k) {
    return !strcmp(k, "split.no") || !strcmp(k, "split.count") || !strcmp(k, "split.tensors.count");
}

int graft_quant_write(const graft_gguf *g, const char *out_path, const graft_quant_params *p, graft_error *err) {
    if (!g || !out_path || !p) return graft_error_set(err, GRAFT_E_INVALID, "quantize: NULL argument");
    if (!is_target(p->type) && !(p->type == GRAFT_QUANT_KEEP && p->rules == GRAFT_QUANT_RULES_CONVERT))
        return graft_error_set(err, GRAFT_E_INVALID, "quantize: target type %d is not f32, f16, bf16, q8_0 or q4_0",
                               p->type);
    const char *path = graft_gguf_path(g);
    const int64_t nt = graft_gguf_n_tensors(g);
    const int n_threads = p->n_threads > 0 ? p->n_threads : 1;
    job *jobs = calloc(nt > 0 ? (size_t)nt : 1, sizeof *jobs);
    if (!jobs) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);

    /* plan every tensor first: nothing is written when one of them cannot be converted */
    int any_quant = 0, ftype = p->type == GRAFT_QUANT_KEEP ? -1 : graft_quant_ftype(p->type);
    int rc = GRAFT_OK;
    for (int64_t i = 0; i < nt && !rc; i++) {
        job *j = &jobs[i];
        j->t = graft_gguf_tensor_info(g, i);
        j->p = p;
        j->n_threads = n_threads;
        j->kt = graft_kernels_get();
        const char *note = NULL;
        j->dst = graft_quant_tensor_type(g, i, p, &note);
        const char *sname = graft_ggml_type_name(j->t.type), *dname = graft_ggml_type_name(j->dst);
        if (j->dst != j->t.type && is_block(j->t.type))
            rc = graft_error_set(err, GRAFT_E_UNSUPPORTED,
                                 "%s: tensor '%s' is already quantized (%s): requantizing to %s is not supported "
                                 "(quantize from an F32/F16/BF16 file)", path, j->t.name, sname, dname);
        else if (j->dst != j->t.type && !is_float(j->t.type))
            rc = graft_error_set(err, GRAFT_E_UNSUPPORTED, "%s: tensor '%s': cannot convert type %s to %s", path,
                                 j->t.name, sname ? sname : "?", dname);
        else if (j->dst != j->t.type && j->t.nbytes && !j->t.data)
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: tensor '%s' has no data", path, j->t.name);
        any_quant |= is_block(j->dst);
        if (ftype < 0 && j->t.n_dims >= 2 && is_target(j->dst)) ftype = graft_quant_ftype(j->dst);
        j->info = (graft_quant_tensor){.index = i, .n_tensors = nt, .name = j->t.name, .n_dims = j->t.n_dims,
                                       .src_type = j->t.type, .dst_type = j->dst, .src_bytes = j->t.nbytes,
                                       .dst_bytes = type_bytes(j->dst, j->t.ne, j->t.n_dims), .note = note};
        memcpy(j->info.ne, j->t.ne, sizeof j->t.ne);
    }
    if (ftype < 0) ftype = 0;
    gguf_writer *w = rc ? NULL : gguf_writer_new();
    if (!rc && !w) rc = graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
    if (!rc) {
        gguf_writer_set_version(w, graft_gguf_version(g) >= 3 ? 3 : 2);
        int have_ftype = 0, have_qv = 0;
        for (int64_t i = 0; i < graft_gguf_n_kv(g) && !rc; i++) {
            const char *key = graft_gguf_kv_key(g, i);
            if (is_split_key(key)) continue;
            if (!strcmp(key, "general.file_type")) {
                rc = gguf_writer_add_u32(w, key, (uint32_t)ftype); /* in place, as gguf_set_val_u32 */
                have_ftype = 1;
            } else if (!strcmp(key, "general.quantization_version") && any_quant) {
                rc = gguf_writer_add_u32(w, key, 2);
                have_qv = 1;
            } else {
                rc = copy_kv(w, g, i);
            }
            if (rc) rc = graft_error_set(err, rc, "%s: cannot copy key '%s'", path, key);
        }
        if (!rc && any_quant && !have_qv) rc = gguf_writer_add_u32(w, "general.quantization_version", 2);
        if (!rc && !have_ftype) rc = gguf_writer_add_u32(w, "general.file_type", (uint32_t)ftype);
        for (int64_t i = 0; i < nt && !rc; i++)
            rc = gguf_writer_add_tensor_stream(w, jobs[i].t.name, jobs[i].dst, jobs[i].t.n_dims, jobs[i].t.ne,
                                               stream_tensor, &jobs[i]);
        if (rc) {
            graft_error e2;
            if (err && gguf_writer_error(w, &e2)) *err = e2;
        } else {
            rc = gguf_writer_write(w, out_path, err);
        }
    }
    gguf_writer_free(w);
    free(jobs);
    return rc;
}

int graft_quant_file(const char *in_path, const char *out_path, const graft_quant_params *p, graft_error *err) {
    graft_gguf *g;
    int rc = graft_gguf_open(in_path, &g, err);
    if (rc) return rc;
    rc = graft_quant_write(g, out_path, p, err);
    graft_gguf_close(g);
    return rc;
}
