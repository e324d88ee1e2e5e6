"""What RNN, LSTM and GRU share: :class:`_RecurrentLayer` (parameters, argument checks, the choice of backend).

The cell's equations come from a specification (rnnkit.cell_spec.CellSpec, or a variant wrapping one); the
backends that run it are rnnkit.layers.native and rnnkit.layers.loop.
"""

from __future__ import annotations

import warnings

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence

from .. import init as rnn_init
from ..cell_spec import CellSpec, DirectionWeights, State
from ..cells import _check_bool, _check_positive_int, _check_proj_size
from ..errors import with_torch_message
from . import checks
from .forward import forward_packed, forward_padded

BACKENDS = ("auto", "loop", "native")


def suffix(layer: int, direction: int) -> str:
    """torch's parameter-name suffix of a layer and direction: _l0, _l1_reverse, ..."""
    return f"_l{layer}" + ("_reverse" if direction else "")


class _RecurrentLayer(nn.Module):
    """Parameters, argument checks and backends for one cell specification (``cell``)."""

    def __init__(self, cell: CellSpec, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None, *, backend: str = "auto",
                 init: str = "default") -> None:
        super().__init__()
        _check_positive_int("input_size", input_size)
        _check_positive_int("hidden_size", hidden_size)
        _check_positive_int("num_layers", num_layers)
        for name, value in (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional)):
            _check_bool(name, value)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout <= 1:
            raise ValueError(with_torch_message(
                f"dropout: expected a number in [0, 1], got {dropout!r}",
                "dropout should be a number in range [0, 1] representing the probability of an element being zeroed"))
        if dropout > 0 and num_layers == 1:
            warnings.warn(f"dropout={dropout} has no effect with num_layers=1: dropout applies between layers",
                          stacklevel=3)
        _check_proj_size(proj_size, hidden_size)
        if backend not in BACKENDS:
            raise ValueError(f"backend: expected one of {BACKENDS}, got {backend!r}")
        rnn_init.check_scheme(init, cell.gate_count)
        self.cell, self.mode, self.gate_count = cell, cell.mode, cell.gate_count
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional, self.proj_size, self.backend, self.init = bidirectional, proj_size, backend, init
        # The loop runs the standard cells through rnnkit.fused (hand-derived BPTT, one autograd node per layer
        # and direction). False runs plain autograd through the step functions instead: slower, and the
        # reference that the fused path is tested against.
        self.fused_loop = True
        self._build_parameters({"device": device, "dtype": dtype})
        self.reset_parameters()

    def _build_parameters(self, factory: dict) -> None:
        """torch's parameters for every layer and direction, then the cell's extra ones (layer-norm gains,
        peepholes), so that with a plain cell the state_dict is exactly torch's."""
        out_size = self.proj_size or self.hidden_size
        rows = self.gate_count * self.hidden_size
        self._flat_weights_names: list[str] = []
        self._extra_weights_names: list[str] = []
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else out_size * self.num_directions
            for direction in range(self.num_directions):
                shapes = {"weight_ih": (rows, layer_input), "weight_hh": (rows, out_size)}
                if self.bias:
                    shapes |= {"bias_ih": (rows,), "bias_hh": (rows,)}
                if self.proj_size:
                    shapes["weight_hr"] = (self.proj_size, self.hidden_size)
                self._register(self._flat_weights_names, layer, direction, shapes, factory)
        extra = self.cell.extra_parameter_shapes(self.hidden_size)
        for layer in range(self.num_layers):
            for direction in range(self.num_directions):
                self._register(self._extra_weights_names, layer, direction, extra, factory)

    def _register(self, names: list[str], layer: int, direction: int, shapes: dict, factory: dict) -> None:
        for name, shape in shapes.items():
            setattr(self, name + suffix(layer, direction), nn.Parameter(torch.empty(shape, **factory)))
            names.append(name + suffix(layer, direction))

    # -- parameters ------------------------------------------------------------------------------------

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def reset_parameters(self) -> None:
        """Initialise torch's parameters with the scheme named by ``init`` (torch's uniform by default), and
        any extra parameters as the cell says."""
        torch_parameters = nn.Module()  # rnnkit.init knows torch's parameter names only
        torch_parameters.gate_count, torch_parameters.hidden_size = self.gate_count, self.hidden_size
        for name in self._flat_weights_names:
            torch_parameters.register_parameter(name, getattr(self, name))
        rnn_init.initialize(torch_parameters, self.init)
        with torch.no_grad():
            for name in self._extra_weights_names:
                self.cell.reset_extra(name, getattr(self, name), self.hidden_size)

    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, name) for name in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """Parameters grouped by layer and direction, as torch.nn.RNNBase.all_weights."""
        per_direction = len(self._flat_weights_names) // (self.num_layers * self.num_directions)
        flat = self._flat_weights
        return [flat[i:i + per_direction] for i in range(0, len(flat), per_direction)]

    def direction_weights(self, layer: int, direction: int) -> DirectionWeights:
        end = suffix(layer, direction)
        return DirectionWeights(*(getattr(self, name + end, None) for name in DirectionWeights._fields))

    def extra_weights(self, layer: int, direction: int):
        """The cell's extra parameters of a layer and direction (None for a plain cell)."""
        end = suffix(layer, direction)
        return self.cell.extras(lambda name: getattr(self, name + end, None))

    def flatten_parameters(self) -> None:
        """Kept for torch.nn compatibility; parameters are used where they are (a no-op)."""

    # -- backends --------------------------------------------------------------------------------------

    def native_unsupported_reason(self) -> str | None:
        """Why torch's fused kernel cannot run this configuration, or None when it can (may depend on the mode:
        recurrent dropout needs the loop in training only)."""
        return self.cell.native_unsupported_reason(self.training)

    def uses_native(self) -> bool:
        reason = self.native_unsupported_reason()
        if self.backend == "native" and reason is not None:
            raise ValueError(f"backend='native' cannot run this layer: {reason}; use backend='loop' or 'auto'")
        return self.backend == "native" or (self.backend == "auto" and reason is None)

    def _runs_native(self, steps: int, device: torch.device) -> bool:
        """uses_native(), except that ``auto`` runs a single time step on the CPU with the loop: torch's oneDNN
        kernel reorders the weights on every call, which costs more than one step, and one-token calls are what
        decoding makes (docs/decoding.md)."""
        native = self.uses_native()
        if native and self.backend == "auto" and steps == 1 and device.type == "cpu":
            return False
        return native

    def _steps_once_in_inference(self, x: Tensor, state: State, lengths: Tensor | None) -> bool:
        """Whether this call is one decoding step for rnnkit.layers.loop.one_step_forward: a single time step in
        eval mode, where nothing needs a gradient, and not sent to torch's kernel."""
        if x.size(0) != 1 or lengths is not None or self.training:
            return False
        if self._runs_native(1, x.device) or torch.is_autocast_enabled(x.device.type):
            return False
        if not torch.is_grad_enabled():
            return True
        return not (x.requires_grad or any(s.requires_grad for s in state)
                    or any(w.requires_grad for w in self._flat_weights))

    # -- forward ---------------------------------------------------------------------------------------

    def forward(self, input, hx=None, *, lengths=None):
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError("lengths: expected None with a PackedSequence input (it carries its own lengths), "
                                 f"got {type(lengths).__name__}")
            output, state = forward_packed(self, input, hx)
        else:
            output, state = forward_padded(self, input, hx, lengths)
        return output, (state if self.cell.has_cell_state else state[0])

    def _initial_state(self, hx, batch: int, unbatched: bool, like: Tensor, packed: bool = False) -> State:
        return checks.initial_state(self, hx, batch, unbatched, like, packed)

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0, "bidirectional": False,
                    "proj_size": 0, "backend": "auto", "init": "default"}
        for name, default in defaults.items():
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)!r}"
        for name, value in self.cell.non_neutral().items():
            text += f", {name}={value!r}"
        return text
