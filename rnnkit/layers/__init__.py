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

Layout: the public classes (rnn.py, lstm.py, gru.py) hand a cell specification (rnnkit.cell_spec) to the base
layer (base.py: parameters, checks.py: torch-style argument checks); the backends are native.py (torch's
kernels) and loop.py (rnnkit's loop, and the one-step inference path of decoding). Variants wrap the cell
specification in rnnkit.variants.cell.

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

from ..cell_spec import DirectionWeights
from .base import BACKENDS, _RecurrentLayer
from .gru import GRU
from .lstm import LSTM
from .rnn import RNN

__all__ = ["RNN", "LSTM", "GRU", "BACKENDS", "DirectionWeights", "_RecurrentLayer"]
