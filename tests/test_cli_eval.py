"""`rnnkit eval` (rnnkit/cli.py) on each kind of bundle: the kind's own figures on its held-out test split."""

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from rnnkit.bundle import load
from rnnkit.cli import app
from rnnkit.tasks import evaluate_bundle
from rnnkit.timeseries import metrics
from rnnkit.timeseries.data import load_dataset
from rnnkit.timeseries.forecast import forecast
from rnnkit.training.run import train

ROOT = Path(__file__).resolve().parents[1]
FAST = ["max_steps=2", "validation.every=2", "checkpoint.every=2", "log_every=100", "max_time_s=null"]
runner = CliRunner()


def _bundle(tmp_path, config, *overrides):
    train(config, [*FAST, *overrides], out_dir=tmp_path / "run", callbacks=[])
    return tmp_path / "run" / "bundle"


def _eval(path):
    result = runner.invoke(app, ["eval", str(path), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output.splitlines()[-1])
    plain = runner.invoke(app, ["eval", str(path)])
    assert plain.exit_code == 0 and "nats" not in plain.output and "perplexity" not in plain.output
    return out, plain.output


def test_classifier_reports_accuracy_and_macro_f1(tmp_path):
    path = _bundle(tmp_path, ROOT / "configs" / "italy_power.yaml", "task_options.model.hidden_size=4")
    out, plain = _eval(path)
    assert out["task"] == "series" and out["split"] == "test"
    assert out["metrics"] == evaluate_bundle(path, "test") and set(out["metrics"]) == {"accuracy", "macro_f1",
                                                                                          "examples"}
    assert out["metrics"]["examples"] == 1029 and "1029 examples" in plain and "accuracy" in plain
    assert _eval(tmp_path / "run")[0]["metrics"] == out["metrics"]  # a run folder: its bundle


def test_tagger_reports_seqeval_entity_scores(tmp_path):
    path = _bundle(tmp_path, ROOT / "configs" / "weibo_ner.yaml", "task_options.model.embedding_size=8",
                   "task_options.model.hidden_size=8")
    out, plain = _eval(path)
    assert set(out["metrics"]) == {"precision", "recall", "f1", "token_accuracy", "sentences"}
    assert out["metrics"] == evaluate_bundle(path, "test") and out["metrics"]["sentences"] == 270
    assert "f1" in plain and "270 sentences" in plain


def test_forecaster_reports_mae_rmse_mase_against_forecasts_made_one_by_one(tmp_path):
    path = _bundle(tmp_path, ROOT / "configs" / "timeseries" / "airline.yaml", "task_options.model.hidden_size=4")
    out, plain = _eval(path)
    figures = out["metrics"]
    assert set(figures) == {"mae", "rmse", "mase", "smape", "origins"} and "mase" in plain
    # the reference: `forecast` from the rows before each test origin (the last 29 of 144 months)
    bundle, frame = load(path), load_dataset("airline_passengers")
    values = frame.values[:, 0]
    origins = range(144 - 29, 144 - 12 + 1)
    actual = np.stack([values[t:t + 12] for t in origins])
    point = np.stack([forecast(bundle, frame._replace(values=frame.values[:t], timestamps=frame.timestamps[:t])).point
                      for t in origins])
    assert figures["origins"] == len(origins)
    assert figures["mae"] == pytest.approx(metrics.mae(actual, point), rel=1e-5)
    assert figures["rmse"] == pytest.approx(metrics.rmse(actual, point), rel=1e-5)
    assert figures["mase"] == pytest.approx(metrics.mase(actual, point, values[:86], 12), rel=1e-5)


def test_autoencoder_reports_its_reconstruction_error(tmp_path):
    config = tmp_path / "autoencoder.yaml"
    config.write_text("task: anomaly_autoencoder\ntask_options:\n  dataset: airline_passengers\n  batch_size: 8\n"
                      "  model:\n    window: 12\n    hidden_size: 4\nseed: 0\ndevice: cpu\n")
    path = _bundle(tmp_path, config)
    out, plain = _eval(path)
    assert set(out["metrics"]) == {"mse", "windows"} and out["metrics"] == evaluate_bundle(path, "test")
    assert out["metrics"]["windows"] == 29 - 12 + 1 and out["metrics"]["mse"] > 0 and "mse" in plain
