"""Values the model kit shares with the TypeScript service, each defined once.

- MODEL_ID_PATTERN is the source of `MODEL_ID_PATTERN` in src/core/contract/ids.ts;
  tests/test_contract.py reads that file and fails when the two differ.
- PROMPT_TEMPLATE is KoCLIP's zero-shot prompt, written into every manifest
  (`prompt_template`, the default of src/core/manifest.ts).
- The parity tolerances are what an export must reach (ONNX against PyTorch, minimum cosine) and
  what golden/text.json records for the package tests.
"""

from __future__ import annotations

import re
from typing import Final

MODEL_ID_PATTERN: Final = r"^[a-z0-9][a-z0-9._-]{0,63}$"
MODEL_ID_RE: Final = re.compile(MODEL_ID_PATTERN)

PROMPT_TEMPLATE: Final = "이것은 {} 이다."

FP32_MIN_COSINE: Final = 0.9999  # ONNX fp32 text and image towers against PyTorch
INT8_MIN_COSINE: Final = 0.99  # ONNX int8 text tower against PyTorch


def is_model_id(s: str) -> bool:
    """Whether `s` is a valid model id (the whole string; a trailing newline is not allowed)."""
    return MODEL_ID_RE.fullmatch(s) is not None
