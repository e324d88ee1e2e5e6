"""Initialisation of recurrent weights, chosen by name: ``rnnkit.LSTM(..., init="orthogonal+forget_bias")``.

Schemes (combine with ``+``; at most one base scheme, modifiers after it):

* ``default``: torch's, every parameter uniform in (-1/sqrt(H), 1/sqrt(H)).
* ``xavier``: Glorot & Bengio (2010) uniform on each gate's block of weight_ih and weight_hh (and weight_hr);
  biases zero.
* ``orthogonal``: Glorot uniform input weights, each gate's recurrent block a (semi-)orthogonal matrix
  (Saxe et al. 2014, arXiv:1312.6120): repeated multiplication by it neither shrinks nor grows the state;
  biases zero.
* ``identity``: IRNN (Le, Jaitly & Hinton 2015, arXiv:1504.00941, section 2): each recurrent block the identity,
  input weights N(0, 0.001²), biases zero. Meant for ReLU Elman RNNs.
* modifier ``forget_bias``: the LSTM forget-gate bias set to 1 in total (b_if = 1, b_hf = 0), as recommended by
  Jozefowicz, Zaremba & Sutskever (2015, section 2.2) so that the cell remembers by default at the start.

Works on rnnkit's (and torch's) cells and layers: parameters are recognised by torch's names.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

__all__ = ["BASE_SCHEMES", "MODIFIERS", "initialize", "check_scheme"]


def _blocks(weight: Tensor, gate_count: int) -> list[Tensor]:
    """Views of the gate blocks stacked along the rows of a weight: (G*H, K) -> G x (H, K)."""
    return list(weight.chunk(gate_count, 0))


def _default(name: str, weight: Tensor, gate_count: int, hidden_size: int) -> None:
    bound = 1.0 / math.sqrt(hidden_size)
    weight.uniform_(-bound, bound)


def _xavier(name: str, weight: Tensor, gate_count: int, hidden_size: int) -> None:
    if name.startswith("bias"):
        weight.zero_()
    else:
        for block in _blocks(weight, 1 if name.startswith("weight_hr") else gate_count):
            nn.init.xavier_uniform_(block)


def _orthogonal(name: str, weight: Tensor, gate_count: int, hidden_size: int) -> None:
    if name.startswith("weight_hh"):
        for block in _blocks(weight, gate_count):
            nn.init.orthogonal_(block)
    else:
        _xavier(name, weight, gate_count, hidden_size)


def _identity(name: str, weight: Tensor, gate_count: int, hidden_size: int) -> None:
    if name.startswith("weight_hh"):
        for block in _blocks(weight, gate_count):
            nn.init.eye_(block)
    elif name.startswith("weight_ih"):
        nn.init.normal_(weight, 0.0, 0.001)
    elif name.startswith("bias"):
        weight.zero_()
    else:  # weight_hr
        nn.init.eye_(weight)


BASE_SCHEMES: dict[str, Callable[[str, Tensor, int, int], None]] = {
    "default": _default,
    "xavier": _xavier,
    "orthogonal": _orthogonal,
    "identity": _identity,
}
MODIFIERS = ("forget_bias",)


def check_scheme(scheme: str, gate_count: int | None = None) -> tuple[str, list[str]]:
    """Split ``"base+modifier"`` into its parts, raising ValueError naming ``init`` for unknown names."""
    if not isinstance(scheme, str):
        raise TypeError(f"init: expected a string such as 'orthogonal', got {type(scheme).__name__}")
    base, *modifiers = scheme.split("+")
    if base not in BASE_SCHEMES:
        raise ValueError(f"init: expected one of {sorted(BASE_SCHEMES)} (optionally + {list(MODIFIERS)}), "
                         f"got {scheme!r}")
    for modifier in modifiers:
        if modifier not in MODIFIERS:
            raise ValueError(f"init: unknown modifier {modifier!r} in {scheme!r}; expected one of {list(MODIFIERS)}")
        if modifier == "forget_bias" and gate_count is not None and gate_count != 4:
            raise ValueError(f"init: 'forget_bias' applies to LSTMs only, got {scheme!r} for a non-LSTM module")
    return base, modifiers


@torch.no_grad()
def initialize(module: nn.Module, scheme: str = "default") -> nn.Module:
    """Initialise a recurrent cell or layer in place by scheme name; returns the module.

    Example::

        >>> layer = initialize(torch.nn.LSTM(8, 16), "orthogonal+forget_bias")
    """
    gate_count = _gate_count(module)
    base, modifiers = check_scheme(scheme, gate_count)
    hidden_size = module.hidden_size
    for name, weight in module.named_parameters(recurse=False):
        BASE_SCHEMES[base](name, weight, gate_count, hidden_size)
    if "forget_bias" in modifiers:
        for name, weight in module.named_parameters(recurse=False):
            if name.startswith("bias_ih"):
                weight.chunk(4, 0)[1].fill_(1.0)  # gate order i, f, g, o: block 1 is f
            elif name.startswith("bias_hh"):
                weight.chunk(4, 0)[1].zero_()
    return module


def _gate_count(module: nn.Module) -> int:
    count = getattr(module, "gate_count", None)
    if count is not None:
        return count
    mode = getattr(module, "mode", None)  # torch.nn.RNN/LSTM/GRU
    if mode is not None:
        return {"LSTM": 4, "GRU": 3}.get(mode, 1)
    for cls, gates in ((nn.LSTMCell, 4), (nn.GRUCell, 3), (nn.RNNCell, 1)):
        if isinstance(module, cls):
            return gates
    raise TypeError(f"module: expected a recurrent cell or layer, got {type(module).__name__}")
