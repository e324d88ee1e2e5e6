"""The switches that turn rnnkit.RNN/LSTM/GRU into their variants, their checks and their extra parameters.

Every option has a neutral default (False or 0.0); a layer with all options neutral is exactly torch.nn's:
same parameters, same ``state_dict``, same numbers. See docs/variants.md for the equations and papers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields
from typing import NamedTuple

from torch import Tensor

__all__ = ["VariantOptions", "VariantWeights", "OPTIONS_BY_MODE", "check_options", "extra_parameter_shapes"]

# Which options each layer offers: peepholes and coupled gates only make sense for the LSTM's gates, layer
# normalization needs gate pre-activations to normalise (not offered for the Elman RNN).
OPTIONS_BY_MODE = {
    "LSTM": ("layer_norm", "recurrent_dropout", "weight_drop", "zoneout", "residual", "peephole", "coupled_gates"),
    "GRU": ("layer_norm", "recurrent_dropout", "weight_drop", "zoneout", "residual"),
    "RNN": ("recurrent_dropout", "weight_drop", "zoneout", "residual"),
}


@dataclass(frozen=True)
class VariantOptions:
    layer_norm: bool = False  # Ba, Kiros & Hinton 2016 (arXiv:1607.06450): LN on pre-activations (and on c)
    recurrent_dropout: float = 0.0  # Gal & Ghahramani 2016 (arXiv:1512.05287): one mask per sequence, x and h
    weight_drop: float = 0.0  # Merity et al. 2017 (arXiv:1708.02182): DropConnect on weight_hh, once per forward
    zoneout: float = 0.0  # Krueger et al. 2017 (arXiv:1606.01305): keep previous h (and c) units with prob. p
    residual: bool = False  # x_{l+1} = layer_l(x_l) + x_l for stacked layers l >= 1
    peephole: bool = False  # Gers & Schmidhuber 2000: gates see c (LSTM)
    coupled_gates: bool = False  # CIFG, Greff et al. 2017 (arXiv:1503.04069): f = 1 - i (LSTM)

    def changes_step(self, training: bool) -> bool:
        """True when the step itself differs from the plain cell's (so rnnkit.fused's kernels do not apply);
        recurrent dropout only changes it in training."""
        return (self.layer_norm or self.peephole or self.coupled_gates or self.zoneout > 0
                or (self.recurrent_dropout > 0 and training))

    def non_neutral(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) != f.default}

    def native_unsupported_reason(self, training: bool) -> str | None:
        """Why torch's fused kernels cannot run these options (None when they can; weight_drop can)."""
        if self.layer_norm:
            return "layer_norm=True normalises inside the cell, which torch's kernels cannot do"
        if self.peephole:
            return "peephole=True adds cell-state terms to the gates, which torch's kernels cannot do"
        if self.coupled_gates:
            return "coupled_gates=True ties the forget gate to the input gate, which torch's kernels cannot do"
        if self.zoneout > 0:
            return f"zoneout={self.zoneout} mixes the previous state into every step, which torch's kernels cannot do"
        if self.recurrent_dropout > 0 and training:
            return (f"recurrent_dropout={self.recurrent_dropout} masks the hidden state inside the recurrence in "
                    "training, which torch's kernels cannot do")
        if self.residual:
            return "residual=True adds each layer's input to its output, but torch's kernel runs all layers in one call"
        return None


def check_options(mode: str, num_layers: int, **options) -> VariantOptions:
    """Validate the variant options of a layer of kind ``mode`` ("RNN", "LSTM", "GRU")."""
    allowed = OPTIONS_BY_MODE["RNN" if mode.startswith("RNN") else mode]
    for name, value in options.items():
        if name not in allowed:  # only reachable through the base class; the public classes omit the argument
            raise ValueError(f"{name}: not available for {mode} layers; available options: {', '.join(allowed)}")
        if name in ("layer_norm", "residual", "peephole", "coupled_gates"):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: expected a bool, got {type(value).__name__} {value!r}")
        else:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise TypeError(f"{name}: expected a float in [0, 1), got {type(value).__name__} {value!r}")
            if not (0 <= value < 1) or math.isnan(value):
                raise ValueError(f"{name}: expected a probability in [0, 1), got {value!r}")
    result = VariantOptions(**{k: (float(v) if not isinstance(v, bool) else v) for k, v in options.items()})
    if result.residual and num_layers < 2:
        raise ValueError(f"residual: connections run between stacked layers (x_(l+1) = layer_l(x_l) + x_l for "
                         f"l >= 1, where input and output sizes are equal); expected num_layers >= 2, "
                         f"got num_layers={num_layers}")
    return result


class VariantWeights(NamedTuple):
    """The extra parameters of one layer and direction (None where the option is off)."""

    layer_norm_ih_weight: Tensor | None = None  # (G*H,) gain of LN(W_ih x)
    layer_norm_hh_weight: Tensor | None = None  # (G*H,) gain of LN(W_hh h)
    layer_norm_cell_weight: Tensor | None = None  # (H,) gain of LN(c), LSTM
    layer_norm_cell_bias: Tensor | None = None  # (H,) shift of LN(c), LSTM
    peephole_weight: Tensor | None = None  # (3H,) blocks i, f, o; (2H,) blocks i, o with coupled gates


def extra_parameter_shapes(mode: str, hidden_size: int, gate_count: int, options: VariantOptions) -> dict:
    """Names (without the _l{k}[_reverse] suffix) and shapes of the extra parameters of one layer and direction.

    The names start with the option's name, so they never clash with torch's weight_ih/weight_hh/bias_*/weight_hr.
    """
    shapes = {}
    if options.layer_norm:
        shapes["layer_norm_ih_weight"] = (gate_count * hidden_size,)
        shapes["layer_norm_hh_weight"] = (gate_count * hidden_size,)
        if mode == "LSTM":
            shapes["layer_norm_cell_weight"] = (hidden_size,)
            shapes["layer_norm_cell_bias"] = (hidden_size,)
    if options.peephole:
        shapes["peephole_weight"] = ((2 if options.coupled_gates else 3) * hidden_size,)
    return shapes
