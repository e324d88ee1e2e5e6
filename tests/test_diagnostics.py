"""gradient_flow against a hand-written reference: a step loop with a zero perturbation added to each h_t."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.diagnostics import _stepped_forward, gradient_flow, last_step_loss, plot_gradient_flow


class _Model(nn.Module):
    def __init__(self, layer: nn.Module) -> None:
        super().__init__()
        self.embedding = nn.Embedding(5, 3, dtype=torch.float64)
        self.rnn = layer
        self.head = nn.Linear(4, 5, dtype=torch.float64)

    def forward(self, tokens):
        out, state = self.rnn(self.embedding(tokens))
        return self.head(out), state


LAYERS = {
    "torch_lstm": lambda: nn.LSTM(3, 4, num_layers=2, batch_first=True, dtype=torch.float64),
    "torch_gru": lambda: nn.GRU(3, 4, batch_first=True, dtype=torch.float64),
    "torch_rnn_relu": lambda: nn.RNN(3, 4, nonlinearity="relu", batch_first=True, dtype=torch.float64),
    "rnnkit_lstm": lambda: rnnkit.LSTM(3, 4, num_layers=2, batch_first=True, dtype=torch.float64),
    "rnnkit_rnn": lambda: rnnkit.RNN(3, 4, batch_first=True, dtype=torch.float64),
}


@pytest.mark.parametrize("kind", list(LAYERS))
def test_stepped_forward_is_the_layer(kind):
    torch.manual_seed(0)
    layer = LAYERS[kind]()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    expected, expected_state = layer(x)
    record = [[] for _ in range(layer.num_layers)]
    got, state = _stepped_forward(layer, record)(x)
    torch.testing.assert_close(got, expected, rtol=1e-10, atol=1e-12)
    for a, b in zip(state if isinstance(state, tuple) else (state,),
                    expected_state if isinstance(expected_state, tuple) else (expected_state,), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    assert all(len(r) == 6 for r in record)


def _reference_hidden_grads(model: _Model, tokens, targets) -> list[torch.Tensor]:
    """One-layer LSTM by hand: h_t + delta_t with delta_t = 0; dL/d(delta_t) is dL/dh_t."""
    lstm = model.rnn
    cell = nn.LSTMCell(3, 4, dtype=torch.float64)
    cell.load_state_dict({k.replace("_l0", ""): v for k, v in lstm.state_dict().items()})
    x = model.embedding(tokens)
    h = c = torch.zeros(tokens.size(0), 4, dtype=torch.float64)
    deltas, outputs = [], []
    for t in range(tokens.size(1)):
        h, c = cell(x[:, t], (h, c))
        delta = torch.zeros_like(h, requires_grad=True)
        h = h + delta
        deltas.append(delta)
        outputs.append(h)
    logits = model.head(torch.stack(outputs, 1))
    loss = nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
    return [g.norm() for g in torch.autograd.grad(loss, deltas)]


def test_hidden_gradient_norms_match_the_reference():
    torch.manual_seed(1)
    model = _Model(nn.LSTM(3, 4, batch_first=True, dtype=torch.float64))
    tokens, targets = torch.randint(0, 5, (3, 7)), torch.randint(0, 5, (3, 7))
    flow = gradient_flow(model, (tokens, targets))
    expected = torch.stack(_reference_hidden_grads(model, tokens, targets))
    torch.testing.assert_close(flow.hidden["rnn.l0"], expected, rtol=1e-9, atol=1e-12)
    assert model.rnn.forward.__func__ is nn.LSTM.forward  # restored
    # the parameter gradients are those of an ordinary backward pass
    reference = _Model(nn.LSTM(3, 4, batch_first=True, dtype=torch.float64))
    reference.load_state_dict(model.state_dict())
    logits, _ = reference(tokens)
    nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten()).backward()
    for name, p in reference.named_parameters():
        assert flow.parameters[name] == pytest.approx(float(p.grad.norm()), rel=1e-9)


def test_elman_gradient_vanishes_geometrically_with_distance():
    # h_t = tanh(W h_{t-1} + ...) with W = 0.5 I and tiny inputs: |dL/dh_t| ~ 0.5^(T-1-t)
    torch.manual_seed(2)
    layer = nn.RNN(3, 4, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        layer.weight_hh_l0.copy_(0.5 * torch.eye(4))
        layer.weight_ih_l0.mul_(1e-4)
        layer.bias_ih_l0.zero_()
        layer.bias_hh_l0.zero_()
    model = _Model(layer)
    flow = gradient_flow(model, (torch.randint(0, 5, (2, 10)), torch.randint(0, 5, (2, 10))), last_step_loss)
    norms = flow.hidden["rnn.l0"]
    torch.testing.assert_close(norms[:-1] / norms[1:], torch.full((9,), 0.5, dtype=torch.float64), rtol=1e-3, atol=0)


def test_errors_and_plot(tmp_path):
    with pytest.raises(ValueError, match="expected model to contain an RNN, LSTM or GRU layer"):
        gradient_flow(nn.Linear(2, 2), None)
    model = _Model(nn.GRU(3, 4, batch_first=True, dtype=torch.float64))
    with pytest.raises(TypeError, match="pass loss_fn"):
        gradient_flow(model, torch.zeros(2, 3, dtype=torch.long))
    pytest.importorskip("matplotlib")
    flow = gradient_flow(model, (torch.randint(0, 5, (2, 4)), torch.randint(0, 5, (2, 4))))
    path = plot_gradient_flow(flow, tmp_path / "flow.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
