"""A language-model bundle: a folder with everything needed to use a trained model, and nothing else.

    runs/demo/bundle/
        bundle.json        {"format": "rnnkit.lm_bundle", "version": 1, "task": ..., "model_config": {...},
                            "metrics": {...}, "created": ...}
        tokenizer.json     rnnkit.text.Tokenizer.save
        model.safetensors  the weights (safetensors: no pickle, so loading runs no code)

Loading needs no training code and no data. rnnkit/bundle.py is now the project's format (the same
layout plus a weights checksum; it reads these bundles and these functions read its bundles): new code
saves and loads with ``rnnkit.bundle``; ``find_bundles`` below serves both.
"""

from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path
from typing import Any, NamedTuple

from safetensors.torch import load_model, save_model

from rnnkit.models.lm import LanguageModel, LanguageModelConfig
from rnnkit.text.tokenizer import Tokenizer

FORMAT = "rnnkit.lm_bundle"
VERSION = 1
BUNDLE_FILE = "bundle.json"


class Bundle(NamedTuple):
    model: LanguageModel  # in eval mode
    tokenizer: Tokenizer
    info: dict[str, Any]  # bundle.json: task, model_config, metrics, created, ...
    path: Path


def save_bundle(
    path: str | Path, model: LanguageModel, tokenizer: Tokenizer, *, task: str, metrics: dict[str, float] | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write model, tokenizer and metadata into the folder ``path`` (created; files are replaced)."""
    if not isinstance(model, LanguageModel):
        raise TypeError(f"save_bundle: model must be an rnnkit LanguageModel, got {type(model).__name__}")
    if model.config.vocab_size != len(tokenizer):
        raise ValueError(
            f"save_bundle: the model's vocab_size {model.config.vocab_size} differs from the tokenizer's "
            f"size {len(tokenizer)}"
        )
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    tokenizer.save(path / "tokenizer.json")
    save_model(model, str(path / "model.safetensors"))  # handles the tied (shared) weight
    info = {
        "format": FORMAT,
        "version": VERSION,
        "task": task,
        "model_config": dataclasses.asdict(model.config),
        "metrics": dict(metrics or {}),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        **(extra or {}),
    }
    # bundle.json last: a folder with bundle.json is complete
    (path / BUNDLE_FILE).write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def load_bundle(path: str | Path, *, device: str = "cpu") -> Bundle:
    """Load a bundle folder (or its bundle.json) written by :func:`save_bundle`."""
    path = Path(path)
    if path.name == BUNDLE_FILE:
        path = path.parent
    if not (path / BUNDLE_FILE).is_file():
        raise FileNotFoundError(f"load_bundle: {path} is not a model bundle (no {BUNDLE_FILE} in it)")
    info = json.loads((path / BUNDLE_FILE).read_text(encoding="utf-8"))
    if info.get("format") != FORMAT or info.get("version") != VERSION:
        raise ValueError(
            f"load_bundle: {path} has format {info.get('format')!r} version {info.get('version')!r}; "
            f"expected {FORMAT!r} version {VERSION}"
        )
    config = dict(info["model_config"])
    if config.get("adaptive_cutoffs") is not None:
        config["adaptive_cutoffs"] = tuple(config["adaptive_cutoffs"])
    model = LanguageModel(LanguageModelConfig(**config))
    load_model(model, str(path / "model.safetensors"), device=device)
    model.to(device).eval()
    return Bundle(model, Tokenizer.load(path / "tokenizer.json"), info, path)


def find_bundles(root: str | Path = "runs", task: str | None = None) -> list[Path]:
    """Bundle folders under ``root`` (any depth), newest first; only those of ``task`` if given."""
    root = Path(root)
    if not root.is_dir():
        return []
    found = []
    for file in root.rglob(BUNDLE_FILE):
        try:
            info = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if info.get("format") == FORMAT and (task is None or info.get("task") == task):
            found.append(file.parent)
    return sorted(found, key=lambda p: (p / BUNDLE_FILE).stat().st_mtime, reverse=True)
