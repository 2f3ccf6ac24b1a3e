"""Korean word forms used by the caption templates (particles follow the final consonant)."""


def has_batchim(word: str) -> bool:
    """True when the last Hangul syllable of `word` ends in a consonant (받침)."""
    ch = word[-1]
    code = ord(ch) - 0xAC00
    if 0 <= code < 11172:
        return code % 28 != 0
    return False


def subject(word: str) -> str:
    return word + ("이" if has_batchim(word) else "가")


def obj(word: str) -> str:
    return word + ("을" if has_batchim(word) else "를")


def topic(word: str) -> str:
    return word + ("은" if has_batchim(word) else "는")


def instrumental(word: str) -> str:
    # 으로 after a consonant other than ㄹ; 로 after a vowel or ㄹ
    code = ord(word[-1]) - 0xAC00
    if 0 <= code < 11172 and code % 28 not in (0, 8):
        return word + "으로"
    return word + "로"


# particles the tokenizer builder splits off as ## continuations (longest first)
PARTICLES = ["으로", "에서", "이", "가", "을", "를", "은", "는", "에", "의", "로", "와", "과", "도"]
