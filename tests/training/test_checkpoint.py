"""Checkpoint files: round trip, checksums, pruning, no pickle on load."""

from __future__ import annotations

import json
import logging

import pytest
import torch

from rnnkit.training.checkpoint import (
    CorruptCheckpointError,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)


def _save(directory, step):
    weights = {"w": torch.full((2, 3), float(step)), "b": torch.arange(3.0)}
    state = {"optimizer": {"state": {}, "lr": 0.1}, "rng": torch.get_rng_state(), "data": (1, step)}
    return save_checkpoint(directory, step, weights, state, {"epoch": 1, "config": {"seed": 0}})


def test_round_trip(tmp_path):
    path = _save(tmp_path, 7)
    assert path.name == "step-00000007" and not list(tmp_path.glob("*.tmp-*"))
    checkpoint = load_checkpoint(path)
    assert checkpoint.meta["step"] == 7 and checkpoint.meta["config"] == {"seed": 0}
    assert torch.equal(checkpoint.weights["w"], torch.full((2, 3), 7.0))
    assert checkpoint.state["data"] == (1, 7) and torch.equal(checkpoint.state["rng"], torch.get_rng_state())


@pytest.mark.parametrize("damage", ["truncate_weights", "flip_state", "edit_meta", "delete_state"])
def test_damage_is_detected_and_the_previous_one_used(tmp_path, caplog, damage):
    _save(tmp_path, 5)
    newest = _save(tmp_path, 10)
    if damage == "truncate_weights":
        (newest / "model.safetensors").write_bytes((newest / "model.safetensors").read_bytes()[:20])
    elif damage == "flip_state":
        data = bytearray((newest / "state.pt").read_bytes())
        data[len(data) // 2] ^= 1
        (newest / "state.pt").write_bytes(bytes(data))
    elif damage == "edit_meta":
        outer = json.loads((newest / "meta.json").read_text())
        outer["meta"]["epoch"] = 2
        (newest / "meta.json").write_text(json.dumps(outer))
    else:
        (newest / "state.pt").unlink()
    with pytest.raises(CorruptCheckpointError, match="step-00000010"):
        load_checkpoint(newest)
    with caplog.at_level(logging.WARNING):
        found = latest_checkpoint(tmp_path)
    assert found.meta["step"] == 5
    assert any("step-00000010" in r.getMessage() for r in caplog.records)


def test_prune_keeps_last_n_and_best(tmp_path):
    for step in (1, 2, 3, 4, 5):
        _save(tmp_path, step)
    prune_checkpoints(tmp_path, keep_last=2, keep=[2])
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2, 4, 5]


def test_state_file_refuses_pickled_objects(tmp_path):
    path = _save(tmp_path, 1)
    import datetime
    import hashlib
    import io

    buffer = io.BytesIO()
    torch.save({"x": datetime.date(2020, 1, 1)}, buffer)  # any non-allow-listed class
    (path / "state.pt").write_bytes(buffer.getvalue())
    outer = json.loads((path / "meta.json").read_text())  # forge matching checksums: weights_only still refuses
    outer["meta"]["files"]["state.pt"] = hashlib.sha256(buffer.getvalue()).hexdigest()
    body = json.dumps(outer["meta"], sort_keys=True)
    outer["sha256"] = hashlib.sha256(body.encode()).hexdigest()
    (path / "meta.json").write_text(json.dumps(outer))
    with pytest.raises(CorruptCheckpointError, match="unreadable"):
        load_checkpoint(path)
