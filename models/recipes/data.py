"""data.py - the training and held-out worlds: runs `graft world`, decodes the PNGs once into a
uint8 array cache, and reads scenes and task files.

    /usr/bin/python3 models/recipes/data.py GRAFT_BINARY [--train-n N] [--test-n N]

Writes WORK/world-<seed>/ (graft's files) and WORK/world-<seed>/images.npy ((N, 64, 64, 3) uint8).
"""

import argparse
import os
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import common as C  # noqa: E402

TRAIN_SEED = 1000     # training world
TEST_SEED = 1001      # held-out world (another seed = other scenes)
TRAIN_N = 12000
TEST_N = 500
TASK_FILES = ["caption", "vqa", "mcq", "pope_random", "pope_popular", "pope_adversarial", "open"]


def world_dir(seed):
    return os.path.join(C.WORK, "world-%d" % seed)


def make_world(graft, seed, n):
    d = world_dir(seed)
    os.makedirs(C.WORK, exist_ok=True)
    subprocess.run([graft, "world", "--seed", str(seed), "--n", str(n), "-o", d], check=True,
                   stdout=subprocess.DEVNULL)
    scenes = C.read_jsonl(os.path.join(d, "scenes.jsonl"))
    assert len(scenes) == n
    imgs = np.zeros((n, 64, 64, 3), np.uint8)
    for i, s in enumerate(scenes):
        imgs[i] = C.read_png(os.path.join(d, s["image"]))
    np.save(os.path.join(d, "images.npy"), imgs)
    return d


class World:
    """scenes, images (N, 64, 64, 3) uint8 and every task file's samples, grouped by scene index."""

    def __init__(self, seed):
        d = world_dir(seed)
        self.dir = d
        self.seed = seed
        self.scenes = C.read_jsonl(os.path.join(d, "scenes.jsonl"))
        self.images = np.load(os.path.join(d, "images.npy"))
        self.index = {s["image"]: i for i, s in enumerate(self.scenes)}
        self.tasks = {}
        for t in TASK_FILES:
            self.tasks[t] = C.read_jsonl(os.path.join(d, t + ".jsonl"))
        self.by_scene = [[] for _ in self.scenes]      # (task file, sample)
        for t, samples in self.tasks.items():
            for s in samples:
                self.by_scene[self.index[s["image"]]].append((t, s))

    def __len__(self):
        return len(self.scenes)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("graft")
    ap.add_argument("--train-n", type=int, default=TRAIN_N)
    ap.add_argument("--test-n", type=int, default=TEST_N)
    a = ap.parse_args()
    for seed, n in ((TEST_SEED, a.test_n), (TRAIN_SEED, a.train_n)):
        t0 = time.time()
        d = make_world(a.graft, seed, n)
        print("world seed %d: %d scenes in %s (%.1f s)" % (seed, n, d, time.time() - t0), flush=True)


if __name__ == "__main__":
    main()
