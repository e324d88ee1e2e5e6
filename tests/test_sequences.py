"""rnnkit.sequences: masks, reversal within lengths, collate, bucketing, pack/unpack."""

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from rnnkit.sequences import (
    BucketBatchSampler,
    PadCollate,
    check_lengths,
    lengths_to_mask,
    pack,
    reverse_padded,
    unpack,
)


def test_lengths_to_mask():
    mask = lengths_to_mask([3, 1, 2])
    assert mask.tolist() == [[True, True, True], [True, False, False], [True, True, False]]
    assert lengths_to_mask([3, 1], 4, batch_first=False).shape == (4, 2)
    with pytest.raises(ValueError, match="max_len: expected >= the longest length 3, got 2"):
        lengths_to_mask([3, 1], 2)


@given(st.lists(st.integers(1, 7), min_size=1, max_size=5), st.sampled_from([0, 1]))
def test_reverse_padded_against_python(lengths, time_dim):
    steps = max(lengths) + 1
    x = torch.arange(len(lengths) * steps).view(len(lengths), steps)  # (B, T)
    x = x if time_dim == 1 else x.t()
    out = reverse_padded(x, torch.tensor(lengths), time_dim=time_dim)
    out = out if time_dim == 1 else out.t()
    source = x if time_dim == 1 else x.t()
    for b, n in enumerate(lengths):
        assert out[b].tolist() == source[b, :n].flip(0).tolist() + source[b, n:].tolist()
    assert torch.equal(reverse_padded(reverse_padded(x, torch.tensor(lengths), time_dim=time_dim),
                                      torch.tensor(lengths), time_dim=time_dim), x)


def test_check_lengths_messages():
    assert check_lengths((2, 1), 2, 3).tolist() == [2, 1]
    with pytest.raises(TypeError, match="lengths: expected a list or tuple of ints, got elements of type float"):
        check_lengths([2.0, 1.0], 2, 3)
    with pytest.raises(TypeError, match="lengths: expected a list, tuple or integer tensor, got str"):
        check_lengths("21", 2, 3)
    with pytest.raises(ValueError, match=r"lengths: expected a 1-D sequence of lengths, got shape \(2, 1\)"):
        check_lengths(torch.ones(2, 1, dtype=torch.long), 2, 3)


def test_pad_collate_with_labels_and_tags():
    samples = [(torch.tensor([1, 2, 3]), 0), (torch.tensor([4]), 1)]
    inputs, lengths, targets = PadCollate()(samples)
    assert inputs.tolist() == [[1, 2, 3], [4, 0, 0]]
    assert lengths.tolist() == [3, 1] and targets.tolist() == [0, 1]
    tagged = [(torch.tensor([1, 2]), torch.tensor([5, 6])), (torch.tensor([3]), torch.tensor([7]))]
    batch = PadCollate(batch_first=False)(tagged)
    assert batch.inputs.shape == (2, 2) and batch.targets.t().tolist() == [[5, 6], [7, -100]]
    assert PadCollate()([torch.ones(2, 3), torch.ones(1, 3)]).targets is None
    with pytest.raises(ValueError, match=r"samples\[1\]: expected a sequence with at least one step"):
        PadCollate()([torch.ones(2), torch.ones(0)])


def test_bucket_sampler_groups_lengths_and_covers_every_index():
    lengths = [(i * 37) % 50 + 1 for i in range(1000)]
    sampler = BucketBatchSampler(lengths, 10, pool_factor=10, seed=3)
    batches = list(sampler)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert len(batches) == len(sampler) == 100
    padding = sum(max(lengths[i] for i in b) * len(b) - sum(lengths[i] for i in b) for b in batches)
    random_padding = sum(max(lengths[i] for i in range(s, s + 10)) * 10 - sum(lengths[s:s + 10])
                         for s in range(0, 1000, 10))
    assert padding < random_padding / 4
    assert batches == list(BucketBatchSampler(lengths, 10, pool_factor=10, seed=3))  # deterministic
    sampler.set_epoch(1)
    assert list(sampler) != batches
    dropped = BucketBatchSampler(lengths[:95], 10, drop_last=True)
    assert len(dropped) == len(list(dropped)) == 9
    loader = DataLoader([torch.ones(n) for n in lengths], batch_sampler=sampler, collate_fn=PadCollate())
    first = next(iter(loader))
    assert first.inputs.size(1) == int(first.lengths.max())


def test_pack_unpack_round_trip_keeps_order():
    x = torch.randn(3, 5, 2)
    packed = pack(x, torch.tensor([2, 5, 3]))
    padded, lengths = unpack(packed, total_length=5)
    assert lengths.tolist() == [2, 5, 3]
    mask = lengths_to_mask(lengths, 5).unsqueeze(-1)
    torch.testing.assert_close(padded, x * mask)
    with pytest.raises(ValueError, match="lengths: expected every length <= 5"):
        pack(x, [2, 6, 3])
