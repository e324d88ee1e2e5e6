"""rnnkit.LSTM: the LSTM layer, as torch.nn.LSTM."""

from __future__ import annotations

from torch import Tensor

from ..cell_spec import CellSpec, DirectionWeights, NativeKernel, State
from ..cells import lstm_input_projection, lstm_step
from ..fused import LSTMRecurrence
from ..transposed import for_inference
from ..variants.cell import with_options
from ..variants.options import check_options
from .base import _RecurrentLayer


def _step(weights: DirectionWeights):
    return lambda x, state: lstm_step(x, state[0], state[1], weights.weight_hh, weights.weight_hr)


def _fused(projected: Tensor, state: State, weights: DirectionWeights, mask: Tensor | None):
    out, h, c = LSTMRecurrence.apply(projected, state[0], state[1], weights.weight_hh, weights.weight_hr, mask,
                                     for_inference(weights.weight_hh))
    return out, (h, c)



LSTM_CELL = CellSpec("LSTM", 4, True, lstm_input_projection, _step, _fused, NativeKernel("lstm"))


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

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device=None, dtype=None, *, backend: str = "auto", init: str = "default", layer_norm: bool = False,
                 recurrent_dropout: float = 0.0, weight_drop: float = 0.0, zoneout: float = 0.0,
                 residual: bool = False, peephole: bool = False, coupled_gates: bool = False) -> None:
        options = check_options("LSTM", num_layers, layer_norm=layer_norm, recurrent_dropout=recurrent_dropout,
                                weight_drop=weight_drop, zoneout=zoneout, residual=residual, peephole=peephole,
                                coupled_gates=coupled_gates)
        if options.coupled_gates and "forget_bias" in str(init).split("+"):
            raise ValueError(f"init: 'forget_bias' sets the forget gate's bias, but coupled_gates=True has no "
                             f"forget gate (f = 1 - i); got {init!r}, drop '+forget_bias'")
        super().__init__(with_options(LSTM_CELL, options), input_size, hidden_size, num_layers, bias, batch_first,
                         dropout, bidirectional, proj_size, device, dtype, backend=backend, init=init)
