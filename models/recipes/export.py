"""export.py - writes a trained variant as llama.cpp-layout GGUF files (model.gguf: llama decoder +
SentencePiece vocabulary; mmproj.gguf: CLIP ViT + projector, legacy LLaVA-1.5 layout) and checks
them with graft.

    /usr/bin/python3 models/recipes/export.py VARIANT GRAFT_BINARY [--out DIR] [--no-verify]

Types: every matrix F16 (token_embd, attention and FFN matrices, the patch kernel, the position
table, projector matrices); norms, biases and the class embedding F32. The output is tied to
token_embd (no output.weight). Q and K rows are permuted to llama.cpp's adjacent-pair RoPE
order, as convert_hf_to_gguf.py does.

Checks (unless --no-verify):
- graft tokenize on prompt pieces = the ids the recipe trained on;
- for 4 held-out images and 3 prompts each: graft's greedy output (`graft -m model.gguf --mmproj
  mmproj.gguf --image IMG -p PROMPT --temp 0`) = the PyTorch model's greedy output with the
  F16-rounded weights (same text).
pool2_mlp is graft's projector of that name (src/projector.c, docs/projectors.md), checked here
like the others.
"""

import argparse
import json
import os
import subprocess
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import common as C  # noqa: E402
import llava as LV  # noqa: E402
import llm as LM  # noqa: E402
import vit as V  # noqa: E402

sys.path.insert(0, os.path.join(C.REPO, "tests", "reference"))
import gguf_writer as GW  # noqa: E402

F16, F32 = GW.GGML_F16, GW.GGML_F32
GRAFT_TYPES = ("linear", "mlp", "pool2_mlp")  # projector types graft's registry has (src/projector.c)


def permute_qk(w, n_heads):
    """HF rows -> llama.cpp rows: per head, new row 2i+a = old row a*hd/2 + i."""
    n_out, n_in = w.shape
    hd = n_out // n_heads
    return w.reshape(n_heads, 2, hd // 2, n_in).swapaxes(1, 2).reshape(n_out, n_in)


def np32(t):
    return t.detach().float().numpy().astype(np.float32)


def build_llm(name, sd, cfg, vocab_json):
    g = GW.GGUFWriter()
    g.add_string("general.architecture", "llama")
    g.add_string("general.name", name)
    g.add_u32("general.file_type", 1)
    g.add_u32("llama.context_length", cfg["n_ctx"])
    g.add_u32("llama.embedding_length", cfg["dim"])
    g.add_u32("llama.block_count", cfg["n_layers"])
    g.add_u32("llama.feed_forward_length", cfg["ffn"])
    g.add_u32("llama.attention.head_count", cfg["n_head"])
    g.add_u32("llama.attention.head_count_kv", cfg["n_head"])
    g.add_f32("llama.rope.freq_base", cfg["theta"])
    g.add_u32("llama.rope.dimension_count", cfg["dim"] // cfg["n_head"])
    g.add_f32("llama.attention.layer_norm_rms_epsilon", cfg["eps"])
    g.add_u32("llama.vocab_size", len(vocab_json["tokens"]))
    g.add_string("tokenizer.ggml.model", "llama")
    g.add_array("tokenizer.ggml.tokens", GW.T_STRING, vocab_json["tokens"])
    g.add_array("tokenizer.ggml.scores", GW.T_FLOAT32, vocab_json["scores"])
    g.add_array("tokenizer.ggml.token_type", GW.T_INT32, vocab_json["types"])
    g.add_u32("tokenizer.ggml.bos_token_id", vocab_json["bos"])
    g.add_u32("tokenizer.ggml.eos_token_id", vocab_json["eos"])
    g.add_u32("tokenizer.ggml.unknown_token_id", vocab_json["unk"])
    g.add_bool("tokenizer.ggml.add_bos_token", True)
    g.add_bool("tokenizer.ggml.add_eos_token", False)
    H = cfg["n_head"]
    g.add_tensor("token_embd.weight", np32(sd["tok.weight"]), F16)
    for i in range(cfg["n_layers"]):
        p, q = "blk.%d." % i, "layers.%d." % i
        g.add_tensor(p + "attn_norm.weight", np32(sd[q + "attn_norm.weight"]), F32)
        g.add_tensor(p + "attn_q.weight", permute_qk(np32(sd[q + "wq.weight"]), H), F16)
        g.add_tensor(p + "attn_k.weight", permute_qk(np32(sd[q + "wk.weight"]), H), F16)
        g.add_tensor(p + "attn_v.weight", np32(sd[q + "wv.weight"]), F16)
        g.add_tensor(p + "attn_output.weight", np32(sd[q + "wo.weight"]), F16)
        g.add_tensor(p + "ffn_norm.weight", np32(sd[q + "ffn_norm.weight"]), F32)
        g.add_tensor(p + "ffn_gate.weight", np32(sd[q + "w_gate.weight"]), F16)
        g.add_tensor(p + "ffn_up.weight", np32(sd[q + "w_up.weight"]), F16)
        g.add_tensor(p + "ffn_down.weight", np32(sd[q + "w_down.weight"]), F16)
    g.add_tensor("output_norm.weight", np32(sd["norm.weight"]), F32)
    return g.to_bytes()


_VIT_TOP = [("class_emb", "v.class_embd", F32), ("patch.weight", "v.patch_embd.weight", F16),
            ("pos", "v.position_embd.weight", F16), ("pre_ln.weight", "v.pre_ln.weight", F32),
            ("pre_ln.bias", "v.pre_ln.bias", F32)]
# per block, in file order; legacy LLaVA-1.5 naming (llava_surgery +
# convert_image_encoder_to_gguf.py): fc1 is stored as ffn_down, fc2 as ffn_up
_VIT_BLOCK = [(t + "." + wb, n + "." + wb, F16 if wb == "weight" else F32)
              for t, n in (("k", "attn_k"), ("v", "attn_v"), ("q", "attn_q"), ("o", "attn_out"))
              for wb in ("weight", "bias")]
_VIT_BLOCK += [("ln1.weight", "ln1.weight", F32), ("ln1.bias", "ln1.bias", F32),
               ("fc1.weight", "ffn_down.weight", F16), ("fc1.bias", "ffn_down.bias", F32),
               ("fc2.weight", "ffn_up.weight", F16), ("fc2.bias", "ffn_up.bias", F32),
               ("ln2.weight", "ln2.weight", F32), ("ln2.bias", "ln2.bias", F32)]


def vit_tensors(n_layers):
    """(vit.ViT state name, GGUF name, stored type) of every tower tensor, in file order."""
    out = list(_VIT_TOP)
    for i in range(n_layers):
        out += [("blocks.%d.%s" % (i, t), "v.blk.%d.%s" % (i, n), ty) for t, n, ty in _VIT_BLOCK]
    return out


def build_mmproj(name, vsd, vcfg, psd, kind):
    g = GW.GGUFWriter()
    D = vcfg["dim"]
    g.add_string("general.architecture", "clip")
    g.add_bool("clip.has_text_encoder", False)
    g.add_bool("clip.has_vision_encoder", True)
    g.add_bool("clip.has_llava_projector", True)
    g.add_u32("general.file_type", 1)
    g.add_string("general.name", name)
    g.add_string("general.description", "image encoder for LLaVA")
    g.add_string("clip.projector_type", kind)
    g.add_u32("clip.vision.image_size", vcfg["image_size"])
    g.add_u32("clip.vision.patch_size", vcfg["patch"])
    g.add_u32("clip.vision.embedding_length", D)
    g.add_u32("clip.vision.feed_forward_length", vcfg["ffn"])
    g.add_u32("clip.vision.projection_dim", D)         # CLIP's own projection: unused by LLaVA
    g.add_u32("clip.vision.attention.head_count", vcfg["n_head"])
    g.add_f32("clip.vision.attention.layer_norm_epsilon", vcfg["eps"])
    g.add_u32("clip.vision.block_count", vcfg["n_layers"])
    g.add_array("clip.vision.image_mean", GW.T_FLOAT32, V.IMAGE_MEAN)
    g.add_array("clip.vision.image_std", GW.T_FLOAT32, V.IMAGE_STD)
    g.add_bool("clip.use_gelu", False)                  # quick_gelu
    g.add_tensor("mm.0.weight", np32(psd["mm0.weight"]), F16)
    g.add_tensor("mm.0.bias", np32(psd["mm0.bias"]), F32)
    if kind != "linear":
        g.add_tensor("mm.2.weight", np32(psd["mm2.weight"]), F16)
        g.add_tensor("mm.2.bias", np32(psd["mm2.bias"]), F32)
    for t, n, ty in vit_tensors(vcfg["n_layers"]):
        g.add_tensor(n, np32(vsd[t]), ty)
    return g.to_bytes()


def f16_rounded(sd):
    """The weights as graft reads them: every 2-D (and the 4-D conv) tensor through F16."""
    return {k: (v.half().float() if v.dim() >= 2 else v.clone()) for k, v in sd.items()}


def torch_model(variant, vck, ck):
    vit = V.ViT(vck["cfg"])
    vit.load_state_dict(f16_rounded(vck["state"]))
    vit.eval()
    llm = LM.Llama(ck["n_vocab"], ck["llm_cfg"])
    llm.load_state_dict(f16_rounded(ck["llm"]))
    m = LV.LlavaLM(variant, llm, vck["cfg"]["dim"])
    m.proj.load_state_dict(f16_rounded(ck["proj"]))
    m.eval()
    return vit, m


def graft_ids(graft, model, text):
    r = subprocess.run([graft, "tokenize", "-m", model, "-p", text, "--ids"], check=True,
                       capture_output=True, text=True)
    return json.loads(r.stdout)


def graft_generate(graft, model, mmproj, image, prompt, n=80):
    r = subprocess.run([graft, "-m", model, "--mmproj", mmproj, "--image", image, "-p", prompt,
                        "--temp", "0", "-n", str(n), "--no-display-prompt", "-t", "2"],
                       check=True, capture_output=True, text=True)
    return r.stdout


VERIFY_PROMPTS = [C.CAPTION_PROMPT,
                  "What color is the circle?\n" + C.SHORT_ANSWER,
                  "Describe the image."]


def verify(variant, graft, d, vck, ck, vocab, log):
    import data as D
    model, mmproj = os.path.join(d, "model.gguf"), os.path.join(d, "mmproj.gguf")
    # tokenizer: graft's ids for the trained prompt pieces
    want = C.chunk_a_ids(vocab)
    got = graft_ids(graft, model, C.CHUNK_A_TEXT)
    assert got == want, ("chunk A", got, want)
    for u in VERIFY_PROMPTS + ["Is there an orange cross in the image?\n" + C.SHORT_ANSWER]:
        got = graft_ids(graft, model, "\n" + u + " ASSISTANT:")
        assert got[0] == vocab.bos and got[1:] == vocab.encode("\n" + u + " ASSISTANT:", True), (u, got)
    log("tokenizer: graft's ids = the recipe's ids")
    if variant not in GRAFT_TYPES:
        log("graft has no '%s' projector yet: graft-vs-PyTorch greedy check skipped" % variant)
        return None
    test = D.World(D.TEST_SEED)
    vit, m = torch_model(variant, vck, ck)
    chunk_a = torch.tensor(C.chunk_a_ids(vocab))
    # logits at every prompt position: graft --logits-out vs PyTorch (F16-rounded weights, f32)
    img = os.path.join(test.dir, test.scenes[0]["image"])
    lpath = os.path.join(d, "logits.tmp")
    subprocess.run([graft, "-m", model, "--mmproj", mmproj, "--image", img, "-p", C.CAPTION_PROMPT,
                    "--temp", "0", "-n", "1", "--logits-out", lpath, "-ctk", "f32"],
                   check=True, capture_output=True)
    gl = np.fromfile(lpath, "<f4").reshape(-1, m.llm.n_vocab)
    os.remove(lpath)
    with torch.no_grad():
        f = vit(V.normalise(test.images[0:1]))
        rest = torch.tensor([C.prompt_after_image(vocab, C.CAPTION_PROMPT)])
        rows = m.proj(f)
        x = torch.cat([m.llm.tok(chunk_a)[None], rows, m.llm.tok(rest)], dim=1)
        tl = m.llm.forward_embeds(x)[0].numpy()
    assert tl.shape == gl.shape, (tl.shape, gl.shape)
    err = float(np.abs(tl - gl).max())
    log("prompt logits (%d positions): max |graft - torch| = %.3g, max |logit| = %.3g"
        % (tl.shape[0], err, float(np.abs(tl).max())))
    n_same = n_all = 0
    for i in range(4):
        img = os.path.join(test.dir, test.scenes[i]["image"])
        with torch.no_grad():
            f = vit(V.normalise(test.images[i:i + 1]))
        for p in VERIFY_PROMPTS:
            g = m.greedy(chunk_a, f, C.prompt_after_image(vocab, p), vocab.eos, n=80)
            pt = vocab.decode([t for t in g if t != vocab.eos])
            gr = graft_generate(graft, model, mmproj, img, p)
            same = pt.strip() == gr.strip()
            n_same += same
            n_all += 1
            log("%s img %d %-40r torch=%r graft=%r %s" % (variant, i, p[:40], pt.strip(), gr.strip(),
                                                          "SAME" if same else "DIFFERENT"))
    return n_same, n_all


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("variant", choices=LV.VARIANTS)
    ap.add_argument("graft")
    ap.add_argument("--out", default=None)
    ap.add_argument("--no-verify", action="store_true")
    a = ap.parse_args()
    torch.set_num_threads(2)
    d = a.out or os.path.join(C.REPO, "models", "shapes-" + a.variant.replace("_", "-"))
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(C.WORK, "vocab.json")) as f:
        vj = json.load(f)
    vocab = C.SpmVocab(os.path.join(C.WORK, "vocab.json"))
    vck = torch.load(os.path.join(C.WORK, "vit.pt"))
    ck = torch.load(os.path.join(C.WORK, "llava-%s.pt" % a.variant))
    name = "graft shapes-%s" % a.variant
    llm_bytes = build_llm(name, ck["llm"], ck["llm_cfg"], vj)
    mm_bytes = build_mmproj(name, vck["state"], vck["cfg"], ck["proj"], a.variant)
    with open(os.path.join(d, "model.gguf"), "wb") as f:
        f.write(llm_bytes)
    with open(os.path.join(d, "mmproj.gguf"), "wb") as f:
        f.write(mm_bytes)
    print("%s: model.gguf %d bytes, mmproj.gguf %d bytes" % (d, len(llm_bytes), len(mm_bytes)), flush=True)
    if not a.no_verify:
        r = verify(a.variant, a.graft, d, vck, ck, vocab, lambda m: print(m, flush=True))
        if r:
            print("greedy outputs identical: %d / %d" % r, flush=True)


if __name__ == "__main__":
    main()
