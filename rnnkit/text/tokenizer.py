"""Character- and word-level tokenizers with special tokens, saved and loaded as JSON.

The vocabulary is ordered: special tokens first (pad 0, unknown 1, start 2, end 3, then any extra
specials), then regular tokens by decreasing training frequency (ties by code point). Frequency order
is what adaptive softmax (torch.nn.AdaptiveLogSoftmaxWithLoss) needs: its cutoffs split the
vocabulary into a frequent head and rarer tail clusters.

Example:
    >>> tok = Tokenizer.build(["abca", "bc"], level="char")
    >>> tok.encode("cab", add_start=True, add_end=True)
    [2, 6, 4, 5, 3]
    >>> tok.decode([2, 6, 4, 5, 3])
    'cab'
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

PAD, UNK, START, END = "<pad>", "<unk>", "<s>", "</s>"
SPECIAL_TOKENS = (PAD, UNK, START, END)
LEVELS = ("char", "word")
FORMAT_VERSION = 1

# "word" level: runs of letters/digits (with inner apostrophes) or single other non-space characters.
_WORD_RE = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def split_words(text: str) -> list[str]:
    """Split text into words and punctuation marks; whitespace is dropped."""
    return _WORD_RE.findall(text)


def unknown_tokens(tokens: Sequence[str], known: Callable[[str], bool], *, argument: str, text: str) -> list[str]:
    """The distinct tokens of ``tokens`` that ``known`` rejects, in order of appearance: what a model reads as
    ``<unk>``, for the caller to report as a warning.

    Raises ValueError naming ``argument`` when the input cannot be read at all: no token (empty input), or no
    token known (the model would read only ``<unk>`` and answer the same for any such input).
    """
    if not tokens:
        raise ValueError(f"{argument}: expected a text with at least one token, got {text!r} (empty input has "
                         "nothing for the model to read)")
    unknown = list(dict.fromkeys(t for t in tokens if not known(t)))
    if len(unknown) == len(set(tokens)):
        shown = " ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        raise ValueError(f"{argument}: expected a text with at least one token the model knows, got {text!r:.80} "
                         f"whose every token is unknown to it ({shown}); it would read only <unk>")
    return unknown


class Tokenizer:
    """Maps text to token ids and back, at character or word level.

    Args:
        tokens: the whole vocabulary in id order; it must start with the four special tokens
            ``<pad> <unk> <s> </s>`` and then hold ``extra_specials``.
        level: ``"char"`` (every character is a token) or ``"word"`` (:func:`split_words`).
        extra_specials: further special tokens (e.g. one per poem form) that never come out of
            :meth:`encode` on plain text but can be looked up with :meth:`token_to_id`.

    Use :meth:`build` to make one from training text.
    """

    def __init__(self, tokens: Sequence[str], *, level: str = "char", extra_specials: Sequence[str] = ()):
        if level not in LEVELS:
            raise ValueError(f"Tokenizer: level must be one of {LEVELS}, got {level!r}")
        specials = (*SPECIAL_TOKENS, *extra_specials)
        if tuple(tokens[: len(specials)]) != specials:
            raise ValueError(
                f"Tokenizer: tokens must start with the special tokens {list(specials)}, "
                f"got {list(tokens[: len(specials)])}"
            )
        if len(set(tokens)) != len(tokens):
            duplicates = sorted(t for t, n in Counter(tokens).items() if n > 1)
            raise ValueError(f"Tokenizer: tokens must be unique, got duplicates {duplicates[:10]}")
        self.level = level
        self.tokens = list(tokens)
        self.specials = specials
        self._ids = {t: i for i, t in enumerate(self.tokens)}

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        *,
        level: str = "char",
        min_count: int = 1,
        max_size: int | None = None,
        extra_specials: Sequence[str] = (),
    ) -> Tokenizer:
        """Build a vocabulary from training texts.

        Args:
            texts: training texts (never include validation text, or its rare tokens leak in).
            level: ``"char"`` or ``"word"``.
            min_count: tokens seen fewer times become ``<unk>``.
            max_size: keep at most this many regular tokens (the most frequent); None keeps all.
            extra_specials: extra special tokens placed right after the four standard ones.
        """
        if level not in LEVELS:
            raise ValueError(f"Tokenizer.build: level must be one of {LEVELS}, got {level!r}")
        if min_count < 1:
            raise ValueError(f"Tokenizer.build: min_count must be >= 1, got {min_count}")
        if max_size is not None and max_size < 1:
            raise ValueError(f"Tokenizer.build: max_size must be >= 1 or None, got {max_size}")
        specials = (*SPECIAL_TOKENS, *extra_specials)
        counts: Counter[str] = Counter()
        for text in texts:
            counts.update(text if level == "char" else split_words(text))
        for special in specials:
            counts.pop(special, None)
        regular = sorted((t for t, n in counts.items() if n >= min_count), key=lambda t: (-counts[t], t))
        if max_size is not None:
            regular = regular[:max_size]
        return cls([*specials, *regular], level=level, extra_specials=extra_specials)

    # ids of the special tokens
    pad_id = property(lambda self: 0)
    unk_id = property(lambda self: 1)
    start_id = property(lambda self: 2)
    end_id = property(lambda self: 3)

    @property
    def num_specials(self) -> int:
        """Ids below this are special tokens; ids from it on are regular tokens."""
        return len(self.specials)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._ids

    def token_to_id(self, token: str) -> int:
        """The id of one token; unknown tokens map to ``unk_id``."""
        return self._ids.get(token, self.unk_id)

    def id_to_token(self, token_id: int) -> str:
        if not 0 <= token_id < len(self.tokens):
            raise ValueError(f"Tokenizer: token id must be in [0, {len(self.tokens)}), got {token_id}")
        return self.tokens[token_id]

    def split(self, text: str) -> list[str]:
        """Text -> token strings (characters or words), before lookup."""
        return list(text) if self.level == "char" else split_words(text)

    def unknown(self, text: str) -> list[str]:
        """The distinct tokens of ``text`` that are not in the vocabulary, in order of appearance."""
        return list(dict.fromkeys(t for t in self.split(text) if t not in self._ids))

    def encode(self, text: str, *, add_start: bool = False, add_end: bool = False) -> list[int]:
        """Text -> ids; unknown tokens become ``unk_id``."""
        if not isinstance(text, str):
            raise TypeError(f"Tokenizer.encode: text must be a str, got {type(text).__name__}")
        ids = [self._ids.get(t, self.unk_id) for t in self.split(text)]
        return ([self.start_id] if add_start else []) + ids + ([self.end_id] if add_end else [])

    def decode(self, ids: Iterable[int], *, skip_specials: bool = True, stop_at_end: bool = True) -> str:
        """Ids -> text. Word-level text is joined with single spaces (original spacing is not kept).

        Args:
            skip_specials: drop special tokens (``<unk>`` included) from the text.
            stop_at_end: stop at the first ``</s>``.
        """
        pieces = []
        for i in ids:
            i = int(i)
            if stop_at_end and i == self.end_id:
                break
            if skip_specials and i < self.num_specials:
                continue
            pieces.append(self.id_to_token(i))
        return ("" if self.level == "char" else " ").join(pieces)

    def to_dict(self) -> dict:
        return {
            "format": "rnnkit.tokenizer",
            "version": FORMAT_VERSION,
            "level": self.level,
            "extra_specials": list(self.specials[len(SPECIAL_TOKENS) :]),
            "tokens": self.tokens,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Tokenizer:
        if not isinstance(data, dict) or data.get("format") != "rnnkit.tokenizer":
            raise ValueError("Tokenizer.from_dict: expected a dict with format 'rnnkit.tokenizer'")
        if data.get("version") != FORMAT_VERSION:
            raise ValueError(
                f"Tokenizer.from_dict: expected version {FORMAT_VERSION}, got {data.get('version')!r}"
            )
        return cls(data["tokens"], level=data["level"], extra_specials=data.get("extra_specials", ()))

    def save(self, path: str | Path) -> None:
        """Write the tokenizer as UTF-8 JSON (characters stay readable, not escaped)."""
        Path(path).write_text(json.dumps(self.to_dict(), ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> Tokenizer:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Tokenizer) and self.to_dict() == other.to_dict()

    def __repr__(self) -> str:
        return f"Tokenizer(level={self.level!r}, size={len(self)}, specials={list(self.specials)})"
