r"""One time step of the Elman RNN, the LSTM and the GRU, written out from their equations.

Each cell comes in two pieces so that the layers can run fast without a second copy of the math:

* ``*_input_projection(x, weight_ih, bias_ih, bias_hh)`` is the part of a step that does not depend on the
  previous state. The layers compute it for every time step at once, as one matrix multiply.
* ``*_step(projected_x, state, ...)`` is the rest: it mixes the projected input with the previous state.

The ``nn.Module`` cells (:class:`ElmanCell`, :class:`LSTMCell`, :class:`GRUCell`) compose the two and mirror
``torch.nn.RNNCell``/``LSTMCell``/``GRUCell``: same parameter names, shapes, gate order and calling convention,
so ``state_dict`` loads both ways.

Symbols follow torch's documentation: x input, h hidden state, c cell state, σ the logistic sigmoid, ⊙ the
elementwise product; the gates are i (input), f (forget), g (cell candidate), o (output) for the LSTM and
r (reset), z (update), n (new) for the GRU.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .errors import InputError, torch_type_name, with_torch_message
from .transposed import linear, transposed

__all__ = [
    "ElmanCell",
    "LSTMCell",
    "GRUCell",
    "elman_input_projection",
    "elman_step",
    "lstm_input_projection",
    "lstm_step",
    "gru_input_projection",
    "gru_step",
    "NONLINEARITIES",
]

NONLINEARITIES = ("tanh", "relu")


# ---------------------------------------------------------------------------------------------------------
# Pure step functions: the only place where the cell equations are written.
# ---------------------------------------------------------------------------------------------------------


def _project(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None) -> Tensor:
    """W_ih x + b_ih + b_hh as one multiply-add; the two biases are summed first (a (G*H,) vector)."""
    if bias_ih is None:
        return linear(x, weight_ih, bias_hh)
    return linear(x, weight_ih, bias_ih if bias_hh is None else bias_ih + bias_hh)


def elman_input_projection(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None) -> Tensor:
    """W_ih x + b_ih + b_hh: (..., F) -> (..., H). Both biases sit outside the nonlinearity, so both fold in."""
    return _project(x, weight_ih, bias_ih, bias_hh)


def elman_step(projected_x: Tensor, h: Tensor, weight_hh: Tensor, nonlinearity: str = "tanh") -> Tensor:
    """h' = act(W_ih x + b_ih + W_hh h + b_hh), with the input part already in ``projected_x`` (B, H)."""
    pre = torch.addmm(projected_x, h, transposed(weight_hh))
    return torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre)


def lstm_input_projection(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None) -> Tensor:
    """W_ih x + b_ih + b_hh: (..., F) -> (..., 4H), gates stacked in torch's order i, f, g, o."""
    return _project(x, weight_ih, bias_ih, bias_hh)


def lstm_step(
    projected_x: Tensor, h: Tensor, c: Tensor, weight_hh: Tensor, weight_hr: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """One LSTM step from the projected input (B, 4H) and the state h (B, P or H), c (B, H) -> (h', c')."""
    gates = torch.addmm(projected_x, h, transposed(weight_hh))  # (B, 4H)
    i, f, g, o = gates.chunk(4, 1)  # 4 x (B, H)
    c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h_next = torch.sigmoid(o) * torch.tanh(c_next)
    if weight_hr is not None:
        h_next = h_next.mm(transposed(weight_hr))  # projection (Sak et al. 2014): (B, H) -> (B, P)
    return h_next, c_next


def gru_input_projection(x: Tensor, weight_ih: Tensor, bias_ih: Tensor | None, bias_hh: Tensor | None) -> Tensor:
    """W_ih x + b_ih: (..., F) -> (..., 3H), gates r, z, n. b_hh is not folded in: b_hn sits inside r ⊙ (...)."""
    return _project(x, weight_ih, bias_ih, None)


def gru_step(projected_x: Tensor, h: Tensor, weight_hh: Tensor, bias_hh: Tensor | None) -> Tensor:
    """One GRU step from the projected input (B, 3H) and h (B, H) -> h' (B, H)."""
    x_r, x_z, x_n = projected_x.chunk(3, 1)  # 3 x (B, H)
    h_r, h_z, h_n = linear(h, weight_hh, bias_hh).chunk(3, 1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)  # b_hn stays inside r ⊙ (...), as torch does
    return n + z * (h - n)  # (1 - z) ⊙ n + z ⊙ h, one multiply fewer


# ---------------------------------------------------------------------------------------------------------
# torch.nn-compatible cell modules
# ---------------------------------------------------------------------------------------------------------


class _CellBase(nn.Module):
    """Parameters and checks shared by the three cells; subclasses write only the equations."""

    gate_count: int = 1

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None, state_size=None
    ) -> None:
        super().__init__()
        _check_positive_int("input_size", input_size)
        _check_positive_int("hidden_size", hidden_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        # torch.nn's cells take any truthy bias (its own tests pass RNNCell(10, 20, "relu"), "relu" landing on
        # bias), unlike its layers, which require a bool: the cells follow torch
        self.bias = bool(bias)
        state_size = hidden_size if state_size is None else state_size
        factory = {"device": device, "dtype": dtype}
        rows = self.gate_count * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(rows, input_size, **factory))
        self.weight_hh = nn.Parameter(torch.empty(rows, state_size, **factory))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(rows, **factory))
            self.bias_hh = nn.Parameter(torch.empty(rows, **factory))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    def reset_parameters(self) -> None:
        """torch's default: every parameter uniform in (-1/sqrt(H), 1/sqrt(H))."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for weight in self.parameters():
                weight.uniform_(-bound, bound)

    @property
    def _torch_name(self) -> str:
        """torch.nn's name for this cell, as its error messages say it."""
        return type(self).__name__.replace("Elman", "RNN")

    def _batched_input(self, input: Tensor) -> tuple[Tensor, bool]:
        if not isinstance(input, Tensor):
            raise TypeError(f"input: expected a Tensor, got {type(input).__name__}")
        if input.dim() not in (1, 2):
            raise ValueError(with_torch_message(
                f"input: expected a 1-D (F) or 2-D (B, F) tensor, got shape {tuple(input.shape)}",
                f"{self._torch_name}: Expected input to be 1D or 2D, got {input.dim()}D instead"))
        if input.size(-1) != self.input_size:
            raise InputError(with_torch_message(
                f"input: expected feature size {self.input_size} (input_size), got {input.size(-1)} "
                f"in shape {tuple(input.shape)}",
                f"input has inconsistent input_size: got {input.size(-1)} expected {self.input_size}"))
        _check_like_weight("input", input, self.weight_ih)
        return (input, False) if input.dim() == 2 else (input.unsqueeze(0), True)

    def _check_state_dims(self, names: tuple[str, ...], values: tuple) -> None:
        """torch checks every state's number of dimensions before anything else (ValueError)."""
        for index, (name, value) in enumerate(zip(names, values, strict=True)):
            if value is None:
                continue
            if not isinstance(value, Tensor):
                raise TypeError(f"{name}: expected a Tensor, got {type(value).__name__}")
            if value.dim() not in (1, 2):
                what = "hidden" if len(names) == 1 else f"hx[{index}]"
                raise ValueError(with_torch_message(
                    f"{name}: expected a 1-D (H) or 2-D (B, H) tensor, got shape {tuple(value.shape)}",
                    f"{self._torch_name}: Expected {what} to be 1D or 2D, got {value.dim()}D instead"))

    def _state(self, name: str, index: int, value: Tensor | None, batch: int, size: int, unbatched: bool,
               like: Tensor) -> Tensor:
        """The state number ``index`` (torch's hidden0, hidden1), checked against the input: (B, size)."""
        if value is None:
            return like.new_zeros(batch, size)
        expected = (size,) if unbatched else (batch, size)
        if tuple(value.shape) != expected:
            seen = value.unsqueeze(0) if unbatched else value  # the state as torch's cell kernel checks it
            if seen.size(0) != batch:
                torch_message = f"Input batch size {batch} doesn't match hidden{index} batch size {seen.size(0)}"
            else:
                torch_message = f"hidden{index} has inconsistent hidden_size: got {seen.size(1)}, expected {size}"
            raise InputError(with_torch_message(f"{name}: expected shape {expected}, got {tuple(value.shape)}",
                                                torch_message))
        _check_like_weight(name, value, self.weight_ih)
        return value.unsqueeze(0) if unbatched else value

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}" + ("" if self.bias else ", bias=False")


class ElmanCell(_CellBase):
    r"""One step of the Elman RNN, as torch.nn.RNNCell.

    .. math:: h' = \tanh(W_{ih} x + b_{ih} + W_{hh} h + b_{hh})   (or ReLU with ``nonlinearity="relu"``)

    Args:
        input_size: features F of x.  hidden_size: features H of h.  bias: use b_ih and b_hh.
        nonlinearity: ``"tanh"`` or ``"relu"``.

    Shape: input (B, F) or (F), hx (B, H) or (H) or None (zeros) -> h' (B, H) or (H).
    Parameters: weight_ih (H, F), weight_hh (H, H), bias_ih (H), bias_hh (H).

    Example::

        >>> cell = ElmanCell(3, 5)
        >>> cell(torch.randn(2, 3)).shape
        torch.Size([2, 5])
    """

    gate_count = 1

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, nonlinearity: str = "tanh", device=None, dtype=None
    ) -> None:
        _check_nonlinearity(nonlinearity)
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.nonlinearity = nonlinearity
        self.reset_parameters()

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, unbatched = self._batched_input(input)
        self._check_state_dims(("hx",), (hx,))
        h = self._state("hx", 0, hx, x.size(0), self.hidden_size, unbatched, x)
        projected = elman_input_projection(x, self.weight_ih, self.bias_ih, self.bias_hh)
        h_next = elman_step(projected, h, self.weight_hh, self.nonlinearity)
        return h_next.squeeze(0) if unbatched else h_next

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.nonlinearity == "tanh" else ", nonlinearity='relu'")


class LSTMCell(_CellBase):
    r"""One step of the LSTM (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000),
    as torch.nn.LSTMCell, plus the optional output projection of torch.nn.LSTM(proj_size=P) (Sak et al. 2014).

    .. math::
        i = σ(W_{ii} x + b_{ii} + W_{hi} h + b_{hi})        f = σ(W_{if} x + b_{if} + W_{hf} h + b_{hf})
        g = \tanh(W_{ig} x + b_{ig} + W_{hg} h + b_{hg})    o = σ(W_{io} x + b_{io} + W_{ho} h + b_{ho})
        c' = f ⊙ c + i ⊙ g                                   h' = o ⊙ \tanh(c')
        with proj_size P > 0:  h' = W_{hr} (o ⊙ \tanh(c'))

    Args:
        input_size: features F of x.  hidden_size: features H of c.  bias: use b_ih and b_hh.
        proj_size: if > 0, h has P features instead of H (P < H).

    Shape: input (B, F) or (F); hx a tuple (h (B, P or H), c (B, H)) or None (zeros) -> (h', c').
    Parameters: weight_ih (4H, F), weight_hh (4H, P or H), bias_ih (4H), bias_hh (4H), weight_hr (P, H);
    the four row blocks of the gate weights are i, f, g, o in that order.

    Example::

        >>> cell = LSTMCell(3, 5)
        >>> h, c = cell(torch.randn(2, 3))
        >>> h.shape, c.shape
        (torch.Size([2, 5]), torch.Size([2, 5]))
    """

    gate_count = 4

    def __init__(
        self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None, *, proj_size: int = 0
    ) -> None:
        _check_proj_size(proj_size, hidden_size)
        super().__init__(input_size, hidden_size, bias, device, dtype, state_size=proj_size or hidden_size)
        self.proj_size = proj_size
        if proj_size:
            self.weight_hr = nn.Parameter(torch.empty(proj_size, hidden_size, device=device, dtype=dtype))
        else:
            self.register_parameter("weight_hr", None)
        self.reset_parameters()

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor]:
        x, unbatched = self._batched_input(input)
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise ValueError(f"hx: expected a tuple (h, c) of two tensors or None, got {type(hx).__name__}")
        h0, c0 = (None, None) if hx is None else hx
        self._check_state_dims(("hx[0] (h)", "hx[1] (c)"), (h0, c0))
        h = self._state("hx[0] (h)", 0, h0, x.size(0), self.proj_size or self.hidden_size, unbatched, x)
        c = self._state("hx[1] (c)", 1, c0, x.size(0), self.hidden_size, unbatched, x)
        projected = lstm_input_projection(x, self.weight_ih, self.bias_ih, self.bias_hh)
        h_next, c_next = lstm_step(projected, h, c, self.weight_hh, self.weight_hr)
        return (h_next.squeeze(0), c_next.squeeze(0)) if unbatched else (h_next, c_next)

    def extra_repr(self) -> str:
        return super().extra_repr() + (f", proj_size={self.proj_size}" if self.proj_size else "")


class GRUCell(_CellBase):
    r"""One step of the GRU (Cho et al. 2014), as torch.nn.GRUCell.

    .. math::
        r = σ(W_{ir} x + b_{ir} + W_{hr} h + b_{hr})        z = σ(W_{iz} x + b_{iz} + W_{hz} h + b_{hz})
        n = \tanh(W_{in} x + b_{in} + r ⊙ (W_{hn} h + b_{hn}))
        h' = (1 - z) ⊙ n + z ⊙ h

    Note that b_hn sits inside the reset gate's product, as in torch (and cuDNN), not outside as in the paper.

    Shape: input (B, F) or (F), hx (B, H) or (H) or None (zeros) -> h' (B, H) or (H).
    Parameters: weight_ih (3H, F), weight_hh (3H, H), bias_ih (3H), bias_hh (3H); row blocks r, z, n.

    Example::

        >>> cell = GRUCell(3, 5)
        >>> cell(torch.randn(2, 3)).shape
        torch.Size([2, 5])
    """

    gate_count = 3

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True, device=None, dtype=None) -> None:
        super().__init__(input_size, hidden_size, bias, device, dtype)
        self.reset_parameters()

    def forward(self, input: Tensor, hx: Tensor | None = None) -> Tensor:
        x, unbatched = self._batched_input(input)
        self._check_state_dims(("hx",), (hx,))
        h = self._state("hx", 0, hx, x.size(0), self.hidden_size, unbatched, x)
        projected = gru_input_projection(x, self.weight_ih, self.bias_ih, self.bias_hh)
        h_next = gru_step(projected, h, self.weight_hh, self.bias_hh)
        return h_next.squeeze(0) if unbatched else h_next


# ---------------------------------------------------------------------------------------------------------
# Argument checks shared with the layers
# ---------------------------------------------------------------------------------------------------------


def _check_positive_int(name: str, value) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(with_torch_message(f"{name}: expected a positive int, got {type(value).__name__} {value!r}",
                                           f"{name} should be of type int, got: {type(value).__name__}"))
    if value <= 0:
        raise ValueError(with_torch_message(f"{name}: expected a positive int, got {value}",
                                            f"{name} must be greater than zero"))


def _check_proj_size(proj_size, hidden_size) -> None:
    if isinstance(proj_size, bool) or not isinstance(proj_size, int):
        raise TypeError(f"proj_size: expected an int >= 0, got {type(proj_size).__name__} {proj_size!r}")
    if proj_size < 0:
        raise ValueError(with_torch_message(f"proj_size: expected an int >= 0, got {proj_size}",
                                            "proj_size should be a positive integer or zero to disable projections"))
    if proj_size and isinstance(hidden_size, int) and proj_size >= hidden_size:
        raise ValueError(with_torch_message(f"proj_size: expected less than hidden_size={hidden_size}, got {proj_size}",
                                            "proj_size has to be smaller than hidden_size"))


def _check_bool(name: str, value) -> None:
    if not isinstance(value, bool):
        raise TypeError(with_torch_message(f"{name}: expected a bool, got {type(value).__name__} {value!r}",
                                           f"{name} should be of type bool, got: {type(value).__name__}"))


def _check_nonlinearity(nonlinearity) -> None:
    if nonlinearity not in NONLINEARITIES:
        raise ValueError(with_torch_message(
            f"nonlinearity: expected one of {NONLINEARITIES}, got {nonlinearity!r}",
            f"Unknown nonlinearity '{nonlinearity}'. Select from 'tanh' or 'relu'."))


def _check_like_weight(name: str, tensor: Tensor, weight: Tensor, *, layer_input: bool = False) -> None:
    """Input and state must share the parameters' dtype and device: no silent casts or copies.

    torch.nn's layers check the input's dtype themselves (ValueError); a state's dtype, and a cell's input, are
    refused by the matrix multiply (RuntimeError), and so is a device mismatch: :class:`InputError` is both."""
    if tensor.dtype != weight.dtype:
        explanation = (f"{name}: expected dtype {weight.dtype} (the parameters' dtype), got {tensor.dtype}; "
                       f"convert the input with .to({weight.dtype}) or the module with .to(dtype)")
        if layer_input:
            raise ValueError(with_torch_message(
                explanation, f"RNN input dtype ({tensor.dtype}) does not match weight dtype ({weight.dtype}). "
                             f"Convert input: input.to({weight.dtype}), or convert model: model.to({tensor.dtype})"))
        raise InputError(with_torch_message(
            explanation, f"mat1 and mat2 must have the same dtype, but got {torch_type_name(tensor.dtype)} and "
                         f"{torch_type_name(weight.dtype)}"))
    if tensor.device != weight.device:
        raise InputError(with_torch_message(
            f"{name}: expected device {weight.device} (the parameters' device), got {tensor.device}; "
            f"move the input with .to({str(weight.device)!r}) or the module with .to(device)",
            f"Input and parameter tensors are not at the same device, found input tensor at {tensor.device} "
            f"and parameter tensor at {weight.device}"))
