"""rnnkit.init: each scheme against its definition."""

import pytest
import torch

import rnnkit
from rnnkit.init import initialize


def test_default_matches_torch_bounds():
    torch.manual_seed(0)
    ours = rnnkit.LSTM(8, 16)
    torch.manual_seed(0)
    ref = torch.nn.LSTM(8, 16)
    for (name, a), b in zip(ours.named_parameters(), ref.parameters(), strict=True):
        torch.testing.assert_close(a, b, msg=name)  # same RNG draws in the same order as torch


def test_orthogonal_recurrent_blocks():
    gru = rnnkit.GRU(8, 16, num_layers=2, init="orthogonal")
    for name, weight in gru.named_parameters():
        if name.startswith("weight_hh"):
            for block in weight.detach().chunk(3, 0):
                torch.testing.assert_close(block @ block.t(), torch.eye(16), atol=1e-5, rtol=0)
        elif name.startswith("bias"):
            assert torch.all(weight == 0)


def test_identity_init_is_irnn():
    rnn = rnnkit.RNN(2, 32, nonlinearity="relu", init="identity")
    assert torch.equal(rnn.weight_hh_l0.detach(), torch.eye(32))
    assert torch.all(rnn.bias_ih_l0 == 0) and torch.all(rnn.bias_hh_l0 == 0)
    assert rnn.weight_ih_l0.detach().std() < 0.01  # N(0, 0.001^2)


def test_xavier_bounds_per_gate_block():
    lstm = rnnkit.LSTM(10, 30, init="xavier")
    bound = (6 / (10 + 30)) ** 0.5  # each gate block is (H, I) = (30, 10)
    assert lstm.weight_ih_l0.detach().abs().max() <= bound
    assert lstm.weight_ih_l0.detach().abs().max() > 0.9 * bound


def test_forget_bias_modifier():
    lstm = rnnkit.LSTM(4, 5, num_layers=2, bidirectional=True, init="orthogonal+forget_bias")
    for name, bias in lstm.named_parameters():
        if name.startswith("bias"):
            i, f, g, o = bias.detach().chunk(4)
            expected = 1.0 if name.startswith("bias_ih") else 0.0
            assert torch.all(f == expected) and torch.all(i == 0)
    # effective forget bias b_if + b_hf is 1
    assert torch.all(lstm.bias_ih_l0[5:10] + lstm.bias_hh_l0[5:10] == 1)


def test_works_on_torch_modules_and_cells():
    initialize(torch.nn.GRU(3, 4), "orthogonal")
    cell = initialize(rnnkit.LSTMCell(3, 4), "xavier+forget_bias")
    assert torch.all(cell.bias_ih[4:8] == 1)


@pytest.mark.parametrize("scheme,match", [
    ("he", r"init: expected one of \['default', 'identity', 'orthogonal', 'xavier'\]"),
    ("orthogonal+zero", "init: unknown modifier 'zero'"),
])
def test_unknown_scheme(scheme, match):
    with pytest.raises(ValueError, match=match):
        rnnkit.LSTM(3, 4, init=scheme)


def test_forget_bias_refused_for_gru():
    with pytest.raises(ValueError, match="init: 'forget_bias' applies to LSTMs only"):
        rnnkit.GRU(3, 4, init="default+forget_bias")
