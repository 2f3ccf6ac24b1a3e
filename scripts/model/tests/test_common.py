"""koclip_kit.common's helpers (row cosines, a file's sha256) and koclip_kit.repo's paths."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np

from koclip_kit.common import cosines, file_sha256
from koclip_kit.repo import ONNX_RUN_SCRIPT, REPO


def test_cosines_row_by_row() -> None:
    a = np.array([[1, 0], [1, 1], [3, 4]], dtype=np.float32)
    b = np.array([[2, 0], [-1, 1], [-3, -4]], dtype=np.float32)
    got = cosines(a, b)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, [1.0, 0.0, -1.0], atol=1e-7)


def test_file_sha256(tmp_path: Path) -> None:
    f = tmp_path / "f"
    data = os.urandom(3 << 20)  # more than one read chunk
    f.write_bytes(data)
    assert file_sha256(str(f)) == hashlib.sha256(data).hexdigest()


def test_repo_is_the_checkout_root() -> None:
    assert os.path.isfile(os.path.join(REPO, "package.json"))
    assert os.path.isfile(ONNX_RUN_SCRIPT)
