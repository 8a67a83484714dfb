"""tokenizer.py - a small SentencePiece BPE vocabulary (640 pieces: <unk> <s> </s>, 256 byte-fallback
pieces, 381 learned) trained on the training world's text, as used in training and inference
(system message, user turns with graft eval's suffixes, answers), exported as the
tokenizer.ggml.* arrays llama.cpp writes for a SentencePiece llama vocabulary.

    /usr/bin/python3 models/recipes/tokenizer.py

Reads WORK/world-1000 (data.py); writes WORK/spm.model and WORK/vocab.json.
Trainer settings matter for graft's (llama.cpp's) encoder to agree with the trained model:
BPE (llama.cpp's SPM encoder is the BPE merge-by-score algorithm), identity normalisation (no
NFKC, whitespace kept), a dummy prefix, byte fallback.
"""

import json
import os
import sys

import sentencepiece as spm

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
import data as D  # noqa: E402

VOCAB_SIZE = 640
TT_NORMAL, TT_UNKNOWN, TT_CONTROL, TT_BYTE = 1, 2, 3, 6


def corpus_lines(world, n_scenes=3000):
    """The text the model sees, in the proportions it sees it (per scene: the system message and
    every task's user turn and answer)."""
    lines = []
    for i in range(min(n_scenes, len(world))):
        # the chat frame is in every training sequence and most turns: weighted up so the system
        # message and the role tags become few pieces (the prefix every sample pays for)
        lines.extend([C.CHUNK_A_TEXT.strip()] * 8)
        lines.extend(["ASSISTANT:", "USER:"] * 8)
        for t, s in world.by_scene[i]:
            for part in C.user_text(s).split("\n"):
                lines.append(part)
            if t in ("caption", "open"):
                lines.extend(s["answers"])
            elif t == "vqa":
                lines.append(s["answers"][0])
            else:
                lines.append(s["answer"])
    return [ln for ln in lines if ln.strip()]


def main():
    world = D.World(D.TRAIN_SEED)
    lines = corpus_lines(world)
    txt = os.path.join(C.WORK, "spm_corpus.txt")
    with open(txt, "w") as f:
        f.write("\n".join(lines) + "\n")
    prefix = os.path.join(C.WORK, "spm")
    spm.SentencePieceTrainer.train(
        input=txt, model_prefix=prefix, model_type="bpe", vocab_size=VOCAB_SIZE,
        byte_fallback=True, normalization_rule_name="identity", add_dummy_prefix=True,
        remove_extra_whitespaces=False, split_digits=True, character_coverage=1.0,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, num_threads=1, minloglevel=2,
        input_sentence_size=2000000, shuffle_input_sentence=True)
    sp = spm.SentencePieceProcessor(model_file=prefix + ".model")
    tokens, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        tokens.append(sp.id_to_piece(i))
        scores.append(float(sp.get_score(i)))
        types.append(TT_UNKNOWN if sp.is_unknown(i) else TT_CONTROL if sp.is_control(i)
                     else TT_BYTE if sp.is_byte(i) else TT_NORMAL)
    assert tokens[:3] == ["<unk>", "<s>", "</s>"] and tokens[3] == "<0x00>", tokens[:4]
    v = {"tokens": tokens, "scores": scores, "types": types, "bos": 1, "eos": 2, "unk": 0}
    with open(os.path.join(C.WORK, "vocab.json"), "w") as f:
        json.dump(v, f)
    # our encoder vs sentencepiece's on the corpus (both with the dummy prefix)
    voc = C.SpmVocab(os.path.join(C.WORK, "vocab.json"))
    bad = 0
    for ln in lines[:3000]:
        if voc.encode(ln, True) != sp.encode(ln):
            bad += 1
    n_norm = sum(t == TT_NORMAL for t in types)
    print("vocab: %d tokens (%d normal pieces); encoder disagreements with sentencepiece: %d / %d"
          % (len(tokens), n_norm, bad, min(3000, len(lines))))
    ex = C.chunk_a_ids(voc)
    print("chunk A: %d ids; caption prompt after image: %d ids" %
          (len(ex), len(C.prompt_after_image(voc, C.CAPTION_PROMPT))))


if __name__ == "__main__":
    main()
