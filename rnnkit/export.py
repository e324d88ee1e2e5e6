"""Export recurrent models to ONNX and TorchScript with dynamic batch, dynamic length and a ``lengths`` input.

torch's exporters turn ``torch.nn.LSTM`` into ONNX's LSTM op without ``sequence_lens``, and drop a
PackedSequence: padded batches then give wrong final states. Here every recurrent layer is first replaced by
a TorchScript loop that runs the loop backend's math with masking:

* the input projection for all steps at once, then one step per time step (``for t in range(T)``);
* a row's state stops changing after its length (``h = where(t < length, h', h)``) and its outputs past the
  length are zero, as rnnkit's layers and packed sequences give;
* the reverse direction reads each row reversed *within its length* (a gather with index
  ``length - 1 - t``), and its outputs are put back the same way.

A scripted ``for`` over ``range(T)`` becomes an ONNX ``Loop`` whose trip count is the input's length, so the
graph takes any batch size and any number of steps (a traced Python loop would unroll a fixed T). The rest of
the model (embedding, output layer, adaptive softmax) is traced around it.

The exported language model (:func:`export_bundle`) has these named inputs and outputs::

    tokens  (batch, time) int64      token ids, padded past each row's length (any id)
    lengths (batch,)      int64      valid tokens per row, 1 <= lengths <= time
    h0      (layers*directions, batch, hidden) float32   initial hidden state (zeros to start)
    c0      (layers*directions, batch, hidden) float32   initial cell state: LSTM only
    ->
    logits  (batch, time, vocab) float32   scores (log-probabilities with adaptive softmax); 0 past a length
    h_n, c_n (like h0, c0)                 the state after each row's last valid token (c_n: LSTM only)

One decoding step is the same graph with ``time = 1`` and ``lengths = 1``: feed the token just chosen and the
state that came out, get the next logits and state. Generation therefore runs with onnxruntime alone (see
tests/test_export.py and docs/serving.md).

Example:
    >>> from rnnkit.export import export_bundle
    >>> result = export_bundle("my-model", format="onnx")  # doctest: +SKIP
    >>> result.path, result.inputs, result.max_abs_error    # doctest: +SKIP
"""

from __future__ import annotations

import copy
import logging
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["FORMATS", "ExportResult", "export_bundle", "export_onnx", "export_torchscript", "exportable",
           "lm_io_names", "scripted_layer"]

logger = logging.getLogger(__name__)

FORMATS = ("onnx", "torchscript")
DEFAULT_OPSET = 17
# the largest |ONNX or TorchScript - PyTorch| export_bundle accepts on its check batch, relative to the outputs'
# scale: 1e-5 * max(1, max |PyTorch output|) (float32 rounding grows with the logits' size)
TOLERANCE = 1e-5
INT8_AGREEMENT = 0.9  # int8 ONNX: the least share of check positions whose most probable token must be PyTorch's
QUANTIZE = (None, "int8")


class ExportResult(NamedTuple):
    path: Path  # the file written
    format: str  # "onnx" | "torchscript"
    inputs: list[str]  # graph input names, in order
    outputs: list[str]  # graph output names, in order
    max_abs_error: float  # largest difference to PyTorch on a check batch of mixed lengths
    quantize: str | None = None  # "int8": the file holds int8 weights (onnxruntime's dynamic quantization)
    argmax_agreement: float | None = None  # int8: share of check positions whose most probable token is PyTorch's


# -- the scripted recurrence ------------------------------------------------------------------------------


def _reverse_index(lengths: Tensor, steps: int) -> Tensor:
    """(B,) lengths -> (B, T) time index that reverses each row within its length and keeps padding in place."""
    t = torch.arange(steps, device=lengths.device).unsqueeze(0)  # (1, T)
    last = lengths.unsqueeze(1) - 1  # (B, 1)
    return torch.where(t <= last, last - t, t)


def _gather_time(x: Tensor, index: Tensor) -> Tensor:
    """x (B, T, F), index (B, T) -> x[b, index[b, t]]."""
    return x.gather(1, index.unsqueeze(2).expand(-1, -1, x.size(2)))


class _Direction(nn.Module):
    """One layer and direction: weights as torch names them, and the masked time loop.

    forward: x (B, T, F), mask (B, T, 1) bool, h (B, H), c (B, H; LSTM only, passed through otherwise)
    -> output (B, T, H) zero where mask is False, final h, final c.
    """

    __constants__ = ["relu"]

    def __init__(self, mode: str, weights: list[Tensor | None], hidden_size: int):
        super().__init__()
        weight_ih, weight_hh, bias_ih, bias_hh = (None if w is None else w.detach().clone() for w in weights)
        rows = weight_hh.size(0)
        self.weight_ih = nn.Parameter(weight_ih, requires_grad=False)
        self.weight_hh = nn.Parameter(weight_hh, requires_grad=False)
        zeros = weight_hh.new_zeros(rows)  # bias=False: zero biases give the same math
        self.bias_ih = nn.Parameter(zeros.clone() if bias_ih is None else bias_ih, requires_grad=False)
        self.bias_hh = nn.Parameter(zeros.clone() if bias_hh is None else bias_hh, requires_grad=False)
        self.hidden_size = hidden_size
        self.relu = mode == "RNN_RELU"  # a TorchScript constant: the loop holds one nonlinearity


class _LSTMDirection(_Direction):
    def forward(self, x: Tensor, mask: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        projected = F.linear(x, self.weight_ih, self.bias_ih)  # (B, T, 4H): one multiply for all steps
        outputs: list[Tensor] = []
        for t in range(x.size(1)):
            gates = projected[:, t] + F.linear(h, self.weight_hh, self.bias_hh)  # (B, 4H)
            i, f, g, o = gates.chunk(4, 1)
            c_next = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
            h_next = torch.sigmoid(o) * torch.tanh(c_next)
            valid = mask[:, t]  # (B, 1): rows still inside their length
            h = torch.where(valid, h_next, h)
            c = torch.where(valid, c_next, c)
            outputs.append(torch.where(valid, h_next, torch.zeros_like(h_next)))
        return torch.stack(outputs, 1), h, c


class _GRUDirection(_Direction):
    def forward(self, x: Tensor, mask: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        projected = F.linear(x, self.weight_ih, self.bias_ih)  # (B, T, 3H)
        outputs: list[Tensor] = []
        for t in range(x.size(1)):
            i_r, i_z, i_n = projected[:, t].chunk(3, 1)
            h_r, h_z, h_n = F.linear(h, self.weight_hh, self.bias_hh).chunk(3, 1)
            r = torch.sigmoid(i_r + h_r)
            z = torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)  # b_hn inside r * (...), as torch does
            h_next = (1 - z) * n + z * h
            valid = mask[:, t]
            h = torch.where(valid, h_next, h)
            outputs.append(torch.where(valid, h_next, torch.zeros_like(h_next)))
        return torch.stack(outputs, 1), h, c


class _ElmanDirection(_Direction):
    def forward(self, x: Tensor, mask: Tensor, h: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        projected = F.linear(x, self.weight_ih, self.bias_ih)  # (B, T, H)
        outputs: list[Tensor] = []
        for t in range(x.size(1)):
            pre = projected[:, t] + F.linear(h, self.weight_hh, self.bias_hh)
            if self.relu:
                h_next = torch.relu(pre)
            else:
                h_next = torch.tanh(pre)
            valid = mask[:, t]
            h = torch.where(valid, h_next, h)
            outputs.append(torch.where(valid, h_next, torch.zeros_like(h_next)))
        return torch.stack(outputs, 1), h, c


class _Layer(nn.Module):
    """One layer: its forward direction and, if bidirectional, its reverse one (which reads each row reversed
    within its length). ``bidirectional`` is a TorchScript constant, so the unused branch is not compiled in.

    forward: x (B, T, F), mask (B, T, 1), index (B, T) from _reverse_index, h0 and c0 (D, B, H)
    -> output (B, T, D*H), h_n and c_n (D, B, H).
    """

    __constants__ = ["bidirectional"]

    def __init__(self, forward_direction: _Direction, reverse_direction: _Direction | None):
        super().__init__()
        self.bidirectional = reverse_direction is not None
        self.forward_direction = forward_direction
        # unidirectional: the forward module again (shared, never called) keeps the attribute's type fixed
        self.reverse_direction = forward_direction if reverse_direction is None else reverse_direction

    def forward(self, x: Tensor, mask: Tensor, index: Tensor, h0: Tensor, c0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        out, h, c = self.forward_direction(x, mask, h0[0], c0[0])
        if self.bidirectional:
            reverse_out, reverse_h, reverse_c = self.reverse_direction(_gather_time(x, index), mask, h0[1], c0[1])
            out = torch.cat([out, _gather_time(reverse_out, index)], 2)
            return out, torch.stack([h, reverse_h]), torch.stack([c, reverse_c])
        return out, h.unsqueeze(0), c.unsqueeze(0)


class _Stack(nn.Module):
    """All layers. run: (B, T, F) input, (B,) lengths, (L*D, B, H) states -> output, h_n, c_n."""

    __constants__ = ["num_directions", "hidden_size", "batch_first"]

    def __init__(self, layer: nn.Module):
        super().__init__()
        kind = {"LSTM": _LSTMDirection, "GRU": _GRUDirection, "RNN_TANH": _ElmanDirection,
                "RNN_RELU": _ElmanDirection}[layer.mode]
        self.num_directions = 2 if layer.bidirectional else 1
        self.hidden_size = layer.hidden_size
        self.batch_first = layer.batch_first

        def direction(index: int, reverse: bool) -> _Direction:
            suffix = f"_l{index}" + ("_reverse" if reverse else "")
            weights = [getattr(layer, name + suffix, None) for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
            return kind(layer.mode, weights, layer.hidden_size)

        self.layers = nn.ModuleList([
            _Layer(direction(index, False), direction(index, True) if layer.bidirectional else None)
            for index in range(layer.num_layers)
        ])

    def run(self, x: Tensor, lengths: Tensor, h0: Tensor, c0: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        steps = x.size(1)
        mask = (torch.arange(steps, device=x.device).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(2)  # (B, T, 1)
        index = _reverse_index(lengths, steps)  # (B, T)
        finals_h: list[Tensor] = []
        finals_c: list[Tensor] = []
        D = self.num_directions
        for number, layer in enumerate(self.layers):
            x, h, c = layer(x, mask, index, h0[number * D:(number + 1) * D], c0[number * D:(number + 1) * D])
            finals_h.append(h)
            finals_c.append(c)
        return x, torch.cat(finals_h), torch.cat(finals_c)

    def prepare(self, input: Tensor, lengths: Tensor | None) -> tuple[Tensor, Tensor]:
        x = input if self.batch_first else input.transpose(0, 1)  # (B, T, F)
        if lengths is None:
            lengths = torch.full((x.size(0),), x.size(1), dtype=torch.long, device=x.device)
        return x, lengths.to(device=x.device, dtype=torch.long)

    def zeros(self, x: Tensor) -> Tensor:
        return x.new_zeros(len(self.layers) * self.num_directions, x.size(0), self.hidden_size)

    def finish(self, output: Tensor) -> Tensor:
        return output if self.batch_first else output.transpose(0, 1)


class _ScriptedLSTM(_Stack):
    """forward(input, hx=None, lengths=None) like rnnkit.LSTM (batched input only)."""

    def forward(self, input: Tensor, hx: tuple[Tensor, Tensor] | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        x, lengths = self.prepare(input, lengths)
        if hx is None:
            h0, c0 = self.zeros(x), self.zeros(x)
        else:
            h0, c0 = hx
        output, h, c = self.run(x, lengths, h0, c0)
        return self.finish(output), (h, c)


class _ScriptedRNN(_Stack):
    """forward(input, hx=None, lengths=None) like rnnkit.GRU and rnnkit.RNN (batched input only)."""

    def forward(self, input: Tensor, hx: Tensor | None = None,
                lengths: Tensor | None = None) -> tuple[Tensor, Tensor]:
        x, lengths = self.prepare(input, lengths)
        h0 = self.zeros(x) if hx is None else hx
        output, h, _ = self.run(x, lengths, h0, h0)
        return self.finish(output), h


def _is_recurrent(module: nn.Module) -> bool:
    import rnnkit

    return isinstance(module, (rnnkit.RNN, rnnkit.LSTM, rnnkit.GRU, nn.RNN, nn.LSTM, nn.GRU))


def scripted_layer(layer: nn.Module) -> torch.jit.ScriptModule:
    """A TorchScript copy of an rnnkit (or torch.nn) RNN/LSTM/GRU layer that runs the masked loop.

    It is called like the layer, ``output, h_n = scripted(input, hx, lengths)`` (lengths a (B,) int64
    tensor), for batched input; weights are copied and frozen. Raises ValueError for what it cannot
    export: ``proj_size > 0`` and rnnkit's variant options (layer norm, peepholes, ...).
    """
    if not _is_recurrent(layer):
        raise TypeError(f"layer: expected an rnnkit or torch.nn RNN, LSTM or GRU, got {type(layer).__name__}")
    if getattr(layer, "proj_size", 0):
        raise ValueError(f"layer: export supports proj_size=0, got proj_size={layer.proj_size}")
    options = getattr(layer, "options", None)
    if options is not None and options.non_neutral():
        raise ValueError(f"layer: export supports the standard cells; this layer uses variant options "
                         f"{options.non_neutral()}")
    module = (_ScriptedLSTM if layer.mode == "LSTM" else _ScriptedRNN)(layer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # TorchScript's deprecation notice
        return torch.jit.script(module.eval())


def exportable(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (in eval mode) whose recurrent layers are :func:`scripted_layer` loops.

    The model's own ``forward`` must call its layers as ``layer(x, hx)`` or ``layer(x, hx, lengths=...)``
    with ``lengths`` a tensor (what rnnkit's models do).
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    if _is_recurrent(model):
        return scripted_layer(model)
    model = copy.deepcopy(model).eval()
    for name, child in list(model.named_modules()):
        if name and _is_recurrent(child):
            parent_name, _, attribute = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, attribute, scripted_layer(child))
    return model


# -- files ----------------------------------------------------------------------------------------------


def export_onnx(model: nn.Module, path: str | Path, args: tuple[Tensor, ...], *, input_names: list[str],
                output_names: list[str], dynamic_axes: dict[str, dict[int, str]] | None = None,
                opset: int = DEFAULT_OPSET) -> Path:
    """Write ``model`` (made :func:`exportable`) as ONNX, traced with the example ``args``.

    ``dynamic_axes`` names the axes that may change, e.g. ``{"tokens": {0: "batch", 1: "time"}}``.
    """
    if opset < 17:
        raise ValueError(f"opset: expected >= 17, got {opset}")
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation notice
        # Trace around the scripted loops first: torch.onnx.export refuses a plain module holding script
        # submodules, but takes the traced whole. dynamo=False: the TorchScript-based exporter turns the
        # scripted time loop into an ONNX Loop (torch.export would need the loop rewritten as a higher-order op).
        graph = _traced(model, args)
        torch.onnx.export(graph, args, str(path), dynamo=False, opset_version=opset, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic_axes or {})
    return path


def export_torchscript(model: nn.Module, path: str | Path, args: tuple[Tensor, ...]) -> Path:
    """Write ``model`` (made :func:`exportable`) as a TorchScript file, traced around the scripted loops;
    load it with ``torch.jit.load(path)``."""
    path = Path(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(_traced(model, args), str(path))
    return path


def _traced(model: nn.Module, args: tuple[Tensor, ...]) -> torch.jit.ScriptModule:
    graph = exportable(model)
    if isinstance(graph, torch.jit.ScriptModule):
        return graph
    with torch.no_grad():
        return torch.jit.trace(graph, args, check_trace=False)


# -- language-model bundles ----------------------------------------------------------------------------


class _LanguageModelGraph(nn.Module):
    """(tokens, lengths, h0[, c0]) -> (logits, h_n[, c_n]): the flat signature a graph file needs."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model
        self.lstm = model.config.cell == "lstm"

    def forward(self, tokens: Tensor, lengths: Tensor, *state: Tensor) -> tuple[Tensor, ...]:
        logits, final = self.model(tokens, tuple(state) if self.lstm else state[0], lengths=lengths)
        mask = (torch.arange(tokens.size(1)).unsqueeze(0) < lengths.unsqueeze(1)).unsqueeze(2)  # (B, T, 1)
        logits = torch.where(mask, logits, torch.zeros_like(logits))  # nothing to read past a length
        return (logits, *final) if self.lstm else (logits, final)


def lm_io_names(cell: str) -> tuple[list[str], list[str]]:
    """The exported language model's input and output names for a cell ("lstm" has a cell state)."""
    if cell == "lstm":
        return ["tokens", "lengths", "h0", "c0"], ["logits", "h_n", "c_n"]
    return ["tokens", "lengths", "h0"], ["logits", "h_n"]


def _check_batch(model: nn.Module, generator: torch.Generator) -> tuple[Tensor, ...]:
    """A batch of mixed lengths (one full row, others shorter) and a random initial state."""
    config = model.config
    batch, steps = 3, 7
    tokens = torch.randint(0, config.vocab_size, (batch, steps), generator=generator)
    lengths = torch.tensor([steps, 2, 5])
    count = config.num_layers  # the language model is unidirectional
    state = [0.5 * torch.randn(count, batch, config.hidden_size, generator=generator)
             for _ in range(2 if config.cell == "lstm" else 1)]
    return (tokens, lengths, *state)


def export_bundle(bundle: str | Path, *, format: str = "onnx", out: str | Path | None = None,
                  opset: int = DEFAULT_OPSET, quantize: str | None = None) -> ExportResult:
    """Export a language-model bundle and check the file against PyTorch on a batch of mixed lengths.

    Args:
        bundle: the bundle folder (see rnnkit.bundle).
        format: ``"onnx"`` (needs the ``export`` extra: onnx, onnxruntime) or ``"torchscript"``.
        out: the file to write; default ``<bundle>/model.onnx`` or ``<bundle>/model.torchscript.pt``.
        opset: ONNX opset, >= 17.
        quantize: ``"int8"`` (ONNX only): the float graph, once checked, is quantized by onnxruntime's
            ``quantize_dynamic`` (int8 weights, activations quantized per call) into ``out`` (default
            ``<bundle>/model.int8.onnx``); its check is that the most probable next token is PyTorch's at
            ``INT8_AGREEMENT`` of the check positions or more, and the largest difference is reported.

    Raises ValueError when the exported file's outputs differ from PyTorch's by more than 1e-5.
    """
    if format not in FORMATS:
        raise ValueError(f"format: expected one of {FORMATS}, got {format!r}")
    if quantize not in QUANTIZE:
        raise ValueError(f"quantize: expected one of {QUANTIZE}, got {quantize!r}")
    if quantize and format != "onnx":
        raise ValueError(f"quantize: int8 export writes ONNX (onnxruntime's quantization); got format={format!r}, "
                         "use --format onnx")
    from rnnkit import catalog
    from rnnkit.bundle import load, read_info, require_kind

    info = read_info(bundle)
    entry = catalog.kind_entry(info.get("kind", catalog.DEFAULT_KIND))
    if entry is None or format not in entry.exports:  # the catalog says which kinds export to which formats
        require_kind(info, "language_model", "export")
    loaded = load(bundle)
    model = loaded.model.float().eval()
    inputs, outputs = lm_io_names(model.config.cell)
    default = ("model.int8.onnx" if quantize else "model.onnx") if format == "onnx" else "model.torchscript.pt"
    path = Path(out) if out is not None else loaded.path / default
    final, path = path, (path.with_name(path.name + ".float.onnx") if quantize else path)
    path.parent.mkdir(parents=True, exist_ok=True)
    graph = _LanguageModelGraph(model)
    example = _check_batch(model, torch.Generator().manual_seed(0))
    with torch.no_grad():
        if format == "onnx":
            dynamic = {"tokens": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, "logits": {0: "batch", 1: "time"}}
            dynamic.update({name: {1: "batch"} for name in inputs[2:] + outputs[1:]})
            export_onnx(graph, path, example, input_names=inputs, output_names=outputs, dynamic_axes=dynamic,
                        opset=opset)
            _state_shapes_like_inputs(path, inputs[2:], outputs[1:])
        else:
            export_torchscript(graph, path, example)
        error, scale, _ = verify(path, graph, format, inputs)
    if not error <= TOLERANCE * max(1.0, scale):
        raise ValueError(f"export: {path} differs from PyTorch by {error:.3g} (more than {TOLERANCE} x "
                         f"max(1, {scale:.3g}), the outputs' largest magnitude); please report it with the bundle's "
                         "model_config")
    logger.info("exported %s: largest difference to PyTorch %.3g", path, error)
    if quantize:
        return _quantize_onnx(path, final, graph, inputs, outputs)
    return ExportResult(path, format, inputs, outputs, error)


def _quantize_onnx(source: Path, path: Path, graph: nn.Module, inputs: list[str], outputs: list[str]) -> ExportResult:
    """onnxruntime's dynamic int8 quantization of the checked float graph ``source`` into ``path``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        quantize_dynamic(str(source), str(path), weight_type=QuantType.QInt8)
    finally:
        source.unlink(missing_ok=True)
    error, _, agreement = verify(path, graph, "onnx", inputs)
    if agreement < INT8_AGREEMENT:
        raise ValueError(f"export: the int8 graph {path} picks PyTorch's most probable token at only "
                         f"{agreement:.0%} of the check positions (expected >= {INT8_AGREEMENT:.0%})")
    logger.info("exported %s (int8): largest difference %.3g, argmax agreement %.3f", path, error, agreement)
    return ExportResult(path, "onnx", inputs, outputs, error, "int8", agreement)


def _state_shapes_like_inputs(path: Path, state_inputs: list[str], state_outputs: list[str]) -> None:
    """Give h_n (c_n) the shape of h0 (c0), (layers, batch, hidden), in the ONNX file: the exporter cannot infer
    the hidden size through the Loop and names that dimension after a node ('Concath_n_dim_2')."""
    import onnx

    model = onnx.load(str(path))
    shapes = {value.name: value.type.tensor_type.shape for value in model.graph.input}
    for value in model.graph.output:
        if value.name in state_outputs:
            source = shapes[state_inputs[state_outputs.index(value.name)]]
            value.type.tensor_type.shape.CopyFrom(source)
    onnx.save(model, str(path))


class Check(NamedTuple):
    """An exported file against PyTorch on verify's check batch."""

    error: float  # largest |exported - PyTorch| over the outputs
    scale: float  # largest |PyTorch output|: the float check's tolerance is relative to it
    agreement: float  # share of valid positions whose most probable token is PyTorch's


def verify(path: Path, graph: nn.Module, format: str, inputs: list[str]) -> Check:
    """The exported file against PyTorch on a check batch other than the one traced with (another batch size
    and length, mixed lengths)."""
    generator = torch.Generator().manual_seed(1)
    config = graph.model.config
    tokens = torch.randint(0, config.vocab_size, (4, 9), generator=generator)
    lengths = torch.tensor([9, 1, 4, 6])
    state = [0.5 * torch.randn(config.num_layers, 4, config.hidden_size, generator=generator)
             for _ in range(len(inputs) - 2)]
    args = (tokens, lengths, *state)
    with torch.no_grad():
        expected = graph(*args)
    got = run_exported(path, format, dict(zip(inputs, args, strict=True)))
    error = max(float((torch.as_tensor(g) - e).abs().max()) for g, e in zip(got, expected, strict=True))
    valid = torch.arange(tokens.size(1))[None, :] < lengths[:, None]  # (B, T)
    same = torch.as_tensor(got[0]).argmax(-1) == expected[0].argmax(-1)
    return Check(error, max(float(e.abs().max()) for e in expected), float(same[valid].float().mean()))


def run_exported(path: str | Path, format: str, feeds: dict[str, Any]) -> list[Any]:
    """Run an exported file on named inputs (tensors or numpy arrays): onnxruntime for ONNX, torch.jit for
    TorchScript. Returns the outputs in order."""
    if format == "onnx":
        try:
            import onnxruntime
        except ImportError as error:
            raise ImportError("onnx export needs onnxruntime: pip install 'rnnkit[export]'") from error
        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return session.run(None, {k: v.numpy() if isinstance(v, Tensor) else v for k, v in feeds.items()})
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit.load's deprecation notice
        module = torch.jit.load(str(path))
    with torch.no_grad():
        return list(module(*(torch.as_tensor(v) for v in feeds.values())))
