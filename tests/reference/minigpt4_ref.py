"""Independent float64 numpy reference of MiniGPT-4 (the original Vicuna release, Vision-CAIR/MiniGPT-4),
on the tensor names of a Hugging Face Blip2ForConditionalGeneration directory (the way graft users
assemble one: BLIP-2's ViT + Q-Former, MiniGPT-4's llama_proj as language_projection, Vicuna as the
language model). Part of graft's reference generators; never run by `make test`.

Written from a reading of the published definition, not from graft's code:
  MiniGPT-4 minigpt4/models/mini_gpt4.py (MiniGPT4.encode_img), minigpt4/models/blip2.py (Blip2Base:
  init_vision_encoder, init_Qformer), eva_vit.py (create_eva_vit_g), Qformer.py (BERT with
  cross-attention), minigpt4/conversation/conversation.py (CONV_VISION, Chat.get_context_emb).

  encode_img:
    image_embeds = ln_vision(visual_encoder(image))        ALL rows (CLS first) of the last block
        visual_encoder = EVA ViT-g (create_eva_vit_g: depth 39, LayerNorm eps 1e-6, GELU):
            conv (3 -> D, kernel p, stride p, WITH bias), rows in row-major grid order; cls_token
            row 0; + pos_embed; no pre-norm; blocks x += proj(attn(norm1(x))), x += fc2(gelu(fc1(norm2(x))));
            attn: qkv = x W_qkv^T + [q_bias; 0; v_bias], rows [q; k; v]; softmax(q k^T hd^-0.5) v
        ln_vision = blip2.LayerNorm (torch's LayerNorm, eps 1e-5)          <- NOT the ViT's 1e-6
    query_output = Qformer.bert(query_embeds=query_tokens, encoder_hidden_states=image_embeds)
        embeddings: LayerNorm(query_tokens) (eps 1e-12); no text (MiniGPT-4 deletes the text parts)
        BERT post-LN layer i: a = LN(dense(selfattn(x)) + x)
                              if i % cross_attention_freq (2) == 0: c = LN(dense(xattn(a, image)) + a)
                              out = LN(output_query(gelu(intermediate_query(c))) + c)
    inputs_llama = llama_proj(query_output.last_hidden_state)            (Q, De), a Linear with bias

  Chat.get_context_emb: the prompt is split at "<ImageHere>"; each segment is tokenized on its own
  (tokenizer(seg, add_special_tokens=(i == 0)): BOS on the first segment only), embedded, and the
  image rows go between them: [seg0; rows; seg1]. Positions 0..n-1 over the whole sequence, causal.
  LLaMA: HF LlamaForCausalLM (owl_ref.llama_logits).

Arrays float64, HF shapes ((out, in) for Linear).
"""

import numpy as np

import owl_ref as O

LN_VISION_EPS = 1e-5   # blip2.LayerNorm: torch's default


def gelu(x):
    from math import erf
    return 0.5 * x * (1.0 + np.vectorize(erf)(x / np.sqrt(2.0)))


def eva_vit(sd, vcfg, pixels, brk="none"):
    """pixels (3, S, S) -> the last block's output (T, D), before ln_vision."""
    pre = "vision_model."
    D, H, p = vcfg["hidden_size"], vcfg["num_attention_heads"], vcfg["patch_size"]
    eps = vcfg["layer_norm_eps"]
    S = pixels.shape[1]
    g = S // p
    w = sd[pre + "embeddings.patch_embedding.weight"].reshape(D, -1)          # (D, 3 p p)
    patches = pixels.reshape(3, g, p, g, p).transpose(1, 3, 0, 2, 4).reshape(g * g, 3 * p * p)
    x = patches @ w.T + sd[pre + "embeddings.patch_embedding.bias"]
    x = np.concatenate([sd[pre + "embeddings.class_embedding"].reshape(1, D), x], axis=0)
    x = x + sd[pre + "embeddings.position_embedding"].reshape(-1, D)
    for i in range(vcfg["num_hidden_layers"]):
        L = pre + "encoder.layers.%d." % i
        h = O.layer_norm(x, sd[L + "layer_norm1.weight"], sd[L + "layer_norm1.bias"], eps)
        qkv = O.linear(h, sd[L + "self_attn.qkv.weight"], sd[L + "self_attn.qkv.bias"])
        q, k, v = qkv[:, :D], qkv[:, D:2 * D], qkv[:, 2 * D:]
        x = x + O.linear(O.mha(q, k, v, H), sd[L + "self_attn.projection.weight"], sd[L + "self_attn.projection.bias"])
        h = O.layer_norm(x, sd[L + "layer_norm2.weight"], sd[L + "layer_norm2.bias"], eps)
        x = x + O.linear(gelu(O.linear(h, sd[L + "mlp.fc1.weight"], sd[L + "mlp.fc1.bias"])),
                         sd[L + "mlp.fc2.weight"], sd[L + "mlp.fc2.bias"])
    return x


def ln_vision(sd, x, eps=LN_VISION_EPS):
    return O.layer_norm(x, sd["vision_model.post_layernorm.weight"], sd["vision_model.post_layernorm.bias"], eps)


def qformer(sd, qcfg, nq_check, image, brk="none"):
    """image (T, Dv) -> query_output.last_hidden_state (Q, Dq)."""
    eps, H = qcfg["layer_norm_eps"], qcfg["num_attention_heads"]
    freq = qcfg["cross_attention_frequency"]
    q = sd["query_tokens"][0]
    assert q.shape[0] == nq_check
    x = O.layer_norm(q, sd["qformer.layernorm.weight"], sd["qformer.layernorm.bias"], eps)

    def ln(v, name):
        return O.layer_norm(v, sd[name + ".weight"], sd[name + ".bias"], eps)

    def lin(v, name):
        return O.linear(v, sd[name + ".weight"], sd[name + ".bias"])

    for i in range(qcfg["num_hidden_layers"]):
        L = "qformer.encoder.layer.%d." % i
        A = L + "attention."
        a = O.mha(lin(x, A + "attention.query"), lin(x, A + "attention.key"), lin(x, A + "attention.value"), H)
        x = ln(lin(a, A + "output.dense") + x, A + "output.LayerNorm")
        cross = i % freq == 0 and not (brk == "no_cross_in_last_layer" and i == qcfg["num_hidden_layers"] - 1)
        if cross:
            C = L + "crossattention."
            c = O.mha(lin(x, C + "attention.query"), lin(image, C + "attention.key"), lin(image, C + "attention.value"), H)
            x = ln(lin(c, C + "output.dense") + x, C + "output.LayerNorm")
        f = lin(gelu(lin(x, L + "intermediate_query.dense")), L + "output_query.dense")
        x = ln(f + x, L + "output_query.LayerNorm")
    return x


def encode_img(sd, cfg, pixels, brk="none"):
    """-> (image_embeds (T, Dv) after ln_vision, query_output (Q, Dq), inputs_llama (Q, De))."""
    last = eva_vit(sd, cfg["vision_config"], pixels)
    if brk == "drop_cls":
        last = last[1:]
    emb = last if brk == "no_ln_vision" else ln_vision(sd, last, 1e-6 if brk == "ln_vision_eps_1e-6" else LN_VISION_EPS)
    qo = qformer(sd, cfg["qformer_config"], cfg["num_query_tokens"], emb, brk)
    rows = O.linear(qo, sd["language_projection.weight"], sd["language_projection.bias"])
    return emb, qo, rows


def context_emb(sd, seg0, rows, seg1):
    """[embed(seg0); rows; embed(seg1)] (Chat.get_context_emb)."""
    E = sd["language_model.model.embed_tokens.weight"]
    return np.concatenate([E[seg0], rows, E[seg1]], axis=0)
