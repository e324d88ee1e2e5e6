"""rnnkit.quantize: int8 copies of rnnkit's layers and language models against their float32 originals."""

import copy
import pickle

import pytest
import torch

import rnnkit
from rnnkit.decoding import generate
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.quantize import Int8Cell, is_quantized, quantize_dynamic


@pytest.mark.parametrize("kind,options", [("LSTM", {}), ("LSTM", {"proj_size": 6}), ("GRU", {}), ("RNN", {}),
                                          ("RNN", {"nonlinearity": "relu"})])
def test_int8_layer_is_close_to_float_on_every_path(kind, options):
    torch.manual_seed(0)
    layer = getattr(rnnkit, kind)(5, 12, num_layers=2, bidirectional=True, batch_first=True, **options).eval()
    int8 = quantize_dynamic(layer)
    assert isinstance(int8.cell, Int8Cell) and not isinstance(layer.cell, Int8Cell)  # the original is unchanged
    x = torch.randn(3, 7, 5)
    with torch.no_grad():
        expected, _ = layer(x, lengths=[7, 4, 1])
        actual, _ = int8(x, lengths=[7, 4, 1])
        one_step, _ = int8(x[:, :1])  # decoding's one-step path
        expected_step, _ = layer(x[:, :1])
    torch.testing.assert_close(actual, expected, rtol=0, atol=0.05)
    torch.testing.assert_close(one_step, expected_step, rtol=0, atol=0.05)
    assert torch.all(actual[1, 4:] == 0)  # padding never leaks
    assert float((actual - expected).abs().max()) > 0  # it really ran in int8


@pytest.mark.parametrize("config", [
    LanguageModelConfig(vocab_size=40, embedding_size=8, hidden_size=16, num_layers=2),
    LanguageModelConfig(vocab_size=40, embedding_size=8, hidden_size=16, cell="gru", adaptive_cutoffs=(10, 20)),
])
def test_int8_language_model_gives_close_log_probabilities_and_decodes(config):
    torch.manual_seed(0)
    model = LanguageModel(config).eval()
    int8 = quantize_dynamic(model)
    assert is_quantized(int8) and not is_quantized(model)
    tokens = torch.randint(0, 40, (2, 9))
    with torch.no_grad():
        expected = torch.log_softmax(model(tokens)[0], -1)
        actual = torch.log_softmax(int8(tokens)[0], -1)
    torch.testing.assert_close(actual, expected, rtol=0, atol=0.05)
    result = generate(int8, tokens[:, :3], method="greedy", max_new_tokens=5)
    assert result.tokens.shape == (2, 5)


def test_int8_copies_pickle_and_deepcopy():
    torch.manual_seed(0)
    int8 = quantize_dynamic(rnnkit.LSTM(4, 6).eval())
    x = torch.randn(5, 2, 4)
    with torch.no_grad():
        expected = int8(x)[0]
        for clone in (copy.deepcopy(int8), pickle.loads(pickle.dumps(int8))):
            torch.testing.assert_close(clone(x)[0], expected, rtol=0, atol=0)


def test_int8_is_for_inference_and_plain_cells_only():
    int8 = quantize_dynamic(rnnkit.GRU(4, 6))
    assert not int8.training and not any(p.requires_grad for p in int8.parameters())
    with pytest.raises(RuntimeError, match="inference only; call .eval()"):
        int8.train()(torch.randn(3, 2, 4))
    with pytest.raises(ValueError, match="variant options"):
        quantize_dynamic(rnnkit.LSTM(4, 6, layer_norm=True))
    with pytest.raises(TypeError, match="model: expected an nn.Module"):
        quantize_dynamic("model")
