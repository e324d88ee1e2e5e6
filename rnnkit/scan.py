"""The one loop through time.

A recurrent layer is a fold of a step function over time. Everything that is not the fold (the input
projection of all steps at once, reversing a direction, stacking layers) happens outside, in parallel over
time; this file holds only the part that must be sequential.

    state_0 ──step──▶ state_1 ──step──▶ state_2 ── ... ──▶ state_T  (final state)
               ▲                ▲
           projected_0      projected_1          (input part of each step, computed beforehand)
               │                │
               ▼                ▼
           output_0         output_1            output_t = state_t[0], the hidden state h_t

With a mask (variable lengths), a row whose sequence has ended keeps its state and outputs zeros, so the final
state of every row is its state at its own last valid step.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

State = tuple[Tensor, ...]  # (h,) for Elman and GRU, (h, c) for the LSTM; each (B, ·)
Step = Callable[[Tensor, State], State]  # (projected_t (B, G), state) -> next state


def scan(step: Step, projected: Tensor, state: State, mask: Tensor | None = None) -> tuple[Tensor, State]:
    """Run ``step`` over time.

    Args:
        step: maps the projected input of one step (B, G) and the state to the next state.
        projected: (T, B, G), the input part of every step.
        state: the initial state, a tuple of (B, ·) tensors; state[0] is the output h.
        mask: optional (T, B, 1) bool, True where step t of row b is valid. Valid steps must form a prefix
            of each row (padding at the end).

    Returns:
        outputs (T, B, H_out) with zeros at invalid steps, and the final state.
    """
    steps = projected.size(0)
    # Steps where every row is valid need no masking: this is the whole sequence when lengths are equal.
    unmasked = steps if mask is None else int(mask.squeeze(-1).all(dim=1).long().cumprod(0).sum())
    outputs = []
    for t in range(unmasked):
        state = step(projected[t], state)
        outputs.append(state[0])
    for t in range(unmasked, steps):
        valid = mask[t]  # (B, 1)
        new = step(projected[t], state)
        state = tuple(torch.where(valid, n, s) for n, s in zip(new, state, strict=True))
        outputs.append(new[0].masked_fill(~valid, 0.0))
    if not outputs:
        raise ValueError(f"projected: expected at least one time step, got shape {tuple(projected.shape)}")
    return torch.stack(outputs), state
