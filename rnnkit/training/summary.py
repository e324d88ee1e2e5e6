"""`rnnkit summary CONFIG.yaml`: parameters per layer, FLOPs per token and per step, a memory estimate.

FLOPs are counted from closed forms (a multiply-add is 2 FLOPs), forward pass, per token:

    RNN/LSTM/GRU layer k:  2 * G * H * (H_in_k + H)  (+ 2 * H_out * H for proj_size), G = 1, 4, 3 gates
                           (input projection and recurrent matmul; the elementwise gate arithmetic is ignored)
    Linear:                2 * in_features * out_features
    Embedding:             0 (a lookup)

A training step costs about 3x the forward pass (backward = 2x forward for matmuls), times the items
(tokens) in a step. `tests/training/test_summary.py` checks the forward count against
`torch.utils.flop_counter.FlopCounterMode` on rnnkit's loop backend (the fused kernels are invisible to it).

Memory estimate for training, float32 unless the parameters say otherwise: parameters + gradients +
optimizer state (Adam/AdamW 2 tensors per parameter, SGD with momentum 1, RMSprop 1 or 2) + the
activations autograd keeps for one batch, measured by `torch.autograd.graph.saved_tensors_hooks` during a
real forward pass of the task's first batch (unique storages only).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn

from rnnkit.training.config import RunConfig

__all__ = ["LayerRow", "ModelSummary", "summarize_model", "summarize"]

_GATES = {"LSTM": 4, "GRU": 3, "RNN_TANH": 1, "RNN_RELU": 1}


class LayerRow(NamedTuple):
    name: str
    kind: str  # the module's class name
    parameters: int
    flops_per_token: int  # forward


class ModelSummary(NamedTuple):
    layers: list[LayerRow]
    parameters: int
    flops_per_token: int  # forward pass
    items_per_step: int  # from the task's first batch times grad_accum
    train_flops_per_step: int  # ~3 x forward x items per step
    memory_bytes: dict[str, int]  # parameters, gradients, optimizer, activations, total


def _recurrent_flops(module: nn.Module) -> int:
    gates, hidden = _GATES[module.mode], module.hidden_size
    projection = getattr(module, "proj_size", 0) or 0
    out = projection or hidden
    directions = 2 if module.bidirectional else 1
    total = 0
    for k in range(module.num_layers):
        layer_in = module.input_size if k == 0 else out * directions
        total += directions * (2 * gates * hidden * (layer_in + out) + (2 * projection * hidden if projection else 0))
    return total


def _layer_rows(model: nn.Module) -> list[LayerRow]:
    rows = []
    covered: set[str] = set()
    for name, module in model.named_modules():
        if any(name.startswith(prefix + ".") for prefix in covered):
            continue
        own = sum(p.numel() for p in module.parameters(recurse=False))
        if getattr(module, "mode", None) in _GATES and hasattr(module, "weight_hh_l0"):
            rows.append(LayerRow(name, type(module).__name__, sum(p.numel() for p in module.parameters()),
                                 _recurrent_flops(module)))
            covered.add(name)
        elif isinstance(module, nn.Linear):
            rows.append(LayerRow(name, "Linear", own, 2 * module.in_features * module.out_features))
        elif own:
            rows.append(LayerRow(name, type(module).__name__, own, 0))
    return rows


def _activation_bytes(run: Any, model: nn.Module, batch: Any) -> int:
    storages: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        run(model, batch)
    return sum(size for pointer, size in storages.items() if pointer not in parameters)


def summarize_model(model: nn.Module, task: Any, config: RunConfig) -> ModelSummary:
    """The summary of `model` trained on `task` with `config` (one forward pass of the first batch)."""
    rows = _layer_rows(model)
    parameters = sum(p.numel() for p in model.parameters())
    forward = sum(r.flops_per_token for r in rows)
    batch = next(iter(task.train_batches(0)))
    outputs: list[Any] = []
    model.train()
    activations = _activation_bytes(lambda m, b: outputs.append(task.step(m, b, None)), model, batch)
    items = outputs[0].count * config.grad_accum
    parameter_bytes = sum(p.numel() * p.element_size() for p in model.parameters())
    slots = {"adam": 2, "adamw": 2, "sgd": 1 if config.optimizer.momentum else 0,
             "rmsprop": 2 if config.optimizer.momentum else 1}[config.optimizer.name]
    memory = {"parameters": parameter_bytes, "gradients": parameter_bytes, "optimizer": slots * parameter_bytes,
              "activations": activations}
    memory["total"] = sum(memory.values())
    return ModelSummary(rows, parameters, forward, items, 3 * forward * items, memory)


def summarize(config_path: str | Path, overrides: Sequence[str] = ()) -> ModelSummary:
    """What `rnnkit summary` calls: build the run's task and model and summarize them."""
    from rnnkit.training.run import load_run
    from rnnkit.training.trainer import seed_everything

    run = load_run(config_path, overrides)
    seed_everything(run.config.seed)
    return summarize_model(run.task.build_model(), run.task, run.config)
