/* hf_config.h - the hyper-parameters of a Hugging Face directory (config.json with transformers'
 * defaults filled in, preprocessor_config.json's normalisation), as hf.c turns them into GGUF
 * keys. Internal. */
#ifndef GRAFT_HF_CONFIG_H
#define GRAFT_HF_CONFIG_H

#include "graft.h"

enum { HF_TEXT_LLAMA = 0, HF_TEXT_OPT = 1 }; /* the language model's family (model_type) */

typedef struct hf_text_config {
    int arch;             /* HF_TEXT_* */
    int n_vocab, n_embd, n_ff, n_layer, n_head, n_head_kv, n_ctx, head_dim;
    int tie;              /* tie_word_embeddings: no lm_head, the embedding is the output head */
    double rms_eps, rope_theta;
    double rope_linear;   /* rope_scaling {type linear, factor}: the factor; 0 = none */
    int norm_before;      /* OPT: do_layer_norm_before (pre-LN blocks + decoder.final_layer_norm) */
    double ln_eps;        /* OPT: LayerNorm epsilon (torch's default, never in a config) */
} hf_text_config;

typedef struct hf_vision_config {
    int n_embd, n_ff, n_layer, n_head, image_size, patch_size, projection_dim, n_channels;
    int n_pos;            /* (image_size / patch_size)^2 + 1 */
    int use_gelu;         /* hidden_act gelu (erf); else quick_gelu */
    int blip;             /* BLIP-2 / InstructBLIP's EVA ViT: fused qkv, patch bias, no pre-LN, post-LN */
    int owl;              /* mPLUG-Owl's CLIP ViT: per-head interleaved fused qkv, pre-LN and post-LN */
    int qkv_bias;         /* BLIP: qkv_bias (a fused [q_bias; 0; v_bias] bias exists) */
    int feature_layer;    /* hidden-state index 1..n_layer of vision_feature_layer = blocks stored */
    double eps;
    int has_norm;         /* bit 0: mean, bit 1: std read from preprocessor_config.json */
    double mean[3], std[3];
} hf_vision_config;

/* Blip2QFormerConfig / InstructBlipQFormerConfig, and the model's num_query_tokens; for mPLUG-Owl
 * the visual abstractor's config (n_embd, n_ff, n_layer, n_head, eps, n_query). */
typedef struct hf_qformer_config {
    int n_embd, n_ff, n_layer, n_head, n_vocab, n_pos; /* n_vocab / n_pos: the text embeddings */
    int cross_freq;       /* cross_attention_frequency: layer i cross-attends when i % freq == 0 */
    int n_query;          /* num_query_tokens */
    int has_text;         /* InstructBLIP: word + position embeddings and a text FFN per layer */
    double eps;
} hf_qformer_config;

/* The directory's model: its config.json architecture. */
enum { HF_MODEL_LLAMA = 0, HF_MODEL_LLAVA = 1, HF_MODEL_BLIP2 = 2, HF_MODEL_INSTRUCTBLIP = 3,
       HF_MODEL_OPT = 4, HF_MODEL_OWL = 5 };

typedef struct hf_config {
    struct cJSON *json;   /* config.json, for the tokenizer reader */
    int model;            /* HF_MODEL_* */
    int has_vision;
    int image_token;      /* image_token_index (LLaVA) */
    hf_text_config text;
    hf_vision_config vision;
    hf_qformer_config qformer; /* BLIP-2 / InstructBLIP; mPLUG-Owl's abstractor */
    char recipe[32];      /* graft_recipe (graft's own key; "" = the architecture's): "minigpt4"
                             for a MiniGPT-4 assembled as a Blip2ForConditionalGeneration */
} hf_config;

/* Reads dir/config.json (and, with a vision tower, dir/preprocessor_config.json). Errors name the
 * file. */
int hf_config_read(const char *dir, hf_config *c, graft_error *err);
void hf_config_free(hf_config *c);

#endif
