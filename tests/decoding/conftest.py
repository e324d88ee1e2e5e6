"""Tiny language models that follow rnnkit.decoding's protocol, for exact tests in float64."""

from __future__ import annotations

import pytest
import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


class TinyLM(nn.Module):
    """Embedding -> torch.nn.LSTM -> Linear; ``lengths`` packs the batch, so the returned state is the one
    after each row's last valid token. Records the shape of every call in ``calls``."""

    def __init__(self, vocab_size: int = 5, hidden_size: int = 8, num_layers: int = 1, *, seed: int = 0,
                 sharpness: float = 3.0):
        super().__init__()
        generator = torch.Generator().manual_seed(seed)
        self.embedding = nn.Embedding(vocab_size, hidden_size)
        self.lstm = nn.LSTM(hidden_size, hidden_size, num_layers, batch_first=True)
        self.output = nn.Linear(hidden_size, vocab_size)
        with torch.no_grad():
            for parameter in self.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))
            self.output.weight.mul_(sharpness)  # peaked distributions: beams and greedy disagree more often
        self.double().eval()
        self.calls: list[tuple[int, ...]] = []

    def forward(self, tokens: Tensor, state=None, lengths=None):
        self.calls.append(tuple(tokens.shape))
        x = self.embedding(tokens)  # (B, T, H)
        if lengths is None:
            y, state = self.lstm(x, state)
        else:
            packed = pack_padded_sequence(x, torch.as_tensor(lengths), batch_first=True, enforce_sorted=False)
            y, state = self.lstm(packed, state)
            y, _ = pad_packed_sequence(y, batch_first=True, total_length=tokens.size(1))
        return self.output(y), state  # (B, T, V)


class BigramLM(nn.Module):
    """logits = table[last token]; the state is the last token one-hot, (1, B, V): batch in dimension 1."""

    def __init__(self, table: Tensor):
        super().__init__()
        self.table = table  # (V, V) log-probabilities of the next token given the last one
        self.calls: list[tuple[int, ...]] = []
        self.eval()

    def forward(self, tokens: Tensor, state=None, lengths=None):
        self.calls.append(tuple(tokens.shape))
        logits = self.table[tokens]  # (B, T, V)
        last = tokens[:, -1] if lengths is None else tokens[torch.arange(tokens.size(0)), torch.as_tensor(lengths) - 1]
        return logits, nn.functional.one_hot(last, self.table.size(0)).double()[None]


@pytest.fixture
def tiny_lm():
    return TinyLM


@pytest.fixture
def bigram_lm():
    return BigramLM
