/* clip.c - the CLIP vision tower of a LLaVA-style model: loading a llama.cpp mmproj GGUF
 * (clip.* keys, v.* and mm.* tensors, both of llama.cpp's FFN naming conventions) and the forward
 * pass with Hugging Face CLIPVisionModel semantics: patch conv as im2col + matmul, class token
 * first, position embeddings, pre-layernorm, pre-norm blocks with biased q/k/v/out projections and
 * bidirectional attention, then LLaVA's feature selection and the projector (projector.c).
 * Legend and structs: clip.h. Layout rules and the differences from llama.cpp: docs/vision.md. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clip.h"
#include "error.h"
#include "hf.h"
#include "tokenizer.h"
#include "vocab.h"

/* ---- hyper-parameters ----------------------------------------------------------------------- */

static int key_u32(const graft_gguf *g, const char *key, int required, int def, int *out,
                   graft_error *err) {
    uint32_t v;
    int rc = graft_gguf_get_u32(g, key, &v, err);
    if (rc == GRAFT_E_NOTFOUND && !required) {
        *out = def;
        return GRAFT_OK;
    }
    if (rc == GRAFT_E_NOTFOUND)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing key %s", graft_gguf_path(g), key);
    if (rc) return rc;
    if (v == 0 || v > (1u << 24))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: %s = %u is out of range", graft_gguf_path(g),
                               key, v);
    *out = (int)v;
    return GRAFT_OK;
}

static int key_bool(const graft_gguf *g, const char *key, int *out, graft_error *err) {
    int rc = graft_gguf_get_bool(g, key, out, err);
    if (rc == GRAFT_E_NOTFOUND) {
        *out = 0;
        return GRAFT_OK;
    }
    return rc;
}

/* clip.vision.image_mean / image_std: 3 floats (f32 or f64 elements); CLIP's when absent. */
static int key_rgb(const graft_gguf *g, const char *key, const float def[3], float out[3],
                   graft_error *err) {
    graft_gguf_value arr;
    int rc = graft_gguf_get_arr(g, key, -1, &arr, err);
    if (rc == GRAFT_E_NOTFOUND) {
        memcpy(out, def, 3 * sizeof(float));
        return GRAFT_OK;
    }
    if (rc) return rc;
    if (arr.arr_n != 3 || (arr.arr_type != GRAFT_GGUF_F32 && arr.arr_type != GRAFT_GGUF_F64))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: %s must be 3 floats", graft_gguf_path(g), key);
    for (int i = 0; i < 3; i++) {
        graft_gguf_value e = graft_gguf_arr_get(g, &arr, (uint64_t)i);
        out[i] = (float)e.f;
        if (!isfinite(out[i]))
            return graft_error_set(err, GRAFT_E_FORMAT, "%s: %s[%d] is not finite", graft_gguf_path(g), key, i);
    }
    return GRAFT_OK;
}

/* clip.vision.feature_layer: hidden-state indices (0 = after pre-LN, k = after block k), an array
 * of integers or one integer; absent = the last stored block. */
static int key_feature_layers(const graft_gguf *g, graft_clip_hparams *hp, graft_error *err) {
    const char *key = "clip.vision.feature_layer", *path = graft_gguf_path(g);
    int64_t ki = graft_gguf_find_kv(g, key);
    if (ki < 0) {
        hp->n_feature_layers = 1;
        hp->feature_layers[0] = hp->n_block;
        return GRAFT_OK;
    }
    graft_gguf_value v = graft_gguf_kv_value(g, ki);
    uint64_t n = v.type == GRAFT_GGUF_ARRAY ? v.arr_n : 1;
    if (n < 1 || n > GRAFT_CLIP_MAX_FEATURE_LAYERS)
        return graft_error_set(err, GRAFT_E_UNSUPPORTED, "%s: %s has %llu entries (graft takes 1 to %d)",
                               path, key, (unsigned long long)n, GRAFT_CLIP_MAX_FEATURE_LAYERS);
    for (uint64_t i = 0; i < n; i++) {
        graft_gguf_value e = v.type == GRAFT_GGUF_ARRAY ? graft_gguf_arr_get(g, &v, i) : v;
        int64_t layer;
        switch (e.type) {
        case GRAFT_GGUF_U8: case GRAFT_GGUF_U16: case GRAFT_GGUF_U32: case GRAFT_GGUF_U64:
            layer = e.u > (uint64_t)INT32_MAX ? -1 : (int64_t)e.u;
            break;
        case GRAFT_GGUF_I8: case GRAFT_GGUF_I16: case GRAFT_GGUF_I32: case GRAFT_GGUF_I64:
            layer = e.i;
            break;
        default:
            return graft_error_set(err, GRAFT_E_FORMAT, "%s: %s must hold integers", path, key);
        }
        if (layer < 0 || layer > hp->n_block)
            return graft_error_set(err, GRAFT_E_FORMAT,
                                   "%s: %s[%llu] = %lld, but the file stores %d blocks (valid: 0..%d)",
                                   path, key, (unsigned long long)i, (long long)layer, hp->n_block,
                                   hp->n_block);
        hp->feature_layers[i] = (int)layer;
    }
    hp->n_feature_layers = (int)n;
    return GRAFT_OK;
}

static int load_hparams(graft_vision *v, graft_error *err) {
    const graft_gguf *g = v->gguf;
    const char *path = graft_gguf_path(g);
    graft_clip_hparams *hp = &v->hp;
    int rc, has_vision = 1, use_gelu, use_silu;
    if (graft_gguf_find_kv(g, "clip.has_vision_encoder") >= 0 &&
        (rc = graft_gguf_get_bool(g, "clip.has_vision_encoder", &has_vision, err)))
        return rc;
    if (!has_vision)
        return graft_error_set(err, GRAFT_E_UNSUPPORTED, "%s: clip.has_vision_encoder is false", path);
    if ((rc = key_u32(g, "clip.vision.image_size", 1, 0, &hp->image_size, err)) ||
        (rc = key_u32(g, "clip.vision.patch_size", 1, 0, &hp->patch_size, err)) ||
        (rc = key_u32(g, "clip.vision.embedding_length", 1, 0, &hp->n_embd, err)) ||
        (rc = key_u32(g, "clip.vision.feed_forward_length", 1, 0, &hp->n_ff, err)) ||
        (rc = key_u32(g, "clip.vision.attention.head_count", 1, 0, &hp->n_head, err)) ||
        (rc = key_u32(g, "clip.vision.block_count", 1, 0, &hp->n_block, err)) ||
        (rc = key_bool(g, "clip.use_gelu", &use_gelu, err)) ||
        (rc = key_bool(g, "clip.use_silu", &use_silu, err)))
        return rc;
    rc = graft_gguf_get_f32(g, "clip.vision.attention.layer_norm_epsilon", &hp->eps, err);
    if (rc == GRAFT_E_NOTFOUND)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing key clip.vision.attention.layer_norm_epsilon", path);
    if (rc) return rc;
    if (!(hp->eps > 0.0f && hp->eps < 1.0f))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: layer_norm_epsilon %g is out of range", path,
                               (double)hp->eps);
    if (use_gelu && use_silu)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: clip.use_gelu and clip.use_silu are both true", path);
    hp->act = use_gelu ? GRAFT_CLIP_ACT_GELU_ERF : use_silu ? GRAFT_CLIP_ACT_SILU : GRAFT_CLIP_ACT_QUICK_GELU;
    static const float clip_mean[3] = {0.48145466f, 0.4578275f, 0.40821073f};
    static const float clip_std[3] = {0.26862954f, 0.26130258f, 0.27577711f};
    if ((rc = key_rgb(g, "clip.vision.image_mean", clip_mean, hp->mean, err)) ||
        (rc = key_rgb(g, "clip.vision.image_std", clip_std, hp->std, err)))
        return rc;
    for (int i = 0; i < 3; i++)
        if (!(hp->std[i] > 0.0f))
            return graft_error_set(err, GRAFT_E_FORMAT, "%s: clip.vision.image_std[%d] is not positive", path, i);
    if (hp->image_size % hp->patch_size)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: image_size %d is not a multiple of patch_size %d",
                               path, hp->image_size, hp->patch_size);
    if (hp->n_embd % hp->n_head)
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: embedding_length %d is not a multiple of head_count %d",
                               path, hp->n_embd, hp->n_head);
    hp->grid = hp->image_size / hp->patch_size;
    if ((int64_t)hp->grid * hp->grid > (1 << 20))
        return graft_error_set(err, GRAFT_E_LIMIT, "%s: %d x %d patches is too many", path, hp->grid, hp->grid);
    hp->n_patches = hp->grid * hp->grid;
    hp->n_pos = hp->n_patches + 1;
    hp->head_dim = hp->n_embd / hp->n_head;
    if ((rc = key_feature_layers(g, hp, err))) return rc;
    hp->n_run = 0;
    for (int i = 0; i < hp->n_feature_layers; i++)
        if (hp->feature_layers[i] > hp->n_run) hp->n_run = hp->feature_layers[i];
    return GRAFT_OK;
}

/* ---- tensors -------------------------------------------------------------------------------- */

/* Both or neither of a norm's weight and bias. */
static int load_norm(graft_vision *v, const char *prefix, int optional, const float **w,
                     const float **b, graft_error *err) {
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "%s.weight", prefix);
    snprintf(bn, sizeof bn, "%s.bias", prefix);
    const int64_t D = v->hp.n_embd;
    if (optional && !graft_wl_has(&v->wl, wn) && !graft_wl_has(&v->wl, bn)) {
        *w = *b = NULL;
        return GRAFT_OK;
    }
    int rc;
    if ((rc = graft_wl_vector(&v->wl, wn, D, 0, w, err)) || (rc = graft_wl_vector(&v->wl, bn, D, 0, b, err)))
        return rc;
    return GRAFT_OK;
}

/* A linear layer "<prefix>.weight" (M, K) with its bias "<prefix>.bias" (M). */
static int load_linear(graft_vision *v, const char *prefix, int64_t K, int64_t M, graft_tensor *w,
                       const float **b, graft_error *err) {
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "%s.weight", prefix);
    snprintf(bn, sizeof bn, "%s.bias", prefix);
    int rc;
    if ((rc = graft_wl_matrix(&v->wl, wn, K, M, 0, w, err)) ||
        (rc = graft_wl_vector(&v->wl, bn, M, 0, b, err)))
        return rc;
    return GRAFT_OK;
}

/* The attention's q, k, v projections: three linear layers, or one fused "<qkv>" (3D, D) whose
 * rows are [Wq; Wk; Wv] (Hugging Face Blip2VisionModel's self_attn.qkv), taken as three row
 * views of the one mapping. The fused bias (3D) is [bq; bk; bv]; BLIP-2 stores bk = 0; a model
 * with qkv_bias false has none. */
static int load_attn_qkv(graft_vision *v, const char *qkv, const char *q, const char *k,
                         const char *vv, graft_clip_layer *L, graft_error *err) {
    const int64_t D = v->hp.n_embd;
    char wn[64], bn[64];
    snprintf(wn, sizeof wn, "%s.weight", qkv);
    snprintf(bn, sizeof bn, "%s.bias", qkv);
    int rc;
    if (!graft_wl_has(&v->wl, wn)) {
        if ((rc = load_linear(v, q, D, D, &L->wq, &L->bq, err)) ||
            (rc = load_linear(v, k, D, D, &L->wk, &L->bk, err)) ||
            (rc = load_linear(v, vv, D, D, &L->wv, &L->bv, err)))
            return rc;
        return GRAFT_OK;
    }
    graft_tensor w;
    const float *b;
    if ((rc = graft_wl_matrix(&v->wl, wn, D, 3 * D, 0, &w, err)) ||
        (rc = graft_wl_vector(&v->wl, bn, 3 * D, 1, &b, err)))
        return rc;
    graft_tensor *parts[3] = {&L->wq, &L->wk, &L->wv};
    const float **biases[3] = {&L->bq, &L->bk, &L->bv};
    for (int j = 0; j < 3; j++) {
        *parts[j] = w;                       /* (D, D): rows j D .. (j + 1) D - 1 */
        parts[j]->ne[1] = D;
        parts[j]->nb[2] = parts[j]->nb[3] = parts[j]->nb[1] * (size_t)D;
        parts[j]->data = (char *)w.data + (size_t)j * (size_t)D * w.nb[1];
        *biases[j] = b ? b + (size_t)j * (size_t)D : NULL;
    }
    return GRAFT_OK;
}

/* Which of v.blk.N.ffn_up / ffn_down holds CLIP's fc1 (D -> F): the one whose ne[0] (its input
 * width) is D. The legacy converter stored fc1 as ffn_down, newer converters as ffn_up. When
 * D == F the shapes cannot tell; like llama.cpp, graft then takes the legacy naming. */
static int ffn_is_legacy(graft_vision *v, int l) {
    char name[64];
    snprintf(name, sizeof name, "v.blk.%d.ffn_down.weight", l);
    int64_t i = graft_gguf_find_tensor(v->gguf, name);
    if (i < 0) return 0; /* the loader reports the missing tensor */
    graft_gguf_tensor t = graft_gguf_tensor_info(v->gguf, i);
    return t.ne[0] == v->hp.n_embd;
}

static int load_tensors(graft_vision *v, graft_error *err) {
    const graft_clip_hparams *hp = &v->hp;
    const char *path = graft_gguf_path(v->gguf);
    const int64_t D = hp->n_embd, F = hp->n_ff, p = hp->patch_size;
    int rc;

    /* the patch conv (D, 3, p, p): ggml ne {p, p, 3, D}; as a matrix (D, 3 p p) */
    int64_t pi = graft_gguf_find_tensor(v->gguf, "v.patch_embd.weight");
    if (pi < 0) return graft_error_set(err, GRAFT_E_FORMAT, "%s: missing tensor 'v.patch_embd.weight'", path);
    graft_gguf_tensor pt = graft_gguf_tensor_info(v->gguf, pi);
    char sb[96];
    if (pt.n_dims != 4 || pt.ne[0] != p || pt.ne[1] != p || pt.ne[2] != 3 || pt.ne[3] != D)
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: tensor 'v.patch_embd.weight' has shape %s, expected [%lld, %lld, 3, "
                               "%lld] (patch, patch, RGB, width)", path, graft_wl_shape(&pt, sb, sizeof sb),
                               (long long)p, (long long)p, (long long)D);
    if ((rc = graft_wl_matrix(&v->wl, "v.patch_embd.weight", 3 * p * p, D, 0, &v->patch_w, err)) ||
        (rc = graft_wl_vector(&v->wl, "v.patch_embd.bias", D, 1, &v->patch_b, err)) ||
        (rc = graft_wl_vector(&v->wl, "v.class_embd", D, 0, &v->class_embd, err)) ||
        (rc = graft_wl_matrix(&v->wl, "v.position_embd.weight", D, hp->n_pos, 0, &v->pos_embd, err)) ||
        (rc = load_norm(v, "v.pre_ln", 1, &v->pre_ln_w, &v->pre_ln_b, err)) ||
        (rc = load_norm(v, "v.post_ln", 1, &v->post_ln_w, &v->post_ln_b, err)))
        return rc;

    /* each block has at least 12 tensors: a forged block_count must not size an allocation */
    if ((int64_t)hp->n_block * 12 > graft_gguf_n_tensors(v->gguf))
        return graft_error_set(err, GRAFT_E_FORMAT, "%s: clip.vision.block_count = %d, but the file has only %lld tensors",
                               path, hp->n_block, (long long)graft_gguf_n_tensors(v->gguf));
    v->layers = calloc((size_t)hp->n_block, sizeof *v->layers);
    if (!v->layers) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
    for (int l = 0; l < hp->n_block; l++) {
        graft_clip_layer *L = &v->layers[l];
        char n[8][48];
        const char *sfx[8] = {"ln1", "attn_q", "attn_k", "attn_v", "attn_out", "ln2", "ffn_up", "ffn_down"};
        for (int j = 0; j < 8; j++) snprintf(n[j], sizeof n[j], "v.blk.%d.%s", l, sfx[j]);
        const int legacy = ffn_is_legacy(v, l);
        if (l == 0) v->hp.legacy_ffn = legacy;
        const char *fc1 = legacy ? n[7] : n[6], *fc2 = legacy ? n[6] : n[7];
        char qkv[48];
        snprintf(qkv, sizeof qkv, "v.blk.%d.attn_qkv", l);
        if ((rc = load_norm(v, n[0], 0, &L->ln1_w, &L->ln1_b, err)) ||
            (rc = load_attn_qkv(v, qkv, n[1], n[2], n[3], L, err)) ||
            (rc = load_linear(v, n[4], D, D, &L->wo, &L->bo, err)) ||
            (rc = load_norm(v, n[5], 0, &L->ln2_w, &L->ln2_b, err)) ||
            (rc = load_linear(v, fc1, D, F, &L->fc1, &L->fc1_b, err)) ||
            (rc = load_linear(v, fc2, F, D, &L->fc2, &L->fc2_b, err)))
            return rc;
    }

    /* the projector (default "mlp": files from before clip.projector_type existed) */
    const char *type = "mlp";
    size_t len = 3;
    rc = graft_gguf_get_str(v->gguf, "clip.projector_type", &type, &len, err);
    if (rc && rc != GRAFT_E_NOTFOUND) return rc;
    if (rc == GRAFT_E_NOTFOUND) {
        type = "mlp";
        len = 3;
    }
    if ((rc = graft_projector_load(&v->proj, type, len, hp->n_feature_layers * hp->n_embd, &v->wl, err)))
        return rc;
    snprintf(v->proj_name, sizeof v->proj_name, "%s", v->proj.ops->name);
    if (v->proj.ops->rows == GRAFT_PROJ_ROWS_LAST_HIDDEN &&
        (hp->n_feature_layers != 1 || hp->feature_layers[0] != hp->n_block))
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: the %s projector reads the last block's output, but "
                               "clip.vision.feature_layer selects other hidden states", path, v->proj_name);
    return GRAFT_OK;
}

/* graft.recipe (absent: LLaVA), the projector's tokenizer when the file carries one, and the
 * instruction length its text embeddings allow. */
static int load_recipe(graft_vision *v, graft_error *err) {
    const char *path = graft_gguf_path(v->gguf), *name;
    size_t len;
    int rc = graft_gguf_get_str(v->gguf, "graft.recipe", &name, &len, err);
    if (rc == GRAFT_E_NOTFOUND) {
        v->recipe = graft_recipe_find("llava");
    } else if (rc) {
        return rc;
    } else {
        char buf[32];
        snprintf(buf, sizeof buf, "%.*s", (int)(len < sizeof buf ? len : sizeof buf - 1), name);
        if (!(v->recipe = graft_recipe_find(buf)) || len >= sizeof buf)
            return graft_error_set(err, GRAFT_E_UNSUPPORTED, "%s: graft.recipe '%.*s' is not one graft knows "
                                   "(llava, blip2, instructblip, minigpt4, mplug_owl)", path, (int)(len > 64 ? 64 : len), name);
    }
    if (graft_gguf_find_kv(v->gguf, "tokenizer.ggml.model") >= 0 &&
        (rc = graft_vocab_load(v->gguf, &v->vocab, err)))
        return rc;
    int64_t ti = graft_gguf_find_tensor(v->gguf, "qf.pos_embd.weight");
    if (ti >= 0) {
        graft_gguf_tensor t = graft_gguf_tensor_info(v->gguf, ti);
        v->n_text_max = t.n_dims == 2 && t.ne[1] > 0 && t.ne[1] <= (1 << 16) ? (int)t.ne[1] : 0;
    }
    return GRAFT_OK;
}

int graft_vision_load(const char *path, graft_vision **out, graft_error *err) {
    *out = NULL;
    graft_vision *v = calloc(1, sizeof *v);
    if (!v) return graft_error_set(err, GRAFT_E_NOMEM, "%s: out of memory", path);
    int rc = graft_hf_path_is_dir(path) ? graft_hf_open_gguf(path, GRAFT_HF_MMPROJ, GRAFT_HF_NATIVE, &v->gguf, err)
                                   : graft_gguf_open(path, &v->gguf, err);
    if (rc) {
        free(v);
        return rc;
    }
    graft_wl_init(&v->wl, v->gguf);
    const char *arch;
    size_t len;
    rc = graft_gguf_get_str(v->gguf, "general.architecture", &arch, &len, err);
    if (rc == GRAFT_E_NOTFOUND)
        rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: no general.architecture key", path);
    else if (!rc && (len != 4 || memcmp(arch, "clip", 4)))
        rc = graft_error_set(err, GRAFT_E_UNSUPPORTED,
                             "%s: architecture '%.*s' is not an mmproj (expected 'clip')", path,
                             (int)(len > 64 ? 64 : len), arch);
    if (!rc) rc = load_hparams(v, err);
    if (!rc) rc = load_tensors(v, err);
    if (!rc) rc = load_recipe(v, err);
    if (rc) {
        graft_vision_free(v);
        return rc;
    }
    *out = v;
    return GRAFT_OK;
}

void graft_vision_free(graft_vision *v) {
    if (!v) return;
    graft_vocab_free(v->vocab);
    graft_projector_free(&v->proj);
    free(v->layers);
    graft_wl_free(&v->wl);
    graft_gguf_close(v->gguf);
    free(v);
}

int graft_vision_image_size(const graft_vision *v) { return v->hp.image_size; }
int graft_vision_patch_size(const graft_vision *v) { return v->hp.patch_size; }
void graft_vision_norm(const graft_vision *v, float mean[3], float std[3]) {
    memcpy(mean, v->hp.mean, sizeof v->hp.mean);
    memcpy(std, v->hp.std, sizeof v->hp.std);
}
int graft_vision_n_tokens(const graft_vision *v) {
    return v->proj.ops->n_out_tokens(&v->proj, v->hp.n_patches);
}
int graft_vision_n_embd(const graft_vision *v) { return v->proj.d_out; }
int graft_vision_n_embd_vision(const graft_vision *v) { return v->hp.n_embd; }
int graft_vision_n_layer(const graft_vision *v) { return v->hp.n_run; }
const char *graft_vision_projector(const graft_vision *v) { return v->proj_name; }
const graft_recipe *graft_vision_recipe(const graft_vision *v) { return v->recipe; }
int graft_vision_n_text_max(const graft_vision *v) { return v->recipe->instruction ? v->n_text_max : 0; }

int graft_vision_tokenize(const graft_vision *v, const char *text, size_t len, int32_t **ids, size_t *n,
                          graft_error *err) {
    *ids = NULL;
    *n = 0;
    if (!v->vocab)
        return graft_error_set(err, GRAFT_E_NOTFOUND, "%s: the mmproj has no tokenizer for its projector",
                               graft_gguf_path(v->gguf));
    return graft_tokenize(v->vocab, text, len, 1, 0, ids, n, err);
}

/* ---- context -------------------------------------------------------------------------------- */

graft_vision_ctx_params graft_vision_ctx_default_params(void) {
    graft_vision_ctx_params p;
    memset(&p, 0, sizeof p);
    p.n_threads = 2;
    p.select = GRAFT_VISION_SELECT_DEFAULT;
    p.keep_hidden = 0;
    return p;
}

static size_t max_sz(size_t a, size_t b) { return a > b ? a : b; }

int graft_vision_ctx_new(const graft_vision *v, const graft_vision_ctx_params *params,
                         graft_vision_ctx **out, graft_error *err) {
    *out = NULL;
    graft_vision_ctx_params p = params ? *params : graft_vision_ctx_default_params();
    if (p.n_threads < 1) p.n_threads = 1;
    if (p.select != GRAFT_VISION_SELECT_DEFAULT && p.select != GRAFT_VISION_SELECT_FULL)
        return graft_error_set(err, GRAFT_E_INVALID, "vision context: unknown feature selection %d", p.select);
    if (p.n_text_max < 0 || p.n_text_max > (1 << 20))
        return graft_error_set(err, GRAFT_E_INVALID, "vision context: n_text_max %d is out of range", p.n_text_max);
    const graft_clip_hparams *hp = &v->hp;
    /* a projector that reads the last hidden state gets every row, whatever the selection */
    if (v->proj.ops->rows == GRAFT_PROJ_ROWS_LAST_HIDDEN) p.select = GRAFT_VISION_SELECT_FULL;
    const int n_feat_rows = p.select == GRAFT_VISION_SELECT_FULL ? hp->n_pos : hp->n_patches;
    if (v->proj.ops->n_out_tokens(&v->proj, n_feat_rows) < 1)
        return graft_error_set(err, GRAFT_E_UNSUPPORTED, "vision context: the %s projector cannot take "
                               "%d feature rows", v->proj_name, n_feat_rows);
    graft_vision_ctx *c = calloc(1, sizeof *c);
    if (!c) return graft_error_set(err, GRAFT_E_NOMEM, "out of memory creating a vision context");
    c->vis = v;
    c->params = p;
    c->kt = graft_kernels_get();
    c->n_feat_rows = n_feat_rows;

    const size_t T = (size_t)hp->n_pos, D = (size_t)hp->n_embd, F = (size_t)hp->n_ff, f = sizeof(float);
    const size_t K = 3 * (size_t)hp->patch_size * (size_t)hp->patch_size;
    const size_t Df = (size_t)hp->n_feature_layers * D;
    size_t mm = graft_linear_scratch_bytes(&v->patch_w, hp->n_patches, p.n_threads);
    for (int l = 0; l < hp->n_run; l++) {
        const graft_clip_layer *L = &v->layers[l];
        const graft_tensor *ws[] = {&L->wq, &L->wk, &L->wv, &L->wo, &L->fc1, &L->fc2};
        for (int i = 0; i < 6; i++) mm = max_sz(mm, graft_linear_scratch_bytes(ws[i], (int)T, p.n_threads));
    }
    const size_t proj = v->proj.ops->scratch_bytes(&v->proj, c->n_feat_rows, p.n_text_max, p.n_threads);
    const size_t hidden = p.keep_hidden ? (size_t)(hp->n_run + 1) * T * D * f : 0;

    size_t sizes[] = {(size_t)hp->n_patches * K * f, T * D * f, T * D * f, T * D * f, T * D * f,
                      T * D * f, T * D * f, T * F * f, hidden, (size_t)c->n_feat_rows * Df * f,
                      mm, T * T * f, (size_t)hp->head_dim * T * f, proj};
    void **slots[] = {(void **)&c->col, (void **)&c->x, (void **)&c->xn, (void **)&c->q,
                      (void **)&c->k, (void **)&c->v, (void **)&c->att, (void **)&c->ff,
                      (void **)&c->hidden, (void **)&c->feats, &c->mm_scratch,
                      (void **)&c->scores, (void **)&c->vt, &c->proj_scratch};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) total += (sizes[i] + 63) & ~(size_t)63;
    if (graft_arena_init(&c->arena, total) != GRAFT_OK) {
        free(c);
        return graft_error_set(err, GRAFT_E_NOMEM, "cannot allocate %.1f MiB for a vision context",
                               (double)total / (1 << 20));
    }
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        *slots[i] = sizes[i] ? graft_arena_alloc(&c->arena, sizes[i]) : NULL;
    *out = c;
    return GRAFT_OK;
}

void graft_vision_ctx_free(graft_vision_ctx *c) {
    if (!c) return;
    graft_arena_free(&c->arena);
    free(c);
}

const char *graft_vision_ctx_last_error(const graft_vision_ctx *c) { return c->err; }

int graft_vision_ctx_n_tokens(const graft_vision_ctx *c) {
    return c->vis->proj.ops->n_out_tokens(&c->vis->proj, c->n_feat_rows);
}

/* ---- forward -------------------------------------------------------------------------------- */

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec * 1e-6;
}

/* col (Np, 3 p p): row n = gy * g + gx holds the patch's pixels in (c, ky, kx) order, the order
 * of the conv kernel's rows, so the conv is col . W^T. */
static void im2col(const graft_clip_hparams *hp, const float *pixels, float *col) {
    const int S = hp->image_size, p = hp->patch_size, g = hp->grid;
    const size_t K = 3 * (size_t)p * (size_t)p;
    for (int gy = 0; gy < g; gy++)
        for (int gx = 0; gx < g; gx++) {
            float *row = col + (size_t)(gy * g + gx) * K;
            for (int ch = 0; ch < 3; ch++)
                for (int ky = 0; ky < p; ky++)
                    memcpy(row + ((size_t)ch * p + ky) * p,
                           pixels + ((size_t)ch * S + (size_t)gy * p + ky) * S + (size_t)gx * p,
                           (size_t)p * sizeof(float));
        }
}

/* Copies hidden state k (in x) into the feature columns of every feature layer equal to k. */
static void gather_features(graft_vision_ctx *c, int k) {
    const graft_clip_hparams *hp = &c->vis->hp;
    const size_t D = (size_t)hp->n_embd, Df = (size_t)hp->n_feature_layers * D;
    const int first = c->params.select == GRAFT_VISION_SELECT_FULL ? 0 : 1; /* row 0 is CLS */
    for (int fi = 0; fi < hp->n_feature_layers; fi++) {
        if (hp->feature_layers[fi] != k) continue;
        for (int r = 0; r < c->n_feat_rows; r++)
            memcpy(c->feats + (size_t)r * Df + (size_t)fi * D, c->x + (size_t)(r + first) * D, D * sizeof(float));
    }
    if (c->hidden) memcpy(c->hidden + (size_t)k * hp->n_pos * D, c->x, (size_t)hp->n_pos * D * sizeof(float));
}

/* att (T, D) = softmax(scale q_h k_h^T) v_h for every head h: bidirectional attention as two
 * matmuls per head, so that the T x T products take the batched matmul paths (OpenBLAS for large
 * T). graft_attention's per-query dot products are built for decoding; here they cost ten times
 * the matmul time for ViT-L/14-336. Every row is computed by one thread in a fixed order, so the
 * result does not depend on the thread count. */
static void vit_attention(graft_vision_ctx *c) {
    const graft_clip_hparams *hp = &c->vis->hp;
    const graft_kernels *kt = c->kt;
    const int T = hp->n_pos, D = hp->n_embd, hd = hp->head_dim, nt = c->params.n_threads;
    const float scale = 1.0f / sqrtf((float)hd);
    for (int h = 0; h < hp->n_head; h++) {
        /* scores (T, T) = q_h (T, hd) . k_h^T, k_h rows D floats apart */
        graft_matmul(kt, GRAFT_TYPE_F32, c->k + (size_t)h * hd, (size_t)D * sizeof(float), T, hd,
                     c->q + (size_t)h * hd, D, T, c->scores, T, c->mm_scratch, nt, 0);
#pragma omp parallel for num_threads(nt) schedule(static)
        for (int i = 0; i < T; i++) {
            float *row = c->scores + (size_t)i * T;
            kt->scale(T, scale, row, row);
            kt->softmax(T, row);
        }
        /* v_h^T (hd, T), then att[:, h] (T, hd) = scores . v_h */
        for (int j = 0; j < T; j++)
            for (int d = 0; d < hd; d++) c->vt[(size_t)d * T + j] = c->v[(size_t)j * D + (size_t)h * hd + d];
        graft_matmul(kt, GRAFT_TYPE_F32, c->vt, (size_t)T * sizeof(float), hd, T, c->scores, T, T,
                     c->att + (size_t)h * hd, D, c->mm_scratch, nt, 0);
    }
}

static void block_forward(graft_vision_ctx *c, const graft_clip_layer *L) {
    const graft_clip_hparams *hp = &c->vis->hp;
    const graft_kernels *kt = c->kt;
    const int T = hp->n_pos, D = hp->n_embd, F = hp->n_ff, nt = c->params.n_threads;

    /* x += out_proj(attention(ln1(x))) */
    for (int t = 0; t < T; t++)
        kt->layernorm(D, c->x + (size_t)t * D, L->ln1_w, L->ln1_b, hp->eps, c->xn + (size_t)t * D);
    graft_linear(kt, &L->wq, L->bq, c->xn, T, c->q, c->mm_scratch, nt); /* (T, D) */
    graft_linear(kt, &L->wk, L->bk, c->xn, T, c->k, c->mm_scratch, nt); /* (T, D) */
    graft_linear(kt, &L->wv, L->bv, c->xn, T, c->v, c->mm_scratch, nt); /* (T, D) */
    vit_attention(c);                                                    /* (T, D) */
    graft_linear(kt, &L->wo, L->bo, c->att, T, c->xn, c->mm_scratch, nt); /* (T, D) */
    kt->add((int64_t)T * D, c->x, c->xn, c->x);

    /* x += fc2(act(fc1(ln2(x)))) */
    for (int t = 0; t < T; t++)
        kt->layernorm(D, c->x + (size_t)t * D, L->ln2_w, L->ln2_b, hp->eps, c->xn + (size_t)t * D);
    graft_linear(kt, &L->fc1, L->fc1_b, c->xn, T, c->ff, c->mm_scratch, nt); /* (T, F) */
    const int64_t nf = (int64_t)T * F;
    if (hp->act == GRAFT_CLIP_ACT_GELU_ERF) kt->gelu_erf(nf, c->ff, c->ff);
    else if (hp->act == GRAFT_CLIP_ACT_SILU) kt->silu(nf, c->ff, c->ff);
    else kt->quick_gelu(nf, c->ff, c->ff);
    graft_linear(kt, &L->fc2, L->fc2_b, c->ff, T, c->xn, c->mm_scratch, nt); /* (T, D) */
    kt->add((int64_t)T * D, c->x, c->xn, c->x);
}

/* pixels (3, S, S) -> c->feats (Nt, Df), and c->hidden when kept. */
static void vit_forward(graft_vision_ctx *c, const float *pixels) {
    const graft_vision *v = c->vis;
    const graft_clip_hparams *hp = &v->hp;
    const graft_kernels *kt = c->kt;
    const int T = hp->n_pos, D = hp->n_embd;

    /* embeddings: x[0] = class embedding, x[1 + n] = patch n . W^T (+ b); then + position rows */
    im2col(hp, pixels, c->col);
    graft_linear(kt, &v->patch_w, v->patch_b, c->col, hp->n_patches, c->x + D, c->mm_scratch,
                 c->params.n_threads);                                   /* (Np, D) */
    memcpy(c->x, v->class_embd, (size_t)D * sizeof(float));
    for (int t = 0; t < T; t++) {
        graft_tensor_row_f32(kt, &v->pos_embd, t, c->xn);
        kt->add(D, c->x + (size_t)t * D, c->xn, c->x + (size_t)t * D);
    }
    if (v->pre_ln_w)
        for (int t = 0; t < T; t++)
            kt->layernorm(D, c->x + (size_t)t * D, v->pre_ln_w, v->pre_ln_b, hp->eps, c->x + (size_t)t * D);
    gather_features(c, 0);
    for (int l = 0; l < hp->n_run; l++) {
        block_forward(c, &v->layers[l]);
        gather_features(c, l + 1);
    }
    /* last_hidden_state = post_layernorm(every row of the last block), for the projectors that
     * read it; the hidden states kept for research stay before it, as Hugging Face's do */
    if (v->proj.ops->rows == GRAFT_PROJ_ROWS_LAST_HIDDEN && v->post_ln_w)
        for (int r = 0; r < c->n_feat_rows; r++)
            kt->layernorm(D, c->feats + (size_t)r * D, v->post_ln_w, v->post_ln_b, hp->eps,
                          c->feats + (size_t)r * D);
}

int graft_vision_encode(graft_vision_ctx *c, const float *pixels, const int32_t *text_ids,
                        int n_text, float *out) {
    c->err[0] = 0;
    c->encoded = 0;
    if (!pixels || !out || n_text < 0 || (n_text > 0 && !text_ids)) {
        snprintf(c->err, sizeof c->err, "vision encode: %s", !pixels ? "no pixels given"
                 : !out ? "no output buffer given" : "invalid conditioning text");
        return GRAFT_E_INVALID;
    }
    if (n_text > c->params.n_text_max) {
        snprintf(c->err, sizeof c->err, "vision encode: %d conditioning tokens > n_text_max %d",
                 n_text, c->params.n_text_max);
        return GRAFT_E_LIMIT;
    }
    const graft_vision *v = c->vis;
    double t0 = now_ms();
    vit_forward(c, pixels);
    double t1 = now_ms();
    graft_error perr;
    perr.msg[0] = 0;
    graft_projector_run run = {.kt = c->kt, .n_threads = c->params.n_threads, .scratch = c->proj_scratch,
                               .text_ids = text_ids, .n_text = n_text, .err = &perr};
    int rc = v->proj.ops->forward(&v->proj, c->feats, c->n_feat_rows, out, &run);
    c->vit_ms = t1 - t0;
    c->proj_ms = now_ms() - t1;
    if (rc) {
        if (perr.msg[0]) snprintf(c->err, sizeof c->err, "vision encode: %s", perr.msg);
        else snprintf(c->err, sizeof c->err, "vision encode: the %s projector failed (%d)", v->proj_name, rc);
        return rc;
    }
    c->encoded = 1;
    return GRAFT_OK;
}

const float *graft_vision_ctx_features(const graft_vision_ctx *c, int *n_rows, int *n_cols) {
    if (n_rows) *n_rows = c->n_feat_rows;
    if (n_cols) *n_cols = c->vis->hp.n_feature_layers * c->vis->hp.n_embd;
    return c->encoded ? c->feats : NULL;
}

const float *graft_vision_ctx_hidden(const graft_vision_ctx *c, int k) {
    if (!c->encoded || !c->hidden || k < 0 || k > c->vis->hp.n_run) return NULL;
    return c->hidden + (size_t)k * c->vis->hp.n_pos * c->vis->hp.n_embd;
}

void graft_vision_ctx_timings(const graft_vision_ctx *c, double *vit_ms, double *proj_ms) {
    if (vit_ms) *vit_ms = c->vit_ms;
    if (proj_ms) *proj_ms = c->proj_ms;
}
