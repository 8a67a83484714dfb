"""Generates tests/fixtures/opt/: tiny random OPT decoders (Hugging Face OPTForCausalLM semantics) as
GGUF files in graft's "opt" layout (docs/formats.md, section "opt") and their float64 references.

Part of graft's reference generators; never run by `make test`. Run from the repo root:
    /usr/bin/python3 tests/reference/make_opt_fixtures.py [--search]
The forward is opt_ref.py (numpy float64, written from HF's modeling_opt.py); files are written by
gguf_writer.py and read back by gguf_reader.py. Deterministic: a rerun on this machine rewrites
byte-identical files. --search prints seed statistics (used once to choose the seeds below) and
writes nothing. See tests/reference/README-opt.md.
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
import opt_ref as R  # noqa: E402
from gguf_reader import GGUFFile  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(REPO, "tests", "fixtures", "opt")
N_GEN = 32
MIN_MARGIN = 1e-2   # required smallest top1-top2 over the greedy steps (graft's logit tolerance is ~1e-3)

# ---------------------------------------------------------------------------------------------
# tokenizer: a small GPT-2 style byte-level BPE vocabulary with OPT's special tokens


def bytes_to_unicode():
    """GPT-2's byte alphabet (encoder.py): printable bytes stand for themselves, the other 68 are
    mapped to U+0100 onwards in byte order. Returns the list of (byte, character) in GPT-2's order."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + \
        list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [(b, chr(c)) for b, c in zip(bs, cs)]


BYTE_CHARS = bytes_to_unicode()
BYTE_ENC = {b: c for b, c in BYTE_CHARS}
BYTE_DEC = {c: b for b, c in BYTE_CHARS}

# OPT's tokenizer: <s> 0, <pad> 1, </s> 2, <unk> 3; the BOS it adds is "</s>" (id 2).
SPECIALS = ["<s>", "<pad>", "</s>", "<unk>"]
BOS = EOS = 2
# merges, lowest rank first ("Ġ" is the space byte in GPT-2's alphabet)
MERGES = ["Ġ t", "h e", "Ġt he", "a t", "Ġ c", "Ġc at", "Ġ s", "Ġs at", "o n", "Ġ on", "Ġ m",
          "Ġm at", "a n", "an d", "Ġ and", "Ġ d", "o g", "Ġd og", "Ġ r", "Ġr an", "i n", "Ġ in",
          "u n", "Ġs un", "t he", "Ġ a"]
TT_NORMAL, TT_CONTROL = 1, 3


def make_vocab():
    tokens = SPECIALS + [c for _, c in BYTE_CHARS] + [m.replace(" ", "") for m in MERGES]
    types = [TT_CONTROL] * len(SPECIALS) + [TT_NORMAL] * (len(tokens) - len(SPECIALS))
    assert len(set(tokens)) == len(tokens)
    have = set(tokens)
    for m in MERGES:
        a, b = m.split(" ")
        assert a in have and b in have, m
    return tokens, types


VOCAB = make_vocab()
N_VOCAB = len(VOCAB[0])     # 286
TOKEN_ID = {t: i for i, t in enumerate(VOCAB[0])}


def bpe_word(word):
    """One pre-tokenized word (bytes) -> ids: GPT-2 BPE, the adjacent pair of lowest merge rank
    joins first (leftmost on ties), until no pair has a rank."""
    rank = {tuple(m.split(" ")): i for i, m in enumerate(MERGES)}
    sym = [BYTE_ENC[b] for b in word]
    while len(sym) > 1:
        pairs = [(rank.get((sym[i], sym[i + 1]), 1 << 30), i) for i in range(len(sym) - 1)]
        r, i = min(pairs)
        if r == 1 << 30:
            break
        sym = sym[:i] + [sym[i] + sym[i + 1]] + sym[i + 2:]
    return [TOKEN_ID[s] for s in sym]


def tokenize(text):
    """BOS, then GPT-2's pre-tokenizer on lowercase words separated by single spaces (which is all
    the prompt has: each word after the first carries its space), then BPE per word."""
    assert all(c.islower() or c == " " for c in text) and "  " not in text and text[0] != " "
    words = text.split(" ")
    ids = [BOS]
    for i, w in enumerate(words):
        ids += bpe_word(((" " if i else "") + w).encode())
    return ids


def token_bytes(t):
    """The bytes a token stands for (special tokens: none, as graft's CLI prints them)."""
    if t < len(SPECIALS):
        return b""
    return bytes(BYTE_DEC[c] for c in VOCAB[0][t])


# ---------------------------------------------------------------------------------------------
# the models

# Weight scales: token and position embeddings N(0, emb); matrices N(0, mat); lm_head (untied)
# N(0, out); linear biases N(0, 0.2); LayerNorm weights 1 + N(0, 0.1), biases N(0, 0.1). HF's own
# init (N(0, 0.02), zero biases) would make every logit nearly equal; these O(1) scales give greedy
# runs with clear margins. Seeds chosen with --search (README-opt.md).
MODELS = {
    # BLIP-2's OPT: pre-LN (do_layer_norm_before), output tied to the token embedding
    "pre-tied": dict(cfg=dict(dim=32, n_layers=2, n_head=2, ffn=128, n_ctx=64, eps=1e-5, pre_ln=True),
                     tied=True, seed=13, emb=0.5, mat=0.35, out=None, keys="all"),
    # OPT-350m's arrangement: post-LN, no final LayerNorm; here with an untied output.weight and a
    # LayerNorm eps of 0.1, large enough that a loader which ignored the key (1e-5) would fail the
    # logits check (1e-3 would move the logits by only 1.4e-5 x max|ref|: the LayerNorm inputs'
    # variances are O(1) to O(10))
    "post-untied": dict(cfg=dict(dim=48, n_layers=2, n_head=3, ffn=80, n_ctx=64, eps=0.1, pre_ln=False),
                        tied=False, seed=8, emb=0.5, mat=0.5, out=0.3, keys="all"),
}
# pre-tied re-stored with every tensor, vectors included, as F16, and without the optional keys
# (opt.layer_norm_before, opt.attention.layer_norm_epsilon): their defaults must apply
VARIANTS = {"pre-tied": [("pre-tied-f16", GW.GGML_F16)]}
FILE_TYPE = {GW.GGML_F32: 0, GW.GGML_F16: 1}
PROMPT_TEXT = "the cat sat on the mat and the dog ran in the sun"
PROMPT_SEED = 20240611
P2_LEN = 19


def f32_value(x):
    """The value a reader gets back from a float32 metadata field."""
    return float(np.float32(x))


def make_config(spec):
    c = spec["cfg"]
    return R.Config(n_vocab=N_VOCAB, dim=c["dim"], n_layers=c["n_layers"], n_head=c["n_head"],
                    ffn=c["ffn"], n_ctx=c["n_ctx"], eps=f32_value(c["eps"]), pre_ln=c["pre_ln"])


def random_weights(cfg, spec, seed):
    """float32 weights in HF layout, drawn in a fixed order from one seeded generator."""
    rng = np.random.default_rng(seed)

    def mat(rows, cols, std):
        return (rng.standard_normal((rows, cols)) * std).astype(np.float32)

    def vec(n, mean, std):
        return (mean + std * rng.standard_normal(n)).astype(np.float32)

    E, F = cfg.dim, cfg.ffn
    m = spec["mat"]
    w = {"tok_embd": mat(cfg.n_vocab, E, spec["emb"]),
         "pos_embd": mat(cfg.n_ctx + R.POS_OFFSET, E, spec["emb"]), "layers": []}
    for _ in range(cfg.n_layers):
        L = {}
        L["ln1_w"], L["ln1_b"] = vec(E, 1, 0.1), vec(E, 0, 0.1)
        for p in ("q", "k", "v", "o"):
            L["w" + p], L["b" + p] = mat(E, E, m), vec(E, 0, 0.2)
        L["ln2_w"], L["ln2_b"] = vec(E, 1, 0.1), vec(E, 0, 0.1)
        L["fc1_w"], L["fc1_b"] = mat(F, E, m), vec(F, 0, 0.2)
        L["fc2_w"], L["fc2_b"] = mat(E, F, m), vec(E, 0, 0.2)
        w["layers"].append(L)
    if cfg.pre_ln:
        w["final_norm_w"], w["final_norm_b"] = vec(E, 1, 0.1), vec(E, 0, 0.1)
    else:
        w["final_norm_w"] = w["final_norm_b"] = None
    w["lm_head"] = None if spec["tied"] else mat(cfg.n_vocab, E, spec["out"])
    return w


def make_prompts():
    """p1: the text prompt tokenized as OPT's tokenizer does (BOS </s> first); p2: BOS then random
    ids over the normal tokens (4..V-1)."""
    rng = np.random.default_rng(PROMPT_SEED)
    p2 = [BOS] + [int(t) for t in rng.integers(len(SPECIALS), N_VOCAB, size=P2_LEN - 1)]
    return {"p1": tokenize(PROMPT_TEXT), "p2": p2}


PROMPTS = make_prompts()

# ---------------------------------------------------------------------------------------------
# writing a model

LAYER_TENSORS = [  # (GGUF name under blk.N., weight key, HF name under model.decoder.layers.N.)
    ("attn_norm.weight", "ln1_w", "self_attn_layer_norm.weight"),
    ("attn_norm.bias", "ln1_b", "self_attn_layer_norm.bias"),
    ("attn_q.weight", "wq", "self_attn.q_proj.weight"), ("attn_q.bias", "bq", "self_attn.q_proj.bias"),
    ("attn_k.weight", "wk", "self_attn.k_proj.weight"), ("attn_k.bias", "bk", "self_attn.k_proj.bias"),
    ("attn_v.weight", "wv", "self_attn.v_proj.weight"), ("attn_v.bias", "bv", "self_attn.v_proj.bias"),
    ("attn_output.weight", "wo", "self_attn.out_proj.weight"),
    ("attn_output.bias", "bo", "self_attn.out_proj.bias"),
    ("ffn_norm.weight", "ln2_w", "final_layer_norm.weight"),
    ("ffn_norm.bias", "ln2_b", "final_layer_norm.bias"),
    ("ffn_up.weight", "fc1_w", "fc1.weight"), ("ffn_up.bias", "fc1_b", "fc1.bias"),
    ("ffn_down.weight", "fc2_w", "fc2.weight"), ("ffn_down.bias", "fc2_b", "fc2.bias"),
]


def build_gguf(name, cfg, w, ttype, keys):
    """GGUF bytes of float32 weights w. ttype: the type of every tensor (F32, or F16 for all,
    vectors included). keys "all" writes every opt.* key, "required" leaves out the optional ones.
    Returns (bytes, the round-tripped weights as float64)."""
    g = GW.GGUFWriter()
    g.add_string("general.architecture", "opt")
    g.add_string("general.name", "graft " + name)
    g.add_u32("general.file_type", FILE_TYPE[ttype])
    g.add_u32("opt.context_length", cfg.n_ctx)
    g.add_u32("opt.embedding_length", cfg.dim)
    g.add_u32("opt.block_count", cfg.n_layers)
    g.add_u32("opt.feed_forward_length", cfg.ffn)
    g.add_u32("opt.attention.head_count", cfg.n_head)
    if keys == "all":
        g.add_f32("opt.attention.layer_norm_epsilon", cfg.eps)
        g.add_bool("opt.layer_norm_before", cfg.pre_ln)
    else:
        assert cfg.pre_ln and cfg.eps == f32_value(1e-5)
    tokens, types = VOCAB
    g.add_string("tokenizer.ggml.model", "gpt2")
    g.add_string("tokenizer.ggml.pre", "gpt-2")
    g.add_array("tokenizer.ggml.tokens", GW.T_STRING, tokens)
    g.add_array("tokenizer.ggml.token_type", GW.T_INT32, types)
    g.add_array("tokenizer.ggml.merges", GW.T_STRING, MERGES)
    g.add_u32("tokenizer.ggml.bos_token_id", BOS)
    g.add_u32("tokenizer.ggml.eos_token_id", EOS)
    g.add_u32("tokenizer.ggml.unknown_token_id", 3)
    g.add_u32("tokenizer.ggml.padding_token_id", 1)
    g.add_bool("tokenizer.ggml.add_bos_token", True)
    g.add_bool("tokenizer.ggml.add_eos_token", False)

    def put(gname, a):
        return g.add_tensor(gname, a, ttype).astype(np.float64)

    rt = {"layers": []}
    rt["tok_embd"] = put("token_embd.weight", w["tok_embd"])
    rt["pos_embd"] = put("position_embd.weight", w["pos_embd"])
    for i, L in enumerate(w["layers"]):
        rt["layers"].append({key: put("blk.%d.%s" % (i, gname), L[key]) for gname, key, _ in LAYER_TENSORS})
    rt["final_norm_w"] = rt["final_norm_b"] = None
    if cfg.pre_ln:
        rt["final_norm_w"] = put("output_norm.weight", w["final_norm_w"])
        rt["final_norm_b"] = put("output_norm.bias", w["final_norm_b"])
    rt["lm_head"] = None if w["lm_head"] is None else put("output.weight", w["lm_head"])
    return g.to_bytes(), rt


def flat_weights(w):
    out = {k: v for k, v in w.items() if k != "layers" and v is not None}
    for i, L in enumerate(w["layers"]):
        for k, v in L.items():
            out["%d.%s" % (i, k)] = v
    return out


# ---------------------------------------------------------------------------------------------
# reference outputs and self-checks


def run_reference(cfg, w):
    res = {}
    for pname, ids in PROMPTS.items():
        logits = R.forward(cfg, w, ids)
        new, margins = R.greedy(cfg, w, ids, N_GEN)
        res[pname] = {"logits": logits, "greedy": new, "margins": margins}
    return res


def greedy_ok(res):
    """Greedy runs usable by the C tests and the CLI: no special token (the CLI stops at </s>),
    at least 8 distinct ids among the 32 and 3 among the last 8, no id more than 10 times (no
    single-token loop)."""
    for r in res.values():
        g = r["greedy"]
        if min(g) < len(SPECIALS) or len(set(g)) < 8 or len(set(g[-8:])) < 3 or \
                max(g.count(t) for t in g) > 10:
            return False
    return True


def self_checks(cfg, rt, res, data):
    c = {}
    # read-back: the file decodes to exactly the weights the encoders reported, and the loader
    # reads back the same config
    cfg2, w2 = R.load_gguf_opt(GGUFFile("model.gguf", data))
    assert cfg2 == cfg, (cfg2, cfg)
    a, b = flat_weights(rt), flat_weights(w2)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    c["gguf_read_back_bit_exact"] = True
    # the KV-cache decoder (past_key_values path, per-head loops) vs the full forward
    d_kv, same = 0.0, True
    for pname, ids in PROMPTS.items():
        new, plog, _ = R.greedy_kv(cfg, rt, ids, N_GEN)
        d_kv = max(d_kv, float(np.abs(plog - res[pname]["logits"]).max()))
        same &= new == res[pname]["greedy"]
    assert d_kv < 1e-10 and same, (d_kv, same)
    c["kv_cache_decode_vs_full_max_abs"] = d_kv
    c["greedy_kv_cache_equals_full_recompute"] = same
    ids = PROMPTS["p2"]
    ref = res["p2"]["logits"]
    # HF's position ids with left padding: cumsum(mask) * mask - 1 gives the real tokens positions
    # 0.. again, so their logits equal the unpadded run's
    pad = 3
    lp = R.forward(cfg, rt, [1] * pad + ids, attention_mask=[0] * pad + [1] * len(ids))[pad:]
    c["left_padded_vs_unpadded_max_abs"] = float(np.abs(lp - ref).max())
    assert c["left_padded_vs_unpadded_max_abs"] < 1e-10
    # inputs_embeds (the rows BLIP-2 feeds) equal token ids, positions included
    le = R.forward(cfg, rt, embeds=rt["tok_embd"][ids])
    c["inputs_embeds_vs_ids_max_abs"] = float(np.abs(le - ref).max())
    assert c["inputs_embeds_vs_ids_max_abs"] == 0.0
    # the fixture sees the position offset: reading row p instead of p + 2 moves the logits far
    # beyond graft's tolerance (1e-4 x max|ref|)
    w0 = dict(rt, pos_embd=np.vstack([np.zeros((2, cfg.dim)), rt["pos_embd"][:-2]]))
    c["offset_0_instead_of_2_max_abs_logit_change"] = float(np.abs(R.forward(cfg, w0, ids) - ref).max())
    assert c["offset_0_instead_of_2_max_abs_logit_change"] > 100 * 1e-4 * np.abs(ref).max()
    # the eps key matters where it is not the default
    if cfg.eps != f32_value(1e-5):
        cfg_e = R.Config(**dict(cfg.__dict__, eps=f32_value(1e-5)))
        c["default_eps_instead_max_abs_logit_change"] = float(np.abs(R.forward(cfg_e, rt, ids) - ref).max())
        assert c["default_eps_instead_max_abs_logit_change"] > 10 * 1e-4 * np.abs(ref).max()
    # and the other arrangement of the LayerNorms (pre <-> post) is a different model
    cfg_x = R.Config(**dict(cfg.__dict__, pre_ln=not cfg.pre_ln))
    wx = dict(rt)
    if cfg.pre_ln:
        wx["final_norm_w"] = wx["final_norm_b"] = None
    else:
        wx["final_norm_w"], wx["final_norm_b"] = np.ones(cfg.dim), np.zeros(cfg.dim)
    c["other_layer_norm_placement_max_abs_logit_change"] = float(
        np.abs(R.forward(cfg_x, wx, ids) - ref).max())
    return c


# ---------------------------------------------------------------------------------------------
# output


def ids_line(ids):
    return " ".join(str(int(t)) for t in ids) + "\n"


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def write_model_dir(name, cfg, spec, seed, ttype, keys, data, res, checks, extra):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    files = {"model.gguf": data, "p1.txt": PROMPT_TEXT.encode()}
    prompts = {}
    for pname, ids in PROMPTS.items():
        r = res[pname]
        files[pname + ".ids.txt"] = ids_line(ids).encode()
        files[pname + ".logits.f32"] = r["logits"].astype("<f4").tobytes()
        files[pname + ".greedy.txt"] = ids_line(r["greedy"]).encode()
        files[pname + ".greedy.text"] = b"".join(token_bytes(t) for t in r["greedy"])
        prompts[pname] = {
            "ids": ids, "n_tokens": len(ids),
            "logits_shape": [len(ids), cfg.n_vocab],
            "argmax_per_position": [int(t) for t in r["logits"].argmax(axis=1)],
            "max_abs_logit": float(np.abs(r["logits"]).max()),
            "greedy_ids": r["greedy"], "greedy_margins": r["margins"],
            "min_greedy_margin": float(min(r["margins"])),
        }
    for fname, blob in files.items():
        with open(os.path.join(d, fname), "wb") as f:
            f.write(blob)
    g = GGUFFile("model.gguf", data)
    manifest = {
        "model": name,
        "generator": "tests/reference/make_opt_fixtures.py (numpy float64, HF OPTForCausalLM semantics)",
        "seed": seed,
        "config": dict(cfg.as_dict(), tied_output=spec["tied"], activation="relu",
                       position_offset=R.POS_OFFSET, optional_keys_written=keys == "all"),
        "weight_scales": {"embeddings_std": spec["emb"], "matrices_std": spec["mat"],
                          "output_std": spec["out"], "linear_biases_std": 0.2,
                          "layer_norms": "weight 1 + N(0, 0.1), bias N(0, 0.1)"},
        "tensor_type": GW.GGML_NAME[ttype],
        "tensors": {n: [g.type_name(n)] + g.tensors[n]["ne"] for n in g.tensor_order},
        "hf_names": {"blk.N." + gn: "model.decoder.layers.N." + hn for gn, _, hn in LAYER_TENSORS},
        "reference_weights": "the weights as decoded from model.gguf, in float64",
        "prompt_text": PROMPT_TEXT,
        "files": {k: sha256(v) for k, v in sorted(files.items())},
        "sizes": {k: len(v) for k, v in sorted(files.items())},
        "logits_format": "float32 little-endian, row-major [n_tokens, n_vocab]; row i predicts after ids[0..i]",
        "greedy": "%d argmax tokens after the prompt, no EOS stop, full recompute per step; "
                  "pN.greedy.text: the bytes they stand for" % N_GEN,
        "prompts": prompts,
        "min_greedy_margin": float(min(p["min_greedy_margin"] for p in prompts.values())),
        "max_abs_logit": float(max(p["max_abs_logit"] for p in prompts.values())),
        "checks": checks,
    }
    manifest.update(extra)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
        f.write("\n")
    return manifest


def search(name, first=0, count=30):
    spec = MODELS[name]
    cfg = make_config(spec)
    for seed in range(first, first + count):
        w = random_weights(cfg, spec, seed)
        stats, ok = [], True
        for ttype in [GW.GGML_F32] + [t for _, t in VARIANTS.get(name, [])]:
            _, rt = build_gguf(name, cfg, w, ttype, spec["keys"])
            res = run_reference(cfg, rt)
            m = min(min(r["margins"]) for r in res.values())
            distinct = [len(set(r["greedy"])) for r in res.values()]
            stats.append("%s m=%.4f d=%s" % (GW.GGML_NAME[ttype], m, distinct))
            ok &= greedy_ok(res) and m > MIN_MARGIN
        mx = max(float(np.abs(r["logits"]).max()) for r in res.values())
        print(name, seed, "ok" if ok else "--", "max|logit|=%.2f" % mx, " | ".join(stats),
              "most repeated=%s" % [max(r["greedy"].count(t) for t in r["greedy"]) for r in res.values()],
              flush=True)


def main():
    if "--search" in sys.argv:
        for name in MODELS:
            search(name)
        return
    for name, spec in MODELS.items():
        cfg = make_config(spec)
        w = random_weights(cfg, spec, spec["seed"])
        base = None
        for vname, ttype in [(name, GW.GGML_F32)] + VARIANTS.get(name, []):
            keys = spec["keys"] if ttype == GW.GGML_F32 else "required"
            data, rt = build_gguf(vname, cfg, w, ttype, keys)
            res = run_reference(cfg, rt)
            assert greedy_ok(res), vname
            assert min(min(r["margins"]) for r in res.values()) > MIN_MARGIN, vname
            checks = self_checks(cfg, rt, res, data)
            extra = {}
            if base is None:
                base = res
            else:
                extra["vs_f32_model"] = {
                    "source": name,
                    "max_abs_logit_diff": float(max(np.abs(res[p]["logits"] - base[p]["logits"]).max()
                                                    for p in PROMPTS)),
                    "greedy_equal": all(res[p]["greedy"] == base[p]["greedy"] for p in PROMPTS)}
            man = write_model_dir(vname, cfg, spec, spec["seed"], ttype, keys, data, res, checks, extra)
            print("%-14s %6d bytes  min margin %.4f  max|logit| %.3f  kv %.1e  offset-0 %.2f  "
                  "other-LN %.2f%s" % (
                      vname, len(data), man["min_greedy_margin"], man["max_abs_logit"],
                      checks["kv_cache_decode_vs_full_max_abs"],
                      checks["offset_0_instead_of_2_max_abs_logit_change"],
                      checks["other_layer_norm_placement_max_abs_logit_change"],
                      "  vs f32: %.2e greedy %s" % (extra["vs_f32_model"]["max_abs_logit_diff"],
                                                    extra["vs_f32_model"]["greedy_equal"])
                      if extra else ""), flush=True)


if __name__ == "__main__":
    main()
