import json
import math

import pytest
import torch
from typer.testing import CliRunner

from rnnkit.bundle import save as save_bundle
from rnnkit.cli import app
from rnnkit.config import to_dict
from rnnkit.poems import write_poems
from rnnkit.poems.data import FORMS, format_poem
from rnnkit.training import RunConfig
from rnnkit.training.registry import build_task

runner = CliRunner()


@pytest.fixture
def bundle_dir(poet, tmp_path):
    return save_bundle(tmp_path / "runs" / "demo" / "bundle", poet.model, poet.tokenizer, task="poems")


def test_poem_json_lines(bundle_dir):
    result = runner.invoke(app, ["poem", "--bundle", str(bundle_dir), "--form", "wulv", "--num", "3", "--seed", "1",
                                 "--json"])
    assert result.exit_code == 0, result.output
    poems = [json.loads(line) for line in result.output.splitlines()]
    assert len(poems) == 3
    for poem in poems:
        assert poem["form"] == "wulv" and poem["text"] == format_poem(poem["lines"])
        assert [len(line) for line in poem["lines"]] == [5] * 8
        assert poem["settings"]["seed"] == 1 and poem["settings"]["top_p"] == 0.9


def test_poem_newest_bundle_and_acrostic_picks_the_form(bundle_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["poem", "--acrostic", "一二三四五六七八", "--seed", "0"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0] == FORMS["qilv"].chinese and len(lines) >= 5
    assert "".join(line.strip()[0] for line in lines[1:5]) == "一三五七"


def test_poem_errors(bundle_dir, tmp_path, monkeypatch):
    result = runner.invoke(app, ["poem", "--bundle", str(bundle_dir), "--acrostic", "春夏秋"])
    assert result.exit_code == 2 and "acrostic: expected 4 characters" in result.output
    result = runner.invoke(app, ["poem", "--bundle", str(bundle_dir), "--start", "龘"])
    assert result.exit_code == 2 and "龘" in result.output
    monkeypatch.chdir(tmp_path / "runs" / "demo")  # no runs/ below here
    result = runner.invoke(app, ["poem"])
    assert result.exit_code == 2 and "make demo" in result.output


def test_poem_beam_and_sampling_options_follow_one_rule(bundle_dir, poet):
    bundle = ["poem", "--bundle", str(bundle_dir), "--form", "wujue", "--json"]
    for beam, method in (("1", "greedy"), ("3", "beam")):
        result = runner.invoke(app, [*bundle, "--beam", beam])
        assert result.exit_code == 0, result.output
        got = json.loads(result.output)
        expected = write_poems(poet, form="wujue", method=method, **({"beam": 3} if method == "beam" else {}))[0]
        assert got["text"] == expected.text and got["settings"]["method"] == method
        assert got["settings"]["seed"] is None  # deterministic: no seed reported
    for options, message in ((["--beam", "0"], "beam: expected an int >= 1, got 0"),
                             (["--beam", "-3"], "beam: expected an int >= 1, got -3"),
                             (["--beam", "3", "--seed", "1"], "seed: only used when sampling; got seed=1 with beam"),
                             (["--beam", "1", "--temperature", "0.5"], "temperature: only used when sampling"),
                             (["--beam", "2", "--top-p", "0.5"], "top_p: only used when sampling"),
                             (["--temperature", "0", "--seed", "2"], "seed: only used when sampling; got seed=2 with "
                                                                     "greedy decoding")):
        result = runner.invoke(app, [*bundle, *options])
        assert result.exit_code == 2 and result.output.count("error:") == 1, (options, result.output)
        assert message in result.output, (options, result.output)
    greedy = json.loads(runner.invoke(app, [*bundle, "--temperature", "0"]).output)
    assert greedy["settings"]["method"] == "greedy" and greedy["settings"]["seed"] is None


def test_eval_reports_nats_bits_and_perplexity(tmp_path):
    options = {"model": {"embedding_size": 8, "hidden_size": 16, "adaptive_cutoffs": [100, 1000],
                         "adaptive_div_value": 2.0}, "max_val_poems": 64}
    config = RunConfig(task="poems", task_options=options)
    task = build_task("poems", options)
    torch.manual_seed(0)
    model = task.build_model().eval()
    path = save_bundle(tmp_path / "bundle", model, task.tokenizer, task="poems", extra={"run_config": to_dict(config)})
    result = runner.invoke(app, ["eval", str(path), "--json"])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)
    with torch.no_grad():
        expected = sum(float(task.step(model, b, None).loss) * b.targets.numel() for b in task.val_batches())
    expected /= sum(b.targets.numel() for b in task.val_batches())
    assert figures["nats_per_token"] == pytest.approx(expected, rel=1e-5)
    assert figures["bits_per_token"] == pytest.approx(expected / math.log(2), rel=1e-5)
    assert figures["perplexity"] == pytest.approx(math.exp(expected), rel=1e-5)
    assert runner.invoke(app, ["eval", str(tmp_path / "nothing")]).exit_code == 2
