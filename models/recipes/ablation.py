"""ablation.py - the projector ablation on the held-out shapes world, measured with graft itself:
`graft eval` of all five task types (caption, vqa, mcq, yesno over the three POPE settings, open)
for each exported variant, plus the visual token count and the encode + prefill time of one
image question, written as a side-by-side table to docs/ablation-world.md.

    /usr/bin/python3 models/recipes/ablation.py GRAFT_BINARY [--variants linear,mlp,pool2_mlp]
        [--models DIR] [--n N] [--out docs/ablation-world.md]

Reads the variants from DIR/shapes-VARIANT/ (default models/), the held-out world from
WORK/world-1001 (data.py). Timings: the median over 15 runs of `graft ... -n 1` on the same image
and prompt (`vision encode`, `projector` and `prefill` as graft prints them), 1 thread by default.
"""

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
import data as D  # noqa: E402

TASKS = [("caption", ["caption"]), ("vqa", ["vqa"]), ("mcq", ["mcq"]),
         ("yesno", ["pope_random", "pope_popular", "pope_adversarial"]), ("open", ["open"])]


def run_eval(graft, d, task, files, out, limit):
    cmd = [graft, "eval", "-m", os.path.join(d, "model.gguf"), "--mmproj", os.path.join(d, "mmproj.gguf"),
           "--task", task, "--images", D.world_dir(D.TEST_SEED), "-o", out, "-t", "2"]
    for f in files:
        cmd += ["--data", os.path.join(D.world_dir(D.TEST_SEED), f + ".jsonl")]
    if limit:
        cmd += ["--limit", str(limit)]
    if os.path.isdir(out):
        for f in os.listdir(out):
            os.remove(os.path.join(out, f))
    t0 = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    with open(os.path.join(out, "summary.json")) as f:
        return json.load(f), time.time() - t0


def timing(graft, d, image, threads, runs=15):
    """median vision, projector and prefill ms of one image question, and the prompt positions."""
    cmd = [graft, "-m", os.path.join(d, "model.gguf"), "--mmproj", os.path.join(d, "mmproj.gguf"),
           "--image", image, "-p", C.CAPTION_PROMPT, "-n", "1", "--temp", "0", "-t", str(threads)]
    vis, proj, pre, pos = [], [], [], None
    for _ in range(runs):
        r = subprocess.run(cmd, check=True, capture_output=True, text=True)
        m = re.search(r"vision encode ([\d.]+) ms \| projector ([\d.]+) ms", r.stderr)
        p = re.search(r"prefill (\d+) positions in ([\d.]+) ms", r.stderr)
        vis.append(float(m.group(1)))
        proj.append(float(m.group(2)))
        pre.append(float(p.group(2)))
        pos = int(p.group(1))
    return statistics.median(vis), statistics.median(proj), statistics.median(pre), pos


def n_tokens(graft, d, image):
    """rows the projector hands the LLM per image, as `graft encode` reports them."""
    out = os.path.join(C.WORK, "ablation-rows.f32")
    r = subprocess.run([graft, "encode", "--mmproj", os.path.join(d, "mmproj.gguf"), "--image", image, "-o", out],
                       check=True, capture_output=True, text=True)
    return int(re.search(r"graft encode: (\d+) x \d+ floats", r.stderr + r.stdout).group(1))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("graft")
    ap.add_argument("--variants", default="linear,mlp,pool2_mlp")
    ap.add_argument("--models", default=os.path.join(C.REPO, "models"))
    ap.add_argument("--n", type=int, default=0, help="samples per task file (0: all)")
    ap.add_argument("--timing-threads", type=int, default=1,
                    help="threads for the timings (1: a tiny model's parallel regions are shorter than a wake-up)")
    ap.add_argument("--out", default=os.path.join(C.REPO, "docs", "ablation-world.md"))
    a = ap.parse_args()
    world = D.World(D.TEST_SEED)
    image = os.path.join(D.world_dir(D.TEST_SEED), world.scenes[0]["image"])
    rows = {}
    for v in a.variants.split(","):
        d = os.path.join(a.models, "shapes-" + v)
        res = {"variant": v}
        for task, files in TASKS:
            s, wall = run_eval(a.graft, d, task, files, os.path.join(C.WORK, "ablation", v, task), a.n)
            res[task] = s
            res[task + "_wall"] = wall
        vis, proj, pre, pos = timing(a.graft, d, image, a.timing_threads)
        res.update(vision_ms=vis, projector_ms=proj, prefill_ms=pre, prompt_positions=pos,
                   visual_tokens=n_tokens(a.graft, d, image))
        rows[v] = res
        print(v, json.dumps({k: res[k] for k in ("vision_ms", "projector_ms", "prefill_ms", "visual_tokens")}), flush=True)
    with open(os.path.join(C.WORK, "ablation.json"), "w") as f:
        json.dump(rows, f, indent=1)
    write_table(rows, a)


def f(x, nd=1):
    return ("%." + str(nd) + "f") % x


def write_table(rows, a):
    vs = list(rows)
    L = []
    L.append("| | " + " | ".join("`%s`" % v for v in vs) + " |")
    L.append("|---|" + "---|" * len(vs))

    def line(name, fn):
        L.append("| %s | %s |" % (name, " | ".join(fn(rows[v]) for v in vs)))

    line("visual tokens per image", lambda r: str(r["visual_tokens"]))
    line("caption: CIDEr-D", lambda r: f(r["caption"]["cider"], 3))
    line("caption: BLEU-4", lambda r: f(r["caption"]["bleu_4"], 3))
    line("VQA accuracy (VQAv2 metric)", lambda r: f(r["vqa"]["accuracy"]))
    for c in ("count", "color", "shape", "position", "size", "relation"):
        line("&nbsp;&nbsp;%s" % c, lambda r, c=c: f(r["vqa"]["categories"][c]["accuracy"]) if c in r["vqa"]["categories"] else "-")
    line("MCQ accuracy (%)", lambda r: f(r["mcq"]["accuracy"]))
    for st in ("random", "popular", "adversarial"):
        line("POPE %s: accuracy / F1" % st, lambda r, st=st: "%s / %s" % (
            f(r["yesno"]["categories"][st]["accuracy"], 3), f(r["yesno"]["categories"][st]["f1"], 3)))
    line("POPE yes ratio", lambda r: f(r["yesno"]["yes_ratio"], 3))
    line("open: ROUGE-L / CIDEr-D", lambda r: "%s / %s" % (f(r["open"]["rouge_l"], 3), f(r["open"]["cider"], 3)))
    line("samples (caption, vqa, mcq, yes/no, open)", lambda r: ", ".join(str(r[t]["n"]) for t, _ in TASKS))
    line("vision encode (ms)", lambda r: f(r["vision_ms"], 2))
    line("projector (ms)", lambda r: f(r["projector_ms"], 1) if r["projector_ms"] >= 0.05 else "< 0.05")
    line("prefill of the prompt (ms, positions)", lambda r: "%s (%d)" % (f(r["prefill_ms"], 2), r["prompt_positions"]))
    line("encode + prefill (ms)", lambda r: f(r["vision_ms"] + r["projector_ms"] + r["prefill_ms"], 2))
    line("threads for the timings", lambda r: str(a.timing_threads))
    table = "\n".join(L)
    marker_a, marker_b = "<!-- table: ablation.py -->", "<!-- end table -->"
    text = open(a.out).read() if os.path.exists(a.out) else marker_a + "\n" + marker_b + "\n"
    i, j = text.index(marker_a) + len(marker_a), text.index(marker_b)
    with open(a.out, "w") as fo:
        fo.write(text[:i] + "\n" + table + "\n" + text[j:])
    print(table)


if __name__ == "__main__":
    main()
