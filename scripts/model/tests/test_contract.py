"""koclip_kit.contract: the values shared with the TypeScript service and the shipped package."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from koclip_kit import contract
from koclip_kit.contract import FP32_MIN_COSINE, INT8_MIN_COSINE, MODEL_ID_PATTERN, PROMPT_TEMPLATE, is_model_id

IDS_TS = Path("src") / "core" / "contract" / "ids.ts"


def test_model_id_pattern_is_the_typescript_one(repo: Path) -> None:
    """src/core/contract/ids.ts declares `export const MODEL_ID_PATTERN = /.../;`; its source must
    be this pattern, character for character, and carry no flags."""
    ts = repo / IDS_TS
    if not ts.exists():
        pytest.skip(f"{IDS_TS} does not exist in this checkout, so there is no TypeScript pattern to compare")
    m = re.search(r"\bMODEL_ID_PATTERN\s*=\s*/((?:\\.|[^/\\\n])+)/([a-z]*)\s*;", ts.read_text(encoding="utf-8"))
    assert m, f"{IDS_TS} has no `MODEL_ID_PATTERN = /.../` regex literal (update this test if it moved)"
    assert m.group(1) == MODEL_ID_PATTERN
    assert m.group(2) == ""


@pytest.mark.parametrize("good", ["koclip-tiny", "a", "0", "koclip.v2_ko-1", "a" * 64])
def test_valid_model_ids(good: str) -> None:
    assert is_model_id(good)


@pytest.mark.parametrize(
    "bad", ["", "Bad Id", "KoCLIP", "-koclip", ".hidden", "_x", "a/b", "a" * 65, "koclip-tiny\n", "ko clip", "모델"]
)
def test_invalid_model_ids(bad: str) -> None:
    assert not is_model_id(bad)


def test_prompt_template_has_one_slot() -> None:
    assert PROMPT_TEMPLATE == "이것은 {} 이다."
    assert PROMPT_TEMPLATE.count("{}") == 1
    assert PROMPT_TEMPLATE.format("빨간 원") == "이것은 빨간 원 이다."


def test_tolerances_order() -> None:
    assert 0 < INT8_MIN_COSINE < FP32_MIN_COSINE < 1


def test_shipped_package_agrees(repo: Path) -> None:
    """models/koclip-tiny was exported with these values (read only; the package is not rebuilt)."""
    pkg = repo / "models" / "koclip-tiny"
    if not (pkg / "manifest.json").exists():
        pytest.skip("models/koclip-tiny is not in this checkout")
    manifest = json.loads((pkg / "manifest.json").read_text(encoding="utf-8"))
    assert is_model_id(manifest["id"])
    assert manifest["prompt_template"] == PROMPT_TEMPLATE
    text = json.loads((pkg / manifest["golden"]["text"]).read_text(encoding="utf-8"))
    assert text["tolerance"] == {"fp32_min_cosine": FP32_MIN_COSINE, "int8_min_cosine": INT8_MIN_COSINE}


def test_the_rest_of_the_kit_reads_the_contract() -> None:
    """No second copy of the values in the package's modules."""
    kit = Path(contract.__file__).parent
    for path in kit.glob("*.py"):
        if path.name == "contract.py":
            continue
        src = path.read_text(encoding="utf-8")
        assert "a-z0-9._-" not in src, path.name
        assert PROMPT_TEMPLATE not in src, path.name
