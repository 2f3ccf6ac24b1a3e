"""Type aliases and the two small helpers used across the kit: row-wise cosines between two
batches of embeddings (`cosines`, every parity and agreement check) and a file's sha256
(`file_sha256`, the manifest's `files` and the checks against it)."""

from __future__ import annotations

import hashlib
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

Json: TypeAlias = dict[str, Any]
"""A JSON object as written to a package file (manifest, golden vectors, evaluation)."""

F32: TypeAlias = npt.NDArray[np.float32]
"""float32 arrays: pixel batches, embeddings."""

Array: TypeAlias = npt.NDArray[Any]
"""Arrays of any dtype (weights before quantisation, boolean hit masks)."""


def cosines(a: F32, b: F32) -> F32:
    """The cosine between row i of `a` and row i of `b`, for every i, computed in the inputs' dtype."""
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def file_sha256(path: str) -> str:
    """The hex sha256 of the file at `path`, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
