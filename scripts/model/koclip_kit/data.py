"""Synthetic Korean image-caption data: coloured shapes with counts, sizes, positions.

Every image is one group of 1-3 identical shapes (same colour, shape and size) on a plain
background, so each image has exactly one value per attribute and a caption that mentions a
subset of the attributes is either satisfied by an image or not. Everything is deterministic
from a seed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, TypeAlias

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from . import korean as ko
from .common import F32

IMAGE_SIZE = 224

# name, RGB, modifier forms (used before a noun), noun forms (colour names)
COLOURS = [
    ("red", (215, 35, 35), ["빨간", "붉은"], ["빨간색", "붉은색"]),
    ("orange", (245, 135, 20), ["주황색", "주황빛"], ["주황색"]),
    ("yellow", (240, 215, 25), ["노란", "노란색"], ["노란색"]),
    ("green", (35, 150, 55), ["초록색", "녹색"], ["초록색", "녹색"]),
    ("blue", (35, 75, 215), ["파란", "푸른"], ["파란색", "푸른색"]),
    ("purple", (135, 45, 185), ["보라색", "보랏빛"], ["보라색"]),
    ("pink", (250, 125, 185), ["분홍색", "핑크색"], ["분홍색", "핑크색"]),
    ("brown", (125, 75, 35), ["갈색"], ["갈색"]),
]
SHAPES = [
    ("circle", ["원", "동그라미"]),
    ("square", ["사각형", "네모"]),
    ("triangle", ["삼각형", "세모"]),
    ("star", ["별", "별 모양"]),
    ("diamond", ["마름모"]),
]
SIZES = [("small", ["작은"], "작다"), ("large", ["큰"], "크다")]
COUNTS = [(1, ["한 개", "하나", "1개"]), (2, ["두 개", "둘", "2개"]), (3, ["세 개", "셋", "3개"])]
POSITIONS = [
    ("left", ["왼쪽에"]),
    ("right", ["오른쪽에"]),
    ("top", ["위쪽에"]),
    ("bottom", ["아래쪽에"]),
    ("center", ["가운데에", "중앙에"]),
]
BACKGROUNDS = [
    ("white", (248, 248, 248), ["흰 배경에", "흰색 바탕에"]),
    ("black", (28, 28, 30), ["검은 배경에", "검은색 바탕에"]),
    ("gray", (150, 150, 150), ["회색 배경에", "회색 바탕에"]),
    ("beige", (236, 222, 190), ["베이지색 배경에"]),
]
EN_COLOURS = {
    "red": "red",
    "orange": "orange",
    "yellow": "yellow",
    "green": "green",
    "blue": "blue",
    "purple": "purple",
    "pink": "pink",
    "brown": "brown",
}
EN_SHAPES = {"circle": "circle", "square": "square", "triangle": "triangle", "star": "star", "diamond": "diamond"}
EN_COUNTS = {1: "one", 2: "two", 3: "three"}

COLOUR_NAMES = [c[0] for c in COLOURS]
SHAPE_NAMES = [s[0] for s in SHAPES]
SIZE_NAMES = [s[0] for s in SIZES]
POSITION_NAMES = [p[0] for p in POSITIONS] + ["none"]
BACKGROUND_NAMES = [b[0] for b in BACKGROUNDS]

# colour-shape combinations never seen in training: the test split measures composition on them
HELD_OUT = {
    ("red", "star"),
    ("blue", "triangle"),
    ("green", "diamond"),
    ("yellow", "circle"),
    ("purple", "square"),
    ("pink", "triangle"),
}

ATTRS = ("colour", "shape", "count", "size", "position", "background")


Attrs: TypeAlias = dict[str, Any]
"""Attribute name -> value (str, or int for "count")."""


@dataclass(frozen=True)
class Scene:
    colour: str
    shape: str
    count: int
    size: str
    position: str  # one of POSITIONS for a single shape, "none" for 2-3 shapes
    background: str
    seed: int

    def attrs(self) -> Attrs:
        d = asdict(self)
        d.pop("seed")
        return d


def sample_scene(rng: random.Random, split: str, combo: tuple[str, str] | None = None) -> Scene:
    """A random scene; training scenes never use a held-out colour-shape combination."""
    while True:
        colour, shape = combo or (rng.choice(COLOUR_NAMES), rng.choice(SHAPE_NAMES))
        if split == "train" and (colour, shape) in HELD_OUT:
            combo = None
            continue
        break
    count = rng.choice([1, 2, 3])
    position = rng.choice(POSITION_NAMES[:-1]) if count == 1 else "none"
    return Scene(
        colour, shape, count, rng.choice(SIZE_NAMES), position, rng.choice(BACKGROUND_NAMES), rng.randrange(1 << 30)
    )


def balanced_scenes(n: int, seed: int) -> list[Scene]:
    """Evaluation scenes cycling through every colour x shape x count x size cell evenly."""
    rng = random.Random(seed)
    scenes = []
    for i in range(n):
        colour = COLOUR_NAMES[i % 8]
        shape = SHAPE_NAMES[(i // 8) % 5]
        count = 1 + (i // 40) % 3
        size = SIZE_NAMES[(i // 120) % 2]
        position = rng.choice(POSITION_NAMES[:-1]) if count == 1 else "none"
        scenes.append(Scene(colour, shape, count, size, position, rng.choice(BACKGROUND_NAMES), rng.randrange(1 << 30)))
    return scenes


# ---------------------------------------------------------------- rendering


def _shape_polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]] | None:
    if shape == "square":
        h = r * 0.86
        return [(cx - h, cy - h), (cx + h, cy - h), (cx + h, cy + h), (cx - h, cy + h)]
    if shape == "triangle":
        return [
            (cx + r * math.cos(a), cy + r * math.sin(a))
            for a in (-math.pi / 2, -math.pi / 2 + 2 * math.pi / 3, -math.pi / 2 + 4 * math.pi / 3)
        ]
    if shape == "diamond":
        return [(cx, cy - r), (cx + r * 0.8, cy), (cx, cy + r), (cx - r * 0.8, cy)]
    if shape == "star":
        pts = []
        for k in range(10):
            a = -math.pi / 2 + k * math.pi / 5
            rr = r if k % 2 == 0 else r * 0.42
            pts.append((cx + rr * math.cos(a), cy + rr * math.sin(a)))
        return pts
    return None


def _radius(size: str, rng: random.Random) -> float:
    return rng.uniform(17, 23) if size == "small" else rng.uniform(36, 44)


def _centres(scene: Scene, r: float, rng: random.Random) -> list[tuple[float, float]]:
    S = IMAGE_SIZE
    m = r + 4
    if scene.count == 1:
        third = S / 3
        box = {
            "left": (m, third * 0.9, third, S - third),
            "right": (S - third * 0.9, S - m, third, S - third),
            "top": (third, S - third, m, third * 0.9),
            "bottom": (third, S - third, S - third * 0.9, S - m),
            "center": (S / 2 - 14, S / 2 + 14, S / 2 - 14, S / 2 + 14),
        }[scene.position]
        x0, x1, y0, y1 = box
        if x0 > x1:
            x0 = x1 = (x0 + x1) / 2
        if y0 > y1:
            y0 = y1 = (y0 + y1) / 2
        return [(rng.uniform(x0, x1), rng.uniform(y0, y1))]
    for _ in range(2000):
        pts = [(rng.uniform(m, S - m), rng.uniform(m, S - m)) for _ in range(scene.count)]
        if all(math.dist(a, b) > 2 * r + 6 for i, a in enumerate(pts) for b in pts[i + 1 :]):
            return pts
    raise RuntimeError("could not place shapes")  # unreachable with the radii above


def render(scene: Scene, noise: bool = True) -> Image.Image:
    """Draws a scene as a 224x224 RGB image (mild colour jitter, blur and, unless turned off,
    pixel noise; the demo set is drawn without noise so its PNG files stay small)."""
    rng = random.Random(scene.seed)
    bg = next(b[1] for b in BACKGROUNDS if b[0] == scene.background)
    fg = next(c[1] for c in COLOURS if c[0] == scene.colour)

    def jit(rgb: tuple[int, int, int], a: int) -> tuple[int, ...]:
        return tuple(max(0, min(255, v + rng.randint(-a, a))) for v in rgb)

    img = Image.new("RGB", (IMAGE_SIZE, IMAGE_SIZE), jit(bg, 8))
    draw = ImageDraw.Draw(img)
    r = _radius(scene.size, rng)
    for cx, cy in _centres(scene, r, rng):
        colour = jit(fg, 12)
        poly = _shape_polygon(scene.shape, cx, cy, r)
        if poly is None:
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=colour)
        else:
            draw.polygon(poly, fill=colour)
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    if not noise:
        return img
    arr = np.asarray(img, dtype=np.int16)
    noise_arr = np.random.default_rng(scene.seed).integers(-6, 7, size=arr.shape, dtype=np.int16)
    return Image.fromarray(np.clip(arr + noise_arr, 0, 255).astype(np.uint8))


def pixel_batch(scenes: list[Scene]) -> F32:
    """Rendered scenes as a normalised float32 NCHW batch (the towers' input)."""
    from .preprocess import normalise

    return np.stack([normalise(np.asarray(render(s))) for s in scenes])


# ---------------------------------------------------------------- captions


Words: TypeAlias = dict[str, Any]
"""Template slot -> chosen word (None for a position when the scene has none)."""


def _words(scene: Scene, rng: random.Random) -> Words:
    c = next(c for c in COLOURS if c[0] == scene.colour)
    s = next(s for s in SHAPES if s[0] == scene.shape)
    z = next(z for z in SIZES if z[0] == scene.size)
    n = next(n for n in COUNTS if n[0] == scene.count)
    b = next(b for b in BACKGROUNDS if b[0] == scene.background)
    p = next((p for p in POSITIONS if p[0] == scene.position), None)
    return {
        "C": rng.choice(c[2]),
        "Cn": rng.choice(c[3]),
        "S": rng.choice(s[1]),
        "Z": rng.choice(z[1]),
        "Zp": z[2],
        "N": rng.choice(n[1]),
        "B": rng.choice(b[2]),
        "P": rng.choice(p[1]) if p else None,
        "eC": EN_COLOURS[scene.colour],
        "eS": EN_SHAPES[scene.shape],
        "eN": EN_COUNTS[scene.count],
    }


# (template, attributes it mentions, needs a position). Full templates mention colour, shape,
# count and size; the rest are partial descriptions.
Template: TypeAlias = tuple[Callable[[Words], str], frozenset[str], bool]


def _t(fn: Callable[[Words], str], attrs: tuple[str, ...], position: bool = False) -> Template:
    return (fn, frozenset(attrs), position)


CORE = ("colour", "shape", "count", "size")
TEMPLATES = [
    _t(lambda w: f"{w['B']} {w['Z']} {w['C']} {ko.subject(w['S'])} {w['N']} 있다.", (*CORE, "background")),
    _t(lambda w: f"{w['Z']} {w['C']} {w['S']} {w['N']}", CORE),
    _t(lambda w: f"{w['N']}의 {w['Z']} {w['C']} {w['S']}", CORE),
    _t(lambda w: f"이것은 {w['Z']} {w['C']} {w['S']} {w['N']} 이다.", CORE),
    _t(lambda w: f"{w['Z']} {w['C']} {ko.subject(w['S'])} {w['N']} 있는 사진", CORE),
    _t(lambda w: f"사진에 {w['Z']} {w['C']} {ko.subject(w['S'])} {w['N']} 보인다.", CORE),
    _t(lambda w: f"{ko.instrumental(w['Cn'])} 칠해진 {w['Z']} {w['S']} {w['N']}", CORE),
    _t(lambda w: f"{w['S']} {w['N']}, 색깔은 {w['Cn']}, 크기는 {w['Zp']}.", CORE),
    _t(lambda w: f"{w['P']} {w['Z']} {w['C']} {ko.subject(w['S'])} 하나 있다.", (*CORE, "position"), True),
    _t(lambda w: f"{w['C']} {w['S']}", ("colour", "shape")),
    _t(lambda w: f"{w['C']} {ko.subject(w['S'])} 있다.", ("colour", "shape")),
    _t(lambda w: f"이것은 {w['C']} {w['S']} 이다.", ("colour", "shape")),
    _t(lambda w: f"{w['C']} {ko.obj(w['S'])} 그린 그림", ("colour", "shape")),
    _t(lambda w: f"{w['S']}", ("shape",)),
    _t(lambda w: f"이것은 {w['S']} 이다.", ("shape",)),
    _t(lambda w: f"{w['C']} 도형", ("colour",)),
    _t(lambda w: f"이것은 {w['C']} 도형 이다.", ("colour",)),
    _t(lambda w: f"{w['S']} {w['N']}", ("shape", "count")),
    _t(lambda w: f"{w['Z']} {w['S']}", ("size", "shape")),
    _t(lambda w: f"{w['C']} {w['S']} {w['N']}", ("colour", "shape", "count")),
    _t(lambda w: f"{w['Z']} {w['C']} {w['S']}", ("colour", "shape", "size")),
    _t(lambda w: f"{w['B']} {w['C']} {w['S']}", ("colour", "shape", "background")),
    _t(lambda w: f"{w['P']} {ko.subject(w['S'])} 있다.", ("shape", "position"), True),
    _t(lambda w: f"{w['eC']} {w['eS']}", ("colour", "shape")),
    _t(lambda w: f"{w['eN']} {w['eC']} {w['eS']}{'s' if w['eN'] != 'one' else ''}", ("colour", "shape", "count")),
]
FULL_TEMPLATES = [i for i, t in enumerate(TEMPLATES) if set(CORE) <= t[1] and not t[2]]


def caption(scene: Scene, rng: random.Random, template: int | None = None) -> tuple[str, Attrs]:
    """A caption for the scene and the attributes it mentions (attribute -> value)."""
    usable = [i for i, t in enumerate(TEMPLATES) if not t[2] or scene.position != "none"]
    idx = rng.choice(usable) if template is None else template
    fn, attrs, _ = TEMPLATES[idx]
    text = fn(_words(scene, rng))
    mentioned = {a: getattr(scene, a) for a in attrs}
    return text, mentioned


def full_caption(scene: Scene, rng: random.Random) -> tuple[str, Attrs]:
    return caption(scene, rng, rng.choice(FULL_TEMPLATES))


def satisfies(attrs: Attrs, mentioned: Attrs) -> bool:
    return all(attrs[k] == v for k, v in mentioned.items())


def corpus(n: int, seed: int) -> list[str]:
    """Captions for the tokenizer's vocabulary: every template over random scenes."""
    rng = random.Random(seed)
    out: list[str] = []
    for _ in range(n):
        scene = sample_scene(rng, "any")
        out.append(caption(scene, rng)[0])
    # every word form of every attribute, so the vocabulary covers all of them
    for c in COLOURS:
        out += c[2] + c[3]
    for s in SHAPES:
        out += s[1]
    for tpl in range(len(TEMPLATES)):
        for cname in COLOUR_NAMES:
            for sname in SHAPE_NAMES:
                scene = Scene(
                    cname,
                    sname,
                    rng.choice([1, 2, 3]),
                    rng.choice(SIZE_NAMES),
                    "center",
                    rng.choice(BACKGROUND_NAMES),
                    0,
                )
                out.append(caption(scene, rng, tpl)[0])
    return out
