#!/usr/bin/python3
"""Writes tests/fixtures/hf_tok/: a tiny Llama-style Hugging Face tokenizer, written by hand in
HF's formats (the `tokenizers` library is not used), and the ids HF would give for a few strings.

  json/   tokenizer.json (BPE, byte_fallback, normalizer Prepend "▁" + Replace " " -> "▁",
          decoder Sequence, merges as "a b" strings), tokenizer_config.json,
          special_tokens_map.json; one added special token <image> right after the vocabulary.
  spm/    tokenizer.model: a small SentencePiece ModelProto (protobuf written by hand), for the
          corruption tests of graft's protobuf reader.
  expected.json  {"cases": [{"text", "ids"}...]}: ids with BOS, from this script's own BPE
          (merge ranks, byte fallback), which is written from HF's algorithm, not from graft.

The vocabulary is trained here by plain BPE on a small corpus. The merges list contains, like
the one HF converts from a SentencePiece model, every split of every multi-character token into
two vocabulary tokens, ordered by the merged token's id. The script also checks that merging
leftmost-first (what llama.cpp's converter's constant scores would give) differs from HF on some
of the cases, so the C test can tell the two apart.

Run from the repo root: /usr/bin/python3 tests/reference/make_hf_tokenizer_fixture.py
"""
import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures", "hf_tok")
SP = "\u2581"

CORPUS = [
    "the cat sat on the mat", "the hat is on the cat", "that is the thing",
    "what is shown in the image", "these are the others", "then the other cat sat",
    "a man is ironing on the back of a taxi", "the man and the taxi", "in the street",
    "is there a hat", "he sat there", "this that these those", "another mat",
]
N_MERGES = 60


def train():
    words = [list(SP + s.replace(" ", SP)) for s in CORPUS]
    chars = sorted({c for w in words for c in w})
    merged = []
    for _ in range(N_MERGES):
        counts = {}
        for w in words:
            for a, b in zip(w, w[1:]):
                counts[(a, b)] = counts.get((a, b), 0) + 1
        if not counts:
            break
        best = max(counts.items(), key=lambda kv: (kv[1], [-ord(c) for c in kv[0][0] + "\0" + kv[0][1]]))[0]
        tok = best[0] + best[1]
        if tok not in merged and tok not in chars:
            merged.append(tok)
        nw = []
        for w in words:
            o, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    o.append(tok)
                    i += 2
                else:
                    o.append(w[i])
                    i += 1
            nw.append(o)
        words = nw
    return chars, merged


def build():
    chars, merged = train()
    vocab = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)] + chars + merged
    ids = {t: i for i, t in enumerate(vocab)}
    assert len(ids) == len(vocab)
    merges = []
    for t in vocab:
        if t.startswith("<") and t.endswith(">") or len(t) < 2:
            continue
        splits = [(t[:k], t[k:]) for k in range(1, len(t)) if t[:k] in ids and t[k:] in ids]
        assert splits, t
        splits.sort(key=lambda ab: (ids[ab[0]], ids[ab[1]]))
        merges += splits
    return vocab, ids, merges


def hf_bpe(text, ids, merges):
    """HF tokenizers' BPE on one normalized word: chars (byte fallback for unknown ones), then
    repeatedly the lowest-rank merge present, leftmost first among equal ranks."""
    rank = {ab: r for r, ab in reversed(list(enumerate(merges)))}
    syms = []
    for c in text:
        if c in ids:
            syms.append(c)
        else:
            syms += ["<0x%02X>" % b for b in c.encode("utf-8")]
    while True:
        best = None
        for i in range(len(syms) - 1):
            r = rank.get((syms[i], syms[i + 1]))
            if r is not None and (best is None or r < best[0]):
                best = (r, i)
        if best is None:
            break
        i = best[1]
        syms[i:i + 2] = [syms[i] + syms[i + 1]]
    return [ids[s] for s in syms]


def leftmost_first(text, ids):
    """Merging any adjacent pair that forms a token, leftmost first (all scores equal)."""
    syms = []
    for c in text:
        syms += [c] if c in ids else ["<0x%02X>" % b for b in c.encode("utf-8")]
    while True:
        for i in range(len(syms) - 1):
            if syms[i] + syms[i + 1] in ids and not syms[i].startswith("<0x") and not syms[i + 1].startswith("<0x"):
                syms[i:i + 2] = [syms[i] + syms[i + 1]]
                break
        else:
            break
    return [ids[s] for s in syms]


def normalize(s):
    return SP + s.replace(" ", SP)


def pb_varint(v):
    out = b""
    while True:
        b = v & 0x7F
        v >>= 7
        out += bytes([b | (0x80 if v else 0)])
        if not v:
            return out


def pb_field(num, wt, payload):
    key = pb_varint(num << 3 | wt)
    if wt == 2:
        return key + pb_varint(len(payload)) + payload
    return key + payload


def spm_model():
    """A small ModelProto: pieces <unk> (UNKNOWN), <s>, </s> (CONTROL), bytes <0x00>..<0x0F>
    (BYTE), a few normal pieces with scores, one USER_DEFINED and one UNUSED piece, then a
    trainer_spec (model_type BPE, unk_id) and a normalizer_spec (name, add_dummy_prefix true)."""
    pieces = [("<unk>", 0.0, 2), ("<s>", 0.0, 3), ("</s>", 0.0, 3)]
    pieces += [("<0x%02X>" % b, 0.0, 6) for b in range(16)]
    for i, p in enumerate([SP + "t", "he", SP + "the", "a", "t", "h", "e", SP, "c", SP + "c", "at", SP + "cat"]):
        pieces.append((p, -float(i), 1))
    pieces += [("<user>", 0.0, 4), ("<unused0>", 0.0, 5)]
    out = b""
    for text, score, typ in pieces:
        sub = pb_field(1, 2, text.encode()) + pb_field(2, 5, struct.pack("<f", score))
        if typ != 1:
            sub += pb_field(3, 0, pb_varint(typ))
        out += pb_field(1, 2, sub)
    trainer = pb_field(3, 0, pb_varint(2)) + pb_field(4, 0, pb_varint(len(pieces))) + pb_field(40, 0, pb_varint(0))
    out += pb_field(2, 2, trainer)
    norm = pb_field(1, 2, b"identity") + pb_field(3, 0, pb_varint(1))
    out += pb_field(3, 2, norm)
    return out, pieces


def main():
    vocab, ids, merges = build()
    n_base = len(vocab)
    tok = {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": [
            {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": True}
            for i, t in [(0, "<unk>"), (1, "<s>"), (2, "</s>"), (n_base, "<image>")]
        ],
        "normalizer": {"type": "Sequence", "normalizers": [
            {"type": "Prepend", "prepend": SP},
            {"type": "Replace", "pattern": {"String": " "}, "content": SP}]},
        "pre_tokenizer": None,
        "post_processor": {"type": "TemplateProcessing",
                           "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                      {"Sequence": {"id": "A", "type_id": 0}}],
                           "pair": [{"SpecialToken": {"id": "<s>", "type_id": 0}},
                                    {"Sequence": {"id": "A", "type_id": 0}},
                                    {"SpecialToken": {"id": "<s>", "type_id": 1}},
                                    {"Sequence": {"id": "B", "type_id": 1}}],
                           "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}}},
        "decoder": {"type": "Sequence", "decoders": [
            {"type": "Replace", "pattern": {"String": SP}, "content": " "},
            {"type": "ByteFallback"}, {"type": "Fuse"}, {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
        "model": {"type": "BPE", "dropout": None, "unk_token": "<unk>", "continuing_subword_prefix": None,
                  "end_of_word_suffix": None, "fuse_unk": True, "byte_fallback": True,
                  "vocab": {t: i for i, t in enumerate(vocab)},
                  "merges": [a + " " + b for a, b in merges]},
    }
    cfg = {
        "add_bos_token": True, "add_eos_token": False,
        "added_tokens_decoder": {str(a["id"]): {k: a[k] for k in a if k != "id"} for a in tok["added_tokens"]},
        "additional_special_tokens": ["<image>"],
        "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>", "pad_token": None,
        "clean_up_tokenization_spaces": False, "legacy": True, "model_max_length": 4096,
        "tokenizer_class": "LlamaTokenizer",
        "chat_template": "{% for m in messages %}{{ m['content'] }}{% endfor %}",
    }
    stmap = {"additional_special_tokens": ["<image>"], "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}

    texts = ["the cat sat on the mat", "what is shown in the image?", "these others", "thethe that",
             "a taxi ironing", "Hello, wörld! 😀", "  two  spaces", "x", "mat cat hat that",
             "at", "here", "ethe atthe", "he sat there at the back"]
    cases, differs = [], 0
    for t in texts:
        want = [1] + hf_bpe(normalize(t), ids, merges)
        differs += want[1:] != leftmost_first(normalize(t), ids)
        cases.append({"text": t, "ids": want})
    assert differs > 0, "no case tells rank order from leftmost-first merging"

    os.makedirs(os.path.join(OUT, "json"), exist_ok=True)
    os.makedirs(os.path.join(OUT, "spm"), exist_ok=True)
    with open(os.path.join(OUT, "json", "tokenizer.json"), "w", encoding="utf-8") as f:
        json.dump(tok, f, ensure_ascii=False, indent=1)
    with open(os.path.join(OUT, "json", "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump(cfg, f, ensure_ascii=False, indent=1)
    with open(os.path.join(OUT, "json", "special_tokens_map.json"), "w", encoding="utf-8") as f:
        json.dump(stmap, f, ensure_ascii=False, indent=1)
    with open(os.path.join(OUT, "expected.json"), "w", encoding="utf-8") as f:
        json.dump({"n_base": n_base, "n_merges": len(merges), "image_id": n_base,
                   "leftmost_first_differs": differs, "cases": cases}, f, ensure_ascii=False, indent=1)
    model, pieces = spm_model()
    with open(os.path.join(OUT, "spm", "tokenizer.model"), "wb") as f:
        f.write(model)
    print("vocab %d + 1 added, %d merges, %d cases (%d differ when merging leftmost-first); spm %d pieces, %d bytes"
          % (n_base, len(merges), len(cases), differs, len(pieces), len(model)))


if __name__ == "__main__":
    main()
