"""Shared paths for the kit's unit tests."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture
def repo() -> Path:
    """The repository root (tests read a few committed files, never write them)."""
    return REPO
