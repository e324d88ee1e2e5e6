"""rnnkit.GRU: the GRU layer, as torch.nn.GRU."""

from __future__ import annotations

from torch import Tensor

from ..cell_spec import CellSpec, DirectionWeights, NativeKernel, State
from ..cells import gru_input_projection, gru_step
from ..fused import GRURecurrence
from ..transposed import for_inference
from ..variants.cell import with_options
from ..variants.options import check_options
from .base import _RecurrentLayer
from .rnn import _refuse_proj_size


def _step(weights: DirectionWeights):
    return lambda x, state: (gru_step(x, state[0], weights.weight_hh, weights.bias_hh),)


def _fused(projected: Tensor, state: State, weights: DirectionWeights, mask: Tensor | None):
    out, h = GRURecurrence.apply(projected, state[0], weights.weight_hh, weights.bias_hh, mask,
                                 for_inference(weights.weight_hh))
    return out, (h,)



GRU_CELL = CellSpec("GRU", 3, False, gru_input_projection, _step, _fused, NativeKernel("gru"))


class GRU(_RecurrentLayer):
    r"""GRU layer(s), as torch.nn.GRU: for each layer, direction and step

    .. math::
        r_t = σ(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr})    z_t = σ(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz})
        n_t = \tanh(W_{in} x_t + b_{in} + r_t ⊙ (W_{hn} h_{t-1} + b_{hn}))
        h_t = (1 - z_t) ⊙ n_t + z_t ⊙ h_{t-1}

    Args: input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, device=None, dtype=None, and keyword-only backend="auto", init="default", and the
    variant options layer_norm=False, recurrent_dropout=0.0, weight_drop=0.0, zoneout=0.0, residual=False
    (docs/variants.md). As torch.nn.GRU, it refuses ``proj_size``. ``forward(input, hx=None, *, lengths=None)``
    returns ``(output, h_n)``.

    Example::

        >>> gru = GRU(10, 20, num_layers=2)
        >>> output, h_n = gru(torch.randn(5, 3, 10))
        >>> output.shape, h_n.shape
        (torch.Size([5, 3, 20]), torch.Size([2, 3, 20]))
    """

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device=None, dtype=None, *, backend: str = "auto", init: str = "default", layer_norm: bool = False,
                 recurrent_dropout: float = 0.0, weight_drop: float = 0.0, zoneout: float = 0.0,
                 residual: bool = False, proj_size: None = None) -> None:
        _refuse_proj_size(proj_size)
        options = check_options("GRU", num_layers, layer_norm=layer_norm, recurrent_dropout=recurrent_dropout,
                                weight_drop=weight_drop, zoneout=zoneout, residual=residual)
        super().__init__(with_options(GRU_CELL, options), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, 0, device, dtype, backend=backend, init=init)
