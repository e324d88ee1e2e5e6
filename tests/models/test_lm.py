import pytest
import torch
import torch.nn.functional as F

from rnnkit.models import LanguageModel, LanguageModelConfig, count_parameters, sequence_nll


def make(**kwargs):
    torch.manual_seed(0)
    options = dict(vocab_size=30, embedding_size=8, hidden_size=12)
    options.update(kwargs)
    return LanguageModel(LanguageModelConfig(**options)).eval()


@pytest.mark.parametrize("cell", ["lstm", "gru", "rnn_tanh", "rnn_relu"])
@pytest.mark.parametrize("adaptive", [None, (10, 20)])
def test_shapes_and_state_layout(cell, adaptive):
    model = make(cell=cell, num_layers=2, adaptive_cutoffs=adaptive, adaptive_div_value=2.0)
    logits, state = model(torch.randint(0, 30, (3, 5)))
    assert logits.shape == (3, 5, 30)
    h = state[0] if cell == "lstm" else state
    assert h.shape == (2, 3, 12)  # torch layout: batch in dim 1


def test_adaptive_logits_are_log_probabilities_and_nll_matches():
    model = make(adaptive_cutoffs=(5, 15), adaptive_div_value=2.0)
    tokens, targets = torch.randint(0, 30, (2, 4)), torch.randint(0, 30, (2, 4))
    logits, _ = model(tokens)
    torch.testing.assert_close(logits.logsumexp(-1), torch.zeros(2, 4), atol=1e-5, rtol=0)
    features, _ = model.features(tokens)
    expected = -logits.gather(-1, targets[..., None]).squeeze(-1)
    torch.testing.assert_close(model.nll(features, targets), expected, atol=1e-5, rtol=1e-5)


def test_full_softmax_nll_is_cross_entropy():
    model = make()
    tokens, targets = torch.randint(0, 30, (2, 4)), torch.randint(0, 30, (2, 4))
    logits, _ = model(tokens)
    features, _ = model.features(tokens)
    expected = F.cross_entropy(logits.flatten(0, 1), targets.flatten(), reduction="none").view(2, 4)
    torch.testing.assert_close(model.nll(features, targets), expected)


def test_weight_tying_shares_one_tensor():
    model = make(embedding_size=12, tie_weights=True)
    assert model.output.weight is model.embedding.weight
    V, E, H = 30, 12, 12
    # embedding (= output weight) + LSTM (4H x (E + H) weights, two 4H biases) + output bias
    assert count_parameters(model) == V * E + 4 * H * (E + H) + 8 * H + V
    logits, _ = model(torch.randint(0, 30, (2, 3)))
    logits.sum().backward()
    assert model.embedding.weight.grad is model.output.weight.grad


def test_tying_with_other_hidden_size_projects():
    model = make(embedding_size=8, hidden_size=12, tie_weights=True)
    assert model.projection.weight.shape == (8, 12)
    assert model.output.weight is model.embedding.weight


def test_untied_parameter_count_closed_form():
    V, E, H = 30, 8, 12
    assert count_parameters(make()) == V * E + 4 * H * (E + H) + 8 * H + H * V + V


def test_lengths_padding_does_not_change_valid_outputs():
    model = make(num_layers=2)
    long, short = torch.randint(0, 30, (1, 6)), torch.randint(0, 30, (1, 3))
    padded = torch.cat([long, F.pad(short, (0, 3))])  # (2, 6)
    logits, (h, c) = model(padded, lengths=[6, 3])
    alone, (h_alone, c_alone) = model(short)
    torch.testing.assert_close(logits[1, :3], alone[0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(h[:, 1], h_alone[:, 0], atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(c[:, 1], c_alone[:, 0], atol=1e-6, rtol=1e-5)


def test_state_carries_across_calls():
    model = make(cell="gru")
    tokens = torch.randint(0, 30, (2, 7))
    whole, _ = model(tokens)
    first, state = model(tokens[:, :4])
    second, _ = model(tokens[:, 4:], state)
    torch.testing.assert_close(torch.cat([first, second], 1), whole, atol=1e-6, rtol=1e-5)


def test_sequence_nll_masks_padding():
    model = make()
    inputs, targets = torch.randint(0, 30, (2, 5)), torch.randint(0, 30, (2, 5))
    total, count, _ = sequence_nll(model, inputs, targets, lengths=[5, 2])
    features, _ = model.features(inputs)
    nll = model.nll(features, targets)
    assert int(count) == 7
    # row 1's first two outputs do not depend on its padding
    torch.testing.assert_close(total, nll[0].sum() + nll[1, :2].sum(), atol=1e-5, rtol=1e-5)


def test_config_errors_name_the_field():
    with pytest.raises(ValueError, match="cell"):
        LanguageModelConfig(cell="transformer")
    with pytest.raises(ValueError, match="tie_weights"):
        LanguageModelConfig(tie_weights=True, adaptive_cutoffs=(10,))
    with pytest.raises(ValueError, match="adaptive_cutoffs"):
        LanguageModelConfig(vocab_size=20, adaptive_cutoffs=(10, 30))
    with pytest.raises(ValueError, match="adaptive_div_value"):
        LanguageModelConfig(hidden_size=12, adaptive_cutoffs=(3, 9))
    with pytest.raises(ValueError, match="hidden_size"):
        LanguageModelConfig(hidden_size=0)
    with pytest.raises(ValueError, match="dropout"):
        LanguageModelConfig(dropout=1.0)
    with pytest.raises(ValueError, match="vocab_size"):
        LanguageModel(LanguageModelConfig())
    with pytest.raises(TypeError, match="config"):
        LanguageModel({"vocab_size": 3})
    with pytest.raises(ValueError, match="tokens"):
        make()(torch.zeros(3, dtype=torch.long))
    assert LanguageModelConfig(adaptive_cutoffs=[3, 9]).adaptive_cutoffs == (3, 9)  # YAML lists become tuples


def test_init_scheme_reaches_the_recurrent_layer_and_bad_names_are_refused():
    config = LanguageModelConfig(vocab_size=7, embedding_size=4, hidden_size=5, init="default+forget_bias")
    model = LanguageModel(config)
    bias_ih, bias_hh = model.rnn.bias_ih_l0.detach(), model.rnn.bias_hh_l0.detach()
    torch.testing.assert_close(bias_ih[5:10] + bias_hh[5:10], torch.ones(5))  # gate order i, f, g, o
    with pytest.raises(ValueError, match="init: expected one of"):
        LanguageModelConfig(vocab_size=7, init="glorious")
    with pytest.raises(ValueError, match="init: 'forget_bias' applies to LSTMs only"):
        LanguageModelConfig(vocab_size=7, cell="gru", init="default+forget_bias")
