"""heldout.py - held-out accuracy of an exported variant, measured with graft (not PyTorch):
`graft eval` on the held-out world (seed 1001, data.py), then
- captions: for each scene, the share of its objects whose '<color> <shape>' the caption names
  (and, stricter, with the right size word in front of it);
- yes/no: POPE accuracy over the three settings (graft's summary.json);
- vqa / mcq: graft's summary (VQAv2 accuracy, letter accuracy).

    /usr/bin/python3 models/recipes/heldout.py MODEL_DIR GRAFT_BINARY [--n-caption N] [--n-yesno N] [--tasks caption,yesno,vqa,mcq]

Writes MODEL_DIR/../<name>-heldout.json (or --json PATH) with the numbers and prints them.
"""

import argparse
import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402
import data as D  # noqa: E402


def run_eval(graft, d, task, files, out, limit, threads):
    cmd = [graft, "eval", "-m", os.path.join(d, "model.gguf"), "--mmproj", os.path.join(d, "mmproj.gguf"),
           "--task", task, "--images", D.world_dir(D.TEST_SEED), "-o", out, "-t", str(threads)]
    for f in files:
        cmd += ["--data", os.path.join(D.world_dir(D.TEST_SEED), f + ".jsonl")]
    if limit:
        cmd += ["--limit", str(limit)]
    if os.path.isdir(out):
        for f in os.listdir(out):
            os.remove(os.path.join(out, f))
    t0 = time.time()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wall = time.time() - t0
    with open(os.path.join(out, "summary.json")) as f:
        summ = json.load(f)
    return summ, C.read_jsonl(os.path.join(out, "predictions.jsonl")), wall


def caption_scores(preds, world):
    idx = {s["id"]: s for s in world.scenes}
    hit = hit_size = tot = 0
    for p in preds:
        scene = idx[p["id"].split("-")[0]]
        text = p["prediction"].lower()
        for o in scene["objects"]:
            tot += 1
            hit += ("%s %s" % (o["color"], o["shape"])) in text
            hit_size += ("%s %s %s" % (o["size"], o["color"], o["shape"])) in text
    return {"objects": tot, "color_shape_named": hit, "with_size": hit_size,
            "color_shape_rate": hit / max(1, tot), "with_size_rate": hit_size / max(1, tot)}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("model_dir")
    ap.add_argument("graft")
    ap.add_argument("--n-caption", type=int, default=100)
    ap.add_argument("--n-yesno", type=int, default=0, help="per POPE file; 0 = all")
    ap.add_argument("--n-other", type=int, default=300)
    ap.add_argument("--tasks", default="caption,yesno,vqa,mcq")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    world = D.World(D.TEST_SEED)
    name = os.path.basename(os.path.normpath(a.model_dir))
    work = os.path.join(C.WORK, "eval-" + name)
    res = {"model": name, "heldout_seed": D.TEST_SEED, "tool": "graft eval (greedy)"}
    tasks = a.tasks.split(",")
    if "caption" in tasks:
        s, p, w = run_eval(a.graft, a.model_dir, "caption", ["caption"], os.path.join(work, "caption"),
                           a.n_caption, a.threads)
        res["caption"] = dict(caption_scores(p, world), n=len(p), wall_s=round(w, 1),
                              cider=s.get("cider", s.get("CIDEr")), example=p[0]["prediction"])
    if "yesno" in tasks:
        s, p, w = run_eval(a.graft, a.model_dir, "yesno", ["pope_random", "pope_popular", "pope_adversarial"],
                           os.path.join(work, "yesno"), a.n_yesno, a.threads)
        res["yesno"] = {"n": len(p), "wall_s": round(w, 1), "summary": s}
    for t in ("vqa", "mcq"):
        if t in tasks:
            s, p, w = run_eval(a.graft, a.model_dir, t, [t], os.path.join(work, t), a.n_other, a.threads)
            res[t] = {"n": len(p), "wall_s": round(w, 1), "summary": s}
    out = a.json or os.path.join(C.WORK, name + "-heldout.json")
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    print(json.dumps(res, indent=1)[:6000])


if __name__ == "__main__":
    main()
