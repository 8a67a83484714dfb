"""Generates tests/fixtures/llava/: a tiny random LLaVA as a llama.cpp-style GGUF pair (LLM .gguf +
mmproj .gguf) and the float64 reference of the whole pipeline: projector rows, logits at every
position of the merged sequence (text, image rows, text) and 32 greedy ids.

Part of graft's reference generators; never run by `make test`. Run from the repo root:
    /usr/bin/python3 tests/reference/make_llava_fixtures.py [--search]
It reuses, unchanged: clip_ref.py (CLIP ViT + projector forward), llama_ref.py (decoder forward),
gguf_writer.py / gguf_reader.py, and the weight drawing and GGUF layout of make_clip_fixtures.py and
make_llama_fixtures.py (so the pair has exactly the layouts those fixtures document). Deterministic:
a rerun rewrites byte-identical files. --search prints seed statistics and writes nothing.
See tests/reference/README-llava.md.
"""

import os

# One BLAS thread, so float64 sums (and the f32 files written from them) are reproducible.
os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import clip_ref as C  # noqa: E402
import gguf_writer as GW  # noqa: E402
import llama_ref as R  # noqa: E402
import make_clip_fixtures as MC  # noqa: E402
import make_llama_fixtures as ML  # noqa: E402
from gguf_reader import GGUFFile  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(REPO, "tests", "fixtures", "llava")
N_GEN = 32
MIN_MARGIN = 1e-3

# ---------------------------------------------------------------------------------------------
# the model

# Vision: CLIP ViT, image 32, patch 8 (16 patches + CLS), width 32, 4 heads, MLP 64, quick_gelu,
# mlp2x_gelu projector 32 -> 64 -> 64. The HF config has 3 layers; the file stores 2 (llama.cpp's
# LLaVA converter drops the last one) and has no feature_layer key, so both stored blocks run:
# HF's hidden_states[-2]. Legacy tensor layout (fc1 stored as ffn_down), as real LLaVA-1.5 mmproj
# files from llava_surgery + convert_image_encoder_to_gguf.py have it.
CLIP_SPEC = dict(seed=31, S=32, ps=8, D=32, n_head=4, F=64, n_hidden=3, stored=2, feature_layers=None,
                 act="quick_gelu", proj="mlp", d_llm=64, layout="legacy", mat=GW.GGML_F32)
# Decoder: llama, dim 64, 2 layers, 4 heads, 2 kv heads, FFN 32 (narrow, to keep the files small),
# make_llama_fixtures' 320-token SPM vocab, output tied to token_embd (no output.weight; this also
# keeps the files small). Scales as make_llama_fixtures' tied model (matrices 0.2, embeddings 0.25).
LLM_SPEC = dict(cfg=dict(dim=64, n_layers=2, n_head=4, n_kv=2, ffn=32, theta=1e4, eps=1e-5),
                tied=True, mat=0.2, out=None, emb=0.25)
LLM_SEED = 37               # chosen with --search (see README-llava.md)
PIXEL_SEED = 4242
PROMPT_SEED = 20240607
N_CHUNK_A, N_CHUNK_B = 5, 6

VARIANTS = [("pair-f32", GW.GGML_F32), ("pair-f16", GW.GGML_F16)]


def make_pixels():
    """A normalised (3, S, S) image, uniform over CLIP's normalised range [-1.79, 2.15]."""
    rng = np.random.default_rng(PIXEL_SEED)
    S = CLIP_SPEC["S"]
    return rng.uniform(-1.79, 2.15, size=(3, S, S)).astype(np.float32)


def make_chunks():
    """Chunk A: BOS then 4 ids; chunk B: 6 ids; ids drawn from the normal pieces and byte tokens
    (3..319), as make_llama_fixtures' prompts."""
    rng = np.random.default_rng(PROMPT_SEED)
    a = [1] + [int(t) for t in rng.integers(3, ML.N_VOCAB, size=N_CHUNK_A - 1)]
    b = [int(t) for t in rng.integers(3, ML.N_VOCAB, size=N_CHUNK_B)]
    return a, b


CHUNK_A, CHUNK_B = make_chunks()


def build_pair(name, mat_type, llm_seed):
    """GGUF bytes of both files, every 2-D matrix of both in mat_type (F16: as make_clip_fixtures'
    F16 variant, i.e. also the patch kernel, position table and class embedding; as
    make_llama_fixtures' F16 variant, i.e. also token_embd). Norms and biases F32."""
    cfg = ML.make_config(LLM_SPEC)
    w_llm = ML.random_weights(cfg, LLM_SPEC, llm_seed)
    llm_bytes, rt_hf = ML.build_gguf(name, cfg, w_llm, mat_type)
    w_clip = MC.random_weights(CLIP_SPEC)
    mm_bytes = MC.build_gguf(name, CLIP_SPEC, w_clip, f16=(mat_type == GW.GGML_F16))
    return cfg, llm_bytes, rt_hf, mm_bytes, w_clip


# ---------------------------------------------------------------------------------------------
# the pipeline reference


def splice(cfg, w, rows):
    """Weights and a way to name the image rows as tokens: token_embd is extended by the rows
    (ids V .. V+n-1) and the output head is pinned to the original table, so llama_ref's forward,
    greedy and KV decoder run the LLaVA sequence unchanged: position p holds the embedding of
    chunk A's ids, then the projector rows in order, then chunk B's ids."""
    ext = dict(w)
    ext["output"] = R.lm_head(w)
    ext["tok_embd"] = np.concatenate([w["tok_embd"], rows], axis=0)
    ids = CHUNK_A + [cfg.n_vocab + i for i in range(rows.shape[0])] + CHUNK_B
    return ext, ids


def run_pipeline(llm_bytes, mm_bytes, pixels):
    """The reference on the files' decoded weights (read back with gguf_reader): CLIP -> projector
    rows, spliced at the marker; logits at every position; greedy ids with full recompute."""
    g_mm = GGUFFile("mmproj.gguf", data=mm_bytes)
    hs, feats, rows = C.run_mmproj(g_mm, pixels)                     # rows (n_img, 64)
    cfg, w_file = R.load_gguf_llama(GGUFFile("model.gguf", data=llm_bytes))
    w_hf = R.weights_to_hf(cfg, w_file)
    ext, ids = splice(cfg, w_hf, rows)
    logits = R.forward(cfg, ext, ids, "half")                        # (T, V)
    greedy, margins = R.greedy(cfg, ext, ids, N_GEN, "half")
    return {"cfg": cfg, "w_file": w_file, "w_hf": w_hf, "g_mm": g_mm, "hs": hs, "feats": feats,
            "rows": rows, "ids": ids, "logits": logits, "greedy": greedy, "margins": margins}


def greedy_ok(r):
    """Usable as a CLI check too: no <unk>/<s>/</s> (the CLI stops at </s>), not stuck on one token
    (>= 8 distinct ids, >= 3 distinct in the last 8)."""
    g = r["greedy"]
    return min(g) > 2 and len(set(g)) >= 8 and len(set(g[-8:])) >= 3


# ---------------------------------------------------------------------------------------------
# self-checks (a failure raises)


def self_checks(r, rt_hf, w_clip, pixels, f32):
    cfg, ext_ids = r["cfg"], r["ids"]
    c = {}
    # the decoder read back with gguf_reader equals what gguf_writer encoded
    a, b = ML.flat_weights(r["w_hf"]), ML.flat_weights(rt_hf)
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    c["llm_readback_bit_exact"] = True
    if f32:   # the mmproj reader gives back the drawn weights (layout rules), conv and attention loops
        MC.check_loader_roundtrip(CLIP_SPEC, w_clip, r["g_mm"])
        p, _, _ = C.load_mmproj(r["g_mm"])
        MC.check_patch_conv(p, pixels)
        MC.check_attention_loop(p, r["hs"][0])
        c["mmproj_loader_roundtrip_conv_attention_loops"] = True
    assert r["rows"].shape == ((CLIP_SPEC["S"] // CLIP_SPEC["ps"]) ** 2, cfg.dim)
    # KV-cache decoder (per token, per head) vs full recompute, over prompt and greedy
    ext, _ = splice(cfg, r["w_hf"], r["rows"])
    new, plog, _ = R.greedy_kv(cfg, ext, ext_ids, N_GEN, "half")
    c["kv_cache_decode_vs_full_max_abs"] = float(np.abs(plog - r["logits"]).max())
    c["greedy_kv_cache_equals_full_recompute"] = new == r["greedy"]
    assert c["kv_cache_decode_vs_full_max_abs"] < 1e-10 and new == r["greedy"], c
    # adjacent-pair rope on the file's permuted q/k rows
    ext_f, _ = splice(cfg, r["w_file"], r["rows"])
    lp = R.forward(cfg, ext_f, ext_ids, "pairs")
    c["pairs_rope_on_gguf_layout_vs_rotate_half_max_abs"] = float(np.abs(lp - r["logits"]).max())
    assert c["pairs_rope_on_gguf_layout_vs_rotate_half_max_abs"] < 1e-10
    # causality: chunk A's rows equal a text-only forward of chunk A (the image cannot reach them)
    la = R.forward(cfg, r["w_hf"], CHUNK_A, "half")
    c["chunk_a_vs_text_only_max_abs"] = float(np.abs(la - r["logits"][:len(CHUNK_A)]).max())
    assert c["chunk_a_vs_text_only_max_abs"] < 1e-12
    # the image matters: other pixels move the rows after the marker by O(1)
    g2 = C.run_mmproj(r["g_mm"], pixels[:, ::-1, :].copy())[2]
    ext2, _ = splice(cfg, r["w_hf"], g2)
    l2 = R.forward(cfg, ext2, ext_ids, "half")
    c["other_image_logit_change_max_abs"] = float(np.abs(l2 - r["logits"])[len(CHUNK_A):].max())
    assert c["other_image_logit_change_max_abs"] > 0.1
    # the rows must be visible in the logits: zeroing the image rows also changes them
    ext0, _ = splice(cfg, r["w_hf"], np.zeros_like(r["rows"]))
    l0 = R.forward(cfg, ext0, ext_ids, "half")
    c["zero_rows_logit_change_max_abs"] = float(np.abs(l0 - r["logits"])[len(CHUNK_A):].max())
    assert c["zero_rows_logit_change_max_abs"] > 0.1
    return c


# ---------------------------------------------------------------------------------------------
# output


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def ids_line(ids):
    return " ".join(str(int(t)) for t in ids) + "\n"


def piece_bytes(tid):
    """The bytes a SentencePiece vocab renders for a token: <0xXX> -> that byte, '▁' -> ' ',
    control tokens nothing. Written from the vocab here, not from graft's detokenizer."""
    tokens, _, types = ML.VOCAB
    if types[tid] == ML.TT_BYTE:
        return bytes([int(tokens[tid][3:5], 16)])
    if types[tid] == ML.TT_NORMAL:
        return tokens[tid].replace("\u2581", " ").encode("utf-8")
    return b""


def write_variant(name, mat_type, llm_bytes, mm_bytes, pixels, r, checks, extra):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    n_img = r["rows"].shape[0]
    prompt = CHUNK_A + [-1] + CHUNK_B
    files = {
        "model.gguf": llm_bytes,
        "mmproj.gguf": mm_bytes,
        "pixels.f32": pixels.astype("<f4").tobytes(),
        "prompt.ids.txt": ids_line(prompt).encode(),
        "image_rows.f32": r["rows"].astype("<f4").tobytes(),
        "logits.f32": r["logits"].astype("<f4").tobytes(),
        "greedy.txt": ids_line(r["greedy"]).encode(),
        "greedy.text": b"".join(piece_bytes(t) for t in r["greedy"]),
    }
    for fname, data in files.items():
        with open(os.path.join(d, fname), "wb") as f:
            f.write(data)
    g_mm = r["g_mm"]
    g_llm = GGUFFile("model.gguf", data=llm_bytes)
    man = {
        "model": name,
        "generator": "tests/reference/make_llava_fixtures.py (numpy float64: clip_ref + llama_ref)",
        "matrix_type": GW.GGML_NAME[mat_type],
        "reference_weights": "the weights as decoded from model.gguf and mmproj.gguf (F16-rounded for "
                             "pair-f16), in float64",
        "vision": {k: v for k, v in CLIP_SPEC.items() if k != "mat"},
        "llm": dict(r["cfg"].as_dict(), tied_output=True, seed=LLM_SEED,
                    weight_scales={"matrices_std": LLM_SPEC["mat"], "token_embd_std": LLM_SPEC["emb"],
                                   "norms": "1 + N(0, 0.1)"},
                    vocab="make_llama_fixtures.py's SPM vocab (320 tokens), bos 1, eos 2"),
        "tensor_types": {"mmproj.gguf": {n: g_mm.type_name(n) for n in g_mm.tensor_order},
                         "model.gguf": {n: g_llm.type_name(n) for n in g_llm.tensor_order}},
        "pixel_seed": PIXEL_SEED, "prompt_seed": PROMPT_SEED,
        "chunk_a": CHUNK_A, "chunk_b": CHUNK_B, "n_image_tokens": n_img,
        "image_position": len(CHUNK_A),
        "n_positions": len(r["ids"]),
        "prompt_ids": prompt,
        "formats": {
            "pixels.f32": "float32 LE [3, %d, %d], CHW, already normalised (graft --pixels)"
                          % (CLIP_SPEC["S"], CLIP_SPEC["S"]),
            "prompt.ids.txt": "chunk A, -1 (the image: %d rows), chunk B; decimal ids separated by spaces"
                              % n_img,
            "image_rows.f32": "float32 LE [%d, %d]: the projector output" % r["rows"].shape,
            "logits.f32": "float32 LE [%d, %d]: row p predicts after positions 0..p of chunk A + "
                          "image rows + chunk B" % r["logits"].shape,
            "greedy.txt": "%d argmax ids after the sequence, full recompute per step, no EOS stop" % N_GEN,
            "greedy.text": "the bytes those ids render to (SPM pieces, '\u2581' as space, byte tokens "
                           "as bytes): what `graft --prompt-ids ... -n %d --temp 0` prints" % N_GEN},
        "files": {k: sha256(v) for k, v in sorted(files.items())},
        "bytes": {k: len(v) for k, v in sorted(files.items())},
        "max_abs_image_row": float(np.abs(r["rows"]).max()),
        "max_abs_logit": float(np.abs(r["logits"]).max()),
        "argmax_per_position": [int(t) for t in r["logits"].argmax(axis=1)],
        "greedy_ids": r["greedy"], "greedy_margins": r["margins"],
        "min_greedy_margin": float(min(r["margins"])),
        "checks": checks,
    }
    man.update(extra)
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(man, f, indent=1)
        f.write("\n")
    return man


# ---------------------------------------------------------------------------------------------


def search(first=1, count=40):
    pixels = make_pixels()
    for seed in range(first, first + count):
        stats, ok = [], True
        for name, mt in VARIANTS:
            _, llm_bytes, _, mm_bytes, _ = build_pair(name, mt, seed)
            r = run_pipeline(llm_bytes, mm_bytes, pixels)
            m = min(r["margins"])
            ok &= greedy_ok(r) and m > MIN_MARGIN
            stats.append("%s m=%.4f distinct=%d min_id=%d" % (name, m, len(set(r["greedy"])), min(r["greedy"])))
        print(seed, "ok" if ok else "--", "max|logit|=%.2f" % float(np.abs(r["logits"]).max()),
              " | ".join(stats), flush=True)


def main():
    if "--search" in sys.argv:
        search()
        return
    pixels = make_pixels()
    base = None
    summary = {}
    for name, mt in VARIANTS:
        cfg, llm_bytes, rt_hf, mm_bytes, w_clip = build_pair(name, mt, LLM_SEED)
        r = run_pipeline(llm_bytes, mm_bytes, pixels)
        assert greedy_ok(r), r["greedy"]
        assert min(r["margins"]) > MIN_MARGIN, min(r["margins"])
        checks = self_checks(r, rt_hf, w_clip, pixels, mt == GW.GGML_F32)
        extra = {}
        if base is None:
            base = r
        else:
            extra["vs_pair_f32"] = {
                "max_abs_image_row_diff": float(np.abs(r["rows"] - base["rows"]).max()),
                "max_abs_logit_diff": float(np.abs(r["logits"] - base["logits"]).max()),
                "greedy_equal": r["greedy"] == base["greedy"]}
        man = write_variant(name, mt, llm_bytes, mm_bytes, pixels, r, checks, extra)
        summary[name] = {"min_greedy_margin": man["min_greedy_margin"], "max_abs_logit": man["max_abs_logit"],
                         "max_abs_image_row": man["max_abs_image_row"], "bytes": sum(man["bytes"].values()),
                         **extra}
        print("%s: %d bytes, min margin %.4f, max|logit| %.3f, max|row| %.3f, kv %.1e, pairs %.1e, greedy %s%s"
              % (name, sum(man["bytes"].values()), man["min_greedy_margin"], man["max_abs_logit"],
                 man["max_abs_image_row"], checks["kv_cache_decode_vs_full_max_abs"],
                 checks["pairs_rope_on_gguf_layout_vs_rotate_half_max_abs"], r["greedy"],
                 "" if not extra else "  vs f32: %s" % extra["vs_pair_f32"]), flush=True)
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(OUT) for fn in fns)
    print("tests/fixtures/llava: %d bytes" % total)


if __name__ == "__main__":
    main()
