import pytest
import torch
from typer.testing import CliRunner

from rnnkit.bundle import load
from rnnkit.cli import app
from rnnkit.translation import translate
from rnnkit.translation.translate import load_translator


def test_translations_reverse_digits_and_attention_rows_sum_to_one(toy_bundle):
    sentences = ["31415", "2718", "907"]
    for method in ("greedy", "beam"):
        result = translate(toy_bundle, sentences, method=method, beam_size=3)
        assert result.texts == [s[::-1] for s in sentences]
        for source, output, weights in zip(result.source_tokens, result.output_tokens, result.attention,
                                           strict=True):
            assert output[-1] == "</s>"
            assert weights.shape == (len(output), len(source))
            torch.testing.assert_close(weights.sum(-1), torch.ones(len(output)))


def test_a_sentence_gets_the_same_translation_alone_or_in_a_batch(toy_bundle):
    translator = load_translator(toy_bundle)
    sentences = ["123456", "98", "5550", "1"]
    for method in ("greedy", "beam"):
        batch = translate(translator, sentences, method=method, beam_size=4)
        for index, sentence in enumerate(sentences):
            alone = translate(translator, [sentence], method=method, beam_size=4)
            assert alone.texts[0] == batch.texts[index]
            assert alone.scores[0] == pytest.approx(batch.scores[index], abs=1e-5)
            torch.testing.assert_close(alone.attention[0], batch.attention[index])


def test_translate_errors(toy_bundle, tmp_path):
    with pytest.raises(TypeError, match="sentences: expected a list of str, got str; wrap one sentence"):
        translate(toy_bundle, "123")
    with pytest.raises(ValueError, match="method: expected one of"):
        translate(toy_bundle, ["123"], method="beams")
    bundle = load(toy_bundle)
    with pytest.raises(TypeError, match="bundle: expected a bundle folder"):
        translate(bundle.model, ["1"])


def test_cli_translate_and_eval(toy_bundle, tmp_path):
    runner = CliRunner()
    png = tmp_path / "attention.png"
    result = runner.invoke(app, ["translate", str(toy_bundle), "4321", "77", "--beam", "3",
                                 "--attention-png", str(png)])
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines()[:2] == ["1234", "77"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    result = runner.invoke(app, ["eval", str(toy_bundle), "--json"])
    assert result.exit_code == 0, result.output
    assert '"method": "beam5"' in result.stdout and '"bleu"' in result.stdout
    result = runner.invoke(app, ["translate", str(tmp_path / "missing"), "1"])
    assert result.exit_code == 2 and "no such bundle folder" in result.output


def test_cli_translate_beam_follows_the_decoding_rule(toy_bundle):
    runner = CliRunner()
    for beam in ("0", "-3"):
        result = runner.invoke(app, ["translate", str(toy_bundle), "4321", "--beam", beam])
        assert result.exit_code == 2 and f"beam: expected an int >= 1, got {beam}" in result.output, result.output
    greedy = translate(toy_bundle, ["4321", "907"]).texts
    result = runner.invoke(app, ["translate", str(toy_bundle), "4321", "907", "--beam", "1"])
    assert result.exit_code == 0 and result.stdout.splitlines() == greedy, result.output
    with pytest.raises(ValueError, match="beam_size: expected an int >= 1, got 0"):
        translate(toy_bundle, ["1"], method="beam", beam_size=0)


def test_empty_or_unknown_sentences_are_errors_and_some_unknown_a_warning(toy_bundle):
    with pytest.raises(ValueError, match=r"^sentences\[1\]: expected a text with at least one token, got ''"):
        translate(toy_bundle, ["123", ""])
    with pytest.raises(ValueError, match=r"^sentences\[0\]: .* every token is unknown to it \(a b\)"):
        translate(toy_bundle, ["ab"])
    result = translate(toy_bundle, ["12a3", "45"])
    assert result.unknown == [["a"], []] and result.source_tokens[0] == ["1", "2", "<unk>", "3"]
    runner = CliRunner()
    result = runner.invoke(app, ["translate", str(toy_bundle), "12a3"])
    assert result.exit_code == 0 and result.stderr == "warning: 1 token(s) unknown to the model, read as <unk>: a\n"
    result = runner.invoke(app, ["translate", str(toy_bundle), ""])
    assert result.exit_code == 2 and result.stdout == "" and result.output.startswith("error: sentences[0]: expected")


def test_the_decoder_never_writes_unk_even_where_the_model_prefers_it(toy_bundle):
    import copy

    translator = load_translator(toy_bundle)
    model = copy.deepcopy(translator.model)
    with torch.no_grad():
        model.output.bias[translator.target.unk_id] += 100.0  # <unk> the most probable token at every step
    fond = translator._replace(model=model)
    for method in ("greedy", "beam", "sample"):
        result = translate(fond, ["123", "4567"], method=method, max_length=8)
        for tokens in result.output_tokens:
            assert tokens and not {"<unk>", "<pad>", "<s>"} & set(tokens), (method, tokens)


def test_cli_translate_reads_a_file_or_stdin_and_checks_the_attention_png(toy_bundle, tmp_path, unwritable,
                                                                          user_error):
    runner = CliRunner()
    expected = runner.invoke(app, ["translate", str(toy_bundle), "4321", "77"]).stdout
    assert expected.splitlines() == ["1234", "77"]
    (tmp_path / "in.txt").write_text("4321\n\n77\n")  # one sentence per line; blank lines are skipped
    assert runner.invoke(app, ["translate", str(toy_bundle), "--input", str(tmp_path / "in.txt")]).stdout == expected
    assert runner.invoke(app, ["translate", str(toy_bundle), "-"], input="4321\n77\n").stdout == expected
    assert runner.invoke(app, ["translate", str(toy_bundle), "--input", "-"], input="4321\n77\n").stdout == expected
    user_error(runner.invoke(app, ["translate", str(toy_bundle)]), "SENTENCES: expected one or more sentences")
    user_error(runner.invoke(app, ["translate", str(toy_bundle), "--input", str(tmp_path / "none.txt")]),
               "--input", "none.txt", "No such file")
    user_error(runner.invoke(app, ["translate", str(toy_bundle), "1", "--attention-png", str(unwritable / "a.png")]),
               "--attention-png", str(unwritable))
