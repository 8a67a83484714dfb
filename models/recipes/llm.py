"""llm.py - the tiny llama decoder (RMSNorm, RoPE in Hugging Face's rotate_half convention, SwiGLU,
no biases, output tied to the token embeddings) and its pretraining on the world's text.

    nice -n 10 /usr/bin/python3 models/recipes/llm.py [--steps N | --minutes M]

Pretraining text (training world only): per scene, a text-only vicuna_v1 conversation of a few
of its task turns (system message, 'USER: question ASSISTANT: answer</s>', as graft renders them),
and its captions and descriptions as plain text. Loss on every token. Writes WORK/llm.pt.
"""

import argparse
import math
import os
import random
import json
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

LLM_CFG = dict(dim=64, n_layers=2, n_head=2, ffn=192, theta=10000.0, eps=1e-5, n_ctx=512)
LLM_CFG.update(json.loads(os.environ.get("GRAFT_LLM_CFG", "{}")))   # e.g. '{"n_layers": 4}' for a bigger LLM
SEED = 7
STEPS = 1500        # x 32 sequences: 2 epochs of the 24000 text sequences (about 3 min here, idle)


class RMSNorm(nn.Module):
    def __init__(self, d, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(d))
        self.eps = eps

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_tables(T, hd, theta, device=None):
    inv = 1.0 / (theta ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
    f = torch.outer(torch.arange(T, dtype=torch.float64), inv)            # (T, hd/2)
    e = torch.cat([f, f], dim=-1)                                         # (T, hd)
    return e.cos().float(), e.sin().float()


def attention(q, k, v, causal):
    """softmax(q k^T / sqrt(hd)) v per head; q, k, v (B, H, T, hd)."""
    s = (q @ k.transpose(-1, -2)) * (q.shape[-1] ** -0.5)
    if causal:
        T = q.shape[-2]
        s = s.masked_fill(torch.ones(T, T, dtype=torch.bool, device=q.device).triu(1), float("-inf"))
    return torch.softmax(s, dim=-1) @ v


def rotate_half(x):
    h = x.shape[-1] // 2
    return torch.cat([-x[..., h:], x[..., :h]], dim=-1)


class Block(nn.Module):
    def __init__(self, c):
        super().__init__()
        D, H, Fd = c["dim"], c["n_head"], c["ffn"]
        self.H = H
        self.attn_norm = RMSNorm(D, c["eps"])
        self.wq = nn.Linear(D, D, bias=False)
        self.wk = nn.Linear(D, D, bias=False)
        self.wv = nn.Linear(D, D, bias=False)
        self.wo = nn.Linear(D, D, bias=False)
        self.ffn_norm = RMSNorm(D, c["eps"])
        self.w_gate = nn.Linear(D, Fd, bias=False)
        self.w_up = nn.Linear(D, Fd, bias=False)
        self.w_down = nn.Linear(Fd, D, bias=False)

    def forward(self, x, cos, sin):
        B, T, D = x.shape
        hd = D // self.H
        h = self.attn_norm(x)
        q = self.wq(h).view(B, T, self.H, hd).transpose(1, 2)            # (B, H, T, hd)
        k = self.wk(h).view(B, T, self.H, hd).transpose(1, 2)
        v = self.wv(h).view(B, T, self.H, hd).transpose(1, 2)
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        o = attention(q, k, v, causal=True)
        x = x + self.wo(o.transpose(1, 2).reshape(B, T, D))
        h = self.ffn_norm(x)
        return x + self.w_down(F.silu(self.w_gate(h)) * self.w_up(h))


class Llama(nn.Module):
    def __init__(self, n_vocab, c=LLM_CFG):
        super().__init__()
        self.c = dict(c)
        self.n_vocab = n_vocab
        self.tok = nn.Embedding(n_vocab, c["dim"])
        self.layers = nn.ModuleList([Block(c) for _ in range(c["n_layers"])])
        self.norm = RMSNorm(c["dim"], c["eps"])
        cos, sin = rope_tables(c["n_ctx"], c["dim"] // c["n_head"], c["theta"])
        self.register_buffer("cos", cos, persistent=False)
        self.register_buffer("sin", sin, persistent=False)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, std=0.02)
        nn.init.normal_(self.tok.weight, std=0.02)
        for L in self.layers:      # GPT-2 style scaled residual projections
            nn.init.normal_(L.wo.weight, std=0.02 / math.sqrt(2 * c["n_layers"]))
            nn.init.normal_(L.w_down.weight, std=0.02 / math.sqrt(2 * c["n_layers"]))

    def forward_embeds(self, x):
        """x (B, T, D) input embeddings -> logits (B, T, V)."""
        T = x.shape[1]
        cos, sin = self.cos[:T], self.sin[:T]
        for L in self.layers:
            x = L(x, cos, sin)
        return self.norm(x) @ self.tok.weight.t()

    def forward(self, ids):
        return self.forward_embeds(self.tok(ids))


def lm_loss(logits, targets, mask):
    """mean cross-entropy of logits[:, t] predicting targets[:, t] where mask."""
    lf = logits.reshape(-1, logits.shape[-1])
    l = F.cross_entropy(lf, targets.reshape(-1), reduction="none")
    m = mask.reshape(-1).float()
    return (l * m).sum() / m.sum().clamp(min=1)


def pad_batch(seqs, pad=0):
    T = max(len(s) for s in seqs)
    out = torch.full((len(seqs), T), pad, dtype=torch.long)
    mask = torch.zeros((len(seqs), T), dtype=torch.bool)
    for i, s in enumerate(seqs):
        out[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = True
    return out, mask


# ---- pretraining on world text ---------------------------------------------------------------

def text_sequences(world, vocab, rng, max_turns=4):
    """One text-only conversation (as ids) per scene plus one plain caption/description document."""
    seqs = []
    for i in range(len(world)):
        samples = [s for _, s in world.by_scene[i]]
        rng.shuffle(samples)
        ids = C.chunk_a_ids(vocab)
        for k, s in enumerate(samples[:max_turns]):
            u = C.user_text(s)
            ids += (C.prompt_after_image(vocab, u) if k == 0 else C.next_turn_ids(vocab, u))
            ids += C.answer_ids(vocab, answer_of(s, rng))
        seqs.append(ids)
        doc = [vocab.bos]
        texts = [s["answers"][0] for s in samples if s["type"] in ("caption", "open")]
        doc += vocab.encode(" ".join(texts), True) + [vocab.eos]
        seqs.append(doc[:LLM_CFG["n_ctx"]])
    return seqs


def answer_of(s, rng):
    """The training target of a task sample: the canonical caption (the first reference, which
    names every object with size and place), the VQA answer, the MCQ letter, yes/no, the open
    reference."""
    t = s["type"]
    if t in ("caption", "open", "vqa"):
        return s["answers"][0]
    return s["answer"]


def train_text(model, seqs, budget, lr=3e-3, batch=32, log=print):
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    t0 = budget.t0
    step, losses = 0, []
    order = list(range(len(seqs)))
    while True:
        random.shuffle(order)
        for b in range(0, len(order) - batch + 1, batch):
            if budget.done(step):
                return losses
            frac = budget.frac(step)
            for g in opt.param_groups:
                g["lr"] = lr * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, frac))))
            ids, mask = pad_batch([seqs[i] for i in order[b:b + batch]])
            logits = model(ids[:, :-1])
            loss = lm_loss(logits, ids[:, 1:], mask[:, 1:])
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            losses.append(float(loss))
            if step % 10 == 0:
                log("llm step %d loss %.4f (%.0f s)" % (step, sum(losses[-50:]) / len(losses[-50:]), time.time() - t0))
            step += 1


def main():
    import data as D
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=None, help="training steps (default %d)" % STEPS)
    ap.add_argument("--minutes", type=float, default=None, help="instead of --steps: as many as fit")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(SEED)
    rng = random.Random(SEED)
    random.seed(SEED)
    vocab = C.SpmVocab(os.path.join(C.WORK, "vocab.json"))
    world = D.World(D.TRAIN_SEED)
    seqs = text_sequences(world, vocab, rng)
    n_tok = sum(len(s) for s in seqs)
    print("llm pretraining: %d sequences, %d tokens" % (len(seqs), n_tok), flush=True)
    model = Llama(len(vocab))
    t0 = time.time()
    budget = C.Budget(a.steps or (None if a.minutes else STEPS), a.minutes, probe=20)
    losses = train_text(model, seqs, budget, log=lambda m: print(m, flush=True))
    wall = time.time() - t0
    torch.save({"cfg": model.c, "n_vocab": len(vocab), "state": model.state_dict(),
                "losses": losses, "wall": wall, "n_seqs": len(seqs), "n_tokens": n_tok}, os.path.join(C.WORK, "llm.pt"))
    print("llm pretraining done: %d steps, final loss %.4f, %.0f s" %
          (len(losses), sum(losses[-50:]) / max(1, len(losses[-50:])), wall), flush=True)


if __name__ == "__main__":
    main()
