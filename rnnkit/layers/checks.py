"""The checks of a layer's forward arguments, in the pieces torch.nn names them (``check_input``,
``get_expected_hidden_size``, ``check_hidden_size``, ``check_forward_args``), with rnnkit's messages and
torch's inside them (rnnkit.errors)."""

from __future__ import annotations

from torch import Tensor

from ..cell_spec import State
from ..cells import _check_like_weight
from ..errors import InputError, with_torch_message


def check_input(layer, x: Tensor, name: str) -> None:
    """The input's dtype and feature size (after its number of dimensions)."""
    _check_like_weight(name, x, layer.weight_ih_l0, layer_input=True)
    if x.size(-1) != layer.input_size:
        raise InputError(with_torch_message(
            f"{name}: expected feature size {layer.input_size} (input_size) in the last dimension, got "
            f"{x.size(-1)} in shape {tuple(x.shape)}",
            f"input.size(-1) must be equal to input_size. Expected {layer.input_size}, got {x.size(-1)}"))


def state_sizes(layer) -> tuple[int, ...]:
    """Features of each state tensor: (H_out,), or (H_out, H) for the LSTM's (h, c)."""
    out_size = layer.proj_size or layer.hidden_size
    return (out_size, layer.hidden_size) if layer.cell.has_cell_state else (out_size,)


def expected_hidden_size(layer, size: int, batch: int, unbatched: bool) -> tuple[int, ...]:
    layers = layer.num_layers * layer.num_directions
    return (layers, size) if unbatched else (layers, batch, size)


def _state_parts(layer, hx) -> tuple[tuple[str, ...], tuple]:
    """hx as a tuple of parts with their names, after checking the count and the types."""
    if not layer.cell.has_cell_state:
        if not isinstance(hx, Tensor):
            raise TypeError(f"hx: expected a Tensor, got {type(hx).__name__}")
        return ("hx",), (hx,)
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        count = len(hx) if isinstance(hx, (tuple, list)) else type(hx).__name__
        raise ValueError(f"hx: expected a tuple (h_0, c_0) of two tensors, got {count}")
    names = ("hx[0] (h_0)", "hx[1] (c_0)")
    for name, part in zip(names, hx, strict=True):
        if not isinstance(part, Tensor):
            raise TypeError(f"{name}: expected a Tensor, got {type(part).__name__}")
    return names, tuple(hx)


def _check_dims(parts: tuple[Tensor, ...], unbatched: bool) -> None:
    dims = 2 if unbatched else 3
    if any(part.dim() != dims for part in parts):
        kind = "unbatched 2-D" if unbatched else "batched 3-D"
        got = ", ".join(f"{part.dim()}-D" for part in parts)
        torch_message = (f"For {kind} input, hx should also be {dims}-D but got {got} tensor" if len(parts) == 1
                         else f"For {kind} input, hx and cx should also be {dims}-D but got ({got}) tensors")
        raise InputError(with_torch_message(
            f"hx: expected {dims}-D state tensors for a {dims}-D input, got "
            f"{', '.join(str(tuple(part.shape)) for part in parts)}", torch_message))


def check_hidden_size(layer, name: str, index: int, part: Tensor, expected: tuple[int, ...], count: int,
                      unbatched: bool) -> None:
    if tuple(part.shape) == expected:
        return
    size = expected[-1]
    what = "hidden" if count == 1 else f"hidden[{index}]"
    seen = part.unsqueeze(1) if unbatched else part  # torch compares the state with a batch of 1
    torch_expected = expected[:1] + (1,) + expected[1:] if unbatched else expected
    raise InputError(with_torch_message(
        f"{name}: expected shape {expected} (num_layers * num_directions, {'' if unbatched else 'batch, '}"
        f"{'hidden_size' if size == layer.hidden_size else 'proj_size'}), got {tuple(part.shape)}",
        f"Expected {what} size {torch_expected}, got {list(seen.shape)}"))


def initial_state(layer, hx, batch: int, unbatched: bool, like: Tensor, packed: bool = False) -> State:
    """hx as a tuple of (D*L, B, ·) tensors (zeros when None), after checking count, shape, dtype, device."""
    sizes = state_sizes(layer)
    if hx is None:
        layers = layer.num_layers * layer.num_directions
        return tuple(like.new_zeros(layers, batch, size) for size in sizes)
    names, parts = _state_parts(layer, hx)
    if not packed:  # torch checks a packed input's state only against the expected size
        _check_dims(parts, unbatched)
    checked = []
    for index, (name, part, size) in enumerate(zip(names, parts, sizes, strict=True)):
        check_hidden_size(layer, name, index, part, expected_hidden_size(layer, size, batch, unbatched),
                          len(parts), unbatched)
        _check_like_weight(name, part, layer.weight_ih_l0)
        checked.append(part.unsqueeze(1) if unbatched else part)
    return tuple(checked)
