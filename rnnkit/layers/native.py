"""The native backend: torch's fused kernels (oneDNN or ATen on the CPU, cuDNN on the GPU) on rnnkit's
parameters, for padded (T, B, F) and packed inputs."""

from __future__ import annotations

from torch import Tensor

from ..cell_spec import State


def _call(layer, data: Tensor, batch_sizes: Tensor | None, state: State) -> tuple[Tensor, State]:
    hx = state if layer.cell.has_cell_state else state[0]
    weights = layer.cell.native_weights(layer._flat_weights_names, layer._flat_weights, layer.training)
    common = (weights, layer.bias, layer.num_layers, layer.dropout, layer.training, layer.bidirectional)
    if batch_sizes is None:
        out, *final = layer.cell.native(data, hx, *common, False)  # x is (T, B, F) here: batch_first=False
    else:
        out, *final = layer.cell.native(data, batch_sizes, hx, *common)
    return out, tuple(final)


def native_padded(layer, x: Tensor, state: State) -> tuple[Tensor, State]:
    """x (T, B, F) and (D*L, B, ·) states -> output (T, B, D*H_out), final states."""
    return _call(layer, x, None, state)


def native_packed(layer, data: Tensor, batch_sizes: Tensor, state: State) -> tuple[Tensor, State]:
    """A PackedSequence's data and batch sizes (sorted) -> the output's data, final states."""
    return _call(layer, data, batch_sizes, state)
