"""Errors raised by rnnkit's layers and cells, compatible with the ones torch.nn raises for the same mistake.

rnnkit's layers are drop-in replacements for ``torch.nn.RNN``/``LSTM``/``GRU`` and their cells, so code written
for torch must keep working when it catches or matches an error:

* the exception is an instance of the class torch raises: :class:`InputError` is both a ``ValueError`` (the
  house rule for a bad value or shape) and a ``RuntimeError`` (what torch raises for a wrong input or state
  shape, dtype or device);
* the message keeps rnnkit's own explanation (the argument, the expected and the received value, the fix) and
  ends with torch's own words for the same case, so a regular expression written for torch's text matches.
"""

from __future__ import annotations

import torch

__all__ = ["InputError", "with_torch_message", "torch_type_name"]


class InputError(ValueError, RuntimeError):
    """An input or state tensor does not fit the module (shape, dtype or device) where torch.nn raises
    ``RuntimeError``; catch it as either ``ValueError`` or ``RuntimeError``."""


def with_torch_message(explanation: str, torch_message: str) -> str:
    """rnnkit's explanation followed by torch.nn's message for the same case (matched verbatim)."""
    return f"{explanation} [torch.nn: {torch_message}]"


def torch_type_name(dtype: torch.dtype) -> str:
    """The scalar type name torch's kernels print (torch.float64 -> 'Double', torch.float32 -> 'Float')."""
    return torch.empty(0, dtype=dtype).type().rsplit(".", 1)[-1].removesuffix("Tensor")
