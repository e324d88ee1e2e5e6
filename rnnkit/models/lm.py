"""A recurrent language model: embedding -> recurrent stack -> dropout -> output layer.

    tokens (B, T) ──embedding──▶ (B, T, E) ──dropout──▶ RNN/LSTM/GRU × num_layers ──▶ (B, T, H)
        ──dropout──▶ [Linear H→E if tied and H ≠ E] ──▶ output layer ──▶ logits (B, T, V)

The output layer is a Linear (full softmax), optionally sharing its weight with the embedding
(weight tying: Press & Wolf 2017, arXiv:1608.05859; Inan et al. 2017, arXiv:1611.01462), or an adaptive
softmax (Grave et al. 2017, arXiv:1609.04309; torch.nn.AdaptiveLogSoftmaxWithLoss) that puts frequent
tokens in a small head and rare ones in cheaper tail clusters. With ~6.6k characters in the Tang-poem
vocabulary the output layer dominates CPU time, and adaptive softmax trains much faster (docs/poems.md).

The model keeps no state: ``state`` goes in and comes out, in torch's layout (batch in dim 1), so the
training loop can carry it across TBPTT windows and decoding can feed one token at a time.

Example:
    >>> model = LanguageModel(LanguageModelConfig(vocab_size=50, embedding_size=16, hidden_size=32))
    >>> logits, (h, c) = model(torch.randint(0, 50, (3, 7)))
    >>> logits.shape, h.shape
    (torch.Size([3, 7, 50]), torch.Size([1, 3, 32]))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

import rnnkit
from rnnkit.transposed import linear

CELLS = ("rnn_tanh", "rnn_relu", "lstm", "gru")


@dataclass(frozen=True)
class LanguageModelConfig:
    vocab_size: int | None = None  # V; None in a task's config: the task sets it from its tokenizer
    embedding_size: int = 256  # E
    hidden_size: int = 512  # H, per recurrent layer
    num_layers: int = 1
    cell: str = "lstm"  # "lstm" | "gru" | "rnn_tanh" | "rnn_relu"
    backend: str = "auto"  # rnnkit layer backend: "auto" | "loop" | "native"
    dropout: float = 0.0  # on the embeddings, between recurrent layers and before the output layer
    tie_weights: bool = False  # output weight = embedding weight (needs a full softmax)
    adaptive_cutoffs: tuple[int, ...] | None = None  # e.g. (500, 2000): adaptive softmax; None: full softmax
    adaptive_div_value: float = 4.0  # each tail cluster's projection is this many times narrower
    init: str = "default"  # recurrent weights: a scheme of rnnkit.init, e.g. "default+forget_bias", "orthogonal"

    def __post_init__(self):
        # Messages start with the field name, as rnnkit.config.load_config expects.
        for name in ("vocab_size", "embedding_size", "hidden_size", "num_layers"):
            value = getattr(self, name)
            if name == "vocab_size" and value is None:
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name}: expected an int >= 1, got {value!r}")
        if self.cell not in CELLS:
            raise ValueError(f"cell: expected one of {CELLS}, got {self.cell!r}")
        rnnkit.init.check_scheme(self.init, {"lstm": 4, "gru": 3}.get(self.cell, 1))
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout: expected a value in [0, 1), got {self.dropout!r}")
        if self.adaptive_cutoffs is not None:
            cutoffs = tuple(self.adaptive_cutoffs)
            object.__setattr__(self, "adaptive_cutoffs", cutoffs)  # YAML gives lists
            if (
                not cutoffs
                or list(cutoffs) != sorted(set(cutoffs))
                or cutoffs[0] < 1
                or (self.vocab_size is not None and cutoffs[-1] >= self.vocab_size)
            ):
                raise ValueError(
                    "adaptive_cutoffs: expected increasing ints in [1, vocab_size - 1], "
                    f"got {self.adaptive_cutoffs!r} with vocab_size={self.vocab_size}"
                )
            smallest = int(self.hidden_size // (self.adaptive_div_value ** len(cutoffs)))
            if smallest < 1:
                raise ValueError(
                    f"adaptive_div_value: expected hidden_size / adaptive_div_value ** {len(cutoffs)} >= 1 (the last "
                    f"tail cluster's width), got {self.hidden_size} / {self.adaptive_div_value} ** {len(cutoffs)}; "
                    "lower adaptive_div_value or use fewer cutoffs"
                )
            if self.tie_weights:
                raise ValueError(
                    "tie_weights: expected False with adaptive softmax (tying needs a full softmax), got True; "
                    "set adaptive_cutoffs=None or tie_weights=False"
                )


def recurrent_layer(
    cell: str, input_size: int, hidden_size: int, num_layers: int, *, dropout: float, backend: str,
    init: str = "default",
) -> nn.Module:
    """A batch-first rnnkit RNN/LSTM/GRU chosen by name."""
    kwargs: dict[str, Any] = dict(num_layers=num_layers, batch_first=True, dropout=dropout if num_layers > 1 else 0.0,
                                  init=init)
    if cell == "lstm":
        return rnnkit.LSTM(input_size, hidden_size, backend=backend, **kwargs)
    if cell == "gru":
        return rnnkit.GRU(input_size, hidden_size, backend=backend, **kwargs)
    return rnnkit.RNN(input_size, hidden_size, nonlinearity=cell.removeprefix("rnn_"), backend=backend, **kwargs)


class LanguageModel(nn.Module):
    """Embedding -> recurrent stack -> dropout -> output layer (see the module docstring).

    Args:
        config: a :class:`LanguageModelConfig`.

    Shape:
        tokens (B, T) long; lengths (B,) or None; state: the recurrent layer's (h_0[, c_0]), each
        (num_layers, B, H), or None for zeros.
        Returns logits (B, T, V) and the final state. With adaptive softmax the logits are
        log-probabilities (they already sum to one), which every sampler accepts.
    """

    def __init__(self, config: LanguageModelConfig):
        super().__init__()
        if not isinstance(config, LanguageModelConfig):
            raise TypeError(f"LanguageModel: config must be a LanguageModelConfig, got {type(config).__name__}")
        if config.vocab_size is None:
            raise ValueError("LanguageModel: config.vocab_size must be set (the tokenizer's size), got None")
        self.config = config
        V, E, H = config.vocab_size, config.embedding_size, config.hidden_size
        self.embedding = nn.Embedding(V, E)
        self.rnn = recurrent_layer(
            config.cell, E, H, config.num_layers, dropout=config.dropout, backend=config.backend, init=config.init
        )
        self.dropout = nn.Dropout(config.dropout)
        self.projection = nn.Linear(H, E) if config.tie_weights and H != E else None
        if config.adaptive_cutoffs is not None:
            self.output = nn.AdaptiveLogSoftmaxWithLoss(
                H, V, list(config.adaptive_cutoffs), div_value=config.adaptive_div_value
            )
        else:
            self.output = nn.Linear(E if config.tie_weights else H, V)
            if config.tie_weights:
                self.output.weight = self.embedding.weight  # one tensor, two uses
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # Small embeddings: with tying they are also the output weights (as word_language_model does).
        nn.init.uniform_(self.embedding.weight, -0.1, 0.1)
        if isinstance(self.output, nn.Linear):
            nn.init.zeros_(self.output.bias)

    @property
    def adaptive(self) -> bool:
        return isinstance(self.output, nn.AdaptiveLogSoftmaxWithLoss)

    def features(self, tokens: Tensor, state: Any = None, lengths: Any = None) -> tuple[Tensor, Any]:
        """tokens (B, T) -> the output layer's input (B, T, F) and the final recurrent state."""
        if tokens.dim() != 2:
            raise ValueError(f"LanguageModel: tokens must be (B, T), got shape {tuple(tokens.shape)}")
        x = self.dropout(self.embedding(tokens))  # (B, T, E)
        if lengths is None:
            y, state = self.rnn(x, state)  # (B, T, H)
        else:
            y, state = self.rnn(x, state, lengths=lengths)
        y = self.dropout(y)
        if self.projection is not None:
            y = self.projection(y)  # (B, T, H) -> (B, T, E)
        return y, state

    def logits(self, features: Tensor) -> Tensor:
        """(B, T, F) -> (B, T, V) logits (log-probabilities with adaptive softmax)."""
        if self.adaptive:
            return self.output.log_prob(features.flatten(0, 1)).unflatten(0, features.shape[:2])
        if not isinstance(self.output, nn.Linear):  # an int8 Linear (rnnkit.quantize) multiplies by itself
            return self.output(features)
        return linear(features, self.output.weight, self.output.bias)  # cached layout in CPU inference

    def nll(self, features: Tensor, targets: Tensor) -> Tensor:
        """Negative log-likelihood in nats of each target: features (B, T, F), targets (B, T) -> (B, T).

        Cheaper than ``logits``: with adaptive softmax only each target's cluster is evaluated.
        Targets must be valid ids; mask padding afterwards.
        """
        flat = features.flatten(0, 1)  # (B*T, F)
        if self.adaptive:
            nll = -self.output(flat, targets.flatten()).output
        else:
            nll = F.cross_entropy(self.output(flat), targets.flatten(), reduction="none")
        return nll.view(targets.shape)

    def forward(self, tokens: Tensor, state: Any = None, lengths: Any = None) -> tuple[Tensor, Any]:
        features, state = self.features(tokens, state, lengths)
        return self.logits(features), state


def count_parameters(model: nn.Module) -> int:
    """Distinct trainable parameters (a tied weight counts once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def sequence_nll(model: LanguageModel, inputs: Tensor, targets: Tensor, lengths: Any = None,
                 state: Any = None) -> tuple[Tensor, Tensor, Any]:
    """Summed NLL (nats) and count of the valid targets of a padded batch, and the final state.

    inputs, targets (B, T); positions at or past ``lengths`` are ignored.
    """
    features, state = model.features(inputs, state, lengths)
    nll = model.nll(features, targets)  # (B, T)
    if lengths is None:
        return nll.sum(), torch.tensor(nll.numel()), state
    lengths = torch.as_tensor(lengths, device=nll.device)
    mask = torch.arange(nll.size(1), device=nll.device) < lengths[:, None]  # (B, T)
    return (nll * mask).sum(), mask.sum(), state


def _register() -> None:
    from rnnkit.bundle import register_kind

    register_kind("language_model", LanguageModel, LanguageModelConfig)


_register()
