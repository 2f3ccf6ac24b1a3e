"""Type aliases used across the kit."""

from __future__ import annotations

from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt

Json: TypeAlias = dict[str, Any]
"""A JSON object as written to a package file (manifest, golden vectors, evaluation)."""

F32: TypeAlias = npt.NDArray[np.float32]
"""float32 arrays: pixel batches, embeddings."""

Array: TypeAlias = npt.NDArray[Any]
"""Arrays of any dtype (weights before quantisation, boolean hit masks)."""
