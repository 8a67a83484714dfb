"""common.py - shared pieces of the tiny-LLaVA recipe: paths, a PNG reader (graft world writes
8-bit RGB PNGs; no PIL needed), the prompt format graft uses (vicuna_v1 + graft eval's task
suffixes), and a llama.cpp-style SentencePiece (BPE) encoder over the exported vocabulary, so the
token ids of training sequences are the ids graft feeds at inference.

Never needed at run time or by `make test`.
"""

import json
import os
import struct
import time
import zlib

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.normpath(os.path.join(HERE, "..", ".."))
WORK = os.environ.get("GRAFT_RECIPE_WORK", "/tmp/graft-recipe")   # data, checkpoints, logs

# ---- prompt format (src/chat.c vicuna_v1, src/eval/tasks.c, src/eval/run.c user_turn) -------
VICUNA_SYSTEM = ("A chat between a curious human and an artificial intelligence assistant. The assistant "
                 "gives helpful, detailed, and polite answers to the human's questions.")
SHORT_ANSWER = "Answer the question using a single word or phrase."
LETTER_ANSWER = "Answer with the option's letter from the given choices directly."
CAPTION_PROMPT = "Provide a one-sentence caption for the provided image."

# chunk A: everything before the image marker; the text after it starts with "\n"
CHUNK_A_TEXT = VICUNA_SYSTEM + " USER: "


def user_text(sample):
    """The user turn after '<image>\\n' as graft eval builds it (run.c user_turn)."""
    t = sample["type"]
    q = sample.get("question") or (CAPTION_PROMPT if t == "caption" else "")
    if t == "mcq":
        for i, c in enumerate(sample["choices"]):
            q += "\n%s. %s" % (chr(65 + i), c)
    suf = {"vqa": SHORT_ANSWER, "yesno": SHORT_ANSWER, "mcq": LETTER_ANSWER}.get(t)
    if suf and not q.endswith(suf):
        q += "\n" + suf
    return q


# ---- PNG (8-bit RGB, non-interlaced: what stb_image_write writes) ---------------------------

def read_png(path):
    """(H, W, 3) uint8."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", path
    pos, idat, w = 8, [], None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, inter = struct.unpack(">IIBBBBB", body)
            assert depth == 8 and ctype == 2 and inter == 0, (path, depth, ctype, inter)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"IEND":
            break
        pos += 12 + n
    raw = np.frombuffer(zlib.decompress(b"".join(idat)), np.uint8).reshape(h, 1 + w * 3)
    out = np.zeros((h, w * 3), np.int32)
    prev = np.zeros(w * 3, np.int32)
    for y in range(h):
        ft, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if ft == 0:
            cur = line
        elif ft == 1:     # Sub: running sum per channel
            cur = (np.cumsum(line.reshape(w, 3), axis=0) % 256).reshape(-1)
        elif ft == 2:
            cur = (line + prev) % 256
        else:
            cur = np.zeros(w * 3, np.int32)
            for x in range(w * 3):
                a = cur[x - 3] if x >= 3 else 0
                b = prev[x]
                if ft == 3:
                    cur[x] = (line[x] + (a + b) // 2) % 256
                else:
                    c = prev[x - 3] if x >= 3 else 0
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pr = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                    cur[x] = (line[x] + pr) % 256
        out[y] = cur
        prev = cur
    return out.reshape(h, w, 3).astype(np.uint8)


def read_jsonl(path):
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


# ---- llama.cpp SPM tokenizer over an exported vocab -----------------------------------------

class SpmVocab:
    """tokens / scores / types as written to tokenizer.ggml.* (vocab.json from tokenizer.py).
    encode() follows llama.cpp's llm_tokenizer_spm (and graft's tokenizer_spm.c): spaces -> U+2581,
    an optional leading U+2581, UTF-8 characters merged pairwise by the highest piece score (ties:
    leftmost), unknown symbols as byte tokens <0xXX>."""

    def __init__(self, path):
        with open(path) as f:
            v = json.load(f)
        self.tokens, self.scores, self.types = v["tokens"], v["scores"], v["types"]
        self.id = {t: i for i, t in enumerate(self.tokens)}
        self.bos, self.eos, self.unk = v["bos"], v["eos"], v["unk"]
        self.byte_id = {int(t[3:5], 16): i for i, t in enumerate(self.tokens) if self.types[i] == 6}
        self._cache = {}

    def __len__(self):
        return len(self.tokens)

    def _spm(self, text):
        syms = list(text)
        while len(syms) > 1:
            best, bi = None, -1
            for i in range(len(syms) - 1):
                j = self.id.get(syms[i] + syms[i + 1])
                if j is not None and (best is None or self.scores[j] > best):
                    best, bi = self.scores[j], i
            if bi < 0:
                break
            syms[bi:bi + 2] = [syms[bi] + syms[bi + 1]]
        out = []
        for s in syms:
            j = self.id.get(s)
            if j is not None and self.types[j] == 1:
                out.append(j)
            else:
                out.extend(self.byte_id[b] for b in s.encode("utf-8"))
        return out

    def encode(self, text, prefix):
        """ids of text (no BOS); prefix: prepend the space (graft: first piece of a prompt, or
        after a special token)."""
        key = (text, prefix)
        r = self._cache.get(key)
        if r is None:
            t = text.replace(" ", "\u2581")
            if prefix:
                t = "\u2581" + t
            r = self._spm(t) if t else []
            if len(self._cache) < 200000:
                self._cache[key] = r
        return list(r)

    def decode(self, ids):
        """Bytes as graft prints them: byte tokens as bytes, U+2581 as space, control tokens
        nothing; the leading space of the first piece kept (graft prints the prompt too)."""
        b = bytearray()
        for i in ids:
            t = self.types[i]
            if t == 6:
                b.append(int(self.tokens[i][3:5], 16))
            elif t == 1:
                b += self.tokens[i].replace("\u2581", " ").encode("utf-8")
        return b.decode("utf-8", errors="replace")


def chunk_a_ids(vocab):
    """BOS + the system message and 'USER: ' (graft_tokenize with add_special: space prefix)."""
    return [vocab.bos] + vocab.encode(CHUNK_A_TEXT, True)


def prompt_after_image(vocab, user):
    """The ids after the image rows: '\\n' + user turn + ' ASSISTANT:' (graft_tokenize_continue:
    no space prefix)."""
    return vocab.encode("\n" + user + " ASSISTANT:", False)


def answer_ids(vocab, answer):
    """What the model must generate after 'ASSISTANT:': ' answer' then </s>."""
    return vocab.encode(" " + answer, False) + [vocab.eos]


def next_turn_ids(vocab, user):
    """A later turn: after </s> graft's template writes 'USER: ... ASSISTANT:' (space prefix
    after the special token)."""
    return vocab.encode("USER: " + user + " ASSISTANT:", True)


# ---- training length -------------------------------------------------------------------------

class Budget:
    """How long a training loop runs: a fixed number of steps (the same model whatever else the
    machine is doing; the recipe's default), or with minutes only, as many steps as fit in that
    wall time (the cosine then spans the number of steps the first `probe` steps predict)."""

    def __init__(self, steps=None, minutes=None, probe=10):
        assert steps or minutes, "give steps or minutes"
        self.steps, self.minutes, self.probe = steps, minutes, probe
        self.total = steps
        self.t0 = time.time()

    def done(self, step):
        if self.steps:
            return step >= self.steps
        el = time.time() - self.t0
        if self.total is None and step == self.probe:
            self.total = max(self.probe + 1, int(self.minutes * 60 / (el / self.probe)))
        return el > self.minutes * 60

    def frac(self, step):
        return min(1.0, step / self.total) if self.total else 0.0

    def wall(self):
        return time.time() - self.t0
