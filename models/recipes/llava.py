"""llava.py - the LLaVA two-stage recipe on the pretrained ViT (vit.py) and llama (llm.py), for one
projector variant:

    nice -n 10 /usr/bin/python3 models/recipes/llava.py VARIANT [--stage1-steps N] [--stage2-steps N]

VARIANT: linear (LLaVA-1), mlp (LLaVA-1.5 mlp2x_gelu), pool2_mlp (2x2 average pooling of the 8x8
patch grid, then mlp2x_gelu: 64 -> 16 visual tokens).
- The ViT is frozen throughout: its 64 patch rows per image are computed once (WORK/feats-*.npy).
- Stage 1 (feature alignment): only the projector trains (ViT and LLM frozen), on captions: the
  prompt "Provide a one-sentence caption for the provided image." -> the canonical caption.
- Stage 2 (instruction tuning): projector + LLM, on multi-turn conversations built from each
  training scene's task samples (caption, VQA, MCQ, POPE yes/no plus extra yes/no probes for
  every scene, open turns), in graft eval's prompt format: the first turn is
  '<image>\\n' + question + task suffix; the loss is on the answers (and their </s>) only.
Sequence: BOS + system + ' USER: ' | image rows | '\\n' + turn 1 + ' ASSISTANT:' ' answer</s>'
'USER: ' turn 2 ... (common.py builds the ids exactly as graft tokenizes the prompt).
Writes WORK/llava-VARIANT.pt.
"""

import argparse
import hashlib
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
import vit as V  # noqa: E402

VARIANTS = ("linear", "mlp", "pool2_mlp")
SEED = 23
STAGE1_STEPS = 2000     # x 24 captions: 4 epochs (about 2 min here, idle)
STAGE2_STEPS = 15000    # x 12 conversations: 15 epochs (about 25 min here, idle)
COLORS = ["red", "green", "blue", "yellow", "purple", "orange", "white", "black"]
SHAPES = ["circle", "square", "triangle", "star", "diamond", "cross"]


class Projector(nn.Module):
    def __init__(self, kind, d_in, d_out):
        super().__init__()
        self.kind = kind
        self.mm0 = nn.Linear(d_in, d_out)
        if kind != "linear":
            self.mm2 = nn.Linear(d_out, d_out)

    def forward(self, f):
        """f (B, 64, d_in) patch rows in row-major grid order -> (B, n_tokens, d_out)."""
        if self.kind == "pool2_mlp":
            B, n, D = f.shape
            g = int(round(math.sqrt(n)))
            f = f.view(B, g // 2, 2, g // 2, 2, D).mean(dim=(2, 4)).reshape(B, (g // 2) ** 2, D)
        x = self.mm0(f)
        if self.kind == "linear":
            return x
        return self.mm2(F.gelu(x))       # exact erf GELU (LLaVA's nn.GELU())


class LlavaLM(nn.Module):
    def __init__(self, kind, llm, d_vit):
        super().__init__()
        self.proj = Projector(kind, d_vit, llm.c["dim"])
        self.llm = llm

    def logits(self, chunk_a, feats, rest):
        """chunk_a (La) ids, feats (B, 64, Dv), rest (B, T) ids -> logits (B, T, V) where row j
        predicts rest[:, j] (i.e. the outputs at positions La + n_img - 1 + j)."""
        B = feats.shape[0]
        rows = self.proj(feats)
        ea = self.llm.tok(chunk_a)[None].expand(B, -1, -1)
        x = torch.cat([ea, rows, self.llm.tok(rest)], dim=1)
        T0 = chunk_a.shape[0] + rows.shape[1]
        T = x.shape[1]
        cos, sin = self.llm.cos[:T], self.llm.sin[:T]
        for L in self.llm.layers:
            x = L(x, cos, sin)
        h = self.llm.norm(x[:, T0 - 1:T - 1])
        return h @ self.llm.tok.weight.t()

    @torch.no_grad()
    def greedy(self, chunk_a, feats, prompt, eos, n=64):
        """Full-recompute greedy continuation of one prompt (ids after the image)."""
        ids = list(prompt)
        out = []
        for _ in range(n):
            lg = self.logits(chunk_a, feats, torch.tensor([ids + [0]]))[0, -1]
            t = int(lg.argmax())
            out.append(t)
            if t == eos:
                break
            ids.append(t)
        return out


def article(word):
    return "an" if word[0] in "aeiou" else "a"


def extra_yesno(scene, rng, n_neg=1):
    """POPE-style probes for any scene (POPE's own files only cover 3-object scenes): one
    object of the scene, and n_neg absent colour-shape pairs (half the time sharing the colour or
    the shape of a present object)."""
    objs = [(o["color"], o["shape"]) for o in scene["objects"]]
    c, s = rng.choice(objs)
    out = [("Is there %s %s %s in the image?" % (article(c), c, s), "yes")]
    for _ in range(50 * n_neg):
        if len(out) > n_neg:
            break
        if rng.random() < 0.5:
            c2, s2 = rng.choice(objs)
            if rng.random() < 0.5:
                c2 = rng.choice(COLORS)
            else:
                s2 = rng.choice(SHAPES)
        else:
            c2, s2 = rng.choice(COLORS), rng.choice(SHAPES)
        if (c2, s2) not in objs:
            q = "Is there %s %s %s in the image?" % (article(c2), c2, s2)
            if (q, "no") not in out:
                out.append((q, "no"))
    return out


def scene_turns(world, i, rng, n_neg=1):
    """(user text, answer) pairs of scene i: every task sample (POPE questions deduplicated) plus
    extra yes/no probes."""
    turns, seen = [], set()
    for t, s in world.by_scene[i]:
        u = C.user_text(s)
        if u in seen:
            continue
        seen.add(u)
        turns.append((s["type"], u, LM.answer_of(s, rng)))
    for q, a in extra_yesno(world.scenes[i], rng, n_neg):
        u = C.user_text({"type": "yesno", "question": q})
        if u not in seen:
            seen.add(u)
            turns.append(("yesno", u, a))
    return turns


def conversation(vocab, turns, rng, max_rest=200, yesno_first=0.2):
    """rest ids and loss mask of a conversation from shuffled turns, the first in eval format;
    a caption (30%) or a yes/no probe (yesno_first) first more often than their share (the eval
    prompts are single-turn, and later yes/no turns can be read off earlier answers instead of
    the image)."""
    turns = list(turns)
    rng.shuffle(turns)
    r = rng.random()
    want = "caption" if r < 0.3 else "yesno" if r < 0.3 + yesno_first else None
    if want:
        k = next((j for j, t in enumerate(turns) if t[0] == want), 0)
        turns.insert(0, turns.pop(k))
    ids, mask = [], []
    for j, (_, u, a) in enumerate(turns):
        p = C.prompt_after_image(vocab, u) if j == 0 else C.next_turn_ids(vocab, u)
        ans = C.answer_ids(vocab, a)
        if j > 0 and len(ids) + len(p) + len(ans) > max_rest:
            break
        ids += p + ans
        mask += [0] * len(p) + [1] * len(ans)
    return ids, mask


def caption_example(vocab, world, i):
    s = [s for t, s in world.by_scene[i] if t == "caption"][0]
    p = C.prompt_after_image(vocab, C.CAPTION_PROMPT)
    ans = C.answer_ids(vocab, s["answers"][0])
    return p + ans, [0] * len(p) + [1] * len(ans)


def batch_rest(items):
    T = max(len(ids) for ids, _ in items)
    ids = torch.zeros((len(items), T), dtype=torch.long)
    m = torch.zeros((len(items), T), dtype=torch.bool)
    for k, (a, b) in enumerate(items):
        ids[k, :len(a)] = torch.tensor(a)
        m[k, :len(b)] = torch.tensor(b, dtype=torch.bool)
    return ids, m


def features(vit, images, batch=200):
    out = []
    with torch.no_grad():
        for b in range(0, len(images), batch):
            out.append(vit(V.normalise(images[b:b + batch])).numpy())
    return np.concatenate(out)


def cached_features(world, vit_state):
    """The frozen ViT's rows of every image of a world, cached per world and per ViT checkpoint."""
    h = hashlib.sha256()
    for k, v in vit_state.items():
        h.update(k.encode())
        h.update(v.detach().numpy().tobytes())
    path = os.path.join(C.WORK, "feats-%d-%s.npy" % (world.seed, h.hexdigest()[:12]))
    if os.path.exists(path):
        return np.load(path)
    vit = V.ViT()
    vit.load_state_dict(vit_state)
    vit.eval()
    f = features(vit, world.images)
    np.save(path, f)
    return f


def run_stage(name, model, params, make_batch, n_items, budget, lr, batch, log):
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=0.0, betas=(0.9, 0.98))
    t0 = budget.t0
    step, losses = 0, []
    order = list(range(n_items))
    epoch = 0
    while True:
        random.shuffle(order)
        for b in range(0, len(order) - batch + 1, batch):
            if budget.done(step):
                return losses, budget.wall(), step, epoch
            frac = budget.frac(step)
            for g in opt.param_groups:
                g["lr"] = lr * min(1.0, (step + 1) / 20) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
            feats, rest, mask = make_batch(order[b:b + batch])
            lg = model.logits(model.chunk_a, feats, rest)
            loss = LM.lm_loss(lg, rest, mask)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            losses.append(float(loss))
            if step % 25 == 0:
                log("%s step %d epoch %d loss %.4f (%.0f s)" % (name, step, epoch, sum(losses[-25:]) / len(losses[-25:]),
                                                             time.time() - t0))
            step += 1
        epoch += 1


def main():
    import data as D
    ap = argparse.ArgumentParser()
    ap.add_argument("variant", choices=VARIANTS)
    ap.add_argument("--stage1-steps", type=int, default=None, help="default %d" % STAGE1_STEPS)
    ap.add_argument("--stage2-steps", type=int, default=None, help="default %d" % STAGE2_STEPS)
    ap.add_argument("--stage1-min", type=float, default=None, help="instead of steps: as many as fit")
    ap.add_argument("--stage2-min", type=float, default=None)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch1", type=int, default=24)
    ap.add_argument("--batch2", type=int, default=12)
    ap.add_argument("--yesno-first", type=float, default=0.2,
                    help="share of stage-2 conversations that open with a yes/no probe")
    ap.add_argument("--extra-no", type=int, default=1, help="extra absent-object probes per scene")
    ap.add_argument("--resume", action="store_true",
                    help="continue stage 2 from WORK/llava-VARIANT.pt (no stage 1; times and losses add up)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(SEED)
    random.seed(SEED)
    rng = random.Random(SEED)

    def log(m):
        print(m, flush=True)

    vocab = C.SpmVocab(os.path.join(C.WORK, "vocab.json"))
    world = D.World(D.TRAIN_SEED)
    vck = torch.load(os.path.join(C.WORK, "vit.pt"))
    lck = torch.load(os.path.join(C.WORK, "llm.pt"))
    t0 = time.time()
    feats = torch.from_numpy(cached_features(world, vck["state"]))
    log("features %s (%.0f s)" % (tuple(feats.shape), time.time() - t0))
    llm = LM.Llama(lck["n_vocab"], lck["cfg"])
    llm.load_state_dict(lck["state"])
    model = LlavaLM(a.variant, llm, vck["cfg"]["dim"])
    model.chunk_a = torch.tensor(C.chunk_a_ids(vocab))
    times, losses = {}, {}
    ck_path = os.path.join(C.WORK, "llava-%s.pt" % a.variant)
    prev = None
    if a.resume:
        prev = torch.load(ck_path)
        model.proj.load_state_dict(prev["proj"])
        model.llm.load_state_dict(prev["llm"])
        times, losses = prev["times"], prev["losses"]
        s1 = prev["steps"]["stage1"][0]
        rng.seed(SEED + 1000 + len(losses["stage2"]))
        random.seed(SEED + 1000 + len(losses["stage2"]))
    else:
        # stage 1: projector only
        for p in model.llm.parameters():
            p.requires_grad_(False)
        caps = [caption_example(vocab, world, i) for i in range(len(world))]

        def batch1(idx):
            rest, mask = batch_rest([caps[i] for i in idx])
            return feats[idx], rest, mask

        l1, w1, s1, e1 = run_stage("stage1", model, list(model.proj.parameters()), batch1, len(world),
                                   C.Budget(a.stage1_steps or (None if a.stage1_min else STAGE1_STEPS),
                                            a.stage1_min), 2e-3, a.batch1, log)
        times["stage1"], losses["stage1"] = w1, l1
        log("stage 1 done: %d steps, loss %.4f, %.0f s" % (s1, sum(l1[-25:]) / len(l1[-25:]), w1))

    # stage 2: projector + LLM
    for p in model.llm.parameters():
        p.requires_grad_(True)
    turns = [scene_turns(world, i, rng, a.extra_no) for i in range(len(world))]

    def batch2(idx):
        rest, mask = batch_rest([conversation(vocab, turns[i], rng, yesno_first=a.yesno_first) for i in idx])
        return feats[idx], rest, mask

    l2, w2, s2, e2 = run_stage("stage2", model, list(model.parameters()), batch2, len(world),
                               C.Budget(a.stage2_steps or (None if a.stage2_min else STAGE2_STEPS),
                                        a.stage2_min), 1.5e-3 if a.resume else 3e-3, a.batch2, log)
    if prev:      # a second cosine cycle at half the peak rate
        times["stage2_runs"] = prev["times"].get("stage2_runs", [prev["times"]["stage2"]]) + [w2]
        w2 += prev["times"]["stage2"]
        l2 = prev["losses"]["stage2"] + l2
        s2 += prev["steps"]["stage2"][0]
    times["stage2"], losses["stage2"] = w2, l2
    log("stage 2 done: %d steps, loss %.4f, %.0f s" % (s2, sum(l2[-25:]) / len(l2[-25:]), w2))
    torch.save({"variant": a.variant, "proj": model.proj.state_dict(), "llm": model.llm.state_dict(),
                "llm_cfg": model.llm.c, "n_vocab": model.llm.n_vocab, "times": times, "losses": losses,
                "steps": {"stage1": [s1, a.batch1], "stage2": [s2, a.batch2]}},
               ck_path)

    # quick held-out look (PyTorch, a few images)
    test = D.World(D.TEST_SEED)
    tf = torch.from_numpy(cached_features(test, vck["state"]))
    model.eval()
    for i in range(3):
        g = model.greedy(model.chunk_a, tf[i:i + 1], C.prompt_after_image(vocab, C.CAPTION_PROMPT), vocab.eos)
        log("test %d caption: %s | truth: %s" % (i, vocab.decode(g), [s for t, s in test.by_scene[i] if t == "caption"][0]["answers"][0]))


if __name__ == "__main__":
    main()
