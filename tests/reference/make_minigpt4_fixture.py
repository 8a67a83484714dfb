"""make_minigpt4_fixture.py - tests/fixtures/minigpt4/: a tiny random MiniGPT-4 (Vicuna variant) as a
Blip2ForConditionalGeneration-style Hugging Face directory with graft_recipe "minigpt4" (tiny-hf/),
and the float64 reference of minigpt4_ref.py on it (ref files beside it). README-minigpt4.md says
what is checked. Needs numpy only; a rerun writes byte-identical files.

    /usr/bin/python3 tests/reference/make_minigpt4_fixture.py
"""

import os

os.environ["OPENBLAS_NUM_THREADS"] = "1"
os.environ["OMP_NUM_THREADS"] = "1"

import hashlib  # noqa: E402
import json  # noqa: E402
import sys  # noqa: E402

import numpy as np  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import make_owl_fixtures as MO  # noqa: E402  (safetensors writer)
import minigpt4_ref as M  # noqa: E402
import owl_ref as O  # noqa: E402

OUT = os.path.normpath(os.path.join(HERE, "..", "fixtures", "minigpt4"))
SEED = 4242
N_GEN = 16

VISION = dict(model_type="blip_2_vision_model", hidden_size=32, intermediate_size=64, num_hidden_layers=2,
              num_attention_heads=4, image_size=28, patch_size=14, layer_norm_eps=1e-6, qkv_bias=True,
              hidden_act="gelu")
QFORMER = dict(model_type="blip_2_qformer", hidden_size=32, intermediate_size=64, num_hidden_layers=3,
               num_attention_heads=4, cross_attention_frequency=2, encoder_hidden_size=32, layer_norm_eps=1e-12,
               hidden_act="gelu", position_embedding_type="absolute", vocab_size=30522,
               max_position_embeddings=512)
TEXT = dict(model_type="llama", architectures=["LlamaForCausalLM"], hidden_size=48, intermediate_size=96,
            num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2, rms_norm_eps=1e-6,
            rope_theta=10000.0, vocab_size=300, max_position_embeddings=256, tie_word_embeddings=False,
            bos_token_id=1, eos_token_id=2, pad_token_id=0, hidden_act="silu")
N_QUERY = 8
CONFIG = {"architectures": ["Blip2ForConditionalGeneration"], "model_type": "blip-2", "graft_recipe": "minigpt4",
          "num_query_tokens": N_QUERY, "tie_word_embeddings": False, "vision_config": VISION,
          "qformer_config": QFORMER, "text_config": TEXT}
PREPROCESSOR = {"image_processor_type": "BlipImageProcessor", "do_resize": True, "size": {"height": 28, "width": 28},
                "resample": 3, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
                "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
                "do_convert_rgb": True}


def random_weights(seed):
    """HF Blip2 names; Linear N(0,1)/sqrt(fan_in), biases 0.1 N(0,1), norm gains 1 + 0.1 N(0,1), norm biases
    0.1 N(0,1), embeddings and queries 0.5 N(0,1); the key third of each qkv.bias zero (as in the checkpoints)."""
    rng = np.random.default_rng(seed)
    sd = {}

    def lin(name, out, inp, bias=True):
        sd[name + ".weight"] = rng.standard_normal((out, inp)) / np.sqrt(inp)
        if bias:
            sd[name + ".bias"] = 0.1 * rng.standard_normal(out)

    def norm(name, d, bias=True):
        sd[name + ".weight"] = 1 + 0.1 * rng.standard_normal(d)
        if bias:
            sd[name + ".bias"] = 0.1 * rng.standard_normal(d)

    D, F, p = VISION["hidden_size"], VISION["intermediate_size"], VISION["patch_size"]
    T = (VISION["image_size"] // p) ** 2 + 1
    v = "vision_model."
    sd[v + "embeddings.patch_embedding.weight"] = rng.standard_normal((D, 3, p, p)) / np.sqrt(3 * p * p)
    sd[v + "embeddings.patch_embedding.bias"] = 0.1 * rng.standard_normal(D)
    sd[v + "embeddings.class_embedding"] = 0.5 * rng.standard_normal((1, 1, D))
    sd[v + "embeddings.position_embedding"] = 0.5 * rng.standard_normal((1, T, D))
    for i in range(VISION["num_hidden_layers"]):
        L = v + "encoder.layers.%d." % i
        norm(L + "layer_norm1", D)
        lin(L + "self_attn.qkv", 3 * D, D)
        sd[L + "self_attn.qkv.bias"][D:2 * D] = 0.0
        lin(L + "self_attn.projection", D, D)
        norm(L + "layer_norm2", D)
        lin(L + "mlp.fc1", F, D)
        lin(L + "mlp.fc2", D, F)
    norm(v + "post_layernorm", D)
    Dq, Fq = QFORMER["hidden_size"], QFORMER["intermediate_size"]
    sd["query_tokens"] = 0.5 * rng.standard_normal((1, N_QUERY, Dq))
    norm("qformer.layernorm", Dq)
    for i in range(QFORMER["num_hidden_layers"]):
        L = "qformer.encoder.layer.%d." % i
        for nm in ("query", "key", "value"):
            lin(L + "attention.attention." + nm, Dq, Dq)
        lin(L + "attention.output.dense", Dq, Dq)
        norm(L + "attention.output.LayerNorm", Dq)
        if i % QFORMER["cross_attention_frequency"] == 0:
            lin(L + "crossattention.attention.query", Dq, Dq)
            lin(L + "crossattention.attention.key", Dq, D)
            lin(L + "crossattention.attention.value", Dq, D)
            lin(L + "crossattention.output.dense", Dq, Dq)
            norm(L + "crossattention.output.LayerNorm", Dq)
        lin(L + "intermediate_query.dense", Fq, Dq)
        lin(L + "output_query.dense", Dq, Fq)
        norm(L + "output_query.LayerNorm", Dq)
    E, FF, V = TEXT["hidden_size"], TEXT["intermediate_size"], TEXT["vocab_size"]
    hd = E // TEXT["num_attention_heads"]
    K = TEXT["num_key_value_heads"] * hd
    lin("language_projection", E, Dq)                      # MiniGPT-4's llama_proj
    t = "language_model.model."
    sd[t + "embed_tokens.weight"] = 0.5 * rng.standard_normal((V, E))
    for i in range(TEXT["num_hidden_layers"]):
        L = t + "layers.%d." % i
        norm(L + "input_layernorm", E, bias=False)
        lin(L + "self_attn.q_proj", E, E, bias=False)
        lin(L + "self_attn.k_proj", K, E, bias=False)
        lin(L + "self_attn.v_proj", K, E, bias=False)
        lin(L + "self_attn.o_proj", E, E, bias=False)
        norm(L + "post_attention_layernorm", E, bias=False)
        lin(L + "mlp.gate_proj", FF, E, bias=False)
        lin(L + "mlp.up_proj", FF, E, bias=False)
        lin(L + "mlp.down_proj", E, FF, bias=False)
    norm(t + "norm", E, bias=False)
    lin("language_model.lm_head", V, E, bias=False)
    return sd


def prompt_ids(rng):
    """seg0: BOS + 6 ids (standing for "SYSTEM###Human: <Img>"), seg1: 5 ids ("</Img> question###Assistant:")."""
    seg0 = [1] + [int(x) for x in rng.integers(3, TEXT["vocab_size"], 6)]
    seg1 = [int(x) for x in rng.integers(3, TEXT["vocab_size"], 5)]
    return seg0, seg1


def run(sd, pixels, seg0, seg1, brk="none"):
    emb, qo, rows = M.encode_img(sd, CONFIG, pixels, brk)
    if brk == "rows_after_text":
        x = np.concatenate([M.context_emb(sd, seg0, rows[:0], seg1), rows], axis=0)
    elif brk == "bos_every_segment":
        x = M.context_emb(sd, seg0, rows, [1] + seg1)
    else:
        x = M.context_emb(sd, seg0, rows, seg1)
    logits = O.llama_logits(sd, TEXT, x)
    return emb, qo, rows, x, logits


def f32(a):
    return np.ascontiguousarray(a, dtype="<f4").tobytes()


def main():
    sd32 = {k: v.astype(np.float32) for k, v in random_weights(SEED).items()}
    st = MO.safetensors_bytes(sd32)
    sd = MO.read_safetensors(st)                           # the reference runs on the stored f32 values
    rng = np.random.default_rng(SEED + 1)
    S = VISION["image_size"]
    pixels = rng.uniform(-1.8, 2.1, (3, S, S)).astype(np.float32).astype(np.float64)
    seg0, seg1 = prompt_ids(rng)
    emb, qo, rows, x, logits = run(sd, pixels, seg0, seg1)
    gen, margins = O.greedy(sd, TEXT, x, N_GEN)
    scale = float(np.abs(logits).max())
    sens = {}
    for brk in ("no_ln_vision", "ln_vision_eps_1e-6", "drop_cls", "no_cross_in_last_layer", "rows_after_text",
                "bos_every_segment"):
        try:
            b = run(sd, pixels, seg0, seg1, brk)[4]
        except Exception as ex:                           # a break that cannot even run (shapes)
            sens[brk] = "fails: %s" % ex
            continue
        n = min(b.shape[0], logits.shape[0])
        sens[brk] = float(np.abs(b[:n] - logits[:n]).max() / scale)
    files = {
        "tiny-hf/config.json": (json.dumps(CONFIG, indent=2, sort_keys=True) + "\n").encode(),
        "tiny-hf/preprocessor_config.json": (json.dumps(PREPROCESSOR, indent=2, sort_keys=True) + "\n").encode(),
        "tiny-hf/model.safetensors": st,
        "ref/pixels.f32": f32(pixels),
        "ref/vision_last_hidden.f32": f32(emb),
        "ref/query_output.f32": f32(qo),
        "ref/image_rows.f32": f32(rows),
        "ref/logits.f32": f32(logits),
        "ref/prompt.ids.txt": (",".join(str(i) for i in seg0 + [-1] + seg1) + "\n").encode(),
        "ref/greedy.txt": (" ".join(str(i) for i in gen) + "\n").encode(),
    }
    manifest = {
        "seed": SEED, "shapes": {"pixels": [3, S, S], "vision_last_hidden": list(emb.shape),
                                 "query_output": list(qo.shape), "image_rows": list(rows.shape),
                                 "logits": list(logits.shape)},
        "prompt": {"seg0": seg0, "seg1": seg1, "n_positions": int(x.shape[0])},
        "greedy": gen, "greedy_min_margin": min(margins),
        "prompt_min_margin": float(min(np.sort(r)[-1] - np.sort(r)[-2] for r in logits)),
        "max_abs": {"vision_last_hidden": float(np.abs(emb).max()), "query_output": float(np.abs(qo).max()),
                    "image_rows": float(np.abs(rows).max()), "logits": scale},
        "sensitivity": {"what": "max |logits(broken) - logits| / max|logits| when one rule is broken", **sens},
    }
    files["ref/manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
    for name, data in files.items():
        path = os.path.join(OUT, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(data)
        print("%-32s %8d bytes  sha256 %s" % (name, len(data), hashlib.sha256(data).hexdigest()[:16]))
    print(json.dumps({k: manifest[k] for k in ("greedy", "greedy_min_margin", "prompt_min_margin", "sensitivity")},
                     indent=1))


if __name__ == "__main__":
    main()
