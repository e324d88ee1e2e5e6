"""From a YAML file to a finished run: what `rnnkit train` calls.

    from rnnkit.training import train
    result = train("configs/tiny.yaml", ["max_steps=50"], out_dir="runs/tiny")

is the same as

    config = load_config("configs/tiny.yaml", RunConfig, ["max_steps=50"])
    task = build_task(config.task, config.task_options, seed=config.seed, source="configs/tiny.yaml")
    result = Trainer(task, config, out_dir="runs/tiny").fit()
    save_run_bundle(task, config, result)   # only for tasks that define bundle_parts()

A task that defines ``bundle_parts() -> dict`` (the keyword arguments of rnnkit.bundle.save besides the
model: ``tokenizer``, ``tokenizers``, ``extra``) gets a bundle in ``<out_dir>/bundle`` at the end of
training, from the best validated weights (the last ones without validation), with the run config
stored in it, so ``rnnkit eval``/``predict``/``translate``/``forecast`` can use it.

The run folder is locked from the start of training to the end of the bundle (rnnkit.training.lock): a
second run into the same folder raises RunLockedError (``rnnkit train`` exits with status 2).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

from rnnkit.config import ConfigError, blame_override, load_config, to_dict
from rnnkit.training.config import RunConfig
from rnnkit.training.lock import run_lock
from rnnkit.training.registry import build_task, task_options
from rnnkit.training.task import HasBundle, Task
from rnnkit.training.trainer import FitResult, Trainer

__all__ = ["Run", "load_run", "save_run_bundle", "train"]


class Run(NamedTuple):
    config: RunConfig
    task: Task


def load_run(path: str | Path, overrides: Sequence[str] = ()) -> Run:
    """Read and validate the whole config (task options included) and build the task; no training yet."""
    config = load_config(path, RunConfig, overrides)
    try:
        options = task_options(config.task, config.task_options, source=str(path))
    except ConfigError as error:  # a bad --set task_options.x=... is named as the override, not the file
        raise blame_override(error, str(path), overrides) from None
    return Run(config, build_task(config.task, options, seed=config.seed, source=str(path)))


def train(
    path: str | Path,
    overrides: Sequence[str] = (),
    *,
    out_dir: str | Path | None = None,
    resume: bool = False,
    callbacks: Sequence[Any] | None = None,
) -> FitResult:
    """Train the run described by the YAML file `path`; `out_dir` defaults to runs/<file stem>."""
    run = load_run(path, overrides)
    out_dir = Path("runs") / Path(path).stem if out_dir is None else Path(out_dir)
    trainer = Trainer(run.task, run.config, out_dir=out_dir, resume=resume, callbacks=callbacks)
    with run_lock(out_dir):  # held through the bundle too; a second run into out_dir fails at once
        result = trainer.fit()
        save_run_bundle(run.task, run.config, result, model=trainer.model)
    return result


def save_run_bundle(task: Task, config: RunConfig, result: FitResult, *, model: Any = None) -> Path | None:
    """Write ``<result.out_dir>/bundle`` for a task with ``bundle_parts()``; return its folder (None: no bundle).

    The weights are the best validated checkpoint's when there is one, else ``model``'s (the final weights),
    else the newest checkpoint's. They go into a fresh model from ``task.build_model()`` on the CPU: the
    ``model`` given is left on its device and in its mode.
    """
    if not isinstance(task, HasBundle) or result.out_dir is None:
        return None
    from rnnkit.bundle import save
    from rnnkit.training.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint

    directory = Path(result.out_dir) / "checkpoints"
    best = [path for step, path in list_checkpoints(directory) if step == result.best_step]
    checkpoint = load_checkpoint(best[0]) if best else (None if model is not None else latest_checkpoint(directory))
    if checkpoint is not None:
        weights = checkpoint.weights
    elif model is not None:  # the caller's model: copy its weights and leave it as it is (device, mode)
        weights = {name: tensor.detach().cpu() for name, tensor in model.state_dict().items()}
    else:
        return None
    model = task.build_model()
    model.load_state_dict(weights)
    model = model.cpu().eval()
    kwargs = dict(task.bundle_parts())
    extra = {**kwargs.pop("extra", {}), "run_config": to_dict(config),
             "step": int(checkpoint.meta["step"]) if checkpoint is not None else result.step}
    metrics = dict(result.metrics)  # the last validation's figures, and the best one's monitored value
    if result.best_value is not None:
        metrics[f"best_{config.validation.monitor}"] = result.best_value
    return save(Path(result.out_dir) / "bundle", model, task=config.task, metrics=metrics, extra=extra, **kwargs)
