"""Closed-form parameter and FLOP counts against torch's own counts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import rnnkit
from rnnkit.training.run import load_run
from rnnkit.training.summary import _recurrent_flops, summarize, summarize_model

TINY = Path(__file__).resolve().parents[2] / "configs" / "tiny.yaml"


@pytest.mark.parametrize("cls, layers", [(rnnkit.LSTM, 2), (rnnkit.GRU, 1), (rnnkit.RNN, 2)])
def test_recurrent_flops_match_flop_counter_on_the_loop_backend(cls, layers):
    layer = cls(5, 7, num_layers=layers, batch_first=True, backend="loop")
    x = torch.randn(3, 4, 5)
    with FlopCounterMode(display=False) as counter:
        layer(x)
    assert counter.get_total_flops() == _recurrent_flops(layer) * 3 * 4


def test_summary_of_the_tiny_config():
    report = summarize(TINY)
    run = load_run(TINY)
    model = run.task.build_model()
    assert report.parameters == sum(p.numel() for p in model.parameters())
    assert sum(r.parameters for r in report.layers) == report.parameters
    options = run.config.task_options
    assert report.items_per_step == options["batch_size"] * options["seq_len"]
    assert report.train_flops_per_step == 3 * report.flops_per_token * report.items_per_step
    memory = report.memory_bytes
    assert memory["optimizer"] == 2 * memory["parameters"] == 2 * 4 * report.parameters  # adam, float32
    assert memory["activations"] > 0
    again = summarize_model(model, run.task, run.config)
    assert again.flops_per_token == report.flops_per_token
