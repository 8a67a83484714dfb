"""restore.py - puts a shipped model's vocabulary and ViT back into the recipe's work folder, so a
new projector or LLM can be trained on the shipped ViT without the ViT's pretraining (vit.py,
about 26 minutes here) and with the token ids the shipped models use.

    /usr/bin/python3 models/recipes/restore.py [MODEL_DIR]     (default models/shapes-mlp)

Reads MODEL_DIR/model.gguf (tokenizer.ggml.*) and MODEL_DIR/mmproj.gguf (the CLIP tower; the
projector is ignored). Writes WORK/vocab.json (as tokenizer.py writes it) and WORK/vit.pt (as
vit.py writes it: cfg + state, without the pretraining logs). The ViT comes back with the
exported precision: its matrices are the F16-rounded ones graft runs, so features computed from
it differ from the original F32 tower's by F16 rounding (llava.py caches them under a hash of the
weights, so nothing stale is reused). Every tensor of the tower must be present and of the shape
the config implies; anything else is an error.
"""

import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common as C  # noqa: E402
import export as E  # noqa: E402
import vit as V  # noqa: E402

sys.path.insert(0, os.path.join(C.REPO, "tests", "reference"))
import gguf_reader as GR  # noqa: E402


def vit_config(g):
    m = g.meta
    return dict(image_size=m["clip.vision.image_size"], patch=m["clip.vision.patch_size"],
                dim=m["clip.vision.embedding_length"], n_layers=m["clip.vision.block_count"],
                n_head=m["clip.vision.attention.head_count"],
                ffn=m["clip.vision.feed_forward_length"],
                eps=float("%.7g" % m["clip.vision.attention.layer_norm_epsilon"]))   # f32 1e-5 -> 1e-05


def load_vit(g, path, cfg):
    """vit.ViT with the tower's tensors of GGUF g (export.vit_tensors' names, read backwards)."""
    vit = V.ViT(cfg)
    want = vit.state_dict()
    state = {}
    for t, n, _ in E.vit_tensors(cfg["n_layers"]):
        if n not in g.tensors:
            raise SystemExit("restore: %s has no tensor %s" % (path, n))
        a = g.tensor(n)
        if a.size != want[t].numel():
            raise SystemExit("restore: %s: %s has %d values, the config needs %s"
                             % (path, n, a.size, tuple(want[t].shape)))
        state[t] = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).reshape(want[t].shape)
    vit.load_state_dict(state)              # strict: every parameter
    return vit


def vocab(g, path):
    m = g.meta
    if m.get("tokenizer.ggml.model") != "llama":
        raise SystemExit("restore: %s: not a SentencePiece (llama) vocabulary" % path)
    return {"tokens": m["tokenizer.ggml.tokens"], "scores": [float(s) for s in m["tokenizer.ggml.scores"]],
            "types": m["tokenizer.ggml.token_type"], "bos": m["tokenizer.ggml.bos_token_id"],
            "eos": m["tokenizer.ggml.eos_token_id"], "unk": m["tokenizer.ggml.unknown_token_id"]}


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.join(C.REPO, "models", "shapes-mlp")
    os.makedirs(C.WORK, exist_ok=True)
    llm_path, mm_path = os.path.join(d, "model.gguf"), os.path.join(d, "mmproj.gguf")
    for p in (llm_path, mm_path):
        if not os.path.isfile(p):
            raise SystemExit("restore: %s: no such file (a shipped pair's folder holds model.gguf + mmproj.gguf)" % p)
    v = vocab(GR.GGUFFile(llm_path), llm_path)
    with open(os.path.join(C.WORK, "vocab.json"), "w") as f:
        json.dump(v, f)
    mm = GR.GGUFFile(mm_path)
    cfg = vit_config(mm)
    vit = load_vit(mm, mm_path, cfg)
    torch.save({"cfg": cfg, "state": vit.state_dict(), "restored_from": os.path.abspath(mm_path)},
               os.path.join(C.WORK, "vit.pt"))
    print("restored into %s: vocab.json (%d tokens), vit.pt (%d blocks, width %d) from %s"
          % (C.WORK, len(v["tokens"]), cfg["n_layers"], cfg["dim"], d))


if __name__ == "__main__":
    main()
