"""A sequence tagger (one label per token): BiLSTM with a CRF or a softmax output (Huang, Xu & Yu 2015,
arXiv:1508.01991; Lample et al. 2016, arXiv:1603.01360).

    tokens (B, T) ──embedding──▶ (B, T, E) ─┐
    chars (B, T, C) ──char BiLSTM per word──▶ (B, T, 2·Hc) ─┴─concat──▶ dropout ──▶ BiLSTM/BiGRU ──▶ (B, T, 2H)
        ──dropout──▶ Linear ──▶ emissions (B, T, K) ──▶ CRF (log-likelihood, Viterbi) or softmax per token

Character features (Lample et al. 2016 §4.1): each word's characters run through a small bidirectional LSTM,
and the last forward and the first backward state make the word's character vector, so unseen and
capitalised words still carry information. ``output="softmax"`` is the same network with an independent
softmax per token (the comparison the CRF is judged against).

The tag names live in the config (``labels``): with ``constraints="bio"`` the CRF forbids I-X after anything
but B-X or I-X (rnnkit.models.crf.bio_constraints), and the bundle needs nothing else to decode.

Example:
    >>> config = TaggerConfig(vocab_size=100, labels=("O", "B-PER", "I-PER"), embedding_size=8, hidden_size=8)
    >>> model = Tagger(config)
    >>> emissions = model(torch.randint(4, 100, (2, 5)), torch.tensor([5, 3]))
    >>> emissions.shape, [len(tags) for tags in model.decode(emissions, torch.tensor([5, 3]))]
    (torch.Size([2, 5, 3]), [5, 3])
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnkit.bundle import register_kind
from rnnkit.config import check
from rnnkit.models.classifier import recurrent_encoder
from rnnkit.models.crf import CRF, bio_constraints
from rnnkit.sequences import check_lengths, lengths_to_mask

__all__ = ["Tagger", "TaggerConfig"]


@dataclass(frozen=True)
class TaggerConfig:
    vocab_size: int | None = None  # word (or character) vocabulary; None in a task's config: set from its tokenizer
    labels: tuple[str, ...] = ()  # tag names in id order, e.g. ("O", "B-PER", "I-PER"); set by the task
    embedding_size: int = 100  # E
    hidden_size: int = 100  # H per direction
    num_layers: int = 1
    cell: str = "lstm"  # "lstm" | "gru"
    backend: str = "auto"
    dropout: float = 0.5  # on the token features and on the encoder output (Lample et al. use 0.5)
    output: str = "crf"  # "crf" | "softmax"
    constraints: str = "bio"  # "bio": forbid illegal BIO transitions in the CRF; "none"
    char_vocab_size: int = 0  # > 0 adds character-level word features (the character tokenizer's size)
    char_embedding_size: int = 25
    char_hidden_size: int = 25  # per direction

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", tuple(self.labels))  # JSON and YAML give lists
        check(self.vocab_size is None or self.vocab_size >= 1, "vocab_size", "None or an int >= 1", self.vocab_size)
        for name in ("embedding_size", "hidden_size", "num_layers", "char_embedding_size", "char_hidden_size"):
            check(getattr(self, name) >= 1, name, "an int >= 1", getattr(self, name))
        check(self.char_vocab_size >= 0, "char_vocab_size", "an int >= 0 (0: no character features)",
              self.char_vocab_size)
        check(self.cell in ("lstm", "gru"), "cell", "'lstm' or 'gru'", self.cell)
        check(self.output in ("crf", "softmax"), "output", "'crf' or 'softmax'", self.output)
        check(self.constraints in ("bio", "none"), "constraints", "'bio' or 'none'", self.constraints)
        check(0.0 <= self.dropout < 1.0, "dropout", "a value in [0, 1)", self.dropout)


class Tagger(nn.Module):
    """BiLSTM(-CRF) tagger (see the module docstring).

    Shape:
        tokens (B, T) long; lengths (B,); chars (B, T, C) long character ids of each word (0 = padding) and
        char_lengths (B, T) (0 at padded words), only when ``char_vocab_size > 0``.
        ``forward`` returns emissions (B, T, K); ``loss`` the mean negative log-likelihood per token;
        ``decode`` the best tag ids per sequence (lists of each sequence's length).
    """

    def __init__(self, config: TaggerConfig):
        super().__init__()
        if not isinstance(config, TaggerConfig):
            raise TypeError(f"Tagger: expected config to be a TaggerConfig, got {type(config).__name__}")
        if config.vocab_size is None or len(config.labels) < 1:
            raise ValueError(f"Tagger: expected config.vocab_size and config.labels to be set, got "
                             f"{config.vocab_size!r} and {config.labels!r}")
        self.config = config
        features = config.embedding_size
        self.embedding = nn.Embedding(config.vocab_size, config.embedding_size, padding_idx=0)
        if config.char_vocab_size:
            self.char_embedding = nn.Embedding(config.char_vocab_size, config.char_embedding_size, padding_idx=0)
            self.char_rnn = recurrent_encoder("lstm", config.char_embedding_size, config.char_hidden_size, 1,
                                              bidirectional=True, dropout=0.0, backend=config.backend)
            features += 2 * config.char_hidden_size
        self.dropout = nn.Dropout(config.dropout)
        self.rnn = recurrent_encoder(config.cell, features, config.hidden_size, config.num_layers,
                                     bidirectional=True, dropout=config.dropout, backend=config.backend)
        self.emissions = nn.Linear(2 * config.hidden_size, len(config.labels))
        allowed = bio_constraints(config.labels) if config.constraints == "bio" else (None, None)
        self.crf = CRF(len(config.labels), allowed=allowed[0], allowed_start=allowed[1]) \
            if config.output == "crf" else None

    def forward(self, tokens: Tensor, lengths: Tensor, chars: Tensor | None = None,
                char_lengths: Tensor | None = None) -> Tensor:
        if tokens.dim() != 2:
            raise ValueError(f"tokens: expected shape (B, T), got {tuple(tokens.shape)}")
        lengths = check_lengths(lengths, tokens.size(0), tokens.size(1))
        x = self.embedding(tokens)  # (B, T, E)
        if self.config.char_vocab_size:
            if chars is None or char_lengths is None:
                raise ValueError("chars: expected character ids (B, T, C) and char_lengths (B, T) for a tagger "
                                 "with char_vocab_size > 0, got None")
            x = torch.cat([x, self._char_features(chars, char_lengths)], dim=-1)  # (B, T, E + 2Hc)
        y, _ = self.rnn(self.dropout(x), lengths=lengths)  # (B, T, 2H)
        return self.emissions(self.dropout(y))  # (B, T, K)

    def _char_features(self, chars: Tensor, char_lengths: Tensor) -> Tensor:
        batch, steps, width = chars.shape
        flat, flat_lengths = chars.reshape(-1, width), char_lengths.reshape(-1)  # (B*T, C), (B*T,)
        words = (flat_lengths > 0).nonzero().squeeze(1)  # only real words: padding has no characters
        out = chars.new_zeros(batch * steps, 2 * self.config.char_hidden_size, dtype=self.embedding.weight.dtype)
        if words.numel():
            _, state = self.char_rnn(self.char_embedding(flat[words]), lengths=flat_lengths[words].cpu())
            h_n = state[0]  # (2, N, Hc): the forward direction's last valid state, the backward one's first
            out[words] = torch.cat([h_n[0], h_n[1]], dim=-1)
        return out.view(batch, steps, -1)

    def loss(self, emissions: Tensor, tags: Tensor, lengths: Tensor) -> Tensor:
        """Mean negative log-likelihood per valid token (nats): the CRF's sentence NLL summed over the batch
        and divided by the token count, or the softmax's token cross-entropy averaged."""
        mask = lengths_to_mask(lengths, emissions.size(1), device=emissions.device)
        tokens = mask.sum()
        if self.crf is not None:
            return self.crf.nll(emissions, tags, mask).sum() / tokens
        nll = F.cross_entropy(emissions.flatten(0, 1), tags.masked_fill(~mask, 0).flatten(), reduction="none")
        return (nll * mask.flatten()).sum() / tokens

    def decode(self, emissions: Tensor, lengths: Tensor) -> list[list[int]]:
        """Best tag ids per sequence: Viterbi with a CRF, the per-token argmax with a softmax output."""
        lengths = check_lengths(lengths, emissions.size(0), emissions.size(1))
        if self.crf is not None:
            mask = lengths_to_mask(lengths, emissions.size(1), device=emissions.device)
            tags = self.crf.decode(emissions, mask).tags
        else:
            tags = emissions.argmax(-1)
        return [row[:n].tolist() for row, n in zip(tags.cpu(), lengths.tolist(), strict=True)]

    def probabilities(self, emissions: Tensor, lengths: Tensor) -> Tensor:
        """p(tag | sentence) per token, (B, T, K): CRF marginals, or the softmax."""
        if self.crf is not None:
            mask = lengths_to_mask(lengths, emissions.size(1), device=emissions.device)
            return self.crf.marginals(emissions, mask)
        return emissions.softmax(-1)


register_kind("tagger", Tagger, TaggerConfig)
