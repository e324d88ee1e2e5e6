"""Variable-length sequences: lengths, masks, padding collate, length bucketing, pack/unpack.

Two ways to hand a batch of sequences of different lengths to a recurrent layer:

* padded + lengths: a (B, T, F) tensor (or (T, B, F)) whose row b is valid for its first ``lengths[b]``
  steps, plus the lengths. rnnkit's layers take ``lengths=`` directly, on any device.
* packed: torch's ``PackedSequence``, the steps of all sequences interleaved by time. :func:`pack` and
  :func:`unpack` wrap torch's functions so that the original batch order is kept and lengths may live on
  any device (torch insists on CPU lengths).

    padded (B=3, T=4)          lengths   mask
    [a1 a2 a3 a4]              4         [1 1 1 1]
    [b1 b2 0  0 ]              2         [1 1 0 0]
    [c1 c2 c3 0 ]              3         [1 1 1 0]
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence, pad_sequence
from torch.utils.data import Sampler

__all__ = [
    "check_lengths",
    "lengths_to_mask",
    "reverse_padded",
    "PaddedBatch",
    "PadCollate",
    "BucketBatchSampler",
    "pack",
    "unpack",
]


def check_lengths(lengths: Any, batch: int, steps: int, name: str = "lengths") -> Tensor:
    """Validate lengths of a padded batch and return them as a CPU int64 tensor (B,).

    Accepts a list, a tuple or an integer tensor on any device. Raises ValueError naming ``name`` when the
    count differs from ``batch`` or a length is not in [1, steps].
    """
    if isinstance(lengths, Tensor):
        if lengths.dtype.is_floating_point or lengths.dtype.is_complex or lengths.dtype == torch.bool:
            raise TypeError(f"{name}: expected an integer tensor, got dtype {lengths.dtype}")
        values = lengths.detach().to("cpu", torch.int64)
    elif isinstance(lengths, (list, tuple)):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in lengths):
            kinds = sorted({type(v).__name__ for v in lengths})
            raise TypeError(f"{name}: expected a list or tuple of ints, got elements of type {', '.join(kinds)}")
        values = torch.tensor(lengths, dtype=torch.int64)
    else:
        raise TypeError(f"{name}: expected a list, tuple or integer tensor, got {type(lengths).__name__}")
    if values.dim() != 1:
        raise ValueError(f"{name}: expected a 1-D sequence of lengths, got shape {tuple(values.shape)}")
    if values.numel() != batch:
        raise ValueError(f"{name}: expected {batch} lengths (one per sequence in the batch), got {values.numel()}")
    if batch and int(values.min()) < 1:
        raise ValueError(f"{name}: expected every length >= 1, got {int(values.min())} in {values.tolist()}")
    if batch and int(values.max()) > steps:
        raise ValueError(
            f"{name}: expected every length <= {steps} (the padded sequence length), got {int(values.max())}"
        )
    return values


def lengths_to_mask(lengths: Tensor | Sequence[int], max_len: int | None = None, *, batch_first: bool = True,
                    device: torch.device | str | None = None) -> Tensor:
    """Boolean mask, True at valid steps: (B, T) if batch_first else (T, B). T defaults to max(lengths)."""
    lengths = torch.as_tensor(lengths, dtype=torch.int64, device=device)
    if lengths.dim() != 1:
        raise ValueError(f"lengths: expected a 1-D tensor, got shape {tuple(lengths.shape)}")
    steps = int(lengths.max()) if max_len is None else max_len
    if lengths.numel() and int(lengths.max()) > steps:
        raise ValueError(f"max_len: expected >= the longest length {int(lengths.max())}, got {steps}")
    mask = torch.arange(steps, device=lengths.device)[None, :] < lengths[:, None]  # (B, T)
    return mask if batch_first else mask.t()


def reverse_padded(x: Tensor, lengths: Tensor | None, *, time_dim: int = 0) -> Tensor:
    """Reverse each sequence within its valid prefix; padding stays where it is.

    [a1 a2 a3 0] with length 3 becomes [a3 a2 a1 0]. Applying it twice gives back the input. With
    ``lengths=None`` every sequence fills the whole time dimension and this is ``x.flip(time_dim)``.
    x: (T, B, ...) for time_dim=0 or (B, T, ...) for time_dim=1; lengths (B,) on any device.
    """
    if lengths is None:
        return x.flip(time_dim)
    steps = x.size(time_dim)
    lengths = lengths.to(x.device)
    t = torch.arange(steps, device=x.device)[:, None]  # (T, 1)
    index = torch.where(t < lengths[None, :], lengths[None, :] - 1 - t, t)  # (T, B)
    if time_dim == 1:
        index = index.t()
    shape = index.shape + (1,) * (x.dim() - 2)
    return x.gather(time_dim, index.reshape(shape).expand_as(x))


class PaddedBatch(NamedTuple):
    """A collated batch: inputs (B, T, ...) (or (T, B, ...)), lengths (B,) int64, targets or None."""

    inputs: Tensor
    lengths: Tensor
    targets: Tensor | None


class PadCollate:
    """Collate function for a DataLoader with dynamic padding: each batch is padded to its own longest sequence.

    Samples are tensors (L, ...) or tuples (sequence (L, ...), target). Targets of equal shapes are stacked
    (labels); targets that are sequences are padded with ``target_padding_value`` (-100, which
    torch.nn.CrossEntropyLoss ignores by default).

    Example::

        >>> loader = DataLoader(dataset, batch_size=32, collate_fn=PadCollate())
        >>> inputs, lengths, targets = next(iter(loader))
    """

    def __init__(self, padding_value: float = 0, target_padding_value: float = -100, batch_first: bool = True):
        self.padding_value = padding_value
        self.target_padding_value = target_padding_value
        self.batch_first = batch_first

    def __call__(self, samples: Sequence[Tensor | tuple[Tensor, Any]]) -> PaddedBatch:
        if len(samples) == 0:
            raise ValueError("samples: expected at least one sample, got an empty batch")
        with_targets = isinstance(samples[0], (tuple, list))
        sequences = [torch.as_tensor(s[0] if with_targets else s) for s in samples]
        for i, seq in enumerate(sequences):
            if seq.dim() == 0 or seq.size(0) == 0:
                raise ValueError(f"samples[{i}]: expected a sequence with at least one step, got shape {tuple(seq.shape)}")
        lengths = torch.tensor([seq.size(0) for seq in sequences], dtype=torch.int64)
        inputs = pad_sequence(sequences, batch_first=self.batch_first, padding_value=self.padding_value)
        targets = None
        if with_targets:
            values = [torch.as_tensor(s[1]) for s in samples]
            if all(v.shape == values[0].shape for v in values) and values[0].dim() == 0:
                targets = torch.stack(values)
            else:
                targets = pad_sequence(values, batch_first=self.batch_first, padding_value=self.target_padding_value)
        return PaddedBatch(inputs, lengths, targets)


class BucketBatchSampler(Sampler[list[int]]):
    """Batches of indices whose sequences have similar lengths, so little of each batch is padding.

    Indices are shuffled, cut into pools of ``batch_size * pool_factor``, each pool is sorted by length and cut
    into batches, and the batches are shuffled. Deterministic for a given ``seed`` and epoch; call
    ``set_epoch(epoch)`` before each epoch for a new order.

    Example::

        >>> sampler = BucketBatchSampler([len(s) for s in dataset], batch_size=32)
        >>> loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=PadCollate())
    """

    def __init__(self, lengths: Sequence[int], batch_size: int, *, pool_factor: int = 50, shuffle: bool = True,
                 drop_last: bool = False, seed: int = 0):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
        if isinstance(pool_factor, bool) or not isinstance(pool_factor, int) or pool_factor < 1:
            raise ValueError(f"pool_factor: expected a positive int, got {pool_factor!r}")
        self.lengths = [int(n) for n in lengths]
        self.batch_size = batch_size
        self.pool_factor = pool_factor
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __iter__(self) -> Iterator[list[int]]:
        rng = random.Random(self.seed * 1_000_003 + self.epoch)
        indices = list(range(len(self.lengths)))
        if self.shuffle:
            rng.shuffle(indices)
        pool = self.batch_size * self.pool_factor
        batches = []
        for start in range(0, len(indices), pool):
            chunk = sorted(indices[start:start + pool], key=self.lengths.__getitem__)
            batches += [chunk[i:i + self.batch_size] for i in range(0, len(chunk), self.batch_size)]
        if self.drop_last:
            batches = [b for b in batches if len(b) == self.batch_size]
        if self.shuffle:
            rng.shuffle(batches)
        return iter(batches)

    def __len__(self) -> int:
        pool = self.batch_size * self.pool_factor
        pool_sizes = [min(pool, len(self.lengths) - start) for start in range(0, len(self.lengths), pool)]
        if self.drop_last:
            return sum(size // self.batch_size for size in pool_sizes)
        return sum(-(-size // self.batch_size) for size in pool_sizes)


def pack(padded: Tensor, lengths: Tensor | Sequence[int], *, batch_first: bool = True) -> PackedSequence:
    """Pack a padded batch in any order, with lengths on any device; :func:`unpack` restores the order."""
    if padded.dim() < 2:
        raise ValueError(f"padded: expected at least 2 dimensions (batch and time), got shape {tuple(padded.shape)}")
    batch, steps = (padded.size(0), padded.size(1)) if batch_first else (padded.size(1), padded.size(0))
    lengths = check_lengths(lengths, batch, steps)
    return pack_padded_sequence(padded, lengths, batch_first=batch_first, enforce_sorted=False)


def unpack(packed: PackedSequence, *, batch_first: bool = True, total_length: int | None = None,
           padding_value: float = 0.0) -> tuple[Tensor, Tensor]:
    """Unpack to (padded, lengths) in the batch order the sequences had before packing."""
    if not isinstance(packed, PackedSequence):
        raise TypeError(f"packed: expected a PackedSequence, got {type(packed).__name__}")
    return pad_packed_sequence(packed, batch_first=batch_first, padding_value=padding_value,
                               total_length=total_length)
