"""What a recurrent layer needs to know about its cell: :class:`CellSpec` (rnnkit.layers runs it).

A layer (:mod:`rnnkit.layers.base`) owns parameters and checks; a backend (:mod:`rnnkit.layers.loop`,
:mod:`rnnkit.layers.native`) runs them. This module sits below both rnnkit.layers and rnnkit.variants, which
import it. Neither knows the cell's equations: those come from a cell
specification, the small object each public class (RNN, LSTM, GRU) hands over. A variant
(:mod:`rnnkit.variants.cell`) wraps a specification and keeps every method's contract, so the layer and its
backends run plain and variant cells alike.

Per layer and direction, the loop asks the cell, in order::

    weights, x, hidden_mask = cell.prepare(weights, x, initial, training)    # e.g. DropConnect, dropout masks
    projected = cell.project(weights, extras, x)                             # (T, B, F) -> (T, B, G*H)
    out, final = cell.recur(projected, initial, weights, extras, hidden_mask, mask, training, fused)

and a one-step inference call asks ``cell.one_step(weights, extras, x, initial)`` instead.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from torch import _VF, Tensor

from .scan import scan

State = tuple[Tensor, ...]  # (h,) or (h, c), each (B, ·)


class DirectionWeights(NamedTuple):
    """The parameters of one layer and direction, in torch's order."""

    weight_ih: Tensor
    weight_hh: Tensor
    bias_ih: Tensor | None
    bias_hh: Tensor | None
    weight_hr: Tensor | None


@dataclass(frozen=True)
class NativeKernel:
    """torch's fused kernel of a cell, by its name in ``torch._VF`` (``"lstm"``, ``"gru"``, ``"rnn_tanh"``,
    ``"rnn_relu"``): a name, so that a layer holding it pickles."""

    name: str

    def __call__(self, *args):
        return getattr(_VF, self.name)(*args)


@dataclass(frozen=True)
class CellSpec:
    """A plain cell (Elman, LSTM or GRU) as a layer runs it.

    Attributes:
        mode: torch's name of the cell (RNN_TANH, RNN_RELU, LSTM, GRU), which also names its native kernel.
        gate_count: row blocks of weight_ih / weight_hh (1, 4 or 3).
        has_cell_state: True for the LSTM, whose state is (h, c).
        input_projection: (x (T, B, F), weight_ih, bias_ih, bias_hh) -> (T, B, G*H), the input part of every step.
        step: DirectionWeights -> a step function for :func:`rnnkit.scan.scan`, (projected_t, state) -> state.
        fused: (projected, initial, weights, mask) -> (output, final state), the hand-derived recurrence of
            :mod:`rnnkit.fused`.
        native: torch's kernel (a :class:`NativeKernel`), called as ``native(input, hx, weights, bias, num_layers,
            dropout, training, bidirectional, batch_first)`` or with ``batch_sizes`` after the input when packed.
    """

    mode: str
    gate_count: int
    has_cell_state: bool
    input_projection: Callable[..., Tensor]
    step: Callable[[DirectionWeights], Callable]
    fused: Callable[..., tuple[Tensor, State]]
    native: NativeKernel

    residual = False  # a variant may add each layer's input to its output (layers >= 1)

    def extra_parameter_shapes(self, hidden_size: int) -> dict[str, tuple[int, ...]]:
        """Parameters beyond torch's, per layer and direction: none for a plain cell."""
        return {}

    def reset_extra(self, name: str, weight: Tensor, hidden_size: int) -> None:
        """Initialise one extra parameter (a plain cell has none)."""

    def extras(self, parameter: Callable[[str], Tensor | None]) -> None:
        """The extra parameters of one layer and direction, read by name: none for a plain cell."""
        return None

    def native_unsupported_reason(self, training: bool) -> str | None:
        """Why torch's kernel cannot run this cell, or None: a plain cell always runs natively."""
        return None

    def native_weights(self, names: list[str], weights: list[Tensor], training: bool) -> list[Tensor]:
        """The flat parameters as torch's kernel takes them."""
        return weights

    def non_neutral(self) -> dict:
        """Options that differ from the plain cell, for the layer's repr: none."""
        return {}

    def prepare(self, weights: DirectionWeights, x: Tensor, initial: State, training: bool):
        """Per-call changes before the recurrence (none): -> (weights, x, hidden mask or None)."""
        return weights, x, None

    def project(self, weights: DirectionWeights, extras, x: Tensor) -> Tensor:
        return self.input_projection(x, weights.weight_ih, weights.bias_ih, weights.bias_hh)

    def recur(self, projected: Tensor, initial: State, weights: DirectionWeights, extras, hidden_mask,
              mask: Tensor | None, training: bool, fused: bool) -> tuple[Tensor, State]:
        """The recurrence over time: the hand-derived one when ``fused``, else autograd through the step."""
        if fused:
            return self.fused(projected, initial, weights, mask)
        return scan(self.step(weights), projected, initial, mask)

    def one_step(self, weights: DirectionWeights, extras, x: Tensor, initial: State) -> State:
        """One inference step, x (B, F) -> the new state."""
        return self.step(weights)(self.project(weights, extras, x), initial)
