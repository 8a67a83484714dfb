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

/* LlamaConfig. */
static int read_text(const reader *R, const cJSON *t, hf_text_config *c) {
    int rc, attn_bias = 0, mlp_bias = 0;
    char act[32], mt[64];
    if ((rc = get_str(R, t, "model_type", "llama", mt, sizeof mt))) return rc;
    if (strcmp(mt, "llama"))
        return graft_error_set(R->err, GRAFT_E_UNSUPPORTED, "%s: %smodel_type '%s' is not supported (graft reads llama)",
                               R->file, R->scope, mt);
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
 * absent. */
static int read_vision(const reader *R, const cJSON *v, hf_vision_config *c) {
    int rc;
    char mt[64], act[32];
    const int vitl = v == NULL;
    if ((rc = get_str(R, v, "model_type", "clip_vision_model", mt, sizeof mt))) return rc;
    if (strcmp(mt, "clip_vision_model"))
        return graft_error_set(R->err, GRAFT_E_UNSUPPORTED,
                               "%s: %smodel_type '%s' is not supported (graft reads clip_vision_model)", R->file,
                               R->scope, mt);
    if ((rc = get_int(R, v, "hidden_size", vitl ? 1024 : 768, &c->n_embd)) ||
        (rc = get_int(R, v, "intermediate_size", vitl ? 4096 : 3072, &c->n_ff)) ||
        (rc = get_int(R, v, "num_hidden_layers", vitl ? 24 : 12, &c->n_layer)) ||
        (rc = get_int(R, v, "num_attention_heads", vitl ? 16 : 12, &c->n_head)) ||
        (rc = get_int(R, v, "image_size", vitl ? 336 : 224, &c->image_size)) ||
        (rc = get_int(R, v, "patch_size", vitl ? 14 : 32, &c->patch_size)) ||
        (rc = get_int(R, v, "projection_dim", vitl ? 768 : 512, &c->projection_dim)) ||
        (rc = get_int(R, v, "num_channels", 3, &c->n_channels)) ||
        (rc = get_num(R, v, "layer_norm_eps", 1e-5, &c->eps)) ||
        (rc = get_str(R, v, "hidden_act", "quick_gelu", act, sizeof act)))
        return rc;
    if (!strcmp(act, "gelu")) c->use_gelu = 1;
    else if (!strcmp(act, "quick_gelu")) c->use_gelu = 0;
    else
        return graft_error_set(R->err, GRAFT_E_UNSUPPORTED,
                               "%s: %shidden_act '%s' is not supported (graft's CLIP: gelu, quick_gelu)", R->file,
                               R->scope, act);
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

/* image_mean / image_std of preprocessor_config.json (absent: the loaders use CLIP's). */
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
    cJSON_Delete(p);
    return rc;
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
    if (!strcmp(arch, "LlavaForConditionalGeneration") || (!arch[0] && !strcmp(mt, "llava"))) c->llava = 1;
    else if (!strcmp(arch, "LlamaForCausalLM") || (!arch[0] && !strcmp(mt, "llama"))) c->llava = 0;
    else {
        rc = graft_error_set(err, GRAFT_E_UNSUPPORTED,
                             "%s: architecture '%s' is not supported (graft reads LlamaForCausalLM and "
                             "LlavaForConditionalGeneration)", file, arch[0] ? arch : mt[0] ? mt : "(none given)");
        goto fail;
    }
    if (!c->llava) {
        rc = read_text(&R, root, &c->text);
        if (rc) goto fail;
        return GRAFT_OK;
    }
    const cJSON *t, *v;
    if ((rc = get_obj(&R, root, "text_config", &t)) || (rc = get_obj(&R, root, "vision_config", &v))) goto fail;
    reader RT = {file, "text_config.", err}, RV = {file, "vision_config.", err};
    if ((rc = read_text(&RT, t, &c->text)) || (rc = read_vision(&RV, v, &c->vision))) goto fail;
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
