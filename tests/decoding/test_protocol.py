from typing import NamedTuple

import pytest
import torch

from rnnkit.decoding import reorder_state


class Pair(NamedTuple):
    h: torch.Tensor
    c: torch.Tensor


def test_reorder_state_selects_dimension_1_of_every_tensor():
    h = torch.arange(2 * 3 * 4.0).view(2, 3, 4)  # (L, B, H)
    c = -h
    index = torch.tensor([2, 2, 0])
    nested = (h, [c, (h,)])
    out = reorder_state(nested, index)
    assert isinstance(out, tuple) and isinstance(out[1], list) and isinstance(out[1][1], tuple)
    assert torch.equal(out[0], h[:, [2, 2, 0]])
    assert torch.equal(out[1][0], c[:, [2, 2, 0]])
    assert torch.equal(out[1][1][0], h[:, [2, 2, 0]])
    pair = reorder_state(Pair(h, c), index)
    assert isinstance(pair, Pair) and torch.equal(pair.c, c[:, [2, 2, 0]])
    assert reorder_state(None, index) is None


def test_reorder_state_repeats_for_beams():
    h = torch.randn(1, 2, 3)
    out = reorder_state(h, torch.arange(2).repeat_interleave(3))
    assert torch.equal(out, h.repeat_interleave(3, dim=1))


def test_reorder_state_rejects_other_types():
    with pytest.raises(TypeError, match="reorder_state: expected a tensor .* got dict"):
        reorder_state({"h": torch.zeros(1, 1, 1)}, torch.tensor([0]))
