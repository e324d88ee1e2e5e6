"""Variant options applied to a cell specification: :class:`VariantCell`, :func:`with_options`.

rnnkit.RNN/LSTM/GRU hand their layer a cell specification (rnnkit.cell_spec.CellSpec). With any option of
:class:`rnnkit.variants.options.VariantOptions` set, the specification is wrapped here, and every change the
options make lives in this one place: the extra parameters (layer-norm gains, peepholes) and their
initialisation, DropConnect on weight_hh and the recurrent-dropout masks (per call), the layer-normalised input
projection, the variant step functions (rnnkit.variants.steps) and the LSTM's hand-derived variant recurrence
(rnnkit.variants.fused_lstm), zoneout's masks, and why torch's kernel cannot run a configuration. The layer
and its backends see only the specification's methods, so adding a variant touches only this folder.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch.nn.functional as F
from torch import Tensor

from ..cell_spec import CellSpec, DirectionWeights, State
from ..scan import scan
from ..transposed import for_inference
from .dropout import dropout_mask, zoneout_masks
from .fused_lstm import LSTMVariantRecurrence
from .options import VariantOptions, VariantWeights, extra_parameter_shapes
from .steps import elman_variant_step, gru_variant_step, lstm_variant_step, variant_projection

__all__ = ["VariantCell", "with_options"]


def with_options(cell: CellSpec, options: VariantOptions) -> CellSpec:
    """``cell`` itself when every option is neutral (exactly torch's layer), else the wrapped cell."""
    if not options.non_neutral():
        return cell
    fields = {f.name: getattr(cell, f.name) for f in dataclasses.fields(cell)}
    if options.coupled_gates:  # CIFG has no forget-gate rows: weights are (3H, ·), blocks i, g, o
        fields["gate_count"] = 3
    return VariantCell(**fields, options=options)


def _variant_step(cell: VariantCell, weights: DirectionWeights, extras: VariantWeights, hidden_mask):
    options = cell.options
    if cell.mode == "LSTM":
        return lstm_variant_step(weights.weight_hh, weights.weight_hr, extras, options, hidden_mask)
    if cell.mode == "GRU":
        return gru_variant_step(weights.weight_hh, weights.bias_hh, extras, options, hidden_mask)
    nonlinearity = "tanh" if cell.mode == "RNN_TANH" else "relu"
    return elman_variant_step(weights.weight_hh, nonlinearity, options, hidden_mask)


@dataclass(frozen=True)
class VariantCell(CellSpec):
    """A plain cell specification with the variant ``options`` applied (see the module docstring)."""

    options: VariantOptions = VariantOptions()

    @property
    def residual(self) -> bool:
        return self.options.residual

    def extra_parameter_shapes(self, hidden_size: int) -> dict[str, tuple[int, ...]]:
        return extra_parameter_shapes(self.mode, hidden_size, self.gate_count, self.options)

    def reset_extra(self, name: str, weight: Tensor, hidden_size: int) -> None:
        """Layer-norm gains 1 and shifts 0; peepholes uniform in (-1/sqrt(H), 1/sqrt(H)), like torch's default."""
        if name.startswith("peephole"):
            bound = 1.0 / hidden_size ** 0.5
            weight.uniform_(-bound, bound)
        elif name.startswith("layer_norm_cell_bias"):
            weight.zero_()
        else:
            weight.fill_(1.0)

    def extras(self, parameter) -> VariantWeights:
        return VariantWeights(*(parameter(name) for name in VariantWeights._fields))

    def native_unsupported_reason(self, training: bool) -> str | None:
        return self.options.native_unsupported_reason(training)

    def native_weights(self, names: list[str], weights: list[Tensor], training: bool) -> list[Tensor]:
        """With weight_drop in training, weight_hh DropConnect-ed (Merity et al. 2017: one mask per forward
        pass, so the kernel can still run)."""
        p = self.options.weight_drop
        if not (p and training):
            return weights
        return [F.dropout(w, p, training=True) if name.startswith("weight_hh") else w
                for name, w in zip(names, weights, strict=True)]

    def non_neutral(self) -> dict:
        return self.options.non_neutral()

    def prepare(self, weights: DirectionWeights, x: Tensor, initial: State, training: bool):
        """DropConnect on weight_hh (one mask per forward pass) and recurrent dropout (one mask per sequence
        on x and on h, reused at every step)."""
        options, hidden_mask = self.options, None
        if options.weight_drop and training:
            weights = weights._replace(weight_hh=F.dropout(weights.weight_hh, options.weight_drop, True))
        if options.recurrent_dropout and training:
            x = x * dropout_mask(x[0], options.recurrent_dropout)
            hidden_mask = dropout_mask(initial[0], options.recurrent_dropout)  # (B, H_out)
        return weights, x, hidden_mask

    def project(self, weights: DirectionWeights, extras, x: Tensor) -> Tensor:
        if not self.options.layer_norm:
            return super().project(weights, extras, x)
        return variant_projection(self.mode, x, weights.weight_ih, weights.bias_ih, weights.bias_hh, extras)

    def recur(self, projected: Tensor, initial: State, weights: DirectionWeights, extras, hidden_mask,
              mask: Tensor | None, training: bool, fused: bool) -> tuple[Tensor, State]:
        """The plain recurrence when the options leave the step alone (weight drop, residual, recurrent
        dropout in evaluation); otherwise the variant step through scan, or the LSTM's fused variant."""
        options = self.options
        if not options.changes_step(training):
            return super().recur(projected, initial, weights, extras, hidden_mask, mask, training, fused)
        keep = ()
        if options.zoneout:
            keep = zoneout_masks(options.zoneout, projected.size(0), initial, training)
        if fused and self.mode == "LSTM":
            keep_h, keep_c = keep if keep else (None, None)
            out, h, c = LSTMVariantRecurrence.apply(
                projected, initial[0], initial[1], weights.weight_hh, weights.weight_hr,
                extras.layer_norm_hh_weight, extras.layer_norm_cell_weight, extras.layer_norm_cell_bias,
                extras.peephole_weight, hidden_mask, keep_h, keep_c, options.coupled_gates, mask,
                for_inference(weights.weight_hh))
            return out, (h, c)
        step = _variant_step(self, weights, extras, hidden_mask)
        return scan(step, (projected, *keep) if keep else projected, initial, mask)

    def one_step(self, weights: DirectionWeights, extras, x: Tensor, initial: State) -> State:
        """One evaluation step: recurrent dropout and weight drop are off, and zoneout keeps the expectation p
        of each previous unit."""
        if not self.options.changes_step(False):
            return super().one_step(weights, extras, x, initial)
        projected = self.project(weights, extras, x)
        inputs: Tensor | tuple[Tensor, ...] = projected
        if self.options.zoneout:
            keep = zoneout_masks(self.options.zoneout, 1, initial, training=False)
            inputs = (projected, *(k[0] for k in keep))
        return _variant_step(self, weights, extras, None)(inputs, initial)
