"""Generates tests/fixtures/hf/: the tiny LLaVA of tests/fixtures/llava/pair-f32 laid out as Hugging
Face LlavaForConditionalGeneration directories (config.json, preprocessor_config.json, safetensors),
for graft's suite `hf` (tests/test_hf.c), which loads them with graft_model_load(dir) /
graft_vision_load(dir).

Part of graft's reference generators; never run by `make test`. Run from the repo root:
    /usr/bin/python3 tests/reference/make_hf_fixtures.py
Needs only numpy (no torch, no transformers): safetensors is written by hand (8-byte little-endian
header length, JSON header padded with spaces to a multiple of 8, then the data). Deterministic: a
rerun rewrites byte-identical files. See tests/reference/README-hf.md.

Variants:
  llava-pair/       the pair's weights exactly, all F32, one model.safetensors, transformers 4.40 names
                    (language_model.model.*, vision_tower.vision_model.*, multi_modal_projector.*).
                    Loading it must reproduce pair-f32's committed references (logits.f32,
                    image_rows.f32, greedy.txt); this script checks that its own float64 pipeline on
                    the directory's weights equals them before writing.
  llava-pair-bf16/  the same weights rounded: matrices BF16, 1-D tensors (norms, biases, class
                    embedding) F16, in two shards with model.safetensors.index.json, transformers
                    >= 4.52 names (model.language_model.*, model.vision_tower.*,
                    model.multi_modal_projector.*). Its own float64 references are written next to it
                    (image_rows.f32, logits.f32, greedy.txt), computed on the rounded weights.
  llama-text/       the pair's decoder alone as LlamaForCausalLM (model.*, lm_head.weight), all F16
                    (norms too, as torch_dtype float16 saves them), with an UNtied lm_head drawn at
                    random (seed 78), so tie_word_embeddings is false (the default, omitted). Its own
                    references for the text-only prompt (chunk A + chunk B of pair-f32's prompt):
                    logits.f32 (float32 LE [11, 320]) and greedy.txt.
LLaVA variants: the vision config has 3 layers and vision_feature_layer -2 (the default, omitted), so layer 2
and post_layernorm are present (drawn at random, seed 77) but unused, as in a real checkpoint.
"""

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import json  # noqa: E402
import struct  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import clip_ref as C  # noqa: E402
import llama_ref as R  # noqa: E402
from gguf_reader import GGUFFile  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
PAIR = os.path.join(REPO, "tests", "fixtures", "llava", "pair-f32")
OUT = os.path.join(REPO, "tests", "fixtures", "hf")
N_GEN = 32
UNUSED_SEED = 77

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# ---------------------------------------------------------------------------------------------
# the pair's weights under Hugging Face names (float32, HF shapes, HF Q/K row order)


def hf_tensors(g_llm, g_mm):
    """{HF name relative to its root: float32 array}, roots "lm." (LlamaModel), "vt." (the CLIP
    vision_model), "mm." (the projector)."""
    m = g_llm.meta
    n_head, n_kv = m["llama.attention.head_count"], m["llama.attention.head_count_kv"]
    t = {}
    L = g_llm.tensor
    t["lm.embed_tokens.weight"] = L("token_embd.weight")
    t["lm.norm.weight"] = L("output_norm.weight")
    assert "output.weight" not in g_llm.tensors  # tied
    for i in range(m["llama.block_count"]):
        b, h = "blk.%d." % i, "lm.layers.%d." % i
        t[h + "input_layernorm.weight"] = L(b + "attn_norm.weight")
        # llama.cpp permuted q/k rows for its adjacent-pair rope; HF stores rotate_half's order
        t[h + "self_attn.q_proj.weight"] = R.unpermute_qk(L(b + "attn_q.weight"), n_head)
        t[h + "self_attn.k_proj.weight"] = R.unpermute_qk(L(b + "attn_k.weight"), n_kv)
        t[h + "self_attn.v_proj.weight"] = L(b + "attn_v.weight")
        t[h + "self_attn.o_proj.weight"] = L(b + "attn_output.weight")
        t[h + "post_attention_layernorm.weight"] = L(b + "ffn_norm.weight")
        t[h + "mlp.gate_proj.weight"] = L(b + "ffn_gate.weight")
        t[h + "mlp.up_proj.weight"] = L(b + "ffn_up.weight")
        t[h + "mlp.down_proj.weight"] = L(b + "ffn_down.weight")
    V = g_mm.tensor
    mm = g_mm.meta
    D = mm["clip.vision.embedding_length"]
    t["vt.embeddings.class_embedding"] = V("v.class_embd")
    t["vt.embeddings.patch_embedding.weight"] = V("v.patch_embd.weight")       # (D, 3, p, p)
    t["vt.embeddings.position_embedding.weight"] = V("v.position_embd.weight")  # (T, D)
    t["vt.pre_layrnorm.weight"] = V("v.pre_ln.weight")
    t["vt.pre_layrnorm.bias"] = V("v.pre_ln.bias")
    nb = mm["clip.vision.block_count"]
    for i in range(nb):
        b, h = "v.blk.%d." % i, "vt.encoder.layers.%d." % i
        for gn, hn in (("attn_q", "q_proj"), ("attn_k", "k_proj"), ("attn_v", "v_proj"), ("attn_out", "out_proj")):
            t[h + "self_attn.%s.weight" % hn] = V(b + gn + ".weight")
            t[h + "self_attn.%s.bias" % hn] = V(b + gn + ".bias")
        for gn, hn in (("ln1", "layer_norm1"), ("ln2", "layer_norm2")):
            t[h + hn + ".weight"] = V(b + gn + ".weight")
            t[h + hn + ".bias"] = V(b + gn + ".bias")
        # legacy layout: ffn_down holds fc1 (D -> F), ffn_up holds fc2
        assert g_mm.tensors[b + "ffn_down.weight"]["ne"][0] == D
        t[h + "mlp.fc1.weight"] = V(b + "ffn_down.weight")
        t[h + "mlp.fc1.bias"] = V(b + "ffn_down.bias")
        t[h + "mlp.fc2.weight"] = V(b + "ffn_up.weight")
        t[h + "mlp.fc2.bias"] = V(b + "ffn_up.bias")
    # the layer after the feature layer and the post-layernorm: in every HF checkpoint, never used
    rng = np.random.default_rng(UNUSED_SEED)
    F = mm["clip.vision.feed_forward_length"]
    h = "vt.encoder.layers.%d." % nb
    shapes = {"self_attn.q_proj": (D, D), "self_attn.k_proj": (D, D), "self_attn.v_proj": (D, D),
              "self_attn.out_proj": (D, D), "mlp.fc1": (F, D), "mlp.fc2": (D, F)}
    for k, s in shapes.items():
        t[h + k + ".weight"] = (rng.standard_normal(s) * 0.2).astype(np.float32)
        t[h + k + ".bias"] = (rng.standard_normal(s[0]) * 0.1).astype(np.float32)
    for k in ("layer_norm1", "layer_norm2"):
        t[h + k + ".weight"] = (1 + rng.standard_normal(D) * 0.1).astype(np.float32)
        t[h + k + ".bias"] = (rng.standard_normal(D) * 0.1).astype(np.float32)
    t["vt.post_layernorm.weight"] = (1 + rng.standard_normal(D) * 0.1).astype(np.float32)
    t["vt.post_layernorm.bias"] = (rng.standard_normal(D) * 0.1).astype(np.float32)
    t["mm.linear_1.weight"] = V("mm.0.weight")
    t["mm.linear_1.bias"] = V("mm.0.bias")
    t["mm.linear_2.weight"] = V("mm.2.weight")
    t["mm.linear_2.bias"] = V("mm.2.bias")
    return t


ROOTS_440 = {"lm.": "language_model.model.", "vt.": "vision_tower.vision_model.", "mm.": "multi_modal_projector."}
ROOTS_452 = {"lm.": "model.language_model.", "vt.": "model.vision_tower.vision_model.",
             "mm.": "model.multi_modal_projector."}


def full_name(rel, roots):
    return roots[rel[:3]] + rel[3:]

# ---------------------------------------------------------------------------------------------
# rounding to the half types (numpy has F16; BF16 by hand, round to nearest even)


def to_bf16_bits(a):
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32).astype(np.uint64)
    u = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return u.astype(np.uint16)


def from_bf16_bits(b):
    return (b.astype(np.uint32) << 16).view(np.float32)


def encode(a, dtype):
    """(raw little-endian bytes, the float32 values they decode to)."""
    if dtype == "F32":
        a = np.ascontiguousarray(a, dtype="<f4")
        return a.tobytes(), a
    if dtype == "F16":
        h = np.ascontiguousarray(a, dtype="<f2")
        return h.tobytes(), h.astype(np.float32)
    if dtype == "BF16":
        b = to_bf16_bits(a)
        return b.astype("<u2").tobytes(), from_bf16_bits(b)
    raise ValueError(dtype)

# ---------------------------------------------------------------------------------------------
# safetensors by hand


def safetensors_bytes(entries):
    """entries: [(name, dtype, shape, raw bytes)] in file order."""
    header, off = {"__metadata__": {"format": "pt"}}, 0
    for name, dtype, shape, raw in entries:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + b"".join(e[3] for e in entries)


def write(path, data):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)


def write_json(path, obj):
    write(path, (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode())

# ---------------------------------------------------------------------------------------------
# the configs (keys equal to transformers' defaults omitted, as save_pretrained does)


def config_json(g_llm, g_mm, torch_dtype):
    m, mm = g_llm.meta, g_mm.meta
    assert mm["clip.use_gelu"] is False  # quick_gelu: CLIPVisionConfig's default hidden_act
    assert abs(mm["clip.vision.attention.layer_norm_epsilon"] - 1e-5) < 1e-12  # the default
    assert m["llama.context_length"] == 2048 and m.get("llama.rope.freq_base", 1e4) == 1e4  # defaults
    return {
        "architectures": ["LlavaForConditionalGeneration"],
        "model_type": "llava",
        "ignore_index": -100,
        "torch_dtype": torch_dtype,
        "transformers_version": "4.40.2",
        "text_config": {
            "model_type": "llama",
            "hidden_size": m["llama.embedding_length"],
            "intermediate_size": m["llama.feed_forward_length"],
            "num_hidden_layers": m["llama.block_count"],
            "num_attention_heads": m["llama.attention.head_count"],
            "num_key_value_heads": m["llama.attention.head_count_kv"],
            "rms_norm_eps": 1e-05,
            "tie_word_embeddings": True,
            "vocab_size": g_llm.tensors["token_embd.weight"]["ne"][1],
        },
        "vision_config": {
            "model_type": "clip_vision_model",
            "hidden_size": mm["clip.vision.embedding_length"],
            "intermediate_size": mm["clip.vision.feed_forward_length"],
            "num_hidden_layers": mm["clip.vision.block_count"] + 1,
            "num_attention_heads": mm["clip.vision.attention.head_count"],
            "image_size": mm["clip.vision.image_size"],
            "patch_size": mm["clip.vision.patch_size"],
            "projection_dim": mm["clip.vision.projection_dim"],
        },
    }


def preprocessor_json(S):
    return {
        "crop_size": {"height": S, "width": S}, "do_center_crop": True, "do_convert_rgb": True,
        "do_normalize": True, "do_rescale": True, "do_resize": True, "image_mean": CLIP_MEAN,
        "image_processor_type": "CLIPImageProcessor", "image_std": CLIP_STD, "processor_class": "LlavaProcessor",
        "resample": 3, "rescale_factor": 1 / 255, "size": {"shortest_edge": S},
    }

# ---------------------------------------------------------------------------------------------
# the float64 pipeline on HF-named weights (HF semantics: rotate_half rope on HF q/k rows)


def reference(cfg, mm_meta, t, pixels, chunk_a, chunk_b):
    f = {k: v.astype(np.float64) for k, v in t.items()}
    nb = mm_meta["clip.vision.block_count"]
    p = {"act": "quick_gelu", "eps": float(np.float32(1e-5)), "n_head": mm_meta["clip.vision.attention.head_count"],
         "patch_w": f["vt.embeddings.patch_embedding.weight"], "class_emb": f["vt.embeddings.class_embedding"],
         "pos_emb": f["vt.embeddings.position_embedding.weight"], "patch_b": None,
         "pre_ln_w": f["vt.pre_layrnorm.weight"], "pre_ln_b": f["vt.pre_layrnorm.bias"], "layers": []}
    for i in range(nb + 1):
        h = "vt.encoder.layers.%d." % i
        L = {}
        for k, hn in (("q", "q_proj"), ("k", "k_proj"), ("v", "v_proj"), ("o", "out_proj")):
            L[k + "_w"], L[k + "_b"] = f[h + "self_attn.%s.weight" % hn], f[h + "self_attn.%s.bias" % hn]
        for k, hn in (("ln1", "layer_norm1"), ("ln2", "layer_norm2"), ("fc1", "mlp.fc1"), ("fc2", "mlp.fc2")):
            L[k + "_w"], L[k + "_b"] = f[h + hn + ".weight"], f[h + hn + ".bias"]
        p["layers"].append(L)
    proj = {"type": "mlp", "w0": f["mm.linear_1.weight"], "b0": f["mm.linear_1.bias"],
            "w2": f["mm.linear_2.weight"], "b2": f["mm.linear_2.bias"]}
    hs = C.vision_hidden_states(p, pixels)                     # all 3 layers: hidden_states[0..3]
    rows = C.project(proj, C.select_features(hs, [len(hs) - 2]))  # vision_feature_layer -2
    w = {"tok_embd": f["lm.embed_tokens.weight"], "output_norm": f["lm.norm.weight"], "output": None, "layers": []}
    for i in range(cfg.n_layers):
        h = "lm.layers.%d." % i
        w["layers"].append({
            "attn_norm": f[h + "input_layernorm.weight"], "wq": f[h + "self_attn.q_proj.weight"],
            "wk": f[h + "self_attn.k_proj.weight"], "wv": f[h + "self_attn.v_proj.weight"],
            "wo": f[h + "self_attn.o_proj.weight"], "ffn_norm": f[h + "post_attention_layernorm.weight"],
            "w_gate": f[h + "mlp.gate_proj.weight"], "w_up": f[h + "mlp.up_proj.weight"],
            "w_down": f[h + "mlp.down_proj.weight"]})
    # the image rows as extra token ids V.. (the output head stays the original table)
    ext = dict(w)
    ext["output"] = R.lm_head(w)
    ext["tok_embd"] = np.concatenate([w["tok_embd"], rows], axis=0)
    ids = chunk_a + [cfg.n_vocab + i for i in range(rows.shape[0])] + chunk_b
    logits = R.forward(cfg, ext, ids, "half")
    greedy, margins = R.greedy(cfg, ext, ids, N_GEN, "half")
    return rows, logits, greedy, margins


def llama_reference(cfg, t, ids):
    """The decoder alone on HF-named weights (lm., lm_head), HF semantics (rotate_half)."""
    f = {k: v.astype(np.float64) for k, v in t.items()}
    w = {"tok_embd": f["lm.embed_tokens.weight"], "output_norm": f["lm.norm.weight"], "output": f["lm_head.weight"],
         "layers": []}
    for i in range(cfg.n_layers):
        h = "lm.layers.%d." % i
        w["layers"].append({
            "attn_norm": f[h + "input_layernorm.weight"], "wq": f[h + "self_attn.q_proj.weight"],
            "wk": f[h + "self_attn.k_proj.weight"], "wv": f[h + "self_attn.v_proj.weight"],
            "wo": f[h + "self_attn.o_proj.weight"], "ffn_norm": f[h + "post_attention_layernorm.weight"],
            "w_gate": f[h + "mlp.gate_proj.weight"], "w_up": f[h + "mlp.up_proj.weight"],
            "w_down": f[h + "mlp.down_proj.weight"]})
    logits = R.forward(cfg, w, ids, "half")
    greedy, margins = R.greedy(cfg, w, ids, N_GEN, "half")
    return logits, greedy, margins


def read_ids(path):
    with open(path) as f:
        return [int(v) for v in f.read().split()]


def main():
    g_llm = GGUFFile(os.path.join(PAIR, "model.gguf"))
    g_mm = GGUFFile(os.path.join(PAIR, "mmproj.gguf"))
    cfg, _ = R.load_gguf_llama(g_llm)
    t = hf_tensors(g_llm, g_mm)
    S = g_mm.meta["clip.vision.image_size"]
    pixels = np.fromfile(os.path.join(PAIR, "pixels.f32"), dtype="<f4").reshape(3, S, S)
    prompt = read_ids(os.path.join(PAIR, "prompt.ids.txt"))
    k = prompt.index(-1)
    chunk_a, chunk_b = prompt[:k], prompt[k + 1:]
    n_img = 16
    T = len(chunk_a) + n_img + len(chunk_b)

    # llava-pair: F32, the pair exactly. Check first that HF semantics on these weights are the
    # committed references (same float64 pipeline, so equal to rounding of the f32 files).
    rows, logits, greedy, _ = reference(cfg, g_mm.meta, t, pixels, chunk_a, chunk_b)
    ref_rows = np.fromfile(os.path.join(PAIR, "image_rows.f32"), dtype="<f4").reshape(n_img, -1)
    ref_logits = np.fromfile(os.path.join(PAIR, "logits.f32"), dtype="<f4").reshape(T, -1)
    d_rows = float(np.abs(rows.astype(np.float32) - ref_rows).max())
    d_logits = float(np.abs(logits.astype(np.float32) - ref_logits).max())
    assert d_rows <= 1e-6 and d_logits <= 1e-5, (d_rows, d_logits)
    assert greedy == read_ids(os.path.join(PAIR, "greedy.txt")), greedy
    entries = []
    for rel in sorted(t):
        raw, _ = encode(t[rel], "F32")
        entries.append((full_name(rel, ROOTS_440), "F32", t[rel].shape, raw))
    d = os.path.join(OUT, "llava-pair")
    write(os.path.join(d, "model.safetensors"), safetensors_bytes(sorted(entries)))
    write_json(os.path.join(d, "config.json"), config_json(g_llm, g_mm, "float32"))
    write_json(os.path.join(d, "preprocessor_config.json"), preprocessor_json(S))
    print("llava-pair: equals pair-f32's references (rows %.1e, logits %.1e), greedy equal" % (d_rows, d_logits))

    # llava-pair-bf16: matrices BF16, vectors F16, two shards, transformers >= 4.52 names
    t16, entries = {}, []
    for rel in sorted(t):
        dtype = "F16" if t[rel].ndim == 1 else "BF16"
        raw, dec = encode(t[rel], dtype)
        t16[rel] = dec.reshape(t[rel].shape)
        entries.append((full_name(rel, ROOTS_452), dtype, t[rel].shape, raw))
    entries.sort()
    rows, logits, greedy, margins = reference(cfg, g_mm.meta, t16, pixels, chunk_a, chunk_b)
    assert min(margins) > 1e-3, min(margins)
    d = os.path.join(OUT, "llava-pair-bf16")
    shards = [[e for e in entries if e[0].startswith("model.language_model.")],
              [e for e in entries if not e[0].startswith("model.language_model.")]]
    weight_map, total = {}, 0
    for i, sh in enumerate(shards):
        fn = "model-%05d-of-%05d.safetensors" % (i + 1, len(shards))
        write(os.path.join(d, fn), safetensors_bytes(sh))
        for e in sh:
            weight_map[e[0]] = fn
            total += len(e[3])
    write_json(os.path.join(d, "model.safetensors.index.json"),
               {"metadata": {"total_size": total}, "weight_map": weight_map})
    cj = config_json(g_llm, g_mm, "bfloat16")
    cj["transformers_version"] = "4.52.4"
    write_json(os.path.join(d, "config.json"), cj)
    write_json(os.path.join(d, "preprocessor_config.json"), preprocessor_json(S))
    rows.astype("<f4").tofile(os.path.join(d, "image_rows.f32"))
    logits.astype("<f4").tofile(os.path.join(d, "logits.f32"))
    write(os.path.join(d, "greedy.txt"), (" ".join(str(v) for v in greedy) + "\n").encode())
    print("llava-pair-bf16: min greedy margin %.4f, max|logit| %.3f, vs f32: logits %.2e, greedy %s"
          % (min(margins), float(np.abs(logits).max()), float(np.abs(logits - ref_logits).max()),
             "equal" if greedy == read_ids(os.path.join(PAIR, "greedy.txt")) else "differs"))
    # llama-text: the decoder as LlamaForCausalLM, F16, untied random lm_head
    rng = np.random.default_rng(78)
    tl = {k: v for k, v in t.items() if k.startswith("lm.")}
    tl["lm_head.weight"] = (rng.standard_normal(t["lm.embed_tokens.weight"].shape) * 0.25).astype(np.float32)
    t16, entries = {}, []
    for rel in sorted(tl):
        raw, dec = encode(tl[rel], "F16")
        t16[rel] = dec.reshape(tl[rel].shape)
        name = rel if rel == "lm_head.weight" else "model." + rel[3:]
        entries.append((name, "F16", tl[rel].shape, raw))
    logits, greedy, margins = llama_reference(cfg, t16, chunk_a + chunk_b)
    assert min(margins) > 1e-3, min(margins)
    d = os.path.join(OUT, "llama-text")
    write(os.path.join(d, "model.safetensors"), safetensors_bytes(sorted(entries)))
    tc = config_json(g_llm, g_mm, "float16")["text_config"]
    del tc["tie_word_embeddings"]  # false: the default
    lc = {"architectures": ["LlamaForCausalLM"], "torch_dtype": "float16", "transformers_version": "4.40.2", **tc}
    write_json(os.path.join(d, "config.json"), lc)
    logits.astype("<f4").tofile(os.path.join(d, "logits.f32"))
    write(os.path.join(d, "greedy.txt"), (" ".join(str(v) for v in greedy) + "\n").encode())
    print("llama-text: min greedy margin %.4f, max|logit| %.3f" % (min(margins), float(np.abs(logits).max())))
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(OUT) for fn in fns)
    print("tests/fixtures/hf: %d bytes" % total)


if __name__ == "__main__":
    main()
