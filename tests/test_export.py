import numpy as np
import pytest
import torch
from torch import nn

import rnnkit
from rnnkit.bundle import save
from rnnkit.decoding import generate
from rnnkit.export import export_bundle, export_onnx, export_torchscript, run_exported, scripted_layer
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.text import Tokenizer

onnx = pytest.importorskip("onnx", reason="the export extra (onnx, onnxruntime) is not installed")
pytest.importorskip("onnxruntime", reason="the export extra (onnx, onnxruntime) is not installed")

LAYERS = {
    "lstm": (rnnkit.LSTM, {}),
    "lstm-bi-stacked": (rnnkit.LSTM, dict(num_layers=2, bidirectional=True)),
    "gru-bi": (rnnkit.GRU, dict(bidirectional=True)),
    "gru-stacked": (rnnkit.GRU, dict(num_layers=2)),
    "elman-tanh-bi-stacked": (rnnkit.RNN, dict(num_layers=2, bidirectional=True)),
    "elman-relu": (rnnkit.RNN, dict(nonlinearity="relu")),
}


class Tagger(nn.Module):
    """A small model around a recurrent layer: features -> layer -> per-step scores, and the final state."""

    def __init__(self, layer: nn.Module):
        super().__init__()
        self.rnn = layer
        self.head = nn.Linear(layer.hidden_size * (2 if layer.bidirectional else 1), 3)

    def forward(self, features, lengths, h0):
        y, h = self.rnn(features, h0, lengths=lengths)
        return self.head(y), h


def mixed_batch(layer, batch, steps, generator):
    features = torch.randn(batch, steps, 4, generator=generator)
    lengths = torch.randint(1, steps + 1, (batch,), generator=generator)
    lengths[0] = steps
    shape = (layer.num_layers * (2 if layer.bidirectional else 1), batch, layer.hidden_size)
    h0 = torch.randn(shape, generator=generator)
    return features, lengths, (h0, torch.randn(shape, generator=generator)) if isinstance(layer, rnnkit.LSTM) else h0


@pytest.mark.parametrize("name", list(LAYERS))
@pytest.mark.parametrize("format", ["onnx", "torchscript"])
def test_padded_batches_match_pytorch(tmp_path, name, format):
    cls, options = LAYERS[name]
    torch.manual_seed(0)
    model = Tagger(cls(4, 5, batch_first=True, **options)).eval()
    generator = torch.Generator().manual_seed(0)
    example = mixed_batch(model.rnn, 2, 3, generator)
    lstm = isinstance(model.rnn, rnnkit.LSTM)
    names = ["features", "lengths", "h0", "c0"] if lstm else ["features", "lengths", "h0"]
    outputs = ["scores", "h_n", "c_n"] if lstm else ["scores", "h_n"]

    class Flat(nn.Module):  # graph files take flat tensors: (h0, c0) as two inputs
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, features, lengths, *state):
            scores, final = self.model(features, lengths, tuple(state) if lstm else state[0])
            return (scores, *final) if lstm else (scores, final)

    flat_example = (*example[:2], *(example[2] if lstm else (example[2],)))
    path = tmp_path / f"m.{format}"
    if format == "onnx":
        dynamic = {"features": {0: "batch", 1: "time"}, "lengths": {0: "batch"}, "scores": {0: "batch", 1: "time"}}
        dynamic.update({n: {1: "batch"} for n in names[2:] + outputs[1:]})
        export_onnx(Flat(), path, flat_example, input_names=names, output_names=outputs, dynamic_axes=dynamic)
        graph = onnx.load(str(path))
        assert [i.name for i in graph.graph.input] == names
        assert [o.name for o in graph.graph.output] == outputs
        assert max(op.version for op in graph.opset_import if op.domain in ("", "ai.onnx")) >= 17
    else:
        export_torchscript(Flat(), path, flat_example)
    # another batch size and length than traced with, lengths mixed
    features, lengths, state = mixed_batch(model.rnn, 5, 8, generator)
    flat = (features, lengths, *(state if lstm else (state,)))
    got = run_exported(path, format, dict(zip(names, flat, strict=True)))
    with torch.no_grad():
        expected = Flat()(*flat)  # rnnkit's own layer (native backend with packing where it can)
    for g, e in zip(got, expected, strict=True):
        np.testing.assert_allclose(np.asarray(g), e.numpy(), rtol=0, atol=1e-5)


def test_scripted_layer_matches_torch_nn_and_refuses_what_it_cannot_export():
    torch.manual_seed(0)
    reference = nn.GRU(4, 6, num_layers=2, bidirectional=True)
    scripted = scripted_layer(reference)
    x = torch.randn(7, 3, 4)
    lengths = torch.tensor([7, 3, 5])
    packed = nn.utils.rnn.pack_padded_sequence(x, lengths, enforce_sorted=False)
    out, h = reference(packed)
    out, _ = nn.utils.rnn.pad_packed_sequence(out, total_length=7)
    got_out, got_h = scripted(x, None, lengths)
    torch.testing.assert_close(got_out, out, rtol=0, atol=1e-6)
    torch.testing.assert_close(got_h, h, rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="proj_size=0, got proj_size=2"):
        scripted_layer(nn.LSTM(4, 6, proj_size=2))
    with pytest.raises(TypeError, match="layer: expected an rnnkit or torch.nn RNN"):
        scripted_layer(nn.Linear(2, 2))


def tiny_bundle(tmp_path, **options):
    tokenizer = Tokenizer.build(["abcdefghij"])
    torch.manual_seed(0)
    options = {"embedding_size": 8, "hidden_size": 12, **options}
    model = LanguageModel(LanguageModelConfig(vocab_size=len(tokenizer), **options))
    return save(tmp_path / "bundle", model, tokenizer, task="toy"), model.eval(), tokenizer


@pytest.mark.parametrize("options", [dict(), dict(cell="gru", num_layers=2),
                                     dict(cell="rnn_tanh", tie_weights=True, embedding_size=12),
                                     dict(adaptive_cutoffs=(5, 9), adaptive_div_value=2.0)])
@pytest.mark.parametrize("format", ["onnx", "torchscript"])
def test_bundle_export_is_checked_against_pytorch(tmp_path, options, format):
    path, _, _ = tiny_bundle(tmp_path, **options)
    result = export_bundle(path, format=format, out=tmp_path / "out" / "model.bin")
    assert result.path == tmp_path / "out" / "model.bin" and result.path.is_file()
    assert result.max_abs_error <= 1e-5
    lstm = options.get("cell", "lstm") == "lstm"
    assert result.inputs == (["tokens", "lengths", "h0", "c0"] if lstm else ["tokens", "lengths", "h0"])


def test_onnx_step_generates_without_pytorch(tmp_path):
    path, model, tokenizer = tiny_bundle(tmp_path, num_layers=2)
    result = export_bundle(path, format="onnx")
    import onnxruntime

    session = onnxruntime.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    prompts = [[tokenizer.start_id, 5, 6, 7], [tokenizer.start_id, 9]]  # a padded batch of two prompts
    tokens = np.zeros((2, 4), dtype=np.int64)
    for row, prompt in enumerate(prompts):
        tokens[row, : len(prompt)] = prompt
    lengths = np.array([len(p) for p in prompts], dtype=np.int64)
    h = c = np.zeros((2, 2, 12), dtype=np.float32)
    logits, h, c = session.run(None, {"tokens": tokens, "lengths": lengths, "h0": h, "c0": c})
    last = logits[np.arange(2), lengths - 1]  # (B, V): after each prompt's last token
    generated = []
    for _ in range(6):  # greedy, one decoding step per token: token + state in, logits + state out
        token = last.argmax(-1)
        generated.append(token)
        step = {"tokens": token[:, None], "lengths": np.ones(2, dtype=np.int64), "h0": h, "c0": c}
        logits, h, c = session.run(None, step)
        last = logits[:, 0]
    expected = generate(model, prompts, method="greedy", max_new_tokens=6)
    np.testing.assert_array_equal(np.stack(generated, 1), expected.tokens.numpy())


def test_export_bundle_errors(tmp_path):
    path, _, _ = tiny_bundle(tmp_path)
    with pytest.raises(ValueError, match="format: expected one of \\('onnx', 'torchscript'\\), got 'tflite'"):
        export_bundle(path, format="tflite")
    with pytest.raises(ValueError, match="opset: expected >= 17, got 13"):
        export_bundle(path, format="onnx", opset=13)


def test_cli_export_writes_and_reports(tmp_path):
    from typer.testing import CliRunner

    from rnnkit.cli import app

    path, _, _ = tiny_bundle(tmp_path, cell="gru")
    result = CliRunner().invoke(app, ["export", str(path), "--format", "onnx", "--out", str(tmp_path / "m.onnx")])
    assert result.exit_code == 0, result.output
    assert "inputs tokens, lengths, h0; outputs logits, h_n" in result.output and (tmp_path / "m.onnx").is_file()
    result = CliRunner().invoke(app, ["export", str(path), "--format", "tflite"])
    assert result.exit_code == 2 and "format: expected one of" in result.output
    help_text = CliRunner().invoke(app, ["export", "--help"]).output
    assert all(name in help_text for name in ("tokens", "lengths", "h0", "c0", "logits", "h_n", "c_n"))


@pytest.mark.parametrize("options", [dict(), dict(cell="gru", num_layers=2)])
def test_onnx_dimensions_have_meaningful_names(tmp_path, options):
    onnx = pytest.importorskip("onnx")
    path, model, _ = tiny_bundle(tmp_path, **options)
    result = export_bundle(path, format="onnx")
    graph = onnx.load(str(result.path)).graph
    dims = {value.name: [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]
            for value in [*graph.input, *graph.output]}
    layers, hidden, vocab = model.config.num_layers, model.config.hidden_size, model.config.vocab_size
    assert dims["tokens"] == ["batch", "time"] and dims["lengths"] == ["batch"]
    assert dims["logits"] == ["batch", "time", vocab]
    for name in ["h0", "h_n"] + (["c0", "c_n"] if model.config.cell == "lstm" else []):
        assert dims[name] == [layers, "batch", hidden], name  # the state out has the shape of the state in


@pytest.mark.parametrize("options", [dict(), dict(cell="gru", num_layers=2)])
def test_int8_onnx_export_is_quantized_and_checked(tmp_path, options):
    pytest.importorskip("onnxruntime")
    onnx = pytest.importorskip("onnx")
    from rnnkit.export import INT8_AGREEMENT, export_bundle

    path, _, _ = tiny_bundle(tmp_path, hidden_size=32, **options)
    result = export_bundle(path, format="onnx", quantize="int8")
    assert result.path == path / "model.int8.onnx" and result.quantize == "int8"
    assert result.argmax_agreement >= INT8_AGREEMENT and result.max_abs_error > 0
    assert sorted(p.name for p in path.iterdir() if "onnx" in p.name) == ["model.int8.onnx"]  # no float leftover
    ops = {node.op_type for node in onnx.load(str(result.path)).graph.node}
    assert ops & {"DynamicQuantizeLinear", "MatMulInteger", "DynamicQuantizeMatMul"}, ops


def test_int8_export_needs_onnx(tmp_path):
    from rnnkit.export import export_bundle

    path, _, _ = tiny_bundle(tmp_path)
    with pytest.raises(ValueError, match="quantize: int8 export writes ONNX"):
        export_bundle(path, format="torchscript", quantize="int8")
    with pytest.raises(ValueError, match=r"quantize: expected one of \(None, 'int8'\), got 'int4'"):
        export_bundle(path, quantize="int4")


@pytest.mark.parametrize("error,scale,passes", [(2e-5, 10.0, True), (2e-5, 0.5, False), (9e-6, 0.5, True)])
def test_the_export_check_is_relative_to_the_outputs_scale(tmp_path, monkeypatch, error, scale, passes):
    """1e-5 x max(1, the largest |output|): float32 rounding grows with the logits (a trained demo bundle's
    logits reach ~30 and its export differs by ~1e-5)."""
    import rnnkit.export as export

    path, _, _ = tiny_bundle(tmp_path)
    monkeypatch.setattr(export, "verify", lambda *args, **kwargs: export.Check(error, scale, 1.0))
    if passes:
        assert export.export_bundle(path, format="torchscript").max_abs_error == error
    else:
        with pytest.raises(ValueError, match=r"differs from PyTorch by 2e-05 \(more than 1e-05 x max\(1, 0.5\)"):
            export.export_bundle(path, format="torchscript")


def test_verify_reports_the_outputs_scale(tmp_path):
    from rnnkit.export import _LanguageModelGraph, export_bundle, verify

    path, model, _ = tiny_bundle(tmp_path)
    result = export_bundle(path, format="torchscript")
    error, scale, _ = verify(result.path, _LanguageModelGraph(model), "torchscript", result.inputs)
    assert error == pytest.approx(result.max_abs_error) and 0 < scale < 100  # the largest |logit or state|
