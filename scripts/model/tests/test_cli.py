"""koclip_kit.cli: argument checking and the binding of each subcommand to its typed function."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from koclip_kit import cli
from koclip_kit.errors import KitError


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, tuple[Any, ...], dict[str, Any]]]:
    seen: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
    for name in ("run_tokenizer", "run_train", "run_export", "run_eval"):

        def record(*args: Any, _name: str = name, **kwargs: Any) -> None:
            seen.append((_name, args, kwargs))

        monkeypatch.setattr(cli, name, record)
    return seen


@pytest.fixture
def tok(tmp_path: Path) -> str:
    (tmp_path / "tokenizer.json").write_text("{}")
    return str(tmp_path)


def test_tokenizer_defaults(calls: list[Any]) -> None:
    assert cli.main(["tokenizer", "--out", "o"]) == 0
    assert calls == [("run_tokenizer", ("o",), {"max_length": 64, "corpus_size": 20000, "seed": 1})]


def test_train_arguments(calls: list[Any], tok: str) -> None:
    assert cli.main(["train", "--tokenizer", tok, "--out", "o", "--steps", "3", "--smoke"]) == 0
    assert calls == [
        (
            "run_train",
            (tok, "o"),
            {
                "minutes": None,
                "steps": 3,
                "batch_size": 128,
                "max_length": 64,
                "device": "cpu",
                "seed": 0,
                "smoke": True,
            },
        )
    ]


def test_export_arguments(calls: list[Any], tok: str, tmp_path: Path) -> None:
    ck = tmp_path / "c.pt"
    ck.write_bytes(b"")
    argv = ["export", "--checkpoint", str(ck), "--tokenizer", tok, "--out", "m", "--id", "x.1", "--demo", "0"]
    assert cli.main(argv) == 0
    assert calls == [
        (
            "run_export",
            (str(ck), tok, "m"),
            {
                "model_id": "x.1",
                "version": None,
                "gallery": 2400,
                "demo": 0,
                "require_targets": False,
                "train_log": None,
            },
        )
    ]


def test_eval_arguments(calls: list[Any], tok: str, tmp_path: Path) -> None:
    ck = tmp_path / "c.pt"
    ck.write_bytes(b"")
    assert cli.main(["eval", "--checkpoint", str(ck), "--tokenizer", tok]) == 0
    assert calls == [("run_eval", (str(ck), tok), {"gallery": 1200, "seed": 2})]


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["tokenizer", "--out", "o", "--max-length", "0"], "expected a positive int"),
        (["train", "--tokenizer", "{tok}", "--out", "o", "--minutes", "-1"], "expected a positive float"),
        (["train", "--tokenizer", "{tok}", "--out", "o"], "one of the arguments --minutes --steps is required"),
        (["export", "--checkpoint", "{tok}/none.pt", "--tokenizer", "{tok}", "--out", "o"], "no such file"),
        (["export", "--checkpoint", "{tok}/tokenizer.json", "--tokenizer", "{tok}", "--out", "o", "--id", "A"], "id"),
        (["eval", "--checkpoint", "{tok}/tokenizer.json", "--tokenizer", "{tok}", "--gallery", "100"], "at least 240"),
        (["eval", "--checkpoint", "{tok}/tokenizer.json", "--tokenizer", "/nonexistent"], "no tokenizer.json"),
    ],
)
def test_bad_arguments_exit_2(
    argv: list[str], message: str, tok: str, calls: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main([a.replace("{tok}", tok) for a in argv])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
    assert calls == []


def test_kit_errors_exit_1(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    def fail(*_args: Any, **_kwargs: Any) -> None:
        raise KitError("parity below tolerance")

    monkeypatch.setattr(cli, "run_tokenizer", fail)
    assert cli.main(["tokenizer", "--out", "o"]) == 1
    assert capsys.readouterr().err == "python -m koclip_kit tokenizer: error: parity below tolerance\n"


def test_log_summary(tmp_path: Path) -> None:
    log = tmp_path / "train.log"
    log.write_text(
        "[train] 2.50 s/step -> 1680 steps in 70.0 min\n"
        + "".join(f'[train] {{"step": {s}, "loss": 1.0}}\n' for s in (25, 50, 75, 100))
    )
    assert cli.log_summary(str(log)) == {
        "planned_steps": 1680,
        "planned_minutes": 70.0,
        "log_tail": [{"step": 50, "loss": 1.0}, {"step": 75, "loss": 1.0}, {"step": 100, "loss": 1.0}],
    }
