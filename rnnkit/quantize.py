"""int8 dynamic quantization for CPU inference: :func:`quantize_dynamic`.

Decoding at batch 1 is bound by reading the weights: every token multiplies a vector by every weight matrix
once. Stored as int8 (one scale per output row) the weights are a quarter of their float32 size, and torch's
fbgemm kernels (``torch.ops.quantized.linear_dynamic``) multiply them by float inputs that they quantize on
the fly, one scale per call ("dynamic" quantization). Results are float32 again.

* rnnkit's recurrent layers: each layer gets prepacked int8 copies of its weights (W_ih with the biases
  folded in as the layer's projection does, W_hh, W_hr) and an :class:`Int8Cell` specification that runs the
  cell's equations with them; the layer then runs in rnnkit's loop (torch's fused kernels take no
  int8 weights), both for whole sequences and for decoding's one-step calls.
* ``nn.Linear`` modules (the output layer, the adaptive softmax's head and tails): torch's
  ``torch.ao.quantization.quantize_dynamic``.

Embeddings stay float32 (a lookup reads one row). The quantized model is for inference only: its parameters
need no gradient and its forward refuses training mode. The accuracy cost and the speed are measured by
benchmarks/quantize.py (docs/performance.md).
"""

from __future__ import annotations

import copy
import dataclasses
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import Tensor, nn

from .cell_spec import CellSpec, DirectionWeights, State
from .scan import scan

__all__ = ["Int8Cell", "Int8Weights", "quantize_dynamic", "is_quantized"]


def _pack(weight: Tensor, bias: Tensor | None):
    """int8 weight with one symmetric scale per output row, prepacked for fbgemm's dynamic linear."""
    weight = weight.detach().float()
    scales = (weight.abs().amax(dim=1) / 127.0).clamp_min(1e-12)
    with warnings.catch_warnings():  # torch 2.13 marks its quantized tensor creation as deprecated
        warnings.simplefilter("ignore", UserWarning)
        quantized = torch.quantize_per_channel(weight, scales.double(), torch.zeros(len(scales), dtype=torch.long),
                                               0, torch.qint8)
    return torch.ops.quantized.linear_prepack(quantized, None if bias is None else bias.detach().float())


def _linear(x: Tensor, packed) -> Tensor:
    """x (..., F) times a prepacked int8 weight (out, F) -> (..., out), float32."""
    flat = x.reshape(-1, x.size(-1))
    out = torch.ops.quantized.linear_dynamic(flat, packed)
    return out.view(*x.shape[:-1], out.size(-1))


class Int8Weights(NamedTuple):
    """One layer and direction's prepacked int8 weights."""

    weight_ih: object  # W_ih, with the biases the projection folds in
    weight_hh: object  # W_hh (GRU: with b_hh, which stays inside r ⊙ (...))
    weight_hr: object | None  # the LSTM's projection


@dataclass(frozen=True)
class Int8Cell(CellSpec):
    """A plain cell specification that runs with int8 weights (see the module docstring). The layer holds
    them as attributes ``int8_weight_ih_l0`` ...; the loop hands them to the cell as its ``extras``."""

    def extras(self, parameter) -> Int8Weights:
        return Int8Weights(*(parameter("int8_" + name) for name in Int8Weights._fields))

    def native_unsupported_reason(self, training: bool) -> str | None:
        return "int8 weights run in rnnkit's loop (torch's fused kernels take float weights)"

    def project(self, weights: DirectionWeights, extras: Int8Weights, x: Tensor) -> Tensor:
        return _linear(x, extras.weight_ih)

    def _step(self, extras: Int8Weights):
        hh, hr = extras.weight_hh, extras.weight_hr
        if self.mode == "LSTM":
            def step(x: Tensor, state: State) -> State:
                i, f, g, o = (x + _linear(state[0], hh)).chunk(4, -1)
                c = torch.sigmoid(f) * state[1] + torch.sigmoid(i) * torch.tanh(g)
                h = torch.sigmoid(o) * torch.tanh(c)
                return (h if hr is None else _linear(h, hr)), c
        elif self.mode == "GRU":
            def step(x: Tensor, state: State) -> State:
                h = state[0]
                x_r, x_z, x_n = x.chunk(3, -1)
                h_r, h_z, h_n = _linear(h, hh).chunk(3, -1)
                r, z = torch.sigmoid(x_r + h_r), torch.sigmoid(x_z + h_z)
                n = torch.tanh(x_n + r * h_n)
                return (n + z * (h - n),)
        else:
            activation = torch.tanh if self.mode == "RNN_TANH" else torch.relu

            def step(x: Tensor, state: State) -> State:
                return (activation(x + _linear(state[0], hh)),)
        return step

    def recur(self, projected: Tensor, initial: State, weights: DirectionWeights, extras: Int8Weights,
              hidden_mask, mask: Tensor | None, training: bool, fused: bool) -> tuple[Tensor, State]:
        if training:
            raise RuntimeError("an int8-quantized layer is for inference only; call .eval() (and train the float "
                               "model instead)")
        return scan(self._step(extras), projected, initial, mask)

    def one_step(self, weights: DirectionWeights, extras: Int8Weights, x: Tensor, initial: State) -> State:
        return self._step(extras)(self.project(weights, extras, x), initial)


def _quantize_layer(layer) -> None:
    """Give a recurrent layer int8 copies of its weights and an Int8Cell that runs with them."""
    from .layers.base import suffix
    from .variants.cell import VariantCell

    if isinstance(layer.cell, VariantCell):
        raise ValueError(f"quantize_dynamic: int8 covers the plain RNN, LSTM and GRU cells; this layer has the "
                         f"variant options {layer.cell.non_neutral()}")
    gru = layer.mode == "GRU"
    for number in range(layer.num_layers):
        for direction in range(layer.num_directions):
            w, end = layer.direction_weights(number, direction), suffix(number, direction)
            # the projection folds the biases as rnnkit.cells' input projections do (GRU: b_hh stays with W_hh)
            bias = w.bias_ih if (gru or w.bias_ih is None) else w.bias_ih + w.bias_hh
            setattr(layer, "int8_weight_ih" + end, _pack(w.weight_ih, bias))
            setattr(layer, "int8_weight_hh" + end, _pack(w.weight_hh, w.bias_hh if gru else None))
            setattr(layer, "int8_weight_hr" + end, None if w.weight_hr is None else _pack(w.weight_hr, None))
    layer.cell = Int8Cell(**{f.name: getattr(layer.cell, f.name) for f in dataclasses.fields(CellSpec)})


def is_quantized(model: nn.Module) -> bool:
    """Whether :func:`quantize_dynamic` made ``model``."""
    return bool(getattr(model, "_rnnkit_int8", False))


def quantize_dynamic(model: nn.Module) -> nn.Module:
    """An int8 copy of ``model`` for CPU inference (``model`` itself is unchanged): rnnkit's RNN/LSTM/GRU
    layers and every ``nn.Linear``. Returns the copy in eval mode, without gradients."""
    from .layers import _RecurrentLayer

    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected an nn.Module, got {type(model).__name__}")
    if any(p.device.type != "cpu" for p in model.parameters()):
        raise ValueError("model: int8 dynamic quantization runs on the CPU; move the model with .cpu() first")
    quantized = copy.deepcopy(model).eval()
    for parameter in quantized.parameters():
        parameter.requires_grad_(False)
    layers = [m for m in quantized.modules() if isinstance(m, _RecurrentLayer)]
    for layer in layers:
        _quantize_layer(layer)
    with warnings.catch_warnings():  # torch.ao.quantization is marked deprecated in torch 2.13
        warnings.simplefilter("ignore")
        torch.ao.quantization.quantize_dynamic(quantized, {nn.Linear}, dtype=torch.qint8, inplace=True)
    quantized._rnnkit_int8 = True
    return quantized
