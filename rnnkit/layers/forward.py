"""The forward pass of a layer, from the caller's input to a backend and back: a PackedSequence, or a padded
tensor (batch first or not, batched or unbatched, with or without lengths), checked, then run on the backend
that fits (rnnkit.layers.native, rnnkit.layers.loop)."""

from __future__ import annotations

from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from ..cell_spec import State
from ..errors import InputError, with_torch_message
from ..sequences import check_lengths
from . import checks
from .loop import loop_forward, one_step_forward
from .native import native_packed, native_padded


def forward_packed(layer, packed: PackedSequence, hx) -> tuple[PackedSequence, State]:
    data, batch_sizes = packed.data, packed.batch_sizes
    if data.dim() != 2:
        raise InputError(with_torch_message(
            f"input (PackedSequence.data): expected a 2-D (sum of lengths, input_size) tensor, got shape "
            f"{tuple(data.shape)}", f"input must have 2 dimensions, got {data.dim()}"))
    checks.check_input(layer, data, "input (PackedSequence.data)")
    state = layer._initial_state(hx, int(batch_sizes[0]), unbatched=False, like=data, packed=True)
    if packed.sorted_indices is not None:  # hx comes in the caller's order; the packed data is sorted
        state = tuple(s.index_select(1, packed.sorted_indices) for s in state)
    if layer._runs_native(len(batch_sizes), data.device):
        out_data, state = native_packed(layer, data, batch_sizes, state)
    else:
        padded, lengths = pad_packed_sequence(PackedSequence(data, batch_sizes))
        out, state = loop_forward(layer, padded, state, lengths)
        out_data = pack_padded_sequence(out, lengths).data
    if packed.unsorted_indices is not None:
        state = tuple(s.index_select(1, packed.unsorted_indices) for s in state)
    return PackedSequence(out_data, batch_sizes, packed.sorted_indices, packed.unsorted_indices), state


def forward_padded(layer, input, hx, lengths) -> tuple[Tensor, State]:
    if not isinstance(input, Tensor):
        raise TypeError(f"input: expected a Tensor or a PackedSequence, got {type(input).__name__}")
    if input.dim() not in (2, 3):
        torch_name = "RNN" if layer.mode.startswith("RNN") else layer.mode
        raise ValueError(with_torch_message(
            f"input: expected a 3-D (batched) or 2-D (unbatched) tensor, got shape {tuple(input.shape)}",
            f"{torch_name}: Expected input to be 2D or 3D, got {input.dim()}D"
            f"{' tensor' if torch_name == 'RNN' else ''} instead"))
    checks.check_input(layer, input, "input")
    unbatched = input.dim() == 2
    x = input.unsqueeze(1) if unbatched else (input.transpose(0, 1) if layer.batch_first else input)  # (T, B, F)
    steps, batch = x.size(0), x.size(1)
    if steps == 0:
        raise ValueError(f"input: expected at least one time step, got shape {tuple(input.shape)}")
    if lengths is not None:
        if unbatched:
            raise ValueError("lengths: expected None for an unbatched (2-D) input; add a batch dimension")
        lengths = check_lengths(lengths, batch, steps)
        if bool((lengths == steps).all()):
            lengths = None  # every sequence is full: nothing to mask
    state = layer._initial_state(hx, batch, unbatched, like=x)
    out, state = _run_padded(layer, x, state, lengths)
    if unbatched:
        return out.squeeze(1), tuple(s.squeeze(1) for s in state)
    return (out.transpose(0, 1) if layer.batch_first else out), state


def _run_padded(layer, x: Tensor, state: State, lengths: Tensor | None) -> tuple[Tensor, State]:
    """x (T, B, F) on the backend that fits: one inference step, the loop, or torch's kernel."""
    if layer._steps_once_in_inference(x, state, lengths):
        return one_step_forward(layer, x[0], state)
    if not layer._runs_native(x.size(0), x.device):
        return loop_forward(layer, x, state, lengths)
    if lengths is None:
        return native_padded(layer, x, state)
    packed = pack_padded_sequence(x, lengths, enforce_sorted=False)
    sorted_state = tuple(s.index_select(1, packed.sorted_indices) for s in state)
    out_data, sorted_state = native_packed(layer, packed.data, packed.batch_sizes, sorted_state)
    out, _ = pad_packed_sequence(
        PackedSequence(out_data, packed.batch_sizes, packed.sorted_indices, packed.unsorted_indices),
        total_length=x.size(0))
    return out, tuple(s.index_select(1, packed.unsorted_indices) for s in sorted_state)
