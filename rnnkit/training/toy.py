"""`toy_lm`: a built-in character language model on synthetic text, small enough for tests (seconds on CPU).

Each document is `w=r.` where w is 2-8 random letters from "abcdefgh" and r is w reversed, so the second
half is predictable only by remembering the first: a small memory task for comparing Elman, LSTM and GRU
(`rnnkit diagnose configs/tiny.yaml --set task_options.cell=rnn`). Documents come from a numpy Generator
seeded by the run seed, so the data is the same for the same seed.

Two modes:
- "stateless": the stream is cut into independent rows of seq_len + 1 tokens, shuffled every epoch
  (full BPTT over each row).
- "stateful": the stream is cut into batch_size parallel tracks read in windows of seq_len steps, the
  state carried across windows and reset at document starts (rnnkit.training.tbptt).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import rnnkit
from rnnkit.config import check
from rnnkit.training.registry import register_task
from rnnkit.training.task import StepOutput
from rnnkit.training.tbptt import batchify, run_with_resets, windows

__all__ = ["ToyLMOptions", "ToyLM", "ToyLMTask", "VOCABULARY"]

VOCABULARY = "abcdefgh=."
_LAYERS = {"rnn": rnnkit.RNN, "lstm": rnnkit.LSTM, "gru": rnnkit.GRU}


@dataclass(frozen=True)
class ToyLMOptions:
    cell: Literal["rnn", "lstm", "gru"] = "lstm"  # rnn is the Elman RNN (tanh)
    embedding_size: int = 16
    hidden_size: int = 32
    num_layers: int = 1
    dropout: float = 0.0  # between recurrent layers
    mode: Literal["stateless", "stateful"] = "stateless"
    batch_size: int = 16  # rows (stateless) or parallel tracks (stateful)
    seq_len: int = 32  # tokens per row (stateless) or the truncation window k (stateful)
    train_documents: int = 400
    val_documents: int = 40

    def __post_init__(self) -> None:
        for name in ("embedding_size", "hidden_size", "num_layers", "batch_size", "seq_len",
                     "train_documents", "val_documents"):
            check(getattr(self, name) >= 1, name, "an integer >= 1", getattr(self, name))
        check(0 <= self.dropout < 1, "dropout", "a value in [0, 1)", self.dropout)


class ToyLM(nn.Module):
    """Embedding -> recurrent layer (batch first) -> linear head over the vocabulary.

    Shape: tokens (B, T) -> logits (B, T, V), state as the recurrent layer's h_n (or (h_n, c_n)).
    """

    def __init__(self, options: ToyLMOptions, vocabulary_size: int = len(VOCABULARY)) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocabulary_size, options.embedding_size)
        self.rnn = _LAYERS[options.cell](
            options.embedding_size, options.hidden_size, num_layers=options.num_layers,
            dropout=options.dropout if options.num_layers > 1 else 0.0, batch_first=True,
        )
        self.head = nn.Linear(options.hidden_size, vocabulary_size)

    def forward(self, tokens: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        outputs, state = self.rnn(self.embedding(tokens), state)  # (B, T, E) -> (B, T, H)
        return self.head(outputs), state  # (B, T, V)


def make_documents(count: int, rng: np.random.Generator) -> list[list[int]]:
    """`count` documents "w=r." as token ids (w random letters, r = w reversed)."""
    documents = []
    for _ in range(count):
        word = rng.integers(0, 8, size=int(rng.integers(2, 9))).tolist()
        documents.append(word + [8] + word[::-1] + [9])
    return documents


def _stream(documents: list[list[int]]) -> tuple[Tensor, Tensor]:
    tokens = torch.tensor([t for d in documents for t in d], dtype=torch.long)
    starts = torch.zeros_like(tokens, dtype=torch.bool)
    starts[np.cumsum([0] + [len(d) for d in documents[:-1]]).tolist()] = True
    return tokens, starts  # (N,), (N,)


class ToyLMTask:
    """The Task for `toy_lm` (see the module docstring)."""

    def __init__(self, options: ToyLMOptions, seed: int) -> None:
        self.options, self.seed = options, seed
        rng = np.random.default_rng(seed)
        self.train_stream = _stream(make_documents(options.train_documents, rng))
        self.val_stream = _stream(make_documents(options.val_documents, rng))
        minimum = (options.seq_len + 1) * options.batch_size
        if self.train_stream[0].numel() < minimum:
            raise ValueError(
                f"task_options: expected train_documents to give at least (seq_len + 1) * batch_size = {minimum} "
                f"tokens, got {self.train_stream[0].numel()}; raise train_documents or lower batch_size/seq_len"
            )

    def build_model(self) -> nn.Module:
        return ToyLM(self.options)

    def _rows(self, stream: Tensor) -> Tensor:
        width = self.options.seq_len + 1
        count = stream.numel() // width
        return stream[: count * width].view(count, width)  # (rows, T + 1)

    def _batches(self, stream: tuple[Tensor, Tensor], shuffle_epoch: int | None) -> Iterator[Any]:
        options = self.options
        tokens, starts = stream
        if options.mode == "stateful":
            num_tracks = min(options.batch_size, tokens.numel() // 2)
            yield from windows(batchify(tokens, num_tracks), options.seq_len, batchify(starts, num_tracks))
            return
        rows = self._rows(tokens)
        if shuffle_epoch is not None:  # same order for the same (seed, epoch): resumable
            generator = torch.Generator().manual_seed(self.seed * 100_003 + shuffle_epoch)
            rows = rows[torch.randperm(rows.size(0), generator=generator)]
        for begin in range(0, rows.size(0) - options.batch_size + 1, options.batch_size):
            chunk = rows[begin : begin + options.batch_size]
            yield chunk[:, :-1], chunk[:, 1:]  # inputs (B, T), targets (B, T)
        if shuffle_epoch is None and rows.size(0) % options.batch_size:
            chunk = rows[rows.size(0) - rows.size(0) % options.batch_size :]
            yield chunk[:, :-1], chunk[:, 1:]

    def train_batches(self, epoch: int) -> Iterator[Any]:
        return self._batches(self.train_stream, epoch)

    def val_batches(self) -> Iterator[Any]:
        return self._batches(self.val_stream, None)

    def step(self, model: nn.Module, batch: Any, state: Any) -> StepOutput:
        if self.options.mode == "stateful":
            logits, state = run_with_resets(model, batch.inputs, state, batch.reset)
            targets = batch.targets
        else:
            inputs, targets = batch
            logits, _ = model(inputs)
            state = None
        loss = F.cross_entropy(logits.flatten(0, 1), targets.flatten())  # (B * T, V), (B * T,)
        metrics = {}
        if not model.training:  # accuracy costs a sync: only during validation
            metrics["accuracy"] = float((logits.argmax(-1) == targets).float().mean())
        return StepOutput(loss=loss, count=targets.numel(), state=state, metrics=metrics)


register_task("toy_lm", ToyLMTask, options=ToyLMOptions)
