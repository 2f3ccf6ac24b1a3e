"""KoCLIP model kit command line: `python -m koclip_kit COMMAND` (scripts/model/.venv/bin/python).

  tokenizer --out DIR [--max-length 64]
  train     --tokenizer DIR --out DIR (--minutes M | --steps N) [--device cpu|cuda] [--smoke]
  export    --checkpoint FILE --tokenizer DIR --out MODELS/ID [--id ID] [--version V]
  eval      --checkpoint FILE --tokenizer DIR [--gallery N]      (PyTorch only; quick check)
  eval      PACKAGE_DIR --images DIR --captions FILE [--labels FILE] [--template T] [--variant int8|fp32]
            [--name NAME] [--dry-run]   a package on your own images and captions -> manifest
            evaluation.user (koclip_kit.user_eval; docs/models.md)
  convert   CHECKPOINT_DIR --out MODELS/ID [--id ID] [--version V] [--position-id-offset N] [--max-length 96]
            [--placement function|edge]
            a downloaded KoCLIP (flax_model.msgpack + hybrid-clip config, or model.safetensors /
            pytorch_model.bin + vision-text-dual-encoder config) -> model package (docs/models.md)
  make-fixture --out DIR [--format flax|safetensors|bin] [--arch base|large] [--full] [--seed N]
            [--projection-dim D] [--logit-scale S]
            random-weight checkpoint written by transformers / flax (needs requirements-convert.txt)
  oracle    CHECKPOINT_DIR PACKAGE_DIR   ONNX towers against the library's own forward pass
  tokenizer-golden [--out test/fixtures/tokenizer] [--count N] [--seed S]
            the golden tokenizer table (ids from Python `tokenizers` for koclip-tiny and a klue-sized
            WordPiece tokenizer over a seeded corpus of awkward text; koclip_kit.tokenizer_golden)
  captions  --out FILE [--count N] [--seed S]   synthetic Korean captions, one per line (a demo corpus)
  preprocess-effects --out FILE [--towers tiny,base,large] [--seeds N] [--python-only] [--threads N]
            the embedding cosine of each deliberate preprocessing choice against its alternative
            (koclip_kit.preprocess_effects; docs/model-package.md "Preprocessing")
  distill   --teacher PACKAGE_DIR --corpus CAPTIONS.txt --out OUT_DIR [--layers 4 --hidden 384 --heads 6
            --intermediate 1536] [--steps N | --minutes M] [--prune-vocab] [--seed S]
            an edge-sized student of the teacher's text tower, in its embedding space (koclip_kit.distill)
Packaging an `edge` text tower (export, convert --placement edge, distill) refuses a tower that does
not fit a Worker isolate (koclip_kit.fit) and writes nothing.
Bad arguments fail with a message and exit code 2; nothing partial is written.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from . import data
from .contract import is_model_id
from .errors import KitError

if TYPE_CHECKING:
    from .user_eval import Request as UserEvalRequest

PROG = "python -m koclip_kit"
MIN_GALLERY = 240  # one image per colour x shape x count x size cell


# ---------------------------------------------------------------- argument types


def positive_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {s!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive int, got {s!r}")
    return v


def positive_float(s: str) -> float:
    try:
        v = float(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive float, got {s!r}") from None
    if not v > 0:
        raise argparse.ArgumentTypeError(f"expected a positive float, got {s!r}")
    return v


def existing_file(s: str) -> str:
    if not os.path.isfile(s):
        raise argparse.ArgumentTypeError(f"no such file: {s}")
    return s


def tokenizer_dir(s: str) -> str:
    if not os.path.isfile(os.path.join(s, "tokenizer.json")):
        raise argparse.ArgumentTypeError(f"{s} has no tokenizer.json (run `{PROG} tokenizer --out {s}` first)")
    return s


def package_dir(s: str) -> str:
    if not os.path.isfile(os.path.join(s, "manifest.json")):
        raise argparse.ArgumentTypeError(f"{s} is not a model package (no manifest.json)")
    return s


def corpus_file(s: str) -> str:
    """A captions file with at least one non-blank line (koclip_kit.distill.read_corpus reads it)."""
    from .teacher import read_corpus

    try:
        read_corpus(s)
    except KitError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return s


def model_id(s: str) -> str:
    if not is_model_id(s):
        raise argparse.ArgumentTypeError(f"model id must be lowercase letters, digits, '.', '_' or '-': {s!r}")
    return s


# ---------------------------------------------------------------- commands


def run_tokenizer(out: str, *, max_length: int, corpus_size: int, seed: int) -> None:
    """Builds the WordPiece vocabulary and writes tokenizer.json and tokenizer_config.json."""
    from . import tokenizer

    vocab = tokenizer.build_vocab(data.corpus(corpus_size, seed))
    os.makedirs(out, exist_ok=True)
    files = (
        ("tokenizer.json", tokenizer.tokenizer_json(vocab, max_length)),
        ("tokenizer_config.json", tokenizer.tokenizer_config(max_length)),
    )
    for name, obj in files:
        tmp = os.path.join(out, name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(obj, f, ensure_ascii=False, indent=1)
        os.replace(tmp, os.path.join(out, name))
    print(f"[tokenizer] {len(vocab)} tokens -> {out}/tokenizer.json")


def run_train(
    tokenizer: str,
    out: str,
    *,
    minutes: float | None,
    steps: int | None,
    batch_size: int,
    max_length: int,
    device: str,
    seed: int,
    smoke: bool,
) -> None:
    """Trains the dual encoder for `steps` steps or about `minutes` minutes; writes checkpoint.pt."""
    from .train import train

    if device.startswith("cuda"):
        import torch

        if not torch.cuda.is_available():
            raise KitError("--device cuda asked for, but torch sees no CUDA device")
    info = train(
        out,
        os.path.join(tokenizer, "tokenizer.json"),
        seed=seed,
        batch_size=batch_size,
        steps=steps,
        minutes=minutes,
        max_length=max_length,
        device=device,
        smoke=smoke,
    )
    print("[train] done", json.dumps({k: v for k, v in info.items() if k != "loss_log"}))


def run_export(
    checkpoint: str,
    tokenizer: str,
    out: str,
    *,
    model_id: str,
    version: str | None,
    gallery: int,
    demo: int,
    require_targets: bool,
    train_log: str | None,
) -> None:
    """Exports a checkpoint as a model package in `out` (see package.build)."""
    from .package import build
    from .tokenizer import load
    from .train import load_checkpoint

    model, training = load_checkpoint(checkpoint)
    if training.get("partial"):
        print("[export] warning: checkpoint is an intermediate save of a run still in progress", file=sys.stderr)
    if train_log:
        training = {**training, **log_summary(train_log)}
    tok = load(os.path.join(tokenizer, "tokenizer.json"))
    max_length = model.config.text.max_position_embeddings
    version = version or datetime.datetime.now(datetime.UTC).strftime("%Y.%m.%d-%H%M")
    m = build(
        model,
        training,
        tok,
        tokenizer,
        out,
        model_id=model_id,
        version=version,
        max_length=max_length,
        gallery_size=gallery,
        demo_size=demo,
        require_targets=require_targets,
    )
    ev = m["evaluation"]
    print("[export] parity", json.dumps(ev["parity"]))
    print("[export] int8", json.dumps(ev["onnx_int8"]))
    print("[export] targets", json.dumps(ev["targets_int8"]))
    print(f"[export] {out} version {version}: {sum(f['bytes'] for f in m['files'].values()) / 1e6:.2f} MB")


def log_summary(path: str) -> dict[str, Any]:
    """Training facts from a `train` log (for checkpoints saved while a run went on)."""
    records: list[dict[str, Any]] = []
    planned: dict[str, Any] = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("[train] {"):
                records.append(json.loads(line[len("[train] ") :]))
            m = re.search(r"-> (\d+) steps in ([\d.]+) min", line)
            if m:
                planned = {"planned_steps": int(m.group(1)), "planned_minutes": float(m.group(2))}
    out = dict(planned)
    if records:
        out["log_tail"] = records[-3:]
    return out


def run_eval(checkpoint: str, tokenizer: str, *, gallery: int, seed: int) -> None:
    """PyTorch-only evaluation of a checkpoint on the validation split; prints JSON."""
    import torch

    from .evaluate import evaluate, targets
    from .evaluate import gallery as eval_gallery
    from .package import Towers
    from .tokenizer import load
    from .train import load_checkpoint

    torch.set_num_threads(1)
    model, training = load_checkpoint(checkpoint)
    towers = Towers(
        model, load(os.path.join(tokenizer, "tokenizer.json")), model.config.text.max_position_embeddings, "/tmp"
    )
    scenes = eval_gallery(gallery, seed)
    img = towers.torch_image(data.pixel_batch(scenes))
    ev = evaluate(towers.torch_text, img, scenes, seed)
    print(json.dumps({"steps": training.get("steps"), **ev, "targets": targets(ev)}, indent=1))


def run_user_eval(req: UserEvalRequest) -> None:
    """A package on the user's images and captions (koclip_kit.user_eval): prints the table and,
    unless --dry-run, records the figures in the package's manifest."""
    from .user_eval import evaluate_user, table

    out = evaluate_user(req)
    print(table(out))
    print(
        f"[eval] {'not written (--dry-run)' if req.dry_run else 'written to'} {req.package_dir}/manifest.json "
        f"evaluation.user.{out['name']}.results.{out['variant']}"
    )


def eval_mode_error(a: argparse.Namespace) -> str | None:
    """`eval` takes either --checkpoint/--tokenizer or PACKAGE_DIR with --images/--captions."""
    user = ("images", "captions", "labels", "template", "variant", "name")
    if a.package is None:
        given = [f"--{k}" for k in user if getattr(a, k) is not None] + (["--dry-run"] if a.dry_run else [])
        if given:
            return f"{', '.join(given)} need PACKAGE_DIR (eval PACKAGE_DIR --images DIR --captions FILE)"
        if a.checkpoint is None or a.tokenizer is None:
            return "give PACKAGE_DIR --images DIR --captions FILE, or --checkpoint FILE --tokenizer DIR"
        return None
    if a.checkpoint is not None or a.tokenizer is not None:
        return "--checkpoint/--tokenizer evaluate a checkpoint; with PACKAGE_DIR leave them out"
    if a.images is None or a.captions is None:
        return "eval PACKAGE_DIR needs --images DIR and --captions FILE"
    return None


def run_convert(
    src: str,
    out: str,
    *,
    model_id: str | None,
    version: str | None,
    offset: int | None,
    max_length: int,
    placement: str = "function",
) -> None:
    from .convert import convert

    mid = model_id or os.path.basename(os.path.normpath(out))
    if not is_model_id(mid):
        raise KitError(f"model id {mid!r} (from --out) is not valid; pass --id")
    version = version or datetime.datetime.now(datetime.UTC).strftime("%Y.%m.%d-%H%M")
    m = convert(
        src, out, model_id=mid, version=version, position_id_offset=offset, max_length=max_length, placement=placement
    )
    print("[convert] parity", json.dumps(m["evaluation"]["parity"]))
    sizes = {k: round(v["bytes"] / 1e6, 1) for k, v in m["files"].items() if k.endswith(".onnx")}
    print(f"[convert] {out} ({mid} {version}) MB: {json.dumps(sizes)}; peak RSS {m['evaluation']['peak_rss_mb']} MB")


def run_captions(out: str, *, count: int, seed: int) -> None:
    """Writes `count` synthetic captions, one per line (koclip_kit.distill.synthetic_captions)."""
    from .teacher import synthetic_captions

    lines = synthetic_captions(count, seed)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(line + "\n" for line in lines)
    os.replace(tmp, out)
    print(f"[captions] {count} lines ({len(set(lines))} distinct) -> {out}")


def run_lit(a: argparse.Namespace) -> None:
    """Retrains a package's text tower on everyday Korean against its fixed image tower (koclip_kit.lit)."""
    from .lit import lit

    m = lit(
        a.package,
        a.out or a.package,
        steps=a.steps or (None if a.minutes else 4000),
        minutes=a.minutes,
        pool=a.pool,
        batch_size=a.batch_size,
        lr=a.lr,
        seed=a.seed,
        composition=a.composition,
        require_targets=a.require_targets,
    )
    ev = m["evaluation"]
    print("[lit] targets", json.dumps(ev["targets_int8"]))
    p = {k: v["r_precision"] for k, v in ev["paraphrases"].items()}
    print("[lit] paraphrase R-precision", json.dumps(p))
    t = m["training"]
    print(f"[lit] {a.out or a.package} ({m['id']} {m['version']}): {t['steps']} steps in {t['seconds']} s")


def run_distill(a: argparse.Namespace) -> None:
    """Distils the teacher's text tower into an edge student package (koclip_kit.distill)."""
    from .distill import Recipe, StudentShape, distill

    shape = StudentShape(a.layers, a.hidden, a.heads, a.intermediate)
    recipe = Recipe(
        steps=a.steps if a.minutes is None else None,
        minutes=a.minutes,
        batch_size=a.batch_size,
        lr=a.lr,
        seed=a.seed,
    )
    m = distill(
        a.teacher,
        a.corpus,
        a.out,
        shape=shape,
        recipe=recipe,
        prune=a.prune_vocab,
        synthetic_eval={"auto": None, "synthetic": True, "none": False}[a.eval],
        require_recall=a.require_recall,
    )
    ev, d = m["evaluation"], m["training"]["distillation"]
    print("[distill] parity", json.dumps(ev["parity"]))
    print("[distill] held-out vs teacher", json.dumps(ev["held_out_vs_teacher"]))
    if "recall" in ev:
        print("[distill] t2i recall@5", json.dumps(ev["recall"]["t2i_recall@5"]))
    print("[distill] fit", json.dumps({k: v for k, v in ev["fit"].items() if k != "runtime"}))
    sizes = {k: round(v["bytes"] / 1e6, 2) for k, v in m["files"].items() if k.startswith("text-")}
    print(f"[distill] {a.out} ({m['id']} {m['version']}, edge) {d['steps']} steps in {d['seconds']} s; MB {sizes}")


def run_make_fixture(
    out: str,
    *,
    fmt: str,
    arch: str,
    full: bool,
    seed: int,
    projection_dim: int | None = None,
    logit_scale: float | None = None,
) -> None:
    try:
        from . import fixtures
    except ImportError as err:  # pragma: no cover
        raise KitError(f"make-fixture needs scripts/model/requirements-convert.txt: {err}") from None
    secs = fixtures.make(out, fmt, arch, "full" if full else "small", seed, projection_dim, logit_scale)
    size = sum(os.path.getsize(os.path.join(out, n)) for n in os.listdir(out))
    print(f"[make-fixture] {fmt} {arch} {'full' if full else 'small'} -> {out}: {size / 1e6:.1f} MB in {secs:.0f} s")


def run_oracle(checkpoint: str, package: str) -> None:
    import tempfile

    from . import fixtures

    with tempfile.TemporaryDirectory() as tmp:
        print("[oracle]", json.dumps(fixtures.oracle(checkpoint, package, tmp)))


def run_tokenizer_golden(out: str, count: int, seed: int) -> None:
    from .tokenizer_golden import write

    repo = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
    target = out if os.path.isabs(out) else os.path.join(repo, out)
    wide, golden = write(repo, target, count=count, seed=seed)
    print(f"{target}: golden.jsonl.gz {golden} bytes, wide-tokenizer.json.gz {wide} bytes")


def run_preprocess_effects(out: str, towers: list[str], *, seeds: int, encoder: bool, threads: int) -> None:
    from .preprocess_effects import table, write

    result = write(out, towers, seeds=seeds, encoder=encoder, threads=threads)
    print(table(result))
    print(f"[preprocess-effects] {out} ({result['seconds']} s)")


def tower_list(s: str) -> list[str]:
    names = [t.strip() for t in s.split(",") if t.strip()]
    if not names or any(t not in ("tiny", "base", "large") for t in names):
        raise argparse.ArgumentTypeError(f"towers are a comma-separated list of tiny, base, large: {s!r}")
    return names


# ---------------------------------------------------------------- parser


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("tokenizer", help="build the WordPiece vocabulary and tokenizer.json")
    t.add_argument("--out", required=True)
    t.add_argument("--max-length", type=positive_int, default=64)
    t.add_argument("--corpus-size", type=positive_int, default=20000)
    t.add_argument("--seed", type=int, default=1)
    r = sub.add_parser("train", help="train the dual encoder")
    r.add_argument("--tokenizer", type=tokenizer_dir, required=True)
    r.add_argument("--out", required=True)
    g = r.add_mutually_exclusive_group(required=True)
    g.add_argument("--minutes", type=positive_float)
    g.add_argument("--steps", type=positive_int)
    r.add_argument("--batch-size", type=positive_int, default=128)
    r.add_argument("--max-length", type=positive_int, default=64)
    r.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--smoke", action="store_true", help="tiny model for CI smoke runs")
    e = sub.add_parser("export", help="export ONNX, golden vectors, demo set, evaluation and manifest")
    e.add_argument("--checkpoint", type=existing_file, required=True)
    e.add_argument("--tokenizer", type=tokenizer_dir, required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--id", type=model_id, default="koclip-tiny")
    e.add_argument("--version")
    e.add_argument("--gallery", type=positive_int, default=2400)
    e.add_argument("--demo", type=int, default=300)
    e.add_argument("--require-targets", action="store_true")
    e.add_argument("--train-log", type=existing_file, help="training log to summarise into the manifest")
    v = sub.add_parser("eval", help="a package on your images and captions, or a checkpoint (PyTorch, synthetic)")
    v.add_argument("package", nargs="?", help="model package folder (with --images and --captions)")
    v.add_argument("--images", help="folder the captions file's image names are relative to")
    v.add_argument("--captions", help="file_name<TAB>caption lines (.tsv), JSON lines (.jsonl) or COCO .json")
    v.add_argument("--labels", help="file_name<TAB>label lines for zero-shot accuracy")
    v.add_argument("--template", help="zero-shot prompt with {} for the label (default: the manifest's)")
    v.add_argument("--variant", choices=["int8", "fp32"], help="text tower (default: the manifest's)")
    v.add_argument("--name", help="dataset name in the manifest (default: the captions file's name)")
    v.add_argument("--batch-size", type=positive_int, default=32, help="images per image tower run")
    v.add_argument("--text-batch", type=positive_int, help="captions per text tower run (default: int8 1, fp32 64)")
    v.add_argument("--dry-run", action="store_true", help="print the figures, leave the manifest as it is")
    v.add_argument("--checkpoint", type=existing_file)
    v.add_argument("--tokenizer", type=tokenizer_dir)
    v.add_argument("--gallery", type=positive_int, default=1200)
    v.add_argument("--seed", type=int, default=2)
    c = sub.add_parser("convert", help="convert a downloaded KoCLIP checkpoint folder into a model package")
    c.add_argument("checkpoint", help="folder with config.json, the weights and the tokenizer files")
    c.add_argument("--out", required=True, help="package folder, e.g. models/koclip-base")
    c.add_argument("--id", type=model_id, help="model id (default: the --out folder's name)")
    c.add_argument("--version")
    c.add_argument("--position-id-offset", type=int, help="default: 0 for Flax, pad_token_id + 1 for PyTorch")
    c.add_argument("--max-length", type=positive_int, default=96, help="text tokens incl. [CLS]/[SEP] (KoCLIP: 96)")
    c.add_argument(
        "--placement",
        default="function",
        choices=["function", "edge"],
        help="where the text tower runs; edge is refused for a tower that does not fit an isolate",
    )
    f = sub.add_parser("make-fixture", help="random-weight checkpoint written by transformers / flax")
    f.add_argument("--out", required=True)
    f.add_argument("--format", default="flax", choices=["flax", "safetensors", "bin"])
    f.add_argument("--arch", default="base", choices=["base", "large"])
    f.add_argument("--full", action="store_true", help="the real koclip-base / koclip-large shapes")
    f.add_argument("--seed", type=int, default=0)
    f.add_argument("--projection-dim", type=positive_int, help="override the shape's (small: 32; KoCLIP: 512)")
    f.add_argument(
        "--logit-scale",
        type=float,
        help="raw logit_scale (logits = exp(it) * cosine); default: the library's initial value (Flax 1.0)",
    )
    o = sub.add_parser("oracle", help="compare a converted package with the library's forward pass")
    o.add_argument("checkpoint")
    o.add_argument("package")
    tg = sub.add_parser("tokenizer-golden", help="the golden tokenizer table the TypeScript tokenizer must match")
    tg.add_argument("--out", default="test/fixtures/tokenizer", help="folder, relative to the repository root")
    tg.add_argument("--count", type=positive_int, default=10000)
    tg.add_argument("--seed", type=int, default=23)
    k = sub.add_parser("captions", help="synthetic Korean captions, one per line (a demo corpus for distill)")
    k.add_argument("--out", required=True)
    k.add_argument("--count", type=positive_int, default=20000)
    k.add_argument("--seed", type=int, default=5)
    pe = sub.add_parser(
        "preprocess-effects", help="measure each deliberate preprocessing choice against its alternative"
    )
    pe.add_argument("--out", required=True, help="JSON file, e.g. build/preprocess-effects.json")
    pe.add_argument("--towers", type=tower_list, default=["tiny", "base", "large"])
    pe.add_argument("--seeds", type=positive_int, default=3, help="synthetic scenes per image case")
    pe.add_argument("--python-only", action="store_true", help="ours from koclip_kit.preprocess, not the encoder")
    pe.add_argument("--threads", type=positive_int, default=2, help="torch threads for the random-weight towers")
    lt = sub.add_parser("lit", help="retrain a package's text tower on everyday Korean against its image tower")
    lt.add_argument("--package", type=package_dir, default="models/koclip-tiny", help="model package folder")
    lt.add_argument("--out", help="package folder to write (default: replace --package in place)")
    lb = lt.add_mutually_exclusive_group()
    lb.add_argument("--minutes", type=positive_float, help="train for about this long (the step count is planned)")
    lb.add_argument("--steps", type=positive_int, help="training steps (default 4000, as the shipped tower)")
    lt.add_argument("--pool", type=positive_int, default=24000, help="training scenes (images embedded once)")
    lt.add_argument("--batch-size", type=positive_int, default=128)
    lt.add_argument("--lr", type=positive_float, default=5e-4)
    lt.add_argument("--seed", type=int, default=0)
    lt.add_argument("--composition", type=float, default=0.0, help="weight of the composition term (0: off)")
    lt.add_argument("--require-targets", action="store_true", help="fail when a quality target is missed")
    d = sub.add_parser("distill", help="distil an edge-sized student of a package's text tower")
    d.add_argument("--teacher", type=package_dir, required=True, help="teacher model package folder")
    d.add_argument("--corpus", type=corpus_file, required=True, help="captions, one per line (UTF-8)")
    d.add_argument("--out", required=True, help="student package folder (keeps the teacher's id and version)")
    d.add_argument("--layers", type=positive_int, default=4)
    d.add_argument("--hidden", type=positive_int, default=384)
    d.add_argument("--heads", type=positive_int, default=6)
    d.add_argument("--intermediate", type=positive_int, default=1536)
    b = d.add_mutually_exclusive_group()
    b.add_argument("--steps", type=positive_int, default=400)
    b.add_argument("--minutes", type=positive_float)
    d.add_argument("--batch-size", type=positive_int, default=128)
    d.add_argument("--lr", type=positive_float, default=1e-3)
    d.add_argument("--prune-vocab", action="store_true", help="keep only the corpus's tokens + special tokens")
    d.add_argument("--seed", type=int, default=0)
    d.add_argument(
        "--eval",
        default="auto",
        choices=["auto", "synthetic", "none"],
        help="recall on the kit's synthetic split (auto: when the teacher was evaluated on it)",
    )
    d.add_argument("--require-recall", action="store_true", help="fail below 95%% of the teacher's t2i recall@5")
    return p


def command(a: argparse.Namespace) -> Callable[[], None]:
    """The typed command function for parsed arguments, bound to them."""
    match a.cmd:
        case "tokenizer":
            return lambda: run_tokenizer(a.out, max_length=a.max_length, corpus_size=a.corpus_size, seed=a.seed)
        case "tokenizer-golden":
            return lambda: run_tokenizer_golden(a.out, count=a.count, seed=a.seed)
        case "train":
            return lambda: run_train(
                a.tokenizer,
                a.out,
                minutes=a.minutes,
                steps=a.steps,
                batch_size=a.batch_size,
                max_length=a.max_length,
                device=a.device,
                seed=a.seed,
                smoke=a.smoke,
            )
        case "export":
            return lambda: run_export(
                a.checkpoint,
                a.tokenizer,
                a.out,
                model_id=a.id,
                version=a.version,
                gallery=a.gallery,
                demo=a.demo,
                require_targets=a.require_targets,
                train_log=a.train_log,
            )
        case "eval" if a.package is not None:
            from .user_eval import Request

            req = Request(
                a.package,
                a.images,
                a.captions,
                labels=a.labels,
                template=a.template,
                variant=a.variant,
                name=a.name,
                batch_size=a.batch_size,
                text_batch=a.text_batch,
                dry_run=a.dry_run,
            )
            return lambda: run_user_eval(req)
        case "eval":
            return lambda: run_eval(a.checkpoint, a.tokenizer, gallery=a.gallery, seed=a.seed)
        case "convert":
            return lambda: run_convert(
                a.checkpoint,
                a.out,
                model_id=a.id,
                version=a.version,
                offset=a.position_id_offset,
                max_length=a.max_length,
                placement=a.placement,
            )
        case "captions":
            return lambda: run_captions(a.out, count=a.count, seed=a.seed)
        case "preprocess-effects":
            return lambda: run_preprocess_effects(
                a.out, a.towers, seeds=a.seeds, encoder=not a.python_only, threads=a.threads
            )
        case "distill":
            return lambda: run_distill(a)
        case "lit":
            return lambda: run_lit(a)
        case "make-fixture":
            return lambda: run_make_fixture(
                a.out,
                fmt=a.format,
                arch=a.arch,
                full=a.full,
                seed=a.seed,
                projection_dim=a.projection_dim,
                logit_scale=a.logit_scale,
            )
        case "oracle":
            return lambda: run_oracle(a.checkpoint, a.package)
    raise AssertionError(f"unhandled command {a.cmd!r}")


def main(argv: Sequence[str] | None = None) -> int:
    p = parser()
    a = p.parse_args(argv)
    if getattr(a, "gallery", MIN_GALLERY) < MIN_GALLERY:
        p.error(f"--gallery must be at least {MIN_GALLERY} (one image per colour x shape x count x size cell)")
    if getattr(a, "demo", 0) < 0:
        p.error("--demo must be >= 0")
    if a.cmd == "distill" and a.hidden % a.heads:
        p.error(f"--hidden {a.hidden} must be a multiple of --heads {a.heads}")
    if a.cmd == "distill" and a.layers > 24:
        p.error(f"--layers must be at most 24 (an edge student is 4-6), got {a.layers}")
    if a.cmd == "eval" and (why := eval_mode_error(a)):
        p.error(why)
    run = command(a)
    try:
        run()
    except KitError as err:
        print(f"{PROG} {a.cmd}: error: {err}", file=sys.stderr)
        return err.exit_code
    return 0
