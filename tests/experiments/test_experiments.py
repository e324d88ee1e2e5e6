"""Every experiment's --quick run writes its files and a report with finite, sane numbers."""

from __future__ import annotations

import csv
import math

import pytest
from typer.testing import CliRunner

from rnnkit.experiments import EXPERIMENTS, ExperimentResult, run
from rnnkit.experiments.tasks import adding_baseline, copy_baseline

pytest.importorskip("matplotlib")


def _check_files(result, pngs):
    names = {path.name for path in result.files}
    assert {"report.md", "metrics.csv", "results.csv", *pngs} <= names
    for path in result.files:
        assert path.exists() and path.stat().st_size > 0
    for png in pngs:
        assert (result.out_dir / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (result.out_dir / png).stat().st_size < 200_000
    report = result.report.read_text()
    assert report.startswith("# ") and "Quick run" in report
    for section in ("## Settings", "## Results", "## Conclusion"):
        assert section in report
    for png in pngs:
        assert f"]({png})" in report
    with open(result.out_dir / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert rows and set(rows[0]) == {"run", "step", "split", "name", "value"}
    return report


def test_adding_quick(tmp_path):
    result = run("adding", quick=True, out=tmp_path)
    report = _check_files(result, ["adding.png"])
    finals = {row["model"]: row["final val MSE"] for row in result.table}
    assert set(finals) == {"Elman (tanh)", "IRNN (ReLU, identity)", "LSTM", "GRU", "minGRU"}
    assert all(math.isfinite(v) and 0 <= v < 1.0 for v in finals.values())
    # at T = 10 a gated cell leaves the baseline within the quick budget
    assert min(finals["LSTM"], finals["GRU"]) < 0.5 * adding_baseline()
    assert f"{finals['GRU']:.4f}" in report  # the conclusion quotes the measured numbers


def test_copy_quick(tmp_path):
    result = run("copy", quick=True, out=tmp_path)
    _check_files(result, ["copy.png", "copy_recall.png"])
    for row in result.table:
        assert row["baseline"] == pytest.approx(copy_baseline(row["T"]))
        assert math.isfinite(row["final val CE"]) and 0 <= row["recall accuracy"] <= 1
    # every cell has at least learned the memoryless strategy (blanks, then a guess): the loss is near the
    # baseline. Beating it takes longer than a quick run (the copy task's long plateau), so that is not asserted.
    assert all(r["final / baseline"] < 1.1 for r in result.table)


def test_gradients_quick(tmp_path):
    result = run("gradients", quick=True, out=tmp_path)
    _check_files(result, ["gradients.png"])
    init = {row["model"]: row for row in result.table if row["when"] == "init"}
    assert all(math.isfinite(row["at d=0"]) and row["at d=0"] > 0 for row in init.values())
    # the vanishing-gradient picture at initialisation: far less gradient survives in the Elman RNN than the LSTM
    assert init["Elman (tanh)"]["ratio"] < init["LSTM"]["ratio"]
    assert init["Elman (tanh)"]["rate/step"] < 1.0


def test_clipping_quick(tmp_path):
    result = run("clipping", quick=True, out=tmp_path)
    _check_files(result, ["clipping.png"])
    rows = {row["configuration"]: row for row in result.table}
    assert rows["gain 2, no clipping"]["diverged at step"] is not None  # caught by the engine
    clipped = rows["gain 2, clip 1"]
    assert clipped["diverged at step"] is None and math.isfinite(clipped["final val MSE"])
    assert clipped["steps done"] == 150


def test_init_quick(tmp_path):
    result = run("init", quick=True, out=tmp_path)
    _check_files(result, ["init.png"])
    assert [row["init"] for row in result.table] == ["default", "xavier", "orthogonal", "identity"]
    assert all(math.isfinite(row["median val MSE"]) for row in result.table)


def test_unknown_experiment_names_the_argument():
    with pytest.raises(ValueError, match="name: expected one of .*got 'addin'; did you mean 'adding'"):
        run("addin")
    assert set(EXPERIMENTS) == {"adding", "copy", "gradients", "clipping", "init", "lengths"}


def test_cli_experiment_command(tmp_path, monkeypatch):
    from rnnkit import cli

    bad = CliRunner().invoke(cli.app, ["experiment", "nope"])
    assert bad.exit_code == 2 and "name: expected one of" in bad.output
    calls = []

    def fake(name, quick, out):
        calls.append((name, quick, out))
        return ExperimentResult(name, tmp_path, tmp_path / "report.md", [], [])

    monkeypatch.setattr("rnnkit.experiments.run", fake)
    result = CliRunner().invoke(cli.app, ["experiment", "init", "--quick", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert calls == [("init", True, tmp_path)] and "report.md" in result.output
