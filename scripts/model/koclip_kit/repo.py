"""The repository around the kit and the Node side of it: `REPO` (the checkout's root, for paths
such as models/ and node_modules/), the Node binary the kit runs (`node_bin`) and
scripts/model/onnx-run.mjs, which embeds and tokenizes through onnxruntime-node and
@huggingface/tokenizers for the kit (`onnx_run`)."""

from __future__ import annotations

import os
import subprocess

from .errors import KitError

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ONNX_RUN_SCRIPT = os.path.join(REPO, "scripts", "model", "onnx-run.mjs")


def node_bin() -> str:
    """The repository's node_modules/.bin/node when there is one, else `node` from PATH."""
    local = os.path.join(REPO, "node_modules", ".bin", "node")
    return local if os.path.exists(local) else "node"


def onnx_run(*args: str) -> None:
    """Runs onnx-run.mjs with `args` (its command first: text, image, tokenize); raises KitError
    with the script's output when it fails."""
    res = subprocess.run([node_bin(), ONNX_RUN_SCRIPT, *args], capture_output=True, text=True)
    if res.returncode != 0:
        raise KitError(f"onnx-run {args[0]} failed: {res.stderr.strip() or res.stdout.strip()}")
