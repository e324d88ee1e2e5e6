"""rnnkit: recurrent networks (Elman RNN, LSTM, GRU) written from their equations, with torch.nn-compatible
layers, variable-length sequences, training, generation and serving."""

from .cells import ElmanCell, GRUCell, LSTMCell
from .layers import GRU, LSTM, RNN

RNNCell = ElmanCell  # torch.nn's name for the Elman cell, for drop-in use

__version__ = "0.1.0"

__all__ = ["RNN", "LSTM", "GRU", "ElmanCell", "RNNCell", "LSTMCell", "GRUCell", "__version__", "load"]


def load(path, *, device="cpu"):
    """Load a model bundle folder: ``bundle = rnnkit.load("my-model")`` -> (model, tokenizer, info, path).

    See rnnkit.bundle (imported here on first use, so ``import rnnkit`` stays light)."""
    from rnnkit.bundle import load as load_bundle

    return load_bundle(path, device=device)
