"""The loop backend: rnnkit's own recurrence, one layer and direction at a time.

:func:`drive` is the one layer x direction driver. It feeds each layer's output to the next, concatenates the
two directions, adds residual connections and applies dropout between layers; what happens inside one layer
and direction is a function it is given:

* :func:`loop_forward`, the whole sequence: the cell's projection of every step at once, the reverse direction
  run over each sequence reversed within its own length, and the recurrence (rnnkit.fused's hand-derived
  backpropagation through time, or autograd through the step function);
* :func:`one_step_forward`, a single step in inference (the call decoding makes for every token): each layer's
  cell equations applied once, without the buffers, masks and autograd.Function of the loop, whose setup costs
  more than the step itself (docs/decoding.md).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from ..cell_spec import State
from ..fused import transforms_active
from ..sequences import reverse_padded

# (layer, direction, layer input, initial state of this layer and direction) -> (output, final state)
RunDirection = Callable[[int, int, Tensor, State], tuple[Tensor, State]]


def drive(layer, x: Tensor, state: State, run_direction: RunDirection) -> tuple[Tensor, State]:
    """Run every layer and direction: x (T, B, F) or (B, F) -> output (..., D*H_out), final states (D*L, B, ·)."""
    finals: list[State] = []
    layer_input = x
    for number in range(layer.num_layers):
        outputs = []
        for direction in range(layer.num_directions):
            initial = tuple(s[number * layer.num_directions + direction] for s in state)
            out, final = run_direction(number, direction, layer_input, initial)
            outputs.append(out)
            finals.append(final)
        output = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
        if layer.cell.residual and number > 0:  # sizes match: layer l >= 1 maps D*H_out to D*H_out
            output = output + layer_input
        layer_input = output
        if layer.dropout and layer.training and number < layer.num_layers - 1:
            layer_input = F.dropout(layer_input, layer.dropout, training=True)
    return layer_input, tuple(torch.stack(parts) for parts in zip(*finals, strict=True))


def loop_forward(layer, x: Tensor, state: State, lengths: Tensor | None) -> tuple[Tensor, State]:
    """The reference backend. x (T, B, F) -> output (T, B, D*H_out), final state as (D*L, B, ·) tensors."""
    mask = None
    if lengths is not None:
        steps = torch.arange(x.size(0), device=x.device)[:, None]  # (T, 1)
        mask = (steps < lengths.to(x.device)[None, :]).unsqueeze(-1)  # (T, B, 1)
    cell, training = layer.cell, layer.training
    # torch.func transforms and forward-mode AD need plain autograd operations: scan through the cells
    fused = layer.fused_loop and not transforms_active(x, *state, *layer._flat_weights)

    def run_direction(number: int, direction: int, layer_input: Tensor, initial: State):
        weights, extras = layer.direction_weights(number, direction), layer.extra_weights(number, direction)
        weights, inputs, hidden_mask = cell.prepare(weights, layer_input, initial, training)
        projected = cell.project(weights, extras, inputs)  # (T, B, G*H): one multiply for all steps
        if direction:
            projected = reverse_padded(projected, lengths)
        if projected.dtype != weights.weight_hh.dtype:  # autocast lowered the projection: follow it
            weights, extras, initial, hidden_mask = _to_dtype(projected.dtype, weights, extras, initial, hidden_mask)
        out, final = cell.recur(projected, initial, weights, extras, hidden_mask, mask, training, fused)
        return (reverse_padded(out, lengths) if direction else out), final

    return drive(layer, x, state, run_direction)


def one_step_forward(layer, x: Tensor, state: State) -> tuple[Tensor, State]:
    """One time step, x (B, F) -> output (1, B, D*H_out) and the new state; the same numbers as the loop."""

    def run_direction(number: int, direction: int, layer_input: Tensor, initial: State):
        # one step: the reverse direction reads the same x
        new = layer.cell.one_step(layer.direction_weights(number, direction), layer.extra_weights(number, direction),
                                  layer_input, initial)
        return new[0], new

    output, final = drive(layer, x, state, run_direction)
    return output.unsqueeze(0), final


def _to_dtype(dtype: torch.dtype, weights, extras, initial: State, hidden_mask: Tensor | None):
    """The parameters, state and mask of one direction in the dtype autocast gave the projection."""
    def convert(group):
        return None if group is None else type(group)(*(w if w is None else w.to(dtype) for w in group))

    return (convert(weights), convert(extras), tuple(s.to(dtype) for s in initial),
            None if hidden_mask is None else hidden_mask.to(dtype))
