"""vit.py - the CLIP-style vision tower (Hugging Face CLIPVisionModel's layout: patch conv without
bias, class token, learned positions, pre_layrnorm, pre-LN blocks with quick_gelu, q/k/v/out and
fc1/fc2 with biases) on 64x64 images, patch 8 -> 64 patches, and its pretraining by captioning.

    nice -n 10 /usr/bin/python3 models/recipes/vit.py [--steps N | --minutes M]

LLaVA reads hidden_states[-1] here (the output of the last block, CLS row dropped, no post
layernorm); the mmproj stores every block and no feature_layer key, so graft runs them all and
reads the same rows. Pretraining: the ViT's 64 patch rows, through a linear map, prefix a small
llama decoder (2 layers, width 64) that is trained with the ViT to generate the scene's canonical
caption (every object with size, colour, shape and place). The decoder is thrown away.
Writes WORK/vit.pt.
"""

import argparse
import math
import os
import random
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
import llm as LM  # noqa: E402

VIT_CFG = dict(image_size=64, patch=8, dim=64, n_layers=4, n_head=2, ffn=256, eps=1e-5)
IMAGE_MEAN = [0.5, 0.5, 0.5]
IMAGE_STD = [0.25, 0.25, 0.25]
DEC_CFG = dict(dim=64, n_layers=2, n_head=2, ffn=192, theta=10000.0, eps=1e-5, n_ctx=160)
SEED = 11
STEPS = 7000        # x 48 images: 28 epochs of the 12000 training scenes (about 19 min here, idle)


def quick_gelu(x):
    return x * torch.sigmoid(1.702 * x)


class VBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        D = c["dim"]
        self.H = c["n_head"]
        self.ln1 = nn.LayerNorm(D, eps=c["eps"])
        self.q = nn.Linear(D, D)
        self.k = nn.Linear(D, D)
        self.v = nn.Linear(D, D)
        self.o = nn.Linear(D, D)
        self.ln2 = nn.LayerNorm(D, eps=c["eps"])
        self.fc1 = nn.Linear(D, c["ffn"])
        self.fc2 = nn.Linear(c["ffn"], D)

    def forward(self, x):
        B, T, D = x.shape
        hd = D // self.H
        h = self.ln1(x)
        q = self.q(h).view(B, T, self.H, hd).transpose(1, 2)
        k = self.k(h).view(B, T, self.H, hd).transpose(1, 2)
        v = self.v(h).view(B, T, self.H, hd).transpose(1, 2)
        o = LM.attention(q, k, v, causal=False)
        x = x + self.o(o.transpose(1, 2).reshape(B, T, D))
        return x + self.fc2(quick_gelu(self.fc1(self.ln2(x))))


class ViT(nn.Module):
    def __init__(self, c=VIT_CFG):
        super().__init__()
        self.c = dict(c)
        D, p = c["dim"], c["patch"]
        n = (c["image_size"] // p) ** 2
        self.patch = nn.Conv2d(3, D, p, p, bias=False)
        self.class_emb = nn.Parameter(torch.randn(D) * 0.02)
        self.pos = nn.Parameter(torch.randn(n + 1, D) * 0.02)
        self.pre_ln = nn.LayerNorm(D, eps=c["eps"])
        self.blocks = nn.ModuleList([VBlock(c) for _ in range(c["n_layers"])])

    def forward(self, pixels):
        """pixels (B, 3, S, S) normalised -> (B, n_patches, D): last block, CLS dropped."""
        x = self.patch(pixels).flatten(2).transpose(1, 2)                # (B, n, D) row-major grid
        x = torch.cat([self.class_emb.expand(x.shape[0], 1, -1), x], dim=1) + self.pos
        x = self.pre_ln(x)
        for b in self.blocks:
            x = b(x)
        return x[:, 1:]


def normalise(u8):
    """(B, S, S, 3) uint8 -> (B, 3, S, S) float32 as graft: float32(u8 * (1/255)), (x - mean) / std."""
    x = torch.from_numpy((u8.astype(np.float64) * (1.0 / 255.0)).astype(np.float32))
    mean = torch.tensor(IMAGE_MEAN, dtype=torch.float32)
    std = torch.tensor(IMAGE_STD, dtype=torch.float32)
    return ((x - mean) / std).permute(0, 3, 1, 2).contiguous()


class Captioner(nn.Module):
    """ViT rows -> linear -> a small llama decoder prefix; then BOS + caption."""

    def __init__(self, n_vocab):
        super().__init__()
        self.vit = ViT()
        self.map = nn.Linear(VIT_CFG["dim"], DEC_CFG["dim"])
        self.dec = LM.Llama(n_vocab, DEC_CFG)
        # the auxiliary per-patch head: colour, shape and size of the object under each patch
        self.attr = nn.Linear(VIT_CFG["dim"], len(COLORS) + 1 + len(SHAPES) + 1 + len(SIZES) + 1)

    def forward(self, pixels, ids, rows=None):
        if rows is None:
            rows = self.map(self.vit(pixels))                              # (B, 64, Dd)
        x = torch.cat([rows, self.dec.tok(ids)], dim=1)
        return self.dec.forward_embeds(x)[:, rows.shape[1]:]              # logits at text positions

    def forward_train(self, pixels, ids):
        """caption logits (B, T, V) and per-patch attribute logits (B, 64, n_attr) of one pass."""
        f = self.vit(pixels)                                               # (B, 64, D)
        return self(None, ids, self.map(f)), self.attr(f)


    @torch.no_grad()
    def greedy(self, pixels, bos, eos, n=48):
        ids = torch.full((pixels.shape[0], 1), bos, dtype=torch.long)
        rows = self.map(self.vit(pixels))
        for _ in range(n):
            nxt = self(None, ids, rows)[:, -1].argmax(-1, keepdim=True)
            ids = torch.cat([ids, nxt], dim=1)
            if bool((ids == eos).any(dim=1).all()):
                break
        return ids[:, 1:]


def attr_loss(logits, labels):
    """mean cross-entropy of the three per-patch heads (colour, shape, size)."""
    nc, ns = len(COLORS) + 1, len(SHAPES) + 1
    parts = (logits[..., :nc], logits[..., nc:nc + ns], logits[..., nc + ns:])
    return sum(F.cross_entropy(z.reshape(-1, z.shape[-1]), labels[..., k].reshape(-1))
               for k, z in enumerate(parts)) / 3


COLORS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
SHAPES = ["circle", "square", "triangle", "star", "diamond", "cross"]
SIZES = ["small", "large"]


def patch_labels(world, min_pixels=3):
    """(N, n_patches, 3) int64: per patch (row-major grid) the colour, shape and size index of the
    object covering most of its pixels, or the 'none' class (len(COLORS), len(SHAPES), len(SIZES))
    when fewer than min_pixels of it are shape pixels. A shape pixel is one that is not the gray
    background; it belongs to the nearest object centre (objects sit in distinct grid cells)."""
    p, S = VIT_CFG["patch"], VIT_CFG["image_size"]
    g = S // p
    yy, xx = np.mgrid[0:S, 0:S]
    out = np.zeros((len(world), g * g, 3), np.int64)
    none = np.array([len(COLORS), len(SHAPES), len(SIZES)])
    for i, sc in enumerate(world.scenes):
        fg = np.any(world.images[i] != 128, axis=-1)                       # (S, S)
        objs = sc["objects"]
        d = np.stack([(xx - o["x"]) ** 2 + (yy - o["y"]) ** 2 for o in objs])
        owner = np.where(fg, d.argmin(0), -1)                              # (S, S) object index or -1
        blocks = owner.reshape(g, p, g, p).transpose(0, 2, 1, 3).reshape(g * g, p * p)
        counts = np.stack([(blocks == k).sum(1) for k in range(len(objs))], 1)  # (g*g, n_obj)
        best = counts.argmax(1)
        for j in range(g * g):
            if counts[j, best[j]] < min_pixels:
                out[i, j] = none
            else:
                o = objs[best[j]]
                out[i, j] = (COLORS.index(o["color"]), SHAPES.index(o["shape"]), SIZES.index(o["size"]))
    return out


def caption_hits(text, scene):
    """objects whose '<color> <shape>' appears in text."""
    return sum(("%s %s" % (o["color"], o["shape"])) in text for o in scene["objects"]), len(scene["objects"])


def main():
    import data as D
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=None, help="training steps (default %d)" % STEPS)
    ap.add_argument("--minutes", type=float, default=None, help="instead of --steps: as many as fit")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=48)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--aux-weight", type=float, default=1.0, help="weight of the per-patch attribute loss (0: captioning only)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(SEED)
    random.seed(SEED)
    vocab = C.SpmVocab(os.path.join(C.WORK, "vocab.json"))
    world = D.World(D.TRAIN_SEED)
    test = D.World(D.TEST_SEED)
    caps = []
    for i in range(len(world)):
        s = [s for t, s in world.by_scene[i] if t == "caption"][0]
        caps.append([vocab.bos] + vocab.encode(s["answers"][0], True) + [vocab.eos])
    model = Captioner(len(vocab))
    opt = torch.optim.AdamW(model.parameters(), lr=a.lr, weight_decay=0.01, betas=(0.9, 0.98))
    budget = C.Budget(a.steps or (None if a.minutes else STEPS), a.minutes)
    t0 = budget.t0
    step, losses, aux_losses = 0, [], []
    labels = torch.from_numpy(patch_labels(world))
    order = list(range(len(world)))
    epoch = 0
    while not budget.done(step):
        random.shuffle(order)
        for b in range(0, len(order) - a.batch + 1, a.batch):
            if budget.done(step):
                break
            frac = budget.frac(step)
            for g in opt.param_groups:
                g["lr"] = a.lr * min(1.0, (step + 1) / 30) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
            idx = order[b:b + a.batch]
            pix = normalise(world.images[idx])
            ids, mask = LM.pad_batch([caps[i] for i in idx])
            logits, al = model.forward_train(pix, ids[:, :-1])
            cap_loss = LM.lm_loss(logits, ids[:, 1:], mask[:, 1:])
            aux = attr_loss(al, labels[idx])
            loss = cap_loss + a.aux_weight * aux
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(float(cap_loss))
            aux_losses.append(float(aux))
            if step % 25 == 0 or step < 5:
                print("vit step %d epoch %d caption loss %.4f patch loss %.4f (%.0f s)"
                      % (step, epoch, sum(losses[-25:]) / len(losses[-25:]),
                         sum(aux_losses[-25:]) / len(aux_losses[-25:]), time.time() - t0), flush=True)
            step += 1
        epoch += 1
    wall = time.time() - t0
    # held-out check: greedy captions of 64 test images, objects named with the right colour+shape
    model.eval()
    pix = normalise(test.images[:64])
    out = model.greedy(pix, vocab.bos, vocab.eos)
    hit = tot = 0
    for i in range(64):
        ids = out[i].tolist()
        if vocab.eos in ids:
            ids = ids[:ids.index(vocab.eos)]
        h, n = caption_hits(vocab.decode(ids), test.scenes[i])
        hit, tot = hit + h, tot + n
        if i < 3:
            print("  test %d: %s" % (i, vocab.decode(ids)), flush=True)
    print("vit pretraining: %d steps (%d images seen), loss %.4f, held-out caption objects %d/%d, %.0f s"
          % (step, step * a.batch, sum(losses[-25:]) / 25, hit, tot, wall), flush=True)
    # held-out per-patch attribute accuracy on the patches that show a shape
    with torch.no_grad():
        tl = torch.from_numpy(patch_labels(test))[:200]
        z = model.attr(model.vit(normalise(test.images[:200])))
    nc, ns = len(COLORS) + 1, len(SHAPES) + 1
    on = tl[..., 0] < len(COLORS)
    acc = [float((z[..., sl].argmax(-1) == tl[..., k])[on].float().mean())
           for k, sl in enumerate((slice(0, nc), slice(nc, nc + ns), slice(nc + ns, None)))]
    print("held-out patch attributes (%d shape patches): colour %.3f shape %.3f size %.3f"
          % (int(on.sum()), acc[0], acc[1], acc[2]), flush=True)
    torch.save({"cfg": model.vit.c, "state": model.vit.state_dict(), "losses": losses, "wall": wall,
                "aux_losses": aux_losses, "aux_weight": a.aux_weight, "heldout_patch_acc": acc,
                "steps": step, "batch": a.batch, "heldout_caption_objects": [hit, tot]},
               os.path.join(C.WORK, "vit.pt"))


if __name__ == "__main__":
    main()
