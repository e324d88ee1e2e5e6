"""Weights laid out for the multiply ``x @ W^T``, cached for inference on the CPU.

Every layer here multiplies by a weight stored as torch.nn stores it, (out, in), so the product is
``x @ W.t()``. On the CPU with small batches (decoding, batch 1) that product is a matrix-vector multiply
that streams the whole weight from memory, and torch's kernels stream the (out, in) layout read as
transposed much more slowly than a contiguous (in, out) copy: for the five weights of a 2x512 LSTM
language model (27 MB, more than stays in cache between steps) the copy makes a decoding step's multiplies
more than twice as fast (``benchmarks/generate.py``; the figures are in docs/performance.md and docs/decoding.md).

:func:`transposed` returns ``W.t()`` while autograd may need the weight (training), and otherwise a
contiguous copy of it, made once and reused for as long as the weight is unchanged: the cache is keyed by
the tensor and checked against its storage and its version counter, which every in-place update (an
optimizer step, ``load_state_dict``, ``copy_``) increments. The copy costs the weight's memory once more.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.utils.weak import WeakIdKeyDictionary

__all__ = ["transposed", "linear", "for_inference"]

_CACHE: WeakIdKeyDictionary = WeakIdKeyDictionary()


def for_inference(weight: Tensor) -> bool:
    """Whether a multiply by ``weight`` here may use the cached copy: on the CPU, with no gradient wanted
    for the weight (grad mode off, or a frozen weight). Functions whose forward runs with grad mode off
    (``torch.autograd.Function``) take this from their caller."""
    return weight.device.type == "cpu" and not (torch.is_grad_enabled() and weight.requires_grad)


def transposed(weight: Tensor, *, inference: bool | None = None) -> Tensor:
    """``weight.t()`` for a 2-D weight; in inference on the CPU, a cached contiguous copy of it.

    ``inference`` overrides the test of grad mode, for callers already inside an autograd.Function
    (where grad mode is always off) that know whether the weight needs a gradient.
    """
    if inference is None:
        inference = for_inference(weight)
    if not inference or weight.device.type != "cpu":
        return weight.t()
    key = (weight.data_ptr(), weight._version, weight.shape, weight.dtype)
    cached = _CACHE.get(weight)
    if cached is None or cached[0] != key:
        with torch.inference_mode(False), torch.no_grad():  # a normal tensor even if made in inference mode
            cached = (key, weight.detach().t().contiguous())
        _CACHE[weight] = cached
    return cached[1]


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``F.linear(x, weight, bias)``, through :func:`transposed` in inference on the CPU."""
    if not for_inference(weight) or x.dim() < 1:
        return torch.nn.functional.linear(x, weight, bias)
    flat = x.reshape(-1, x.size(-1))
    weight_t = transposed(weight, inference=True)
    out = flat.mm(weight_t) if bias is None else torch.addmm(bias, flat, weight_t)
    return out.view(*x.shape[:-1], weight.size(0))
