"""Independent float64 numpy reference of mPLUG-Owl (the original release, MAGAer13/mplug-owl-llama-7b:
CLIP ViT-L/14 + visual abstractor + LLaMA-7B), working on the authors' Hugging Face state dict names.
Part of graft's reference generators (tests/reference/); never run by `make test`.

Written from a reading of the published definition (X-PLUG/mPLUG-Owl, mPLUG-Owl/mplug_owl/
modeling_mplug_owl.py, configuration_mplug_owl.py, processing_mplug_owl.py), not from its code and
not from graft's. The semantics, with the authors' tensor names (details: README-owl.md):

  vision_model (MplugOwlVisionModel)
    embeddings: conv (3 -> D, kernel p, stride p, NO bias) over the (3, S, S) image, rows in
        row-major grid order; cls_token prepended (row 0); + position_embedding (1, T, D);
        pre_layernorm.                                                        eps = vision layer_norm_eps
    T encoder layers, pre-norm:
        x += dense(attn(input_layernorm(x)))
        attn: query_key_value (3D, D) gives (T, 3D) viewed as (T, H, 3, hd): q/k/v are INTERLEAVED
              PER HEAD (head h owns rows h*3*hd .. h*3*hd + 3*hd - 1: its q, then k, then v);
              softmax(q k^T * hd^-0.5) v, bidirectional, no mask.
        x += fc2(quick_gelu(fc1(post_attention_layernorm(x))))      quick_gelu(x) = x sigmoid(1.702 x)
    last_hidden_state = post_layernorm(x): EVERY row, CLS included (the abstractor reads all T rows).

  abstractor (MplugOwlVisualAbstractorModel), fed query_tokens (1, Q, Da) and image = last_hidden_state
    per layer (crossattention = MplugOwlVisualAbstractorAttention):
        qn  = norm1(q)                      eps 1e-5 (LayerNormFp32 built without eps: torch's default)
        kn  = normk(image)                  eps 1e-5
        kv  = concat([qn, kn])              (Q + T, Da): the queries attend to themselves AND the image
        ctx = softmax((qn Wq + bq)(kv Wk + bk)^T / sqrt(hd)) (kv Wv + bv)    per head, no mask in effect
        x   = qn + out_proj(ctx)            the residual is the NORMED queries
        q   = x + w2(ffn_ln(silu(w1 norm2(x)) * w3 norm2(x)))     norm2 eps 1e-5, ffn_ln eps = abstractor
                                                                 layer_norm_eps, over the F_a width
    no final norm; visual_fc (Da -> De, with bias) on every query; vit_eos (1, 1, De) appended LAST:
    Q + 1 rows enter the LLM.

  language_model (LlamaForCausalLM): text ids embedded, the Q + 1 rows put where the processor placed
    Q + 1 negative placeholder ids, positions 0..n-1 over the merged sequence, causal; HF LLaMA:
    RMSNorm, rotate_half RoPE on HF-layout q/k rows, SwiGLU MLP, final norm, lm_head.

Arrays: float64, HF shapes ((out, in) for Linear). Legend: S image side, p patch, T = (S/p)^2 + 1 ViT
rows, D ViT width, H ViT heads, F ViT MLP width, Q queries, Da abstractor width (= D), Ha heads,
Fa abstractor MLP width, De LLM width, V vocab.
"""

import numpy as np

TORCH_LN_EPS = 1e-5   # nn.LayerNorm's default eps (norm1, normk, norm2)


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def linear(x, w, b=None):
    y = x @ w.T
    return y if b is None else y + b


def quick_gelu(x):
    return x / (1.0 + np.exp(-1.702 * x))


def silu(x):
    return x / (1.0 + np.exp(-x))


def softmax_rows(s):
    s = s - s.max(axis=-1, keepdims=True)
    e = np.exp(s)
    return e / e.sum(axis=-1, keepdims=True)


def mha(q, k, v, n_head):
    """q (n, W), k, v (m, W) -> (n, W): per-head softmax(q_h k_h^T / sqrt(hd)) v_h, no mask."""
    n, W = q.shape
    m = k.shape[0]
    hd = W // n_head
    qh = q.reshape(n, n_head, hd).transpose(1, 0, 2)
    kh = k.reshape(m, n_head, hd).transpose(1, 0, 2)
    vh = v.reshape(m, n_head, hd).transpose(1, 0, 2)
    p = softmax_rows(qh @ kh.transpose(0, 2, 1) / np.sqrt(hd))          # (H, n, m)
    return (p @ vh).transpose(1, 0, 2).reshape(n, W)


# ---------------------------------------------------------------------------------------------
# the vision tower

def split_qkv(w, b, n_head):
    """query_key_value (3D, D) / (3D) -> (Wq, Wk, Wv), (bq, bk, bv): output feature r of the fused
    layer is (head h, part j, dim d) with r = (h * 3 + j) * hd + d (the (T, H, 3, hd) view)."""
    D3, D = w.shape
    hd = D3 // 3 // n_head
    W = w.reshape(n_head, 3, hd, D)
    B = b.reshape(n_head, 3, hd)
    return ([W[:, j].reshape(n_head * hd, D) for j in range(3)],
            [B[:, j].reshape(n_head * hd) for j in range(3)])


def vision_tower(sd, vcfg, pixels, qkv_layout="per_head"):
    """pixels (3, S, S) -> (last_hidden_state (T, D), [hidden after embeddings, after layer 1, ...]).
    qkv_layout "blocks" reads query_key_value as [Wq; Wk; Wv] (a wrong reading, for the checks)."""
    pre = "vision_model."
    eps, H = float(vcfg["layer_norm_eps"]), int(vcfg["num_attention_heads"])
    W = sd[pre + "embeddings.patch_embed.weight"]                        # (D, 3, p, p)
    D, _, p, _ = W.shape
    S = pixels.shape[1]
    g = S // p
    x = pixels.astype(np.float64)
    patches = x.reshape(3, g, p, g, p).transpose(1, 3, 0, 2, 4).reshape(g * g, 3 * p * p)
    emb = patches @ W.reshape(D, 3 * p * p).T                            # (g*g, D)
    cls = sd[pre + "embeddings.cls_token"].reshape(1, D)
    x = np.concatenate([cls, emb], axis=0) + sd[pre + "embeddings.position_embedding"].reshape(-1, D)
    x = layer_norm(x, sd[pre + "embeddings.pre_layernorm.weight"], sd[pre + "embeddings.pre_layernorm.bias"], eps)
    hidden = [x]
    for i in range(int(vcfg["num_hidden_layers"])):
        L = pre + "encoder.layers.%d." % i

        def t(n):
            return sd[L + n]
        h = layer_norm(x, t("input_layernorm.weight"), t("input_layernorm.bias"), eps)
        wqkv, bqkv = t("self_attn.query_key_value.weight"), t("self_attn.query_key_value.bias")
        if qkv_layout == "per_head":
            (wq, wk, wv), (bq, bk, bv) = split_qkv(wqkv, bqkv, H)
        else:
            wq, wk, wv = np.split(wqkv, 3, axis=0)
            bq, bk, bv = np.split(bqkv, 3)
        a = mha(linear(h, wq, bq), linear(h, wk, bk), linear(h, wv, bv), H)
        x = x + linear(a, t("self_attn.dense.weight"), t("self_attn.dense.bias"))
        h = layer_norm(x, t("post_attention_layernorm.weight"), t("post_attention_layernorm.bias"), eps)
        x = x + linear(quick_gelu(linear(h, t("mlp.fc1.weight"), t("mlp.fc1.bias"))),
                       t("mlp.fc2.weight"), t("mlp.fc2.bias"))
        hidden.append(x)
    last = layer_norm(x, sd[pre + "post_layernorm.weight"], sd[pre + "post_layernorm.bias"], eps)
    return last, hidden


# ---------------------------------------------------------------------------------------------
# the visual abstractor

# Plausible mistakes an engine could make, for the sensitivity table (README-owl.md); "none" is the
# definition.
ABSTRACTOR_BREAKS = ("none", "skip_normk", "skip_norm1", "residual_raw_queries", "kv_image_only",
                     "skip_ffn_ln", "silu_on_w3", "ffn_ln_eps_1e-5", "norm1_eps_1e-6", "normk_eps_1e-6",
                     "norm2_eps_1e-6", "no_eos", "eos_first")


def abstractor(sd, acfg, image, brk="none"):
    """image (T, Da) = the vision last_hidden_state -> (queries after the last layer (Q, Da),
    rows entering the LLM (Q + 1, De))."""
    pre = "abstractor."
    H = int(acfg["num_attention_heads"])
    ffn_eps = float(acfg["layer_norm_eps"])
    eps1 = epsk = eps2 = TORCH_LN_EPS
    if brk == "ffn_ln_eps_1e-5":
        ffn_eps = 1e-5
    eps1 = 1e-6 if brk == "norm1_eps_1e-6" else eps1
    epsk = 1e-6 if brk == "normk_eps_1e-6" else epsk
    eps2 = 1e-6 if brk == "norm2_eps_1e-6" else eps2
    q = sd["query_tokens"][0]                                            # (Q, Da)
    for i in range(int(acfg["num_hidden_layers"])):
        L = pre + "encoder.layers.%d.crossattention." % i

        def t(n):
            return sd[L + n]
        qn = q if brk == "skip_norm1" else layer_norm(q, t("norm1.weight"), t("norm1.bias"), eps1)
        kn = image if brk == "skip_normk" else layer_norm(image, t("normk.weight"), t("normk.bias"), epsk)
        kv = kn if brk == "kv_image_only" else np.concatenate([qn, kn], axis=0)   # (Q + T, Da)
        ctx = mha(linear(qn, t("attention.query.weight"), t("attention.query.bias")),
                  linear(kv, t("attention.key.weight"), t("attention.key.bias")),
                  linear(kv, t("attention.value.weight"), t("attention.value.bias")), H)
        res = q if brk == "residual_raw_queries" else qn
        x = res + linear(ctx, t("output.out_proj.weight"), t("output.out_proj.bias"))
        h = layer_norm(x, t("output.norm2.weight"), t("output.norm2.bias"), eps2)
        g = linear(h, t("output.mlp.w1.weight"), t("output.mlp.w1.bias"))
        u = linear(h, t("output.mlp.w3.weight"), t("output.mlp.w3.bias"))
        m = u * silu(g) if brk != "silu_on_w3" else g * silu(u)          # (Q, Fa)
        if brk != "skip_ffn_ln":
            m = layer_norm(m, t("output.mlp.ffn_ln.weight"), t("output.mlp.ffn_ln.bias"), ffn_eps)
        q = x + linear(m, t("output.mlp.w2.weight"), t("output.mlp.w2.bias"))
    rows = linear(q, sd[pre + "visual_fc.weight"], sd[pre + "visual_fc.bias"])   # (Q, De)
    eos = sd[pre + "vit_eos"].reshape(1, -1)
    if brk == "no_eos":
        return q, rows
    if brk == "eos_first":
        return q, np.concatenate([eos, rows], axis=0)
    return q, np.concatenate([rows, eos], axis=0)


def encode_image(sd, cfg, pixels, brk="none"):
    """The whole image path: (last_hidden_state (T, D), abstractor queries (Q, Da), rows (Q+1, De))."""
    last, _ = vision_tower(sd, cfg["vision_config"], pixels)
    q, rows = abstractor(sd, cfg["visual_abstractor_config"], last, brk)
    return last, q, rows


# ---------------------------------------------------------------------------------------------
# the processor's placeholder ids and the splice (generate())

def media_starts(ids):
    """Indices where a run of negative ids starts (each run is one image)."""
    return [i for i, t in enumerate(ids) if t < 0 and (i == 0 or ids[i - 1] != t)]


def splice_embeddings(sd, ids, rows_per_image):
    """input_ids with Q + 1 negative placeholders per image -> inputs_embeds (n, De): text ids
    embedded, each placeholder run replaced by that image's rows (in order)."""
    E = sd["language_model.model.embed_tokens.weight"]
    x = E[np.where(np.asarray(ids) < 0, 0, ids)].copy()
    for k, s in enumerate(media_starts(ids)):
        r = rows_per_image[k]
        assert all(t < 0 for t in ids[s:s + r.shape[0]]), "placeholder run shorter than the image rows"
        x[s:s + r.shape[0]] = r
    return x


# ---------------------------------------------------------------------------------------------
# the language model (HF LlamaForCausalLM on inputs_embeds)

def llama_logits(sd, tcfg, x):
    """x (n, De) input embeddings at positions 0..n-1 -> logits (n, V)."""
    pre = "language_model.model."
    n, D = x.shape
    H = int(tcfg["num_attention_heads"])
    K = int(tcfg.get("num_key_value_heads", H))
    hd = D // H
    eps = float(tcfg["rms_norm_eps"])
    theta = float(tcfg.get("rope_theta", 10000.0))
    inv = theta ** (-np.arange(0, hd, 2, dtype=np.float64) / hd)         # (hd/2)
    ang = np.arange(n, dtype=np.float64)[:, None] * inv[None, :]
    cos = np.concatenate([np.cos(ang)] * 2, axis=1)[:, None, :]          # (n, 1, hd)
    sin = np.concatenate([np.sin(ang)] * 2, axis=1)[:, None, :]

    def rms(v, w):
        return v / np.sqrt((v * v).mean(axis=-1, keepdims=True) + eps) * w

    def rot(v):                                                          # rotate_half
        return np.concatenate([-v[..., hd // 2:], v[..., :hd // 2]], axis=-1)

    causal = np.triu(np.ones((n, n), dtype=bool), k=1)
    for i in range(int(tcfg["num_hidden_layers"])):
        L = pre + "layers.%d." % i
        h = rms(x, sd[L + "input_layernorm.weight"])
        q = linear(h, sd[L + "self_attn.q_proj.weight"]).reshape(n, H, hd)
        k = linear(h, sd[L + "self_attn.k_proj.weight"]).reshape(n, K, hd)
        v = linear(h, sd[L + "self_attn.v_proj.weight"]).reshape(n, K, hd)
        q = q * cos + rot(q) * sin
        k = k * cos + rot(k) * sin
        k = np.repeat(k, H // K, axis=1)
        v = np.repeat(v, H // K, axis=1)
        s = np.einsum("ihd,jhd->hij", q, k) / np.sqrt(hd)
        s[:, causal] = -np.inf
        o = np.einsum("hij,jhd->ihd", softmax_rows(s), v).reshape(n, D)
        x = x + linear(o, sd[L + "self_attn.o_proj.weight"])
        h = rms(x, sd[L + "post_attention_layernorm.weight"])
        x = x + linear(silu(linear(h, sd[L + "mlp.gate_proj.weight"])) * linear(h, sd[L + "mlp.up_proj.weight"]),
                       sd[L + "mlp.down_proj.weight"])
    return linear(rms(x, sd[pre + "norm.weight"]), sd["language_model.lm_head.weight"])


def greedy(sd, tcfg, x, n_new):
    """Argmax continuation of the embeddings x, full recompute per step, no EOS stop.
    Returns (ids, top1 - top2 margins)."""
    E = sd["language_model.model.embed_tokens.weight"]
    ids, margins = [], []
    for _ in range(n_new):
        row = llama_logits(sd, tcfg, x)[-1]
        t = int(np.argmax(row))
        s = np.sort(row)
        ids.append(t)
        margins.append(float(s[-1] - s[-2]))
        x = np.concatenate([x, E[t][None, :]], axis=0)
    return ids, margins
