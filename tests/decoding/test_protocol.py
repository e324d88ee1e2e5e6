from typing import NamedTuple

import pytest
import torch

from rnnkit.decoding import reorder_state
from rnnkit.decoding.protocol import advance, prefill


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


def test_prefill_gives_the_logits_and_state_after_each_prompts_last_token(tiny_lm):
    model = tiny_lm(vocab_size=5)
    prompts, lengths = torch.tensor([[1, 2, 3], [4, 0, 0]]), torch.tensor([3, 1])
    logits, (h, c) = prefill(model, prompts, lengths)  # (B, V)
    for b, prompt in enumerate([[1, 2, 3], [4]]):
        alone, (h_alone, c_alone) = model(torch.tensor([prompt]))
        torch.testing.assert_close(logits[b], alone[0, -1])
        torch.testing.assert_close(h[:, b], h_alone[:, 0])
        torch.testing.assert_close(c[:, b], c_alone[:, 0])
    # one more token carried on the state equals rerunning the prompt with it
    next_logits, _ = advance(model, torch.tensor([0, 2]), (h, c))
    torch.testing.assert_close(next_logits[1], model(torch.tensor([[4, 2]]))[0][0, -1])
    torch.testing.assert_close(next_logits[0], model(torch.tensor([[1, 2, 3, 0]]))[0][0, -1])


def test_prefill_upcasts_half_precision_logits():
    def model(tokens, state=None, lengths=None):
        return torch.zeros(*tokens.shape, 3, dtype=torch.bfloat16), None

    logits, _ = prefill(model, torch.zeros(2, 4, dtype=torch.long), None)
    assert logits.dtype == torch.float32 and logits.shape == (2, 3)


def test_prefill_rejects_logits_of_another_shape():
    def model(tokens, state=None, lengths=None):
        return torch.zeros(tokens.size(0), 3), None  # (B, V): the time dimension is missing

    with pytest.raises(ValueError, match=r"model: expected logits of shape \(B, T, V\) = \(2, 4, V\) .* got \(2, 3\)"):
        prefill(model, torch.zeros(2, 4, dtype=torch.long), None)
