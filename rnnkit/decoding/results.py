"""What decoding returns: a :class:`Generation` per call of ``generate``, a :class:`Step` per streamed token."""

from __future__ import annotations

from typing import NamedTuple

from torch import Tensor

__all__ = ["Generation", "Step"]


class Generation(NamedTuple):
    """The result of :func:`rnnkit.decoding.generate`, the same type for every method."""

    tokens: Tensor  # (B, N) int64: generated tokens only (no prompt); past lengths[b] padded with eos_id
    lengths: Tensor  # (B,) int64: tokens generated for each row, its EOS included
    scores: Tensor  # (B,): sum of log_probs of the row; beam search divides it by the length penalty
    log_probs: Tensor  # (B, N): log-probability of each token after the processors; 0 past lengths[b]
    finished: Tensor  # (B,) bool: the row ended with eos_id (False: it reached max_new_tokens)


class Step(NamedTuple):
    """One step of :func:`rnnkit.decoding.stream`: the token chosen for every row."""

    tokens: Tensor  # (B,) int64; padding (eos_id) where active is False
    log_probs: Tensor  # (B,): the token's log-probability after the processors; 0 where active is False
    active: Tensor  # (B,) bool: False where the row had already finished before this step
