/* hf_config.h - the hyper-parameters of a Hugging Face directory (config.json with transformers'
 * defaults filled in, preprocessor_config.json's normalisation), as hf.c turns them into GGUF
 * keys. Internal. */
#ifndef GRAFT_HF_CONFIG_H
#define GRAFT_HF_CONFIG_H

#include "graft.h"

typedef struct hf_text_config {
    int n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, n_ctx, head_dim;
    int tie;              /* tie_word_embeddings: no lm_head, the embedding is the output head */
    double rms_eps, rope_theta;
    double rope_linear;   /* rope_scaling {type linear, factor}: the factor; 0 = none */
} hf_text_config;

typedef struct hf_vision_config {
    int n_embd, n_ff, n_layer, n_head, image_size, patch_size, projection_dim, n_channels;
    int n_pos;            /* (image_size / patch_size)^2 + 1 */
    int use_gelu;         /* hidden_act gelu (erf); else quick_gelu */
    int feature_layer;    /* hidden-state index 1..n_layer of vision_feature_layer = blocks stored */
    double eps;
    int has_norm;         /* bit 0: mean, bit 1: std read from preprocessor_config.json */
    double mean[3], std[3];
} hf_vision_config;

typedef struct hf_config {
    struct cJSON *json;   /* config.json, for the tokenizer reader */
    int llava;            /* LlavaForConditionalGeneration; else LlamaForCausalLM */
    int has_vision;
    int image_token;      /* image_token_index */
    hf_text_config text;
    hf_vision_config vision;
} hf_config;

/* Reads dir/config.json (and, for LLaVA, dir/preprocessor_config.json). Errors name the file. */
int hf_config_read(const char *dir, hf_config *c, graft_error *err);
void hf_config_free(hf_config *c);

#endif
