"""The tail task against brute force, the classifier against per-sequence runs, and the `lengths` quick run."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest
import torch

from rnnkit.experiments import EXPERIMENTS, run
from rnnkit.experiments.lengths import padding_bins
from rnnkit.experiments.tasks import (
    LENGTH_VARIANTS,
    TailClassifier,
    TailOptions,
    TailTask,
    padding_fraction,
    tail_data,
)
from rnnkit.training import build_task


def test_tail_data_and_labels_by_brute_force():
    seq_len, min_len, tail = 12, 4, 3
    batch = tail_data(300, seq_len, min_len, tail, np.random.default_rng(3))
    assert batch.inputs.shape == (300, seq_len, 1) and batch.inputs.dtype == torch.float32
    assert batch.lengths.shape == batch.targets.shape == (300,)
    seen_lengths = set()
    for values, length, target in zip(batch.inputs[..., 0].tolist(), batch.lengths.tolist(),
                                      batch.targets.tolist(), strict=True):
        assert min_len <= length <= seq_len
        seen_lengths.add(length)
        assert all(v != 0.0 for v in values[:length])  # N(0, 1) draws: never exactly zero
        assert values[length:] == [0.0] * (seq_len - length)  # zero padding after the length
        total = 0.0
        for step in range(length - tail, length):  # the last `tail` valid values
            total += values[step]
        assert target == (1 if total > 0 else 0)
    assert seen_lengths == set(range(min_len, seq_len + 1))  # every length occurs
    assert 0.4 < batch.targets.float().mean() < 0.6  # P(label 1) = 1/2 by symmetry


def test_padding_fraction_counts_the_padded_steps():
    batch = tail_data(50, 9, 2, 1, np.random.default_rng(0))
    padded_steps = sum(1 for row in batch.inputs[..., 0].tolist() for v in row if v == 0.0)
    assert padding_fraction(batch.lengths, 9) == pytest.approx(padded_steps / (50 * 9), abs=1e-12)
    assert padding_fraction(torch.tensor([3, 3]), 3) == 0.0


def test_tail_data_are_deterministic_per_seed_and_the_validation_set_is_fixed():
    options = TailOptions(seq_len=10, batch_size=4, batches_per_epoch=2, val_size=6)
    first, again, other = TailTask(options, 1), TailTask(options, 1), TailTask(options, 2)
    for a, b in zip(first.train_batches(0), again.train_batches(0), strict=True):
        assert all(torch.equal(x, y) for x, y in zip(a, b, strict=True))
    assert not torch.equal(next(iter(first.train_batches(0))).inputs, next(iter(first.train_batches(1))).inputs)
    assert not torch.equal(first.val_set.inputs, other.val_set.inputs)
    assert all(torch.equal(x, y) for x, y in zip(first.val_set, again.val_set, strict=True))
    joined = [torch.cat(parts) for parts in zip(*first.val_batches(), strict=True)]
    assert all(torch.equal(x, y) for x, y in zip(joined, first.val_set, strict=True))


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("variant", LENGTH_VARIANTS)
def test_classifier_reads_h_n_where_its_variant_says(cell, variant):
    torch.manual_seed(0)
    model = TailClassifier(cell, 1, 6, 2, variant).double().eval()
    batch = tail_data(5, 8, 2, 1, np.random.default_rng(4))
    inputs = batch.inputs.double()
    logits = model(inputs, batch.lengths)
    assert logits.shape == (5, 2)
    masked = not variant.endswith("padded")
    for b, length in enumerate(batch.lengths.tolist()):
        # reference: the sequence alone, cut at its length when the variant masks, all T steps when it does not
        alone = inputs[b : b + 1, : length if masked else None]
        _, state = model.rnn(alone)
        h_n = state[0] if isinstance(state, tuple) else state  # (D, 1, H)
        reference = model.head(h_n.transpose(0, 1).flatten(1))
        torch.testing.assert_close(logits[b : b + 1], reference, rtol=0, atol=1e-10)


def test_lengths_and_packed_give_the_same_logits_and_gradients():
    batch = tail_data(7, 10, 3, 2, np.random.default_rng(5))
    results = []
    for variant in ("lengths", "packed"):
        torch.manual_seed(1)
        model = TailClassifier("lstm", 1, 5, 2, variant)
        loss = torch.nn.functional.cross_entropy(model(batch.inputs, batch.lengths), batch.targets)
        loss.backward()
        results.append((float(loss.detach()), [p.grad.clone() for p in model.parameters()]))
    assert results[0][0] == results[1][0]
    for a, b in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-7)


def test_tail_task_is_registered_and_step_gives_the_accuracy():
    task = build_task("tail", {"cell": "gru", "variant": "packed", "hidden_size": 4, "seq_len": 7, "val_size": 9},
                      seed=0)
    model = task.build_model().eval()
    batch = next(iter(task.val_batches()))
    out = task.step(model, batch, None)
    logits = model(batch.inputs, batch.lengths)
    torch.testing.assert_close(out.loss, torch.nn.functional.cross_entropy(logits, batch.targets))
    assert out.metrics["accuracy"] == pytest.approx(float((logits.argmax(-1) == batch.targets).float().mean()))
    assert out.count == 9


def test_bad_options_name_the_argument():
    with pytest.raises(ValueError, match="variant: expected one of .*got 'masked'"):
        TailOptions(variant="masked")
    with pytest.raises(ValueError, match="cell: expected one of .*got 'mingru'"):
        TailOptions(cell="mingru")
    with pytest.raises(ValueError, match=r"min_len: expected an integer >= tail \(3\), got 2"):
        TailOptions(min_len=2, tail=3)
    with pytest.raises(ValueError, match=r"seq_len: expected an integer >= min_len \(5\), got 4"):
        TailOptions(seq_len=4)
    with pytest.raises(ValueError, match="tail, min_len, seq_len: expected 1 <= tail <= min_len <= seq_len"):
        tail_data(3, 5, 6, 1, np.random.default_rng(0))
    with pytest.raises(ValueError, match="variant: expected one of"):
        TailClassifier("lstm", 1, 4, 2, "nope")


@pytest.mark.parametrize(("seq_len", "min_len", "groups"), [(100, 5, 4), (20, 5, 2), (6, 5, 4), (9, 9, 3)])
def test_padding_bins_cover_every_padding_once(seq_len, min_len, groups):
    bins = padding_bins(seq_len, min_len, groups)
    covered = [p for low, high in bins for p in range(low, high + 1)]
    assert covered == list(range(seq_len - min_len + 1))
    assert all(low <= high for low, high in bins)


def test_lengths_quick(tmp_path):
    pytest.importorskip("matplotlib")
    assert EXPERIMENTS["lengths"] == "rnnkit.experiments.lengths"
    result = run("lengths", quick=True, out=tmp_path)
    names = {path.name for path in result.files}
    pngs = ["lengths.png", "lengths_by_padding.png"]
    assert {"report.md", "metrics.csv", "results.csv", *pngs} <= names
    for png in pngs:
        assert (tmp_path / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert (tmp_path / png).stat().st_size < 200_000
    report = result.report.read_text()
    assert report.startswith("# ") and "Quick run" in report and "rnnkit experiment lengths --quick" in report
    for section in ("## Settings", "## Results", "## Conclusion", *(f"]({png})" for png in pngs)):
        assert section in report
    with open(tmp_path / "results.csv") as handle:
        assert len(list(csv.DictReader(handle))) == len(result.table) == 10
    rows = {(row["model"], row["variant"].split()[0]): row for row in result.table}
    for row in result.table:
        assert not row["diverged"]
        assert 0.5 < row["final val accuracy"] <= 1.0 and math.isfinite(row["final val loss"])
    for model in ("LSTM", "GRU"):
        padded, masked, packed = rows[model, "(a)"], rows[model, "(b)"], rows[model, "(c)"]
        # with lengths beats without: held by >= 5 accuracy points and a loss less than 2/3 in seeds 0-3
        assert masked["final val accuracy"] > padded["final val accuracy"]
        assert masked["final val loss"] < padded["final val loss"]
        assert rows[model, "(e)"]["final val loss"] < rows[model, "(d)"]["final val loss"]
        # lengths= and packing are the same computation: the same numbers from the same seed
        assert masked["final val accuracy"] == packed["final val accuracy"]
        assert masked["final val loss"] == packed["final val loss"]
    assert "bit-identical" in report
    assert f"{rows['GRU', '(a)']['final val accuracy']:.3f}" in report  # the conclusion quotes the numbers


def test_tail_task_builds_by_name_from_the_registry_without_importing_it_first():
    import subprocess
    import sys

    code = "from rnnkit.training import build_task; print(type(build_task('tail', {}, seed=0)).__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
