"""The Tang-poem corpus shipped in data/tang_poems/ and its forms.

Every poem is 4 or 8 lines of 5 or 7 characters, with ``，`` after odd lines and ``。`` after even
lines (normalised when the corpus was staged; see data/tang_poems/README.md).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import NamedTuple

from rnnkit.text.data import data_path, read_text

COMMA, FULL_STOP = "，", "。"


class Form(NamedTuple):
    name: str  # the plain-string option: "wujue", "qijue", "wulv", "qilv"
    chinese: str  # 五言绝句 ...
    line_length: int  # characters per line, punctuation excluded
    num_lines: int

    @property
    def token(self) -> str:
        """The special token that starts every poem of this form (the model is conditioned on it)."""
        return f"<{self.name}>"

    @property
    def num_chars(self) -> int:
        """Characters in a poem of this form, punctuation included."""
        return (self.line_length + 1) * self.num_lines


FORMS = {
    "wujue": Form("wujue", "五言绝句", 5, 4),
    "qijue": Form("qijue", "七言绝句", 7, 4),
    "wulv": Form("wulv", "五言律诗", 5, 8),
    "qilv": Form("qilv", "七言律诗", 7, 8),
}
FORM_TOKENS = tuple(form.token for form in FORMS.values())


def get_form(name: str) -> Form:
    """The form called ``name`` (one of wujue, qijue, wulv, qilv)."""
    if name not in FORMS:
        raise ValueError(f"form must be one of {list(FORMS)}, got {name!r}")
    return FORMS[name]


def poem_lines(poem: str) -> list[str]:
    """Split a poem into its lines, punctuation removed: '白日依山尽，黄河入海流。' -> ['白日依山尽', '黄河入海流']."""
    return [line for line in poem.replace(FULL_STOP, COMMA).split(COMMA) if line]


def poem_form(poem: str) -> Form:
    """The form of a well-formed poem; ValueError if it fits none."""
    lines = poem_lines(poem)
    for form in FORMS.values():
        if (
            len(poem) == form.num_chars
            and len(lines) == form.num_lines
            and all(len(line) == form.line_length for line in lines)
            and poem == format_poem(lines)
        ):
            return form
    raise ValueError(f"poem_form: {poem[:30]!r}... is not a 4- or 8-line poem of 5- or 7-character lines")


def format_poem(lines: Sequence[str]) -> str:
    """Join lines with ``，`` after odd lines and ``。`` after even lines."""
    return "".join(line + (COMMA if i % 2 == 0 else FULL_STOP) for i, line in enumerate(lines))


def load_poems() -> list[str]:
    """All 36,613 poems (simplified characters), one string each, in corpus order."""
    return read_text(data_path("tang_poems", "tang_poems.simp.txt.xz")).split()


class PoemSplit(NamedTuple):
    train: list[str]
    val: list[str]


def split_poems(poems: Sequence[str], val_fraction: float = 0.05, seed: int = 0) -> PoemSplit:
    """Split by poem: shuffle the indices with ``random.Random(seed)``; the first
    ``round(val_fraction * n)`` shuffled poems validate, the rest train (each keeps corpus order)."""
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"split_poems: val_fraction must be in (0, 1), got {val_fraction}")
    order = list(range(len(poems)))
    random.Random(seed).shuffle(order)
    num_val = round(val_fraction * len(poems))
    val_ids = set(order[:num_val])
    train = [p for i, p in enumerate(poems) if i not in val_ids]
    val = [p for i, p in enumerate(poems) if i in val_ids]
    return PoemSplit(train, val)
