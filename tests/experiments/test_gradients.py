"""‖∂L/∂h_t‖ of the gradients experiment against hand-derived backpropagation through time."""

from __future__ import annotations

import math

import torch

from rnnkit.experiments.gradients import decay_fit, hidden_gradient_norms
from rnnkit.experiments.tasks import AddingOptions, AddingTask


def _task(cell: str) -> AddingTask:
    return AddingTask(AddingOptions(cell=cell, hidden_size=5, seq_len=9, val_size=6), seed=0)


def _last_step_gradient(model, batch, outputs):
    # L = mean((w·h_{T-1} + b - y)^2) -> ∂L/∂h_{T-1} = 2/B (prediction - y) w
    prediction = model.head(outputs[:, -1])[:, 0]
    return (2 / batch.targets.numel()) * (prediction - batch.targets)[:, None] * model.head.weight[0]


def test_elman_norms_follow_the_chain_rule():
    torch.manual_seed(0)
    task = _task("rnn")
    model = task.build_model()
    batch = task.val_set
    measured = hidden_gradient_norms(model, batch, task)
    with torch.no_grad():
        outputs, _ = model.rnn(batch.inputs)  # (B, T, H)
        gradient = _last_step_gradient(model, batch, outputs)
        expected = [gradient.norm()]
        for t in range(outputs.size(1) - 1, 0, -1):  # ∂h_t/∂h_{t-1} = diag(1 - h_t²) W_hh
            gradient = (gradient * (1 - outputs[:, t] ** 2)) @ model.rnn.weight_hh_l0
            expected.append(gradient.norm())
    torch.testing.assert_close(measured.float(), torch.stack(expected[::-1]), rtol=1e-4, atol=1e-9)


def test_min_gru_norms_follow_the_chain_rule():
    torch.manual_seed(0)
    task = _task("mingru")
    model = task.build_model()
    batch = task.val_set
    measured = hidden_gradient_norms(model, batch, task)
    assert "forward" not in model.rnn.__dict__  # the stepped forward is removed afterwards
    with torch.no_grad():
        outputs, _ = model.rnn(batch.inputs)
        z = torch.sigmoid(model.rnn.linear(batch.inputs).chunk(2, -1)[0])  # (B, T, H)
        gradient = _last_step_gradient(model, batch, outputs)
        expected = [gradient.norm()]
        for t in range(outputs.size(1) - 1, 0, -1):  # h_t = (1 - z_t) h_{t-1} + z_t h̃_t, z_t from x_t only
            gradient = gradient * (1 - z[:, t])
            expected.append(gradient.norm())
    torch.testing.assert_close(measured.float(), torch.stack(expected[::-1]), rtol=1e-4, atol=1e-9)


def test_decay_fit_recovers_an_exponential():
    distance = torch.arange(19, -1, -1, dtype=torch.float64)  # t = 0 .. 19 lies 19 .. 0 steps from the loss
    rate, r_squared = decay_fit(3.0 * 0.8 ** distance)
    assert math.isclose(rate, 0.8, rel_tol=1e-12) and math.isclose(r_squared, 1.0, abs_tol=1e-12)
    assert all(math.isnan(v) for v in decay_fit(torch.zeros(5, dtype=torch.float64)))


def test_a_cell_entry_can_name_its_init(tmp_path):
    from rnnkit.experiments.gradients import Settings, run

    settings = Settings(cells=("rnn", "lstm:default+forget_bias"), seq_len=6, hidden_size=4, batch_size=4, steps=2,
                        probe_size=4, val_size=8)
    result = run(settings, tmp_path)
    assert [row["model"] for row in result.table] == ["Elman (tanh)"] * 2 + ["LSTM (init default+forget_bias)"] * 2
    assert "lstm:default+forget_bias,init,0," in (tmp_path / "gradients.csv").read_text()
