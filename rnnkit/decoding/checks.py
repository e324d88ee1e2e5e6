"""Argument checks shared by the decoding modules: each error names the argument, the expected and the
received value (ValueError for a bad value, TypeError for a wrong type)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from torch import Tensor

__all__ = ["check_eos", "check_float", "check_int", "check_token_ids", "check_vocabulary"]


def check_int(name: str, value: object, minimum: int) -> int:
    """``value`` if it is an int (not a bool) >= ``minimum``."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name}: expected an int >= {minimum}, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name}: expected an int >= {minimum}, got {value}")
    return value


def check_float(name: str, value: object) -> float:
    """``value`` as a float if it is a finite number (not a bool)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value}")
    return float(value)


def check_token_ids(name: str, token_ids: Iterable[int]) -> list[int]:
    """An iterable (or tensor) of token ids -> a list of ints >= 0."""
    if isinstance(token_ids, Tensor):
        token_ids = token_ids.flatten().tolist()
    if isinstance(token_ids, (str, bytes)) or not isinstance(token_ids, Iterable):
        raise TypeError(f"{name}: expected an iterable of token ids (ints), got {type(token_ids).__name__}")
    ids = list(token_ids)
    for value in ids:
        check_int(f"{name}: token id", value, 0)
    return ids


def check_vocabulary(name: str, ids: Sequence[int], vocab_size: int) -> None:
    """Token ids must be below the vocabulary size (known only at the first model call)."""
    if ids and max(ids) >= vocab_size:
        raise ValueError(f"{name}: token id {max(ids)} is out of range for a vocabulary of {vocab_size} tokens")


def check_eos(eos_id: int, vocab: int) -> None:
    """``eos_id`` must be a token of the model's vocabulary (checked once the prompt pass gives V)."""
    if eos_id >= vocab:
        raise ValueError(f"eos_id: expected a token id below the vocabulary size {vocab}, got {eos_id}")
