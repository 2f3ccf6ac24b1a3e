"""Will a staged package's text tower fit a Worker isolate? The kit's side of `npm run model:fit`
(scripts/model/fit.mjs, which owns the measurement in onnxruntime-web): runs it on a package
folder, reads its JSON figures, and refuses `edge` placement for a tower that does not fit.

Every packaging path that writes an `edge` text tower (export, `convert --placement edge`,
`distill`) calls `check_staged` on the staging folder after its manifest is written and before
the swap, so a refused package is never moved into place. The figures are recorded in the
manifest's `evaluation.fit`.
"""

from __future__ import annotations

import json
import os
import subprocess

from .common import Json
from .errors import KitError
from .repo import REPO, node_bin

FIT_SCRIPT = os.path.join(REPO, "scripts", "model", "fit.mjs")


class DoesNotFit(KitError):
    """An `edge` text tower whose wasm memory plus the Worker's own budgets exceeds the isolate limit."""


def measure(package_dir: str, variant: str | None = None) -> Json:
    """fit.mjs's figures for the package's text tower (its default variant unless given): file,
    wasm memory after load and after a run, limit, headroom and `fits`."""
    args = [node_bin(), FIT_SCRIPT, package_dir, "--json", *(["--variant", variant] if variant else [])]
    res = subprocess.run(args, capture_output=True, text=True)
    if res.returncode not in (0, 1):
        raise KitError(f"model:fit could not measure {package_dir}: {res.stderr.strip() or res.stdout.strip()}")
    try:
        figures: Json = json.loads(res.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        raise KitError(f"model:fit gave no figures for {package_dir}: {res.stderr.strip()}") from None
    if bool(figures.get("fits")) != (res.returncode == 0):
        raise KitError(f"model:fit exit {res.returncode} disagrees with its figures: {figures}")
    return figures


def refusal(figures: Json, teacher_hint: str) -> str:
    """The message for a tower that does not fit: what was measured, against what, what to do."""

    def mib(key: str) -> str:
        return f"{float(figures[key]):.1f} MiB"

    budgets = ", ".join(f"{k.replace('_', ' ')} {v} MiB" for k, v in figures["worker_budgets_mib"].items())

    files = figures["file"] + (f" + {figures['external_data']}" if figures.get("external_data") else "")
    return (
        f"the {figures['variant']} text tower {files} ({mib('file_mib')}) does not fit a Worker "
        f"isolate, so `edge` placement is refused: onnxruntime-web wasm memory after a run "
        f"{mib('wasm_after_run_mib')} (after load {mib('wasm_after_load_mib')}) + the Worker's own budgets "
        f"{mib('worker_budget_mib')} ({budgets}) = {mib('needed_mib')} > {mib('limit_mib')} limit. "
        f"Nothing was written. "
        f"Use `function` placement (the encoder function embeds text; `convert --placement function`, the "
        f"default), or distil an edge-sized student from the function-placed package: "
        f"python -m koclip_kit distill --teacher {teacher_hint} --corpus CAPTIONS.txt --out OUT_DIR"
    )


def check_staged(staged: str, manifest: Json, teacher_hint: str) -> Json:
    """For an `edge` manifest: measures the staged package, raises DoesNotFit when it does not fit,
    else records the figures in `evaluation.fit` and rewrites the staged manifest.json (which is
    not listed in its own `files`). A `function` manifest is returned unchanged."""
    if manifest["text"]["placement"] != "edge":
        return manifest
    figures = measure(staged)
    if not figures["fits"]:
        raise DoesNotFit(refusal(figures, teacher_hint))
    keep = ("file", "external_data", "variant", "file_mib", "wasm_after_load_mib", "wasm_after_run_mib", "run_tokens")
    fit = {k: figures[k] for k in keep}
    fit |= {k: figures[k] for k in ("worker_budget_mib", "worker_budgets_mib", "limit_mib", "headroom_mib")}
    fit["runtime"] = "onnxruntime-web (wasm, 1 thread) under Node: scripts/model/fit.mjs"
    manifest = {**manifest, "evaluation": {**manifest.get("evaluation", {}), "fit": fit}}
    with open(os.path.join(staged, "manifest.json"), "w", encoding="utf-8") as f:
        json.dump(manifest, f, ensure_ascii=False, indent=2)
        f.write("\n")
    return manifest
