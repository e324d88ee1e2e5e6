"""PyTorch's own test inputs for its recurrent modules (torch.testing._internal.common_modules.module_db, the
samples and error cases of test_modules.py), run through rnnkit's layers and cells beside torch.nn's:
forward and backward numbers, double backward, non-contiguous inputs, pickling, and every error case's
exception class and message."""

import copy
import pickle

import hypothesis
import pytest
import torch
from torch.nn.utils.rnn import PackedSequence

import rnnkit


def _import_module_db():
    """torch.testing._internal on import freezes torch.backends' flags and loads a hypothesis profile of its
    own (10 examples); undo both, so the rest of the suite runs as it would without this file."""
    hypothesis.settings.register_profile("rnnkit-before-torch-testing", hypothesis.settings())
    from torch.testing._internal import common_modules

    hypothesis.settings.load_profile("rnnkit-before-torch-testing")
    torch.backends.flags_frozen.__globals__["__allow_nonbracketed_mutation_flag"] = True  # its module's global
    return common_modules.ModuleErrorEnum, common_modules.module_db


ModuleErrorEnum, module_db = _import_module_db()

OURS = {"RNN": rnnkit.RNN, "GRU": rnnkit.GRU, "LSTM": rnnkit.LSTM, "RNNCell": rnnkit.RNNCell,
        "GRUCell": rnnkit.GRUCell, "LSTMCell": rnnkit.LSTMCell}
INFOS = {info.module_cls.__name__: info for info in module_db if info.module_cls.__name__ in OURS}
LAYERS = ("RNN", "GRU", "LSTM")
# samples whose second derivatives are checked in the parameters as well as the inputs: a bidirectional layer
# with bias and hx (RNN: tanh and relu; LSTM: with and without projection), and each cell
FULL_GRADGRAD = {"RNN": (21, 53), "GRU": (21,), "LSTM": (21, 23), "RNNCell": (0, 2), "GRUCell": (0,),
                 "LSTMCell": (0,)}


def _samples(kind, training=True, requires_grad=True):
    info = INFOS[kind]
    extra = {"with_packed_sequence": True} if kind in ("RNN", "GRU") else {}
    return info.module_inputs_func(info, device="cpu", dtype=torch.float64, requires_grad=requires_grad,
                                   training=training, **extra)


def _cases():
    for kind in OURS:
        backends = ("loop", "auto", "native") if kind in LAYERS else (None,)
        for backend in backends:
            for index in range(len(_samples(kind))):
                yield pytest.param(kind, backend, index, id=f"{kind}-{backend or 'cell'}-{index}")


def _build(kind, backend, sample):
    args, kwargs = sample.constructor_input.args, dict(sample.constructor_input.kwargs)
    torch.manual_seed(0)
    reference = INFOS[kind].module_cls(*args, **kwargs, dtype=torch.float64)
    ours = OURS[kind](*args, **kwargs, dtype=torch.float64, **({"backend": backend} if backend else {}))
    ours.load_state_dict(reference.state_dict())
    return reference, ours


def _tensors(value):
    """The tensors of a nested output or input (tuples, PackedSequence), in order."""
    if isinstance(value, PackedSequence):
        return [value.data]
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (tuple, list)):
        return [t for part in value for t in _tensors(part)]
    return []


def _forward_and_gradients(module, sample):
    args, kwargs = sample.forward_input.args, sample.forward_input.kwargs
    outputs = _tensors(module(*args, **kwargs))
    leaves = list(module.parameters()) + [t for t in _tensors(args) if t.requires_grad]
    loss = sum((out * torch.linspace(-1, 1, out.numel(), dtype=out.dtype).view_as(out)).sum() for out in outputs)
    return outputs, torch.autograd.grad(loss, leaves, allow_unused=True)


@pytest.mark.parametrize("kind,backend,index", list(_cases()))
def test_sample_matches_torch(kind, backend, index):
    for training in (True, False):
        sample = _samples(kind, training)[index]
        reference, ours = _build(kind, backend, sample)
        reference.train(training), ours.train(training)
        expected, expected_grads = _forward_and_gradients(reference, sample)
        actual, actual_grads = _forward_and_gradients(ours, sample)
        for a, e in zip(actual, expected, strict=True):
            torch.testing.assert_close(a, e, rtol=1e-9, atol=1e-11)
        for a, e in zip(actual_grads, expected_grads, strict=True):
            torch.testing.assert_close(a, e, rtol=1e-9, atol=1e-11)


def _gradgrad_cases():
    """The loop backend and the cells (auto and native run torch's kernels on these multi-step samples), on the
    samples with bias and a plain tensor input (a PackedSequence is not a tensor gradgradcheck can perturb)."""
    for case in _cases():
        kind, backend, index = case.values
        sample = _samples(kind)[index]
        if backend in ("auto", "native") or sample.constructor_input.kwargs.get("bias") is False:
            continue
        if not any(isinstance(a, PackedSequence) for a in sample.forward_input.args):
            yield case


@pytest.mark.parametrize("kind,backend,index", list(_gradgrad_cases()))
def test_sample_gradgradcheck(kind, backend, index):
    """test_modules.py's test_gradgrad: second derivatives in the inputs (and on a few samples the parameters)."""
    sample = _samples(kind)[index]
    _, ours = _build(kind, backend, sample)
    args = sample.forward_input.args
    inputs = [t.detach().requires_grad_(True) for t in _tensors(args)]
    parameters = [p.detach().requires_grad_(True) for p in ours.parameters()]
    names = [name for name, _ in ours.named_parameters()]

    def function(*flat):  # the inputs and the parameters, as one flat tuple of tensors
        xs, ps = flat[: len(inputs)], flat[len(inputs):]
        state = dict(zip(names, ps, strict=True))
        return tuple(_tensors(torch.func.functional_call(ours, state, tuple(_restructure(args, xs)))))

    if index in FULL_GRADGRAD.get(kind, ()):  # in the parameters too: slow, so on a few samples only
        assert torch.autograd.gradgradcheck(function, (*inputs, *parameters), check_batched_grad=False)
    # without torch.func, through the hand-derived backward's autograd path, and with batched gradients (vmap)
    assert torch.autograd.gradgradcheck(lambda *xs: tuple(_tensors(ours(*_restructure(args, xs)))), tuple(inputs),
                                        check_batched_grad=True)


def _restructure(args, flat):
    """The forward's arguments rebuilt from a flat tuple of tensors (hx may be a tuple)."""
    flat = list(flat)
    return [flat.pop(0) if isinstance(a, torch.Tensor) else tuple(flat.pop(0) for _ in a) for a in args]


@pytest.mark.parametrize("kind", list(OURS))
def test_non_contiguous_inputs_pickle_and_copy(kind):
    """test_modules.py's test_non_contiguous_tensors and test_pickle, on every sample."""
    for sample in _samples(kind, requires_grad=False):
        args = sample.forward_input.args
        if any(isinstance(a, PackedSequence) for a in args):
            continue
        _, ours = _build(kind, "loop" if kind in LAYERS else None, sample)
        expected = _tensors(ours(*args))

        def strided(t):  # the same values, every other element of a twice-as-wide buffer
            wide = torch.empty(*t.shape[:-1], 2 * t.shape[-1], dtype=t.dtype)
            wide[..., ::2] = t
            return wide[..., ::2]

        non_contiguous = [strided(a) if isinstance(a, torch.Tensor) else tuple(strided(t) for t in a) for a in args]
        assert not _tensors(non_contiguous)[0].is_contiguous()
        for a, e in zip(_tensors(ours(*non_contiguous)), expected, strict=True):
            torch.testing.assert_close(a, e, rtol=0, atol=0)
        for clone in (pickle.loads(pickle.dumps(ours)), copy.deepcopy(ours)):
            for a, e in zip(_tensors(clone(*args)), expected, strict=True):
                torch.testing.assert_close(a, e, rtol=0, atol=0)


def _error_cases():
    for kind in OURS:
        info = INFOS[kind]
        for index, _ in enumerate(info.module_error_inputs_func(info, device="cpu", dtype=torch.float32,
                                                                requires_grad=False, training=True)):
            yield pytest.param(kind, index, id=f"{kind}-{index}")


@pytest.mark.parametrize("kind,index", list(_error_cases()))
def test_error_inputs_raise_torchs_class_and_message(kind, index):
    """test_modules.py's test_errors: the same exception class, and torch's regular expression matches."""
    info = INFOS[kind]
    case = info.module_error_inputs_func(info, device="cpu", dtype=torch.float32, requires_grad=False,
                                         training=True)[index]
    sample = case.module_error_input
    constructor = sample.constructor_input
    with pytest.raises(case.error_type, match=case.error_regex):
        module = OURS[kind](*constructor.args, **constructor.kwargs)
        assert case.error_on == ModuleErrorEnum.FORWARD_ERROR, "construction should have failed"
        module(*sample.forward_input.args, **sample.forward_input.kwargs)
