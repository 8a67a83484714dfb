/* hf_map.c - the name tables from Hugging Face checkpoints to llama.cpp GGUF names, one per
 * architecture (hf.h: hf_map_entry). HF names are given relative to a root whose prefix hf.c
 * finds in the checkpoint (plain LlamaForCausalLM "model." / "", LLaVA "language_model.model." /
 * "language_model." or, transformers >= 4.52, "model.language_model." / ""; the vision tower
 * "[model.]vision_tower.vision_model.", the projector "[model.]multi_modal_projector."). */
#include <stddef.h>

#include "hf.h"

/* LlamaForCausalLM -> llama.cpp "llama" (convert_hf_to_gguf.py's LlamaModel). */
const hf_map_entry graft_hf_map_llama[] = {
    {"token_embd.weight", "embed_tokens.weight", HF_ROOT_BODY, "EV", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"output_norm.weight", "norm.weight", HF_ROOT_BODY, "E", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"output.weight", "lm_head.weight", HF_ROOT_HEAD, "EV", 0, HF_ROW_PLAIN, 1, 0, 0},
    {"blk.%d.attn_norm.weight", "layers.%d.input_layernorm.weight", HF_ROOT_BODY, "E", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.attn_q.weight", "layers.%d.self_attn.q_proj.weight", HF_ROOT_BODY, "EQ", 1, HF_ROW_Q, 0, 0, 0},
    {"blk.%d.attn_k.weight", "layers.%d.self_attn.k_proj.weight", HF_ROOT_BODY, "EK", 1, HF_ROW_K, 0, 0, 0},
    {"blk.%d.attn_v.weight", "layers.%d.self_attn.v_proj.weight", HF_ROOT_BODY, "EK", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.attn_output.weight", "layers.%d.self_attn.o_proj.weight", HF_ROOT_BODY, "QE", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.ffn_norm.weight", "layers.%d.post_attention_layernorm.weight", HF_ROOT_BODY, "E", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.ffn_gate.weight", "layers.%d.mlp.gate_proj.weight", HF_ROOT_BODY, "EF", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.ffn_up.weight", "layers.%d.mlp.up_proj.weight", HF_ROOT_BODY, "EF", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.ffn_down.weight", "layers.%d.mlp.down_proj.weight", HF_ROOT_BODY, "FE", 1, HF_ROW_PLAIN, 0, 0, 0},
    {NULL, NULL, 0, NULL, 0, 0, 0, 0, 0},
};

/* LlavaForConditionalGeneration's CLIP vision tower + projector -> the legacy llama.cpp mmproj
 * (llava_surgery + convert_image_encoder_to_gguf.py): blocks up to the feature layer only, no
 * post-layernorm, and the legacy FFN naming: ffn_down holds fc1, ffn_up holds fc2. */
const hf_map_entry graft_hf_map_clip[] = {
    {"mm.0.weight", "linear_1.weight", HF_ROOT_PROJ, "DM", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"mm.0.bias", "linear_1.bias", HF_ROOT_PROJ, "M", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"mm.2.weight", "linear_2.weight", HF_ROOT_PROJ, "MM", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"mm.2.bias", "linear_2.bias", HF_ROOT_PROJ, "M", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"v.class_embd", "embeddings.class_embedding", HF_ROOT_VISION, "D", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"v.patch_embd.weight", "embeddings.patch_embedding.weight", HF_ROOT_VISION, "PP3D", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"v.position_embd.weight", "embeddings.position_embedding.weight", HF_ROOT_VISION, "DT", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"v.pre_ln.weight", "pre_layrnorm.weight", HF_ROOT_VISION, "D", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"v.pre_ln.bias", "pre_layrnorm.bias", HF_ROOT_VISION, "D", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.attn_k.weight", "encoder.layers.%d.self_attn.k_proj.weight", HF_ROOT_VISION, "DD", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.attn_k.bias", "encoder.layers.%d.self_attn.k_proj.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.attn_v.weight", "encoder.layers.%d.self_attn.v_proj.weight", HF_ROOT_VISION, "DD", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.attn_v.bias", "encoder.layers.%d.self_attn.v_proj.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.attn_q.weight", "encoder.layers.%d.self_attn.q_proj.weight", HF_ROOT_VISION, "DD", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.attn_q.bias", "encoder.layers.%d.self_attn.q_proj.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.attn_out.weight", "encoder.layers.%d.self_attn.out_proj.weight", HF_ROOT_VISION, "DD", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.attn_out.bias", "encoder.layers.%d.self_attn.out_proj.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.ln1.weight", "encoder.layers.%d.layer_norm1.weight", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.ln1.bias", "encoder.layers.%d.layer_norm1.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.ffn_down.weight", "encoder.layers.%d.mlp.fc1.weight", HF_ROOT_VISION, "DG", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.ffn_down.bias", "encoder.layers.%d.mlp.fc1.bias", HF_ROOT_VISION, "G", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.ffn_up.weight", "encoder.layers.%d.mlp.fc2.weight", HF_ROOT_VISION, "GD", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.ffn_up.bias", "encoder.layers.%d.mlp.fc2.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.ln2.weight", "encoder.layers.%d.layer_norm2.weight", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.ln2.bias", "encoder.layers.%d.layer_norm2.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0, 0, 0},
    {NULL, NULL, 0, NULL, 0, 0, 0, 0, 0},
};

/* OPTForCausalLM's decoder (names relative to "[language_model.]model.decoder.", the head to
 * "[language_model.]") -> graft's "opt" (llama.cpp has no OPT; these names are graft's own, in
 * llama.cpp's style). Pre-LN blocks: self_attn_layer_norm before attention, the layer's
 * final_layer_norm before the FFN; decoder.final_layer_norm after the last block. */
const hf_map_entry graft_hf_map_opt[] = {
    {"token_embd.weight", "embed_tokens.weight", HF_ROOT_BODY, "EV", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"position_embd.weight", "embed_positions.weight", HF_ROOT_BODY, "EC", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"output_norm.weight", "final_layer_norm.weight", HF_ROOT_BODY, "E", 0, HF_ROW_PLAIN, 0, 0, HF_WHEN_NORM_BEFORE},
    {"output_norm.bias", "final_layer_norm.bias", HF_ROOT_BODY, "E", 0, HF_ROW_PLAIN, 0, 0, HF_WHEN_NORM_BEFORE},
    {"output.weight", "lm_head.weight", HF_ROOT_HEAD, "EV", 0, HF_ROW_PLAIN, 1, 0, 0},
    {"blk.%d.attn_norm.weight", "layers.%d.self_attn_layer_norm.weight", HF_ROOT_BODY, "E", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.attn_norm.bias", "layers.%d.self_attn_layer_norm.bias", HF_ROOT_BODY, "E", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.attn_q.weight", "layers.%d.self_attn.q_proj.weight", HF_ROOT_BODY, "EE", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.attn_q.bias", "layers.%d.self_attn.q_proj.bias", HF_ROOT_BODY, "E", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.attn_k.weight", "layers.%d.self_attn.k_proj.weight", HF_ROOT_BODY, "EE", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.attn_k.bias", "layers.%d.self_attn.k_proj.bias", HF_ROOT_BODY, "E", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.attn_v.weight", "layers.%d.self_attn.v_proj.weight", HF_ROOT_BODY, "EE", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.attn_v.bias", "layers.%d.self_attn.v_proj.bias", HF_ROOT_BODY, "E", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.attn_output.weight", "layers.%d.self_attn.out_proj.weight", HF_ROOT_BODY, "EE", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.attn_output.bias", "layers.%d.self_attn.out_proj.bias", HF_ROOT_BODY, "E", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.ffn_norm.weight", "layers.%d.final_layer_norm.weight", HF_ROOT_BODY, "E", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.ffn_norm.bias", "layers.%d.final_layer_norm.bias", HF_ROOT_BODY, "E", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.ffn_up.weight", "layers.%d.fc1.weight", HF_ROOT_BODY, "EF", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.ffn_up.bias", "layers.%d.fc1.bias", HF_ROOT_BODY, "F", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.ffn_down.weight", "layers.%d.fc2.weight", HF_ROOT_BODY, "FE", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"blk.%d.ffn_down.bias", "layers.%d.fc2.bias", HF_ROOT_BODY, "E", 1, HF_ROW_PLAIN, 0, 0, 0},
    {NULL, NULL, 0, NULL, 0, 0, 0, 0, 0},
};

/* Blip2ForConditionalGeneration / InstructBlipForConditionalGeneration's vision side -> graft's
 * mmproj with clip.projector_type "qformer" (llama.cpp has no BLIP-2; the qf.* names are graft's
 * own). The ViT (root "vision_model."): all blocks, the fused qkv, the patch bias, post_layernorm,
 * no pre-LN, fc1 as ffn_up (the non-legacy naming). The Q-Former (root "qformer."), the learned
 * queries and the language projection (root ""). class_embedding (1, 1, D), position_embedding
 * (1, T, D) and query_tokens (1, nq, Dq) drop their leading 1-dims in the view. */
const hf_map_entry graft_hf_map_blip[] = {
    {"v.patch_embd.weight", "embeddings.patch_embedding.weight", HF_ROOT_VISION, "PP3D", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"v.patch_embd.bias", "embeddings.patch_embedding.bias", HF_ROOT_VISION, "D", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"v.class_embd", "embeddings.class_embedding", HF_ROOT_VISION, "D11", 0, HF_ROW_PLAIN, 0, 1, 0},
    {"v.position_embd.weight", "embeddings.position_embedding", HF_ROOT_VISION, "DT1", 0, HF_ROW_PLAIN, 0, 2, 0},
    {"v.blk.%d.ln1.weight", "encoder.layers.%d.layer_norm1.weight", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.ln1.bias", "encoder.layers.%d.layer_norm1.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.attn_qkv.weight", "encoder.layers.%d.self_attn.qkv.weight", HF_ROOT_VISION, "DW", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.attn_qkv.bias", "encoder.layers.%d.self_attn.qkv.bias", HF_ROOT_VISION, "W", 1, HF_ROW_PLAIN, 0, 0,
     HF_WHEN_QKV_BIAS},
    {"v.blk.%d.attn_out.weight", "encoder.layers.%d.self_attn.projection.weight", HF_ROOT_VISION, "DD", 1, HF_ROW_PLAIN, 0,
     0, 0},
    {"v.blk.%d.attn_out.bias", "encoder.layers.%d.self_attn.projection.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.ln2.weight", "encoder.layers.%d.layer_norm2.weight", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.ln2.bias", "encoder.layers.%d.layer_norm2.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.ffn_up.weight", "encoder.layers.%d.mlp.fc1.weight", HF_ROOT_VISION, "DG", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.ffn_up.bias", "encoder.layers.%d.mlp.fc1.bias", HF_ROOT_VISION, "G", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.ffn_down.weight", "encoder.layers.%d.mlp.fc2.weight", HF_ROOT_VISION, "GD", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.blk.%d.ffn_down.bias", "encoder.layers.%d.mlp.fc2.bias", HF_ROOT_VISION, "D", 1, HF_ROW_PLAIN, 0, 0, 0},
    {"v.post_ln.weight", "post_layernorm.weight", HF_ROOT_VISION, "D", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"v.post_ln.bias", "post_layernorm.bias", HF_ROOT_VISION, "D", 0, HF_ROW_PLAIN, 0, 0, 0},

    {"qf.query_embd", "query_tokens", HF_ROOT_TOP, "HN1", 0, HF_ROW_PLAIN, 0, 2, 0},
    /* qformer.layernorm (BLIP-2) or qformer.embeddings.layernorm (InstructBLIP): hf.c finds the root */
    {"qf.embd_ln.weight", "layernorm.weight", HF_ROOT_QFORMER_LN, "H", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"qf.embd_ln.bias", "layernorm.bias", HF_ROOT_QFORMER_LN, "H", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"qf.tok_embd.weight", "embeddings.word_embeddings.weight", HF_ROOT_QFORMER, "HU", 0, HF_ROW_PLAIN, 0, 0,
     HF_WHEN_TEXT},
    {"qf.pos_embd.weight", "embeddings.position_embeddings.weight", HF_ROOT_QFORMER, "HO", 0, HF_ROW_PLAIN, 0, 0,
     HF_WHEN_TEXT},
#define QF(g, h, shape, when) {"qf.blk.%d." g, "encoder.layer.%d." h, HF_ROOT_QFORMER, shape, 1, HF_ROW_PLAIN, 0, 0, when}
    QF("attn_q.weight", "attention.attention.query.weight", "HH", 0),
    QF("attn_q.bias", "attention.attention.query.bias", "H", 0),
    QF("attn_k.weight", "attention.attention.key.weight", "HH", 0),
    QF("attn_k.bias", "attention.attention.key.bias", "H", 0),
    QF("attn_v.weight", "attention.attention.value.weight", "HH", 0),
    QF("attn_v.bias", "attention.attention.value.bias", "H", 0),
    QF("attn_out.weight", "attention.output.dense.weight", "HH", 0),
    QF("attn_out.bias", "attention.output.dense.bias", "H", 0),
    QF("attn_ln.weight", "attention.output.LayerNorm.weight", "H", 0),
    QF("attn_ln.bias", "attention.output.LayerNorm.bias", "H", 0),
    QF("cross_q.weight", "crossattention.attention.query.weight", "HH", HF_WHEN_CROSS),
    QF("cross_q.bias", "crossattention.attention.query.bias", "H", HF_WHEN_CROSS),
    QF("cross_k.weight", "crossattention.attention.key.weight", "DH", HF_WHEN_CROSS),
    QF("cross_k.bias", "crossattention.attention.key.bias", "H", HF_WHEN_CROSS),
    QF("cross_v.weight", "crossattention.attention.value.weight", "DH", HF_WHEN_CROSS),
    QF("cross_v.bias", "crossattention.attention.value.bias", "H", HF_WHEN_CROSS),
    QF("cross_out.weight", "crossattention.output.dense.weight", "HH", HF_WHEN_CROSS),
    QF("cross_out.bias", "crossattention.output.dense.bias", "H", HF_WHEN_CROSS),
    QF("cross_ln.weight", "crossattention.output.LayerNorm.weight", "H", HF_WHEN_CROSS),
    QF("cross_ln.bias", "crossattention.output.LayerNorm.bias", "H", HF_WHEN_CROSS),
    QF("ffn_up.weight", "intermediate_query.dense.weight", "HI", 0),
    QF("ffn_up.bias", "intermediate_query.dense.bias", "I", 0),
    QF("ffn_down.weight", "output_query.dense.weight", "IH", 0),
    QF("ffn_down.bias", "output_query.dense.bias", "H", 0),
    QF("ffn_ln.weight", "output_query.LayerNorm.weight", "H", 0),
    QF("ffn_ln.bias", "output_query.LayerNorm.bias", "H", 0),
    QF("text_ffn_up.weight", "intermediate.dense.weight", "HI", HF_WHEN_TEXT),
    QF("text_ffn_up.bias", "intermediate.dense.bias", "I", HF_WHEN_TEXT),
    QF("text_ffn_down.weight", "output.dense.weight", "IH", HF_WHEN_TEXT),
    QF("text_ffn_down.bias", "output.dense.bias", "H", HF_WHEN_TEXT),
    QF("text_ffn_ln.weight", "output.LayerNorm.weight", "H", HF_WHEN_TEXT),
    QF("text_ffn_ln.bias", "output.LayerNorm.bias", "H", HF_WHEN_TEXT),
#undef QF
    {"mm.0.weight", "language_projection.weight", HF_ROOT_TOP, "HM", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"mm.0.bias", "language_projection.bias", HF_ROOT_TOP, "M", 0, HF_ROW_PLAIN, 0, 0, 0},
    {NULL, NULL, 0, NULL, 0, 0, 0, 0, 0},
};

/* MplugOwlForConditionalGeneration's vision side (the authors' modeling_mplug_owl.py) -> graft's
 * mmproj with clip.projector_type "owl_abstractor" (docs/formats.md; llama.cpp has no mPLUG-Owl).
 * The ViT (root "vision_model."): all blocks, pre-LN and post-LN, fc1 as ffn_up; its fused
 * query_key_value is interleaved per head ((H, 3, hd) rows) and becomes a [q; k; v] attn_qkv
 * (HF_ROW_HEAD3). The abstractor layers (root "abstractor.encoder."), the queries, visual_fc and
 * vit_eos (root ""). cls_token (1, 1, D), position_embedding (1, T, D), query_tokens (1, Q, D)
 * and vit_eos (1, 1, De) drop their leading 1-dims. */
const hf_map_entry graft_hf_map_owl[] = {
    {"v.class_embd", "embeddings.cls_token", HF_ROOT_VISION, "D11", 0, HF_ROW_PLAIN, 0, 1, 0},
    {"v.patch_embd.weight", "embeddings.patch_embed.weight", HF_ROOT_VISION, "PP3D", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"v.position_embd.weight", "embeddings.position_embedding", HF_ROOT_VISION, "DT1", 0, HF_ROW_PLAIN, 0, 2, 0},
    {"v.pre_ln.weight", "embeddings.pre_layernorm.weight", HF_ROOT_VISION, "D", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"v.pre_ln.bias", "embeddings.pre_layernorm.bias", HF_ROOT_VISION, "D", 0, HF_ROW_PLAIN, 0, 0, 0},
#define OV(g, h, shape, rows) {"v.blk.%d." g, "encoder.layers.%d." h, HF_ROOT_VISION, shape, 1, rows, 0, 0, 0}
    OV("ln1.weight", "input_layernorm.weight", "D", HF_ROW_PLAIN),
    OV("ln1.bias", "input_layernorm.bias", "D", HF_ROW_PLAIN),
    OV("attn_qkv.weight", "self_attn.query_key_value.weight", "DW", HF_ROW_HEAD3),
    OV("attn_qkv.bias", "self_attn.query_key_value.bias", "W", HF_ROW_HEAD3),
    OV("attn_out.weight", "self_attn.dense.weight", "DD", HF_ROW_PLAIN),
    OV("attn_out.bias", "self_attn.dense.bias", "D", HF_ROW_PLAIN),
    OV("ln2.weight", "post_attention_layernorm.weight", "D", HF_ROW_PLAIN),
    OV("ln2.bias", "post_attention_layernorm.bias", "D", HF_ROW_PLAIN),
    OV("ffn_up.weight", "mlp.fc1.weight", "DG", HF_ROW_PLAIN),
    OV("ffn_up.bias", "mlp.fc1.bias", "G", HF_ROW_PLAIN),
    OV("ffn_down.weight", "mlp.fc2.weight", "GD", HF_ROW_PLAIN),
    OV("ffn_down.bias", "mlp.fc2.bias", "D", HF_ROW_PLAIN),
#undef OV
    {"v.post_ln.weight", "post_layernorm.weight", HF_ROOT_VISION, "D", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"v.post_ln.bias", "post_layernorm.bias", HF_ROOT_VISION, "D", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"ab.query_embd", "query_tokens", HF_ROOT_TOP, "HN1", 0, HF_ROW_PLAIN, 0, 2, 0},
#define AB(g, h, shape) {"ab.blk.%d." g, "layers.%d.crossattention." h, HF_ROOT_QFORMER, shape, 1, HF_ROW_PLAIN, 0, 0, 0}
    AB("ln_q.weight", "norm1.weight", "H"), AB("ln_q.bias", "norm1.bias", "H"),
    AB("ln_kv.weight", "normk.weight", "H"), AB("ln_kv.bias", "normk.bias", "H"),
    AB("attn_q.weight", "attention.query.weight", "HH"), AB("attn_q.bias", "attention.query.bias", "H"),
    AB("attn_k.weight", "attention.key.weight", "DH"), AB("attn_k.bias", "attention.key.bias", "H"),
    AB("attn_v.weight", "attention.value.weight", "DH"), AB("attn_v.bias", "attention.value.bias", "H"),
    AB("attn_out.weight", "output.out_proj.weight", "HH"), AB("attn_out.bias", "output.out_proj.bias", "H"),
    AB("ln_ffn.weight", "output.norm2.weight", "H"), AB("ln_ffn.bias", "output.norm2.bias", "H"),
    AB("ffn_gate.weight", "output.mlp.w1.weight", "HI"), AB("ffn_gate.bias", "output.mlp.w1.bias", "I"),
    AB("ffn_up.weight", "output.mlp.w3.weight", "HI"), AB("ffn_up.bias", "output.mlp.w3.bias", "I"),
    AB("ffn_ln.weight", "output.mlp.ffn_ln.weight", "I"), AB("ffn_ln.bias", "output.mlp.ffn_ln.bias", "I"),
    AB("ffn_down.weight", "output.mlp.w2.weight", "IH"), AB("ffn_down.bias", "output.mlp.w2.bias", "H"),
#undef AB
    {"mm.0.weight", "abstractor.visual_fc.weight", HF_ROOT_TOP, "HM", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"mm.0.bias", "abstractor.visual_fc.bias", HF_ROOT_TOP, "M", 0, HF_ROW_PLAIN, 0, 0, 0},
    {"ab.vit_eos", "abstractor.vit_eos", HF_ROOT_TOP, "M11", 0, HF_ROW_PLAIN, 0, 1, 0},
    {NULL, NULL, 0, NULL, 0, 0, 0, 0, 0},
};
