import pytest
import torch

from rnnkit.translation.plot import plot_attention


def test_plot_writes_a_png(tmp_path):
    weights = torch.softmax(torch.randn(3, 4), -1)
    path = plot_attention(weights, ["i", "am", "cold", "."], ["j'ai", "froid", "</s>"], tmp_path / "a.png",
                          title="i am cold.")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_checks_the_shape():
    with pytest.raises(ValueError, match=r"weights: expected shape \(2, 4\) \(output tokens, source tokens\)"):
        plot_attention(torch.zeros(3, 4), list("abcd"), ["x", "y"], "unused.png")
    with pytest.raises(ValueError, match="attention 'none' has no attention weights"):
        plot_attention(None, ["a"], ["b"], "unused.png")
