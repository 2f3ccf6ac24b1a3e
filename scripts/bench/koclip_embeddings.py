"""Real embeddings for the search kernel bench: koclip-tiny's image tower over generated images.

    scripts/bench/.venv/bin/python scripts/bench/koclip_embeddings.py --n 4000 --seed 7 --out /tmp/koclip-emb.f32

Renders `n` synthetic scenes with the model kit's renderer (scripts/model/koclip_kit/data.py:
sample_scene + render, with pixel noise), preprocesses them like the encoder (preprocess.normalise),
runs models/koclip-tiny/image-fp32.onnx with onnxruntime (1 thread) and writes the L2-normalised
image embeddings as float32 rows (n x 256). Needs numpy, pillow and onnxruntime in the venv.
"""
import argparse
import random
import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts" / "model"))
from koclip_kit import data, preprocess  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--n", type=int, default=4000)
parser.add_argument("--seed", type=int, default=7)
parser.add_argument("--batch", type=int, default=64)
parser.add_argument("--out", required=True)
args = parser.parse_args()

opts = ort.SessionOptions()
opts.intra_op_num_threads = 1
session = ort.InferenceSession(str(ROOT / "models/koclip-tiny/image-fp32.onnx"), opts)
rng = random.Random(args.seed)
scenes = [data.sample_scene(rng, "test") for _ in range(args.n)]
out = np.empty((args.n, 256), dtype=np.float32)
for start in range(0, args.n, args.batch):
    batch = scenes[start:start + args.batch]
    pixels = np.stack([preprocess.normalise(np.asarray(data.render(s))) for s in batch])
    (emb,) = session.run(["image_embeds"], {"pixel_values": pixels})
    out[start:start + len(batch)] = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    print(f"{start + len(batch)}/{args.n}", file=sys.stderr, end="\r")
out.tofile(args.out)
print(f"\nwrote {args.out}: {args.n} x 256", file=sys.stderr)
