"""Recurrent variants and regularizers: options of rnnkit.RNN/LSTM/GRU (layer norm, recurrent dropout, weight
drop, zoneout, residual, peepholes, coupled gates), embedding dropout, and minGRU/minLSTM. See docs/variants.md."""

from .dropout import EmbeddingDropout, dropout_mask, zoneout_masks
from .min_rnn import MinGRU, MinLSTM
from .options import VariantOptions

__all__ = ["EmbeddingDropout", "MinGRU", "MinLSTM", "VariantOptions", "dropout_mask", "zoneout_masks"]
