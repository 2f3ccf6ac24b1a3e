"""`distill` on koclip-tiny with a tiny step budget: the student package (edge placement, the
teacher's id, version and image tower, int8 within parity of fp32, passes the isolate fit), the
pruned tokenizer against the teacher's, bad inputs, and the fit refusal. The recall target run is
scripts/model/distill-tiny.sh (minutes; figures in docs/benchmarks.md)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest

MISSING = [m for m in ("tokenizers", "onnxruntime") if importlib.util.find_spec(m) is None]
if MISSING:
    pytest.skip(f"distill needs scripts/model/requirements-convert.txt ({', '.join(MISSING)})", allow_module_level=True)

from koclip_kit.cli import main  # noqa: E402
from koclip_kit.common import F32, file_sha256  # noqa: E402
from koclip_kit.convert import Tok  # noqa: E402
from koclip_kit.distill import Recipe, StudentShape, distill  # noqa: E402
from koclip_kit.fit import DoesNotFit  # noqa: E402
from koclip_kit.teacher import prune_vocab, synthetic_captions  # noqa: E402

REPO = Path(__file__).resolve().parents[3]
TINY = REPO / "models" / "koclip-tiny"
NODE = REPO / "node_modules" / ".bin" / "node"
SMALL = StudentShape(layers=1, hidden=64, heads=2, intermediate=128)
QUICK = Recipe(steps=8, batch_size=32, log_every=4)

if not NODE.exists():
    pytest.skip("node_modules missing (npm ci): the kit's parity and fit checks run in node", allow_module_level=True)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    p = tmp_path_factory.mktemp("corpus") / "captions.txt"
    lines = synthetic_captions(600, seed=9)
    p.write_text("\n".join(lines[:300]) + "\n\n   \n" + "\n".join(lines[300:]) + "\n", encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def student(tmp_path_factory: pytest.TempPathFactory, corpus: Path) -> Path:
    out = tmp_path_factory.mktemp("student") / "koclip-tiny-student"
    distill(str(TINY), str(corpus), str(out), shape=SMALL, recipe=QUICK, prune=True, synthetic_eval=False, quiet=True)
    return out


def _manifest(pkg: Path) -> dict[str, object]:
    return json.loads((pkg / "manifest.json").read_text(encoding="utf-8"))


def _embed(onnx_path: Path, tok: Tok, texts: list[str], max_length: int) -> F32:
    import onnxruntime as ort

    s = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    ids, mask = tok.batch(texts, max_length)
    feeds = {"input_ids": np.array(ids, dtype=np.int64), "attention_mask": np.array(mask, dtype=np.int64)}
    return s.run(["text_embeds"], feeds)[0]


def test_student_package_is_edge_in_the_teachers_space(student: Path) -> None:
    m, t = _manifest(student), _manifest(TINY)
    assert (m["id"], m["version"], m["projection_dim"]) == (t["id"], t["version"], t["projection_dim"])
    text = m["text"]
    assert isinstance(text, dict)
    assert text["placement"] == "edge" and text["default_variant"] == "int8"
    assert text["architecture"]["num_hidden_layers"] == 1 and text["architecture"]["hidden_size"] == 64
    assert m["image"] == t["image"]
    files = m["files"]
    assert isinstance(files, dict)
    # every file listed with its sha256, nothing unlisted; the image tower is the teacher's, byte for byte
    on_disk = {str(p.relative_to(student)) for p in student.rglob("*") if p.is_file()} - {"manifest.json"}
    assert on_disk == set(files)
    for rel, entry in files.items():
        assert file_sha256(str(student / rel)) == entry["sha256"], rel
    assert files["image-fp32.onnx"]["sha256"] == t["files"]["image-fp32.onnx"]["sha256"]  # type: ignore[index]
    assert files["text-fp32.onnx"]["sha256"] != t["files"]["text-fp32.onnx"]["sha256"]  # type: ignore[index]
    d = m["training"]["distillation"]  # type: ignore[index]
    assert d["teacher"]["text_tower_sha256"] == file_sha256(str(TINY / "text-fp32.onnx"))
    assert d["corpus"]["lines"] == 600 and d["steps"] == QUICK.steps
    ev = m["evaluation"]
    assert isinstance(ev, dict)
    assert ev["fit"]["wasm_after_run_mib"] >= ev["fit"]["wasm_after_load_mib"] > 0
    assert ev["fit"]["headroom_mib"] > 0
    # the edge tower ships its weights as ONNX external data, measured together with its graph
    assert (
        text["external_data"] == {"int8": "text-int8.onnx.data"} and ev["fit"]["external_data"] == "text-int8.onnx.data"
    )
    both = files["text-int8.onnx"]["bytes"] + files["text-int8.onnx.data"]["bytes"]
    assert abs(ev["fit"]["file_mib"] - both / 2**20) <= 0.05
    assert files["text-int8.onnx"]["bytes"] < files["text-int8.onnx.data"]["bytes"]
    assert -1 <= ev["held_out_vs_teacher"]["min_cosine"] <= ev["held_out_vs_teacher"]["mean_cosine"] <= 1
    assert not [p for p in os.listdir(student.parent) if ".tmp-" in p]


def test_student_int8_matches_fp32_and_goldens(student: Path, corpus: Path) -> None:
    m = _manifest(student)
    assert m["evaluation"]["parity"]["text_int8_min_cosine"] >= 0.99  # type: ignore[index]
    tok = Tok(str(student))
    texts = [s for s in corpus.read_text(encoding="utf-8").splitlines() if s.strip()][:64]
    e32 = _embed(student / "text-fp32.onnx", tok, texts, 64)
    e8 = _embed(student / "text-int8.onnx", tok, texts, 64)
    assert np.allclose(np.linalg.norm(e32, axis=1), 1, atol=1e-5)
    assert float((e32 * e8).sum(1).min()) >= 0.99
    golden = json.loads((student / "golden" / "text.json").read_text(encoding="utf-8"))
    ge = _embed(student / "text-fp32.onnx", tok, [c["text"] for c in golden["cases"]], 64)
    assert float((ge * np.array([c["embedding"] for c in golden["cases"]])).sum(1).min()) >= 0.9999


def test_student_fits_through_model_fit(student: Path) -> None:
    res = subprocess.run(
        [str(NODE), str(REPO / "scripts" / "model" / "fit.mjs"), str(student), "--json"],
        capture_output=True,
        text=True,
    )
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["fits"] is True


def test_pruned_tokenizer_encodes_corpus_as_the_teacher_remapped(corpus: Path, student: Path) -> None:
    teacher = Tok(str(TINY))
    lines = [s.strip() for s in corpus.read_text(encoding="utf-8").splitlines() if s.strip()]
    pruned, remap = prune_vocab(teacher, lines)
    assert pruned.get_vocab_size() == len(remap) < teacher.vocab_size
    assert [remap[i] for i in (teacher.cls, teacher.pad, teacher.sep, teacher.unk)] == [
        pruned.token_to_id(t) for t in ("[CLS]", "[PAD]", "[SEP]", "[UNK]")
    ]
    packaged = Tok(str(student))  # the tokenizer.json written into the package
    assert packaged.vocab_size == len(remap)
    for line in lines:
        want = [remap[i] for i in teacher.encode(line, 64)]
        assert pruned.encode(line).ids == want, line
        assert packaged.encode(line, 64) == want, line
    # a word the corpus never used has no pieces left: [UNK], where the teacher had pieces
    assert packaged.encode("고양이", 64) == [packaged.cls, packaged.unk, packaged.sep]


def test_distill_is_deterministic_with_a_seed(tmp_path: Path, corpus: Path, student: Path) -> None:
    again = tmp_path / "again"
    distill(str(TINY), str(corpus), str(again), shape=SMALL, recipe=QUICK, prune=True, synthetic_eval=False, quiet=True)
    a = json.loads((student / "golden" / "text.json").read_text(encoding="utf-8"))
    b = json.loads((again / "golden" / "text.json").read_text(encoding="utf-8"))
    assert a == b


def _cli(tmp_path: Path, *args: str) -> tuple[int, Path]:
    out = tmp_path / "out" / "student"
    argv = ["distill", "--out", str(out), "--layers", "1", "--hidden", "64", "--heads", "2", "--intermediate", "128"]
    try:
        code = main([*argv, "--steps", "2", "--batch-size", "16", "--eval", "none", *args])
    except SystemExit as e:
        code = int(e.code or 0)
    return code, out


def _nothing_written(tmp_path: Path, out: Path) -> None:
    assert not out.exists()
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--teacher", "no-such-package"], "is not a model package"),
        (["--teacher", str(TINY), "--layers", "0"], "expected a positive int"),
        (["--teacher", str(TINY), "--heads", "3"], "must be a multiple of --heads"),
        (["--teacher", str(TINY), "--layers", "40"], "at most 24"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    code, out = _cli(tmp_path, "--corpus", str(corpus), *args)
    assert code == 2
    assert message in capsys.readouterr().err
    _nothing_written(tmp_path, out)


@pytest.mark.parametrize(("content", "message"), [(None, "does not exist"), ("\n  \n\n", "has no captions")])
def test_missing_or_empty_corpus_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "captions.txt"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    code, out = _cli(tmp_path, "--teacher", str(TINY), "--corpus", str(path))
    assert code == 2
    assert message in capsys.readouterr().err
    _nothing_written(tmp_path, out)


def test_a_student_that_does_not_fit_is_refused(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KOCLIP_FIT_LIMIT_MB", "1")
    code, out = _cli(tmp_path, "--teacher", str(TINY), "--corpus", str(corpus))
    err = capsys.readouterr().err
    assert code == 1
    assert "does not fit a Worker isolate" in err and "> 1.0 MiB limit" in err
    assert "Nothing was written" in err and "distill" in err and "function" in err
    _nothing_written(tmp_path, out)


def test_refusal_leaves_an_existing_package_as_it_was(
    tmp_path: Path, corpus: Path, student: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "pkg"
    distill(
        str(TINY), str(corpus), str(target), shape=SMALL, recipe=QUICK, prune=True, synthetic_eval=False, quiet=True
    )
    before = (target / "manifest.json").read_bytes()
    monkeypatch.setenv("KOCLIP_FIT_LIMIT_MB", "1")
    with pytest.raises(DoesNotFit):
        distill(str(TINY), str(corpus), str(target), shape=SMALL, recipe=QUICK, synthetic_eval=False, quiet=True)
    assert (target / "manifest.json").read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["pkg"]
