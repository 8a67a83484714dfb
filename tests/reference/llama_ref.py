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

Activations: act="float" (default) runs every matmul in float64 on the weights as stored (Q8_0/Q4_0
weights dequantised). act="q8_0" does what ggml does for a Q8_0/Q4_0 weight: each activation row is
first quantised to Q8_0 blocks and the block products are integer sums; see QuantMatrix / linear().
It only changes matmuls whose weight is a QuantMatrix; the token-embedding lookup (a dequantised
row), norms, rope, attention and softmax stay float64.

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
    if isinstance(w, QuantMatrix):
        return w.map_rows(lambda a: permute_qk(a, n_heads))
    n_out, n_in = w.shape
    hd = n_out // n_heads
    return w.reshape(n_heads, 2, hd // 2, n_in).swapaxes(1, 2).reshape(n_out, n_in)


def unpermute_qk(w, n_heads):
    """llama.cpp rows -> HF rows (inverse of permute_qk)."""
    if isinstance(w, QuantMatrix):
        return w.map_rows(lambda a: unpermute_qk(a, n_heads))
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
# ggml-style quantised matmul (act="q8_0"): Q8_0/Q4_0 weight times a Q8_0-quantised activation row
#
# Facts used (ggml's published quantize_row_q8_0_ref, vec_dot_q8_0_q8_0, vec_dot_q4_0_q8_0):
#   activation row, per 32 consecutive elements, in float32: amax = max|x|, d = amax/127,
#   id = 1/d (0 when d == 0; note: 1/d of the float32 d, not of its f16 rounding),
#   q = roundf(x*id) (half away from zero) as int8; d is stored as f16 (RNE) and that f16 value is
#   the scale used in the product.
#   block product: sumi = sum_j w_q[j]*x_q[j] in integers (Q4_0: w_q = nibble - 8),
#   then sumi * (d_w * d_x) with both f16 scales widened to float.
# Here the block products are exact: the integer sum is < 2^19, d_w*d_x (two 11-bit significands) is
# exact in float64 and so is its product with sumi. Only the sum over blocks rounds (float64, block
# order). ggml and graft compute sumi*(d_w*d_x) and the sum over blocks in float32 (and their
# activations are float32 values computed in float32, so a few x*id near a .5 boundary round the
# other way), so tiny differences from this reference remain.
# Not the default: ggml's x86 AVX/AVX2 quantize_row_q8_0 uses id = 127/amax and rounds ties to even
# (act="q8_0_x86", variant "x86" below); the fixtures use the reference quantiser, which graft follows,
# and only record how much the x86 variant changes.

QK = 32


class QuantMatrix:
    """A Q8_0 or Q4_0 weight of HF shape (out, in), kept as its blocks.
    d (out, in/32) float64: the f16 scales; q (out, in/32, 32) int64: the quants (Q4_0: nibble - 8).
    .dense (out, in) float64 = d*q, the dequantised weight (what act="float" multiplies by)."""

    def __init__(self, kind, d, q):
        assert kind in ("Q8_0", "Q4_0") and q.shape == d.shape + (QK,)
        self.kind = kind
        self.d = np.asarray(d, dtype=np.float64)
        self.q = np.asarray(q, dtype=np.int64)
        self.dense = (self.d[..., None] * self.q).reshape(d.shape[0], d.shape[1] * QK)
        self.shape = self.dense.shape

    def map_rows(self, fn):
        """The same weight with its rows reordered by fn (a function of a 2-D (out, n) array)."""
        n_out, nb = self.d.shape
        return QuantMatrix(self.kind, fn(self.d), fn(self.q.reshape(n_out, nb * QK)).reshape(n_out, nb, QK))


def dense(w):
    """The float64 values of a weight (a QuantMatrix is dequantised)."""
    return w.dense if isinstance(w, QuantMatrix) else w


def _round_half_away(v):
    """C roundf of float32 values; v + 0.5 is exact in float64."""
    v = np.asarray(v, dtype=np.float64)
    return np.where(v >= 0, np.floor(v + 0.5), np.ceil(v - 0.5))


def quantize_q8_0_act(x, variant="ref"):
    """Activation rows x (..., n) -> Q8_0 blocks: d (..., n/32) float64 holding the f16 scales,
    q (..., n/32, 32) int64. x is first rounded to float32 (ggml's activations are float32).
    variant "ref": ggml's quantize_row_q8_0_ref (id = 1/d, roundf: half away from zero).
    variant "x86": ggml's AVX/AVX2 quantize_row_q8_0 (id = 127/amax, round half to even)."""
    x32 = np.asarray(x, dtype=np.float64).astype(np.float32)
    assert x32.shape[-1] % QK == 0
    blk = x32.reshape(x32.shape[:-1] + (x32.shape[-1] // QK, QK))      # (..., nb, 32)
    amax = np.abs(blk).max(axis=-1)                                     # float32, exact
    d = (amax / np.float32(127)).astype(np.float32)
    with np.errstate(divide="ignore"):
        if variant == "ref":
            inv = np.where(d != 0, np.float32(1) / d, np.float32(0)).astype(np.float32)
        elif variant == "x86":
            inv = np.where(amax != 0, np.float32(127) / amax, np.float32(0)).astype(np.float32)
        else:
            raise ValueError(variant)
    x0 = (blk * inv[..., None]).astype(np.float32)                     # float32 products
    q = _round_half_away(x0) if variant == "ref" else np.rint(x0.astype(np.float64))
    assert np.abs(q).max(initial=0) <= 127
    d16 = d.astype(np.float16).astype(np.float64)                      # f16 RNE, as stored
    return d16, q.astype(np.int64)


ACT_VARIANT = {"q8_0": "ref", "q8_0_x86": "x86"}


def linear(x, w, act="float"):
    """x (T, in) times a weight w (out, in) -> (T, out). A plain array, or act="float": float64
    x @ w.T. A QuantMatrix with act="q8_0" (or "q8_0_x86"): x quantised per row to Q8_0, exact
    integer block sums scaled by d_w*d_x, accumulated over blocks in order (float64)."""
    if not isinstance(w, QuantMatrix):
        return x @ w.T
    if act == "float":
        return x @ w.dense.T
    dx, qx = quantize_q8_0_act(x, ACT_VARIANT[act])                     # (T, nb), (T, nb, 32)
    # integer block sums via float64 matmul: every product and partial sum is an integer < 2^53,
    # so the result is exact whatever the summation order
    s = np.matmul(qx.transpose(1, 0, 2).astype(np.float64),
                  w.q.transpose(1, 2, 0).astype(np.float64))              # (nb, T, out)
    y = np.zeros((x.shape[0], w.shape[0]))
    for b in range(w.d.shape[1]):
        y += s[b] * (dx[:, b][:, None] * w.d[:, b][None, :])            # exact block product
    return y


def matvec_q8act_dense(w, h, variant="ref"):
    """A second path for one row (used by KVDecoder): h (in,) quantised to Q8_0, then per block the
    DEQUANTISED weight block times the integer quants, times d_x. Exact per block too (partial sums
    are d_w times integers < 2^19), so it equals linear(h[None], w, "q8_0")[0] bit for bit."""
    dx, qx = quantize_q8_0_act(h, variant)                              # (nb,), (nb, 32)
    y = np.zeros(w.shape[0])
    for b in range(dx.shape[0]):
        y += (w.dense[:, b * QK:(b + 1) * QK] @ qx[b].astype(np.float64)) * dx[b]
    return y


# ---------------------------------------------------------------------------------------------
# full-sequence forward (the reference)

def forward(cfg, w, ids, rope_mode="half", return_hidden=False, act="float"):
    """Logits (T, V) for every position of ids, causal attention, positions 0..T-1.
    act: "float", or "q8_0" / "q8_0_x86": activations quantised as ggml does for QuantMatrix
    weights (reference / x86-SIMD quantiser)."""
    ids = np.asarray(ids)
    T, H, K, hd = len(ids), cfg.n_head, cfg.n_kv, cfg.hd
    ang = rope_angles(cfg, np.arange(T))
    mask = np.triu(np.full((T, T), -np.inf), k=1)                        # (T, T)
    x = dense(w["tok_embd"])[ids].astype(np.float64)                     # (T, D)
    for L in w["layers"]:
        h = rms_norm(x, L["attn_norm"], cfg.eps)                         # (T, D)
        q = rope(linear(h, L["wq"], act).reshape(T, H, hd), ang, rope_mode)   # (T, H, hd)
        k = rope(linear(h, L["wk"], act).reshape(T, K, hd), ang, rope_mode)   # (T, K, hd)
        v = linear(h, L["wv"], act).reshape(T, K, hd)                         # (T, K, hd)
        rep = H // K
        k = np.repeat(k, rep, axis=1)                                    # (T, H, hd): head h uses kv h//rep
        v = np.repeat(v, rep, axis=1)
        sc = np.einsum("thd,shd->hts", q, k) / np.sqrt(hd) + mask        # (H, T, T)
        sc = sc - sc.max(axis=-1, keepdims=True)
        p = np.exp(sc)
        p /= p.sum(axis=-1, keepdims=True)
        o = np.einsum("hts,shd->thd", p, v).reshape(T, H * hd)           # (T, H*hd)
        x = x + linear(o, L["wo"], act)
        h = rms_norm(x, L["ffn_norm"], cfg.eps)
        x = x + linear(silu(linear(h, L["w_gate"], act)) * linear(h, L["w_up"], act), L["w_down"], act)
    hn = rms_norm(x, w["output_norm"], cfg.eps)                          # (T, D)
    logits = linear(hn, lm_head(w), act)                                 # (T, V)
    return (logits, hn) if return_hidden else logits


# ---------------------------------------------------------------------------------------------
# incremental decode with an explicit KV cache (second, independently structured path)

class KVDecoder:
    """One token per step, per-head loops, rope applied once to each cached key.
    act="q8_0" uses matvec_q8act_dense (dequantised weight blocks times integer quants), a
    differently structured computation of the same exact block products as linear()."""

    def __init__(self, cfg, w, rope_mode="half", act="float"):
        self.cfg, self.w, self.mode, self.act = cfg, w, rope_mode, act
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

    def _mv(self, W, h):
        """W (out, in) @ h (in,)"""
        if isinstance(W, QuantMatrix) and self.act != "float":
            return matvec_q8act_dense(W, h, ACT_VARIANT[self.act])
        return dense(W) @ h

    def step(self, token):
        """Feeds one token; returns its logits (V,)."""
        cfg, w, mv = self.cfg, self.w, self._mv
        hd, rep = cfg.hd, cfg.n_head // cfg.n_kv
        x = np.array(dense(w["tok_embd"])[token], dtype=np.float64)         # (D,)
        for li, L in enumerate(w["layers"]):
            h = rms_norm(x, L["attn_norm"], cfg.eps)
            q = self._rope_one(mv(L["wq"], h).reshape(cfg.n_head, hd), self.pos)
            self.k[li].append(self._rope_one(mv(L["wk"], h).reshape(cfg.n_kv, hd), self.pos))
            self.v[li].append(mv(L["wv"], h).reshape(cfg.n_kv, hd))
            Kc = np.stack(self.k[li])                                      # (t, K, hd)
            Vc = np.stack(self.v[li])
            o = np.empty((cfg.n_head, hd))
            for hh in range(cfg.n_head):
                kv = hh // rep
                s = Kc[:, kv, :] @ q[hh] / np.sqrt(hd)                     # (t,)
                p = np.exp(s - s.max())
                o[hh] = (p / p.sum()) @ Vc[:, kv, :]
            x = x + mv(L["wo"], o.reshape(-1))
            h = rms_norm(x, L["ffn_norm"], cfg.eps)
            x = x + mv(L["w_down"], silu(mv(L["w_gate"], h)) * mv(L["w_up"], h))
        self.pos += 1
        return mv(lm_head(w), rms_norm(x, w["output_norm"], cfg.eps))


# ---------------------------------------------------------------------------------------------
# greedy generation

def top2_margin(row):
    s = np.sort(row)
    return float(s[-1] - s[-2])


def greedy(cfg, w, ids, n_new=32, rope_mode="half", act="float"):
    """Argmax continuation, no EOS stop, full recompute per step. Returns (new ids, margins)."""
    seq = list(ids)
    new, margins = [], []
    for _ in range(n_new):
        row = forward(cfg, w, seq, rope_mode, act=act)[-1]
        t = int(np.argmax(row))
        new.append(t)
        margins.append(top2_margin(row))
        seq.append(t)
    return new, margins


def greedy_kv(cfg, w, ids, n_new=32, rope_mode="half", act="float"):
    """The same with the KV-cache decoder. Returns (new ids, prompt logits (T, V), margins)."""
    dec = KVDecoder(cfg, w, rope_mode, act)
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

def load_gguf_llama(g, quant_blocks=False):
    """g: gguf_reader.GGUFFile. Returns (Config, weights as float64 in the FILE layout).
    quant_blocks: Q8_0/Q4_0 matrices become QuantMatrix (for act="q8_0") instead of float arrays."""
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
        if quant_blocks and g.type_name(name) in ("Q8_0", "Q4_0"):
            d, q = g.blocks(name)
            return QuantMatrix(g.type_name(name), d, q)
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
