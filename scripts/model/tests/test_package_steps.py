"""koclip_kit.package: the file-system steps of build() (staging folder, atomic swap, manifest)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from koclip_kit.package import staging_dir, swap_into_place


def test_staging_dir_is_hidden_beside_the_target(tmp_path: Path) -> None:
    target = tmp_path / "models" / "koclip-x"
    out = Path(staging_dir(str(target), "koclip-x"))
    assert out.parent == target.parent and out.name.startswith(".koclip-x.tmp-")
    assert stat.S_IMODE(out.stat().st_mode) == 0o755
    assert not target.exists()


def test_swap_into_a_new_target(tmp_path: Path) -> None:
    out = Path(staging_dir(str(tmp_path / "m"), "m"))
    (out / "manifest.json").write_text("new")
    swap_into_place(str(out), str(tmp_path / "m"))
    assert (tmp_path / "m" / "manifest.json").read_text() == "new"
    assert not out.exists()


def test_swap_replaces_an_existing_package_completely(tmp_path: Path) -> None:
    target = tmp_path / "m"
    target.mkdir()
    (target / "manifest.json").write_text("old")
    (target / "stale.onnx").write_text("old")
    out = Path(staging_dir(str(target), "m"))
    (out / "manifest.json").write_text("new")
    swap_into_place(str(out), str(target))
    assert sorted(os.listdir(target)) == ["manifest.json"]
    assert (target / "manifest.json").read_text() == "new"
    assert sorted(os.listdir(tmp_path)) == ["m"]  # neither the staging folder nor m.old is left
