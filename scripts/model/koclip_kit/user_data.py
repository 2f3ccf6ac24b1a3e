"""The user's evaluation set for `python -m koclip_kit eval PACKAGE_DIR --images DIR --captions FILE`:
reading the captions file (three formats, told apart by the file's extension) and the optional
labels file into one `Dataset`, and checking that every image it names exists. Every problem is
an InputError naming the file and line (or JSON record); nothing here decodes images.

Captions file formats (docs/models.md, "Evaluate on your own images and captions"):
- any other extension (`.tsv`, `.txt`): one `file_name<TAB>caption` per line, UTF-8; blank lines
  are skipped, and so is a first line `file_name<TAB>caption` (a header);
- `.jsonl`: one JSON object per line, `{"image": "a.jpg", "caption": "..."}`; the image key may
  also be `file_name` or `file_path`, the caption key `captions` or `caption_ko` with a list;
- `.json`: COCO captions `{"images": [{"id", "file_name"}], "annotations": [{"image_id",
  "caption"}]}` (MSCOCO-ko), or a JSON array of the `.jsonl` objects (AI Hub's Korean COCO:
  `{"file_path": ..., "caption_ko": [...]}`).
An image may have several captions; file names are relative to the images folder.
Labels file (zero-shot): one `file_name<TAB>label` per line, same rules as the TSV captions.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any

from .errors import InputError

IMAGE_KEYS = ("image", "file_name", "file_path")
CAPTION_KEYS = ("caption", "captions", "caption_ko")
MAX_MISSING_SHOWN = 5


@dataclass
class Dataset:
    """Images in order of first mention, each caption with the index of its image."""

    images: list[str] = field(default_factory=list)
    captions: list[str] = field(default_factory=list)
    caption_image: list[int] = field(default_factory=list)
    where: dict[str, str] = field(default_factory=dict)
    """image -> where it is first named (`captions.tsv:12`), for error messages."""
    labels: dict[int, str] = field(default_factory=dict)
    """image index -> label (only with a labels file)."""
    _index: dict[str, int] = field(default_factory=dict)

    def add(self, image: str, caption: str, where: str) -> None:
        i = self._index.get(image)
        if i is None:
            i = self._index[image] = len(self.images)
            self.images.append(image)
            self.where[image] = where
        self.captions.append(caption)
        self.caption_image.append(i)

    def index_of(self, image: str) -> int | None:
        return self._index.get(image)


def _text(value: Any, what: str, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: {what} must be a non-empty string, got {json.dumps(value, ensure_ascii=False)}")
    return value.strip()


def _tsv_rows(path: str, header: str) -> list[tuple[str, str, str]]:
    """(first, second, where) for each non-blank line of a two-column TSV file."""
    name = os.path.basename(path)
    rows = []
    try:
        with open(path, encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError as err:
        raise InputError(f"{path} is not UTF-8 text: {err}") from None
    for n, line in enumerate(lines, 1):
        if not line.strip() or (n == 1 and line.strip().lower() == header):
            continue
        parts = line.split("\t")
        where = f"{name}:{n}"
        if len(parts) != 2:
            raise InputError(f"{where}: expected `file_name<TAB>text` (2 columns), got {len(parts)}: {line[:80]!r}")
        rows.append((_text(parts[0], "the file name", where), _text(parts[1], "the text", where), where))
    return rows


def _record(obj: Any, ds: Dataset, where: str) -> None:
    """One `{"image": ..., "caption": ...}`-style object (several captions allowed)."""
    if not isinstance(obj, dict):
        raise InputError(f"{where}: expected a JSON object with an image and a caption")
    img_key = next((k for k in IMAGE_KEYS if k in obj), None)
    cap_key = next((k for k in CAPTION_KEYS if k in obj), None)
    if img_key is None or cap_key is None:
        raise InputError(
            f"{where}: needs an image key ({' / '.join(IMAGE_KEYS)}) and a caption key "
            f"({' / '.join(CAPTION_KEYS)}); has {sorted(obj)}"
        )
    image = _text(obj[img_key], img_key, where)
    caps = obj[cap_key] if isinstance(obj[cap_key], list) else [obj[cap_key]]
    if not caps:
        raise InputError(f"{where}: {cap_key} is an empty list")
    for c in caps:
        ds.add(image, _text(c, cap_key, where), where)


def _coco(doc: dict[str, Any], ds: Dataset, name: str) -> None:
    images, annotations = doc.get("images"), doc.get("annotations")
    if not isinstance(images, list) or not isinstance(annotations, list):
        raise InputError(f"{name}: a COCO captions file needs the lists `images` and `annotations`")
    by_id: dict[Any, str] = {}
    for k, im in enumerate(images):
        where = f"{name}: images[{k}]"
        if not isinstance(im, dict) or "id" not in im:
            raise InputError(f"{where}: expected an object with `id` and `file_name`")
        by_id[im["id"]] = _text(im.get("file_name"), "file_name", where)
    for k, ann in enumerate(annotations):
        where = f"{name}: annotations[{k}]"
        if not isinstance(ann, dict) or ann.get("image_id") not in by_id:
            image_id = ann.get("image_id") if isinstance(ann, dict) else None
            raise InputError(f"{where}: image_id {image_id!r} is not the id of an entry in `images`")
        ds.add(by_id[ann["image_id"]], _text(ann.get("caption"), "caption", where), where)


def read_captions(path: str) -> Dataset:
    """The captions file as a Dataset (format by extension; see the module comment)."""
    name, ext = os.path.basename(path), os.path.splitext(path)[1].lower()
    ds = Dataset()
    if ext in (".json", ".jsonl"):
        try:
            with open(path, encoding="utf-8-sig") as f:
                text = f.read()
        except UnicodeDecodeError as err:
            raise InputError(f"{path} is not UTF-8 text: {err}") from None
        if ext == ".jsonl":
            for n, line in enumerate(text.splitlines(), 1):
                if line.strip():
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as err:
                        raise InputError(f"{name}:{n}: not JSON: {err.msg}") from None
                    _record(obj, ds, f"{name}:{n}")
        else:
            try:
                doc = json.loads(text)
            except json.JSONDecodeError as err:
                raise InputError(f"{name}:{err.lineno}: not JSON: {err.msg}") from None
            if isinstance(doc, list):
                for k, obj in enumerate(doc):
                    _record(obj, ds, f"{name}: [{k}]")
            elif isinstance(doc, dict):
                _coco(doc, ds, name)
            else:
                raise InputError(f"{name}: expected a COCO captions object or an array of records")
    else:
        for image, caption, where in _tsv_rows(path, "file_name\tcaption"):
            ds.add(image, caption, where)
    if not ds.captions:
        raise InputError(f"{path} has no captions")
    return ds


def read_labels(path: str, ds: Dataset) -> None:
    """Fills `ds.labels` from a `file_name<TAB>label` file; every image it names must be one of
    the captions file's, at most once."""
    for image, label, where in _tsv_rows(path, "file_name\tlabel"):
        i = ds.index_of(image)
        if i is None:
            raise InputError(f"{where}: {image} is not in the captions file")
        if i in ds.labels:
            raise InputError(f"{where}: {image} has a second label")
        ds.labels[i] = label
    if not ds.labels:
        raise InputError(f"{path} has no labels")
    if len(set(ds.labels.values())) < 2:
        raise InputError(f"{path}: zero-shot accuracy needs at least 2 different labels")


def check_images(images_dir: str, ds: Dataset) -> None:
    """Every image of the set is a file under `images_dir` (all missing ones counted at once)."""
    if not os.path.isdir(images_dir):
        raise InputError(f"images folder {images_dir} does not exist")
    missing = [im for im in ds.images if not os.path.isfile(os.path.join(images_dir, im))]
    if missing:
        shown = "; ".join(f"{im} (named at {ds.where[im]})" for im in missing[:MAX_MISSING_SHOWN])
        more = f" and {len(missing) - MAX_MISSING_SHOWN} more" if len(missing) > MAX_MISSING_SHOWN else ""
        raise InputError(f"{len(missing)} of {len(ds.images)} images are not in {images_dir}: {shown}{more}")
