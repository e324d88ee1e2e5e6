"""Validation cross-entropy of a trained language model: what `rnnkit eval RUN_OR_BUNDLE` reports.

    from rnnkit.models.evaluate import evaluate_lm
    result = evaluate_lm("runs/demo/bundle")   # or a run folder holding checkpoints/
    print(result.nats_per_token, result.bits_per_token, result.perplexity)

The validation data is rebuilt from the task name and options stored with the run (a bundle keeps its
run config), so it is exactly the split the model was validated on during training.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

import torch

from rnnkit.config import from_dict


class Evaluation(NamedTuple):
    nats_per_token: float  # mean cross-entropy of the validation tokens (characters for char models)
    bits_per_token: float  # nats / ln 2 (bits per character for char models)
    perplexity: float  # exp(nats)
    task: str
    source: Path  # the bundle or checkpoint evaluated
    step: int | None  # the training step of the checkpoint, when known


def evaluate_lm(path: str | Path, *, device: str = "cpu") -> Evaluation:
    """Evaluate a bundle folder (rnnkit.bundle, written with a ``run_config`` extra) or a run folder."""
    from rnnkit.bundle import BUNDLE_FILE
    from rnnkit.bundle import load as load_bundle
    from rnnkit.training.checkpoint import latest_checkpoint
    from rnnkit.training.config import RunConfig
    from rnnkit.training.registry import build_task
    from rnnkit.training.task import HasTokenizer
    from rnnkit.training.trainer import evaluate

    path = Path(path)
    if (path / BUNDLE_FILE).is_file() or path.name == BUNDLE_FILE:
        bundle = load_bundle(path, device=device)
        if "run_config" not in bundle.info:
            raise ValueError(f"evaluate_lm: bundle {bundle.path} has no run_config, so its validation data is unknown")
        config = from_dict(RunConfig, bundle.info["run_config"], source=str(bundle.path / BUNDLE_FILE))
        task = build_task(config.task, config.task_options, seed=config.seed, source=str(bundle.path))
        tokenizer = task.tokenizer if isinstance(task, HasTokenizer) else None
        if tokenizer is not None and tokenizer != bundle.tokenizer:
            raise ValueError(f"evaluate_lm: the task rebuilt from {bundle.path} has another tokenizer than the bundle")
        model, source, step = bundle.model, bundle.path, bundle.info.get("step")
    elif (path / "checkpoints").is_dir() or path.name == "checkpoints":
        directory = path if path.name == "checkpoints" else path / "checkpoints"
        checkpoint = latest_checkpoint(directory, map_location=device)
        if checkpoint is None:
            raise FileNotFoundError(f"evaluate_lm: no usable checkpoint in {directory}")
        config = from_dict(RunConfig, checkpoint.meta["config"], source=str(checkpoint.path))
        task = build_task(config.task, config.task_options, seed=config.seed, source=str(checkpoint.path))
        model = task.build_model()
        model.load_state_dict(checkpoint.weights)
        source, step = checkpoint.path, int(checkpoint.meta["step"])
    else:
        raise FileNotFoundError(
            f"evaluate_lm: {path} is neither a model bundle (with {BUNDLE_FILE}) nor a run folder (with checkpoints/)"
        )
    model.to(device)
    metrics = evaluate(task, model, torch.device(device))
    if "val_loss" not in metrics:
        raise ValueError(f"evaluate_lm: task {config.task!r} has no validation data")
    nats = metrics["val_loss"]
    return Evaluation(nats, nats / math.log(2), math.exp(nats), config.task, source, step)
