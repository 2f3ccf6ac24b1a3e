"""Everyday Korean for the synthetic shapes: the many ways people ask for the same picture.

koclip_kit.data describes a scene with a handful of templates and two word forms per attribute.
People say 빨강, 빨간, 빨간색, 붉은 or 레드; 동그라미 or 원형; 두 개, 둘 or 2개; they drop spaces,
change the word order, end with 있어요 or 보여 주세요, and mistype (빨깐, 파렁). This module owns
that vocabulary and two disjoint sets of sentence frames:

- TRAIN_FRAMES, which the text tower learns from (koclip_kit.lit), and
- EVAL_FRAMES, which only the paraphrase evaluation uses (`paraphrase_set`): a query there never
  shares a frame with training, only the word forms a frame is filled with (a model cannot know a
  colour word it never saw). `check_disjoint` holds the two apart, frame by frame and as the
  strings they render to.

The noise (typos, spacing) is one process with one seeded generator per use, so evaluation typos
are fresh instances of the kinds training saw, not the same strings.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Any

from . import data
from . import korean as ko

# attribute value -> (modifier forms used before a noun, noun forms used in "색깔은 X")
COLOUR_FORMS: dict[str, tuple[list[str], list[str]]] = {
    "red": (
        ["빨간", "빨강", "빨간색", "붉은", "레드", "빨강색", "새빨간", "붉은색"],
        ["빨간색", "빨강", "빨강색", "붉은색", "레드"],
    ),
    "orange": (["주황색", "주황", "주황빛", "오렌지색", "오렌지"], ["주황색", "주황", "오렌지색"]),
    "yellow": (["노란", "노랑", "노란색", "노랑색", "샛노란", "옐로"], ["노란색", "노랑", "노랑색"]),
    "green": (["초록색", "초록", "녹색", "초록빛", "그린"], ["초록색", "초록", "녹색"]),
    "blue": (["파란", "파랑", "파란색", "파랑색", "푸른", "새파란", "블루"], ["파란색", "파랑", "파랑색", "푸른색"]),
    "purple": (["보라색", "보라", "보랏빛", "퍼플", "보라빛"], ["보라색", "보라"]),
    "pink": (["분홍색", "분홍", "핑크색", "핑크", "분홍빛"], ["분홍색", "분홍", "핑크색", "핑크"]),
    "brown": (["갈색", "밤색", "브라운", "고동색"], ["갈색", "밤색", "고동색"]),
}
SHAPE_FORMS: dict[str, list[str]] = {
    "circle": ["원", "동그라미", "원형", "동그란 모양", "원 모양"],
    "square": ["사각형", "네모", "정사각형", "네모난 모양", "네모 모양"],
    "triangle": ["삼각형", "세모", "세모 모양", "삼각형 모양", "세모난 모양"],
    "star": ["별", "별 모양", "별모양", "스타"],
    "diamond": ["마름모", "마름모꼴", "다이아몬드", "다이아몬드 모양", "마름모 모양"],
}
# counts after the noun (별 두 개) and before it with 의 (두 개의 별)
COUNT_FORMS: dict[int, list[str]] = {
    1: ["한 개", "하나", "1개", "한개", "1 개"],
    2: ["두 개", "둘", "2개", "두개", "2 개"],
    3: ["세 개", "셋", "3개", "세개", "3 개"],
}
COUNT_DET: dict[int, list[str]] = {
    1: ["한 개의", "1개의", "한개의"],
    2: ["두 개의", "2개의", "두개의"],
    3: ["세 개의", "3개의", "세개의"],
}
SIZE_FORMS: dict[str, list[str]] = {
    "small": ["작은", "조그만", "조그마한", "자그마한", "소형", "쪼그만"],
    "large": ["큰", "커다란", "큼직한", "대형", "큼지막한"],
}
SIZE_PRED: dict[str, list[str]] = {
    "small": ["작다", "작아요", "작습니다", "작음", "작은 편"],
    "large": ["크다", "커요", "큽니다", "큼", "큰 편"],
}
ENDINGS = ["있다", "있어요", "있습니다", "있음", "있네요", "있는 그림", "있는 사진"]
REQUESTS = ["보여 줘", "보여줘", "찾아 줘", "찾아줘", "보여 주세요", "찾아 주세요", "보여주세요", "검색해 줘"]


@dataclass(frozen=True)
class Frame:
    """A sentence frame: `{C}` colour modifier, `{Cn}` colour noun, `{S}` shape, `{N}` count after
    the noun, `{Nd}` count before it, `{Z}` size modifier, `{Zp}` size predicate, `{E}` ending,
    `{R}` request; `{S|이}` adds the particle that fits the word's last syllable (이/가, 을/를,
    은/는, 으로/로, 와/과)."""

    text: str

    @property
    def attrs(self) -> frozenset[str]:
        slots = set(re.findall(r"\{(\w+)", self.text))
        out = set()
        for slot, attr in (("C", "colour"), ("Cn", "colour"), ("S", "shape"), ("N", "count"), ("Nd", "count")):
            if slot in slots:
                out.add(attr)
        if slots & {"Z", "Zp"}:
            out.add("size")
        return frozenset(out)


def _frames(*texts: str) -> list[Frame]:
    return [Frame(t) for t in texts]


# what the text tower learns from: statements, fragments, requests; every word order it should
# accept; plain, polite and formal endings
TRAIN_FRAMES = _frames(
    "{C} {S}",
    "{C} {S} {N}",
    "{Z} {C} {S}",
    "{Z} {C} {S} {N}",
    "{Nd} {Z} {C} {S}",
    "{Nd} {C} {S}",
    "{C} {Z} {S}",
    "{S} {N}",
    "{Z} {S}",
    "{S}",
    "{C} 도형",
    "{C} {S|이} {N} {E}",
    "{Z} {C} {S|이} {N} {E}",
    "{C} {S|이} {E}",
    "{Z} {C} {S|을} {R}",
    "{C} {S} {N} {R}",
    "{Nd} {C} {S|을} {R}",
    "{S} {N}, 색은 {Cn}",
    "{S} {N}, 색깔은 {Cn}, 크기는 {Zp}",
    "{Cn|으로} 칠해진 {Z} {S} {N}",
    "{Cn|으로} 칠한 {S}",
    "이것은 {Z} {C} {S} {N} 이다.",
    "이것은 {C} {S} 이다.",
    "사진에 {Z} {C} {S|이} {N} 보인다.",
    "{C} {S|을} 그린 그림",
    "{Z} {C} {S|이} {N} 있는 사진",
    "{S|이} {N} {E}. 색은 {Cn}.",
    "{C} {S} 사진 {R}",
    "{Z} {S} {N}",
    "{C} {S} 여러 개",
    "{S} {N} 있는 그림 {R}",
    "{Cn} {S}",
    "{Cn} {S} {N}",
)
# only the paraphrase evaluation uses these (no frame, and no rendered string, is shared)
EVAL_FRAMES = _frames(
    "{N} 있는 {C} {S}",
    "{C} {S|이} {N}만 있는 이미지",
    "{Cn} 계열 {S} {N}",
    "혹시 {C} {S} {N} 있나요?",
    "{Z} {C} {S} 찾고 있어요",
    "{C} {S} {N} 그려진 거",
    "{S} 중에 {C} 것",
    "색깔이 {Cn}인 {S}",
    "{Nd} {S}, {C} 걸로",
    "{Z} 크기의 {C} {S}",
    "{C} {S|이} {N} 그려져 있는 그림",
    "{Z} {C} {S|이} {N} 놓여 있다",
    "{C} {S} {N} 나오는 사진",
    "{Cn} {S|이} {N} 나온 사진 좀",
    "{S|이} {C} 거 {N}",
    "{Z} {S|이} {N}인데 색은 {Cn}",
    "{S}인데 {C} 거",
    "{C} {S|이} 담긴 이미지",
    "{N} 그려진 {Z} {C} {S}",
    "{S|은} 색이 {Cn}, {N} 있어요",
)

PARTICLES = {"이": ko.subject, "을": ko.obj, "은": ko.topic, "으로": ko.instrumental}


def _with(word: str, particle: str | None) -> str:
    if particle is None:
        return word
    if particle == "와":
        return word + ("과" if ko.has_batchim(word) else "와")
    return PARTICLES[particle](word)


def words(attrs: dict[str, Any], rng: random.Random) -> dict[str, str]:
    """One random word form per slot for a scene's attributes."""
    mods, nouns = COLOUR_FORMS[attrs["colour"]]
    return {
        "C": rng.choice(mods),
        "Cn": rng.choice(nouns),
        "S": rng.choice(SHAPE_FORMS[attrs["shape"]]),
        "N": rng.choice(COUNT_FORMS[attrs["count"]]),
        "Nd": rng.choice(COUNT_DET[attrs["count"]]),
        "Z": rng.choice(SIZE_FORMS[attrs["size"]]),
        "Zp": rng.choice(SIZE_PRED[attrs["size"]]),
        "E": rng.choice(ENDINGS),
        "R": rng.choice(REQUESTS),
    }


def fill(frame: Frame, w: dict[str, str]) -> str:
    def sub(m: re.Match[str]) -> str:
        return _with(w[m.group(1)], m.group(2))

    return re.sub(r"\{(\w+)(?:\|(\w+))?\}", sub, frame.text)


# ---------------------------------------------------------------- noise

_L, _V, _T = 19, 21, 28
# initial consonant index -> its tense (doubled) form: ㄱㄲ ㄷㄸ ㅂㅃ ㅅㅆ ㅈㅉ
_TENSE = {0: 1, 3: 4, 7: 8, 9: 10, 12: 13}
# vowels people confuse: ㅐ/ㅔ, ㅓ/ㅗ, ㅏ/ㅓ, ㅙ/ㅞ/ㅚ
_VOWEL_SWAP = {1: 5, 5: 1, 4: 8, 8: 4, 0: 4, 10: 15, 15: 11, 11: 10}


def _split(ch: str) -> tuple[int, int, int] | None:
    code = ord(ch) - 0xAC00
    if not 0 <= code < 11172:
        return None
    return code // (_V * _T), (code % (_V * _T)) // _T, code % _T


def _join(lead: int, vowel: int, tail: int) -> str:
    return chr(0xAC00 + (lead * _V + vowel) * _T + tail)


def typo(text: str, rng: random.Random) -> str:
    """One common slip in a random Hangul syllable: a doubled initial (빨간 -> 빨깐), a confused
    vowel (ㅐ/ㅔ, ㅏ/ㅓ, ㅓ/ㅗ), or a dropped final consonant."""
    # syllables of words of two or more syllables (a one-syllable word like 원 or 별 mistyped is
    # another word, not a slip)
    spots = [
        i
        for i, ch in enumerate(text)
        if _split(ch) is not None
        and ((i > 0 and _split(text[i - 1]) is not None) or (i + 1 < len(text) and _split(text[i + 1]) is not None))
    ]
    if not spots:
        return text
    for _ in range(6):
        i = rng.choice(spots)
        split = _split(text[i])
        assert split is not None
        lead, vowel, tail = split
        kind = rng.randrange(3)
        if kind == 0 and lead in _TENSE:
            lead = _TENSE[lead]
        elif kind == 1 and vowel in _VOWEL_SWAP:
            vowel = _VOWEL_SWAP[vowel]
        elif kind == 2 and tail:
            tail = 0
        else:
            continue
        return text[:i] + _join(lead, vowel, tail) + text[i + 1 :]
    return text


def respace(text: str, rng: random.Random) -> str:
    """Spacing as people type it: a space dropped between two words, or all of them."""
    gaps = [i for i, ch in enumerate(text) if ch == " "]
    if not gaps:
        return text
    if rng.random() < 0.25:
        return text.replace(" ", "")
    i = rng.choice(gaps)
    return text[:i] + text[i + 1 :]


def noisy(text: str, rng: random.Random, p_typo: float, p_space: float) -> str:
    if rng.random() < p_space:
        text = respace(text, rng)
    if rng.random() < p_typo:
        text = typo(text, rng)
    return text


# ---------------------------------------------------------------- training captions


P_TYPO, P_SPACE = 0.3, 0.3  # training's slip rates (the paraphrase set has a third of each)


def train_caption(scene: data.Scene, rng: random.Random) -> tuple[str, data.Attrs, str]:
    """A caption for training: 30% one of koclip_kit.data's templates (what the model learnt
    first), else an everyday frame; either with typos and spacing slips at P_TYPO / P_SPACE.
    Returns (text, mentioned attributes, the text before the slips)."""
    if rng.random() < 0.3:
        text, mentioned = data.caption(scene, rng)
    else:
        frame = rng.choice(TRAIN_FRAMES)
        attrs = scene.attrs()
        text = fill(frame, words(attrs, rng))
        mentioned = {a: attrs[a] for a in frame.attrs}
    return noisy(text, rng, P_TYPO, P_SPACE), mentioned, text


def corpus(n: int, seed: int) -> list[str]:
    """Captions for the tokenizer's vocabulary (no noise: typos fall back to syllables or jamo),
    with every word form of every slot."""
    rng = random.Random(seed)
    out = data.corpus(n // 2, seed)
    for _ in range(n // 2):
        scene = data.sample_scene(rng, "any")
        attrs = scene.attrs()
        out.append(fill(rng.choice(TRAIN_FRAMES), words(attrs, rng)))
    for mods, nouns in COLOUR_FORMS.values():
        out += mods + nouns
    for forms in (*SHAPE_FORMS.values(), *COUNT_FORMS.values(), *COUNT_DET.values()):
        out += forms
    for forms in (*SIZE_FORMS.values(), *SIZE_PRED.values()):
        out += forms
    out += ENDINGS + REQUESTS
    return out


# ---------------------------------------------------------------- paraphrase evaluation

# which attributes a query names: a frame mentions some of colour, shape, count, size; the set
# keeps frames of each kind
MIN_QUERIES = 200


def paraphrase_set(items: list[dict[str, Any]], n: int = 240, seed: int = 23) -> list[dict[str, Any]]:
    """`n` everyday queries over a demo index (`items`: id + metadata): each names an attribute
    combination that at least one demo image has, through an EVAL_FRAMES frame with random word
    forms; a third carry a typo and a third a spacing slip. Returns {text, attrs, frame, noise}."""
    rng = random.Random(seed)
    metas = [it["metadata"] for it in items]
    out: list[dict[str, Any]] = []
    while len(out) < n:
        frame = EVAL_FRAMES[len(out) % len(EVAL_FRAMES)]
        attrs = rng.choice(metas)
        text = fill(frame, words(attrs, rng))
        noise = []
        if rng.random() < 1 / 3:
            text = respace(text, rng)
            noise.append("spacing")
        if rng.random() < 1 / 3:
            typed = typo(text, rng)
            if typed != text:
                noise.append("typo")
            text = typed
        mentioned = {a: attrs[a] for a in sorted(frame.attrs)}
        out.append({"text": text, "attrs": mentioned, "frame": frame.text, "noise": noise})
    return out


def check_disjoint(samples: int = 3000, seed: int = 5) -> None:
    """Raises when an evaluation frame is also a training frame or template, or renders to a
    string training renders (checked over `samples` random fillings of each)."""
    train = {f.text for f in TRAIN_FRAMES}
    shared = [f.text for f in EVAL_FRAMES if f.text in train]
    if shared:
        raise ValueError(f"frames in both sets: {shared}")
    rng = random.Random(seed)
    seen: set[str] = set()
    for _ in range(samples):
        scene = data.sample_scene(rng, "any")
        seen.add(fill(rng.choice(TRAIN_FRAMES), words(scene.attrs(), rng)))
        seen.add(data.caption(scene, rng)[0])
    for _ in range(samples):
        scene = data.sample_scene(rng, "any")
        text = fill(rng.choice(EVAL_FRAMES), words(scene.attrs(), rng))
        if text in seen:
            raise ValueError(f"evaluation string {text!r} is also a training string")


def r_precision(sims: Any, queries: list[dict[str, Any]], metas: list[dict[str, Any]]) -> dict[str, Any]:
    """R-precision of each query over the index (R = the images whose metadata satisfy the query):
    the mean, the worst, by noise kind and by mentioned attributes; and for count queries whether
    the first hit has the asked count."""
    import numpy as np

    per, kinds, by_attrs = [], {"clean": [], "typo": [], "spacing": []}, {}  # type: ignore[var-annotated]
    count_first = []
    for qi, q in enumerate(queries):
        relevant = [j for j, m in enumerate(metas) if data.satisfies(m, q["attrs"])]
        r = len(relevant)
        top = np.argsort(-sims[qi])[:r]
        score = len(set(top.tolist()) & set(relevant)) / r
        per.append(score)
        for k in q["noise"] or ["clean"]:
            kinds[k].append(score)
        key = "+".join(sorted(q["attrs"]))
        by_attrs.setdefault(key, []).append(score)
        if "count" in q["attrs"]:
            count_first.append(metas[int(np.argmax(sims[qi]))]["count"] == q["attrs"]["count"])
    order = np.argsort(per)
    return {
        "queries": len(queries),
        "r_precision": round(float(np.mean(per)), 4),
        "by_noise": {k: round(float(np.mean(v)), 4) for k, v in kinds.items() if v},
        "by_attributes": {k: round(float(np.mean(v)), 4) for k, v in sorted(by_attrs.items())},
        "count_queries_first_hit_count": round(float(np.mean(count_first)), 4) if count_first else None,
        "worst": [{"text": queries[i]["text"], "r_precision": round(per[i], 3)} for i in order[:5]],
    }
