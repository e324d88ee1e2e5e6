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


def scan(step: Step, projected: Tensor | tuple[Tensor, ...], state: State,
         mask: Tensor | None = None) -> tuple[Tensor, State]:
    """Run ``step`` over time.

    Args:
        step: maps the projected input of one step (B, G) and the state to the next state.
        projected: (T, B, G), the input part of every step; or a tuple of (T, B, ·) tensors (for instance
            the projection plus per-step zoneout masks), in which case ``step`` receives the tuple of their
            t-th slices.
        state: the initial state, a tuple of (B, ·) tensors; state[0] is the output h.
        mask: optional (T, B, 1) bool, True where step t of row b is valid. Valid steps must form a prefix
            of each row (padding at the end).

    Returns:
        outputs (T, B, H_out) with zeros at invalid steps, and the final state.
    """
    if not isinstance(projected, Tensor):
        parts = tuple(projected)
        return _scan(step, lambda t: tuple(part[t] for part in parts), parts[0], state, mask)
    return _scan(step, projected.__getitem__, projected, state, mask)


def _scan(step: Step, inputs_at: Callable[[int], object], projected: Tensor, state: State,
          mask: Tensor | None) -> tuple[Tensor, State]:
    steps = projected.size(0)
    # Steps where every row is valid need no masking: this is the whole sequence when lengths are equal.
    unmasked = steps if mask is None else int(mask.squeeze(-1).all(dim=1).long().cumprod(0).sum())
    outputs = []
    for t in range(unmasked):
        state = step(inputs_at(t), state)
        outputs.append(state[0])
    for t in range(unmasked, steps):
        valid = mask[t]  # (B, 1)
        new = step(inputs_at(t), state)
        state = tuple(torch.where(valid, n, s) for n, s in zip(new, state, strict=True))
        outputs.append(new[0].masked_fill(~valid, 0.0))
    if not outputs:
        raise ValueError(f"projected: expected at least one time step, got shape {tuple(projected.shape)}")
    return torch.stack(outputs), state


def parallel_scan_log(log_coefficients: Tensor, log_values: Tensor, h0: Tensor | None = None,
                      dim: int = 0) -> Tensor:
    r"""The linear recurrence h_t = a_t ⊙ h_{t-1} + b_t for all t at once, in log space.

    Given log a_t and log b_t (a_t > 0 and b_t > 0 elementwise, as for the gates and candidates of minGRU and
    minLSTM) and optionally h_0 (any sign; 0 without it), unrolling the recurrence gives

        h_t = A_t ⊙ h_0 + Σ_{k≤t} (A_t / A_k) ⊙ b_k,        A_t = Π_{j≤t} a_j.

    With a*_t = log A_t = cumsum_{j≤t} log a_j (a cumulative sum, parallel over t) the sum is

        Σ_{k≤t} (A_t / A_k) ⊙ b_k = exp( a*_t + logcumsumexp_k( log b_k − a*_k )_t ).

    ``torch.logcumsumexp`` subtracts the running maximum before exponentiating, so nothing overflows even when
    a*_t reaches −10⁴ over long sequences: this is ``parallel_scan_log`` of Feng et al. 2024
    (arXiv:2410.01201, appendix B.3), after Heinsen 2023 (arXiv:2311.06281). The h_0 term is added outside
    the logarithm (A_t ≤ 1 when a_t ≤ 1, so it cannot overflow either), which allows states of any sign.
    Precision: a*_t grows linearly in t, and log h_t = a*_t + (...) cancels it, so the relative error of h is
    about eps · |a*_t| (float32: 6e-8 · 10⁴ ≈ 6e-4 once Σ log a reaches −10⁴); use float64 for longer or more
    strongly decaying sequences.
    Cost: O(T) work, with a cumulative sum and a log-cumulative-sum-exp instead of T dependent steps.
    Autograd differentiates through it (cumsum and logcumsumexp have exact backward passes).

    Args:
        log_coefficients: log a, (..., T, ...) with time along ``dim``.
        log_values: log b, the same shape.
        h0: optional initial state, the shape of one time slice without the time dimension.
        dim: the time dimension (0 for (T, B, H), 1 for (B, T, H)).

    Returns:
        h (not its log), the shape of ``log_values``: h_1 .. h_T.
    """
    a_star = torch.cumsum(log_coefficients, dim=dim)  # log A_t
    h = torch.exp(a_star + torch.logcumsumexp(log_values - a_star, dim=dim))
    if h0 is not None:
        h = h + torch.exp(a_star) * h0.unsqueeze(dim)
    return h
