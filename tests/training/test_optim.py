"""Clipping against torch.nn.utils, schedules against their closed forms, optimizers by name."""

from __future__ import annotations

import math

import pytest
import torch

from rnnkit.training.config import OptimizerConfig, ScheduleConfig
from rnnkit.training.optim import Plateau, build_optimizer, clip_gradients, grad_norm, lr_factor


def _params_with_grads(seed: int) -> list[torch.nn.Parameter]:
    generator = torch.Generator().manual_seed(seed)
    params = [torch.nn.Parameter(torch.randn(shape, generator=generator)) for shape in [(3, 4), (5,), (2, 2, 2)]]
    for p in params:
        p.grad = 3 * torch.randn(p.shape, generator=generator)
    return params


def _clone(params):
    out = [torch.nn.Parameter(p.detach().clone()) for p in params]
    for o, p in zip(out, params, strict=True):
        o.grad = p.grad.clone()
    return out


@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_by_norm_matches_torch(max_norm):
    ours, reference = _params_with_grads(0), None
    reference = _clone(ours)
    norm = grad_norm(ours)
    clip_gradients(ours, max_norm, None, total_norm=norm)
    expected_norm = torch.nn.utils.clip_grad_norm_(reference, max_norm)
    torch.testing.assert_close(norm, expected_norm, rtol=0, atol=0)
    for a, b in zip(ours, reference, strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0)


def test_clip_by_value_then_norm_matches_torch():
    ours = _params_with_grads(1)
    reference = _clone(ours)
    clip_gradients(ours, 2.0, 0.7)
    torch.nn.utils.clip_grad_value_(reference, 0.7)
    torch.nn.utils.clip_grad_norm_(reference, 2.0)
    for a, b in zip(ours, reference, strict=True):
        torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=0)
        assert a.grad.abs().max() <= 0.7


def test_grad_norm_is_global_l2_and_inf_when_a_gradient_is():
    params = _params_with_grads(2)
    expected = math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in params))
    assert float(grad_norm(params)) == pytest.approx(expected, rel=1e-6)
    params[1].grad[0] = float("inf")
    assert not math.isfinite(float(grad_norm(params)))


def test_schedules_closed_forms():
    cosine = ScheduleConfig(name="cosine", warmup_steps=10, min_lr_ratio=0.1)
    assert lr_factor(0, 110, cosine) == pytest.approx(1 / 10)
    assert lr_factor(9, 110, cosine) == pytest.approx(1.0)
    assert lr_factor(10, 110, cosine) == pytest.approx(1.0)
    assert lr_factor(60, 110, cosine) == pytest.approx(0.1 + 0.9 * 0.5)  # half way: cos(pi/2) = 0
    assert lr_factor(110, 110, cosine) == pytest.approx(0.1)
    step = ScheduleConfig(name="step", step_size=5, gamma=0.5)
    assert [lr_factor(s, 100, step) for s in (0, 4, 5, 10, 14)] == [1, 1, 0.5, 0.25, 0.25]
    assert lr_factor(50, 100, ScheduleConfig()) == 1.0


def test_plateau_decays_after_patience_and_round_trips():
    plateau = Plateau(ScheduleConfig(name="plateau", patience=1, gamma=0.5), mode="min", min_delta=0.0)
    for value in [3.0, 2.0, 2.5, 2.4]:  # 2.5: one bad, 2.4: two bad > patience -> decay
        plateau.update(value)
    assert plateau.scale == 0.5
    other = Plateau(ScheduleConfig(name="plateau"), mode="min", min_delta=0.0)
    other.load_state_dict(plateau.state_dict())
    assert other.state_dict() == plateau.state_dict()


@pytest.mark.parametrize(
    "name, cls", [("adam", torch.optim.Adam), ("adamw", torch.optim.AdamW), ("sgd", torch.optim.SGD),
                  ("rmsprop", torch.optim.RMSprop)]
)
def test_optimizers_by_name(name, cls):
    optimizer = build_optimizer([torch.nn.Parameter(torch.zeros(2))], OptimizerConfig(name=name, lr=0.1, momentum=0.5))
    assert type(optimizer) is cls and optimizer.param_groups[0]["lr"] == 0.1
    if name in ("sgd", "rmsprop"):
        assert optimizer.param_groups[0]["momentum"] == 0.5


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_uses_the_fused_update_and_matches_the_reference_one(name):
    torch.manual_seed(0)
    start, grads = torch.randn(5, 3), [torch.randn(5, 3) for _ in range(4)]
    config = OptimizerConfig(name=name, lr=0.01, weight_decay=0.1)
    ours = torch.nn.Parameter(start.clone())
    optimizer = build_optimizer([ours], config)
    assert optimizer.defaults["fused"]
    reference = torch.nn.Parameter(start.clone())
    cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
    plain = cls([reference], lr=0.01, weight_decay=0.1, foreach=False)
    for grad in grads:
        for parameter, opt in ((ours, optimizer), (reference, plain)):
            parameter.grad = grad.clone()
            opt.step()
    torch.testing.assert_close(ours, reference)


def test_set_parameter_groups_splits_the_parameters_and_checks_coverage():
    from rnnkit.training.optim import set_parameter_groups

    first, second = torch.nn.Parameter(torch.zeros(2)), torch.nn.Parameter(torch.zeros(3))
    optimizer = build_optimizer([first, second], OptimizerConfig(name="adam", lr=0.1))
    set_parameter_groups(optimizer, [{"params": [first], "lr_scale": 0.5}, {"params": [second]}])
    assert [g["lr_scale"] for g in optimizer.param_groups] == [0.5, 1.0]
    assert [g["params"] for g in optimizer.param_groups] == [[first], [second]]
    fresh = build_optimizer([first, second], OptimizerConfig(name="adam", lr=0.1))
    with pytest.raises(ValueError, match="parameter_groups: expected every trainable parameter exactly once"):
        set_parameter_groups(fresh, [{"params": [first]}])
