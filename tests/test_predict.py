import json

import pytest
import torch
from typer.testing import CliRunner

from rnnkit.bundle import save
from rnnkit.cli import app
from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier
from rnnkit.models.lm import LanguageModel, LanguageModelConfig
from rnnkit.models.tagger import Tagger, TaggerConfig
from rnnkit.predict import Entity, entities_from_tags, predict, split_pieces
from rnnkit.tasks.ner import tokenize
from rnnkit.text.tokenizer import SPECIAL_TOKENS, Tokenizer

LABELS = ("O", "B-PER", "I-PER", "B-LOC", "I-LOC")


def test_classifier_predictions_are_distributions(classifier_bundle):
    out = predict(classifier_bundle, ["A fine film", "a dull film, really"])
    assert [p.text for p in out] == ["A fine film", "a dull film, really"]
    for item in out:
        assert set(item.probabilities) == {"negative", "positive"}
        assert sum(item.probabilities.values()) == pytest.approx(1.0)
        assert item.probability == max(item.probabilities.values())
        assert item.label == max(item.probabilities, key=item.probabilities.get)
        assert item.entities == [] and item.tokens == []
    # lower-casing as in training: the same text in another case gives the same answer
    upper = predict(classifier_bundle, ["A FINE FILM"])[0].probabilities
    assert upper == pytest.approx(out[0].probabilities, abs=1e-6)


def test_tagger_predicts_entity_spans(tagger_bundle):
    out = predict(tagger_bundle, ["Alice visits Paris"])
    assert out[0].tokens == ["Alice", "visits", "Paris"] and out[0].tags == ["B-PER", "O", "B-LOC"]
    assert [(e.text, e.label, e.start, e.end) for e in out[0].entities] == [("Alice", "PER", 0, 5),
                                                                            ("Paris", "LOC", 13, 18)]
    assert all(0.0 < e.probability <= 1.0 for e in out[0].entities)
    assert out[0].unknown == ()


def test_empty_or_unknown_input_is_an_error_and_some_unknown_a_warning(classifier_bundle, tagger_bundle):
    for bundle in (classifier_bundle, tagger_bundle):
        with pytest.raises(ValueError, match=r"^inputs\[1\]: expected a text with at least one token, got ''"):
            predict(bundle, ["a fine film", ""])
        with pytest.raises(ValueError, match=r"^inputs\[0\]: expected a text with at least one token, got '  '"):
            predict(bundle, ["  "])
    with pytest.raises(ValueError, match=r"^inputs\[0\]: .* every token is unknown to it \(zorb qux\)"):
        predict(classifier_bundle, ["zorb qux zorb"])
    (item,) = predict(classifier_bundle, ["A fine zorb film"])
    assert item.unknown == ("zorb",) and json.loads(json.dumps(item.to_json()))["unknown"] == ["zorb"]
    # the tagger reads characters too: a new word made of known characters is not unknown, one of new ones is
    (item,) = predict(tagger_bundle, ["Alice meets Bob"])
    assert item.unknown == ("Bob",) and item.tokens == ["Alice", "meets", "Bob"]
    with pytest.raises(ValueError, match=r"^inputs\[0\]: .* every token is unknown to it \(Bob\)"):
        predict(tagger_bundle, ["Bob"])


def test_entities_from_tags_reads_bio_as_conlleval():
    tokens = ["New", "York", "is", "big", "Bob", "Smith"]
    tags = ["B-LOC", "I-LOC", "O", "I-PER", "B-PER", "I-PER"]
    assert entities_from_tags(tokens, tags) == [Entity("New York", "LOC", 0, 8, 1.0), Entity("big", "PER", 12, 15, 1.0),
                                                Entity("Bob Smith", "PER", 16, 25, 1.0)]
    assert entities_from_tags(["北", "京"], ["B-GPE", "I-GPE"], [0.5, 1.0], joiner="")[0] == \
        Entity("北京", "GPE", 0, 2, 0.75)
    # offsets into the text the tokens came from
    assert entities_from_tags(["北", "京"], ["B-GPE", "I-GPE"], text=" 北 京", spans=[(1, 2), (3, 4)]) == \
        [Entity("北 京", "GPE", 1, 4, 1.0)]
    with pytest.raises(ValueError, match="tags"):
        entities_from_tags(["a"], [])


def _check_offsets(text, prediction):
    for entity in prediction.entities:
        assert text[entity.start:entity.end] == entity.text


def test_tagger_splits_words_as_wnut17_and_offsets_index_the_text(tagger_bundle):
    text = "  Alice visits Paris, then London."
    out = predict(tagger_bundle, [text])[0]
    assert out.tokens == ["Alice", "visits", "Paris", ",", "then", "London", "."]  # punctuation split off
    assert out.entities[:2] == [Entity("Alice", "PER", 2, 7, out.entities[0].probability),
                                Entity("Paris", "LOC", 15, 20, out.entities[1].probability)]
    _check_offsets(text, out)


@pytest.fixture(scope="module")
def chinese_bundle(tmp_path_factory):
    """A character-level tagger that makes the whole text one LOC entity (B-LOC, then I-LOC to the end)."""
    torch.manual_seed(0)
    tokenizer = Tokenizer([*SPECIAL_TOKENS, *"北京欢迎你我"], level="char")
    model = Tagger(TaggerConfig(vocab_size=len(tokenizer), labels=LABELS, embedding_size=4, hidden_size=4))
    with torch.no_grad():
        model.emissions.weight.zero_()
        model.emissions.bias.zero_()
        model.crf.transitions.fill_(-9.0)
        model.crf.transitions[3, 4] = model.crf.transitions[4, 4] = 9.0  # B-LOC -> I-LOC -> I-LOC
        model.crf.start_transitions.copy_(torch.tensor([0.0, 0.0, 0.0, 9.0, 0.0]))
    return save(tmp_path_factory.mktemp("zh") / "b", model.eval(), tokenizer, task="ner",
                extra={"labels": list(LABELS), "lowercase": False, "split": "char"})


def test_character_tagger_offsets_keep_the_whitespace(chinese_bundle):
    text = "  北京 欢迎\t你 "
    out = predict(chinese_bundle, [text])[0]
    assert out.tokens == list("北京欢迎你") and out.tags == ["B-LOC"] + ["I-LOC"] * 4
    assert [(e.text, e.start, e.end) for e in out.entities] == [("北京 欢迎\t你", 2, 9)]
    _check_offsets(text, out)


def test_split_pieces_cuts_at_sentence_ends_then_spaces():
    tokens = ["a", "b", ".", "c", "d", "e", "f", "g"]
    spans = [(0, 1), (2, 3), (3, 4), (5, 6), (7, 8), (10, 11), (14, 15), (16, 17)]  # the widest gap after "e"
    assert split_pieces(tokens, spans, 4) == [(0, 3), (3, 6), (6, 8)]
    assert split_pieces(tokens, spans, 8) == [(0, 8)]
    chars = list("一二三四五六七")  # no space, no punctuation: cut at the window's end
    assert split_pieces(chars, [(i, i + 1) for i in range(7)], 3) == [(0, 3), (3, 6), (6, 7)]


def test_long_text_is_tagged_in_pieces_with_offsets_into_the_whole_text(tagger_bundle, chinese_bundle):
    sentences = ["Alice visits Paris.", "Bob meets  Carol in Rome!", "Then they fly home"]
    text = " ".join(sentences * 5)
    whole = predict(tagger_bundle, [text], max_tokens=12)[0]
    # the reference: each piece's text tagged alone, its offsets shifted by where it starts in the text
    all_tokens, spans = tokenize(text, "word")
    pieces = split_pieces(all_tokens, spans, 12)
    assert len(pieces) > 5 and all(stop - first <= 12 for first, stop in pieces)
    tokens, expected_tags, expected = [], [], []
    for first, stop in pieces:
        start = spans[first][0]
        alone = predict(tagger_bundle, [text[start:spans[stop - 1][1]]])[0]
        tokens += alone.tokens
        expected_tags += alone.tags
        expected += [e._replace(start=e.start + start, end=e.end + start) for e in alone.entities]
    assert whole.tokens == tokens and whole.tags == expected_tags
    assert [e[:4] for e in whole.entities] == [e[:4] for e in expected]
    _check_offsets(text, whole)
    chinese = "北京欢迎你。" * 30 + " 我"
    out = predict(chinese_bundle, [chinese], max_tokens=16)[0]
    # the model makes each piece one entity: pieces of 12 characters, cut after every second 。
    assert [e.text for e in out.entities] == ["北京欢迎你。" * 2] * 14 + ["北京欢迎你。" * 2 + " 我"]
    _check_offsets(chinese, out)


def test_series_classifier_takes_numbers(tmp_path):
    model = SequenceClassifier(ClassifierConfig(input_size=2, num_classes=3, hidden_size=4))
    path = save(tmp_path / "s", model.eval(), task="series",
                extra={"labels": ["x", "y", "z"], "mean": [1.0, 2.0], "std": [2.0, 4.0]})
    out = predict(path, [[[1.0, 2.0], [3.0, 4.0]], torch.zeros(5, 2)])
    assert [set(p.probabilities) for p in out] == [{"x", "y", "z"}] * 2
    with pytest.raises(ValueError, match=r"inputs: expected series of shape \(T, 2\)"):
        predict(path, [[1.0, 2.0, 3.0]])


def test_errors_name_the_argument(classifier_bundle, tmp_path):
    with pytest.raises(TypeError, match="inputs"):
        predict(classifier_bundle, "a fine film")
    with pytest.raises(TypeError, match="inputs"):
        predict(classifier_bundle, [3])
    tokenizer = Tokenizer.build(["ab"], level="char")
    lm = save(tmp_path / "lm", LanguageModel(LanguageModelConfig(vocab_size=len(tokenizer), embedding_size=2,
                                                                  hidden_size=2)), tokenizer, task="char_lm")
    with pytest.raises(ValueError, match="bundle_or_path: expected a 'classifier' or 'tagger' bundle"):
        predict(lm, ["ab"])


def test_cli(classifier_bundle, tagger_bundle):
    runner = CliRunner()
    result = runner.invoke(app, ["predict", str(classifier_bundle), "a fine film", "--json"])
    assert result.exit_code == 0, result.output
    item = json.loads(result.output.splitlines()[0])
    assert item["label"] in ("negative", "positive") and set(item["probabilities"]) == {"negative", "positive"}
    result = runner.invoke(app, ["predict", str(tagger_bundle), "Alice visits Paris"])
    assert result.exit_code == 0 and "Alice [PER]" in result.output and "Paris [LOC]" in result.output
    result = runner.invoke(app, ["predict", str(classifier_bundle.parent / "missing"), "x"])
    assert result.exit_code == 2 and "no such bundle" in result.output
    for text in ("", "zorb"):
        result = runner.invoke(app, ["predict", str(classifier_bundle), text])
        assert result.exit_code == 2 and result.output.startswith("error: inputs[0]: expected a text with")
        assert result.output.count("\n") == 1 and result.stdout == "", result.output  # one error line, no label
    result = runner.invoke(app, ["predict", str(classifier_bundle), "a zorb film"])
    assert result.exit_code == 0 and result.stdout.count("\n") == 1
    assert result.stderr == "warning: 1 token(s) unknown to the model, read as <unk>: zorb\n"
    result = runner.invoke(app, ["predict", str(classifier_bundle), "a zorb film", "--json"])
    assert json.loads(result.stdout)["unknown"] == ["zorb"]


def test_cli_reads_inputs_from_a_file_or_stdin(classifier_bundle, tmp_path, user_error):
    runner = CliRunner()
    expected = runner.invoke(app, ["predict", str(classifier_bundle), "a fine film", "a dull film", "--json"]).stdout
    assert len(expected.splitlines()) == 2
    (tmp_path / "texts.txt").write_text("a fine film\n\na dull film\n")  # blank lines are skipped
    result = runner.invoke(app, ["predict", str(classifier_bundle), "--input", str(tmp_path / "texts.txt"), "--json"])
    assert result.exit_code == 0 and result.stdout == expected
    result = runner.invoke(app, ["predict", str(classifier_bundle), "-", "--json"], input="a fine film\na dull film\n")
    assert result.exit_code == 0 and result.stdout == expected
    user_error(runner.invoke(app, ["predict", str(classifier_bundle), "x", "--input", str(tmp_path / "texts.txt")]),
               "--input", "got both")
    user_error(runner.invoke(app, ["predict", str(classifier_bundle), "-"], input="\n \n"), "--input", "stdin")
