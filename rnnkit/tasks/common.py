"""Pieces the classification and tagging tasks share: batches, length-bucketed batch order, metrics."""

from __future__ import annotations

import lzma
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor

from rnnkit.sequences import BucketBatchSampler
from rnnkit.text.data import data_path

__all__ = ["ClassBatch", "bucketed", "classification_metrics", "pad", "read_data"]


class ClassBatch(NamedTuple):
    inputs: Tensor  # (B, T) token ids, or (B, T, F) features; zero padding
    lengths: Tensor  # (B,)
    labels: Tensor  # (B,) class ids


def read_data(*parts: str) -> str:
    """A file of the repository's data/ folder as text (``.xz`` decompressed)."""
    path = data_path(*parts)
    if Path(path).suffix == ".xz":
        with lzma.open(path, "rt", encoding="utf-8") as file:
            return file.read()
    return Path(path).read_text(encoding="utf-8")


def bucketed(lengths: Sequence[int], batch_size: int, seed: int, epoch: int) -> list[list[int]]:
    """Shuffled index batches of similar lengths (little padding), a function of (seed, epoch) only."""
    sampler = BucketBatchSampler(lengths, batch_size, pool_factor=50, shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    return list(sampler)


def chunks(count: int, size: int) -> list[list[int]]:
    """0..count-1 in order, in slices of ``size`` (evaluation batches)."""
    return [list(range(start, min(start + size, count))) for start in range(0, count, size)]


def pad(rows: Sequence[Sequence[int]] | Sequence[Tensor], value: float = 0) -> tuple[Tensor, Tensor]:
    """Right-pad id lists (or (T, F) tensors) into (B, T) (or (B, T, F)) and return it with the lengths (B,)."""
    tensors = [row if isinstance(row, Tensor) else torch.tensor(row, dtype=torch.long) for row in rows]
    lengths = torch.tensor([t.size(0) for t in tensors], dtype=torch.long)
    return torch.nn.utils.rnn.pad_sequence(tensors, batch_first=True, padding_value=value), lengths


def classification_metrics(predicted: Tensor, gold: Tensor, num_classes: int) -> dict[str, float]:
    """Accuracy and macro-F1 (the unweighted mean over classes of 2PR/(P+R); a class never predicted
    nor present counts 0, as scikit-learn's ``f1_score(average="macro", zero_division=0)``)."""
    predicted, gold = predicted.flatten().cpu(), gold.flatten().cpu()
    if predicted.shape != gold.shape:
        raise ValueError(f"predicted: expected the shape of gold {tuple(gold.shape)}, got {tuple(predicted.shape)}")
    accuracy = float((predicted == gold).float().mean()) if gold.numel() else 0.0
    scores = []
    for label in range(num_classes):
        true_positive = int(((predicted == label) & (gold == label)).sum())
        predicted_count, gold_count = int((predicted == label).sum()), int((gold == label).sum())
        scores.append(2 * true_positive / (predicted_count + gold_count) if predicted_count + gold_count else 0.0)
    return {"accuracy": accuracy, "macro_f1": sum(scores) / num_classes}
