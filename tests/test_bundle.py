import dataclasses
import json
import logging
import os
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import rnnkit
from rnnkit.bundle import (
    BundleError,
    find_bundles,
    fingerprint,
    load,
    read_info,
    register_kind,
    require_kind,
    save,
    sha256_file,
)
from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.text import Tokenizer


def tiny(**options):
    tokenizer = Tokenizer.build(["abcdefgh"])
    torch.manual_seed(0)
    config = LanguageModelConfig(vocab_size=len(tokenizer), embedding_size=6, hidden_size=6, **options)
    return LanguageModel(config).eval(), tokenizer


@pytest.mark.parametrize("options", [dict(), dict(cell="gru", num_layers=2), dict(tie_weights=True),
                                     dict(adaptive_cutoffs=(3, 6), adaptive_div_value=2.0)])
def test_round_trip_gives_the_same_model(tmp_path, options):
    model, tokenizer = tiny(**options)
    data = tmp_path / "train.txt"
    data.write_text("abc")
    path = save(tmp_path / "b", model, tokenizer, task="toy", metrics={"val_loss": 1.5},
                data_fingerprint=fingerprint([data]))
    bundle = rnnkit.load(path)
    assert bundle.tokenizer == tokenizer and not bundle.model.training
    assert bundle.info["metrics"] == {"val_loss": 1.5}
    assert bundle.info["rnnkit_version"] == rnnkit.__version__
    assert bundle.info["weights_sha256"] == sha256_file(path / "model.safetensors")
    assert bundle.info["data_fingerprint"] == fingerprint([b"abc"]) == fingerprint([data])
    tokens = torch.randint(0, len(tokenizer), (2, 5))
    torch.testing.assert_close(bundle.model(tokens)[0], model(tokens)[0], rtol=0, atol=0)
    if options.get("tie_weights"):
        assert bundle.model.output.weight is bundle.model.embedding.weight


def test_reads_bundles_written_before_checksums_with_a_warning(tmp_path, caplog):
    model, tokenizer = tiny()
    old = save(tmp_path / "old", model, tokenizer, task="poems")
    info = json.loads((old / "bundle.json").read_text())
    for field in ("weights_sha256", "rnnkit_version", "kind", "data_fingerprint"):  # what the first writer lacked
        del info[field]
    (old / "bundle.json").write_text(json.dumps(info))
    with caplog.at_level(logging.WARNING, logger="rnnkit.bundle"):
        bundle = load(old)
    assert "no weights_sha256" in caplog.text  # the compatibility rule: loads, says it is unverified
    tokens = torch.randint(0, len(tokenizer), (1, 4))
    torch.testing.assert_close(bundle.model(tokens)[0], model(tokens)[0], rtol=0, atol=0)


def test_find_bundles_newest_first_and_by_task(tmp_path):
    model, tokenizer = tiny()
    old = save(tmp_path / "runs" / "a" / "bundle", model, tokenizer, task="poems")
    new = save(tmp_path / "runs" / "b" / "bundle", model, tokenizer, task="poems")
    other = save(tmp_path / "runs" / "c" / "bundle", model, tokenizer, task="char_lm")
    (tmp_path / "runs" / "d").mkdir()
    (tmp_path / "runs" / "d" / "bundle.json").write_text("{not json")  # skipped, not an error
    os.utime(old / "bundle.json", (1, 1))
    assert find_bundles(tmp_path / "runs", task="poems") == [new, old]
    assert set(find_bundles(tmp_path / "runs")) == {new, old, other}
    assert find_bundles(tmp_path / "missing") == []


def test_refuses_a_wrong_checksum(tmp_path):
    model, tokenizer = tiny()
    path = save(tmp_path / "b", model, tokenizer, task="t")
    tensors = {k: v.clone() for k, v in model.state_dict().items()}
    tensors["output.bias"] += 1  # same names and shapes, other values: only the checksum can tell
    save_file(tensors, str(path / "model.safetensors"))
    with pytest.raises(BundleError, match="SHA-256 .* differs from weights_sha256"):
        load(path)


def test_refuses_mismatched_shapes_naming_the_tensor(tmp_path):
    model, tokenizer = tiny()
    path = save(tmp_path / "b", model, tokenizer, task="t")
    info = json.loads((path / "bundle.json").read_text())
    info["model_config"]["hidden_size"] = 8
    (path / "bundle.json").write_text(json.dumps(info))
    with pytest.raises(BundleError, match=r"rnn.weight_hh_l0: expected \(32, 8\), got \(24, 6\)"):
        load(path)


def test_refuses_missing_and_unexpected_tensors(tmp_path):
    model, tokenizer = tiny()
    path = save(tmp_path / "b", model, tokenizer, task="t")
    tensors = {k: v.clone() for k, v in model.state_dict().items() if k != "output.bias"}
    tensors["extra"] = torch.zeros(1)
    save_file(tensors, str(path / "model.safetensors"))
    info = json.loads((path / "bundle.json").read_text())
    info["weights_sha256"] = sha256_file(path / "model.safetensors")
    (path / "bundle.json").write_text(json.dumps(info))
    with pytest.raises(BundleError, match=r"missing tensors \['output.bias'\], unexpected tensors \['extra'\]"):
        load(path)


def test_refuses_a_newer_format_version(tmp_path):
    model, tokenizer = tiny()
    path = save(tmp_path / "b", model, tokenizer, task="t")
    info = json.loads((path / "bundle.json").read_text())
    info["version"] = 99
    (path / "bundle.json").write_text(json.dumps(info))
    with pytest.raises(BundleError, match="format version 99 .* upgrade rnnkit"):
        read_info(path)


@pytest.mark.parametrize("missing", ["tokenizer.json", "model.safetensors"])
def test_refuses_a_missing_file(tmp_path, missing):
    model, tokenizer = tiny()
    path = save(tmp_path / "b", model, tokenizer, task="t")
    (path / missing).unlink()
    with pytest.raises(FileNotFoundError, match=f"{missing} is missing"):
        load(path)


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such bundle folder"):
        load(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="bundle.json is missing"):
        load(tmp_path)
    (tmp_path / "bundle.json").write_text("{not json")
    with pytest.raises(BundleError, match="not valid JSON"):
        load(tmp_path)
    (tmp_path / "bundle.json").write_text(json.dumps({"format": "pickle", "version": 1}))
    with pytest.raises(BundleError, match="expected format 'rnnkit.lm_bundle', got 'pickle'"):
        load(tmp_path / "bundle.json")
    model, tokenizer = tiny()
    with pytest.raises(ValueError, match="vocab_size 99 differs"):
        save(tmp_path / "x", LanguageModel(LanguageModelConfig(vocab_size=99, embedding_size=2, hidden_size=2)),
             tokenizer, task="t")
    with pytest.raises(ValueError, match="extra: expected keys other than the standard fields"):
        save(tmp_path / "x", model, tokenizer, task="t", extra={"metrics": {}})
    with pytest.raises(TypeError, match="path: expected a str or Path"):
        load(3)


def test_loading_never_unpickles(tmp_path, monkeypatch):
    model, tokenizer = tiny()
    path = save(tmp_path / "b", model, tokenizer, task="t")

    def refuse(*args, **kwargs):
        raise AssertionError("pickle used while loading a bundle")

    monkeypatch.setattr("pickle.load", refuse)
    monkeypatch.setattr("pickle.loads", refuse)
    monkeypatch.setattr(torch, "load", refuse)
    load(path)


@dataclasses.dataclass(frozen=True)
class _ScorerConfig:
    input_size: int = 3
    sizes: tuple[int, ...] = (4, 2)


class _Scorer(torch.nn.Module):
    """A model of another kind: numbers in, numbers out, no tokenizer."""

    def __init__(self, config: _ScorerConfig):
        super().__init__()
        self.config = config
        self.first = torch.nn.Linear(config.input_size, config.sizes[0])
        self.second = torch.nn.Linear(*config.sizes)


def test_other_kinds_round_trip_with_named_tokenizers_or_none(tmp_path):
    register_kind("test_scorer", _Scorer, _ScorerConfig)
    torch.manual_seed(0)
    model = _Scorer(_ScorerConfig(sizes=(5, 2))).eval()
    target = Tokenizer.build(["xyz"])
    path = save(tmp_path / "s", model, task="scoring", tokenizers={"target": target}, extra={"labels": ["a", "b"]})
    bundle = load(path)
    assert isinstance(bundle.model, _Scorer) and bundle.model.config == model.config  # the tuple survives JSON
    assert bundle.tokenizer is None and bundle.tokenizers == {"target": target}
    assert bundle.info["kind"] == "test_scorer" and bundle.info["labels"] == ["a", "b"]
    inputs = torch.randn(2, 3)
    torch.testing.assert_close(bundle.model.second(bundle.model.first(inputs)), model.second(model.first(inputs)))
    (path / "tokenizer.target.json").unlink()
    with pytest.raises(FileNotFoundError, match="tokenizer.target.json is missing"):
        load(path)


def test_kind_errors_name_the_problem(tmp_path):
    with pytest.raises(TypeError, match="register_kind"):
        save(tmp_path / "x", torch.nn.Linear(2, 2), task="t")
    with pytest.raises(ValueError, match="already registered"):
        register_kind("language_model", _Scorer, _ScorerConfig)
    model, tokenizer = tiny()
    with pytest.raises(TypeError, match="needs its tokenizer"):
        save(tmp_path / "y", model, task="t")
    with pytest.raises(ValueError, match="tokenizers: expected identifier"):
        save(tmp_path / "z", model, tokenizer, task="t", tokenizers={"not a name": tokenizer})
    path = save(tmp_path / "w", model, tokenizer, task="t")
    info = json.loads((path / "bundle.json").read_text())
    info["kind"] = "spaceship"
    (path / "bundle.json").write_text(json.dumps(info))
    with pytest.raises(BundleError, match="expected kind in .* got 'spaceship'"):
        load(path)


def test_require_kind_names_the_command_that_fits(tmp_path):
    model, tokenizer = tiny()
    info = read_info(save(tmp_path / "lm", model, tokenizer, task="t"))
    require_kind(info, "language_model", "serving")  # the right kind passes
    with pytest.raises(ValueError, match="serving needs a 'language_model' bundle, got kind 'seq2seq'; use rnnkit "
                                         "translate"):
        require_kind({**info, "kind": "seq2seq"}, "language_model", "serving")


@pytest.mark.parametrize("umask", [0o022, 0o027])
def test_every_bundle_file_gets_the_mode_a_new_file_gets(tmp_path, umask):
    model, tokenizer = tiny()
    previous = os.umask(umask)
    try:
        path = save(tmp_path / "b", model, tokenizer, task="toy")
        (tmp_path / "reference").write_text("")  # what open() gives under this umask
    finally:
        os.umask(previous)
    expected = (tmp_path / "reference").stat().st_mode & 0o777
    assert expected == 0o666 & ~umask
    modes = {file.name: file.stat().st_mode & 0o777 for file in path.iterdir()}
    assert set(modes) == {"bundle.json", "tokenizer.json", "model.safetensors"}
    assert modes == dict.fromkeys(modes, expected)  # model.safetensors too (the non-root Docker user reads it)


def test_bundles_saved_before_the_layers_package_load_and_agree():
    """tests/fixtures/bundles_v0_1 were written by rnnkit 0.1 before the layers became a package and the
    catalog replaced the registries (commit dcd5f25; tests/fixtures/bundles_v0_1/make.py), with the outputs
    that code computed."""
    import json

    from rnnkit.bundle import load
    from rnnkit.predict import predict

    folder = Path(__file__).parent / "fixtures" / "bundles_v0_1"
    expected = json.loads((folder / "expected.json").read_text(encoding="utf-8"))
    bundle = load(folder / "language_model")
    with torch.no_grad():
        logits = bundle.model(torch.tensor(expected["language_model"]["input"]))[0]
    torch.testing.assert_close(logits, torch.tensor(expected["language_model"]["logits"]), rtol=1e-5, atol=1e-6)
    texts = expected["classifier"]["texts"]
    for prediction, probabilities in zip(predict(load(folder / "classifier"), texts),
                                         expected["classifier"]["probabilities"], strict=True):
        assert prediction.probabilities == pytest.approx(probabilities, rel=1e-5)
