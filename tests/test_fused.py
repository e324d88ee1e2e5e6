"""rnnkit.fused: the hand-derived backward passes against autograd (the layers' parity tests cover the
LSTM, GRU and Elman recurrences through rnnkit.LSTM/GRU/RNN)."""

import torch

from rnnkit.fused import LinearRecurrence
from rnnkit.scan import parallel_scan_log


def test_linear_recurrence_gradcheck():
    torch.manual_seed(0)
    a = torch.rand(6, 2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(LinearRecurrence.apply, (a, b, h0))


def test_linear_recurrence_equals_the_parallel_log_scan_and_a_python_loop():
    torch.manual_seed(0)
    a = torch.rand(50, 3, 4, dtype=torch.float64)
    b = torch.rand(50, 3, 4, dtype=torch.float64)
    h0 = torch.randn(3, 4, dtype=torch.float64)
    expected, h = [], h0
    for t in range(50):
        h = a[t] * h + b[t]
        expected.append(h)
    actual = LinearRecurrence.apply(a, b, h0)
    torch.testing.assert_close(actual, torch.stack(expected), rtol=0, atol=1e-14)
    torch.testing.assert_close(parallel_scan_log(a.log(), b.log(), h0), actual, rtol=1e-12, atol=1e-12)


# -- second derivatives, batched gradients and torch.func: every backend against torch.nn ------------------

import pytest  # noqa: E402
from torch.autograd import gradgradcheck  # noqa: E402

import rnnkit  # noqa: E402
from rnnkit.fused import transforms_active  # noqa: E402

LAYERS = ("RNN", "LSTM", "GRU")
BACKENDS = ("loop", "auto", "native")


def _pair(kind, backend, **kwargs):
    """torch.nn's layer and rnnkit's with the same float64 weights."""
    torch.manual_seed(0)
    reference = getattr(torch.nn, kind)(3, 4, dtype=torch.float64, **kwargs)
    ours = getattr(rnnkit, kind)(3, 4, dtype=torch.float64, backend=backend, **kwargs)
    ours.load_state_dict(reference.state_dict())
    return reference, ours


def _penalty_gradients(module, x):
    """A gradient penalty (WGAN-GP style): the squared norm of d(output)/dx, differentiated again."""
    x = x.clone().requires_grad_(True)
    (grad_x,) = torch.autograd.grad(module(x)[0].square().sum(), x, create_graph=True)
    grad_x.square().sum().backward()
    return {name: p.grad for name, p in module.named_parameters()}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", LAYERS)
@pytest.mark.parametrize("steps,layers", [(1, 1), (5, 2)])  # one step: auto runs the loop on the CPU
def test_gradient_penalty_matches_torch(kind, backend, steps, layers):
    reference, ours = _pair(kind, backend, num_layers=layers, bidirectional=layers > 1)
    x = torch.randn(steps, 2, 3, dtype=torch.float64)
    expected, actual = _penalty_gradients(reference, x), _penalty_gradients(ours, x)
    for name, grad in expected.items():
        assert actual[name] is not None, f"{name}: no second-order gradient"
        torch.testing.assert_close(actual[name], grad, rtol=1e-7, atol=1e-9, msg=name)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kind", LAYERS)
def test_gradgradcheck_with_lengths_and_state(kind, backend):
    _, ours = _pair(kind, backend, num_layers=2, bidirectional=True)
    x = torch.randn(4, 3, 3, dtype=torch.float64, requires_grad=True)
    h = torch.randn(4, 3, 4, dtype=torch.float64, requires_grad=True)
    hx = (h, torch.randn(4, 3, 4, dtype=torch.float64)) if kind == "LSTM" else h

    def outputs(x, h):
        hx_ = (h, hx[1]) if kind == "LSTM" else h
        out, state = ours(x, hx_, lengths=[4, 2, 3])
        return out, state[0] if kind == "LSTM" else state

    assert gradgradcheck(outputs, (x, h))


@pytest.mark.parametrize("options", [{"layer_norm": True}, {"peephole": True}, {"coupled_gates": True},
                                     {"proj_size": 2}])
def test_gradgradcheck_lstm_variants_and_projection(options):
    torch.manual_seed(0)
    lstm = rnnkit.LSTM(3, 4, dtype=torch.float64, backend="loop", **options)
    x = torch.randn(4, 2, 3, dtype=torch.float64, requires_grad=True)
    assert gradgradcheck(lambda x: lstm(x, lengths=[4, 3])[0], (x,))


def test_gradgradcheck_linear_recurrence():
    torch.manual_seed(0)
    a = torch.rand(5, 2, 3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert gradgradcheck(LinearRecurrence.apply, (a, b, h0))


@pytest.mark.parametrize("kind", LAYERS)
def test_batched_gradients_under_vmap(kind):
    """jacobian(vectorize=True) and grad(is_grads_batched=True) run the backward under vmap."""
    reference, ours = _pair(kind, "loop", bidirectional=True)
    x = torch.randn(4, 2, 3, dtype=torch.float64)
    expected = torch.autograd.functional.jacobian(lambda x: reference(x)[0], x)
    actual = torch.autograd.functional.jacobian(lambda x: ours(x)[0], x, vectorize=True)
    torch.testing.assert_close(actual, expected, rtol=1e-9, atol=1e-12)
    x.requires_grad_(True)
    out = ours(x, lengths=[4, 2])[0]
    basis = torch.eye(out.numel(), dtype=out.dtype).view(-1, *out.shape)[:5]
    (batched,) = torch.autograd.grad(out, x, basis, is_grads_batched=True)
    for row, grad_output in zip(batched, basis, strict=True):
        (single,) = torch.autograd.grad(ours(x, lengths=[4, 2])[0], x, grad_output)
        torch.testing.assert_close(row, single, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("kind", LAYERS)
def test_torch_func_grad_vmap_and_jvp(kind):
    reference, ours = _pair(kind, "loop")
    x = torch.randn(3, 2, 3, dtype=torch.float64)

    def loss(module):
        def f(parameters, x):
            return torch.func.functional_call(module, parameters, (x,))[0].square().sum()
        return f

    parameters = {name: p.detach() for name, p in ours.named_parameters()}
    expected = torch.func.grad(loss(reference))(parameters, x)
    actual = torch.func.grad(loss(ours))(parameters, x)
    for name in expected:
        torch.testing.assert_close(actual[name], expected[name], rtol=1e-9, atol=1e-12, msg=name)
    # vmap over a batch of unbatched sequences equals the batched call
    batch = torch.randn(5, 3, 3, dtype=torch.float64)  # (samples, T, F): each sample is an unbatched (T, F)
    torch.testing.assert_close(torch.func.vmap(lambda s: ours(s)[0])(batch),
                               ours(batch.transpose(0, 1))[0].transpose(0, 1), rtol=1e-9, atol=1e-12)
    # forward-mode AD: the jvp equals the reverse-mode jacobian times the tangent
    tangent = torch.randn_like(x)
    _, jvp = torch.func.jvp(lambda x: ours(x)[0], (x,), (tangent,))
    jacobian = torch.autograd.functional.jacobian(lambda x: reference(x)[0], x)
    torch.testing.assert_close(jvp, (jacobian.flatten(3) @ tangent.flatten()), rtol=1e-9, atol=1e-12)


def test_transforms_active_only_under_transforms():
    x = torch.randn(2, 3)
    assert not transforms_active(x, None)
    assert torch.func.vmap(lambda row: torch.tensor(transforms_active(row)))(x).all()
