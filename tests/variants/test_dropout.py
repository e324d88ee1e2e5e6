"""Embedding dropout drops whole words; the dropout and zoneout masks have the documented distributions."""

import pytest
import torch
from torch import nn

from rnnkit.variants import EmbeddingDropout, dropout_mask, zoneout_masks


def test_embedding_dropout_drops_whole_words_and_is_the_plain_lookup_in_eval():
    torch.manual_seed(0)
    embedding = nn.Embedding(20, 6)
    module = EmbeddingDropout(embedding, p=0.5)
    tokens = torch.randint(20, (8, 30))
    module.eval()
    torch.testing.assert_close(module(tokens), embedding(tokens), rtol=0, atol=0)
    module.train()
    out = module(tokens)
    plain = embedding(tokens)
    for word in tokens.unique().tolist():
        rows = out[tokens == word]  # every occurrence of a word: all dropped, or all kept and scaled by 2
        dropped = bool(torch.all(rows == 0))
        assert dropped or torch.allclose(rows, 2 * plain[tokens == word])
    dropped_words = sum(bool(torch.all(out[tokens == w] == 0)) for w in tokens.unique().tolist())
    assert 0 < dropped_words < tokens.unique().numel()
    out.sum().backward()
    assert embedding.weight.grad is not None


def test_embedding_dropout_errors():
    with pytest.raises(ValueError, match=r"p: expected a probability in \[0, 1\), got 1.0"):
        EmbeddingDropout(nn.Embedding(5, 2), p=1.0)
    with pytest.raises(TypeError, match="embedding: expected an nn.Embedding, got Linear"):
        EmbeddingDropout(nn.Linear(5, 2), p=0.1)


def test_dropout_mask_is_inverted_bernoulli():
    torch.manual_seed(0)
    mask = dropout_mask(torch.empty(200, 100, dtype=torch.float64), 0.25)
    assert set(mask.unique().tolist()) == {0.0, 1 / 0.75}
    assert abs(float((mask == 0).float().mean()) - 0.25) < 0.02
    assert abs(float(mask.mean()) - 1.0) < 0.03  # expectation preserved


def test_zoneout_masks_bernoulli_in_training_and_the_expectation_in_eval():
    torch.manual_seed(0)
    h, c = torch.zeros(40, 50), torch.zeros(40, 60)
    keep_h, keep_c = zoneout_masks(0.3, 7, (h, c), training=True)
    assert keep_h.shape == (7, 40, 50) and keep_c.shape == (7, 40, 60)
    assert set(keep_h.unique().tolist()) == {0.0, 1.0} and abs(float(keep_h.mean()) - 0.3) < 0.03
    assert not torch.equal(keep_h[0], keep_h[1])  # new draws every step
    (expected,) = zoneout_masks(0.3, 7, (h,), training=False)
    assert expected.shape == (7, 40, 50) and torch.all(expected == 0.3)
