"""The adding and copy tasks against brute force and closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import rnnkit
from rnnkit.experiments.tasks import (
    CELLS,
    AddingOptions,
    AddingTask,
    CopyOptions,
    CopyTask,
    SequenceModel,
    adding_baseline,
    adding_data,
    copy_baseline,
    copy_data,
    make_layer,
)
from rnnkit.training import build_task


def test_adding_baseline_is_the_variance_of_the_sum_of_two_uniforms():
    # E[(U1 + U2 - 1)^2] by the midpoint rule on a 2000 x 2000 grid of the unit square (error O(1/n^2))
    n = 2000
    u = (np.arange(n) + 0.5) / n
    grid = (u[:, None] + u[None, :] - 1.0) ** 2
    assert abs(grid.mean() - 1 / 6) < 1e-6
    assert adding_baseline() == pytest.approx(1 / 6, abs=1e-15)
    assert adding_baseline() == pytest.approx(0.167, abs=5e-4)  # the figure the issue quotes


def test_predicting_one_on_the_task_data_scores_the_baseline():
    batch = adding_data(40_000, 20, np.random.default_rng(0))
    mse = float(((batch.targets.double() - 1.0) ** 2).mean())
    # standard error of the mean of (S - 1)^2: sqrt(Var / n) with Var((S-1)^2) = E[(S-1)^4] - 1/36 = 1/15 - 1/36
    standard_error = math.sqrt((1 / 15 - 1 / 36) / 40_000)
    assert abs(mse - 1 / 6) < 4 * standard_error


def test_adding_target_is_the_sum_of_the_two_marked_values():
    seq_len = 13
    batch = adding_data(200, seq_len, np.random.default_rng(5))
    assert batch.inputs.shape == (200, seq_len, 2) and batch.targets.shape == (200,)
    for inputs, target in zip(batch.inputs.tolist(), batch.targets.tolist(), strict=True):
        marked = [t for t in range(seq_len) if inputs[t][1] == 1.0]
        assert len(marked) == 2 and marked[0] < seq_len // 2 <= marked[1]  # one marker in each half
        assert all(inputs[t][1] == 0.0 for t in range(seq_len) if t not in marked)
        assert all(0.0 <= inputs[t][0] < 1.0 for t in range(seq_len))
        assert target == pytest.approx(inputs[marked[0]][0] + inputs[marked[1]][0], abs=1e-6)


def test_copy_sequences_have_the_layout_of_arjovsky_et_al():
    delay = 7
    batch = copy_data(100, delay, np.random.default_rng(1))
    steps = delay + 20
    assert batch.inputs.shape == batch.targets.shape == (100, steps)
    for inputs, targets in zip(batch.inputs.tolist(), batch.targets.tolist(), strict=True):
        data = inputs[:10]
        assert all(1 <= s <= 8 for s in data)
        assert inputs[10 : delay + 9] == [0] * (delay - 1)  # T - 1 blanks
        assert inputs[delay + 9] == 9  # the delimiter
        assert inputs[delay + 10 :] == [0] * 10
        assert targets == [0] * (delay + 10) + data


@pytest.mark.parametrize("delay", [1, 10, 100])
def test_copy_baseline_is_the_memoryless_cross_entropy(delay):
    batch = copy_data(64, delay, np.random.default_rng(2))
    steps = delay + 20
    # the memoryless strategy: blank with certainty, then uniform over a_1..a_8 for the last 10 steps
    probabilities = torch.zeros(steps, 10, dtype=torch.float64)
    probabilities[: delay + 10, 0] = 1.0
    probabilities[delay + 10 :, 1:9] = 1 / 8
    log_p = probabilities.clamp_min(1e-300).log().expand(64, steps, 10)
    loss = F.nll_loss(log_p.flatten(0, 1), batch.targets.flatten())
    assert float(loss) == pytest.approx(copy_baseline(delay), rel=1e-12)
    assert copy_baseline(delay) == pytest.approx(10 * math.log(8) / (delay + 20), rel=1e-15)


def test_data_are_deterministic_per_seed_and_the_validation_set_is_fixed():
    options = AddingOptions(seq_len=9, batch_size=4, batches_per_epoch=3, val_size=10)
    first, again, other = AddingTask(options, 3), AddingTask(options, 3), AddingTask(options, 4)
    for a, b in zip(first.train_batches(0), again.train_batches(0), strict=True):
        assert torch.equal(a.inputs, b.inputs) and torch.equal(a.targets, b.targets)
    assert not torch.equal(next(iter(first.train_batches(0))).inputs, next(iter(first.train_batches(1))).inputs)
    assert not torch.equal(next(iter(first.train_batches(0))).inputs, next(iter(other.train_batches(0))).inputs)
    assert torch.equal(first.val_set.inputs, again.val_set.inputs)
    assert not torch.equal(first.val_set.inputs[:4], next(iter(first.train_batches(0))).inputs)
    assert torch.equal(torch.cat([b.inputs for b in first.val_batches()]), first.val_set.inputs)
    copies = [CopyTask(CopyOptions(delay=5, batch_size=4, batches_per_epoch=2, val_size=6), 7) for _ in range(2)]
    assert torch.equal(*(next(iter(c.train_batches(2))).inputs for c in copies))
    assert torch.equal(copies[0].val_set.targets, copies[1].val_set.targets)


def test_tasks_are_registered_and_step_gives_the_mse_and_the_recall():
    adding = build_task("adding", {"cell": "gru", "hidden_size": 8, "seq_len": 6, "val_size": 8}, seed=0)
    model = adding.build_model()
    batch = next(iter(adding.train_batches(0)))
    out = adding.step(model, batch, None)
    reference = F.mse_loss(model(batch.inputs)[:, -1, 0], batch.targets)
    torch.testing.assert_close(out.loss, reference)
    assert out.count == batch.targets.numel()
    copy = build_task("copy", {"cell": "lstm", "hidden_size": 8, "delay": 3, "val_size": 8}, seed=0)
    model = copy.build_model().eval()
    out = copy.step(model, next(iter(copy.val_batches())), None)
    assert 0.0 <= out.metrics["recall"] <= 1.0 and out.count == 8 * 23


@pytest.mark.parametrize("cell", CELLS)
def test_every_cell_builds_a_model_of_the_right_shape(cell):
    model = SequenceModel(cell, 2, 8, 3)
    assert model(torch.randn(4, 11, 2)).shape == (4, 11, 3)


def test_irnn_is_relu_with_identity_recurrence_and_gain_scales_weight_hh():
    irnn = make_layer("irnn", 2, 5)
    assert irnn.nonlinearity == "relu"
    torch.testing.assert_close(irnn.weight_hh_l0.detach(), torch.eye(5))
    torch.manual_seed(0)
    plain = make_layer("rnn", 2, 5, init="orthogonal")
    torch.manual_seed(0)
    scaled = make_layer("rnn", 2, 5, init="orthogonal", recurrent_gain=2.0)
    torch.testing.assert_close(scaled.weight_hh_l0, 2 * plain.weight_hh_l0)
    assert isinstance(make_layer("lstm", 2, 5), rnnkit.LSTM)


def test_bad_options_name_the_argument():
    with pytest.raises(ValueError, match="seq_len: expected an integer >= 2, got 1"):
        AddingOptions(seq_len=1)
    with pytest.raises(ValueError, match="cell: expected one of"):
        CopyOptions(cell="transformer")
    with pytest.raises(ValueError, match="init: expected one of"):
        AddingOptions(init="glorot")
    with pytest.raises(ValueError, match="delay: expected an integer T >= 1, got 0"):
        copy_baseline(0)
    with pytest.raises(ValueError, match="init: minGRU has no recurrent weights"):
        make_layer("mingru", 2, 4, init="orthogonal")
    with pytest.raises(ValueError, match="recurrent_gain: expected a value > 0"):
        AddingOptions(recurrent_gain=0.0)


@pytest.mark.parametrize("name", ["adding", "copy"])
def test_configs_load_and_build_the_task(name):
    from pathlib import Path

    from rnnkit.training import load_run

    path = Path(__file__).resolve().parents[2] / "configs" / "experiments" / f"{name}.yaml"
    run = load_run(path, ["task_options.val_size=4"])
    assert run.config.task == name and isinstance(run.task, AddingTask if name == "adding" else CopyTask)
