"""Independent float64 numpy reference of the CLIP vision tower (Hugging Face CLIPVisionModel) and
the LLaVA projectors (LLaVA-1 linear, LLaVA-1.5 mlp2x_gelu), plus a reader for llama.cpp mmproj
GGUF files. Part of graft's reference generators (tests/reference/); never run by `make test`.

Written from the published model definitions (transformers' modeling_clip.py / modeling_llava.py
and LLaVA's builder.py), not from graft's code:
  embeddings: conv2d(3 -> D, kernel p, stride p, no bias) over the (3, S, S) image, flattened
              row-major over the (S/p, S/p) grid, the class embedding prepended (row 0), plus the
              learned position embeddings (n_patches + 1, D).
  pre_layrnorm, then blocks: x += out_proj(attn(layer_norm1(x))); x += fc2(act(fc1(layer_norm2(x)))),
              attention bidirectional, multi-head, q/k/v/out with biases, q scaled by head_dim^-0.5.
  hidden_states[0] = after pre_layrnorm, hidden_states[k] = after block k. post_layernorm only feeds
              the pooled output, never the hidden states LLaVA reads.
  LLaVA: image_features = hidden_states[feature_layer], CLS row dropped ("default") or kept ("full");
         projector linear: W x + b; mlp2x_gelu: W2 gelu_erf(W1 x + b1) + b2.
"""

import math

import numpy as np

SQRT2 = math.sqrt(2.0)
_erf = np.vectorize(math.erf, otypes=[np.float64])


def gelu_erf(x):
    return 0.5 * x * (1.0 + _erf(x / SQRT2))


def quick_gelu(x):
    return x / (1.0 + np.exp(-1.702 * x))


ACTS = {"gelu": gelu_erf, "quick_gelu": quick_gelu}


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


def linear(x, w, b):
    """x (n, in), w (out, in) as torch.nn.Linear stores it, b (out)."""
    return x @ w.T + b


def embeddings(p, pixels):
    """pixels (3, S, S) -> (n_patches + 1, D): conv patches, CLS first, + position embeddings."""
    W = p["patch_w"]                                      # (D, 3, ps, ps)
    D, _, ps, _ = W.shape
    S = pixels.shape[1]
    g = S // ps
    # blocks[c, gy, ky, gx, kx] = pixels[c, gy*ps + ky, gx*ps + kx]
    blocks = pixels.reshape(3, g, ps, g, ps)
    conv = np.einsum("dcyx,cgyhx->dgh", W, blocks)         # (D, g, g): the conv output
    patches = conv.reshape(D, g * g).T                    # flatten(2).transpose(1, 2)
    if p.get("patch_b") is not None:
        patches = patches + p["patch_b"]
    x = np.concatenate([p["class_emb"][None, :], patches], axis=0)
    return x + p["pos_emb"]


def attention(L, x, n_head):
    n, D = x.shape
    hd = D // n_head
    q = linear(x, L["q_w"], L["q_b"]) * hd ** -0.5
    k = linear(x, L["k_w"], L["k_b"])
    v = linear(x, L["v_w"], L["v_b"])
    q = q.reshape(n, n_head, hd).transpose(1, 0, 2)       # (H, n, hd)
    k = k.reshape(n, n_head, hd).transpose(1, 0, 2)
    v = v.reshape(n, n_head, hd).transpose(1, 0, 2)
    s = q @ k.transpose(0, 2, 1)                          # (H, n, n), no mask
    s = np.exp(s - s.max(axis=-1, keepdims=True))
    s = s / s.sum(axis=-1, keepdims=True)
    o = (s @ v).transpose(1, 0, 2).reshape(n, D)
    return linear(o, L["o_w"], L["o_b"])


def vision_hidden_states(p, pixels, n_blocks=None):
    """[after pre_layrnorm, after block 1, ..., after block n_blocks] in float64."""
    act = ACTS[p["act"]]
    eps = p["eps"]
    x = embeddings(p, pixels.astype(np.float64))
    x = layer_norm(x, p["pre_ln_w"], p["pre_ln_b"], eps)
    hs = [x]
    layers = p["layers"] if n_blocks is None else p["layers"][:n_blocks]
    for L in layers:
        x = x + attention(L, layer_norm(x, L["ln1_w"], L["ln1_b"], eps), p["n_head"])
        h = layer_norm(x, L["ln2_w"], L["ln2_b"], eps)
        x = x + linear(act(linear(h, L["fc1_w"], L["fc1_b"])), L["fc2_w"], L["fc2_b"])
        hs.append(x)
    return hs


def select_features(hs, feature_layers, strategy="default"):
    """LLaVA's feature selection: hidden_states[k] for each k (concatenated along the width when
    there are several, in the order given), CLS row dropped unless strategy is "full"."""
    f = np.concatenate([hs[k] for k in feature_layers], axis=-1)
    return f if strategy == "full" else f[1:]


def project(proj, x):
    if proj["type"] == "linear":
        return linear(x, proj["w0"], proj["b0"])
    if proj["type"] == "mlp":
        return linear(gelu_erf(linear(x, proj["w0"], proj["b0"])), proj["w2"], proj["b2"])
    raise ValueError(proj["type"])


# ---------------------------------------------------------------------------------------------
# llama.cpp mmproj GGUF -> the parameters above (HF layout, float64)

def load_mmproj(g):
    """g: a gguf_reader.GGUFFile of a clip mmproj. Returns (params, projector, feature_layers).

    Rules (llama.cpp's key and tensor names): v.blk.N.ffn_* holds fc1 (D -> F) under whichever of
    ffn_up / ffn_down has ne[0] == D (the legacy converter stored fc1 as ffn_down, newer ones as
    ffn_up); clip.use_gelu true = HF "gelu" (erf), else quick_gelu; feature layers from
    clip.vision.feature_layer (non-negative hidden-state indices), else every stored block."""
    m = g.meta

    def t(name):
        return g.tensor(name).astype(np.float64)

    D = m["clip.vision.embedding_length"]
    nb = m["clip.vision.block_count"]
    p = {"act": "gelu" if m.get("clip.use_gelu", False) else "quick_gelu",
         "eps": float(np.float32(m["clip.vision.attention.layer_norm_epsilon"])),
         "n_head": m["clip.vision.attention.head_count"],
         "patch_w": t("v.patch_embd.weight"), "class_emb": t("v.class_embd"),
         "pos_emb": t("v.position_embd.weight"),
         "patch_b": t("v.patch_embd.bias") if "v.patch_embd.bias" in g.tensors else None,
         "pre_ln_w": t("v.pre_ln.weight"), "pre_ln_b": t("v.pre_ln.bias"), "layers": []}
    for i in range(nb):
        b = "v.blk.%d." % i
        up, down = b + "ffn_up.", b + "ffn_down."
        fc1, fc2 = (down, up) if g.tensors[down + "weight"]["ne"][0] == D else (up, down)
        p["layers"].append({
            "q_w": t(b + "attn_q.weight"), "q_b": t(b + "attn_q.bias"),
            "k_w": t(b + "attn_k.weight"), "k_b": t(b + "attn_k.bias"),
            "v_w": t(b + "attn_v.weight"), "v_b": t(b + "attn_v.bias"),
            "o_w": t(b + "attn_out.weight"), "o_b": t(b + "attn_out.bias"),
            "ln1_w": t(b + "ln1.weight"), "ln1_b": t(b + "ln1.bias"),
            "ln2_w": t(b + "ln2.weight"), "ln2_b": t(b + "ln2.bias"),
            "fc1_w": t(fc1 + "weight"), "fc1_b": t(fc1 + "bias"),
            "fc2_w": t(fc2 + "weight"), "fc2_b": t(fc2 + "bias")})
    kind = m["clip.projector_type"]
    proj = {"type": kind, "w0": t("mm.0.weight"), "b0": t("mm.0.bias")}
    if kind == "mlp":
        proj.update(w2=t("mm.2.weight"), b2=t("mm.2.bias"))
    fl = m.get("clip.vision.feature_layer")
    feature_layers = [int(v) for v in fl] if fl is not None else [nb]
    return p, proj, feature_layers


def run_mmproj(g, pixels, strategy="default"):
    """Everything graft's encoder exposes: (hidden states, pre-projector features, projector out)."""
    p, proj, fl = load_mmproj(g)
    hs = vision_hidden_states(p, pixels, max(fl))
    feats = select_features(hs, fl, strategy)
    return hs, feats, project(proj, feats)
