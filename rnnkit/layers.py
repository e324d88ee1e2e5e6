r"""Recurrent layers with torch.nn's interface: :class:`RNN`, :class:`LSTM`, :class:`GRU`.

Same constructor arguments, parameter names (``weight_ih_l0``, ``weight_hh_l1_reverse``, ``weight_hr_l0``, ...),
``state_dict`` keys and return values as ``torch.nn.RNN``/``LSTM``/``GRU``, so weights load both ways. Added:

* ``forward(input, hx=None, *, lengths=None)``: ``lengths`` (list, tuple or integer tensor on any device) marks
  the valid prefix of each padded sequence. Outputs past a sequence's length are zero, ``h_n`` is the state at
  each sequence's last valid step, and the reverse direction starts at the last valid step, not at the padding.
* ``backend="auto" | "loop" | "native"``:

  - ``loop``: the cells of :mod:`rnnkit.cells` stepped through time by :func:`rnnkit.scan.scan`: the readable
    reference, and the base every variant plugs into.
  - ``native``: torch's fused kernels (cuDNN on GPU, oneDNN/ATen on CPU) on the same parameters.
  - ``auto``: ``native`` when the configuration is supported natively, otherwise ``loop``.

* ``init="default"``: a scheme name from :mod:`rnnkit.init` (``"orthogonal"``, ``"identity"``, ...).

Shapes (N batch, L sequence length, D = 2 if bidirectional else 1, H_in input_size, H_out = proj_size or
hidden_size, H_cell = hidden_size), as in torch:

    input   (L, N, H_in), or (N, L, H_in) with batch_first=True, or (L, H_in) unbatched, or a PackedSequence
    h_0     (D * num_layers, N, H_out)   (D * num_layers, H_out) unbatched; zeros when hx is None
    c_0     (D * num_layers, N, H_cell)  LSTM only
    output  (L, N, D * H_out) (or batch first, or a PackedSequence when a PackedSequence came in)
    h_n     (D * num_layers, N, H_out),  c_n (D * num_layers, N, H_cell)

The loop backend computes, for each layer and direction, the input projection of all steps as one matrix
multiply, then folds the cell's step over time; for a bidirectional layer the reverse direction runs over each
sequence reversed within its own length. As a reference loop (without lengths, one direction)::

    def lstm(x, h, c):                       # x (L, N, H_in)
        outputs = []
        for t in range(x.size(0)):
            h, c = cell(x[t], (h, c))
            outputs.append(h)
        return torch.stack(outputs), (h, c)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import _VF, Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from . import init as rnn_init
from .cells import (
    _check_bool,
    _check_like_weight,
    _check_nonlinearity,
    _check_positive_int,
    _check_proj_size,
    elman_input_projection,
    elman_step,
    gru_input_projection,
    gru_step,
    lstm_input_projection,
    lstm_step,
)
from .errors import InputError, with_torch_message
from .fused import ElmanRecurrence, GRURecurrence, LSTMRecurrence, transforms_active
from .scan import scan
from .sequences import check_lengths, reverse_padded
from .transposed import for_inference
from .variants.dropout import dropout_mask, zoneout_masks
from .variants.fused_lstm import LSTMVariantRecurrence
from .variants.options import VariantOptions, VariantWeights, check_options, extra_parameter_shapes
from .variants.steps import elman_variant_step, gru_variant_step, lstm_variant_step, variant_projection

__all__ = ["RNN", "LSTM", "GRU", "BACKENDS"]

BACKENDS = ("auto", "loop", "native")


class DirectionWeights(NamedTuple):
    """The parameters of one layer and direction, in torch's order."""

    weight_ih: Tensor
    weight_hh: Tensor
    bias_ih: Tensor | None
    bias_hh: Tensor | None
    weight_hr: Tensor | None


def _refuse_proj_size(proj_size) -> None:
    """torch.nn.RNN and GRU refuse the proj_size keyword whatever its value: only the LSTM projects."""
    if proj_size is not None:
        raise ValueError(with_torch_message(
            f"proj_size: only LSTM has an output projection (h = W_hr (o ⊙ tanh(c))); leave proj_size out for "
            f"RNN and GRU, got proj_size={proj_size!r}",
            "proj_size argument is only supported for LSTM, not RNN or GRU"))


class _RecurrentLayer(nn.Module):
    """Parameters, argument checks and the two backends shared by RNN, LSTM and GRU.

    Subclasses set ``mode`` (torch's name: RNN_TANH, RNN_RELU, LSTM, GRU) and ``gate_count``, and say how to
    project inputs (:meth:`_project`) and step a state (:meth:`_step`).
    """

    mode: str
    gate_count: int

    def __init__(self, mode: str, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 proj_size: int = 0, device=None, dtype=None, *, backend: str = "auto",
                 init: str = "default", options: VariantOptions | None = None) -> None:
        super().__init__()
        options = VariantOptions() if options is None else options
        if options.coupled_gates:  # CIFG has no forget-gate rows: weights are (3H, ·), blocks i, g, o
            self.gate_count = 3
            if "forget_bias" in str(init).split("+"):
                raise ValueError(f"init: 'forget_bias' sets the forget gate's bias, but coupled_gates=True has no "
                                 f"forget gate (f = 1 - i); got {init!r}, drop '+forget_bias'")
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
        rnn_init.check_scheme(init, self.gate_count)

        self.mode = mode
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.num_layers = num_layers
        self.bias = bias
        self.batch_first = batch_first
        self.dropout = float(dropout)
        self.bidirectional = bidirectional
        self.proj_size = proj_size
        self.backend = backend
        self.init = init
        self.options = options
        # The loop backend runs the standard cells through rnnkit.fused (hand-derived BPTT, one autograd node per
        # layer and direction). False runs plain autograd through rnnkit.cells' step functions instead: slower,
        # and the reference that the fused path is tested against.
        self.fused_loop = True

        factory = {"device": device, "dtype": dtype}
        out_size = proj_size or hidden_size
        rows = self.gate_count * hidden_size
        self._flat_weights_names: list[str] = []
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else out_size * self.num_directions
            for direction in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                shapes = [("weight_ih", (rows, layer_input)), ("weight_hh", (rows, out_size))]
                if bias:
                    shapes += [("bias_ih", (rows,)), ("bias_hh", (rows,))]
                if proj_size:
                    shapes += [("weight_hr", (proj_size, hidden_size))]
                for name, shape in shapes:
                    setattr(self, name + suffix, nn.Parameter(torch.empty(shape, **factory)))
                    self._flat_weights_names.append(name + suffix)
        # Variant parameters (layer-norm gains, peepholes) come after torch's, under names that start with the
        # option's name; with every option neutral there are none and the state_dict is exactly torch's.
        self._variant_weights_names: list[str] = []
        extra = extra_parameter_shapes(mode, hidden_size, self.gate_count, options)
        for layer in range(num_layers):
            for direction in range(self.num_directions):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                for name, shape in extra.items():
                    setattr(self, name + suffix, nn.Parameter(torch.empty(shape, **factory)))
                    self._variant_weights_names.append(name + suffix)
        self.reset_parameters()

    # -- parameters ------------------------------------------------------------------------------------

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def reset_parameters(self) -> None:
        """Initialise with the scheme named by ``init`` (torch's uniform by default); layer-norm gains 1 and
        shifts 0, peepholes uniform in (-1/sqrt(H), 1/sqrt(H)) like torch's default."""
        if not self._variant_weights_names:
            rnn_init.initialize(self, self.init)
            return
        # rnnkit.init knows torch's parameter names only: hand it a bare module holding just those (the same
        # tensors, initialised in place).
        torch_parameters = nn.Module()
        torch_parameters.gate_count, torch_parameters.hidden_size = self.gate_count, self.hidden_size
        for name in self._flat_weights_names:
            torch_parameters.register_parameter(name, getattr(self, name))
        rnn_init.initialize(torch_parameters, self.init)
        bound = 1.0 / self.hidden_size ** 0.5
        with torch.no_grad():
            for name in self._variant_weights_names:
                weight = getattr(self, name)
                if name.startswith("peephole"):
                    weight.uniform_(-bound, bound)
                elif name.startswith("layer_norm_cell_bias"):
                    weight.zero_()
                else:
                    weight.fill_(1.0)

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
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        return DirectionWeights(*(getattr(self, name + suffix, None)
                                  for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")))

    def variant_weights(self, layer: int, direction: int) -> VariantWeights:
        suffix = f"_l{layer}" + ("_reverse" if direction else "")
        return VariantWeights(*(getattr(self, name + suffix, None) for name in VariantWeights._fields))

    def flatten_parameters(self) -> None:
        """Kept for torch.nn compatibility; parameters are used where they are (a no-op)."""

    # -- backends --------------------------------------------------------------------------------------

    def native_unsupported_reason(self) -> str | None:
        """Why torch's fused kernel cannot run this configuration, or None when it can. Depends on the mode:
        recurrent dropout needs the loop in training only."""
        return self.options.native_unsupported_reason(self.training)

    def _native_weights(self) -> list[Tensor]:
        """The parameters as torch's kernels take them; with weight_drop in training, weight_hh DropConnect-ed
        (Merity et al. 2017: one mask per forward pass, so the kernel can still run)."""
        p = self.options.weight_drop
        if not (p and self.training):
            return self._flat_weights
        return [F.dropout(w, p, training=True) if name.startswith("weight_hh") else w
                for name, w in zip(self._flat_weights_names, self._flat_weights, strict=True)]

    def uses_native(self) -> bool:
        reason = self.native_unsupported_reason()
        if self.backend == "native" and reason is not None:
            raise ValueError(f"backend='native' cannot run this layer: {reason}; use backend='loop' or 'auto'")
        return self.backend == "native" or (self.backend == "auto" and reason is None)

    def _runs_native(self, steps: int, device: torch.device) -> bool:
        """uses_native(), except that ``auto`` runs a single time step on the CPU with the loop: torch's oneDNN
        kernel reorders the weights on every call, which costs more than one step (measured for a 2x512 LSTM
        at batch 1: 11 ms native against 2.3 ms loop per call), and one-token calls are what decoding makes."""
        native = self.uses_native()
        if native and self.backend == "auto" and steps == 1 and device.type == "cpu":
            return False
        return native

    def _project(self, weights: DirectionWeights, x: Tensor) -> Tensor:
        """The input part of every step at once: (T, B, F) -> (T, B, G*H)."""
        raise NotImplementedError

    def _step(self, weights: DirectionWeights) -> Callable:
        """The step function for rnnkit.scan.scan: (projected_t, state) -> state."""
        raise NotImplementedError

    def _fused_recurrence(self, projected: Tensor, state: tuple[Tensor, ...], weights: DirectionWeights,
                          mask: Tensor | None) -> tuple[Tensor, tuple[Tensor, ...]]:
        raise NotImplementedError

    def _state_sizes(self) -> tuple[int, ...]:
        return (self.proj_size or self.hidden_size,)

    # -- forward ---------------------------------------------------------------------------------------

    def forward(self, input, hx=None, *, lengths=None):
        if isinstance(input, PackedSequence):
            if lengths is not None:
                raise ValueError("lengths: expected None with a PackedSequence input (it carries its own lengths), "
                                 f"got {type(lengths).__name__}")
            output, state = self._forward_packed(input, hx)
        else:
            output, state = self._forward_padded(input, hx, lengths)
        return output, self._pack_state(state)

    def _forward_packed(self, packed: PackedSequence, hx) -> tuple[PackedSequence, tuple[Tensor, ...]]:
        data, batch_sizes = packed.data, packed.batch_sizes
        if data.dim() != 2:
            raise InputError(with_torch_message(
                f"input (PackedSequence.data): expected a 2-D (sum of lengths, input_size) tensor, got shape "
                f"{tuple(data.shape)}", f"input must have 2 dimensions, got {data.dim()}"))
        self._check_input(data, "input (PackedSequence.data)")
        batch = int(batch_sizes[0])
        state = self._initial_state(hx, batch, unbatched=False, like=data, packed=True)
        if packed.sorted_indices is not None:  # hx comes in the caller's order; the packed data is sorted
            state = tuple(s.index_select(1, packed.sorted_indices) for s in state)
        if self._runs_native(len(batch_sizes), data.device):
            out_data, state = self._native_packed(data, batch_sizes, state)
        else:
            padded, lengths = pad_packed_sequence(PackedSequence(data, batch_sizes))
            out, state = self._loop(padded, state, lengths)
            out_data = pack_padded_sequence(out, lengths).data
        if packed.unsorted_indices is not None:
            state = tuple(s.index_select(1, packed.unsorted_indices) for s in state)
        return PackedSequence(out_data, batch_sizes, packed.sorted_indices, packed.unsorted_indices), state

    def _forward_padded(self, input, hx, lengths) -> tuple[Tensor, tuple[Tensor, ...]]:
        if not isinstance(input, Tensor):
            raise TypeError(f"input: expected a Tensor or a PackedSequence, got {type(input).__name__}")
        if input.dim() not in (2, 3):
            raise ValueError(with_torch_message(
                f"input: expected a 3-D (batched) or 2-D (unbatched) tensor, got shape {tuple(input.shape)}",
                f"{self._torch_name}: Expected input to be 2D or 3D, got {input.dim()}D"
                f"{' tensor' if self._torch_name == 'RNN' else ''} instead"))
        self._check_input(input, "input")
        unbatched = input.dim() == 2
        x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if self.batch_first else input)  # (T, B, F)
        steps, batch = x.size(0), x.size(1)
        if steps == 0:
            raise ValueError(f"input: expected at least one time step, got shape {tuple(input.shape)}")
        if lengths is not None:
            if unbatched:
                raise ValueError("lengths: expected None for an unbatched (2-D) input; add a batch dimension")
            lengths = check_lengths(lengths, batch, steps)
            if bool((lengths == steps).all()):
                lengths = None  # every sequence is full: nothing to mask
        state = self._initial_state(hx, batch, unbatched, like=x)
        if self._steps_once_in_inference(x, state, lengths):
            out, state = self._one_step(x[0], state)
        elif not self._runs_native(steps, x.device):
            out, state = self._loop(x, state, lengths)
        elif lengths is None:
            out, state = self._native_padded(x, state)
        else:
            packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
            sorted_state = tuple(s.index_select(1, packed.sorted_indices) for s in state)
            out_data, sorted_state = self._native_packed(packed.data, packed.batch_sizes, sorted_state)
            out, _ = pad_packed_sequence(
                PackedSequence(out_data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices),
                total_length=steps)
            state = tuple(s.index_select(1, packed.unsorted_indices) for s in sorted_state)
        if unbatched:
            return out.squeeze(1), tuple(s.squeeze(1) for s in state)
        return (out.transpose(0, 1) if self.batch_first else out), state

    def _loop(self, x: Tensor, state: tuple[Tensor, ...], lengths: Tensor | None):
        """The reference backend. x (T, B, F) -> output (T, B, D*H_out), final state as (D*L, B, ·) tensors."""
        mask = None
        if lengths is not None:
            steps = torch.arange(x.size(0), device=x.device)[:, None]  # (T, 1)
            mask = (steps < lengths.to(x.device)[None, :]).unsqueeze(-1)  # (T, B, 1)
        options, training = self.options, self.training
        finals: list[tuple[Tensor, ...]] = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):
                index = layer * self.num_directions + direction
                weights = self.direction_weights(layer, direction)
                extras = self.variant_weights(layer, direction)
                initial = tuple(s[index] for s in state)
                if options.weight_drop and training:  # DropConnect: one mask on weight_hh per forward pass
                    weights = weights._replace(weight_hh=F.dropout(weights.weight_hh, options.weight_drop, True))
                inputs, hidden_mask = layer_input, None
                if options.recurrent_dropout and training:  # one mask per sequence, reused at every step
                    inputs = layer_input * dropout_mask(layer_input[0], options.recurrent_dropout)
                    hidden_mask = dropout_mask(initial[0], options.recurrent_dropout)  # (B, H_out)
                if options.layer_norm:
                    projected = variant_projection(self.mode, inputs, weights.weight_ih, weights.bias_ih,
                                                   weights.bias_hh, extras)
                else:
                    projected = self._project(weights, inputs)  # (T, B, G*H): one multiply for all steps
                if direction:
                    projected = reverse_padded(projected, lengths)
                if projected.dtype != weights.weight_hh.dtype:  # autocast lowered the projection: follow it
                    weights = DirectionWeights(*(w if w is None else w.to(projected.dtype) for w in weights))
                    extras = VariantWeights(*(w if w is None else w.to(projected.dtype) for w in extras))
                    initial = tuple(s.to(projected.dtype) for s in initial)
                    hidden_mask = None if hidden_mask is None else hidden_mask.to(projected.dtype)
                # torch.func transforms and forward-mode AD need plain autograd operations: scan through the cells
                fused = self.fused_loop and not transforms_active(projected, *initial, weights.weight_hh)
                if not options.changes_step(training):
                    if fused:
                        out, final = self._fused_recurrence(projected, initial, weights, mask)
                    else:
                        out, final = scan(self._step(weights), projected, initial, mask)
                else:
                    out, final = self._variant_recurrence(projected, initial, weights, extras, hidden_mask, mask,
                                                          fused)
                outputs.append(reverse_padded(out, lengths) if direction else out)
                finals.append(final)
            output = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
            if options.residual and layer > 0:  # sizes match: layer l >= 1 maps D*H_out to D*H_out
                output = output + layer_input
            layer_input = output
            if self.dropout and self.training and layer < self.num_layers - 1:
                layer_input = F.dropout(layer_input, self.dropout, training=True)
        return layer_input, tuple(torch.stack(parts) for parts in zip(*finals, strict=True))

    def _steps_once_in_inference(self, x: Tensor, state: tuple[Tensor, ...], lengths: Tensor | None) -> bool:
        """Whether this call is one decoding step that :meth:`_one_step` can take: a single time step in eval
        mode, where nothing needs a gradient, and not sent to torch's kernel."""
        if x.size(0) != 1 or lengths is not None or self.training:
            return False
        if self._runs_native(1, x.device) or torch.is_autocast_enabled(x.device.type):
            return False
        if not torch.is_grad_enabled():
            return True
        return not (x.requires_grad or any(s.requires_grad for s in state)
                    or any(w.requires_grad for w in self._flat_weights))

    def _one_step(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One time step, x (B, F) -> output (1, B, D*H_out) and the new state: each layer's cell equations
        (rnnkit.cells, or rnnkit.variants.steps for a variant cell) applied once, without the loop's per-call
        setup (buffers for every step, an autograd.Function, masks), which costs more than the step itself when
        decoding feeds one token at a time (a 2x512 LSTM at batch 1: see docs/decoding.md). The same numbers
        as the loop."""
        variant = self.options.changes_step(False)
        finals: list[tuple[Tensor, ...]] = []
        layer_input = x
        for layer in range(self.num_layers):
            outputs = []
            for direction in range(self.num_directions):  # one step: the reverse direction reads the same x
                weights = self.direction_weights(layer, direction)
                index = layer * self.num_directions + direction
                initial = tuple(s[index] for s in state)
                if variant:
                    new = self._variant_one_step(weights, self.variant_weights(layer, direction), layer_input,
                                                 initial)
                else:
                    new = self._step(weights)(self._project(weights, layer_input), initial)
                outputs.append(new[0])
                finals.append(new)
            output = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=-1)
            if self.options.residual and layer > 0:
                output = output + layer_input
            layer_input = output
        return layer_input.unsqueeze(0), tuple(torch.stack(parts) for parts in zip(*finals, strict=True))

    def _variant_one_step(self, weights: DirectionWeights, extras: VariantWeights, x: Tensor,
                          initial: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        """One evaluation step of a variant cell: x (B, F) -> the new state. In evaluation recurrent dropout
        and weight drop are off and zoneout keeps the expectation p of each previous unit."""
        projected = variant_projection(self.mode, x, weights.weight_ih, weights.bias_ih, weights.bias_hh, extras)
        inputs: Tensor | tuple[Tensor, ...] = projected
        if self.options.zoneout:
            keep = zoneout_masks(self.options.zoneout, 1, initial, training=False)
            inputs = (projected, *(k[0] for k in keep))
        return self._variant_step(weights, extras, None)(inputs, initial)

    def _variant_recurrence(self, projected: Tensor, initial: tuple[Tensor, ...], weights: DirectionWeights,
                            extras: VariantWeights, hidden_mask: Tensor | None, mask: Tensor | None, fused: bool):
        """The recurrence of a variant cell (rnnkit.variants): plain autograd through its step function,
        or, for the LSTM when ``fused``, the hand-derived rnnkit.variants.fused_lstm."""
        keep = ()
        if self.options.zoneout:
            keep = zoneout_masks(self.options.zoneout, projected.size(0), initial, self.training)
        step = self._variant_step(weights, extras, hidden_mask)
        return scan(step, (projected, *keep) if keep else projected, initial, mask)

    def _variant_step(self, weights: DirectionWeights, extras: VariantWeights, hidden_mask: Tensor | None):
        raise NotImplementedError

    def _native_padded(self, x: Tensor, state: tuple[Tensor, ...]):
        raise NotImplementedError

    def _native_packed(self, data: Tensor, batch_sizes: Tensor, state: tuple[Tensor, ...]):
        raise NotImplementedError

    # -- checks ----------------------------------------------------------------------------------------

    @property
    def _torch_name(self) -> str:
        """The torch.nn class this layer stands in for, as its error messages name it."""
        return "RNN" if self.mode.startswith("RNN") else self.mode

    def _check_input(self, x: Tensor, name: str) -> None:
        _check_like_weight(name, x, self.weight_ih_l0, layer_input=True)
        if x.size(-1) != self.input_size:
            raise InputError(with_torch_message(
                f"{name}: expected feature size {self.input_size} (input_size) in the last dimension, got "
                f"{x.size(-1)} in shape {tuple(x.shape)}",
                f"input.size(-1) must be equal to input_size. Expected {self.input_size}, got {x.size(-1)}"))

    def _initial_state(self, hx, batch: int, unbatched: bool, like: Tensor,
                       packed: bool = False) -> tuple[Tensor, ...]:
        """hx as a tuple of (D*L, B, ·) tensors (zeros when None), after checking count, shape, dtype, device."""
        layers = self.num_layers * self.num_directions
        sizes = self._state_sizes()
        if hx is None:
            return tuple(like.new_zeros(layers, batch, size) for size in sizes)
        names = ("hx",) if len(sizes) == 1 else ("hx[0] (h_0)", "hx[1] (c_0)")
        if len(sizes) == 1:
            if not isinstance(hx, Tensor):
                raise TypeError(f"hx: expected a Tensor, got {type(hx).__name__}")
            parts = (hx,)
        else:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2:
                count = len(hx) if isinstance(hx, (tuple, list)) else type(hx).__name__
                raise ValueError(f"hx: expected a tuple (h_0, c_0) of two tensors, got {count}")
            parts = tuple(hx)
        for name, part in zip(names, parts, strict=True):
            if not isinstance(part, Tensor):
                raise TypeError(f"{name}: expected a Tensor, got {type(part).__name__}")
        dims = 2 if unbatched else 3
        if not packed and any(part.dim() != dims for part in parts):
            kind = "unbatched 2-D" if unbatched else "batched 3-D"
            got = ", ".join(f"{part.dim()}-D" for part in parts)
            torch_message = (f"For {kind} input, hx should also be {dims}-D but got {got} tensor" if len(parts) == 1
                             else f"For {kind} input, hx and cx should also be {dims}-D but got ({got}) tensors")
            raise InputError(with_torch_message(
                f"hx: expected {dims}-D state tensors for a {dims}-D input, got "
                f"{', '.join(str(tuple(part.shape)) for part in parts)}", torch_message))
        checked = []
        for index, (name, part, size) in enumerate(zip(names, parts, sizes, strict=True)):
            expected = (layers, size) if unbatched else (layers, batch, size)
            if tuple(part.shape) != expected:
                what = "hidden" if len(parts) == 1 else f"hidden[{index}]"
                seen = part.unsqueeze(1) if unbatched else part  # torch compares the state with a batch of 1
                raise InputError(with_torch_message(
                    f"{name}: expected shape {expected} (num_layers * num_directions, "
                    f"{'' if unbatched else 'batch, '}{'hidden_size' if size == self.hidden_size else 'proj_size'}), "
                    f"got {tuple(part.shape)}",
                    f"Expected {what} size {(layers, 1 if unbatched else batch, size)}, got {list(seen.shape)}"))
            _check_like_weight(name, part, self.weight_ih_l0)
            checked.append(part.unsqueeze(1) if unbatched else part)
        return tuple(checked)

    def _pack_state(self, state: tuple[Tensor, ...]):
        return state[0]

    def extra_repr(self) -> str:
        text = f"{self.input_size}, {self.hidden_size}"
        defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0, "bidirectional": False,
                    "proj_size": 0, "backend": "auto", "init": "default"}
        for name, default in defaults.items():
            if getattr(self, name) != default:
                text += f", {name}={getattr(self, name)!r}"
        for name, value in self.options.non_neutral().items():
            text += f", {name}={value!r}"
        return text


class RNN(_RecurrentLayer):
    r"""Elman RNN layer(s), as torch.nn.RNN: for each layer, direction and step

    .. math:: h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})   (ReLU with ``nonlinearity="relu"``)

    where x_t is the input for layer 0 and the (dropped-out) output of the layer below otherwise.

    Args: input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, device=None, dtype=None, and keyword-only backend="auto", init="default",
    and the variant options recurrent_dropout=0.0, weight_drop=0.0, zoneout=0.0, residual=False (see
    docs/variants.md). See the module docstring for shapes and for ``forward(input, hx=None, *, lengths=None)``,
    which returns ``(output, h_n)``.

    Example::

        >>> rnn = RNN(10, 20, num_layers=2, batch_first=True)
        >>> output, h_n = rnn(torch.randn(3, 5, 10), lengths=[5, 2, 4])
        >>> output.shape, h_n.shape
        (torch.Size([3, 5, 20]), torch.Size([2, 3, 20]))
    """

    gate_count = 1

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, *, backend: str = "auto", init: str = "default",
                 recurrent_dropout: float = 0.0, weight_drop: float = 0.0, zoneout: float = 0.0,
                 residual: bool = False, proj_size: None = None) -> None:
        _refuse_proj_size(proj_size)
        _check_nonlinearity(nonlinearity)
        self.nonlinearity = nonlinearity
        mode = "RNN_TANH" if nonlinearity == "tanh" else "RNN_RELU"
        options = check_options("RNN", num_layers, recurrent_dropout=recurrent_dropout, weight_drop=weight_drop,
                                zoneout=zoneout, residual=residual)
        super().__init__(mode, input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                         device, dtype, backend=backend, init=init, options=options)

    def _project(self, w: DirectionWeights, x: Tensor) -> Tensor:
        return elman_input_projection(x, w.weight_ih, w.bias_ih, w.bias_hh)

    def _step(self, w: DirectionWeights):
        def step(projected_x: Tensor, state: tuple[Tensor]) -> tuple[Tensor]:
            return (elman_step(projected_x, state[0], w.weight_hh, self.nonlinearity),)

        return step

    def _fused_recurrence(self, projected, state, w, mask):
        out, h = ElmanRecurrence.apply(projected, state[0], w.weight_hh, self.nonlinearity == "relu", mask,
                                      for_inference(w.weight_hh))
        return out, (h,)

    def _variant_step(self, w: DirectionWeights, extras: VariantWeights, hidden_mask: Tensor | None):
        return elman_variant_step(w.weight_hh, self.nonlinearity, self.options, hidden_mask)

    def _native(self):
        return _VF.rnn_tanh if self.nonlinearity == "tanh" else _VF.rnn_relu

    def _native_padded(self, x, state):
        out, h = self._native()(x, state[0], self._native_weights(), self.bias, self.num_layers, self.dropout,
                                self.training, self.bidirectional, False)
        return out, (h,)

    def _native_packed(self, data, batch_sizes, state):
        out, h = self._native()(data, batch_sizes, state[0], self._native_weights(), self.bias, self.num_layers,
                                self.dropout, self.training, self.bidirectional)
        return out, (h,)

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.nonlinearity == "tanh" else ", nonlinearity='relu'")


class LSTM(_RecurrentLayer):
    r"""LSTM layer(s), as torch.nn.LSTM: for each layer, direction and step

    .. math::
        i_t = σ(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi})    f_t = σ(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf})
        g_t = \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg})  o_t = σ(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho})
        c_t = f_t ⊙ c_{t-1} + i_t ⊙ g_t                            h_t = o_t ⊙ \tanh(c_t)
        with proj_size > 0:  h_t = W_{hr} (o_t ⊙ \tanh(c_t))

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, proj_size=0, device=None, dtype=None, and keyword-only backend="auto", init="default",
    and the variant options layer_norm=False, recurrent_dropout=0.0, weight_drop=0.0, zoneout=0.0,
    residual=False, peephole=False, coupled_gates=False (equations in rnnkit.variants.steps and
    docs/variants.md). ``forward(input, hx=None, *, lengths=None)`` returns ``(output, (h_n, c_n))``.

    Parameters per layer k and direction: 4 * (H * I_k + H * H_out + 2H) (+ P * H with proj_size P), where I_k
    is input_size for k = 0 and D * H_out above.

    Example::

        >>> lstm = LSTM(10, 20, batch_first=True, bidirectional=True)
        >>> output, (h_n, c_n) = lstm(torch.randn(3, 5, 10), lengths=torch.tensor([5, 2, 4]))
        >>> output.shape, h_n.shape
        (torch.Size([3, 5, 40]), torch.Size([2, 3, 20]))
    """

    gate_count = 4

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None, *, backend: str = "auto", init: str = "default", layer_norm: bool = False,
                 recurrent_dropout: float = 0.0, weight_drop: float = 0.0, zoneout: float = 0.0,
                 residual: bool = False, peephole: bool = False, coupled_gates: bool = False) -> None:
        options = check_options("LSTM", num_layers, layer_norm=layer_norm, recurrent_dropout=recurrent_dropout,
                                weight_drop=weight_drop, zoneout=zoneout, residual=residual, peephole=peephole,
                                coupled_gates=coupled_gates)
        super().__init__("LSTM", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional,
                         proj_size, device, dtype, backend=backend, init=init, options=options)

    def _state_sizes(self) -> tuple[int, ...]:
        return (self.proj_size or self.hidden_size, self.hidden_size)

    def _project(self, w: DirectionWeights, x: Tensor) -> Tensor:
        return lstm_input_projection(x, w.weight_ih, w.bias_ih, w.bias_hh)

    def _step(self, w: DirectionWeights):
        def step(projected_x: Tensor, state: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
            return lstm_step(projected_x, state[0], state[1], w.weight_hh, w.weight_hr)

        return step

    def _fused_recurrence(self, projected, state, w, mask):
        out, h, c = LSTMRecurrence.apply(projected, state[0], state[1], w.weight_hh, w.weight_hr, mask,
                                         for_inference(w.weight_hh))
        return out, (h, c)

    def _variant_step(self, w: DirectionWeights, extras: VariantWeights, hidden_mask: Tensor | None):
        return lstm_variant_step(w.weight_hh, w.weight_hr, extras, self.options, hidden_mask)

    def _variant_recurrence(self, projected, initial, weights, extras, hidden_mask, mask, fused):
        if not fused:
            return super()._variant_recurrence(projected, initial, weights, extras, hidden_mask, mask, fused)
        keep_h = keep_c = None
        if self.options.zoneout:
            keep_h, keep_c = zoneout_masks(self.options.zoneout, projected.size(0), initial, self.training)
        out, h, c = LSTMVariantRecurrence.apply(
            projected, initial[0], initial[1], weights.weight_hh, weights.weight_hr, extras.layer_norm_hh_weight,
            extras.layer_norm_cell_weight, extras.layer_norm_cell_bias, extras.peephole_weight, hidden_mask,
            keep_h, keep_c, self.options.coupled_gates, mask, for_inference(weights.weight_hh))
        return out, (h, c)

    def _native_padded(self, x, state):
        out, h, c = _VF.lstm(x, state, self._native_weights(), self.bias, self.num_layers, self.dropout,
                             self.training, self.bidirectional, False)
        return out, (h, c)

    def _native_packed(self, data, batch_sizes, state):
        out, h, c = _VF.lstm(data, batch_sizes, state, self._native_weights(), self.bias, self.num_layers,
                             self.dropout, self.training, self.bidirectional)
        return out, (h, c)

    def _pack_state(self, state):
        return state[0], state[1]


class GRU(_RecurrentLayer):
    r"""GRU layer(s), as torch.nn.GRU: for each layer, direction and step

    .. math::
        r_t = σ(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr})    z_t = σ(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz})
        n_t = \tanh(W_{in} x_t + b_{in} + r_t ⊙ (W_{hn} h_{t-1} + b_{hn}))
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, device=None, dtype=None, and keyword-only backend="auto", init="default", and the
    variant options layer_norm=False, recurrent_dropout=0.0, weight_drop=0.0, zoneout=0.0, residual=False
    (docs/variants.md). ``forward(input, hx=None, *, lengths=None)`` returns ``(output, h_n)``.

    Example::

        >>> gru = GRU(10, 20, num_layers=2)
        >>> output, h_n = gru(torch.randn(5, 3, 10))
        >>> output.shape, h_n.shape
        (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]))
    """

    gate_count = 3

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, *, backend: str = "auto", init: str = "default", layer_norm: bool = False,
                 recurrent_dropout: float = 0.0, weight_drop: float = 0.0, zoneout: float = 0.0,
                 residual: bool = False, proj_size: None = None) -> None:
        _refuse_proj_size(proj_size)
        options = check_options("GRU", num_layers, layer_norm=layer_norm, recurrent_dropout=recurrent_dropout,
                                weight_drop=weight_drop, zoneout=zoneout, residual=residual)
        super().__init__("GRU", input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, 0,
                         device, dtype, backend=backend, init=init, options=options)

    def _project(self, w: DirectionWeights, x: Tensor) -> Tensor:
        return gru_input_projection(x, w.weight_ih, w.bias_ih, w.bias_hh)

    def _step(self, w: DirectionWeights):
        def step(projected_x: Tensor, state: tuple[Tensor]) -> tuple[Tensor]:
            return (gru_step(projected_x, state[0], w.weight_hh, w.bias_hh),)

        return step

    def _fused_recurrence(self, projected, state, w, mask):
        out, h = GRURecurrence.apply(projected, state[0], w.weight_hh, w.bias_hh, mask, for_inference(w.weight_hh))
        return out, (h,)

    def _variant_step(self, w: DirectionWeights, extras: VariantWeights, hidden_mask: Tensor | None):
        return gru_variant_step(w.weight_hh, w.bias_hh, extras, self.options, hidden_mask)

    def _native_padded(self, x, state):
        out, h = _VF.gru(x, state[0], self._native_weights(), self.bias, self.num_layers, self.dropout,
                         self.training, self.bidirectional, False)
        return out, (h,)

    def _native_packed(self, data, batch_sizes, state):
        out, h = _VF.gru(data, batch_sizes, state[0], self._native_weights(), self.bias, self.num_layers,
                         self.dropout, self.training, self.bidirectional)
        return out, (h,)
