"""The decoding options of the front ends, checked in one place: ``DecodingOptions``.

The CLI (``rnnkit poem``, ``rnnkit translate``), the server (``/v1/generate``, ``/v1/poem``) and
:class:`rnnkit.poems.PoemSettings` all go through it, so one rule holds everywhere:

* ``beam``: None (the front end's default method), 1 (greedy decoding: no beam) or a width > 1 (beam
  search of that width). 0, negative widths and non-integers are errors, never a default width.
* ``temperature`` 0 means greedy decoding.
* ``temperature``, ``top_k``, ``top_p`` and ``seed`` act only when sampling. Given with greedy decoding or
  beam search they are an error, not silently ignored.
* Greedy decoding and beam search are deterministic: they have no seed (``seed`` stays None).

Example:
    >>> DecodingOptions.choose(beam=5).method, DecodingOptions.choose(beam=1).method
    ('beam', 'greedy')
    >>> DecodingOptions.choose(temperature=0.8, seed=1).method
    'sample'
    >>> DecodingOptions.choose(beam=4, seed=1)
    Traceback (most recent call last):
    ...
    ValueError: seed: only used when sampling; got seed=1 with beam search (beam=4), which is deterministic; leave seed out, or sample (no beam, temperature > 0)
"""

from __future__ import annotations

from dataclasses import dataclass

from rnnkit.decoding.checks import check_float, check_int
from rnnkit.decoding.processors import Processor, temperature, top_k, top_p
from rnnkit.decoding.search import METHODS

__all__ = ["SAMPLING_OPTIONS", "DecodingOptions"]

SAMPLING_OPTIONS = ("temperature", "top_k", "top_p", "seed")


@dataclass(frozen=True)
class DecodingOptions:
    """How each token is chosen; checked on construction (every message names the option).

    Use :meth:`choose` for what a user typed (``beam`` and ``temperature=0`` pick the method); the
    constructor takes the method itself, as :func:`rnnkit.decoding.generate` does.
    """

    method: str = "sample"  # greedy | sample | beam
    beam: int | None = None  # beam width, method="beam" only (None there: generate's default, 4)
    temperature: float | None = None  # sampling only; None: 1 (no change)
    top_k: int | None = None  # sampling only; None: off
    top_p: float | None = None  # sampling only; None: off
    seed: int | None = None  # sampling only; None: the caller draws one (and reports it)

    def __post_init__(self):
        if self.method not in METHODS:
            raise ValueError(f"method: expected one of {METHODS}, got {self.method!r}")
        if self.beam is not None:
            _check_beam(self.beam)
            if self.method != "beam":
                raise ValueError(f"beam: only used by method='beam', got beam={self.beam!r} with "
                                 f"method={self.method!r}")
        if self.temperature is not None:
            check_float("temperature", self.temperature)
            if not self.temperature > 0:
                raise ValueError(f"temperature: expected a number > 0, got {self.temperature!r} (0 asks for "
                                 "greedy decoding: use method='greedy', or beam=1)")
        if self.top_k is not None:
            check_int("top_k", self.top_k, 1)
        if self.top_p is not None:
            check_float("top_p", self.top_p)
            if not 0 < self.top_p <= 1:
                raise ValueError(f"top_p: expected a number in (0, 1], got {self.top_p!r} (1 disables it)")
        if self.seed is not None:
            check_int("seed", self.seed, 0)
        if self.method != "sample":
            for name in SAMPLING_OPTIONS:
                value = getattr(self, name)
                if value is not None:
                    way = "greedy decoding" if self.method == "greedy" else "beam search" + (
                        f" (beam={self.beam})" if self.beam is not None else "")
                    raise ValueError(f"{name}: only used when sampling; got {name}={value!r} with {way}, which "
                                     f"is deterministic; leave {name} out, or sample (no beam, temperature > 0)")

    @classmethod
    def choose(cls, *, beam: int | None = None, temperature: float | None = None, top_k: int | None = None,
               top_p: float | None = None, seed: int | None = None, default: str = "sample") -> DecodingOptions:
        """The options a user gave (None: not given) -> checked DecodingOptions with the method they pick:
        ``beam`` > 1 beam search, ``beam`` 1 or ``temperature`` 0 greedy decoding, else ``default``."""
        if beam is not None:
            _check_beam(beam)
        if temperature is not None:
            check_float("temperature", temperature)
        greedy_by_temperature = temperature == 0
        if greedy_by_temperature and beam is not None:
            raise ValueError(f"temperature: 0 asks for greedy decoding, and beam={beam} chooses the method too; "
                             "give one of them")
        if beam is not None:
            method = "greedy" if beam == 1 else "beam"
        else:
            method = "greedy" if greedy_by_temperature else default
        return cls(method, beam if method == "beam" else None, None if greedy_by_temperature else temperature,
                   top_k, top_p, seed)

    def processors(self) -> list[Processor]:
        """The sampling processors, in order: temperature, top_k, top_p (none for greedy and beam)."""
        found = []
        if self.temperature is not None:
            found.append(temperature(self.temperature))
        if self.top_k is not None:
            found.append(top_k(self.top_k))
        if self.top_p is not None:
            found.append(top_p(self.top_p))
        return found


def _check_beam(beam: object) -> None:
    try:
        check_int("beam", beam, 1)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{error} (1: greedy decoding, > 1: beam search of that width; None: the default)") from None
