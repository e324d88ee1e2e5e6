r"""Vanishing and exploding gradients, made measurable.

`gradient_flow(model, batch)` returns ‖∂L/∂h_t‖ for every time step t and every layer of every recurrent
layer (RNN/LSTM/GRU, torch.nn or rnnkit) inside `model`, plus the gradient norm of every parameter.

How: a fused layer computes all steps in one kernel, so its per-step hidden states are not tensors autograd
can report on. For the duration of the call each recurrent layer's `forward` is replaced by a loop of
single steps that runs the stack layer by layer: torch's cell (`nn.LSTMCell`, `nn.GRUCell`, `nn.RNNCell`,
built on the meta device, so no memory and no random numbers) is applied with the layer's own parameters
through `torch.func.functional_call`, and every h_t calls `retain_grad()`. After `loss.backward()`,
`h_t.grad` is ∂L/∂h_t: the gradient reaching step t through later steps and upper layers. The stepped
forward computes the same function as the layer (same equations and parameters); the original `forward`
is restored afterwards, even on error.

For a loss at the last step only, the norm against the distance T - 1 - t from the loss decays like a
product of Jacobians ∏ ∂h_{k+1}/∂h_k: geometrically for an Elman RNN whose recurrent Jacobian has norm
< 1 (Bengio et al. 1994; Pascanu et al. 2013, arXiv:1211.5063 §2), much slower through an LSTM's
additive cell path (Hochreiter & Schmidhuber 1997). With a loss at every step (a language model) every
h_t also receives its own step's gradient, so the curve flattens; read it as "how much does step t matter".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.func import functional_call

__all__ = ["GradientFlow", "gradient_flow", "last_step_loss", "plot_gradient_flow", "default_plot_path", "diagnose"]

_CELLS = {"LSTM": nn.LSTMCell, "GRU": nn.GRUCell, "RNN_TANH": nn.RNNCell, "RNN_RELU": nn.RNNCell}


class GradientFlow(NamedTuple):
    hidden: dict[str, Tensor]  # "rnn.l0" -> (T,) ‖∂L/∂h_t‖ over the batch, for t = 0 .. T-1
    parameters: dict[str, float]  # parameter name -> ‖∂L/∂θ‖
    loss: float


def _recurrent_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    return [(name, m) for name, m in model.named_modules()
            if getattr(m, "mode", None) in _CELLS and hasattr(m, "weight_hh_l0")]


def _stepped_forward(layer: nn.Module, record: list[list[Tensor]]) -> Callable:
    mode = layer.mode
    if layer.bidirectional or getattr(layer, "proj_size", 0):
        raise ValueError("gradient_flow: expected unidirectional layers without proj_size, got "
                         f"bidirectional={layer.bidirectional}, proj_size={getattr(layer, 'proj_size', 0)}")
    extra = {"nonlinearity": "relu" if mode == "RNN_RELU" else "tanh"} if mode.startswith("RNN") else {}
    cells = [_CELLS[mode](layer.input_size if k == 0 else layer.hidden_size, layer.hidden_size, bias=layer.bias,
                          device="meta", **extra) for k in range(layer.num_layers)]

    def forward(input: Tensor, hx: Any = None, *, lengths: Any = None) -> tuple[Tensor, Any]:
        if lengths is not None or not isinstance(input, Tensor):
            raise ValueError("gradient_flow: expected padded input without lengths= or PackedSequence")
        x = input.transpose(0, 1) if layer.batch_first else input  # (T, B, F)
        unbatched = x.dim() == 2
        if unbatched:
            x = x.unsqueeze(1)
        steps, batch = x.shape[:2]
        zeros = x.new_zeros(layer.num_layers, batch, layer.hidden_size)
        if mode == "LSTM":
            h0, c0 = (zeros, zeros) if hx is None else hx
        else:
            h0, c0 = (zeros if hx is None else hx), None
        if unbatched and hx is not None:
            h0 = h0.unsqueeze(1)
            c0 = None if c0 is None else c0.unsqueeze(1)
        h_n, c_n = [], []
        for k, cell in enumerate(cells):
            params = {"weight_ih": getattr(layer, f"weight_ih_l{k}"), "weight_hh": getattr(layer, f"weight_hh_l{k}")}
            if layer.bias:
                params.update(bias_ih=getattr(layer, f"bias_ih_l{k}"), bias_hh=getattr(layer, f"bias_hh_l{k}"))
            h, c = h0[k], None if c0 is None else c0[k]
            outputs = []
            for t in range(steps):
                if mode == "LSTM":
                    h, c = functional_call(cell, params, (x[t], (h, c)))
                else:
                    h = functional_call(cell, params, (x[t], h))
                if h.requires_grad:
                    h.retain_grad()
                record[k].append(h)
                outputs.append(h)
            x = torch.stack(outputs)  # T x (B, H) -> (T, B, H)
            if k < layer.num_layers - 1 and layer.dropout and layer.training:
                x = F.dropout(x, layer.dropout, training=True)
            h_n.append(h)
            c_n.append(c)
        output = x.squeeze(1) if unbatched else (x.transpose(0, 1) if layer.batch_first else x)
        h_n = torch.stack(h_n)
        if unbatched:
            h_n = h_n.squeeze(1)
        if mode == "LSTM":
            c_n = torch.stack(c_n)
            return output, (h_n, c_n.squeeze(1) if unbatched else c_n)
        return output, h_n

    return forward


def last_step_loss(model: nn.Module, batch: Any) -> Tensor:
    """Cross-entropy of the last position only: the loss that makes "distance from the loss" literal."""
    return _default_loss(model, batch, last_only=True)


def _default_loss(model: nn.Module, batch: Any, last_only: bool = False) -> Tensor:
    if not (isinstance(batch, (tuple, list)) and len(batch) == 2):
        raise TypeError("gradient_flow: without loss_fn, expected batch = (inputs, targets) and a model returning "
                        f"logits (B, T, V); got a {type(batch).__name__}; pass loss_fn(model, batch) -> loss")
    inputs, targets = batch
    out = model(inputs)
    logits = out[0] if isinstance(out, tuple) else out
    if last_only:
        return F.cross_entropy(logits[:, -1], targets[:, -1])  # (B, V), (B,)
    return F.cross_entropy(logits.flatten(0, -2), targets.flatten())


def gradient_flow(
    model: nn.Module, batch: Any, loss_fn: Callable[[nn.Module, Any], Tensor] | None = None
) -> GradientFlow:
    """‖∂L/∂h_t‖ for every step and layer of the recurrent layers in `model`, and per-parameter gradient norms.

    Args:
        model: any module containing RNN/LSTM/GRU layers (torch.nn or rnnkit), unidirectional.
        batch: what `loss_fn` takes; by default `(inputs, targets)` with `model(inputs)` -> logits (B, T, V)
            (or a tuple starting with them) and a mean cross-entropy loss.
        loss_fn: `(model, batch) -> scalar loss`, e.g. `lambda m, b: task.step(m, b, None).loss`.

    The model's gradients are zeroed first and left holding this batch's gradients.
    """
    layers = _recurrent_layers(model)
    if not layers:
        raise ValueError("gradient_flow: expected model to contain an RNN, LSTM or GRU layer, found none")
    records = {name: [[] for _ in range(layer.num_layers)] for name, layer in layers}
    model.zero_grad(set_to_none=True)
    try:
        for name, layer in layers:
            layer.forward = _stepped_forward(layer, records[name])  # instance attribute shadows the method
        loss = (loss_fn or _default_loss)(model, batch)
        loss.backward()
    finally:
        for _, layer in layers:
            layer.__dict__.pop("forward", None)
    hidden = {}
    for name, per_layer in records.items():
        for k, states in enumerate(per_layer):
            norms = [torch.zeros(()) if h.grad is None else h.grad.detach().double().norm().cpu() for h in states]
            hidden[f"{name}.l{k}" if name else f"l{k}"] = torch.stack(norms) if norms else torch.zeros(0)
    parameters = {n: float(p.grad.detach().double().norm()) for n, p in model.named_parameters() if p.grad is not None}
    return GradientFlow(hidden, parameters, float(loss.detach()))


def plot_gradient_flow(flow: GradientFlow, path: str | Path, title: str = "") -> Path:
    """Save a PNG: ‖∂L/∂h_t‖ against distance from the end (log scale), and per-parameter gradient norms.

    Needs matplotlib (`pip install rnnkit[plot]`).
    """
    from rnnkit.plotting import pyplot

    plt = pyplot("plot_gradient_flow")
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name, norms in flow.hidden.items():
        distance = torch.arange(norms.numel() - 1, -1, -1)  # T - 1 - t
        left.plot(distance.numpy(), norms.clamp_min(1e-30).numpy(), label=name)
    left.set_yscale("log")
    left.set_xlabel("distance from the last step (T - 1 - t)")
    left.set_ylabel("‖∂L/∂h_t‖")
    left.legend()
    left.set_title("gradient reaching each step")
    names = list(flow.parameters)
    right.barh(range(len(names)), [max(flow.parameters[n], 1e-30) for n in names])
    right.set_yticks(range(len(names)), names, fontsize=7)
    right.set_xscale("log")
    right.set_xlabel("‖∂L/∂θ‖")
    right.set_title("gradient norm per parameter")
    figure.suptitle(title or f"loss {flow.loss:.4f}")
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def default_plot_path(config_path: str | Path) -> Path:
    """Where `diagnose` writes its plot without `out`: runs/<config stem>/gradient-flow.png, the run folder
    that `rnnkit train` uses for the same config."""
    return Path("runs") / Path(config_path).stem / "gradient-flow.png"


def diagnose(
    config_path: str | Path, overrides: Sequence[str] = (), *, out: str | Path | None = None, loss: str = "task"
) -> GradientFlow:
    """Build the run's task and model (seeded, untrained), take its first training batch, measure the
    gradient flow and save the plot to `out` (default: runs/<config stem>/gradient-flow.png). What
    `rnnkit diagnose` calls.

    loss: "task" uses the task's own loss (`task.step`); "last" the cross-entropy of the last position
    only (needs batches `(inputs, targets)` and a model returning logits first), which shows how the
    gradient decays with the distance from the loss.
    """
    if loss not in ("task", "last"):
        raise ValueError(f"diagnose: expected loss 'task' or 'last', got {loss!r}")
    from rnnkit.training.run import load_run
    from rnnkit.training.trainer import seed_everything

    run = load_run(config_path, overrides)
    seed_everything(run.config.seed)
    model = run.task.build_model()
    model.train()
    batch = next(iter(run.task.train_batches(0)))
    if loss == "last":
        flow = gradient_flow(model, batch, last_step_loss)
    else:
        flow = gradient_flow(model, batch, lambda m, b: run.task.step(m, b, None).loss)
    out = Path(out) if out is not None else default_plot_path(config_path)
    title = f"{Path(config_path).name} {' '.join(overrides)} (loss: {loss})"
    plot_gradient_flow(flow, out, title=title)
    return flow
