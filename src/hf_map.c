/* hf_map.c - the name tables from Hugging Face checkpoints to llama.cpp GGUF names, one per
 * architecture (hf.h: hf_map_entry). HF names are given relative to a root whose prefix hf.c
 * finds in the checkpoint (plain LlamaForCausalLM "model." / "", LLaVA "language_model.model." /
 * "language_model." or, transformers >= 4.52, "model.language_model." / ""; the vision tower
 * "[model.]vision_tower.vision_model.", the projector "[model.]multi_modal_projector."). */
#include <stddef.h>

#include "hf.h"

/* LlamaForCausalLM -> llama.cpp "llama" (convert_hf_to_gguf.py's LlamaModel). */
const hf_map_entry graft_hf_map_llama[] = {
    {"token_embd.weight", "embed_tokens.weight", HF_ROOT_BODY, "EV", 0, HF_ROW_PLAIN, 0},
    {"output_norm.weight", "norm.weight", HF_ROOT_BODY, "E", 0, HF_ROW_PLAIN, 0},
    {"output.weight", "lm_head.weight", HF_ROOT_HEAD, "EV", 0, HF_ROW_PLAIN, 1},
    {"blk.%d.attn_norm.weight", "layers.%d.input_layernorm.weight", HF_ROOT_BODY, "E", 1, HF_ROW_PLAIN, 0},
    {"blk.%d.attn_q.weight", "layers.%d.self_attn.q_proj.weight", HF_ROOT_BODY, "EQ", 1, HF_ROW_Q, 0},
    {"blk.%d.attn_k.weight", "layers.%d.self_attn.k_proj.weight", HF_ROOT_BODY, "EK", 1, HF_ROW_K, 0},
    {"blk.%d.attn_v.weight", "layers.%d.self_attn.v_proj.weight", HF_ROOT_BODY, "EK", 1, HF_ROW_PLAIN, 0},
    {"blk.%d.attn_output.weight", "layers.%d.self_attn.o_proj.weight", HF_ROOT_BODY, "QE", 1, HF_ROW_PLAIN, 0},
    {"blk.%d.ffn_norm.weight", "layers.%d.post_attention_layernorm.weight", HF_ROOT_BODY, "E", 1, HF_ROW_PLAIN, 0},
    {"blk.%d.ffn_gate.weight", "layers.%d.mlp.gate_proj.weight", HF_ROOT_BODY, "EF", 1, HF_ROW_PLAIN, 0},
    {"blk.%d.ffn_up.weight", "layers.%d.mlp.up_proj.weight", HF_ROOT_BODY, "EF", 1, HF_ROW_PLAIN, 0},
    {"blk.%d.ffn_down.weight", "layers.%d.mlp.down_proj.weight", HF_ROOT_BODY, "FE", 1, HF_ROW_PLAIN, 0},
    {NULL, NULL, 0, NULL, 0, 0, 0},
};

/* LlavaForConditionalGeneration's CLIP vision tower + projector -> the legacy llama.cpp mmproj
 * (llava_surgery + convert_image_encoder_to_gguf.py): blocks up to the feature layer only, no
 * post-layernorm, and the legacy FFN naming: ffn_down holds fc1, ffn_up holds fc2. */
const hf_map_entry graft_hf_map_clip[] = {
    {"mm.0.weight", "linear_1.weight", HF_ROOT_PROJ, "DM", 0, HF_ROW_PLAIN, 0},
    {"mm.0.bias", "linear_1.bias", HF_ROOT_PROJ, "M", 0, HF_ROW_PLAIN, 0},
    {"mm.2.weight", "linear_2.weight", HF_ROOT_PROJ, "MM", 0, HF_ROW_PLAIN, 0},
    {"mm.2.bias", "linear_2.bias", HF_ROOT_PROJ, "M", 0, HF_ROW_PLAIN, 0},
    {"v.class_embd", "embeddings.class_embedding", HF_ROOT_VISION, "D", 0, HF_ROW_PLAIN, 0},
    {"v.patch_embd.weight", "embeddings.patch_embedding.weight", HF_ROOT_VISION, "PP3D", 0, HF_ROW_PLAIN, 0},
    {"v.position_embd.weight", "embeddings.position_embedding.weight", HF_ROOT_VISION, "DT", 0, HF_ROW_PLAIN, 0},
    {"v.pre_ln.weight", "pre_layrnorm.weight", HF_ROOT_VISION, "D", 0, HF_ROW_PLAIN, 0},
    {"v.pre_ln.bias", "pre_layrnorm.bias", HF_ROOT_VISION, "D", 0, HF_ROW_PLAIN, 0},
    {"v.blk.%d.attn_k.weight", "encoder.layers.%d.self_attn.k_proj.weight", HF_ROOT_VISION, "DD", 1, HF_ROW_PLAIN, 0},
    {"v.blk.%d.attn_k.bias", "encoder.layers.%d.self_attn.k_proj.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0},
    {"v.blk.%d.attn_v.weight", "encoder.layers.%d.self_attn.v_proj.weight", HF_ROOT_VISION, "DD", 1, HF_ROW_PLAIN, 0},
    {"v.blk.%d.attn_v.bias", "encoder.layers.%d.self_attn.v_proj.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0},
    {"v.blk.%d.attn_q.weight", "encoder.layers.%d.self_attn.q_proj.weight", HF_ROOT_VISION, "DD", 1, HF_ROW_PLAIN, 0},
    {"v.blk.%d.attn_q.bias", "encoder.layers.%d.self_attn.q_proj.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0},
    {"v.blk.%d.attn_out.weight", "encoder.layers.%d.self_attn.out_proj.weight", HF_ROOT_VISION, "DD", 1, HF_ROW_PLAIN, 0},
    {"v.blk.%d.attn_out.bias", "encoder.layers.%d.self_attn.out_proj.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0},
    {"v.blk.%d.ln1.weight", "encoder.layers.%d.layer_norm1.weight", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0},
    {"v.blk.%d.ln1.bias", "encoder.layers.%d.layer_norm1.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0},
    {"v.blk.%d.ffn_down.weight", "encoder.layers.%d.mlp.fc1.weight", HF_ROOT_VISION, "DG", 1, HF_ROW_PLAIN, 0},
    {"v.blk.%d.ffn_down.bias", "encoder.layers.%d.mlp.fc1.bias", HF_ROOT_VISION, "G", 1, HF_ROW_PLAIN, 0},
    {"v.blk.%d.ffn_up.weight", "encoder.layers.%d.mlp.fc2.weight", HF_ROOT_VISION, "GD", 1, HF_ROW_PLAIN, 0},
    {"v.blk.%d.ffn_up.bias", "encoder.layers.%d.mlp.fc2.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0},
    {"v.blk.%d.ln2.weight", "encoder.layers.%d.layer_norm2.weight", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0},
    {"v.blk.%d.ln2.bias", "encoder.layers.%d.layer_norm2.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0},
    {NULL, NULL, 0, NULL, 0, 0, 0},
};
