r"""Dropout that respects the structure of sequences: masks shared across time, and whole-word dropout.

* :func:`dropout_mask`: one inverted-dropout mask, Bernoulli(1 − p) / (1 − p), for a (B, F) slice; the layers
  multiply every time step by the same mask (variational / recurrent dropout, Gal & Ghahramani 2016,
  arXiv:1512.05287, section 3 and figure 1).
* :func:`zoneout_masks`: the per-step zoneout masks d ~ Bernoulli(p) (Krueger et al. 2017, arXiv:1606.01305,
  section 2), or their expectation p in evaluation.
* :class:`EmbeddingDropout`: drops whole rows of an embedding matrix, i.e. every occurrence of a word in the
  batch (Gal & Ghahramani 2016, section 4.2; Merity, Keskar & Socher 2017, arXiv:1708.02182, section 4.3).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["dropout_mask", "zoneout_masks", "EmbeddingDropout"]


def dropout_mask(like: Tensor, p: float) -> Tensor:
    """An inverted-dropout mask of ``like``'s shape, dtype and device: 0 with probability p, else 1 / (1 − p)."""
    return torch.empty_like(like).bernoulli_(1 - p).div_(1 - p)


def zoneout_masks(p: float, steps: int, states: tuple[Tensor, ...], training: bool) -> tuple[Tensor, ...]:
    """One (T, B, ·) keep mask per state tensor (h, or h and c): 1 where a unit keeps its previous value.

    Training: independent Bernoulli(p) draws per step, row and unit. Evaluation: the expectation p everywhere
    (an expanded view, no memory), which makes the layer deterministic.
    """
    if training:
        return tuple(s.new_empty((steps,) + tuple(s.shape)).bernoulli_(p) for s in states)
    return tuple(s.new_full((1,) * (s.dim() + 1), p).expand((steps,) + tuple(s.shape)) for s in states)


class EmbeddingDropout(nn.Module):
    r"""Embedding lookup that, in training, drops whole words: each row of the embedding matrix (a word of the
    vocabulary) is zeroed with probability p for the whole batch, and kept rows are scaled by 1 / (1 − p).

    .. math:: e_t = (m ⊙ E)[w_t],\quad m_v \sim \text{Bernoulli}(1 - p) / (1 - p) \text{ per word } v

    So a dropped word disappears from every position of every sequence in the batch, unlike dropout on the
    looked-up vectors, which drops units at random positions (Gal & Ghahramani 2016, arXiv:1512.05287,
    section 4.2; used in AWD-LSTM, Merity et al. 2017, arXiv:1708.02182, section 4.3). In evaluation it is
    the plain lookup.

    Args:
        embedding: the ``nn.Embedding`` to wrap (its weight stays the parameter, e.g. for weight tying).
        p: the probability of dropping a word, in [0, 1).

    Shape: tokens (...) integer -> (..., embedding_dim).

    Example::

        >>> embed = EmbeddingDropout(nn.Embedding(100, 8), p=0.1)
        >>> embed(torch.randint(100, (4, 12))).shape
        torch.Size([4, 12, 8])
    """

    def __init__(self, embedding: nn.Embedding, p: float = 0.1) -> None:
        super().__init__()
        if not isinstance(embedding, nn.Embedding):
            raise TypeError(f"embedding: expected an nn.Embedding, got {type(embedding).__name__}")
        if isinstance(p, bool) or not isinstance(p, (int, float)):
            raise TypeError(f"p: expected a float in [0, 1), got {type(p).__name__} {p!r}")
        if not 0 <= p < 1:
            raise ValueError(f"p: expected a probability in [0, 1), got {p!r}")
        self.embedding = embedding
        self.p = float(p)

    def forward(self, tokens: Tensor) -> Tensor:
        weight = self.embedding.weight
        if self.training and self.p:
            weight = weight * dropout_mask(weight[:, :1], self.p)  # (V, 1): one draw per word
        e = self.embedding
        return F.embedding(tokens, weight, e.padding_idx, e.max_norm, e.norm_type, e.scale_grad_by_freq, e.sparse)

    def extra_repr(self) -> str:
        return f"p={self.p}"
