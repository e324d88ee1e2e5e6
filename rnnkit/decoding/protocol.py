"""What decoding needs from a language model, and helpers for its recurrent state.

A language model is anything callable as

    logits, state = model(tokens, state, lengths=None)

* ``tokens``: LongTensor (B, T).
* ``state``: None (zeros) or the state returned by the previous call: a tensor or a (possibly nested)
  tuple of tensors, each with the batch in dimension 1, as torch.nn.LSTM's ``(h, c)``, each (L*D, B, H).
* ``lengths``: None, or a CPU int64 tensor (B,): row b's valid tokens are ``tokens[b, :lengths[b]]`` and
  the returned state is the state after each row's last valid token (rnnkit's layers and
  :class:`rnnkit.models.lm.LanguageModel` do this; torch.nn layers do it with ``pack_padded_sequence``).
* ``logits``: (B, T, V) unnormalised next-token scores; log-probabilities are fine too.

Decoding runs the prompt once (with ``lengths`` for a padded batch), then calls the model with one token
per row, ``tokens`` (B, 1), carrying ``state``; it never reruns the prefix. Beams reorder the state with
:func:`reorder_state`.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeAlias

import torch
from torch import Tensor

__all__ = ["LanguageModel", "State", "advance", "prefill", "reorder_state"]

State: TypeAlias = "Tensor | tuple[State, ...] | list[State] | None"  # every tensor (L*D, B, H): batch in dim 1


class LanguageModel(Protocol):
    """``logits (B, T, V), state = model(tokens (B, T), state, lengths=None)`` (see the module docstring)."""

    def __call__(self, tokens: Tensor, state: Any = None, lengths: Any = None) -> tuple[Tensor, Any]: ...


def reorder_state(state: State, index: Tensor) -> State:
    """Pick rows of a recurrent state: ``index_select(1, index)`` on every tensor of a nested state.

    Used to follow beams (row ``i`` of the result is row ``index[i]`` of ``state``) and to repeat each
    prompt's state for its beams (``index = arange(B).repeat_interleave(K)``). None stays None.

    Shape: each tensor (L, B, H) -> (L, len(index), H); tuples and lists keep their structure.
    """
    if state is None:
        return None
    if isinstance(state, Tensor):
        return state.index_select(1, index)
    if isinstance(state, (tuple, list)):
        parts = [reorder_state(part, index) for part in state]
        return type(state)(*parts) if hasattr(state, "_fields") else type(state)(parts)  # NamedTuple or not
    raise TypeError(
        f"reorder_state: expected a tensor or a (nested) tuple of tensors with the batch in dimension 1, "
        f"got {type(state).__name__}"
    )


def prefill(model: LanguageModel, prompts: Tensor, lengths: Tensor | None) -> tuple[Tensor, State]:
    """Run the prompts once: -> the logits after each row's last valid token (B, V) and the state there.

    ``prompts`` (B, T) long; ``lengths`` CPU int64 (B,), or None when no row is padded. Raises ValueError
    when the model's logits are not (B, T, V)."""
    if lengths is None:
        logits, state = model(prompts, None)
    else:
        logits, state = model(prompts, None, lengths=lengths)
    batch, steps = prompts.shape
    if not isinstance(logits, Tensor) or logits.dim() != 3 or logits.shape[:2] != (batch, steps):
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(
            f"model: expected logits of shape (B, T, V) = ({batch}, {steps}, V) from "
            f"model(tokens, state, lengths=None), got {shape}"
        )
    if lengths is None:
        last = logits[:, -1]
    else:
        last = logits[torch.arange(batch, device=logits.device), lengths.to(logits.device) - 1]  # (B, V)
    return _upcast(last), state


def advance(model: LanguageModel, tokens: Tensor, state: State) -> tuple[Tensor, State]:
    """Feed one token per row: tokens (B,) -> logits (B, V) and the new state."""
    logits, state = model(tokens[:, None], state)  # (B, 1) -> (B, 1, V)
    return _upcast(logits[:, -1]), state


def _upcast(logits: Tensor) -> Tensor:
    # half-precision log-probabilities summed over many steps lose too much
    return logits.to(torch.promote_types(logits.dtype, torch.float32))
