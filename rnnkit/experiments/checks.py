"""The one integer check of the experiments package (tasks, data generators, settings and declarations).

    check_int("seq_len", 1, 2)  # ValueError: seq_len: expected an integer >= 2, got 1
"""

from __future__ import annotations

import numbers
from typing import Any

__all__ = ["check_int"]


def check_int(name: str, value: Any, minimum: int, *, expected: str | None = None) -> int:
    """`value` when it is an integer >= `minimum` (a numpy integer counts; a bool does not).

    Raises TypeError for a non-integer and ValueError for one below `minimum`, both naming `name`, what was
    expected (`expected`, default "an integer >= minimum") and what was received.
    """
    expected = expected or f"an integer >= {minimum}"
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected {expected}, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{name}: expected {expected}, got {value!r}")
    return int(value)
