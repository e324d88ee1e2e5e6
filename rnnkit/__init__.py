"""rnnkit: recurrent networks (Elman RNN, LSTM, GRU) written from their equations, with torch.nn-compatible
layers, variable-length sequences, training, generation and serving."""

from .cells import ElmanCell, GRUCell, LSTMCell
from .layers import GRU, LSTM, RNN

__version__ = "0.1.0"

__all__ = ["RNN", "LSTM", "GRU", "ElmanCell", "LSTMCell", "GRUCell", "__version__"]
