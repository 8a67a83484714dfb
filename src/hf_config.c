/* hf_config.c - reading a Hugging Face directory's config.json (and preprocessor_config.json)
 * into the hyper-parameters the GGUF views need (hf_config.h), with transformers' defaults for the
 * keys a saved config omits (a key equal to its default is not written). Defaults are those of
 * transformers' LlamaConfig, CLIPVisionConfig and LlavaConfig (4.40 .. 4.5x). */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "error.h"
#include "fileio.h"
#include "graft.h"
#include "hf_config.h"

#define HF_MAX_JSON (16u << 20) /* config files are a few KB */

/* Reads and parses dir/name; *out NULL with GRAFT_OK when the file is absent and optional. */
static int read_json(const char *dir, const char *name, int optional, cJSON **out, graft_error *err) {
    char path[4096];
    *out = NULL;
    if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return graft_error_set(err, GRAFT_E_INVALID, "%s: path too long", dir);
    char *buf;
    size_t n;
    int rc = graft_file_read(path, HF_MAX_JSON, &buf, &n, err);
    if (rc == GRAFT_E_NOTFOUND && optional) return GRAFT_OK;
    if (rc) return rc;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(buf, n, &end, 0);
    if (!j || !cJSON_IsObject(j)) {
        size_t at = j ? 0 : (end ? (size_t)(end - buf) : 0);
        cJSON_Delete(j);
        free(buf);
        return j ? graft_error_set(err, GRAFT_E_FORMAT, "%s: not a JSON object", path)
                 : graft_error_set(err, GRAFT_E_FORMAT, "%s: not valid JSON (error near byte %zu)", path, at);
    }
    free(buf);
    *out = j;
    return GRAFT_OK;
}

/* ---- typed fields with defaults: absent or null = the default ---------------------------- */

typedef struct reader {
    const char *file;  /* ".../config.json", for messages */
    const char *scope; /* "text_config.", "vision_config." or "" */
    graft_error *err;
} reader;

static const cJSON *field(const cJSON *obj, const char *key) {
    const cJSON *j = obj ? cJSON_GetObjectItemCaseSensitive(obj, key) : NULL;
    return j && !cJSON_IsNull(j) ? j : NULL;
}

/* A positive integer (at most 2^30). */
static int get_int(const reader *R, const cJSON *obj, const char *key, int def, int *out) {
    const cJSON *j = field(obj, key);
    if (!j) {
        *out = def;
        return GRAFT_OK;
    }
    double d = cJSON_IsNumber(j) ? j->valuedouble : -1;
    if (!(d >= 1 && d <= (double)(1 << 30) && d == floor(d)))
        return graft_error_set(R->err, GRAFT_E_FORMAT, "%s: %s%s must be a positive integer", R->file, R->scope, key);
    *out = (int)d;
    return GRAFT_OK;
}

/* Any integer (vision_feature_layer is negative). */
static int get_sint(const reader *R, const cJSON *obj, const char *key, int def, int *out) {
    const cJSON *j = field(obj, key);
    if (!j) {
        *out = def;
        return GRAFT_OK;
    }
    double d = cJSON_IsNumber(j) ? j->valuedouble : 0.5;
    if (!(fabs(d) <= (double)(1 << 30) && d == floor(d)))
        return graft_error_set(R->err, GRAFT_E_FORMAT, "%s: %s%s must be an integer", R->file, R->scope, key);
    *out = (int)d;
    return GRAFT_OK;
}

/* A positive finite number. */
static int get_num(const reader *R, const cJSON *obj, const char *key, double def, double *out) {
    const cJSON *j = field(obj, key);
    if (!j) {
        *out = def;
        return GRAFT_OK;
    }
    if (!cJSON_IsNumber(j) || !isfinite(j->valuedouble) || !(j->valuedouble > 0))
        return graft_error_set(R->err, GRAFT_E_FORMAT, "%s: %s%s must be a positive number", R->file, R->scope, key);
    *out = j->valuedouble;
    return GRAFT_OK;
}

static int get_bool(const reader *R, const cJSON *obj, const char *key, int def, int *out) {
    const cJSON *j = field(obj, key);
    if (!j) {
        *out = def;
        return GRAFT_OK;
    }
    if (!cJSON_IsBool(j))
        return graft_error_set(R->err, GRAFT_E_FORMAT, "%s: %s%s must be true or false", R->file, R->scope, key);
    *out = cJSON_IsTrue(j);
    return GRAFT_OK;
}

/* A string into buf (cap bytes); def when absent. */
static int get_str(const reader *R, const cJSON *obj, const char *key, const char *def, char *buf, size_t cap) {
    const cJSON *j = field(obj, key);
    if (!j) {
        snprintf(buf, cap, "%s", def);
        return GRAFT_OK;
    }
    if (!cJSON_IsString(j) || strlen(j->valuestring) >= cap)
        return graft_error_set(R->err, GRAFT_E_FORMAT, "%s: %s%s must be a string (of fewer than %zu bytes)", R->file,
                               R->scope, key, cap);
    snprintf(buf, cap, "%s", j->valuestring);
    return GRAFT_OK;
}

/* A sub-object ("text_config"): NULL when absent or null; an error when of another type. */
static int get_obj(const reader *R, const cJSON *obj, const char *key, const cJSON **out) {
    const cJSON *j = field(obj, key);
    *out = j;
    if (j && !cJSON_IsObject(j))
        return graft_error_set(R->err, GRAFT_E_FORMAT, "%s: %s must be an object", R->file, key);
    return GRAFT_OK;
}

/* ---- the parts ---------------------------------------------------------------------------- */

/* OPTConfig (transformers' defaults: OPT-125m's shape, pre-LN, ReLU, biases, tied head). OPT's
 * LayerNorms use torch's default epsilon, 1e-5: no config key sets it. */
static int read_opt(const reader *R, const cJSON *t, hf_text_config *c) {
    int rc, proj, remove_final = 0, bias = 1, affine = 1;
    char act[32];
    c->arch = HF_TEXT_OPT;
    if ((rc = get_int(R, t, "vocab_size", 50272, &c->n_vocab)) ||
        (rc = get_int(R, t, "hidden_size", 768, &c->n_embd)) ||
        (rc = get_int(R, t, "ffn_dim", 3072, &c->n_ff)) ||
        (rc = get_int(R, t, "num_hidden_layers", 12, &c->n_layer)) ||
        (rc = get_int(R, t, "num_attention_heads", 12, &c->n_head)) ||
        (rc = get_int(R, t, "max_position_embeddings", 2048, &c->n_ctx)) ||
        (rc = get_int(R, t, "word_embed_proj_dim", c->n_embd, &proj)) ||
        (rc = get_bool(R, t, "do_layer_norm_before", 1, &c->norm_before)) ||
        (rc = get_bool(R, t, "_remove_final_layer_norm", 0, &remove_final)) ||
        (rc = get_bool(R, t, "enable_bias", 1, &bias)) ||
        (rc = get_bool(R, t, "layer_norm_elementwise_affine", 1, &affine)) ||
        (rc = get_bool(R, t, "tie_word_embeddings", 1, &c->tie)) ||
        (rc = get_str(R, t, "activation_function", "relu", act, sizeof act)))
        return rc;
    if (proj != c->n_embd)
        return graft_error_set(R->err, GRAFT_E_UNSUPPORTED,
                               "%s: %sword_embed_proj_dim %d differs from hidden_size %d: graft's OPT has no "
                               "project_in / project_out", R->file, R->scope, proj, c->n_embd);
    if (strcmp(act, "relu"))
        return graft_error_set(R->err, GRAFT_E_UNSUPPORTED,
                               "%s: %sactivation_function '%s' is not supported (graft's OPT uses relu)", R->file,
                               R->scope, act);
    if (!bias || !affine || (c->norm_before && remove_final))
        return graft_error_set(R->err, GRAFT_E_UNSUPPORTED, "%s: %s%s: graft's OPT does not implement that variant",
                               R->file, R->scope,
                               !bias ? "enable_bias is false" : !affine ? "layer_norm_elementwise_affine is false"
                                                                        : "_remove_final_layer_norm is true");
    if (c->n_embd % c->n_head)
        return graft_error_set(R->err, GRAFT_E_FORMAT, "%s: %shidden_size %d is not a multiple of num_attention_heads %d",
                               R->file, R->scope, c->n_embd, c->n_head);
    c->n_head_kv = c->n_head;
    c->head_dim = c->n_embd / c->n_head;
    c->ln_eps = 1e-5;
    return GRAFT_OK;
}

/* LlamaConfig, or OPTConfig when model_type says "opt"; `def_type` is the family the model class
 * assumes when text_config names none (LLaVA: llama; BLIP-2, InstructBLIP: opt). */
static int read_text(const reader *R, const cJSON *t, const char *def_type, hf_text_config *c) {
    int rc, attn_bias = 0, mlp_bias = 0;
    char act[32], mt[64];
    if ((rc = get_str(R, t, "model_type", def_type, mt, sizeof mt))) return rc;
    if (!strcmp(mt, "opt")) return read_opt(R, t, c);
    if (strcmp(mt, "llama"))
        return graft_error_set(R->err, GRAFT_E_UNSUPPORTED,
                               "%s: %smodel_type '%s' is not supported (graft reads llama and opt)", R->file, R->scope,
                               mt);
    c->arch = HF_TEXT_LLAMA;
    if ((rc = get_int(R, t, "vocab_size", 32000, &c->n_vocab)) ||
        (rc = get_int(R, t, "hidden_size", 4096, &c->n_embd)) ||
        (rc = get_int(R, t, "intermediate_size", 11008, &c->n_ff)) ||
        (rc = get_int(R, t, "num_hidden_layers", 32, &c->n_layer)) ||
        (rc = get_int(R, t, "num_attention_heads", 32, &c->n_head)) ||
        (rc = get_int(R, t, "num_key_value_heads", c->n_head, &c->n_head_kv)) ||
        (rc = get_int(R, t, "max_position_embeddings", 2048, &c->n_ctx)) ||
        (rc = get_num(R, t, "rms_norm_eps", 1e-6, &c->rms_eps)) ||
        (rc = get_num(R, t, "rope_theta", 10000.0, &c->rope_theta)) ||
        (rc = get_bool(R, t, "tie_word_embeddings", 0, &c->tie)) ||
        (rc = get_bool(R, t, "attention_bias", 0, &attn_bias)) ||
        (rc = get_bool(R, t, "mlp_bias", 0, &mlp_bias)) ||
        (rc = get_str(R, t, "hidden_act", "silu", act, sizeof act)))
        return rc;
    if (strcmp(act, "silu"))
        return graft_error_set(R->err, GRAFT_E_UNSUPPORTED, "%s: %shidden_act '%s' is not supported (llama uses silu)",
                               R->file, R->scope, act);
    if (attn_bias || mlp_bias)
        return graft_error_set(R->err, GRAFT_E_UNSUPPORTED, "%s: %s%s is true: graft's llama has no biases", R->file,
                               R->scope, attn_bias ? "attention_bias" : "mlp_bias");
    if (c->n_embd % c->n_head || c->n_head % c->n_head_kv)
        return graft_error_set(R->err, GRAFT_E_FORMAT,
                               "%s: %shidden_size %d, num_attention_heads %d and num_key_value_heads %d do not "
                               "divide evenly", R->file, R->scope, c->n_embd, c->n_head, c->n_head_kv);
    c->head_dim = c->n_embd / c->n_head;
    int hd;
    if ((rc = get_int(R, t, "head_dim", c->head_dim, &hd))) return rc;
    if (hd != c->head_dim)
        return graft_error_set(R->err, GRAFT_E_UNSUPPORTED,
                               "%s: %shead_dim %d differs from hidden_size / num_attention_heads = %d", R->file,
                               R->scope, hd, c->head_dim);
    if (c->head_dim % 2)
        return graft_error_set(R->err, GRAFT_E_FORMAT, "%s: %shead width %d is odd (rope needs pairs)", R->file,
                               R->scope, c->head_dim);
    c->rope_linear = 0;
    const cJSON *rs = field(t, "rope_scaling");
    if (rs) {
        char type[32];
        double factor;
        if (!cJSON_IsObject(rs))
            return graft_error_set(R->err, GRAFT_E_FORMAT, "%s: %srope_scaling must be an object or null", R->file,
                                   R->scope);
        reader S = {R->file, "rope_scaling.", R->err};
        if ((rc = get_str(&S, rs, "rope_type", "", type, sizeof type))) return rc;
        if (!type[0] && (rc = get_str(&S, rs, "type", "", type, sizeof type))) return rc;
        if (!strcmp(type, "default")) return GRAFT_OK; /* newer configs spell "no scaling" so */
        if (strcmp(type, "linear"))
            return graft_error_set(R->err, GRAFT_E_UNSUPPORTED,
                                   "%s: %srope_scaling type '%s' is not supported (graft does 'linear')", R->file,
                                   R->scope, type);
        if ((rc = get_num(&S, rs, "factor", -1, &factor))) return rc;
        if (factor <= 0)
            return graft_error_set(R->err, GRAFT_E_FORMAT, "%s: %srope_scaling has no factor", R->file, R->scope);
        c->rope_linear = factor;
    }
    return GRAFT_OK;
}

/* CLIPVisionConfig, with LlavaConfig's own defaults (CLIP ViT-L/14-336) when vision_config is
 * absent; or, for BLIP-2 / InstructBLIP (`blip_type` their vision model_type), Blip2VisionConfig /
 * InstructBlipVisionConfig (EVA ViT-g/14 at 224: width 1408, 39 layers, gelu, eps 1e-6). */
static int read_vision(const reader *R, const cJSON *v, const char *blip_type, hf_vision_config *c) {
    int rc;
    char mt[64], act[32];
    /* mPLUG-Owl's MplugOwlVisionConfig: CLIP's keys, ViT-L/14 at 224 with eps 1e-6 by default */
    const int owl = blip_type && !strcmp(blip_type, "mplug_owl_vision_model");
    const int vitl = v == NULL || owl, blip = blip_type != NULL && !owl;
    c->owl = owl;
    const char *want = blip_type ? blip_type : "clip_vision_model";
    if ((rc = get_str(R, v, "model_type", want, mt, sizeof mt))) return rc;
    if (strcmp(mt, want))
        return graft_error_set(R->err, GRAFT_E_UNSUPPORTED, "%s: %smodel_type '%s' is not supported (graft reads %s)",
                               R->file, R->scope, mt, want);
    c->blip = blip;
    c->projection_dim = 0;
    if (blip) {
        if ((rc = get_int(R, v, "hidden_size", 1408, &c->n_embd)) ||
            (rc = get_int(R, v, "intermediate_size", 6144, &c->n_ff)) ||
            (rc = get_int(R, v, "num_hidden_layers", 39, &c->n_layer)) ||
            (rc = get_int(R, v, "num_attention_heads", 16, &c->n_head)) ||
            (rc = get_int(R, v, "image_size", 224, &c->image_size)) ||
            (rc = get_int(R, v, "patch_size", 14, &c->patch_size)) ||
            (rc = get_num(R, v, "layer_norm_eps", 1e-6, &c->eps)) ||
            (rc = get_bool(R, v, "qkv_bias", 1, &c->qkv_bias)) ||
            (rc = get_str(R, v, "hidden_act", "gelu", act, sizeof act)))
            return rc;
        c->n_channels = 3; /* Blip2VisionEmbeddings' conv takes RGB whatever the config says */
    } else if ((rc = get_int(R, v, "hidden_size", vitl ? 1024 : 768, &c->n_embd)) ||
               (rc = get_int(R, v, "intermediate_size", vitl ? 4096 : 3072, &c->n_ff)) ||
               (rc = get_int(R, v, "num_hidden_layers", vitl ? 24 : 12, &c->n_layer)) ||
               (rc = get_int(R, v, "num_attention_heads", vitl ? 16 : 12, &c->n_head)) ||
               (rc = get_int(R, v, "image_size", vitl && !owl ? 336 : 224, &c->image_size)) ||
               (rc = get_int(R, v, "patch_size", vitl ? 14 : 32, &c->patch_size)) ||
               (rc = get_int(R, v, "projection_dim", vitl ? 768 : 512, &c->projection_dim)) ||
               (rc = get_int(R, v, "num_channels", 3, &c->n_channels)) ||
               (rc = get_num(R, v, "layer_norm_eps", owl ? 1e-6 : 1e-5, &c->eps)) ||
               (rc = get_str(R, v, "hidden_act", "quick_gelu", act, sizeof act))) {
        return rc;
    }
    if (!strcmp(act, "gelu")) c->use_gelu = 1;
    else if (!strcmp(act, "quick_gelu") && !blip) c->use_gelu = 0;
    else
        return graft_error_set(R->err, GRAFT_E_UNSUPPORTED, "%s: %shidden_act '%s' is not supported (graft's %s)",
                               R->file, R->scope, act, blip ? "BLIP ViT: gelu" : "CLIP: gelu, quick_gelu");
    if (c->n_channels != 3)
        return graft_error_set(R->err, GRAFT_E_UNSUPPORTED, "%s: %snum_channels %d (graft's CLIP takes RGB)", R->file,
                               R->scope, c->n_channels);
    if (c->image_size % c->patch_size || c->n_embd % c->n_head)
        return graft_error_set(R->err, GRAFT_E_FORMAT,
                               "%s: %simage_size %d / patch_size %d or hidden_size %d / num_attention_heads %d "
                               "do not divide evenly", R->file, R->scope, c->image_size, c->patch_size, c->n_embd,
                               c->n_head);
    int g = c->image_size / c->patch_size;
    if ((int64_t)g * g > (1 << 20))
        return graft_error_set(R->err, GRAFT_E_LIMIT, "%s: %d x %d patches is too many", R->file, g, g);
    c->n_pos = g * g + 1;
    return GRAFT_OK;
}

/* Blip2QFormerConfig / InstructBlipQFormerConfig (BERT-base shape, cross-attention every 2nd
 * layer). encoder_hidden_size is not read: the model classes overwrite it with the vision width. */
static int read_qformer(const reader *R, const cJSON *q, const char *want, hf_qformer_config *c) {
    int rc;
    char mt[64], act[32], pos[32];
    if ((rc = get_str(R, q, "model_type", want, mt, sizeof mt))) return rc;
    if (strcmp(mt, want))
        return graft_error_set(R->err, GRAFT_E_UNSUPPORTED, "%s: %smodel_type '%s' is not supported (graft reads %s)",
                               R->file, R->scope, mt, want);
    if ((rc = get_int(R, q, "hidden_size", 768, &c->n_embd)) ||
        (rc = get_int(R, q, "intermediate_size", 3072, &c->n_ff)) ||
        (rc = get_int(R, q, "num_hidden_layers", 12, &c->n_layer)) ||
        (rc = get_int(R, q, "num_attention_heads", 12, &c->n_head)) ||
        (rc = get_int(R, q, "vocab_size", 30522, &c->n_vocab)) ||
        (rc = get_int(R, q, "max_position_embeddings", 512, &c->n_pos)) ||
        (rc = get_int(R, q, "cross_attention_frequency", 2, &c->cross_freq)) ||
        (rc = get_num(R, q, "layer_norm_eps", 1e-12, &c->eps)) ||
        (rc = get_str(R, q, "hidden_act", "gelu", act, sizeof act)) ||
        (rc = get_str(R, q, "position_embedding_type", "absolute", pos, sizeof pos)))
        return rc;
    if (strcmp(act, "gelu"))
        return graft_error_set(R->err, GRAFT_E_UNSUPPORTED,
                               "%s: %shidden_act '%s' is not supported (graft's Q-Former: gelu)", R->file, R->scope, act);
    if (strcmp(pos, "absolute"))
        return graft_error_set(R->err, GRAFT_E_UNSUPPORTED,
                               "%s: %sposition_embedding_type '%s' is not supported (graft's Q-Former: absolute)",
                               R->file, R->scope, pos);
    if (c->n_embd % c->n_head)
        return graft_error_set(R->err, GRAFT_E_FORMAT, "%s: %shidden_size %d is not a multiple of num_attention_heads %d",
                               R->file, R->scope, c->n_embd, c->n_head);
    return GRAFT_OK;
}

/* preprocessor_config.json: image_mean / image_std (absent: the loaders use CLIP's); for BLIP's
 * BlipImageProcessor also size {height, width}, which must be the ViT's image_size (graft's ViT
 * does not interpolate its position table, nor does Hugging Face's Blip2VisionEmbeddings). */
static int read_preprocessor(const char *dir, hf_vision_config *c, graft_error *err) {
    cJSON *p;
    int rc = read_json(dir, "preprocessor_config.json", 1, &p, err);
    if (rc || !p) return rc;
    char file[4096];
    snprintf(file, sizeof file, "%s/preprocessor_config.json", dir);
    const char *keys[2] = {"image_mean", "image_std"};
    double *dst[2] = {c->mean, c->std};
    for (int k = 0; k < 2 && !rc; k++) {
        const cJSON *a = field(p, keys[k]);
        if (!a) continue;
        if (!cJSON_IsArray(a) || cJSON_GetArraySize(a) != 3) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: %s must be 3 numbers", file, keys[k]);
            break;
        }
        for (int i = 0; i < 3 && !rc; i++) {
            const cJSON *e = cJSON_GetArrayItem(a, i);
            if (!cJSON_IsNumber(e) || !isfinite(e->valuedouble) || (k == 1 && !(e->valuedouble > 0)))
                rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: %s[%d] must be a %snumber", file, keys[k], i,
                                     k == 1 ? "positive " : "");
            else dst[k][i] = e->valuedouble;
        }
        if (!rc) c->has_norm |= 1 << k;
    }
    const cJSON *size = c->blip && !rc ? field(p, "size") : NULL;
    if (size) {
        reader R = {file, "size.", err};
        int h = 0, w = 0;
        if (!cJSON_IsObject(size)) rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: size must be an object", file);
        if (!rc) rc = get_int(&R, size, "height", c->image_size, &h);
        if (!rc) rc = get_int(&R, size, "width", c->image_size, &w);
        if (!rc && (h != c->image_size || w != c->image_size))
            rc = graft_error_set(err, GRAFT_E_UNSUPPORTED,
                                 "%s: size %d x %d differs from the vision tower's image_size %d (config.json)", file, w,
                                 h, c->image_size);
    }
    cJSON_Delete(p);
    return rc;
}

/* Blip2ForConditionalGeneration / InstructBlipForConditionalGeneration: vision_config, qformer_config,
 * text_config (a decoder-only OPT or Llama; OPT when it names no model_type) and num_query_tokens. */
static int read_blip(const char *dir, const char *file, const cJSON *root, hf_config *c, graft_error *err) {
    const int ib = c->model == HF_MODEL_INSTRUCTBLIP;
    reader R = {file, "", err}, RT = {file, "text_config.", err}, RV = {file, "vision_config.", err},
           RQ = {file, "qformer_config.", err};
    const cJSON *t, *v, *q;
    int rc, top_tie;
    if ((rc = get_obj(&R, root, "text_config", &t)) || (rc = get_obj(&R, root, "vision_config", &v)) ||
        (rc = get_obj(&R, root, "qformer_config", &q)) || (rc = read_text(&RT, t, "opt", &c->text)) ||
        (rc = read_vision(&RV, v, ib ? "instructblip_vision_model" : "blip_2_vision_model", &c->vision)) ||
        (rc = read_qformer(&RQ, q, ib ? "instructblip_qformer" : "blip_2_qformer", &c->qformer)) ||
        (rc = get_int(&R, root, "num_query_tokens", 32, &c->qformer.n_query)) ||
        (rc = get_bool(&R, root, "tie_word_embeddings", 1, &top_tie)) ||
        (rc = get_str(&R, root, "graft_recipe", "", c->recipe, sizeof c->recipe)))
        return rc;
    /* graft's own key: the same weights fed to the LLM another way (MiniGPT-4: BLIP-2's ViT and
     * Q-Former, its linear layer as language_projection, Vicuna as text_config) */
    if (c->recipe[0]) {
        const graft_recipe *r = graft_recipe_find(c->recipe);
        if (!r || (strcmp(c->recipe, "blip2") && strcmp(c->recipe, "instructblip") && strcmp(c->recipe, "minigpt4")))
            return graft_error_set(err, GRAFT_E_FORMAT,
                                   "%s: graft_recipe '%s' is not one for a Q-Former model (blip2, instructblip, minigpt4)",
                                   file, c->recipe);
        if (!ib != !r->instruction)
            return graft_error_set(err, GRAFT_E_FORMAT, "%s: graft_recipe '%s' %s the instruction, but a %s Q-Former %s",
                                   file, c->recipe, r->instruction ? "feeds the Q-Former" : "does not feed the Q-Former",
                                   ib ? "InstructBLIP" : "BLIP-2", ib ? "reads one" : "has no text side");
    }
    /* transformers 4.40 ties the language model's head when its own config says so, and again
     * when the composite config does (PreTrainedModel.tie_weights reads the top-level key, default
     * true; Blip2Config copies the text config's value there) */
    c->text.tie = c->text.tie || top_tie;
    c->qformer.has_text = ib; /* InstructBLIP's Q-Former reads the instruction; BLIP-2's (4.40) has no text side */
    c->vision.feature_layer = c->vision.n_layer; /* the Q-Former reads the last hidden state */
    c->has_vision = 1;
    return read_preprocessor(dir, &c->vision, err);
}

/* MplugOwlForConditionalGeneration (the authors' configuration_mplug_owl.py): vision_config,
 * visual_abstractor_config, text_config (llama) and num_query_tokens (64). */
static int read_owl(const char *dir, const char *file, const cJSON *root, hf_config *c, graft_error *err) {
    reader R = {file, "", err}, RT = {file, "text_config.", err}, RV = {file, "vision_config.", err},
           RA = {file, "visual_abstractor_config.", err};
    const cJSON *t, *v, *a;
    char mt[64];
    int rc, top_tie;
    hf_qformer_config *q = &c->qformer;
    if ((rc = get_obj(&R, root, "text_config", &t)) || (rc = get_obj(&R, root, "vision_config", &v)) ||
        (rc = get_obj(&R, root, "visual_abstractor_config", &a)) || (rc = read_text(&RT, t, "llama", &c->text)) ||
        (rc = read_vision(&RV, v, "mplug_owl_vision_model", &c->vision)) ||
        (rc = get_str(&RA, a, "model_type", "mplug_owl_visual_abstract", mt, sizeof mt)) ||
        (rc = get_int(&RA, a, "hidden_size", 1024, &q->n_embd)) ||
        (rc = get_int(&RA, a, "intermediate_size", 4096, &q->n_ff)) ||
        (rc = get_int(&RA, a, "num_hidden_layers", 6, &q->n_layer)) ||
        (rc = get_int(&RA, a, "num_attention_heads", 16, &q->n_head)) ||
        (rc = get_num(&RA, a, "layer_norm_eps", 1e-6, &q->eps)) ||
        (rc = get_int(&R, root, "num_query_tokens", 64, &q->n_query)) ||
        (rc = get_bool(&R, root, "tie_word_embeddings", 0, &top_tie)) ||
        (rc = get_str(&R, root, "graft_recipe", "", c->recipe, sizeof c->recipe)))
        return rc;
    if (strcmp(mt, "mplug_owl_visual_abstract"))
        return graft_error_set(err, GRAFT_E_UNSUPPORTED, "%s: visual_abstractor_config.model_type '%s' is not supported",
                               file, mt);
    if (c->text.arch != HF_TEXT_LLAMA)
        return graft_error_set(err, GRAFT_E_UNSUPPORTED, "%s: mPLUG-Owl with a non-llama text_config", file);
    if (q->n_embd % q->n_head || q->n_embd != c->vision.n_embd)
        return graft_error_set(err, GRAFT_E_FORMAT,
                               "%s: visual_abstractor_config.hidden_size %d must equal the vision width %d and divide "
                               "into its %d heads", file, q->n_embd, c->vision.n_embd, q->n_head);
    c->text.tie = c->text.tie || top_tie;
    c->vision.feature_layer = c->vision.n_layer; /* the abstractor reads the last hidden state */
    c->has_vision = 1;
    return read_preprocessor(dir, &c->vision, err);
}

int hf_config_read(const char *dir, hf_config *c, graft_error *err) {
    memset(c, 0, sizeof *c);
    char file[4096];
    if ((size_t)snprintf(file, sizeof file, "%s/config.json", dir) >= sizeof file - 64)
        return graft_error_set(err, GRAFT_E_INVALID, "%s: path too long", dir);
    cJSON *root;
    int rc = read_json(dir, "config.json", 0, &root, err);
    if (rc) return rc;
    c->json = root;
    reader R = {file, "", err};
    char arch[96] = "", mt[64];
    const cJSON *archs = field(root, "architectures");
    if (archs) {
        const cJSON *a0 = cJSON_IsArray(archs) ? cJSON_GetArrayItem(archs, 0) : NULL;
        if (!cJSON_IsString(a0) || strlen(a0->valuestring) >= sizeof arch) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: architectures must be a list of strings", file);
            goto fail;
        }
        snprintf(arch, sizeof arch, "%s", a0->valuestring);
    }
    if ((rc = get_str(&R, root, "model_type", "", mt, sizeof mt))) goto fail;
    /* architectures[0] decides; model_type only when there is none */
    static const struct { const char *arch, *type; int model; } models[] = {
        {"LlamaForCausalLM", "llama", HF_MODEL_LLAMA},
        {"LlavaForConditionalGeneration", "llava", HF_MODEL_LLAVA},
        {"Blip2ForConditionalGeneration", "blip-2", HF_MODEL_BLIP2},
        {"InstructBlipForConditionalGeneration", "instructblip", HF_MODEL_INSTRUCTBLIP},
        {"OPTForCausalLM", "opt", HF_MODEL_OPT},
        {"MplugOwlForConditionalGeneration", "mplug-owl", HF_MODEL_OWL},
    };
    int found = 0;
    for (size_t i = 0; i < sizeof models / sizeof models[0] && !found; i++)
        if (arch[0] ? !strcmp(arch, models[i].arch) : !strcmp(mt, models[i].type)) {
            c->model = models[i].model;
            found = 1;
        }
    if (!found) {
        rc = graft_error_set(err, GRAFT_E_UNSUPPORTED,
                             "%s: %s '%s' is not supported (graft reads LlamaForCausalLM, OPTForCausalLM, "
                             "LlavaForConditionalGeneration, Blip2ForConditionalGeneration, "
                             "InstructBlipForConditionalGeneration and MplugOwlForConditionalGeneration)", file, arch[0] ? "architecture" : "model_type",
                             arch[0] ? arch : mt[0] ? mt : "(none given)");
        goto fail;
    }
    if (c->model == HF_MODEL_LLAMA || c->model == HF_MODEL_OPT) {
        rc = read_text(&R, root, c->model == HF_MODEL_OPT ? "opt" : "llama", &c->text);
        if (rc) goto fail;
        if ((c->model == HF_MODEL_OPT) != (c->text.arch == HF_TEXT_OPT)) {
            rc = graft_error_set(err, GRAFT_E_FORMAT, "%s: architecture '%s' with model_type '%s'", file, arch, mt);
            goto fail;
        }
        return GRAFT_OK;
    }
    if (c->model == HF_MODEL_OWL) {
        if ((rc = read_owl(dir, file, root, c, err))) goto fail;
        return GRAFT_OK;
    }
    if (c->model == HF_MODEL_BLIP2 || c->model == HF_MODEL_INSTRUCTBLIP) {
        if ((rc = read_blip(dir, file, root, c, err))) goto fail;
        return GRAFT_OK;
    }
    const cJSON *t, *v;
    if ((rc = get_obj(&R, root, "text_config", &t)) || (rc = get_obj(&R, root, "vision_config", &v))) goto fail;
    reader RT = {file, "text_config.", err}, RV = {file, "vision_config.", err};
    if ((rc = read_text(&RT, t, "llama", &c->text)) || (rc = read_vision(&RV, v, NULL, &c->vision))) goto fail;
    if (c->text.arch != HF_TEXT_LLAMA) {
        rc = graft_error_set(err, GRAFT_E_UNSUPPORTED, "%s: text_config.model_type 'opt': graft's LLaVA reads llama",
                             file);
        goto fail;
    }
    /* tie_word_embeddings may sit at the top level of an older LLaVA config */
    if (!field(t, "tie_word_embeddings") && (rc = get_bool(&R, root, "tie_word_embeddings", 0, &c->text.tie)))
        goto fail;
    char act[32], strategy[32];
    int layer = -2;
    if ((rc = get_str(&R, root, "projector_hidden_act", "gelu", act, sizeof act)) ||
        (rc = get_str(&R, root, "vision_feature_select_strategy", "default", strategy, sizeof strategy)) ||
        (rc = get_int(&R, root, "image_token_index", 32000, &c->image_token)))
        goto fail;
    if (strcmp(act, "gelu")) {
        rc = graft_error_set(err, GRAFT_E_UNSUPPORTED,
                             "%s: projector_hidden_act '%s' is not supported (graft's mlp projector: gelu)", file, act);
        goto fail;
    }
    if (strcmp(strategy, "default")) {
        rc = graft_error_set(err, GRAFT_E_UNSUPPORTED,
                             "%s: vision_feature_select_strategy '%s' is not supported (the mmproj layout "
                             "implies 'default')", file, strategy);
        goto fail;
    }
    const cJSON *fl = field(root, "vision_feature_layer");
    if (fl && !cJSON_IsNumber(fl)) {
        rc = graft_error_set(err, GRAFT_E_UNSUPPORTED,
                             "%s: vision_feature_layer must be one integer (lists are not supported)", file);
        goto fail;
    }
    if ((rc = get_sint(&R, root, "vision_feature_layer", -2, &layer))) goto fail;
    /* hidden_states has n_layer + 1 entries; a negative index counts from the end */
    int L = c->vision.n_layer;
    c->vision.feature_layer = layer < 0 ? L + 1 + layer : layer;
    if (c->vision.feature_layer < 1 || c->vision.feature_layer > L) {
        rc = graft_error_set(err, layer < -L - 1 || layer > L ? GRAFT_E_FORMAT : GRAFT_E_UNSUPPORTED,
                             "%s: vision_feature_layer %d: graft needs a block output in 1..%d", file, layer, L);
        goto fail;
    }
    c->has_vision = 1;
    if ((rc = read_preprocessor(dir, &c->vision, err))) goto fail;
    return GRAFT_OK;
fail:
    hf_config_free(c);
    return rc;
}

void hf_config_free(hf_config *c) {
    if (!c) return;
    cJSON_Delete(c->json);
    c->json = NULL;
}
