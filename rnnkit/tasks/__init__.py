"""Sequence classification and tagging tasks for the training engine, each a `task:` name:

* ``sentiment`` (rnnkit.tasks.sentiment): SST-2 and ChnSentiCorp polarity, a BiLSTM/BiGRU classifier.
* ``ner`` (rnnkit.tasks.ner): WNUT-17, Weibo and Resume NER, a BiLSTM-CRF (or softmax) tagger, seqeval F1.
* ``series`` (rnnkit.tasks.series): JapaneseVowels and ItalyPowerDemand, a classifier over numeric sequences.
* ``sentence_lm`` and ``sentiment_transfer`` (rnnkit.tasks.transfer): ULMFiT-style pretraining of a language
  model and its fine-tuning as the encoder of the sentiment classifier.

(The time-series tasks ``forecast`` and ``anomaly_autoencoder``, in rnnkit.timeseries.task, define
``evaluate`` too; ``rnnkit eval BUNDLE`` calls :func:`evaluate_bundle` for every kind but language models
and translation models, which have their own.)

Each task's ``evaluate(model, split)`` scores a split; :func:`evaluate_bundle` rebuilds the task a bundle was
trained with (from the run config stored in bundle.json) and scores the bundle's model on a split:

    from rnnkit.tasks import evaluate_bundle
    evaluate_bundle("runs/sst2/bundle", "test")   # {"accuracy": ..., "macro_f1": ..., "examples": 872.0}
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["evaluate_bundle"]


def evaluate_bundle(path: str | Path, split: str = "test") -> dict[str, float]:
    """Score the bundle at ``path`` on ``split`` ("train", "val" or "test") with the task it was trained on."""
    from rnnkit.bundle import load
    from rnnkit.training.registry import build_task
    from rnnkit.training.task import HasEvaluation, HasTokenizer

    bundle = load(path)
    run = bundle.info.get("run_config")
    if not isinstance(run, dict) or "task" not in run:
        raise ValueError(f"path: expected a bundle written by `rnnkit train` (with run_config in bundle.json), "
                         f"got {path}")
    task = build_task(run["task"], run.get("task_options", {}), seed=run.get("seed", 0), source=str(path))
    if not isinstance(task, HasEvaluation):
        raise ValueError(f"path: the task {run['task']!r} of {path} has no evaluate(model, split)")
    tokenizer = task.tokenizer if isinstance(task, HasTokenizer) else None
    if tokenizer is not None and bundle.tokenizer is not None and tokenizer != bundle.tokenizer:
        raise ValueError(f"path: the task rebuilt from {path}'s run config has another vocabulary than the bundle "
                         "(its data changed since training), so its scores would be meaningless")
    return task.evaluate(bundle.model, split)
