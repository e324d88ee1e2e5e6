"""A toy-reverse translation bundle trained once per test session (a few seconds), for the API and CLI tests."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOY_CONFIG = ROOT / "configs" / "translation" / "toy_reverse.yaml"
# small and seeded: 150 steps of a 64-unit GRU with Luong "general" attention on 3-6 digit strings
TOY_OVERRIDES = ["max_steps=150", "max_time_s=null", "validation.every=150", "checkpoint.every=150",
                 "task_options.toy_max_length=6", "task_options.toy_train_size=5000", "task_options.val_size=200",
                 "task_options.val_batch_size=200", "task_options.test_size=200", "log_every=1000"]
TOY_EXACT_MATCH = 0.95  # the stated accuracy after 150 steps (the 600-step config reaches ~100%)


@pytest.fixture(scope="session")
def toy_run(tmp_path_factory):
    from rnnkit.training.run import train

    out = tmp_path_factory.mktemp("toy_reverse")
    result = train(TOY_CONFIG, TOY_OVERRIDES, out_dir=out)
    return result, out / "bundle"


@pytest.fixture(scope="session")
def toy_bundle(toy_run):
    return toy_run[1]
