r"""A sequence classifier (one label per sequence): embedding or numeric features -> recurrent encoder with
lengths -> pooling over time -> linear head.

    tokens (B, T) ──embedding──▶ (B, T, E) ─┐
    features (B, T, F) ─────────────────────┴─dropout──▶ (Bi)LSTM/GRU with lengths ──▶ y (B, T, D·H), h_n
        ──pooling──▶ (B, P) ──dropout──▶ Linear ──▶ logits (B, C)

Pooling over the valid steps t < length of each row (padding never counts):

    last       [h_fwd at the last valid step ; h_bwd at step 0]   (h_n of the top layer)        P = D·H
    mean       Σ_t y_t / length                                                                  P = D·H
    max        max_t y_t (elementwise)                                                           P = D·H
    attention  a = softmax_t(vᵀ tanh(W y_t)), Σ_t a_t y_t (Yang et al. 2016, HAN, §2.2)          P = D·H
    concat     [last ; max ; mean] (ULMFiT's concat pooling, Howard & Ruder 2018, arXiv:1801.06146 §3.3)

The embedding is ``embedding`` and the recurrent stack ``rnn`` as in rnnkit.models.lm.LanguageModel, so a
unidirectional classifier can start from a pretrained language model's weights (:meth:`load_encoder`).

Example:
    >>> model = SequenceClassifier(ClassifierConfig(vocab_size=50, num_classes=2, embedding_size=8, hidden_size=8))
    >>> model(torch.randint(4, 50, (3, 6)), torch.tensor([6, 2, 4])).shape
    torch.Size([3, 2])
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

import rnnkit
from rnnkit.bundle import register_kind
from rnnkit.config import check
from rnnkit.sequences import check_lengths, lengths_to_mask

__all__ = ["ClassifierConfig", "SequenceClassifier", "POOLINGS", "recurrent_encoder"]

POOLINGS = ("last", "mean", "max", "attention", "concat")


@dataclass(frozen=True)
class ClassifierConfig:
    num_classes: int = 2  # C
    vocab_size: int | None = None  # token input: the tokenizer's size (set by the task); None: numeric input
    input_size: int | None = None  # numeric input: features per step F (set by the task); None: token input
    embedding_size: int = 128  # E (token input only)
    hidden_size: int = 128  # H per direction
    num_layers: int = 1
    cell: str = "lstm"  # "lstm" | "gru"
    bidirectional: bool = True
    pooling: str = "max"  # "last" | "mean" | "max" | "attention" | "concat"
    dropout: float = 0.3  # on the encoder input, between layers and on the pooled vector
    backend: str = "auto"  # rnnkit layer backend

    def __post_init__(self) -> None:
        check(self.num_classes >= 2, "num_classes", "an int >= 2", self.num_classes)
        check(self.vocab_size is None or self.vocab_size >= 1, "vocab_size", "None or an int >= 1", self.vocab_size)
        check(self.input_size is None or self.input_size >= 1, "input_size", "None or an int >= 1", self.input_size)
        check(self.vocab_size is None or self.input_size is None, "input_size",
              "None when vocab_size is set (token input and numeric input exclude each other)", self.input_size)
        for name in ("embedding_size", "hidden_size", "num_layers"):
            check(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))
        check(self.cell in ("lstm", "gru"), "cell", "'lstm' or 'gru'", self.cell)
        check(self.pooling in POOLINGS, "pooling", f"one of {POOLINGS}", self.pooling)
        check(0.0 <= self.dropout < 1.0, "dropout", "a value in [0, 1)", self.dropout)


def recurrent_encoder(cell: str, input_size: int, hidden_size: int, num_layers: int, *, bidirectional: bool,
                      dropout: float, backend: str) -> nn.Module:
    """A batch-first rnnkit LSTM or GRU chosen by name."""
    layer = {"lstm": rnnkit.LSTM, "gru": rnnkit.GRU}.get(cell)
    if layer is None:
        raise ValueError(f"cell: expected 'lstm' or 'gru', got {cell!r}")
    return layer(input_size, hidden_size, num_layers=num_layers, batch_first=True, bidirectional=bidirectional,
                 dropout=dropout if num_layers > 1 else 0.0, backend=backend)


class SequenceClassifier(nn.Module):
    """Recurrent encoder + pooling + linear head (see the module docstring).

    Shape:
        inputs (B, T) long token ids, or (B, T, F) float features; lengths (B,) list or integer tensor.
        Returns logits (B, C).
    """

    def __init__(self, config: ClassifierConfig):
        super().__init__()
        if not isinstance(config, ClassifierConfig):
            raise TypeError(f"SequenceClassifier: expected config to be a ClassifierConfig, got "
                            f"{type(config).__name__}")
        if config.vocab_size is None and config.input_size is None:
            raise ValueError("SequenceClassifier: expected config.vocab_size (token input) or config.input_size "
                             "(numeric input) to be set, got both None")
        self.config = config
        width = config.hidden_size * (2 if config.bidirectional else 1)
        if config.vocab_size is not None:
            self.embedding = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=0)
            features = config.embedding_size
        else:
            self.embedding = None
            features = config.input_size
        self.dropout = nn.Dropout(config.dropout)
        self.rnn = recurrent_encoder(config.cell, features, config.hidden_size, config.num_layers,
                                     bidirectional=config.bidirectional, dropout=config.dropout,
                                     backend=config.backend)
        if config.pooling == "attention":
            self.attention = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1, bias=False))
        self.head = nn.Linear(width * (3 if config.pooling == "concat" else 1), config.num_classes)

    def forward(self, inputs: Tensor, lengths: Any) -> Tensor:
        pooled, _ = self.encode(inputs, lengths)
        return self.head(self.dropout(pooled))

    def encode(self, inputs: Tensor, lengths: Any) -> tuple[Tensor, Tensor | None]:
        """The pooled vector (B, P) and, for attention pooling, the weights (B, T) (None otherwise)."""
        config = self.config
        if config.vocab_size is not None:
            if inputs.dim() != 2 or inputs.dtype.is_floating_point:
                raise ValueError(f"inputs: expected token ids of shape (B, T), got {tuple(inputs.shape)} "
                                 f"{inputs.dtype}")
            x = self.embedding(inputs)  # (B, T, E)
        else:
            if inputs.dim() != 3 or inputs.size(-1) != config.input_size:
                raise ValueError(f"inputs: expected features of shape (B, T, {config.input_size}), got "
                                 f"{tuple(inputs.shape)}")
            x = inputs
        lengths = check_lengths(lengths, inputs.size(0), inputs.size(1))
        y, state = self.rnn(self.dropout(x), lengths=lengths)  # (B, T, D·H); outputs past a length are zero
        mask = lengths_to_mask(lengths, inputs.size(1), device=y.device).unsqueeze(-1)  # (B, T, 1)
        weights = None
        if config.pooling in ("last", "concat"):
            h_n = state[0] if isinstance(state, tuple) else state  # (L·D, B, H)
            top = h_n[-2:] if config.bidirectional else h_n[-1:]  # the top layer's directions
            last = torch.cat(list(top), dim=-1)  # (B, D·H)
        if config.pooling in ("mean", "concat"):
            mean = y.sum(1) / lengths.to(y.device, y.dtype).unsqueeze(1)
        if config.pooling in ("max", "concat"):
            maximum = y.masked_fill(~mask, float("-inf")).amax(1)
        if config.pooling == "last":
            pooled = last
        elif config.pooling == "mean":
            pooled = mean
        elif config.pooling == "max":
            pooled = maximum
        elif config.pooling == "concat":
            pooled = torch.cat([last, maximum, mean], dim=-1)
        else:
            scores = self.attention(y).masked_fill(~mask, float("-inf"))  # (B, T, 1)
            weights = scores.softmax(1)
            pooled = (weights * y).sum(1)
            weights = weights.squeeze(-1)
        return pooled, weights

    def load_encoder(self, language_model: nn.Module) -> None:
        """Copy a rnnkit LanguageModel's embedding and recurrent weights into this (unidirectional) classifier.

        Shapes must agree: same vocabulary, embedding_size, hidden_size, num_layers and cell, and
        ``bidirectional=False``; the message names the first tensor that differs."""
        if self.config.bidirectional:
            raise ValueError("load_encoder: expected a classifier with bidirectional=False (a language model reads "
                             "left to right), got bidirectional=True")
        source = {k: v for k, v in language_model.state_dict().items() if k.startswith(("embedding.", "rnn."))}
        target = self.state_dict()
        for name, tensor in source.items():
            if name not in target or target[name].shape != tensor.shape:
                got = tuple(target[name].shape) if name in target else "missing"
                raise ValueError(f"load_encoder: {name}: the language model has {tuple(tensor.shape)}, the classifier "
                                 f"{got}; use the language model's vocabulary, sizes and cell")
        missing = sorted(k for k in target if k.startswith(("embedding.", "rnn.")) and k not in source)
        if missing:
            raise ValueError(f"load_encoder: the language model lacks {missing[:3]}")
        self.load_state_dict(source, strict=False)


register_kind("classifier", SequenceClassifier, ClassifierConfig)
