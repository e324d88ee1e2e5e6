"""The CLI through typer's runner (stdout is not a terminal: the plain log path)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnnkit.cli import app

TINY = str(Path(__file__).resolve().parents[1] / "configs" / "tiny.yaml")
runner = CliRunner()


def test_train_writes_plain_lines_checkpoints_and_metrics(tmp_path):
    out = tmp_path / "run"
    result = runner.invoke(app, ["train", TINY, "--out", str(out), "--set", "max_steps=6", "--set", "log_every=3",
                                 "--set", "validation.every=3"])
    assert result.exit_code == 0, result.output
    assert "step 3/6 epoch 0 loss" in result.output and "done: step 6 (max_steps)" in result.output
    assert (out / "metrics.csv").exists() and (out / "checkpoints" / "step-00000006" / "model.safetensors").exists()
    again = runner.invoke(app, ["train", TINY, "--out", str(out), "--set", "max_steps=6"])
    assert again.exit_code == 2 and "--resume" in again.output
    resumed = runner.invoke(app, ["train", TINY, "--out", str(out), "--set", "max_steps=8", "--resume"])
    assert resumed.exit_code == 0 and "done: step 8" in resumed.output


def test_config_errors_stop_before_work(tmp_path):
    result = runner.invoke(app, ["train", TINY, "--out", str(tmp_path / "x"), "--set", "optimizer.lrr=1"])
    assert result.exit_code == 2
    assert "unknown key 'optimizer.lrr'; did you mean 'optimizer.lr'?" in result.output
    assert not (tmp_path / "x").exists()


def test_summary_and_diagnose(tmp_path):
    result = runner.invoke(app, ["summary", TINY])
    assert result.exit_code == 0 and "LSTM" in result.output and "memory (training)" in result.output
    pytest.importorskip("matplotlib")
    png = tmp_path / "flow.png"
    result = runner.invoke(app, ["diagnose", TINY, "--out", str(png), "--loss", "last", "--set", "task_options.cell=gru"])
    assert result.exit_code == 0, result.output
    assert png.exists() and "rnn.l0: |dL/dh_t|" in result.output


def test_serve_and_export_refuse_another_kind_of_bundle_naming_the_command_to_use(tmp_path):
    import json

    from rnnkit.bundle import save
    from rnnkit.models import LanguageModel, LanguageModelConfig
    from rnnkit.text import Tokenizer

    tokenizer = Tokenizer.build(["abc"])
    model = LanguageModel(LanguageModelConfig(vocab_size=len(tokenizer), embedding_size=4, hidden_size=4))
    path = save(tmp_path / "b", model, tokenizer, task="t")
    info = json.loads((path / "bundle.json").read_text())
    info["kind"] = "classifier"  # what a sentiment model's bundle says
    (path / "bundle.json").write_text(json.dumps(info))
    result = runner.invoke(app, ["serve", str(path)])
    assert result.exit_code == 2 and "got kind 'classifier'; use rnnkit predict" in result.output
