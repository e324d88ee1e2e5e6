"""The engine end to end on the built-in toy task: resume identity, divergence, early stopping, logs."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
from dataclasses import replace
from pathlib import Path

import pytest
import safetensors.torch
import torch
from torch import nn

from rnnkit.config import load_config
from rnnkit.training import RunConfig, StepOutput, Trainer, TrainingDiverged, build_task
from rnnkit.training.checkpoint import list_checkpoints
from rnnkit.training.progress import LogProgress
from rnnkit.training.run import load_run

# MKL's results depend on memory alignment unless MKL_CBWR is set before its first call; the Trainer sets it
# in deterministic mode, but in this process other tests may call MKL first (see docs/training.md)
os.environ["MKL_CBWR"] = "AUTO,STRICT"
ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "tiny.yaml"
FAST = ["max_steps=24", "checkpoint.every=5", "validation.every=8", "log_every=100"]


def _final_weights(run_dir: Path) -> dict[str, torch.Tensor]:
    step, path = list_checkpoints(run_dir / "checkpoints")[-1]
    return safetensors.torch.load_file(path / "model.safetensors")


def _assert_bitwise_equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        assert torch.equal(a[name], b[name]), name


def _train(out_dir: Path, overrides=(), resume=False, callbacks=()):
    run = load_run(TINY, [*FAST, *overrides])
    return Trainer(run.task, run.config, out_dir=out_dir, resume=resume, callbacks=list(callbacks)).fit()


KILL_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys
    import torch
    from rnnkit.training import train

    torch.set_num_threads(int(os.environ["TEST_THREADS"]))  # as in the pytest process (tests/conftest.py)

    class KillAt:
        def on_step(self, info):
            if info.step == int(sys.argv[3]):
                os.kill(os.getpid(), signal.SIGKILL)  # no cleanup, no flush: like a power cut

    train(sys.argv[1], sys.argv[4:], out_dir=sys.argv[2], callbacks=[KillAt()])
    """
)


def _killed_run(tmp_path: Path, kill_step: int, overrides=()) -> Path:
    script = tmp_path / "kill.py"
    script.write_text(KILL_SCRIPT)
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT)}
    env.pop("MKL_CBWR")  # the Trainer sets it in deterministic mode
    env["TEST_THREADS"] = str(torch.get_num_threads())
    done = subprocess.run(
        [sys.executable, str(script), str(TINY), str(out), str(kill_step), *FAST, *overrides],
        env=env, capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == -signal.SIGKILL, done.stderr
    return out


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("reference")
    _train(out)
    return out


def test_sigkill_then_resume_is_bitwise_identical(tmp_path, reference_run):
    out = _killed_run(tmp_path, kill_step=13)
    assert [s for s, _ in list_checkpoints(out / "checkpoints")][-1] == 10  # killed between checkpoints
    result = _train(out, resume=True)
    assert result.step == 24
    _assert_bitwise_equal(_final_weights(out), _final_weights(reference_run))
    # metrics.csv holds each step once: rows written after step 10 by the killed run were dropped
    steps = [line.split(",")[0] for line in (out / "metrics.csv").read_text().splitlines()[1:]
             if ",train,loss," in line]
    assert steps == [str(s) for s in range(1, 25)]


def test_corrupt_newest_checkpoint_is_skipped_with_a_warning(tmp_path, reference_run, caplog):
    out = _killed_run(tmp_path, kill_step=13)
    newest = list_checkpoints(out / "checkpoints")[-1][1]
    weights = newest / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-7])  # truncated
    with caplog.at_level(logging.WARNING):
        _train(out, resume=True)
    assert any(str(newest) in r.getMessage() and "corrupt" in r.getMessage() for r in caplog.records)
    _assert_bitwise_equal(_final_weights(out), _final_weights(reference_run))


def test_in_process_crash_then_resume_stateful_mode_is_identical(tmp_path):
    # stateful TBPTT: the carried hidden state and the window position must come back from the checkpoint
    stateful = ["task_options.mode=stateful", "task_options.seq_len=8"]
    reference = tmp_path / "reference"
    _train(reference, stateful)

    class Crash:
        def on_step(self, info):
            if info.step == 12:
                raise KeyboardInterrupt

    crashed = tmp_path / "crashed"
    result = _train(crashed, stateful, callbacks=[Crash()])
    assert result.stopped == "interrupted" and result.step == 12
    step, checkpoint = list_checkpoints(crashed / "checkpoints")[-1]
    assert step == 12  # Ctrl-C writes a checkpoint of the last completed step (the periodic one was at 10)
    state = torch.load(checkpoint / "state.pt", weights_only=True)
    assert isinstance(state["carried_state"], tuple) and state["carried_state"][0].shape[1] == 8
    _train(crashed, stateful, resume=True)
    _assert_bitwise_equal(_final_weights(crashed), _final_weights(reference))


def test_interrupt_inside_a_step_checkpoints_the_last_completed_step(tmp_path, reference_run):
    class InterruptDuringStep14:  # the task's step raises, as Ctrl-C would in the middle of forward/backward
        def __init__(self, task):
            self.task, self.calls = task, 0

        def __getattr__(self, name):
            return getattr(self.task, name)

        def step(self, model, batch, state):
            self.calls += model.training  # training steps only, not validation batches
            if self.calls == 14:
                raise KeyboardInterrupt
            return self.task.step(model, batch, state)

    run = load_run(TINY, FAST)
    result = Trainer(InterruptDuringStep14(run.task), run.config, out_dir=tmp_path).fit()
    assert (result.stopped, result.step) == ("interrupted", 13)
    assert list_checkpoints(tmp_path / "checkpoints")[-1][0] == 13
    _train(tmp_path, resume=True)
    _assert_bitwise_equal(_final_weights(tmp_path), _final_weights(reference_run))


def test_max_time_stops_cleanly_with_a_checkpoint(tmp_path):
    result = _train(tmp_path, ["max_time_s=0.000001"])
    assert (result.stopped, result.step) == ("max_time", 1)
    assert list_checkpoints(tmp_path / "checkpoints")[-1][0] == 1
    assert result.metrics  # validated at the stop, as at the last step


def test_a_callback_can_stop_training(tmp_path):
    from rnnkit.training import StopTraining

    class StopAt7:
        def on_step(self, info):
            if info.step == 7:
                raise StopTraining("enough")

    result = _train(tmp_path, callbacks=[StopAt7()])
    assert (result.stopped, result.step) == ("enough", 7)
    assert list_checkpoints(tmp_path / "checkpoints")[-1][0] == 7


def test_resume_refuses_a_model_of_another_shape(tmp_path):
    _train(tmp_path, ["max_steps=5"])
    with pytest.raises(ValueError, match=r"another shape.*task_options\.hidden_size: 24 \(checkpoint\) vs 32 \(now\)"):
        _train(tmp_path, ["max_steps=10", "task_options.hidden_size=32"], resume=True)


def test_existing_run_folder_needs_resume(tmp_path):
    _train(tmp_path, ["max_steps=5"])
    with pytest.raises(ValueError, match="already holds checkpoints; pass resume=True"):
        _train(tmp_path, ["max_steps=5"])


def test_keeps_last_n_and_the_best(tmp_path):
    result = _train(tmp_path, ["checkpoint.keep_last=2"])
    steps = [s for s, _ in list_checkpoints(tmp_path / "checkpoints")]
    assert steps[-2:] == [20, 24]
    assert result.best_step in steps and len(steps) <= 3


class _ExplodingTask:
    """Wraps the toy task; from step `at` on, the loss (or one parameter's gradient) becomes non-finite."""

    def __init__(self, at: int, where: str) -> None:
        self.inner = build_task("toy_lm", {"batch_size": 4, "seq_len": 8, "train_documents": 40}, seed=0)
        self.at, self.where, self.calls = at, where, 0

    def build_model(self) -> nn.Module:
        return self.inner.build_model()

    def train_batches(self, epoch):
        return self.inner.train_batches(epoch)

    def val_batches(self):
        return self.inner.val_batches()

    def step(self, model, batch, state) -> StepOutput:
        out = self.inner.step(model, batch, state)
        if model.training:
            self.calls += 1
            if self.calls >= self.at:
                if self.where == "loss":
                    return StepOutput(out.loss * float("nan"), out.count, out.state)
                model.head.bias.register_hook(lambda g: g * float("inf"))
        return out


@pytest.mark.parametrize("where", ["loss", "gradient"])
def test_non_finite_stops_with_step_parameter_and_remedies(tmp_path, where):
    config = RunConfig(max_steps=20, checkpoint=replace(RunConfig().checkpoint, every=3), device="cpu")
    with pytest.raises(TrainingDiverged) as info:
        Trainer(_ExplodingTask(at=5, where=where), config, out_dir=tmp_path, callbacks=[]).fit()
    message = str(info.value)
    assert "step 5:" in message
    assert ("the loss is nan" in message) if where == "loss" else ("'head.bias'" in message)
    assert "step-00000003" in message and "lower learning rate" in message and "clip_norm" in message
    assert [s for s, _ in list_checkpoints(tmp_path / "checkpoints")] == [3]  # the last good one is kept


def test_early_stopping_on_a_metric(tmp_path):
    # monitoring val_loss with mode "max": a falling loss is "no improvement", so patience runs out
    run = load_run(TINY, [*FAST, "max_steps=200", "validation.every=2", "validation.monitor=val_loss",
                          "validation.mode=max", "validation.patience=2", "optimizer.lr=0.05"])
    result = Trainer(run.task, run.config, out_dir=tmp_path, callbacks=[]).fit()
    assert result.stopped == "early_stopping" and result.step < 200


def test_plain_log_lines_when_not_a_terminal(caplog):
    run = load_run(TINY, ["max_steps=6", "validation.every=3", "checkpoint.every=100"])
    with caplog.at_level(logging.INFO, logger="rnnkit.training"):
        Trainer(run.task, run.config, callbacks=[LogProgress(log_every=2)]).fit()
    lines = [r.getMessage() for r in caplog.records]
    assert any(line.startswith("step 2/6 epoch 0 loss ") and "items/s" in line and "eta" in line for line in lines)
    assert any(line.startswith("step 3 validation val_loss ") for line in lines)
    assert any("stopped at step 6 (max_steps)" in line for line in lines)


def test_metrics_csv_has_pre_clip_norm_every_step(tmp_path):
    _train(tmp_path, ["max_steps=4", "clip_norm=1e-6"])
    rows = [line.split(",") for line in (tmp_path / "metrics.csv").read_text().splitlines()]
    assert rows[0] == ["step", "epoch", "split", "name", "value"]
    norms = [float(r[4]) for r in rows[1:] if r[3] == "grad_norm"]
    assert len(norms) == 4 and all(n > 1e-3 for n in norms)  # measured before clipping to 1e-6


def test_gradient_accumulation_equals_a_batch_twice_as_large():
    # two batches of 4 rows with equal counts: the mean of the two means is the mean over 8 rows
    def run(batch_size: int, grad_accum: int) -> nn.Module:
        config = load_config(TINY, RunConfig, ["max_steps=1", f"grad_accum={grad_accum}", "validation.every=0",
                                               "optimizer.name=sgd", "optimizer.lr=0.5", "clip_norm=null",
                                               f"task_options.batch_size={batch_size}"])
        task = build_task(config.task, config.task_options, seed=0)
        trainer = Trainer(task, config, callbacks=[])
        trainer.fit()
        return trainer.model

    torch.manual_seed(0)
    big, accumulated = run(8, 1), run(4, 2)
    for (name, a), (_, b) in zip(big.named_parameters(), accumulated.named_parameters(), strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6, msg=name)


def test_bf16_autocast_runs():
    run = load_run(TINY, ["max_steps=2", "precision=bf16", "validation.every=0"])
    result = Trainer(run.task, run.config, callbacks=[]).fit()
    assert result.step == 2


SLOW_SCRIPT = textwrap.dedent(
    """
    import os, sys, time
    import torch
    from rnnkit.training import train

    torch.set_num_threads(int(os.environ["TEST_THREADS"]))

    class Slow:  # spread the run out so a kill can land anywhere, checkpoint writes included
        def on_step(self, info):
            time.sleep(0.01)

    train(sys.argv[1], sys.argv[3:], out_dir=sys.argv[2], callbacks=[Slow()])
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(4))
def test_sigkill_at_a_random_moment_then_resume_is_identical(tmp_path, reference_run, seed):
    import random
    import time

    script = tmp_path / "slow.py"
    script.write_text(SLOW_SCRIPT)
    out = tmp_path / "killed"
    env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE", "PYTHONPATH": str(ROOT), "TEST_THREADS": str(torch.get_num_threads())}
    env.pop("MKL_CBWR")
    process = subprocess.Popen([sys.executable, str(script), str(TINY), str(out), *FAST], env=env)
    while not list_checkpoints(out / "checkpoints") and process.poll() is None:
        time.sleep(0.005)
    time.sleep(random.Random(seed).uniform(0.0, 0.2))
    process.send_signal(signal.SIGKILL)
    process.wait()
    _train(out, resume=True)
    _assert_bitwise_equal(_final_weights(out), _final_weights(reference_run))


def test_rich_progress_bar_on_a_terminal():
    import io

    from rich.console import Console

    from rnnkit.training.progress import RichProgress

    text = io.StringIO()
    run = load_run(TINY, ["max_steps=4", "validation.every=2", "checkpoint.every=100"])
    with RichProgress(4, console=Console(file=text, force_terminal=True, width=160)) as bar:
        Trainer(run.task, run.config, callbacks=[bar]).fit()
    output = text.getvalue()
    assert "4/4" in output and "items/s" in output and "val_loss" in output


PRE_RECIPE = Path(__file__).parent / "fixtures" / "pre_recipe_run"
# the run that wrote the fixture (before the Trainer became a recipe, commit 324515e), with one thread:
#   OMP_NUM_THREADS=1 rnnkit train configs/tiny.yaml --out RUN --set max_steps=20 --set validation.every=5 \
#     --set task_options.mode=stateful --set task_options.seq_len=8 --set checkpoint.keep_last=10
# fixtures/pre_recipe_run holds its step-10 checkpoint, its metrics.csv (up to step 20) and its step-20 weights.
PRE_RECIPE_OVERRIDES = ["max_steps=20", "validation.every=5", "task_options.mode=stateful",
                        "task_options.seq_len=8", "checkpoint.keep_last=10"]


def test_a_checkpoint_of_the_previous_trainer_resumes_and_finishes(tmp_path):
    import shutil

    out = tmp_path / "run"
    shutil.copytree(PRE_RECIPE / "checkpoints", out / "checkpoints")
    shutil.copy(PRE_RECIPE / "metrics.csv", out / "metrics.csv")
    run = load_run(TINY, PRE_RECIPE_OVERRIDES)
    result = Trainer(run.task, run.config, out_dir=out, resume=True, callbacks=[]).fit()
    assert (result.step, result.stopped) == (20, "max_steps")
    # the old run's own step-20 weights: the optimizer, schedule, data position, carried TBPTT state and RNG
    # states all came back from the old checkpoint (a tolerance: the fixture may come from another CPU)
    expected = safetensors.torch.load_file(PRE_RECIPE / "final_step20.safetensors")
    found = _final_weights(out)
    assert found.keys() == expected.keys()
    for name in expected:
        torch.testing.assert_close(found[name], expected[name], rtol=1e-5, atol=1e-6, msg=name)
    old = (PRE_RECIPE / "metrics.csv").read_text().splitlines()
    new = (out / "metrics.csv").read_text().splitlines()
    assert new[0] == old[0] and [r.split(",")[:4] for r in new] == [r.split(",")[:4] for r in old]
