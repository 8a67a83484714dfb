"""Generates tests/fixtures/llama/: tiny random llama GGUF models and their float64 reference outputs.

Part of graft's reference generators; never run by `make test`. Run from the repo root:
    /usr/bin/python3 tests/reference/make_llama_fixtures.py [--search]
For the Q8_0/Q4_0 models it also writes pN.q8act.*: the same forward with activations quantised as
ggml does (llama_ref act="q8_0"). Deterministic: a rerun on this machine rewrites byte-identical
files. --search only prints seed statistics (used once to choose the seeds below) and writes nothing.
See tests/reference/README.md for what each file is and the validation figures.
"""

import os

# One BLAS thread, so float64 sums (and the f32 logits written from them) are reproducible.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gguf_writer as GW  # noqa: E402
import llama_ref as R  # noqa: E402
from gguf_reader import GGUFFile  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(REPO, "tests", "fixtures", "llama")
SHARED = os.path.normpath(os.path.join(REPO, "..", "shared", "fixtures"))
N_GEN = 32
MIN_MARGIN_F32 = 1e-3       # required minimum top1-top2 over the greedy steps of the F32 models

# ---------------------------------------------------------------------------------------------
# tokenizer: a small SentencePiece-style vocab (tokenizer.ggml.model "llama")

PIECES = ["▁", "e", "t", "a", "o", "i", "n", "s", "h", "r", "d", "l", "u", "c", "m", "w", "f", "g",
          "y", "p", ".", ",", "T", "I",
          "▁t", "he", "▁a", "in", "er", "an", "re", "on", "▁s", "en", "at", "nd", "▁w", "or", "is",
          "▁o", "▁c", "ou", "ed", "▁th", "▁the", "▁an", "▁and", "▁is", "▁in", "▁of", "▁to", "ing",
          "it", "▁it", "▁wh", "▁I", "▁T", "▁The", "er.", "ll", "▁f"]
TT_NORMAL, TT_UNKNOWN, TT_CONTROL, TT_BYTE = 1, 2, 3, 6


def make_vocab():
    """tokens, scores, types: <unk> <s> </s>, 256 byte tokens, then the normal pieces.
    Every multi-character piece is the concatenation of two pieces (reachable by SPM merges)."""
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + PIECES
    types = [TT_UNKNOWN, TT_CONTROL, TT_CONTROL] + [TT_BYTE] * 256 + [TT_NORMAL] * len(PIECES)
    scores = [0.0] * 259 + [-float(i) for i in range(len(PIECES))]
    assert len(set(tokens)) == len(tokens)
    have = set(PIECES)
    for p in PIECES:
        assert len(p) == 1 or any(p[:k] in have and p[k:] in have for k in range(1, len(p))), p
    return tokens, scores, types


VOCAB = make_vocab()
N_VOCAB = len(VOCAB[0])     # 320

# ---------------------------------------------------------------------------------------------
# the models

# weight scales: matrices N(0, mat); lm_head N(0, out); embeddings N(0, emb); norms 1 + N(0, 0.1).
# Seeds and scales were chosen with --search: greedy runs stay varied (no single-token loop) and the
# smallest top1-top2 margin over the 2 x 32 greedy steps is >= 0.009 for every model and variant.
# (Tied with mat 0.1 every seed collapsed into repeating one or two tokens: the token's own
# embedding dominated the final hidden state, so larger layer weights were needed.)
MODELS = {
    "tiny-f32": dict(cfg=dict(dim=64, n_layers=2, n_head=4, n_kv=2, ffn=128, theta=1e4, eps=1e-5),
                     tied=False, seed=1, mat=0.1, out=0.25, emb=1.0),
    "tiny-theta1m-tied": dict(cfg=dict(dim=64, n_layers=3, n_head=4, n_kv=4, ffn=96, theta=1e6, eps=1e-6),
                              tied=True, seed=3, mat=0.2, out=None, emb=0.25),
}
# the F32 model a) re-stored with every 2-D matrix (token_embd and output included) in these types
VARIANTS = [("tiny-f16", GW.GGML_F16), ("tiny-bf16", GW.GGML_BF16), ("tiny-q8_0", GW.GGML_Q8_0),
            ("tiny-q4_0", GW.GGML_Q4_0)]
FILE_TYPE = {GW.GGML_F32: 0, GW.GGML_F16: 1, GW.GGML_Q4_0: 2, GW.GGML_Q8_0: 7, GW.GGML_BF16: 32}
PROMPT_SEED = 20240601
PROMPT_LENS = {"p1": 7, "p2": 19}


def f32_value(x):
    """The value a reader gets back from a float32 metadata field."""
    return float(np.float32(x))


def make_config(spec):
    c = spec["cfg"]
    return R.Config(n_vocab=N_VOCAB, dim=c["dim"], n_layers=c["n_layers"], n_head=c["n_head"],
                    n_kv=c["n_kv"], ffn=c["ffn"], theta=f32_value(c["theta"]),
                    eps=f32_value(c["eps"]), n_ctx=2048)


def random_weights(cfg, spec, seed):
    """float32 weights in HF layout, drawn in a fixed order from one seeded generator."""
    rng = np.random.default_rng(seed)

    def mat(rows, cols, std):
        return (rng.standard_normal((rows, cols)) * std).astype(np.float32)

    def norm(n):
        return (1.0 + 0.1 * rng.standard_normal(n)).astype(np.float32)

    D, F, hd = cfg.dim, cfg.ffn, cfg.hd
    m = spec["mat"]
    w = {"tok_embd": mat(cfg.n_vocab, D, spec["emb"]), "layers": []}
    for _ in range(cfg.n_layers):
        w["layers"].append({
            "attn_norm": norm(D), "wq": mat(cfg.n_head * hd, D, m), "wk": mat(cfg.n_kv * hd, D, m),
            "wv": mat(cfg.n_kv * hd, D, m), "wo": mat(D, cfg.n_head * hd, m), "ffn_norm": norm(D),
            "w_gate": mat(F, D, m), "w_up": mat(F, D, m), "w_down": mat(D, F, m)})
    w["output_norm"] = norm(D)
    w["output"] = None if spec["tied"] else mat(cfg.n_vocab, D, spec["out"])
    return w


def make_prompts():
    rng = np.random.default_rng(PROMPT_SEED)
    return {name: [1] + [int(t) for t in rng.integers(3, N_VOCAB, size=n - 1)]
            for name, n in PROMPT_LENS.items()}


PROMPTS = make_prompts()

# ---------------------------------------------------------------------------------------------
# writing a model


def build_gguf(name, cfg, w_hf, mat_type):
    """GGUF bytes of HF-layout float32 weights w_hf, 2-D matrices stored as mat_type, norms F32.
    Returns (bytes, round-tripped weights in HF layout as float64)."""
    g = GW.GGUFWriter()
    g.add_string("general.architecture", "llama")
    g.add_string("general.name", "graft " + name)
    g.add_u32("general.file_type", FILE_TYPE[mat_type])
    if mat_type in (GW.GGML_Q8_0, GW.GGML_Q4_0):
        g.add_u32("general.quantization_version", 2)
    g.add_u32("llama.context_length", cfg.n_ctx)
    g.add_u32("llama.embedding_length", cfg.dim)
    g.add_u32("llama.block_count", cfg.n_layers)
    g.add_u32("llama.feed_forward_length", cfg.ffn)
    g.add_u32("llama.attention.head_count", cfg.n_head)
    g.add_u32("llama.attention.head_count_kv", cfg.n_kv)
    g.add_f32("llama.rope.freq_base", cfg.theta)
    g.add_u32("llama.rope.dimension_count", cfg.hd)
    g.add_f32("llama.attention.layer_norm_rms_epsilon", cfg.eps)
    tokens, scores, types = VOCAB
    g.add_string("tokenizer.ggml.model", "llama")
    g.add_array("tokenizer.ggml.tokens", GW.T_STRING, tokens)
    g.add_array("tokenizer.ggml.scores", GW.T_FLOAT32, scores)
    g.add_array("tokenizer.ggml.token_type", GW.T_INT32, types)
    g.add_u32("tokenizer.ggml.bos_token_id", 1)
    g.add_u32("tokenizer.ggml.eos_token_id", 2)
    g.add_u32("tokenizer.ggml.unknown_token_id", 0)
    g.add_bool("tokenizer.ggml.add_bos_token", True)
    g.add_bool("tokenizer.ggml.add_eos_token", False)

    def f64(a):
        return a.astype(np.float64)

    rt = {"layers": []}
    rt["tok_embd"] = f64(g.add_tensor("token_embd.weight", w_hf["tok_embd"], mat_type))
    for i, L in enumerate(w_hf["layers"]):
        p = "blk.%d." % i
        o = {}
        o["attn_norm"] = f64(g.add_tensor(p + "attn_norm.weight", L["attn_norm"], GW.GGML_F32))
        o["wq"] = R.unpermute_qk(f64(g.add_tensor(p + "attn_q.weight",
                                                  R.permute_qk(L["wq"], cfg.n_head), mat_type)), cfg.n_head)
        o["wk"] = R.unpermute_qk(f64(g.add_tensor(p + "attn_k.weight",
                                                  R.permute_qk(L["wk"], cfg.n_kv), mat_type)), cfg.n_kv)
        o["wv"] = f64(g.add_tensor(p + "attn_v.weight", L["wv"], mat_type))
        o["wo"] = f64(g.add_tensor(p + "attn_output.weight", L["wo"], mat_type))
        o["ffn_norm"] = f64(g.add_tensor(p + "ffn_norm.weight", L["ffn_norm"], GW.GGML_F32))
        o["w_gate"] = f64(g.add_tensor(p + "ffn_gate.weight", L["w_gate"], mat_type))
        o["w_up"] = f64(g.add_tensor(p + "ffn_up.weight", L["w_up"], mat_type))
        o["w_down"] = f64(g.add_tensor(p + "ffn_down.weight", L["w_down"], mat_type))
        rt["layers"].append(o)
    rt["output_norm"] = f64(g.add_tensor("output_norm.weight", w_hf["output_norm"], GW.GGML_F32))
    rt["output"] = None
    if w_hf["output"] is not None:
        rt["output"] = f64(g.add_tensor("output.weight", w_hf["output"], mat_type))
    return g.to_bytes(), rt


def flat_weights(w):
    """name -> array, for comparing two weight dicts."""
    out = {"tok_embd": w["tok_embd"], "output_norm": w["output_norm"]}
    if w.get("output") is not None:
        out["output"] = w["output"]
    for i, L in enumerate(w["layers"]):
        for k, v in L.items():
            out["%d.%s" % (i, k)] = v
    return out


# ---------------------------------------------------------------------------------------------
# reference outputs and self-checks


def run_reference(cfg, w):
    """Per prompt: float64 logits (T, V), greedy ids and margins (full recompute per step)."""
    res = {}
    for pname, ids in PROMPTS.items():
        logits = R.forward(cfg, w, ids, "half")
        new, margins = R.greedy(cfg, w, ids, N_GEN, "half")
        res[pname] = {"logits": logits, "greedy": new, "margins": margins}
    return res


def greedy_ok(res):
    """Not stuck on one token: >= 8 distinct ids over the 32, >= 3 distinct in the last 8."""
    return all(len(set(r["greedy"])) >= 8 and len(set(r["greedy"][-8:])) >= 3 for r in res.values())


def self_checks(cfg, w_hf, res, gguf_bytes):
    """Independent second paths; every figure is returned for the manifest, failures raise.
    w_hf: the round-tripped weights the reference ran on (HF layout); res: run_reference()."""
    checks = {}
    # 1. KV-cache incremental decode (per-token, per-head loops) vs full recompute
    d_kv, kv_same = 0.0, True
    for pname, ids in PROMPTS.items():
        new, plog, _ = R.greedy_kv(cfg, w_hf, ids, N_GEN, "half")
        d_kv = max(d_kv, float(np.abs(plog - res[pname]["logits"]).max()))
        full_seq = ids + res[pname]["greedy"][:-1]
        step_logits = R.forward(cfg, w_hf, full_seq, "half")[len(ids) - 1:]
        kv_same &= new == res[pname]["greedy"]
        kv_same &= bool(np.array_equal(step_logits.argmax(axis=1), np.array(res[pname]["greedy"])))
    assert d_kv < 1e-10 and kv_same, (d_kv, kv_same)
    checks["kv_cache_decode_vs_full_max_abs"] = d_kv
    checks["greedy_kv_cache_equals_full_recompute"] = kv_same
    # 2. read the file back with the separate reader: tensors decode to exactly what the writer
    #    meant; then adjacent-pair rope on the file's (permuted) q/k rows vs rotate_half on HF rows
    path = "/tmp/graft-ref-check-%d.gguf" % os.getpid()
    with open(path, "wb") as f:
        f.write(gguf_bytes)
    try:
        cfg_f, w_file = R.load_gguf_llama(GGUFFile(path))
    finally:
        os.remove(path)
    assert cfg_f.as_dict() == cfg.as_dict(), (cfg_f.as_dict(), cfg.as_dict())
    a, b = flat_weights(R.weights_to_hf(cfg, w_file)), flat_weights(w_hf)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    checks["gguf_readback_bit_exact"] = True
    back = flat_weights(R.weights_to_llamacpp(cfg, R.weights_to_hf(cfg, w_file)))
    assert all(np.array_equal(back[k], v) for k, v in flat_weights(w_file).items())
    d_perm = 0.0
    for pname, ids in PROMPTS.items():
        lp = R.forward(cfg, w_file, ids, "pairs")
        d_perm = max(d_perm, float(np.abs(lp - res[pname]["logits"]).max()))
    assert d_perm < 1e-10, d_perm
    checks["pairs_rope_on_gguf_layout_vs_rotate_half_on_hf_max_abs"] = d_perm
    # the wrong convention must be visibly wrong (shows the check can fail)
    lw = R.forward(cfg, w_file, PROMPTS["p2"], "half")
    checks["wrong_rope_convention_max_abs"] = float(np.abs(lw - res["p2"]["logits"]).max())
    assert checks["wrong_rope_convention_max_abs"] > 1e-3
    return checks


# ---------------------------------------------------------------------------------------------
# quantiser unit checks (hand-computed expectations)


def check_encoders():
    # Q8_0: amax 127 -> d = 1, so q = roundf(x): halves go away from zero
    x = np.zeros(32, np.float32)
    x[:6] = [0.5, -0.5, 1.5, 2.5, -2.5, 127.0]
    raw, deq = GW.encode_q8_0(x)
    q = np.frombuffer(raw, np.int8)[2:]
    assert np.frombuffer(raw[:2], "<f2")[0] == 1.0
    assert list(q[:6]) == [1, -1, 2, 3, -3, 127] and not q[6:].any(), q
    # Q4_0: first element of largest |x| sets the sign of d; (int8)(x/d + 8.5) truncates
    x = np.zeros(32, np.float32)
    x[:5] = [-8.0, 7.9, 0.4, -0.6, 8.0]
    raw, deq = GW.encode_q4_0(x)
    assert np.frombuffer(raw[:2], "<f2")[0] == 1.0
    qs = np.frombuffer(raw, np.uint8)[2:]
    lo = list(qs[:5] & 15)
    assert lo == [0, 15, 8, 7, 15] and list(deq[:5]) == [-8, 7, 0, -1, 7], (lo, deq[:5])
    x[0], x[4] = 8.0, -8.0                                       # now +8 comes first: d = -1
    raw, _ = GW.encode_q4_0(x)
    assert np.frombuffer(raw[:2], "<f2")[0] == -1.0
    x = np.zeros(32, np.float32)
    x[20] = 4.0                                                  # element 20 -> high nibble of byte 4
    raw, deq = GW.encode_q4_0(x)
    qs = np.frombuffer(raw, np.uint8)[2:]
    assert np.frombuffer(raw[:2], "<f2")[0] == -0.5
    assert qs[4] >> 4 == 0 and (qs[4] & 15) == 8 and deq[20] == 4.0
    raw, deq = GW.encode_q4_0(np.zeros(32, np.float32))          # all zero: d = 0/-8 = -0.0
    assert raw[:2] == b"\x00\x80" and not deq.any()
    # BF16: round to nearest, ties to even
    u = np.array([0x3F808000, 0x3F818000, 0x3F808001, 0x7FC00001], np.uint32)
    assert list(GW.f32_to_bf16_bits(u.view(np.float32))) == [0x3F80, 0x3F82, 0x3F81, 0x7FC0]
    # F16: ties to even
    h = GW.encode_f16(np.array([1 + 2.0 ** -11, 1 + 3 * 2.0 ** -11], np.float32))[1]
    assert list(h) == [1.0, 1 + 2.0 ** -9]


# ---------------------------------------------------------------------------------------------
# activations quantised as ggml does (Q8_0 / Q4_0 models only): the pN.q8act.* files

Q8ACT_TYPES = (GW.GGML_Q8_0, GW.GGML_Q4_0)


def check_act_quantiser():
    """llama_ref's activation quantiser and quantised matmul on hand-made cases (failures raise)."""
    def qa(x, variant="ref"):
        d, q = R.quantize_q8_0_act(np.asarray(x, np.float32)[None, :], variant)
        return float(d[0, 0]), [int(v) for v in q[0, 0]]

    def block(*head):
        x = np.zeros(32, np.float32)
        x[:len(head)] = head
        return x

    # ties with d = 1 (amax 127, id = 1): roundf goes away from zero; RNE would give 0, -0, 2, 126
    d, q = qa(block(0.5, -0.5, 1.5, 2.5, -2.5, 126.5, 127.0))
    assert d == 1.0 and q[:7] == [1, -1, 2, 3, -3, 127, 127] and not any(q[7:]), (d, q)
    # the largest |x| negative: d = 254/127 = 2 (positive), id = 0.5; 5*0.5 = 2.5 ties away -> 3
    d, q = qa(block(-254.0, 5.0, -5.0, 3.0, 1.0, -1.0, 0.25))
    assert d == 2.0 and q[:7] == [-127, 3, -3, 2, 1, -1, 0] and not any(q[7:]), (d, q)
    # zero block (also -0.0): d = +0, id = 0, all q = 0 (no NaN); the next block is independent
    d2, q2 = R.quantize_q8_0_act(np.concatenate([block(-0.0), block(127.0, 63.5)])[None, :])
    assert list(d2[0]) == [0.0, 1.0] and not np.signbit(d2[0, 0]) and not q2[0, 0].any()
    assert list(q2[0, 1, :2]) == [127, 64], q2[0, 1]
    # id is 1/d of the float32 d, not of the f16 scale: amax 1 -> d = f32(1/127) = 0.007874016, whose
    # f16 is 0.00787353515625; x = f32(60.498/127): x*(1/d) = 60.498 -> 60 (1/d16 would give 60.5017 -> 61)
    d, q = qa(block(1.0, np.float32(60.498) / np.float32(127)))
    assert d == 0.00787353515625 and q[:2] == [127, 60], (d, q)
    # the stored scale is the f16 of d, rounded to nearest even: amax 127*(1 + 2^-11) -> d = 1 + 2^-11,
    # a tie between f16 1 and 1 + 2^-10 -> 1.0
    d, q = qa(block(np.float32(127 * (1 + 2.0 ** -11))))
    assert d == 1.0 and q[0] == 127, (d, q)
    # reference vs x86-SIMD quantiser: amax 11 -> 1/d = 11.545454 but 127/amax = 11.545455 (float32);
    # x = bits 0x3EF3E7CF = 0.47637793: x*(1/d) = 5.4999995 -> 5, x*(127/amax) = 5.5 -> 6 (RNE);
    # and the tie 2.5 at amax 127: ref 3, x86 2 (even)
    x = np.uint32(0x3EF3E7CF).view(np.float32)
    assert qa(block(11.0, x, -x))[1][:3] == [127, 5, -5]
    assert qa(block(11.0, x, -x), "x86")[1][:3] == [127, 6, -6]
    assert qa(block(127.0, 2.5), "x86")[1][:2] == [127, 2]
    # the same d and q as gguf_writer's (separately written) Q8_0 weight encoder on random rows
    rng = np.random.default_rng(7)
    for scale in (1e-3, 1.0, 100.0):
        xs = (rng.standard_normal((64, 128)) * scale).astype(np.float32)
        d, q = R.quantize_q8_0_act(xs)
        raw = np.frombuffer(GW.encode_q8_0(xs)[0], np.uint8).reshape(64, 4, 34)
        assert np.array_equal(d, raw[:, :, :2].copy().view("<f2")[:, :, 0].astype(np.float64))
        assert np.array_equal(q, raw[:, :, 2:].copy().view(np.int8).astype(np.int64))
    # one Q4_0 block times one activation block: exactly sumi * d_w * d_x (Python integers/fractions)
    from fractions import Fraction
    wq = rng.integers(-8, 8, size=(3, 1, 32))
    wd = np.array([[0.5], [-0.0078125], [3.0517578125e-05]])         # f16 values
    W = R.QuantMatrix("Q4_0", wd, wq)
    xs = rng.standard_normal((2, 32))
    dx, qx = R.quantize_q8_0_act(xs)
    y = R.linear(xs, W, "q8_0")
    for t in range(2):
        for o in range(3):
            sumi = sum(int(a) * int(b) for a, b in zip(wq[o, 0], qx[t, 0]))
            assert Fraction(y[t, o]) == sumi * Fraction(wd[o, 0]) * Fraction(dx[t, 0])
    # both structures of the quantised matvec agree bit for bit on several blocks
    W = R.QuantMatrix("Q8_0", rng.integers(1, 2048, size=(5, 4)) * 2.0 ** -14, rng.integers(-127, 128, size=(5, 4, 32)))
    h = rng.standard_normal(128)
    assert np.array_equal(R.linear(h[None], W, "q8_0")[0], R.matvec_q8act_dense(W, h))


def run_q8act(cfg, gguf_bytes, w_hf, res, act="q8_0", greedy=True):
    """Per prompt, activations quantised as ggml does: logits (T, V), greedy ids and margins.
    Also returns the block-kept weights (HF layout) and the file-layout ones."""
    cfg_f, w_file = R.load_gguf_llama(GGUFFile("<fixture>", data=gguf_bytes), quant_blocks=True)
    w_q = R.weights_to_hf(cfg, w_file)
    out = {}
    for pname, ids in PROMPTS.items():
        r = {"logits": R.forward(cfg, w_q, ids, "half", act=act)}
        if greedy:
            r["greedy"], r["margins"] = R.greedy(cfg, w_q, ids, N_GEN, "half", act=act)
        out[pname] = r
    return out, w_q, w_file


def first_divergence(a, b):
    return next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), None)


def q8act_checks(cfg, w_hf, res, q8, w_q, w_file, gguf_bytes):
    """Self-checks and figures of the q8act run; failures raise."""
    c = {}
    # every matrix is kept as blocks, and its dequantised values are the float run's weights
    flat_q, flat_f = flat_weights(w_q), flat_weights(w_hf)
    mats = [k for k, v in flat_q.items() if isinstance(v, R.QuantMatrix)]
    assert sorted(mats) == sorted(k for k, v in flat_f.items() if v.ndim == 2)
    assert all(np.array_equal(flat_q[k].dense, flat_f[k]) for k in mats)
    for pname, ids in PROMPTS.items():                      # act="float" on blocks = float run, bit for bit
        assert np.array_equal(R.forward(cfg, w_q, ids, "half"), res[pname]["logits"])
    c["quantised_matrices"] = len(mats)
    # KV-cache decoder (per-block dequantised-weight matvec) and adjacent-pair rope on the file layout
    d_kv, d_perm, kv_same = 0.0, 0.0, True
    for pname, ids in PROMPTS.items():
        new, plog, _ = R.greedy_kv(cfg, w_q, ids, N_GEN, "half", act="q8_0")
        d_kv = max(d_kv, float(np.abs(plog - q8[pname]["logits"]).max()))
        kv_same &= new == q8[pname]["greedy"]
        lp = R.forward(cfg, w_file, ids, "pairs", act="q8_0")
        d_perm = max(d_perm, float(np.abs(lp - q8[pname]["logits"]).max()))
    assert d_kv < 1e-10 and kv_same and d_perm < 1e-10, (d_kv, kv_same, d_perm)
    c["kv_cache_decode_vs_full_max_abs"] = d_kv
    c["greedy_kv_cache_equals_full_recompute"] = kv_same
    c["pairs_rope_on_gguf_layout_vs_rotate_half_on_hf_max_abs"] = d_perm
    # how far the quantised activations move the logits from the float-activation run
    diffs = {p: float(np.abs(q8[p]["logits"] - res[p]["logits"]).max()) for p in PROMPTS}
    c["max_abs_logit_diff_vs_float_activations"] = max(diffs.values())
    c["rms_logit_diff_vs_float_activations"] = float(np.sqrt(np.mean(np.concatenate(
        [((q8[p]["logits"] - res[p]["logits"]) ** 2).ravel() for p in PROMPTS]))))
    # plausible size: Q8_0 activations have the same relative step (block amax/127) as Q8_0 weights,
    # and re-storing tiny-f32's weights as Q8_0 moved its logits by 9.3e-2 (max); so expect the same
    # order, far above float64 noise (1e-14) and far below the logit scale (8)
    assert 1e-2 < c["max_abs_logit_diff_vs_float_activations"] < 0.3, c
    c["greedy_equal_float_activations"] = {p: q8[p]["greedy"] == res[p]["greedy"] for p in PROMPTS}
    c["first_greedy_divergence_from_float_activations"] = {
        p: first_divergence(q8[p]["greedy"], res[p]["greedy"]) for p in PROMPTS}
    # x86 SIMD quantiser (id = 127/amax, ties to even) instead of the reference one: not the fixture
    x86, _, _ = run_q8act(cfg, gguf_bytes, w_hf, res, act="q8_0_x86")
    c["x86_simd_quantiser"] = {
        "max_abs_logit_diff": float(max(np.abs(x86[p]["logits"] - q8[p]["logits"]).max() for p in PROMPTS)),
        "greedy_equal": all(x86[p]["greedy"] == q8[p]["greedy"] for p in PROMPTS)}
    return c


# ---------------------------------------------------------------------------------------------
# output


def ids_line(ids):
    return " ".join(str(int(t)) for t in ids) + "\n"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def write_model_dir(name, cfg, spec, seed, mat_type, gguf_bytes, res, checks, extra, q8=None, q8_checks=None):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    files = {"model.gguf": gguf_bytes}
    prompts = {}
    for pname, ids in PROMPTS.items():
        r = res[pname]
        lg32 = r["logits"].astype("<f4")
        files[pname + ".ids.txt"] = ids_line(ids).encode()
        files[pname + ".logits.f32"] = lg32.tobytes()
        files[pname + ".greedy.txt"] = ids_line(r["greedy"]).encode()
        prompts[pname] = {
            "ids": ids, "n_tokens": len(ids),
            "logits_file": pname + ".logits.f32", "logits_shape": [len(ids), cfg.n_vocab],
            "argmax_per_position": [int(t) for t in r["logits"].argmax(axis=1)],
            "max_abs_logit": float(np.abs(r["logits"]).max()),
            "greedy_ids": r["greedy"], "greedy_margins": r["margins"],
            "min_greedy_margin": float(min(r["margins"])),
        }
        if q8 is not None:
            r8 = q8[pname]
            files[pname + ".q8act.logits.f32"] = r8["logits"].astype("<f4").tobytes()
            files[pname + ".q8act.greedy.txt"] = ids_line(r8["greedy"]).encode()
            prompts[pname]["q8act"] = {
                "logits_file": pname + ".q8act.logits.f32", "greedy_file": pname + ".q8act.greedy.txt",
                "argmax_per_position": [int(t) for t in r8["logits"].argmax(axis=1)],
                "max_abs_logit": float(np.abs(r8["logits"]).max()),
                "max_abs_logit_diff_vs_float_activations": float(np.abs(r8["logits"] - r["logits"]).max()),
                "greedy_ids": r8["greedy"], "greedy_margins": r8["margins"],
                "min_greedy_margin": float(min(r8["margins"])),
            }
    for fname, data in files.items():
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)
    manifest = {
        "model": name,
        "generator": "tests/reference/make_llama_fixtures.py (numpy float64, HF LlamaForCausalLM semantics)",
        "seed": seed,
        "config": dict(cfg.as_dict(), tied_output=spec["tied"], rope="NORM (llama.cpp q/k row layout)"),
        "weight_scales": {"matrices_std": spec["mat"], "output_std": spec["out"],
                          "token_embd_std": spec["emb"], "norms": "1 + N(0, 0.1)"},
        "matrix_type": GW.GGML_NAME[mat_type], "norm_type": "F32",
        "reference_weights": "the weights as decoded from model.gguf (dequantised), in float64",
        "files": {k: sha256(v) for k, v in sorted(files.items())},
        "model_sha256": sha256(gguf_bytes),
        "logits_format": "float32 little-endian, row-major [n_tokens, n_vocab]; "
                         "row i predicts after ids[0..i]",
        "greedy": "%d argmax tokens after the prompt, no EOS stop, full recompute per step" % N_GEN,
        "prompts": prompts,
        "min_greedy_margin": float(min(p["min_greedy_margin"] for p in prompts.values())),
        "max_abs_logit": float(max(p["max_abs_logit"] for p in prompts.values())),
        "checks": checks,
    }
    if q8 is not None:
        manifest["q8act"] = {
            "what": "pN.q8act.logits.f32 / pN.q8act.greedy.txt: the same model with every Q8_0/Q4_0 matmul "
                    "(q, k, v, o, gate, up, down, output) done as ggml does: each activation row quantised "
                    "to Q8_0 (quantize_row_q8_0_ref: float32 amax/127, id = 1/d, roundf, d as f16), exact "
                    "integer block sums times d_w*d_x, summed over blocks in float64. Token embedding "
                    "lookup, norms, rope, attention and softmax in float64. ggml/graft accumulate in "
                    "float32 from float32 activations, so small differences remain.",
            "min_greedy_margin": float(min(p["q8act"]["min_greedy_margin"] for p in prompts.values())),
            "max_abs_logit": float(max(p["q8act"]["max_abs_logit"] for p in prompts.values())),
            "checks": q8_checks,
        }
    manifest.update(extra)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    return manifest


# ---------------------------------------------------------------------------------------------
# validation against llama.cpp and HF (only when ../shared/fixtures exists)


def rewrite_gguf(path):
    """Re-encodes a GGUF file with gguf_writer (same keys, types, order, tensors). llama.cpp's gguf-py
    wrote these files, so byte equality validates the writer's layout, padding and offsets."""
    g = GGUFFile(path)
    w = GW.GGUFWriter()
    for k in g.kv_order:
        value = g.meta[k]
        if g.types[k] == GW.T_ARRAY:
            value = (g.array_types[k], value)
        w.add(k, g.types[k], value)
    for name in g.tensor_order:
        assert g.tensors[name]["type"] == GW.GGML_F32
        w.add_tensor(name, g.tensor(name), GW.GGML_F32)
    return w.to_bytes() == g.buf


def validate_external():
    out = {}
    tiny_a = os.path.join(SHARED, "llamacpp", "tiny-a")
    if os.path.isdir(tiny_a):
        cfg, w = R.load_gguf_llama(GGUFFile(os.path.join(tiny_a, "tiny-llm.gguf")))
        w_hf = R.weights_to_hf(cfg, w)
        gpath = os.path.join(tiny_a, "tiny-llm.gguf")
        v = {"what": "llama.cpp b8582 logits (F32 model, F32 KV, no flash attn) vs this reference",
             "gguf_sha256": sha256(open(gpath, "rb").read()),
             "gguf_writer_rewrite_byte_identical": rewrite_gguf(gpath)}
        assert v["gguf_writer_rewrite_byte_identical"]
        for p in ("p1", "p2"):
            ids = [int(t) for t in open(os.path.join(tiny_a, p + ".tokens.txt")).read().split()]
            ref = np.fromfile(os.path.join(tiny_a, p + ".logits.f32"), "<f4").reshape(len(ids), -1)
            lp = R.forward(cfg, w, ids, "pairs")
            lh = R.forward(cfg, w_hf, ids, "half")
            greedy_ref = [int(t) for t in open(os.path.join(tiny_a, p + ".greedy.txt")).read().split()]
            new, _, margins = R.greedy_kv(cfg, w, ids, N_GEN, "pairs")
            v[p] = {"n_tokens": len(ids),
                    "max_abs_diff_pairs_rope_file_layout": float(np.abs(lp - ref).max()),
                    "max_abs_diff_half_rope_unpermuted": float(np.abs(lh - ref).max()),
                    "max_abs_ref": float(np.abs(ref).max()),
                    "argmax_equal_all_rows": bool((lp.argmax(1) == ref.argmax(1)).all()),
                    "greedy_equal": new == greedy_ref, "min_greedy_margin": float(min(margins))}
            assert v[p]["max_abs_diff_pairs_rope_file_layout"] < 1e-4 and v[p]["greedy_equal"]
        out["llamacpp_tiny_a"] = v
    llava = os.path.join(SHARED, "hf", "llava-tiny-b")
    if os.path.isdir(llava):
        gpath = os.path.join(llava, "gguf", "llava-tiny-b-llm-f32.gguf")
        cfg, w = R.load_gguf_llama(GGUFFile(gpath))
        ids = [int(t) for t in np.load(os.path.join(llava, "ref", "input_ids.npy"))[0]]
        hs = np.load(os.path.join(llava, "ref", "text_only_lm_hidden_states.npy"))[-1, 0]
        lg, hn = R.forward(cfg, w, ids, "pairs", return_hidden=True)
        ref = hs.astype(np.float64) @ w["tok_embd"].T
        out["hf_llava_tiny_b_text_only"] = {
            "what": "HF transformers 4.40.2 fp32 LLaMA (tied lm_head, head_dim 14) final normed hidden "
                    "state and its logits (@ embed^T) vs this reference on the llama.cpp-layout GGUF",
            "gguf_sha256": sha256(open(gpath, "rb").read()), "n_tokens": len(ids),
            "gguf_writer_rewrite_byte_identical": rewrite_gguf(gpath),
            "max_abs_diff_final_hidden": float(np.abs(hn - hs).max()),
            "max_abs_diff_logits": float(np.abs(lg - ref).max()),
            "max_abs_ref_logits": float(np.abs(ref).max()),
            "argmax_equal_all_rows": bool((lg.argmax(1) == ref.argmax(1)).all())}
        assert out["hf_llava_tiny_b_text_only"]["max_abs_diff_logits"] < 1e-4
        assert out["hf_llava_tiny_b_text_only"]["gguf_writer_rewrite_byte_identical"]
    return out


# ---------------------------------------------------------------------------------------------


def search(name, first=1, count=40):
    spec = MODELS[name]
    cfg = make_config(spec)
    for seed in range(first, first + count):
        w = random_weights(cfg, spec, seed)
        stats = []
        types = [GW.GGML_F32] + ([t for _, t in VARIANTS] if name == "tiny-f32" else [])
        ok = True
        for mt in types:
            _, rt = build_gguf(name, cfg, w, mt)
            res = run_reference(cfg, rt)
            m = min(min(r["margins"]) for r in res.values())
            distinct = [len(set(r["greedy"])) for r in res.values()]
            stats.append("%s m=%.4f d=%s" % (GW.GGML_NAME[mt], m, distinct))
            ok &= greedy_ok(res)
        mx = max(float(np.abs(r["logits"]).max()) for r in res.values())
        print(name, seed, "ok" if ok else "--", "max|logit|=%.2f" % mx, " | ".join(stats), flush=True)


def main():
    if "--search" in sys.argv:
        for name in MODELS:
            search(name)
        return
    check_encoders()
    check_act_quantiser()
    summary = {}
    for name, spec in MODELS.items():
        cfg = make_config(spec)
        seed = spec["seed"]
        w = random_weights(cfg, spec, seed)
        variants = [(name, GW.GGML_F32)] + (VARIANTS if name == "tiny-f32" else [])
        base = None
        for vname, mt in variants:
            data, rt = build_gguf(vname, cfg, w, mt)
            res = run_reference(cfg, rt)
            checks = self_checks(cfg, rt, res, data)
            extra = {}
            if base is None:
                base = res
                assert greedy_ok(res)
                assert min(min(r["margins"]) for r in res.values()) > MIN_MARGIN_F32
            else:
                dq = flat_weights(rt)
                f32w = flat_weights(w)
                extra["vs_f32_model"] = {
                    "source": name,
                    "max_abs_weight_diff": float(max(np.abs(dq[k] - f32w[k].astype(np.float64)).max()
                                                     for k in dq)),
                    "max_abs_logit_diff": float(max(np.abs(res[p]["logits"] - base[p]["logits"]).max()
                                                    for p in PROMPTS)),
                    "greedy_equal": all(res[p]["greedy"] == base[p]["greedy"] for p in PROMPTS)}
            q8 = q8c = None
            if mt in Q8ACT_TYPES:
                q8, w_q, w_file = run_q8act(cfg, data, rt, res)
                q8c = q8act_checks(cfg, rt, res, q8, w_q, w_file, data)
            man = write_model_dir(vname, cfg, spec, seed, mt, data, res, checks, extra, q8, q8c)
            summary[vname] = {"min_greedy_margin": man["min_greedy_margin"],
                              "max_abs_logit": man["max_abs_logit"],
                              "model_bytes": len(data)}
            print("%-18s %6d bytes  min margin %.4f  max|logit| %.3f  kv %.1e  perm %.1e" % (
                vname, len(data), man["min_greedy_margin"], man["max_abs_logit"],
                checks["kv_cache_decode_vs_full_max_abs"],
                checks["pairs_rope_on_gguf_layout_vs_rotate_half_on_hf_max_abs"]), flush=True)
            if q8 is not None:
                print("%-18s q8act: min margin %.4f (p1 %.4f, p2 %.4f)  max|dlogit| vs float act %.3e  "
                      "first greedy divergence %s  kv %.1e  perm %.1e  "
                      "x86 quantiser: max|dlogit| %.1e greedy equal %s" % (
                          "", man["q8act"]["min_greedy_margin"],
                          man["prompts"]["p1"]["q8act"]["min_greedy_margin"],
                          man["prompts"]["p2"]["q8act"]["min_greedy_margin"],
                          q8c["max_abs_logit_diff_vs_float_activations"],
                          q8c["first_greedy_divergence_from_float_activations"],
                          q8c["kv_cache_decode_vs_full_max_abs"],
                          q8c["pairs_rope_on_gguf_layout_vs_rotate_half_on_hf_max_abs"],
                          q8c["x86_simd_quantiser"]["max_abs_logit_diff"],
                          q8c["x86_simd_quantiser"]["greedy_equal"]), flush=True)
    ext = validate_external()
    if ext:
        with open(os.path.join(OUT, "validation.json"), "w") as f:
            json.dump(ext, f, indent=1)
            f.write("\n")
        for k, v in ext.items():
            for p, x in v.items():
                if isinstance(x, dict):
                    x = {kk: vv for kk, vv in x.items() if "diff" in kk or "equal" in kk}
                if p not in ("what", "gguf_sha256"):
                    print("%s %s: %s" % (k, p, x))
    else:
        print("note: %s not found, external validation skipped (validation.json left as is)" % SHARED)


if __name__ == "__main__":
    main()
