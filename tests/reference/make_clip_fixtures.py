"""Generates tests/fixtures/clip/: tiny random CLIP ViT + LLaVA projector mmproj GGUF files in
llama.cpp's layouts, an input pixel tensor each, and the float64 reference outputs (clip_ref.py).

Part of graft's reference generators; never run by `make test`. Run from the repo root:
    /usr/bin/python3 tests/reference/make_clip_fixtures.py
Deterministic: a rerun on this machine rewrites byte-identical files.
See tests/reference/README-clip.md for what each file is and the validation figures.
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
from gguf_reader import GGUFFile  # noqa: E402

REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
OUT = os.path.join(REPO, "tests", "fixtures", "clip")
SHARED = os.path.normpath(os.path.join(REPO, "..", "shared", "fixtures", "hf", "llava-tiny-b"))

CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073]
CLIP_STD = [0.26862954, 0.26130258, 0.27577711]

# n_hidden: the HF config's num_hidden_layers; stored: blocks written to the file.
# layout "new": fc1 -> ffn_up, fc2 -> ffn_down, post_ln kept (llama.cpp's newer converters);
# layout "legacy": fc1 -> ffn_down, fc2 -> ffn_up, no post_ln, num_hidden_layers - 1 blocks
# (llava_surgery + convert_image_encoder_to_gguf.py).
MODELS = {
    "a-quickgelu-mlp": dict(seed=11, S=32, ps=8, D=32, n_head=4, F=64, n_hidden=3, stored=3,
                            feature_layers=[2], act="quick_gelu", proj="mlp", d_llm=40,
                            layout="new", mat=GW.GGML_F32),
    "b-gelu-linear-legacy": dict(seed=12, S=32, ps=8, D=32, n_head=2, F=48, n_hidden=4, stored=3,
                                 feature_layers=None, act="gelu", proj="linear", d_llm=24,
                                 layout="legacy", mat=GW.GGML_F32),
}
# the a) weights stored with every matrix, the patch kernel, the position table and the class
# embedding in F16 (as the legacy converter's default output, plus the class embedding so that
# a 1-D F16 tensor is exercised); biases and norms stay F32.
F16_VARIANT = ("c-quickgelu-mlp-f16", "a-quickgelu-mlp")
PIXEL_SEED = 777
EPS = 1e-5


def random_weights(spec):
    """float32 weights in HF layout, drawn in a fixed order from one seeded generator. Scales keep
    every activation O(1), so the nonlinearities and the softmax are exercised."""
    rng = np.random.default_rng(spec["seed"])
    D, F, ps = spec["D"], spec["F"], spec["ps"]
    T = (spec["S"] // ps) ** 2 + 1

    def n(*shape, std=1.0):
        return (rng.standard_normal(shape) * std).astype(np.float32)

    def norm(k):
        return (1.0 + 0.1 * rng.standard_normal(k)).astype(np.float32)

    w = {"patch_w": n(D, 3, ps, ps, std=1.0 / np.sqrt(3 * ps * ps)), "class_emb": n(D, std=0.5),
         "pos_emb": n(T, D, std=0.5), "pre_ln_w": norm(D), "pre_ln_b": n(D, std=0.1), "layers": []}
    for _ in range(spec["n_hidden"]):
        L = {}
        for k in "qkvo":
            L[k + "_w"] = n(D, D, std=1.5 / np.sqrt(D))
            L[k + "_b"] = n(D, std=0.1)
        L.update(ln1_w=norm(D), ln1_b=n(D, std=0.1), ln2_w=norm(D), ln2_b=n(D, std=0.1),
                 fc1_w=n(F, D, std=1.0 / np.sqrt(D)), fc1_b=n(F, std=0.1),
                 fc2_w=n(D, F, std=1.0 / np.sqrt(F)), fc2_b=n(D, std=0.1))
        w["layers"].append(L)
    w["post_ln_w"], w["post_ln_b"] = norm(D), n(D, std=0.1)
    d_in = D * len(spec["feature_layers"] or [0])
    w["mm0_w"], w["mm0_b"] = n(spec["d_llm"], d_in, std=1.0 / np.sqrt(d_in)), n(spec["d_llm"], std=0.1)
    if spec["proj"] == "mlp":
        w["mm2_w"] = n(spec["d_llm"], spec["d_llm"], std=1.0 / np.sqrt(spec["d_llm"]))
        w["mm2_b"] = n(spec["d_llm"], std=0.1)
    return w


def build_gguf(name, spec, w, f16=False):
    g = GW.GGUFWriter()
    mat = GW.GGML_F16 if f16 else GW.GGML_F32
    vec16 = GW.GGML_F16 if f16 else GW.GGML_F32
    g.add_string("general.architecture", "clip")
    g.add_bool("clip.has_text_encoder", False)
    g.add_bool("clip.has_vision_encoder", True)
    g.add_bool("clip.has_llava_projector", True)
    g.add_u32("general.file_type", 1 if f16 else 0)
    g.add_string("general.name", "graft " + name)
    g.add_string("general.description", "image encoder for LLaVA")
    g.add_string("clip.projector_type", spec["proj"])
    g.add_u32("clip.vision.image_size", spec["S"])
    g.add_u32("clip.vision.patch_size", spec["ps"])
    g.add_u32("clip.vision.embedding_length", spec["D"])
    g.add_u32("clip.vision.feed_forward_length", spec["F"])
    g.add_u32("clip.vision.projection_dim", 16)   # CLIP's visual projection width: unused by LLaVA
    g.add_u32("clip.vision.attention.head_count", spec["n_head"])
    g.add_f32("clip.vision.attention.layer_norm_epsilon", EPS)
    g.add_u32("clip.vision.block_count", spec["stored"])
    if spec["feature_layers"] is not None:
        g.add_array("clip.vision.feature_layer", GW.T_INT32, spec["feature_layers"])
    g.add_array("clip.vision.image_mean", GW.T_FLOAT32, CLIP_MEAN)
    g.add_array("clip.vision.image_std", GW.T_FLOAT32, CLIP_STD)
    g.add_bool("clip.use_gelu", spec["act"] == "gelu")

    g.add_tensor("mm.0.weight", w["mm0_w"], mat)
    g.add_tensor("mm.0.bias", w["mm0_b"], GW.GGML_F32)
    if spec["proj"] == "mlp":
        g.add_tensor("mm.2.weight", w["mm2_w"], mat)
        g.add_tensor("mm.2.bias", w["mm2_b"], GW.GGML_F32)
    g.add_tensor("v.class_embd", w["class_emb"], vec16)
    g.add_tensor("v.patch_embd.weight", w["patch_w"], mat)
    g.add_tensor("v.position_embd.weight", w["pos_emb"], mat)
    g.add_tensor("v.pre_ln.weight", w["pre_ln_w"], GW.GGML_F32)
    g.add_tensor("v.pre_ln.bias", w["pre_ln_b"], GW.GGML_F32)
    legacy = spec["layout"] == "legacy"
    for i in range(spec["stored"]):
        L, b = w["layers"][i], "v.blk.%d." % i
        for k, nm in (("k", "attn_k"), ("v", "attn_v"), ("q", "attn_q"), ("o", "attn_out")):
            g.add_tensor(b + nm + ".weight", L[k + "_w"], mat)
            g.add_tensor(b + nm + ".bias", L[k + "_b"], GW.GGML_F32)
        g.add_tensor(b + "ln1.weight", L["ln1_w"], GW.GGML_F32)
        g.add_tensor(b + "ln1.bias", L["ln1_b"], GW.GGML_F32)
        fc1, fc2 = ("ffn_down", "ffn_up") if legacy else ("ffn_up", "ffn_down")
        g.add_tensor(b + fc1 + ".weight", L["fc1_w"], mat)
        g.add_tensor(b + fc1 + ".bias", L["fc1_b"], GW.GGML_F32)
        g.add_tensor(b + fc2 + ".weight", L["fc2_w"], mat)
        g.add_tensor(b + fc2 + ".bias", L["fc2_b"], GW.GGML_F32)
        g.add_tensor(b + "ln2.weight", L["ln2_w"], GW.GGML_F32)
        g.add_tensor(b + "ln2.bias", L["ln2_b"], GW.GGML_F32)
    if not legacy:
        g.add_tensor("v.post_ln.weight", w["post_ln_w"], GW.GGML_F32)
        g.add_tensor("v.post_ln.bias", w["post_ln_b"], GW.GGML_F32)
    return g.to_bytes()


def make_pixels(S):
    """A normalised (3, S, S) image: uniform over CLIP's normalised range [-1.79, 2.15]."""
    rng = np.random.default_rng(PIXEL_SEED + S)
    return rng.uniform(-1.79, 2.15, size=(3, S, S)).astype(np.float32)


# ---------------------------------------------------------------------------------------------
# self-checks (a failure raises)

def check_loader_roundtrip(spec, w, g):
    """The mmproj reader gives back exactly the generated HF weights (F32 files): the layout rules
    (legacy fc1/fc2 swap, conv kernel shape) are read the way they were written."""
    p, proj, fl = C.load_mmproj(g)
    assert fl == (spec["feature_layers"] or [spec["stored"]])
    for k in ("patch_w", "class_emb", "pos_emb", "pre_ln_w", "pre_ln_b"):
        assert np.array_equal(p[k], w[k].astype(np.float64)), k
    for i in range(spec["stored"]):
        for k, v in w["layers"][i].items():
            assert np.array_equal(p["layers"][i][k], v.astype(np.float64)), (i, k)
    assert np.array_equal(proj["w0"], w["mm0_w"].astype(np.float64))
    assert p["act"] == spec["act"] and proj["type"] == spec["proj"]


def check_patch_conv(p, pixels):
    """The einsum patch embedding vs a direct loop over one patch's kernel window."""
    W = p["patch_w"]
    D, _, ps, _ = W.shape
    g = pixels.shape[1] // ps
    emb = C.embeddings(p, pixels.astype(np.float64))
    for n in (0, g + 1, g * g - 1):
        gy, gx = divmod(n, g)
        for d in (0, D - 1):
            s = 0.0
            for c in range(3):
                for ky in range(ps):
                    for kx in range(ps):
                        s += W[d, c, ky, kx] * float(pixels[c, gy * ps + ky, gx * ps + kx])
            s += p["pos_emb"][n + 1, d]   # patch n is row n + 1: CLS is row 0
            assert abs(emb[n + 1, d] - s) < 1e-12, (n, d, emb[n + 1, d], s)


def check_attention_loop(p, x):
    """Vectorised attention vs a loop over heads and queries (another grouping of the same sums)."""
    L, H = p["layers"][0], p["n_head"]
    n, D = x.shape
    hd = D // H
    want = C.attention(L, x, H)
    q, k, v = (C.linear(x, L[a + "_w"], L[a + "_b"]) for a in "qkv")
    o = np.zeros((n, D))
    for h in range(H):
        sl = slice(h * hd, (h + 1) * hd)
        for i in range(n):
            s = np.array([np.dot(q[i, sl], k[j, sl]) / np.sqrt(hd) for j in range(n)])
            e = np.exp(s - s.max())
            o[i, sl] = (e / e.sum()) @ v[:, sl]
    got = C.linear(o, L["o_w"], L["o_b"])
    assert np.abs(got - want).max() < 1e-12


# ---------------------------------------------------------------------------------------------

def sha(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def write_fixture(name, spec, gguf_bytes, pixels, origin):
    d = os.path.join(OUT, name)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "mmproj.gguf"), "wb") as f:
        f.write(gguf_bytes)
    g = GGUFFile(os.path.join(d, "mmproj.gguf"))
    hs, feats, out = C.run_mmproj(g, pixels)          # the reference reads the file it checks
    pixels.astype("<f4").tofile(os.path.join(d, "pixels.f32"))
    np.save(os.path.join(d, "hidden_states.npy"), np.stack(hs).astype("<f4"))
    np.save(os.path.join(d, "features.npy"), feats.astype("<f4"))
    np.save(os.path.join(d, "image_features.npy"), out.astype("<f4"))
    files = ["mmproj.gguf", "pixels.f32", "hidden_states.npy", "features.npy", "image_features.npy"]
    man = {
        "origin": origin,
        "config": {k: v for k, v in spec.items() if k not in ("mat",)},
        "tensor_types": {n: g.type_name(n) for n in g.tensor_order},
        "shapes": {"pixels.f32": [3, spec["S"], spec["S"]],
                   "hidden_states.npy": list(np.stack(hs).shape),
                   "features.npy": list(feats.shape), "image_features.npy": list(out.shape)},
        "max_abs": {"hidden_states": float(np.abs(np.stack(hs)).max()),
                    "features": float(np.abs(feats).max()),
                    "image_features": float(np.abs(out).max())},
        "sha256": {f: sha(os.path.join(d, f)) for f in files},
    }
    with open(os.path.join(d, "manifest.json"), "w") as f:
        json.dump(man, f, indent=1, sort_keys=True)
        f.write("\n")
    return g, hs, feats, out


def external_validation():
    """clip_ref on the shared llava-tiny-b mmproj (legacy layout, F32) vs Hugging Face's own
    tensors: every hidden state and the projector output."""
    if not os.path.isdir(SHARED):
        print("external validation skipped: %s is absent" % SHARED)
        return None
    g = GGUFFile(os.path.join(SHARED, "gguf", "llava-tiny-b-mmproj-f32.gguf"))
    pix = np.load(os.path.join(SHARED, "ref", "pixel_values.npy"))[0]
    hs, feats, out = C.run_mmproj(g, pix)
    ref_hs = np.load(os.path.join(SHARED, "ref", "vision_hidden_states.npy"))[:, 0]
    ref_out = np.load(os.path.join(SHARED, "ref", "image_features.npy"))[0]
    res = {"hidden_state_%d_max_abs_diff" % k: float(np.abs(hs[k] - ref_hs[k]).max())
           for k in range(len(hs))}
    res["image_features_max_abs_diff"] = float(np.abs(out - ref_out).max())
    res["image_features_max_abs_ref"] = float(np.abs(ref_out).max())
    assert res["image_features_max_abs_diff"] < 1e-5, res
    return res


def main():
    results = {}
    weights = {}
    for name, spec in MODELS.items():
        w = random_weights(spec)
        weights[name] = w
        gb = build_gguf(name, spec, w)
        pixels = make_pixels(spec["S"])
        g, hs, feats, out = write_fixture(name, spec, gb, pixels, "random weights, F32")
        check_loader_roundtrip(spec, w, g)
        p, _, _ = C.load_mmproj(g)
        check_patch_conv(p, pixels)
        check_attention_loop(p, hs[0])
        results[name] = {"features_max_abs": float(np.abs(feats).max()),
                         "image_features_max_abs": float(np.abs(out).max())}
    name, base = F16_VARIANT
    spec = MODELS[base]
    gb = build_gguf(name, spec, weights[base], f16=True)
    pixels = make_pixels(spec["S"])
    g, hs, feats, out = write_fixture(name, spec, gb, pixels,
                                      "the %s weights stored F16 (reference on the F16-rounded values)" % base)
    ref32 = np.load(os.path.join(OUT, base, "image_features.npy"))
    results[name] = {"image_features_max_abs_diff_vs_f32_model": float(np.abs(out - ref32).max())}
    results["external_llava_tiny_b"] = external_validation()
    with open(os.path.join(OUT, "validation.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
        f.write("\n")
    print(json.dumps(results, indent=1, sort_keys=True))
    total = sum(os.path.getsize(os.path.join(dp, fn)) for dp, _, fns in os.walk(OUT) for fn in fns)
    print("tests/fixtures/clip: %d bytes" % total)


if __name__ == "__main__":
    main()
