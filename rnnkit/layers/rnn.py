"""rnnkit.RNN: the Elman RNN layer, as torch.nn.RNN."""

from __future__ import annotations

from torch import Tensor

from ..cell_spec import CellSpec, DirectionWeights, NativeKernel, State
from ..cells import _check_nonlinearity, elman_input_projection, elman_step
from ..errors import with_torch_message
from ..fused import ElmanRecurrence
from ..transposed import for_inference
from ..variants.cell import with_options
from ..variants.options import check_options
from .base import _RecurrentLayer


def _tanh_step(weights: DirectionWeights):
    return lambda x, state: (elman_step(x, state[0], weights.weight_hh, "tanh"),)


def _relu_step(weights: DirectionWeights):
    return lambda x, state: (elman_step(x, state[0], weights.weight_hh, "relu"),)


def _fused(projected: Tensor, state: State, weights: DirectionWeights, mask: Tensor | None, relu: bool):
    out, h = ElmanRecurrence.apply(projected, state[0], weights.weight_hh, relu, mask,
                                   for_inference(weights.weight_hh))
    return out, (h,)


def _fused_tanh(projected, state, weights, mask):
    return _fused(projected, state, weights, mask, relu=False)


def _fused_relu(projected, state, weights, mask):
    return _fused(projected, state, weights, mask, relu=True)



ELMAN_CELLS = {
    "tanh": CellSpec("RNN_TANH", 1, False, elman_input_projection, _tanh_step, _fused_tanh, NativeKernel("rnn_tanh")),
    "relu": CellSpec("RNN_RELU", 1, False, elman_input_projection, _relu_step, _fused_relu, NativeKernel("rnn_relu")),
}


def _refuse_proj_size(proj_size) -> None:
    """torch.nn.RNN and GRU refuse the proj_size keyword whatever its value: only the LSTM projects."""
    if proj_size is not None:
        raise ValueError(with_torch_message(
            f"proj_size: only LSTM has an output projection (h = W_hr (o ⊙ tanh(c))); leave proj_size out for "
            f"RNN and GRU, got proj_size={proj_size!r}",
            "proj_size argument is only supported for LSTM, not RNN or GRU"))


class RNN(_RecurrentLayer):
    r"""Elman RNN layer(s), as torch.nn.RNN: for each layer, direction and step

    .. math:: h_t = \tanh(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})   (ReLU with ``nonlinearity="relu"``)

    where x_t is the input for layer 0 and the (dropped-out) output of the layer below otherwise.

    Args: input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
    dropout=0.0, bidirectional=False, device=None, dtype=None, and keyword-only backend="auto", init="default",
    and the variant options recurrent_dropout=0.0, weight_drop=0.0, zoneout=0.0, residual=False (see
    docs/variants.md). As torch.nn.RNN, it refuses ``proj_size``. See rnnkit.layers for shapes and for
    ``forward(input, hx=None, *, lengths=None)``, which returns ``(output, h_n)``.

    Example::

        >>> rnn = RNN(10, 20, num_layers=2, batch_first=True)
        >>> output, h_n = rnn(torch.randn(3, 5, 10), lengths=[5, 2, 4])
        >>> output.shape, h_n.shape
        (torch.Size([3, 5, 20]), torch.Size([2, 3, 20]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, *, backend: str = "auto", init: str = "default",
                 recurrent_dropout: float = 0.0, weight_drop: float = 0.0, zoneout: float = 0.0,
                 residual: bool = False, proj_size: None = None) -> None:
        _refuse_proj_size(proj_size)
        _check_nonlinearity(nonlinearity)
        self.nonlinearity = nonlinearity
        options = check_options("RNN", num_layers, recurrent_dropout=recurrent_dropout, weight_drop=weight_drop,
                                zoneout=zoneout, residual=residual)
        super().__init__(with_options(ELMAN_CELLS[nonlinearity], options), input_size, hidden_size, num_layers,
                         bias, batch_first, dropout, bidirectional, 0, device, dtype, backend=backend, init=init)

    def extra_repr(self) -> str:
        return super().extra_repr() + ("" if self.nonlinearity == "tanh" else ", nonlinearity='relu'")
