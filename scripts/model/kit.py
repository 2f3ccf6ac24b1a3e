#!/usr/bin/env python3
"""KoCLIP model kit command line (Python 3 from Debian's packages: /usr/bin/python3).

  kit.py tokenizer --out DIR [--max-length 64]
  kit.py train     --tokenizer DIR --out DIR (--minutes M | --steps N) [--device cpu|cuda] [--smoke]
  kit.py export    --checkpoint FILE --tokenizer DIR --out MODELS/ID [--id ID] [--version V]
  kit.py eval      --checkpoint FILE --tokenizer DIR [--gallery N]      (PyTorch only; quick check)
Bad arguments fail with a message and exit code 2; nothing partial is written.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from koclip_kit import data  # noqa: E402
from koclip_kit.package import KitError  # noqa: E402


def positive(kind):
    def parse(s: str):
        try:
            v = kind(s)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {s!r}")
        if v <= 0:
            raise argparse.ArgumentTypeError(f"expected a positive {kind.__name__}, got {s!r}")
        return v
    return parse


def existing_file(s: str) -> str:
    if not os.path.isfile(s):
        raise argparse.ArgumentTypeError(f"no such file: {s}")
    return s


def tokenizer_dir(s: str) -> str:
    if not os.path.isfile(os.path.join(s, "tokenizer.json")):
        raise argparse.ArgumentTypeError(f"{s} has no tokenizer.json (run `kit.py tokenizer --out {s}` first)")
    return s


def model_id(s: str) -> str:
    if not re.fullmatch(r"[a-z0-9][a-z0-9._-]{0,63}", s):
        raise argparse.ArgumentTypeError(f"model id must be lowercase letters, digits, '.', '_' or '-': {s!r}")
    return s


def cmd_tokenizer(a) -> None:
    from koclip_kit import tokenizer
    vocab = tokenizer.build_vocab(data.corpus(a.corpus_size, a.seed))
    os.makedirs(a.out, exist_ok=True)
    for name, obj in (("tokenizer.json", tokenizer.tokenizer_json(vocab, a.max_length)),
                      ("tokenizer_config.json", tokenizer.tokenizer_config(a.max_length))):
        tmp = os.path.join(a.out, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=1)
        os.replace(tmp, os.path.join(a.out, name))
    print(f"[tokenizer] {len(vocab)} tokens -> {a.out}/tokenizer.json")


def cmd_train(a) -> None:
    from koclip_kit.train import train
    if a.device.startswith("cuda"):
        import torch
        if not torch.cuda.is_available():
            raise KitError("--device cuda asked for, but torch sees no CUDA device")
    info = train(a.out, os.path.join(a.tokenizer, "tokenizer.json"), seed=a.seed, batch_size=a.batch_size,
                 steps=a.steps, minutes=a.minutes, max_length=a.max_length, device=a.device, smoke=a.smoke)
    print("[train] done", json.dumps({k: v for k, v in info.items() if k != "loss_log"}))


def cmd_export(a) -> None:
    from koclip_kit.package import build
    from koclip_kit.tokenizer import load
    from koclip_kit.train import load_checkpoint
    model, training = load_checkpoint(a.checkpoint)
    if training.get("partial"):
        print("[export] warning: checkpoint is an intermediate save of a run still in progress", file=sys.stderr)
    if a.train_log:
        training = {**training, **_log_summary(a.train_log)}
    tok = load(os.path.join(a.tokenizer, "tokenizer.json"))
    max_length = model.config.text.max_position_embeddings
    version = a.version or datetime.datetime.now(datetime.timezone.utc).strftime("%Y.%m.%d-%H%M")
    m = build(model, training, tok, a.tokenizer, a.out, model_id=a.id, version=version, max_length=max_length,
              gallery_size=a.gallery, demo_size=a.demo, require_targets=a.require_targets)
    ev = m["evaluation"]
    print("[export] parity", json.dumps(ev["parity"]))
    print("[export] int8", json.dumps(ev["onnx_int8"]))
    print("[export] targets", json.dumps(ev["targets_int8"]))
    print(f"[export] {a.out} version {version}: {sum(f['bytes'] for f in m['files'].values()) / 1e6:.2f} MB")


def _log_summary(path: str) -> dict:
    """Training facts from a `kit.py train` log (for checkpoints saved while a run went on)."""
    records, planned = [], None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("[train] {"):
                records.append(json.loads(line[len("[train] "):]))
            m = re.search(r"-> (\d+) steps in ([\d.]+) min", line)
            if m:
                planned = {"planned_steps": int(m.group(1)), "planned_minutes": float(m.group(2))}
    out = dict(planned or {})
    if records:
        out["log_tail"] = records[-3:]
    return out


def cmd_eval(a) -> None:
    import torch
    from koclip_kit.evaluate import evaluate, gallery, targets
    from koclip_kit.package import Towers
    from koclip_kit.tokenizer import load
    from koclip_kit.train import load_checkpoint
    torch.set_num_threads(1)
    model, training = load_checkpoint(a.checkpoint)
    towers = Towers(model, load(os.path.join(a.tokenizer, "tokenizer.json")),
                    model.config.text.max_position_embeddings, "/tmp")
    scenes = gallery(a.gallery, a.seed)
    img = towers.torch_image(data.pixel_batch(scenes))
    ev = evaluate(towers.torch_text, img, scenes, a.seed)
    print(json.dumps({"steps": training.get("steps"), **ev, "targets": targets(ev)}, indent=1))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="kit.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tokenizer", help="build the WordPiece vocabulary and tokenizer.json")
    t.add_argument("--out", required=True)
    t.add_argument("--max-length", type=positive(int), default=64)
    t.add_argument("--corpus-size", type=positive(int), default=20000)
    t.add_argument("--seed", type=int, default=1)
    t.set_defaults(fn=cmd_tokenizer)
    r = sub.add_parser("train", help="train the dual encoder")
    r.add_argument("--tokenizer", type=tokenizer_dir, required=True)
    r.add_argument("--out", required=True)
    g = r.add_mutually_exclusive_group(required=True)
    g.add_argument("--minutes", type=positive(float))
    g.add_argument("--steps", type=positive(int))
    r.add_argument("--batch-size", type=positive(int), default=128)
    r.add_argument("--max-length", type=positive(int), default=64)
    r.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--smoke", action="store_true", help="tiny model for CI smoke runs")
    r.set_defaults(fn=cmd_train)
    e = sub.add_parser("export", help="export ONNX, golden vectors, demo set, evaluation and manifest")
    e.add_argument("--checkpoint", type=existing_file, required=True)
    e.add_argument("--tokenizer", type=tokenizer_dir, required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--id", type=model_id, default="koclip-tiny")
    e.add_argument("--version")
    e.add_argument("--gallery", type=positive(int), default=2400)
    e.add_argument("--demo", type=int, default=300)
    e.add_argument("--require-targets", action="store_true")
    e.add_argument("--train-log", type=existing_file, help="training log to summarise into the manifest")
    e.set_defaults(fn=cmd_export)
    v = sub.add_parser("eval", help="quick PyTorch-only evaluation of a checkpoint")
    v.add_argument("--checkpoint", type=existing_file, required=True)
    v.add_argument("--tokenizer", type=tokenizer_dir, required=True)
    v.add_argument("--gallery", type=positive(int), default=1200)
    v.add_argument("--seed", type=int, default=2)
    v.set_defaults(fn=cmd_eval)
    a = p.parse_args(argv)
    if getattr(a, "gallery", 240) < 240:
        p.error("--gallery must be at least 240 (one image per colour x shape x count x size cell)")
    if getattr(a, "demo", 0) < 0:
        p.error("--demo must be >= 0")
    try:
        a.fn(a)
    except KitError as err:
        print(f"kit.py {a.cmd}: error: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
