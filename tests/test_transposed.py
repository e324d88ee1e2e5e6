import io

import pytest
import torch
import torch.nn.functional as F

from rnnkit.transposed import linear, transposed


@pytest.fixture
def weight():
    torch.manual_seed(0)
    return torch.nn.Parameter(torch.randn(12, 5))


def test_training_gets_the_view_and_its_gradient(weight):
    view = transposed(weight)
    assert view.data_ptr() == weight.data_ptr() and not view.is_contiguous()
    x = torch.randn(3, 5)
    linear(x, weight).sum().backward()
    torch.testing.assert_close(weight.grad, torch.ones(3, 12).t() @ x)


def test_inference_gets_a_contiguous_copy_made_once(weight):
    with torch.no_grad():
        first, second = transposed(weight), transposed(weight)
    assert first is second and first.is_contiguous() and first.data_ptr() != weight.data_ptr()
    torch.testing.assert_close(first, weight.t())


def test_an_in_place_update_refreshes_the_copy(weight):
    optimizer = torch.optim.SGD([weight], lr=0.1)
    with torch.no_grad():
        before = transposed(weight).clone()
    weight.sum().backward()
    optimizer.step()  # weight -= 0.1 in place: the version counter moves
    with torch.no_grad():
        after = transposed(weight)
        torch.testing.assert_close(after, before - 0.1)
        weight.copy_(torch.zeros_like(weight))
        assert transposed(weight).abs().sum() == 0


def test_inference_linear_matches_torch(weight):
    bias = torch.randn(12)
    x = torch.randn(2, 7, 5)
    with torch.no_grad():
        torch.testing.assert_close(linear(x, weight, bias), F.linear(x, weight, bias))
        torch.testing.assert_close(linear(x[0, 0], weight), F.linear(x[0, 0], weight))


def test_frozen_weight_still_passes_the_gradient_to_the_input():
    weight = torch.randn(4, 3)  # requires_grad=False: the cached copy is used with grad enabled
    x = torch.randn(2, 3, requires_grad=True)
    linear(x, weight).sum().backward()
    torch.testing.assert_close(x.grad, torch.ones(2, 4) @ weight)


def test_the_cache_stays_out_of_saved_modules():
    layer = torch.nn.Linear(5, 12)
    with torch.no_grad():
        linear(torch.randn(1, 5), layer.weight, layer.bias)
    buffer = io.BytesIO()
    torch.save(layer, buffer)
    assert set(layer.state_dict()) == {"weight", "bias"}
    loaded = torch.load(io.BytesIO(buffer.getvalue()), weights_only=False)
    assert not vars(loaded.weight)


def test_a_copy_made_in_inference_mode_serves_a_frozen_weight_in_training_later():
    weight = torch.randn(4, 3)  # frozen: training with grad enabled may use the cached copy
    with torch.inference_mode():
        linear(torch.randn(1, 3), weight)
    x = torch.randn(2, 3, requires_grad=True)
    linear(x, weight).sum().backward()  # an inference tensor here could not be saved for backward
    torch.testing.assert_close(x.grad, torch.ones(2, 4) @ weight)
