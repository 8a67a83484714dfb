/* hf.c - a Hugging Face directory as an in-memory GGUF view (hf.h): config.json (hf_config.c)
 * becomes llama.cpp's keys, the safetensors tensors are renamed by the tables of hf_map.c and
 * checked against the config's shapes, and the result is opened with graft_gguf_open_image, so
 * every GGUF loader runs it. Matrices stay in the safetensors mapping (zero copy); 1-D F16/BF16
 * tensors are converted to F32 and, in the llama.cpp layout, Q/K rows are permuted, into buffers
 * the view owns. Keys and names: docs/formats.md, section "Hugging Face directories". */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "gguf_impl.h"
#include "gguf_write.h"
#include "hf.h"
#include "hf_config.h"
#include "hf_vocab.h"
#include "kernels.h"

/* What the view's tensor data lives in: the checkpoint's mappings and the converted buffers. */
typedef struct hf_owner {
    graft_st *st;
    void **bufs;
    int n_bufs, cap_bufs;
} hf_owner;

static void owner_free(void *p) {
    hf_owner *o = p;
    if (!o) return;
    for (int i = 0; i < o->n_bufs; i++) free(o->bufs[i]);
    free(o->bufs);
    graft_st_close(o->st);
    free(o);
}

static void *owner_alloc(hf_owner *o, size_t n) {
    if (o->n_bufs == o->cap_bufs) {
        int cap = o->cap_bufs ? 2 * o->cap_bufs : 64;
        void **b = realloc(o->bufs, (size_t)cap * sizeof *b);
        if (!b) return NULL;
        o->bufs = b;
        o->cap_bufs = cap;
    }
    void *p = malloc(n ? n : 1);
    if (p) o->bufs[o->n_bufs++] = p;
    return p;
}

int graft_hf_is_dir(const char *path) {
    struct stat st;
    if (!path || stat(path, &st) != 0 || !S_ISDIR(st.st_mode)) return 0;
    char cfg[4096];
    if ((size_t)snprintf(cfg, sizeof cfg, "%s/config.json", path) >= sizeof cfg) return 0;
    return stat(cfg, &st) == 0 && S_ISREG(st.st_mode);
}

int graft_hf_path_is_dir(const char *path) {
    struct stat st;
    return path && stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int graft_path_has_vision(const char *path) {
    if (!graft_hf_is_dir(path)) return 0;
    hf_config c;
    if (hf_config_read(path, &c, NULL)) return 0;
    int v = c.has_vision;
    hf_config_free(&c);
    return v;
}

/* ---- building the view -------------------------------------------------------------------- */

typedef struct builder {
    const char *dir;
    const hf_config *cfg;
    graft_hf_layout layout;
    gguf_writer *w;
    hf_owner *own;
    const char *prefix[HF_N_ROOTS]; /* HF_ROOT_* */
    graft_error *err;
} builder;

/* The size a dimension letter of hf_map.c's shapes stands for. */
static int64_t dim_of(const builder *B, char c) {
    const hf_text_config *t = &B->cfg->text;
    const hf_vision_config *v = &B->cfg->vision;
    const hf_qformer_config *q = &B->cfg->qformer;
    switch (c) {
    case 'E': return t->n_embd;
    case 'F': return t->n_ff;
    case 'V': return t->n_vocab;
    case 'Q': return (int64_t)t->n_head * t->head_dim;
    case 'K': return (int64_t)t->n_head_kv * t->head_dim;
    case 'C': return (int64_t)t->n_ctx + 2; /* OPT's learned positions: offset 2 */
    case 'D': return v->n_embd;
    case 'G': return v->n_ff;
    case 'T': return v->n_pos;
    case 'P': return v->patch_size;
    case 'W': return 3 * (int64_t)v->n_embd; /* BLIP's fused qkv */
    case 'M': return t->n_embd; /* the projector's width: the LLM's */
    case 'H': return q->n_embd;
    case 'I': return q->n_ff;
    case 'N': return q->n_query;
    case 'U': return q->n_vocab;
    case 'O': return q->n_pos;
    default: return c >= '0' && c <= '9' ? c - '0' : -1;
    }
}

/* "[a, b, c]" in Hugging Face's order (outermost first) from ggml's ne. */
static const char *hf_shape(int n_dims, const int64_t *ne, char *buf, size_t cap) {
    size_t k = (size_t)snprintf(buf, cap, "[");
    for (int d = n_dims - 1; d >= 0 && k < cap; d--)
        k += (size_t)snprintf(buf + k, cap - k, "%lld%s", (long long)ne[d], d ? ", " : "");
    if (k < cap) snprintf(buf + k, cap - k, "]");
    return buf;
}

/* Q/K rows (n_head * hd, K) in llama.cpp's order: within each head, row 2i + j takes Hugging
 * Face's row j * hd/2 + i (w.reshape(n_head, 2, hd/2, K).swapaxes(1, 2)), so that ggml's
 * adjacent-pair rope equals HF's rotate_half. */
static void permute_rows(const unsigned char *src, unsigned char *dst, int n_head, int hd, size_t row_bytes) {
    for (int h = 0; h < n_head; h++)
        for (int i = 0; i < hd / 2; i++)
            for (int j = 0; j < 2; j++)
                memcpy(dst + ((size_t)h * hd + 2 * i + j) * row_bytes,
                       src + ((size_t)h * hd + (size_t)j * (hd / 2) + i) * row_bytes, row_bytes);
}

/* A fused qkv interleaved per head (mPLUG-Owl: output row (h*3 + j)*hd + d is part j of head h)
 * as [q; k; v]: row j*H*hd + h*hd + d. */
static void head3_rows(const unsigned char *src, unsigned char *dst, int n_head, int hd, size_t row_bytes) {
    for (int h = 0; h < n_head; h++)
        for (int j = 0; j < 3; j++)
            memcpy(dst + ((size_t)j * n_head * hd + (size_t)h * hd) * row_bytes,
                   src + ((size_t)h * 3 + j) * hd * row_bytes, (size_t)hd * row_bytes);
}

/* The writer's first failure (out of memory, in practice), as this directory's error. */
static int writer_error(builder *B) {
    graft_error we = {0};
    int rc = gguf_writer_error(B->w, &we);
    return rc ? graft_error_set(B->err, rc, "%s: %s", B->dir, we.msg) : GRAFT_OK;
}

static int add_tensor(builder *B, const hf_map_entry *e, int layer) {
    char gname[96], hrel[128], hname[256], sb[96], wb[96];
    snprintf(gname, sizeof gname, e->gguf, layer);
    snprintf(hrel, sizeof hrel, e->hf, layer);
    snprintf(hname, sizeof hname, "%s%s", B->prefix[e->root], hrel);
    const hf_text_config *t = &B->cfg->text;
    graft_st *st = B->own->st;
    int64_t i = graft_st_find_tensor(st, hname);
    if (i < 0) {
        if (e->optional) return GRAFT_OK;
        return graft_error_set(B->err, GRAFT_E_FORMAT, "%s: missing tensor '%s' (llama.cpp's %s)", B->dir, hname,
                               gname);
    }
    graft_st_tensor s = graft_st_tensor_info(st, i);
    if (s.type != GRAFT_TYPE_F32 && s.type != GRAFT_TYPE_F16 && s.type != GRAFT_TYPE_BF16)
        return graft_error_set(B->err, GRAFT_E_UNSUPPORTED,
                               "%s: tensor '%s' has dtype %s, which graft does not read (F32, F16, BF16)", B->dir,
                               hname, s.dtype);
    int n_dims = (int)strlen(e->shape);
    int64_t want[4] = {1, 1, 1, 1};
    int ok = s.n_dims == n_dims;
    for (int d = 0; d < n_dims; d++) {
        want[d] = dim_of(B, e->shape[d]);
        ok = ok && s.ne[d] == want[d];
    }
    if (!ok)
        return graft_error_set(B->err, GRAFT_E_FORMAT, "%s: tensor '%s' has shape %s, config.json implies %s", B->dir,
                               hname, hf_shape(s.n_dims, s.ne, sb, sizeof sb), hf_shape(n_dims, want, wb, sizeof wb));
    if (e->n_dims) n_dims = e->n_dims; /* the shape check saw the dropped dims are 1 */
    int type = s.type;
    const void *data = s.data;
    size_t nbytes = s.nbytes, esz = (size_t)s.elem_size;
    if (n_dims == 1 && type != GRAFT_TYPE_F32) {
        /* llama.cpp stores vectors F32, and graft's loaders take them so */
        float *f = owner_alloc(B->own, (size_t)s.ne[0] * sizeof(float));
        if (!f) return graft_error_set(B->err, GRAFT_E_NOMEM, "%s: out of memory", B->dir);
        const unsigned char *p = s.data;
        for (int64_t k = 0; k < s.ne[0]; k++) {
            uint16_t h;
            memcpy(&h, p + 2 * k, 2);
            f[k] = type == GRAFT_TYPE_F16 ? graft_f16_to_f32(h) : graft_bf16_to_f32(h);
        }
        type = GRAFT_TYPE_F32;
        data = f;
        nbytes = (size_t)s.ne[0] * sizeof(float);
    } else if ((e->rows == HF_ROW_Q || e->rows == HF_ROW_K) && B->layout == GRAFT_HF_LLAMACPP) {
        unsigned char *d = owner_alloc(B->own, nbytes);
        if (!d) return graft_error_set(B->err, GRAFT_E_NOMEM, "%s: out of memory", B->dir);
        permute_rows(s.data, d, e->rows == HF_ROW_Q ? t->n_head : t->n_head_kv, t->head_dim, (size_t)s.ne[0] * esz);
        data = d;
    } else if (nbytes && (uintptr_t)data % esz) {
        /* safetensors aligns nothing; the kernels read elements in place */
        void *d = owner_alloc(B->own, nbytes);
        if (!d) return graft_error_set(B->err, GRAFT_E_NOMEM, "%s: out of memory", B->dir);
        memcpy(d, data, nbytes);
        data = d;
    }
    if (e->rows == HF_ROW_HEAD3) {
        const hf_vision_config *v = &B->cfg->vision;
        unsigned char *d = owner_alloc(B->own, nbytes);
        if (!d) return graft_error_set(B->err, GRAFT_E_NOMEM, "%s: out of memory", B->dir);
        head3_rows(data, d, v->n_head, v->n_embd / v->n_head, n_dims == 1 ? nbytes / (size_t)s.ne[0] : (size_t)s.ne[0] * esz);
        data = d;
    }
    return gguf_writer_add_tensor(B->w, gname, type, n_dims, s.ne, data, nbytes, 0) ? writer_error(B) : GRAFT_OK;
}

/* Whether an entry's tensor exists for layer l, as the config says (hf_map_entry.when). */
static int entry_wanted(const builder *B, const hf_map_entry *e, int l) {
    const hf_config *c = B->cfg;
    switch (e->when) {
    case HF_WHEN_CROSS: return l % c->qformer.cross_freq == 0;
    case HF_WHEN_TEXT: return c->qformer.has_text;
    case HF_WHEN_QKV_BIAS: return c->vision.qkv_bias;
    case HF_WHEN_NORM_BEFORE: return c->text.norm_before;
    default: return 1;
    }
}

/* Every entry of `tab`, per-layer ones n_layer times (the Q-Former's: its own layer count). */
static int add_table(builder *B, const hf_map_entry *tab, int n_layer, int skip_head) {
    int rc;
    for (const hf_map_entry *e = tab; e->gguf; e++) {
        if (skip_head && e->root == HF_ROOT_HEAD) continue;
        hf_map_entry req = *e;
        if (e->root == HF_ROOT_HEAD) req.optional = 0; /* untied: lm_head must be there */
        const int n = !e->per_layer ? 1 : e->root == HF_ROOT_QFORMER ? B->cfg->qformer.n_layer : n_layer;
        for (int l = 0; l < n; l++)
            if (entry_wanted(B, e, l) && (rc = add_tensor(B, &req, l))) return rc;
    }
    return GRAFT_OK;
}

/* The first prefix under which `probe` exists; -1 when none. */
static int find_prefix(graft_st *st, const char *const *prefixes, int n, const char *probe) {
    char name[256];
    for (int k = 0; k < n; k++) {
        snprintf(name, sizeof name, "%s%s", prefixes[k], probe);
        if (graft_st_find_tensor(st, name) >= 0) return k;
    }
    return -1;
}

/* general.file_type as llama.cpp writes it: the type of the matrices (all F32 = 0, F16 = 1,
 * BF16 = 32), read off one representative matrix. */
static uint32_t file_type_of(graft_st *st, const char *name) {
    int64_t i = graft_st_find_tensor(st, name);
    int type = i >= 0 ? graft_st_tensor_info(st, i).type : GRAFT_TYPE_F32;
    return type == GRAFT_TYPE_F16 ? 1u : type == GRAFT_TYPE_BF16 ? 32u : 0u;
}

static const char *base_name(const char *dir, char *buf, size_t cap) {
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/') n--;
    size_t b = n;
    while (b > 0 && dir[b - 1] != '/') b--;
    snprintf(buf, cap, "%.*s", (int)(n - b), dir + b);
    return buf;
}

/* The llama keys, and the tokenizer's (hf_vocab.c) when the directory has tokenizer files: without
 * them the model loads with no vocabulary (ids only). */
static int add_vocab(builder *B) {
    int rc = graft_hf_vocab_add(B->dir, B->cfg->json, B->cfg->text.n_vocab, B->w, B->err);
    return rc == GRAFT_E_NOTFOUND ? GRAFT_OK : rc;
}

/* The clip.vision.* keys of a vision config: sizes, the block count stored, eps, the image
 * normalisation (absent from preprocessor_config.json: CLIP's when clip_default, else left out,
 * and the loader uses CLIP's), use_gelu. */
static void add_vision_keys(gguf_writer *w, const hf_vision_config *v, int n_blocks, int use_gelu, int clip_default) {
    static const double clip_mean[3] = {0.48145466, 0.4578275, 0.40821073}, clip_std[3] = {0.26862954, 0.26130258, 0.27577711};
    gguf_writer_add_u32(w, "clip.vision.image_size", (uint32_t)v->image_size);
    gguf_writer_add_u32(w, "clip.vision.patch_size", (uint32_t)v->patch_size);
    gguf_writer_add_u32(w, "clip.vision.embedding_length", (uint32_t)v->n_embd);
    gguf_writer_add_u32(w, "clip.vision.feed_forward_length", (uint32_t)v->n_ff);
    if (v->projection_dim) gguf_writer_add_u32(w, "clip.vision.projection_dim", (uint32_t)v->projection_dim);
    gguf_writer_add_u32(w, "clip.vision.attention.head_count", (uint32_t)v->n_head);
    gguf_writer_add_f32(w, "clip.vision.attention.layer_norm_epsilon", (float)v->eps);
    gguf_writer_add_u32(w, "clip.vision.block_count", (uint32_t)n_blocks);
    float f[3];
    if ((v->has_norm & 1) || clip_default) {
        for (int i = 0; i < 3; i++) f[i] = (float)(v->has_norm & 1 ? v->mean[i] : clip_mean[i]);
        gguf_writer_add_arr(w, "clip.vision.image_mean", GRAFT_GGUF_F32, f, 3);
    }
    if ((v->has_norm & 2) || clip_default) {
        for (int i = 0; i < 3; i++) f[i] = (float)(v->has_norm & 2 ? v->std[i] : clip_std[i]);
        gguf_writer_add_arr(w, "clip.vision.image_std", GRAFT_GGUF_F32, f, 3);
    }
    gguf_writer_add_bool(w, "clip.use_gelu", use_gelu);
}

/* graft's "opt" keys (the OPT decoder, src/opt.c), and the tokenizer's when there is one. */
static int add_opt_keys(builder *B) {
    const hf_text_config *t = &B->cfg->text;
    gguf_writer *w = B->w;
    char name[256], embd[256];
    base_name(B->dir, name, sizeof name);
    snprintf(embd, sizeof embd, "%sembed_tokens.weight", B->prefix[HF_ROOT_BODY]);
    gguf_writer_add_str(w, "general.architecture", "opt", 3);
    gguf_writer_add_str(w, "general.type", "model", 5);
    gguf_writer_add_str(w, "general.name", name, strlen(name));
    gguf_writer_add_u32(w, "opt.context_length", (uint32_t)t->n_ctx);
    gguf_writer_add_u32(w, "opt.embedding_length", (uint32_t)t->n_embd);
    gguf_writer_add_u32(w, "opt.block_count", (uint32_t)t->n_layer);
    gguf_writer_add_u32(w, "opt.feed_forward_length", (uint32_t)t->n_ff);
    gguf_writer_add_u32(w, "opt.attention.head_count", (uint32_t)t->n_head);
    gguf_writer_add_f32(w, "opt.attention.layer_norm_epsilon", (float)t->ln_eps);
    gguf_writer_add_bool(w, "opt.layer_norm_before", t->norm_before);
    gguf_writer_add_u32(w, "general.file_type", file_type_of(B->own->st, embd));
    gguf_writer_add_u32(w, "general.quantization_version", 2);
    gguf_writer_add_u32(w, "opt.vocab_size", (uint32_t)t->n_vocab);
    return add_vocab(B);
}

static int add_llm_keys(builder *B) {
    const hf_text_config *t = &B->cfg->text;
    gguf_writer *w = B->w;
    if (t->arch == HF_TEXT_OPT) return add_opt_keys(B);
    char name[256];
    base_name(B->dir, name, sizeof name);
    gguf_writer_add_str(w, "general.architecture", "llama", 5);
    gguf_writer_add_str(w, "general.type", "model", 5);
    gguf_writer_add_str(w, "general.name", name, strlen(name));
    gguf_writer_add_u32(w, "llama.block_count", (uint32_t)t->n_layer);
    gguf_writer_add_u32(w, "llama.context_length", (uint32_t)t->n_ctx);
    gguf_writer_add_u32(w, "llama.embedding_length", (uint32_t)t->n_embd);
    gguf_writer_add_u32(w, "llama.feed_forward_length", (uint32_t)t->n_ff);
    gguf_writer_add_u32(w, "llama.attention.head_count", (uint32_t)t->n_head);
    gguf_writer_add_u32(w, "llama.attention.head_count_kv", (uint32_t)t->n_head_kv);
    gguf_writer_add_f32(w, "llama.rope.freq_base", (float)t->rope_theta);
    gguf_writer_add_f32(w, "llama.attention.layer_norm_rms_epsilon", (float)t->rms_eps);
    char embd[256];
    snprintf(embd, sizeof embd, "%sembed_tokens.weight", B->prefix[HF_ROOT_BODY]);
    gguf_writer_add_u32(w, "general.file_type", file_type_of(B->own->st, embd));
    gguf_writer_add_u32(w, "general.quantization_version", 2);
    gguf_writer_add_u32(w, "llama.vocab_size", (uint32_t)t->n_vocab);
    gguf_writer_add_u32(w, "llama.rope.dimension_count", (uint32_t)t->head_dim);
    if (t->rope_linear > 0) {
        /* llama.cpp's current keys, and the older one graft's loader reads */
        gguf_writer_add_str(w, "llama.rope.scaling.type", "linear", 6);
        gguf_writer_add_f32(w, "llama.rope.scaling.factor", (float)t->rope_linear);
        gguf_writer_add_f32(w, "llama.rope.scale_linear", (float)t->rope_linear);
    }
    if (B->layout == GRAFT_HF_NATIVE) gguf_writer_add_bool(w, "graft.rope.neox", 1);
    return add_vocab(B);
}

static void add_mmproj_keys(builder *B) {
    const hf_vision_config *v = &B->cfg->vision;
    gguf_writer *w = B->w;
    char name[256], full[300];
    base_name(B->dir, name, sizeof name);
    snprintf(full, sizeof full, "%s-mmproj", name);
    char patch[256];
    snprintf(patch, sizeof patch, "%sembeddings.patch_embedding.weight", B->prefix[HF_ROOT_VISION]);
    gguf_writer_add_str(w, "general.architecture", "clip", 4);
    gguf_writer_add_bool(w, "clip.has_text_encoder", 0);
    gguf_writer_add_bool(w, "clip.has_vision_encoder", 1);
    gguf_writer_add_bool(w, "clip.has_llava_projector", 1);
    gguf_writer_add_u32(w, "general.file_type", file_type_of(B->own->st, patch));
    gguf_writer_add_str(w, "general.name", full, strlen(full));
    gguf_writer_add_str(w, "general.description", "image encoder for LLaVA", 23);
    gguf_writer_add_str(w, "clip.projector_type", "mlp", 3);
    add_vision_keys(w, v, v->feature_layer, v->use_gelu, 0);
}

/* BLIP-2 / InstructBLIP's mmproj keys: the ViT's as for LLaVA (all blocks: the Q-Former reads
 * the last one), the Q-Former's (clip.qformer.*), and graft.recipe for the pipeline. */
static void add_blip_keys(builder *B) {
    const hf_vision_config *v = &B->cfg->vision;
    const hf_qformer_config *q = &B->cfg->qformer;
    const int ib = B->cfg->model == HF_MODEL_INSTRUCTBLIP;
    gguf_writer *w = B->w;
    char name[256], full[300], patch[256];
    base_name(B->dir, name, sizeof name);
    snprintf(full, sizeof full, "%s-mmproj", name);
    snprintf(patch, sizeof patch, "%sembeddings.patch_embedding.weight", B->prefix[HF_ROOT_VISION]);
    const char *desc = ib ? "image encoder for InstructBLIP"
                     : !strcmp(B->cfg->recipe, "minigpt4") ? "image encoder for MiniGPT-4" : "image encoder for BLIP-2";
    gguf_writer_add_str(w, "general.architecture", "clip", 4);
    gguf_writer_add_bool(w, "clip.has_text_encoder", 0);
    gguf_writer_add_bool(w, "clip.has_vision_encoder", 1);
    gguf_writer_add_bool(w, "clip.has_llava_projector", 0);
    gguf_writer_add_u32(w, "general.file_type", file_type_of(B->own->st, patch));
    gguf_writer_add_str(w, "general.name", full, strlen(full));
    gguf_writer_add_str(w, "general.description", desc, strlen(desc));
    gguf_writer_add_str(w, "clip.projector_type", "qformer", 7);
    const char *recipe = B->cfg->recipe[0] ? B->cfg->recipe : ib ? "instructblip" : "blip2";
    gguf_writer_add_str(w, "graft.recipe", recipe, strlen(recipe));
    add_vision_keys(w, v, v->n_layer, 1, 0);
    gguf_writer_add_u32(w, "clip.qformer.embedding_length", (uint32_t)q->n_embd);
    gguf_writer_add_u32(w, "clip.qformer.block_count", (uint32_t)q->n_layer);
    gguf_writer_add_u32(w, "clip.qformer.attention.head_count", (uint32_t)q->n_head);
    gguf_writer_add_u32(w, "clip.qformer.feed_forward_length", (uint32_t)q->n_ff);
    gguf_writer_add_f32(w, "clip.qformer.attention.layer_norm_epsilon", (float)q->eps);
    gguf_writer_add_u32(w, "clip.qformer.cross_attention_freq", (uint32_t)q->cross_freq);
}

/* mPLUG-Owl's mmproj keys: the ViT's (quick_gelu, all blocks), the abstractor's (clip.abstractor.*,
 * as tests/reference/make_owl_fixtures.py writes them), graft.recipe mplug_owl. */
static void add_owl_keys(builder *B) {
    const hf_vision_config *v = &B->cfg->vision;
    const hf_qformer_config *a = &B->cfg->qformer;
    gguf_writer *w = B->w;
    char name[256], full[300], patch[256];
    base_name(B->dir, name, sizeof name);
    snprintf(full, sizeof full, "%s-mmproj", name);
    snprintf(patch, sizeof patch, "%sembeddings.patch_embed.weight", B->prefix[HF_ROOT_VISION]);
    const char *desc = "image encoder for mPLUG-Owl", *recipe = B->cfg->recipe[0] ? B->cfg->recipe : "mplug_owl";
    gguf_writer_add_str(w, "general.architecture", "clip", 4);
    gguf_writer_add_bool(w, "clip.has_text_encoder", 0);
    gguf_writer_add_bool(w, "clip.has_vision_encoder", 1);
    gguf_writer_add_u32(w, "general.file_type", file_type_of(B->own->st, patch));
    gguf_writer_add_str(w, "general.name", full, strlen(full));
    gguf_writer_add_str(w, "general.description", desc, strlen(desc));
    gguf_writer_add_str(w, "clip.projector_type", "owl_abstractor", 14);
    gguf_writer_add_str(w, "graft.recipe", recipe, strlen(recipe));
    add_vision_keys(w, v, v->n_layer, v->use_gelu, 1);
    gguf_writer_add_u32(w, "clip.abstractor.block_count", (uint32_t)a->n_layer);
    gguf_writer_add_u32(w, "clip.abstractor.query_count", (uint32_t)a->n_query);
    gguf_writer_add_u32(w, "clip.abstractor.embedding_length", (uint32_t)a->n_embd);
    gguf_writer_add_u32(w, "clip.abstractor.feed_forward_length", (uint32_t)a->n_ff);
    gguf_writer_add_u32(w, "clip.abstractor.attention.head_count", (uint32_t)a->n_head);
    /* norm1 / normk / norm2 are built without an eps (torch's 1e-5); ffn_ln takes the config's */
    gguf_writer_add_f32(w, "clip.abstractor.attention.layer_norm_epsilon", 1e-5f);
    gguf_writer_add_f32(w, "clip.abstractor.ffn_layer_norm_epsilon", (float)a->eps);
}

static const char *const LLM_BODY[] = {"language_model.model.", "model.language_model.", "model."};
static const char *const LLM_HEAD[] = {"language_model.", "", ""};
static const char *const OPT_BODY[] = {"language_model.model.decoder.", "model.decoder."};
static const char *const OPT_HEAD[] = {"language_model.", ""};
static const char *const VISION_ROOT[] = {"vision_tower.vision_model.", "model.vision_tower.vision_model."};
static const char *const PROJ_ROOT[] = {"multi_modal_projector.", "model.multi_modal_projector."};
static const char *const QF_LN_ROOT[] = {"qformer.", "qformer.embeddings."};

/* The decoder's roots: under the composite model's language_model (LLaVA 4.40 or >= 4.52, BLIP)
 * or at the top (LlamaForCausalLM, OPTForCausalLM). */
static int find_llm(builder *B) {
    const hf_config *c = B->cfg;
    graft_st *st = B->own->st;
    const int composite = c->model != HF_MODEL_LLAMA && c->model != HF_MODEL_OPT;
    int k;
    if (c->text.arch == HF_TEXT_OPT) {
        k = composite ? find_prefix(st, OPT_BODY, 1, "embed_tokens.weight")
                      : find_prefix(st, OPT_BODY + 1, 1, "embed_tokens.weight") < 0 ? -1 : 1;
        if (k >= 0) {
            B->prefix[HF_ROOT_BODY] = OPT_BODY[k];
            B->prefix[HF_ROOT_HEAD] = OPT_HEAD[k];
        }
        return k < 0 ? graft_error_set(B->err, GRAFT_E_FORMAT,
                                       "%s: no decoder in the checkpoint (no embed_tokens.weight under %s)", B->dir,
                                       composite ? OPT_BODY[0] : OPT_BODY[1])
                     : GRAFT_OK;
    }
    /* LLaVA: the 4.40 or the >= 4.52 names; BLIP: 4.40's; LlamaForCausalLM: model.* */
    k = c->model == HF_MODEL_LLAVA ? find_prefix(st, LLM_BODY, 2, "embed_tokens.weight")
        : composite                ? find_prefix(st, LLM_BODY, 1, "embed_tokens.weight")
        : find_prefix(st, LLM_BODY + 2, 1, "embed_tokens.weight") < 0 ? -1 : 2;
    if (k >= 0) {
        B->prefix[HF_ROOT_BODY] = LLM_BODY[k];
        B->prefix[HF_ROOT_HEAD] = LLM_HEAD[k];
    }
    return k < 0 ? graft_error_set(B->err, GRAFT_E_FORMAT,
                                   "%s: no decoder in the checkpoint (no embed_tokens.weight under %s)", B->dir,
                                   c->model == HF_MODEL_LLAVA ? "language_model.model. or model.language_model."
                                   : composite ? "language_model.model." : "model.")
                 : GRAFT_OK;
}

/* BLIP-2 / InstructBLIP's vision side: roots found in the checkpoint, keys, the table. */
static int build_blip(builder *B) {
    graft_st *st = B->own->st;
    if (graft_st_find_tensor(st, "vision_model.embeddings.class_embedding") < 0 ||
        graft_st_find_tensor(st, "query_tokens") < 0)
        return graft_error_set(B->err, GRAFT_E_FORMAT, "%s: no %s in the checkpoint (no %s)", B->dir,
                               graft_st_find_tensor(st, "query_tokens") < 0 ? "Q-Former queries" : "vision tower",
                               graft_st_find_tensor(st, "query_tokens") < 0 ? "query_tokens"
                                                                            : "vision_model.embeddings.class_embedding");
    int kl = find_prefix(st, QF_LN_ROOT, 2, "layernorm.weight");
    B->prefix[HF_ROOT_VISION] = "vision_model.";
    B->prefix[HF_ROOT_QFORMER] = "qformer.";
    B->prefix[HF_ROOT_QFORMER_LN] = QF_LN_ROOT[kl < 0 ? B->cfg->qformer.has_text : kl];
    B->prefix[HF_ROOT_TOP] = "";
    add_blip_keys(B);
    if (B->cfg->qformer.has_text) { /* InstructBLIP's instruction tokenizer, when the directory has it */
        char tdir[4200];
        snprintf(tdir, sizeof tdir, "%s/qformer_tokenizer", B->dir);
        int rc = graft_hf_vocab_add_wordpiece(tdir, B->cfg->qformer.n_vocab, B->w, B->err);
        if (rc && rc != GRAFT_E_NOTFOUND) return rc;
    }
    return add_table(B, graft_hf_map_blip, B->cfg->vision.n_layer, 0);
}

/* mPLUG-Owl's vision side: the authors' names, at the top of the checkpoint. */
static int build_owl(builder *B) {
    graft_st *st = B->own->st;
    if (graft_st_find_tensor(st, "vision_model.embeddings.cls_token") < 0 || graft_st_find_tensor(st, "query_tokens") < 0)
        return graft_error_set(B->err, GRAFT_E_FORMAT, "%s: no %s in the checkpoint (no %s)", B->dir,
                               graft_st_find_tensor(st, "query_tokens") < 0 ? "abstractor queries" : "vision tower",
                               graft_st_find_tensor(st, "query_tokens") < 0 ? "query_tokens"
                                                                            : "vision_model.embeddings.cls_token");
    B->prefix[HF_ROOT_VISION] = "vision_model.";
    B->prefix[HF_ROOT_QFORMER] = "abstractor.encoder.";
    B->prefix[HF_ROOT_TOP] = "";
    add_owl_keys(B);
    return add_table(B, graft_hf_map_owl, B->cfg->vision.n_layer, 0);
}

static int build(builder *B, graft_hf_part part) {
    const hf_config *c = B->cfg;
    graft_st *st = B->own->st;
    if (part == GRAFT_HF_LLM) {
        int rc = find_llm(B);
        if (!rc) rc = add_llm_keys(B);
        return rc ? rc
                  : add_table(B, c->text.arch == HF_TEXT_OPT ? graft_hf_map_opt : graft_hf_map_llama, c->text.n_layer,
                              c->text.tie);
    }
    if (c->model == HF_MODEL_BLIP2 || c->model == HF_MODEL_INSTRUCTBLIP) return build_blip(B);
    if (c->model == HF_MODEL_OWL) return build_owl(B);
    int kv = find_prefix(st, VISION_ROOT, 2, "embeddings.class_embedding");
    int kp = find_prefix(st, PROJ_ROOT, 2, "linear_1.weight");
    if (kv < 0 || kp < 0)
        return graft_error_set(B->err, GRAFT_E_FORMAT, "%s: no %s in the checkpoint (no %s)", B->dir,
                               kv < 0 ? "vision tower" : "projector",
                               kv < 0 ? "vision_tower.vision_model.embeddings.class_embedding"
                                      : "multi_modal_projector.linear_1.weight");
    B->prefix[HF_ROOT_VISION] = VISION_ROOT[kv];
    B->prefix[HF_ROOT_PROJ] = PROJ_ROOT[kp];
    add_mmproj_keys(B);
    return add_table(B, graft_hf_map_clip, c->vision.feature_layer, 0);
}

int graft_hf_open_gguf(const char *dir, graft_hf_part part, graft_hf_layout layout, graft_gguf **out,
                       graft_error *err) {
    if (out) *out = NULL;
    if (!dir || !out || (part != GRAFT_HF_LLM && part != GRAFT_HF_MMPROJ) ||
        (layout != GRAFT_HF_NATIVE && layout != GRAFT_HF_LLAMACPP))
        return graft_error_set(err, GRAFT_E_INVALID, "graft_hf_open_gguf: invalid argument");
    hf_config cfg;
    int rc = hf_config_read(dir, &cfg, err);
    if (rc) return rc;
    if (part == GRAFT_HF_MMPROJ && !cfg.has_vision) {
        hf_config_free(&cfg);
        return graft_error_set(err, GRAFT_E_NOTFOUND, "%s: the model has no vision tower (config.json)", dir);
    }
    hf_owner *own = calloc(1, sizeof *own);
    gguf_writer *w = gguf_writer_new();
    if (!own || !w) {
        free(own);
        gguf_writer_free(w);
        hf_config_free(&cfg);
        return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", dir);
    }
    rc = graft_st_open_dir(dir, &own->st, err);
    if (rc == GRAFT_E_NOTFOUND) { /* NOTFOUND means "no vision tower" here */
        rc = GRAFT_E_IO;
        if (err) err->code = rc;
    }
    builder B = {dir, &cfg, layout, w, own, {"", "", "", "", "", "", ""}, err};
    if (!rc) rc = build(&B, part);
    if (!rc) rc = writer_error(&B);
    unsigned char *image = NULL;
    size_t size = 0;
    const void **data = NULL;
    if (!rc) rc = gguf_writer_header(w, &image, &size, &data, err);
    gguf_writer_free(w);
    hf_config_free(&cfg);
    if (rc) {
        owner_free(own);
        return rc;
    }
    char name[4200];
    static const char *const model_names[] = {"", "LLaVA", "BLIP-2", "InstructBLIP", "", "mPLUG-Owl"};
    if (part == GRAFT_HF_LLM) snprintf(name, sizeof name, "%s (HF %s)", dir, cfg.text.arch == HF_TEXT_OPT ? "opt" : "llama");
    else snprintf(name, sizeof name, "%s (HF %s vision)", dir, model_names[cfg.model]);
    rc = graft_gguf_open_image(name, image, size, data, own, owner_free, out, err);
    free(data);
    return rc;
}
