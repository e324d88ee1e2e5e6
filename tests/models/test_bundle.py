import json
import os

import pytest
import torch

from rnnkit.models import LanguageModel, LanguageModelConfig
from rnnkit.models.bundle import find_bundles, load_bundle, save_bundle
from rnnkit.text import Tokenizer


@pytest.mark.parametrize("options", [dict(tie_weights=True), dict(adaptive_cutoffs=(3, 6), adaptive_div_value=2.0)])
def test_round_trip(tmp_path, options):
    tokenizer = Tokenizer.build(["abcdefgh"])
    torch.manual_seed(0)
    model = LanguageModel(LanguageModelConfig(vocab_size=len(tokenizer), embedding_size=6, hidden_size=6, **options))
    path = save_bundle(tmp_path / "b", model, tokenizer, task="toy", metrics={"val_loss": 1.5})
    loaded = load_bundle(path)
    assert loaded.tokenizer == tokenizer and loaded.info["metrics"] == {"val_loss": 1.5}
    assert not loaded.model.training
    tokens = torch.randint(0, len(tokenizer), (2, 4))
    torch.testing.assert_close(loaded.model(tokens)[0], model.eval()(tokens)[0])
    if options.get("tie_weights"):
        assert loaded.model.output.weight is loaded.model.embedding.weight


def test_find_bundles_newest_first_and_by_task(tmp_path):
    tokenizer = Tokenizer.build(["ab"])
    model = LanguageModel(LanguageModelConfig(vocab_size=len(tokenizer), embedding_size=4, hidden_size=4))
    old = save_bundle(tmp_path / "runs" / "a" / "bundle", model, tokenizer, task="poems")
    new = save_bundle(tmp_path / "runs" / "b" / "bundle", model, tokenizer, task="poems")
    other = save_bundle(tmp_path / "runs" / "c" / "bundle", model, tokenizer, task="char_lm")
    os.utime(old / "bundle.json", (1, 1))
    assert find_bundles(tmp_path / "runs", task="poems") == [new, old]
    assert other in find_bundles(tmp_path / "runs")
    assert find_bundles(tmp_path / "missing") == []


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a model bundle"):
        load_bundle(tmp_path)
    (tmp_path / "bundle.json").write_text(json.dumps({"format": "other", "version": 1}))
    with pytest.raises(ValueError, match="format"):
        load_bundle(tmp_path)
    tokenizer = Tokenizer.build(["ab"])
    model = LanguageModel(LanguageModelConfig(vocab_size=99, embedding_size=4, hidden_size=4))
    with pytest.raises(ValueError, match="vocab_size"):
        save_bundle(tmp_path / "x", model, tokenizer, task="t")
