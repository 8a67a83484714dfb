"""Float64 numpy reference of a Llama decoder (Hugging Face LlamaForCausalLM semantics).

Part of graft's reference generators (tests/reference/). Written from the published model
definition, not from graft's code. Weights are float64 numpy arrays in the HF layout:

  tok_embd (n_vocab, dim)           output (n_vocab, dim) or None when tied to tok_embd
  output_norm (dim,)
  layers[l]: attn_norm (dim,)  wq (n_head*hd, dim)  wk, wv (n_kv*hd, dim)  wo (dim, n_head*hd)
             ffn_norm (dim,)   w_gate, w_up (ffn, dim)  w_down (dim, ffn)

A Linear W of HF shape (out, in) is stored in GGUF row-major as is, so ne = [in, out] and the numpy
array read from the file already has the HF shape. Only wq/wk differ: llama.cpp's converter permutes
their rows per head so that ggml's NORM rope (adjacent pairs) equals HF's rotate_half; see
permute_qk(). The forward takes rope="half" (HF rows, rotate_half) or rope="pairs" (permuted rows,
adjacent-pair rotation); both must give the same logits.

Legend: T tokens, D dim, H heads, K kv heads, hd head dim, F ffn, V vocab.
"""

import numpy as np


class Config:
    def __init__(self, n_vocab, dim, n_layers, n_head, n_kv, ffn, theta, eps, n_ctx=2048):
        self.n_vocab, self.dim, self.n_layers = n_vocab, dim, n_layers
        self.n_head, self.n_kv, self.ffn = n_head, n_kv, ffn
        self.theta, self.eps, self.n_ctx = float(theta), float(eps), n_ctx
        assert dim % n_head == 0 and n_head % n_kv == 0
        self.hd = dim // n_head
        assert self.hd % 2 == 0

    def as_dict(self):
        return {"n_vocab": self.n_vocab, "dim": self.dim, "n_layers": self.n_layers,
                "n_head": self.n_head, "n_kv": self.n_kv, "head_dim": self.hd, "ffn": self.ffn,
                "rope_theta": self.theta, "rms_eps": self.eps, "n_ctx": self.n_ctx}


# ---------------------------------------------------------------------------------------------
# q/k row permutation between HF (rotate_half) and llama.cpp (adjacent pairs) layouts

def permute_qk(w, n_heads):
    """HF rows -> llama.cpp rows: per head, new row 2i+a = old row a*hd/2 + i (a in {0,1})."""
    n_out, n_in = w.shape
    hd = n_out // n_heads
    return w.reshape(n_heads, 2, hd // 2, n_in).swapaxes(1, 2).reshape(n_out, n_in)


def unpermute_qk(w, n_heads):
    """llama.cpp rows -> HF rows (inverse of permute_qk)."""
    n_out, n_in = w.shape
    hd = n_out // n_heads
    return w.reshape(n_heads, hd // 2, 2, n_in).swapaxes(1, 2).reshape(n_out, n_in)


def weights_to_hf(cfg, w):
    """A copy of weights in llama.cpp (permuted) layout, with wq/wk put back in HF layout."""
    out = dict(w)
    out["layers"] = []
    for L in w["layers"]:
        L = dict(L)
        L["wq"] = unpermute_qk(L["wq"], cfg.n_head)
        L["wk"] = unpermute_qk(L["wk"], cfg.n_kv)
        out["layers"].append(L)
    return out


def weights_to_llamacpp(cfg, w):
    out = dict(w)
    out["layers"] = []
    for L in w["layers"]:
        L = dict(L)
        L["wq"] = permute_qk(L["wq"], cfg.n_head)
        L["wk"] = permute_qk(L["wk"], cfg.n_kv)
        out["layers"].append(L)
    return out


# ---------------------------------------------------------------------------------------------
# building blocks

def rms_norm(x, w, eps):
    """x (.., D) * rsqrt(mean(x^2) + eps) * w"""
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def silu(x):
    return x / (1.0 + np.exp(-x))


def rope_angles(cfg, pos):
    """(len(pos), hd/2) angles pos * theta^(-2i/hd)."""
    i = np.arange(cfg.hd // 2, dtype=np.float64)
    inv_freq = 1.0 / cfg.theta ** (2.0 * i / cfg.hd)
    return np.asarray(pos, dtype=np.float64)[:, None] * inv_freq[None, :]


def rope(x, ang, mode):
    """x (T, nh, hd), ang (T, hd/2). mode "half": HF rotate_half on halves (i, i+hd/2);
    mode "pairs": ggml NORM rope on adjacent pairs (2i, 2i+1)."""
    c = np.cos(ang)[:, None, :]
    s = np.sin(ang)[:, None, :]
    out = np.empty_like(x)
    h = x.shape[-1] // 2
    if mode == "half":
        x1, x2 = x[..., :h], x[..., h:]
        out[..., :h] = x1 * c - x2 * s
        out[..., h:] = x2 * c + x1 * s
    elif mode == "pairs":
        x1, x2 = x[..., 0::2], x[..., 1::2]
        out[..., 0::2] = x1 * c - x2 * s
        out[..., 1::2] = x2 * c + x1 * s
    else:
        raise ValueError(mode)
    return out


def lm_head(w):
    return w["tok_embd"] if w.get("output") is None else w["output"]


# ---------------------------------------------------------------------------------------------
# full-sequence forward (the reference)

def forward(cfg, w, ids, rope_mode="half", return_hidden=False):
    """Logits (T, V) for every position of ids, causal attention, positions 0..T-1."""
    ids = np.asarray(ids)
    T, H, K, hd = len(ids), cfg.n_head, cfg.n_kv, cfg.hd
    ang = rope_angles(cfg, np.arange(T))
    mask = np.triu(np.full((T, T), -np.inf), k=1)                        # (T, T)
    x = w["tok_embd"][ids].astype(np.float64)                            # (T, D)
    for L in w["layers"]:
        h = rms_norm(x, L["attn_norm"], cfg.eps)                         # (T, D)
        q = rope((h @ L["wq"].T).reshape(T, H, hd), ang, rope_mode)      # (T, H, hd)
        k = rope((h @ L["wk"].T).reshape(T, K, hd), ang, rope_mode)      # (T, K, hd)
        v = (h @ L["wv"].T).reshape(T, K, hd)                            # (T, K, hd)
        rep = H // K
        k = np.repeat(k, rep, axis=1)                                    # (T, H, hd): head h uses kv h//rep
        v = np.repeat(v, rep, axis=1)
        sc = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + mask        # (H, T, T)
        sc = sc - sc.max(axis=-1, keepdims=True)
        p = np.exp(sc)
        p /= p.sum(axis=-1, keepdims=True)
        o = np.einsum("hts,shd->thd", p, v).reshape(T, H * hd)           # (T, H*hd)
        x = x + o @ L["wo"].T
        h = rms_norm(x, L["ffn_norm"], cfg.eps)
        x = x + (silu(h @ L["w_gate"].T) * (h @ L["w_up"].T)) @ L["w_down"].T
    hn = rms_norm(x, w["output_norm"], cfg.eps)                          # (T, D)
    logits = hn @ lm_head(w).T                                           # (T, V)
    return (logits, hn) if return_hidden else logits


# ---------------------------------------------------------------------------------------------
# incremental decode with an explicit KV cache (second, independently structured path)

class KVDecoder:
    """One token per step, per-head loops, rope applied once to each cached key."""

    def __init__(self, cfg, w, rope_mode="half"):
        self.cfg, self.w, self.mode = cfg, w, rope_mode
        self.k = [[] for _ in w["layers"]]    # per layer: list of (K, hd) rotated keys
        self.v = [[] for _ in w["layers"]]    # per layer: list of (K, hd) values
        self.pos = 0

    def _rope_one(self, x, pos):
        """x (n, hd) at one position; explicit pair loop."""
        cfg = self.cfg
        out = np.array(x, dtype=np.float64)
        h = cfg.hd // 2
        for i in range(h):
            a = pos * cfg.theta ** (-2.0 * i / cfg.hd)
            c, s = np.cos(a), np.sin(a)
            j0, j1 = (i, i + h) if self.mode == "half" else (2 * i, 2 * i + 1)
            x0, x1 = x[:, j0].copy(), x[:, j1].copy()
            out[:, j0] = x0 * c - x1 * s
            out[:, j1] = x1 * c + x0 * s
        return out

    def step(self, token):
        """Feeds one token; returns its logits (V,)."""
        cfg, w = self.cfg, self.w
        hd, rep = cfg.hd, cfg.n_head // cfg.n_kv
        x = np.array(w["tok_embd"][token], dtype=np.float64)                # (D,)
        for li, L in enumerate(w["layers"]):
            h = rms_norm(x, L["attn_norm"], cfg.eps)
            q = self._rope_one((L["wq"] @ h).reshape(cfg.n_head, hd), self.pos)
            self.k[li].append(self._rope_one((L["wk"] @ h).reshape(cfg.n_kv, hd), self.pos))
            self.v[li].append((L["wv"] @ h).reshape(cfg.n_kv, hd))
            Kc = np.stack(self.k[li])                                      # (t, K, hd)
            Vc = np.stack(self.v[li])
            o = np.empty((cfg.n_head, hd))
            for hh in range(cfg.n_head):
                kv = hh // rep
                s = Kc[:, kv, :] @ q[hh] / np.sqrt(hd)                     # (t,)
                p = np.exp(s - s.max())
                o[hh] = (p / p.sum()) @ Vc[:, kv, :]
            x = x + L["wo"] @ o.reshape(-1)
            h = rms_norm(x, L["ffn_norm"], cfg.eps)
            x = x + L["w_down"] @ (silu(L["w_gate"] @ h) * (L["w_up"] @ h))
        self.pos += 1
        return lm_head(w) @ rms_norm(x, w["output_norm"], cfg.eps)


# ---------------------------------------------------------------------------------------------
# greedy generation

def top2_margin(row):
    s = np.sort(row)
    return float(s[-1] - s[-2])


def greedy(cfg, w, ids, n_new=32, rope_mode="half"):
    """Argmax continuation, no EOS stop, full recompute per step. Returns (new ids, margins)."""
    seq = list(ids)
    new, margins = [], []
    for _ in range(n_new):
        row = forward(cfg, w, seq, rope_mode)[-1]
        t = int(np.argmax(row))
        new.append(t)
        margins.append(top2_margin(row))
        seq.append(t)
    return new, margins


def greedy_kv(cfg, w, ids, n_new=32, rope_mode="half"):
    """The same with the KV-cache decoder. Returns (new ids, prompt logits (T, V), margins)."""
    dec = KVDecoder(cfg, w, rope_mode)
    rows = [dec.step(t) for t in ids]
    prompt_logits = np.stack(rows)
    row = rows[-1]
    new, margins = [], []
    for _ in range(n_new):
        t = int(np.argmax(row))
        new.append(t)
        margins.append(top2_margin(row))
        row = dec.step(t)
    return new, prompt_logits, margins


# ---------------------------------------------------------------------------------------------
# loading a llama-architecture GGUF (llama.cpp layout: wq/wk permuted)

def load_gguf_llama(g):
    """g: gguf_reader.GGUFFile. Returns (Config, weights as float64 in the FILE layout)."""
    m = g.meta
    assert m["general.architecture"] == "llama"
    n_head = m["llama.attention.head_count"]
    cfg = Config(n_vocab=g.tensors["token_embd.weight"]["ne"][1],
                 dim=m["llama.embedding_length"], n_layers=m["llama.block_count"],
                 n_head=n_head, n_kv=m.get("llama.attention.head_count_kv", n_head),
                 ffn=m["llama.feed_forward_length"],
                 theta=m.get("llama.rope.freq_base", 10000.0),
                 eps=m["llama.attention.layer_norm_rms_epsilon"],
                 n_ctx=m["llama.context_length"])
    assert m.get("llama.rope.dimension_count", cfg.hd) == cfg.hd

    def t(name):
        return g.tensor(name).astype(np.float64)

    w = {"tok_embd": t("token_embd.weight"), "output_norm": t("output_norm.weight"),
         "output": t("output.weight") if "output.weight" in g.tensors else None, "layers": []}
    for i in range(cfg.n_layers):
        p = "blk.%d." % i
        w["layers"].append({
            "attn_norm": t(p + "attn_norm.weight"), "wq": t(p + "attn_q.weight"),
            "wk": t(p + "attn_k.weight"), "wv": t(p + "attn_v.weight"),
            "wo": t(p + "attn_output.weight"), "ffn_norm": t(p + "ffn_norm.weight"),
            "w_gate": t(p + "ffn_gate.weight"), "w_up": t(p + "ffn_up.weight"),
            "w_down": t(p + "ffn_down.weight")})
    return cfg, w
