"""Float64 numpy reference of Hugging Face's OPTForCausalLM (transformers' modeling_opt.py).

Part of graft's reference generators (tests/reference/); written from the published model
definition, not from graft's C. make_opt_fixtures.py uses it to write tests/fixtures/opt/.

What it follows, class by class (HF names):
  OPTLearnedPositionalEmbedding  an nn.Embedding of max_position_embeddings + 2 rows (offset 2);
                                 position_ids = cumsum(attention_mask) * attention_mask - 1, the
                                 rows past past_key_values_length kept, then looked up at
                                 position_ids + 2.
  OPTAttention                   q = q_proj(h) * head_dim**-0.5, k = k_proj(h), v = v_proj(h), all
                                 with biases; per head softmax(q k^T + causal/padding mask) v;
                                 out_proj (with bias).
  OPTDecoderLayer                do_layer_norm_before (pre-LN, OPT-125m, 1.3b, 2.7b, ... and
                                 BLIP-2's OPT): h = x + attn(self_attn_layer_norm(x)),
                                 out = h + fc2(relu(fc1(final_layer_norm(h)))).
                                 Post-LN (OPT-350m): h = self_attn_layer_norm(x + attn(x)),
                                 out = final_layer_norm(h + fc2(relu(fc1(h)))).
  OPTDecoder                     x = embed_tokens(ids) (or inputs_embeds) + positions; layers; the
                                 decoder's final_layer_norm only when do_layer_norm_before (and not
                                 _remove_final_layer_norm). project_in/project_out
                                 (word_embed_proj_dim != hidden_size) are not modelled.
  OPTForCausalLM                 logits = hidden @ lm_head^T, lm_head tied to embed_tokens unless
                                 the model has its own.
LayerNorm is torch's: (x - mean) / sqrt(biased var + eps) * w + b.

Weights (float64 arrays, HF layout: a Linear is (out, in)):
  {"tok_embd": (V, E), "pos_embd": (n_ctx + 2, E), "final_norm_w"/"final_norm_b": (E) or None,
   "lm_head": (V, E) or None (tied), "layers": [{"ln1_w", "ln1_b", "wq", "bq", "wk", "bk", "wv",
   "bv", "wo", "bo", "ln2_w", "ln2_b", "fc1_w" (F, E), "fc1_b", "fc2_w" (E, F), "fc2_b"}]}
"""

from dataclasses import dataclass

import numpy as np

POS_OFFSET = 2   # OPTLearnedPositionalEmbedding.offset


@dataclass
class Config:
    n_vocab: int
    dim: int             # hidden_size (= word_embed_proj_dim here)
    n_layers: int
    n_head: int
    ffn: int             # ffn_dim
    n_ctx: int           # max_position_embeddings
    eps: float = 1e-5    # nn.LayerNorm's default, which OPT uses
    pre_ln: bool = True  # do_layer_norm_before

    @property
    def hd(self):
        return self.dim // self.n_head

    def as_dict(self):
        return dict(n_vocab=self.n_vocab, dim=self.dim, n_layers=self.n_layers, n_head=self.n_head,
                    head_dim=self.hd, ffn=self.ffn, n_ctx=self.n_ctx, eps=self.eps,
                    do_layer_norm_before=self.pre_ln)


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)                  # biased, as torch
    return (x - mu) / np.sqrt(var + eps) * w + b


def relu(x):
    return np.maximum(x, 0.0)


def lm_head(w):
    return w["lm_head"] if w["lm_head"] is not None else w["tok_embd"]


def position_ids(attention_mask, past_len=0):
    """OPTLearnedPositionalEmbedding's position ids (before the offset) for one sequence."""
    m = np.asarray(attention_mask, dtype=np.int64)
    pos = np.cumsum(m) * m - 1
    return pos[past_len:]


# ---------------------------------------------------------------------------------------------
# full-sequence forward (the reference)

def forward(cfg, w, ids=None, embeds=None, attention_mask=None, return_hidden=False):
    """Logits (T, V) at every position of one sequence. ids (T,) or embeds (T, E) (inputs_embeds;
    attention_mask (T,) of 0/1, default all ones: positions from its cumsum, and masked positions hidden
    as keys, as HF's _prepare_4d_causal_attention_mask does."""
    if embeds is None:
        x = w["tok_embd"][np.asarray(ids)].astype(np.float64)              # (T, E)
    else:
        x = np.array(embeds, dtype=np.float64)
    T, H, hd = x.shape[0], cfg.n_head, cfg.hd
    am = np.ones(T, dtype=np.int64) if attention_mask is None else np.asarray(attention_mask)
    pos = position_ids(am) + POS_OFFSET                                  # (T,)
    x = x + w["pos_embd"][pos]
    mask = np.triu(np.full((T, T), -np.inf), k=1)                        # (T, T) causal
    # padding keys hidden with the dtype's minimum, as HF's mask does (a padded query row, which
    # sees no real key, then stays finite instead of turning into NaN)
    mask = mask + np.where(am[None, :] == 0, np.finfo(np.float64).min, 0.0)
    for L in w["layers"]:
        h = layer_norm(x, L["ln1_w"], L["ln1_b"], cfg.eps) if cfg.pre_ln else x
        q = (h @ L["wq"].T + L["bq"]) * hd ** -0.5                       # (T, E)
        k = h @ L["wk"].T + L["bk"]
        v = h @ L["wv"].T + L["bv"]
        q, k, v = (a.reshape(T, H, hd) for a in (q, k, v))               # (T, H, hd)
        sc = np.einsum("thd,shd->hts", q, k) + mask                      # (H, T, T)
        sc = sc - np.max(sc, axis=-1, keepdims=True)
        p = np.exp(sc)
        p /= p.sum(axis=-1, keepdims=True)
        o = np.einsum("hts,shd->thd", p, v).reshape(T, H * hd)
        x = x + (o @ L["wo"].T + L["bo"])
        if not cfg.pre_ln:
            x = layer_norm(x, L["ln1_w"], L["ln1_b"], cfg.eps)
        h = layer_norm(x, L["ln2_w"], L["ln2_b"], cfg.eps) if cfg.pre_ln else x
        x = x + (relu(h @ L["fc1_w"].T + L["fc1_b"]) @ L["fc2_w"].T + L["fc2_b"])
        if not cfg.pre_ln:
            x = layer_norm(x, L["ln2_w"], L["ln2_b"], cfg.eps)
    if cfg.pre_ln:
        x = layer_norm(x, w["final_norm_w"], w["final_norm_b"], cfg.eps)
    logits = x @ lm_head(w).T                                            # (T, V)
    return (logits, x) if return_hidden else logits


# ---------------------------------------------------------------------------------------------
# incremental decode with an explicit KV cache (second, separately structured path)

class KVDecoder:
    """One position per step: HF's past_key_values path (attention_mask grows by one, positions
    from position_ids(mask, past_len)), per-head loops, keys/values kept per layer."""

    def __init__(self, cfg, w):
        self.cfg, self.w = cfg, w
        self.k = [[] for _ in w["layers"]]    # per layer: list of (H, hd)
        self.v = [[] for _ in w["layers"]]
        self.mask = []

    def _ln(self, x, g, b):
        mu = sum(x) / len(x)
        var = sum((xi - mu) ** 2 for xi in x) / len(x)
        return np.array([(xi - mu) / np.sqrt(var + self.cfg.eps) for xi in x]) * g + b

    def step(self, token=None, embed=None):
        """Feeds one token id (or one embedding row); returns its logits (V,)."""
        cfg, w = self.cfg, self.w
        H, hd = cfg.n_head, cfg.hd
        past = len(self.mask)
        self.mask.append(1)
        p = int(position_ids(self.mask, past)[0]) + POS_OFFSET
        x = np.array(w["tok_embd"][token] if embed is None else embed, dtype=np.float64)
        x = x + w["pos_embd"][p]
        for li, L in enumerate(w["layers"]):
            h = self._ln(x, L["ln1_w"], L["ln1_b"]) if cfg.pre_ln else x
            q = (L["wq"] @ h + L["bq"]).reshape(H, hd) / np.sqrt(hd)
            self.k[li].append((L["wk"] @ h + L["bk"]).reshape(H, hd))
            self.v[li].append((L["wv"] @ h + L["bv"]).reshape(H, hd))
            o = np.empty((H, hd))
            for hh in range(H):
                s = np.array([kk[hh] @ q[hh] for kk in self.k[li]])       # (t,)
                e = np.exp(s - s.max())
                e /= e.sum()
                o[hh] = sum(e[j] * self.v[li][j][hh] for j in range(len(e)))
            x = x + L["wo"] @ o.reshape(-1) + L["bo"]
            if not cfg.pre_ln:
                x = self._ln(x, L["ln1_w"], L["ln1_b"])
            h = self._ln(x, L["ln2_w"], L["ln2_b"]) if cfg.pre_ln else x
            x = x + L["fc2_w"] @ relu(L["fc1_w"] @ h + L["fc1_b"]) + L["fc2_b"]
            if not cfg.pre_ln:
                x = self._ln(x, L["ln2_w"], L["ln2_b"])
        if cfg.pre_ln:
            x = self._ln(x, w["final_norm_w"], w["final_norm_b"])
        return lm_head(w) @ x


# ---------------------------------------------------------------------------------------------
# greedy generation

def top2_margin(row):
    s = np.sort(row)
    return float(s[-1] - s[-2])


def greedy(cfg, w, ids, n_new=32):
    """Argmax continuation, no EOS stop, full recompute per step. Returns (new ids, margins)."""
    seq = list(ids)
    new, margins = [], []
    for _ in range(n_new):
        row = forward(cfg, w, seq)[-1]
        t = int(np.argmax(row))
        new.append(t)
        margins.append(top2_margin(row))
        seq.append(t)
    return new, margins


def greedy_kv(cfg, w, ids, n_new=32):
    """The same with the KV-cache decoder. Returns (new ids, prompt logits (T, V), margins)."""
    dec = KVDecoder(cfg, w)
    rows = [dec.step(t) for t in ids]
    row = rows[-1]
    new, margins = [], []
    for _ in range(n_new):
        t = int(np.argmax(row))
        new.append(t)
        margins.append(top2_margin(row))
        row = dec.step(t)
    return new, np.stack(rows), margins


# ---------------------------------------------------------------------------------------------
# loading graft's "opt" GGUF layout (docs/formats.md, section "opt")

def load_gguf_opt(g):
    """g: gguf_reader.GGUFFile. Returns (Config, weights as float64)."""
    m = g.meta
    assert m["general.architecture"] == "opt"
    cfg = Config(n_vocab=g.tensors["token_embd.weight"]["ne"][1], dim=m["opt.embedding_length"],
                 n_layers=m["opt.block_count"], n_head=m["opt.attention.head_count"],
                 ffn=m["opt.feed_forward_length"], n_ctx=m["opt.context_length"],
                 eps=m.get("opt.attention.layer_norm_epsilon", float(np.float32(1e-5))),
                 pre_ln=m.get("opt.layer_norm_before", True))

    def t(name):
        return g.tensor(name).astype(np.float64)

    w = {"tok_embd": t("token_embd.weight"), "pos_embd": t("position_embd.weight"),
         "final_norm_w": t("output_norm.weight") if cfg.pre_ln else None,
         "final_norm_b": t("output_norm.bias") if cfg.pre_ln else None,
         "lm_head": t("output.weight") if "output.weight" in g.tensors else None, "layers": []}
    assert w["pos_embd"].shape == (cfg.n_ctx + POS_OFFSET, cfg.dim)
    for i in range(cfg.n_layers):
        p = "blk.%d." % i
        w["layers"].append({
            "ln1_w": t(p + "attn_norm.weight"), "ln1_b": t(p + "attn_norm.bias"),
            "wq": t(p + "attn_q.weight"), "bq": t(p + "attn_q.bias"),
            "wk": t(p + "attn_k.weight"), "bk": t(p + "attn_k.bias"),
            "wv": t(p + "attn_v.weight"), "bv": t(p + "attn_v.bias"),
            "wo": t(p + "attn_output.weight"), "bo": t(p + "attn_output.bias"),
            "ln2_w": t(p + "ffn_norm.weight"), "ln2_b": t(p + "ffn_norm.bias"),
            "fc1_w": t(p + "ffn_up.weight"), "fc1_b": t(p + "ffn_up.bias"),
            "fc2_w": t(p + "ffn_down.weight"), "fc2_b": t(p + "ffn_down.bias")})
    return cfg, w
