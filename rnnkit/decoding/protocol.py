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

from torch import Tensor

__all__ = ["LanguageModel", "State", "reorder_state"]

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
