"""The CLI through typer's runner (stdout is not a terminal: the plain log path)."""

from __future__ import annotations

import os
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


def test_config_errors_from_set_name_the_override_not_the_file(tmp_path):
    result = runner.invoke(app, ["train", TINY, "--out", str(tmp_path / "x"), "--set", "optimizer.lr=-1"])
    assert result.exit_code == 2
    assert "error: --set optimizer.lr=-1: optimizer.lr: expected a value > 0, got -1.0" in result.output
    assert "tiny.yaml" not in result.output
    result = runner.invoke(app, ["train", TINY, "--set", "task_options.cell=lstn"])  # checked by the task
    assert result.exit_code == 2 and "error: --set task_options.cell=lstn: task_options.cell: expected one of" \
        in result.output


def test_summary_and_diagnose(tmp_path, monkeypatch):
    result = runner.invoke(app, ["summary", TINY])
    assert result.exit_code == 0 and "LSTM" in result.output and "memory (training)" in result.output
    pytest.importorskip("matplotlib")
    png = tmp_path / "flow.png"
    result = runner.invoke(app, ["diagnose", TINY, "--out", str(png), "--loss", "last", "--set", "task_options.cell=gru"])
    assert result.exit_code == 0, result.output
    assert png.exists() and "rnn.l0: |dL/dh_t|" in result.output
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["diagnose", TINY, "--set", "task_options.seq_len=4"])  # no --out: the run folder
    assert result.exit_code == 0, result.output
    assert (tmp_path / "runs" / "tiny" / "gradient-flow.png").is_file()
    assert [path.name for path in tmp_path.glob("*.png")] == ["flow.png"]  # nothing new in the current folder
    assert "wrote runs/tiny/gradient-flow.png" in result.output


def tiny_lm_bundle(path: Path) -> Path:
    from rnnkit.bundle import save
    from rnnkit.models import LanguageModel, LanguageModelConfig
    from rnnkit.text import Tokenizer

    tokenizer = Tokenizer.build(["abc"])
    model = LanguageModel(LanguageModelConfig(vocab_size=len(tokenizer), embedding_size=4, hidden_size=4))
    return save(path, model, tokenizer, task="t")


def test_serve_and_export_refuse_another_kind_of_bundle_naming_the_command_to_use(tmp_path):
    import json

    path = tiny_lm_bundle(tmp_path / "b")
    info = json.loads((path / "bundle.json").read_text())
    info["kind"] = "forecaster"  # a kind without HTTP routes
    (path / "bundle.json").write_text(json.dumps(info))
    result = runner.invoke(app, ["serve", str(path)])
    assert result.exit_code == 2 and "got kind 'forecaster', which has no HTTP routes" in result.output
    assert "use rnnkit forecast, rnnkit detect, rnnkit eval with this bundle" in result.output


def test_version():
    from rnnkit import __version__

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"rnnkit {__version__}\n"


@pytest.mark.parametrize("command", ["train", "diagnose", "experiment", "export"])
def test_an_unwritable_output_folder_is_one_error_line_before_any_work(tmp_path, unwritable, user_error, command):
    arguments = {
        "train": ["train", TINY, "--out", str(unwritable / "run")],
        "diagnose": ["diagnose", TINY, "--out", str(unwritable / "flow.png")],
        "experiment": ["experiment", "adding", "--quick", "--out", str(unwritable / "adding")],
        "export": ["export", str(tiny_lm_bundle(tmp_path / "bundle")), "--out", str(unwritable / "model.onnx")],
    }[command]
    user_error(runner.invoke(app, arguments), "--out", str(unwritable))


def test_export_without_out_needs_a_writable_bundle_folder(tmp_path, user_error):
    bundle = tiny_lm_bundle(tmp_path / "bundle")
    bundle.chmod(0o555)
    try:
        if os.access(bundle, os.W_OK):
            pytest.skip("running as root: a read-only mode does not stop writes")
        user_error(runner.invoke(app, ["export", str(bundle)]), "BUNDLE", "not writable")
    finally:
        bundle.chmod(0o755)


def test_a_write_that_fails_during_training_is_one_error_line(tmp_path, user_error):
    (tmp_path / "run" / "metrics.csv").mkdir(parents=True)  # the run folder is writable, this file is not
    result = runner.invoke(app, ["train", TINY, "--out", str(tmp_path / "run"), "--set", "max_steps=2"])
    assert result.exit_code == 2 and "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and str(tmp_path / "run" / "metrics.csv") in errors[0] and "Is a directory" in errors[0]


def test_ctrl_c_during_training_exits_130_after_writing_a_checkpoint(tmp_path, monkeypatch):
    from rnnkit.training.progress import LogProgress

    def interrupt_at_step_3(self, info):
        if info.step == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(LogProgress, "on_step", interrupt_at_step_3)
    result = runner.invoke(app, ["train", TINY, "--out", str(tmp_path / "run"), "--set", "max_steps=6"])
    assert result.exit_code == 130, result.output
    assert "done: step 3 (interrupted)" in result.output
    assert (tmp_path / "run" / "checkpoints" / "step-00000003" / "model.safetensors").is_file()


@pytest.mark.parametrize("options, message", [
    (["--port", "99999"], "--port: expected a port number in 1..65535, got 99999"),
    (["--port", "-1"], "--port: expected a port number in 1..65535, got -1"),
    (["--max-batch", "0"], "--max-batch: expected an integer >= 1 (1: no batching), got 0"),
])
def test_serve_checks_its_options_before_starting(tmp_path, user_error, options, message):
    user_error(runner.invoke(app, ["serve", str(tiny_lm_bundle(tmp_path / "b")), *options]), message)


def test_serve_refuses_a_truncated_bundle_before_starting(tmp_path, user_error):
    path = tiny_lm_bundle(tmp_path / "b")
    weights = path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    user_error(runner.invoke(app, ["serve", str(path)]), str(weights), "differs from weights_sha256")
