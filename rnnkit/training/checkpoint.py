"""Crash-safe training checkpoints.

Layout of one checkpoint (a directory under `RUN/checkpoints/`):

    step-00000040/
        model.safetensors  the model's state_dict (safetensors: no pickle for weights)
        state.pt           optimizer, schedule, RNG states, data position, carried hidden state, counters
        meta.json          {"meta": {step, epoch, config, metrics, files: {name: sha256}}, "sha256": ...}

`state.pt` is written with `torch.save` but holds only tensors, numbers, strings, lists, tuples and dicts,
and is always read with `torch.load(..., weights_only=True)`, which refuses anything else (no arbitrary
pickle is ever executed on load). NumPy's RNG state is stored as a tensor for that reason.

Writes are atomic: every file goes to `step-XXXXXXXX.tmp-PID/`, is flushed and fsync'ed, the directory is
fsync'ed, then renamed to its final name and the parent directory fsync'ed. A process killed at any
moment leaves either a complete checkpoint or a `.tmp-*` directory that the next save removes.

On load every file's SHA-256 is checked against meta.json (whose own hash is checked too); the newest
checkpoint that fails is skipped with a warning naming it, and the previous good one is used.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import pickle
import re
import shutil
from collections.abc import Iterable
from pathlib import Path
from typing import Any, NamedTuple

import safetensors.torch
import torch
from torch import Tensor

logger = logging.getLogger(__name__)

__all__ = [
    "Checkpoint",
    "CorruptCheckpointError",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
    "prune_checkpoints",
]

FORMAT_VERSION = 1
MODEL_FILE, STATE_FILE, META_FILE = "model.safetensors", "state.pt", "meta.json"
_NAME = re.compile(r"step-(\d{8,})")


class CorruptCheckpointError(RuntimeError):
    """A checkpoint whose files are missing, unreadable or fail their checksum."""


class Checkpoint(NamedTuple):
    path: Path
    meta: dict[str, Any]  # step, epoch, config, metrics, best_step, ...
    weights: dict[str, Tensor]
    state: dict[str, Any]


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # some platforms cannot open directories; the rename is still atomic
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` via a temp file, flush, fsync, rename, fsync of the directory."""
    path = Path(path)
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    _write_file(tmp, data)
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _meta_bytes(meta: dict[str, Any]) -> bytes:
    body = json.dumps(meta, sort_keys=True, allow_nan=True)
    return json.dumps({"meta": json.loads(body), "sha256": _sha256(body.encode())}, indent=1).encode()


def save_checkpoint(
    directory: str | Path,
    step: int,
    weights: dict[str, Tensor],
    state: dict[str, Any],
    meta: dict[str, Any],
) -> Path:
    """Write one checkpoint atomically under `directory` and return its path (`directory/step-XXXXXXXX`)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("step-*.tmp-*"):  # left by a process killed mid-save
        shutil.rmtree(stale, ignore_errors=True)
    final = directory / f"step-{step:08d}"
    tmp = directory / f"{final.name}.tmp-{os.getpid()}"
    tmp.mkdir()
    # clone: safetensors refuses tensors sharing memory (tied weights); the copy also leaves the model free
    model_bytes = safetensors.torch.save({k: v.detach().to("cpu", copy=True).contiguous() for k, v in weights.items()})
    buffer = io.BytesIO()
    torch.save(state, buffer)
    state_bytes = buffer.getvalue()
    files = {MODEL_FILE: _sha256(model_bytes), STATE_FILE: _sha256(state_bytes)}
    _write_file(tmp / MODEL_FILE, model_bytes)
    _write_file(tmp / STATE_FILE, state_bytes)
    _write_file(tmp / META_FILE, _meta_bytes({**meta, "step": step, "format_version": FORMAT_VERSION, "files": files}))
    _fsync_dir(tmp)
    if final.exists():  # the same step saved again (e.g. the final step after a resume): replace it
        old = directory / f"{final.name}.tmp-old-{os.getpid()}"
        os.replace(final, old)
        shutil.rmtree(old)
    os.replace(tmp, final)
    _fsync_dir(directory)
    return final


def load_checkpoint(path: str | Path, *, map_location: str | torch.device = "cpu") -> Checkpoint:
    """Read and verify one checkpoint directory; raises CorruptCheckpointError naming what is wrong."""
    path = Path(path)
    try:
        outer = json.loads((path / META_FILE).read_bytes())
        meta = outer["meta"]
        body = json.dumps(meta, sort_keys=True, allow_nan=True)
        if _sha256(body.encode()) != outer["sha256"]:
            raise CorruptCheckpointError(f"{path / META_FILE}: checksum mismatch")
        blobs = {}
        for name, expected in meta["files"].items():
            data = (path / name).read_bytes()
            if _sha256(data) != expected:
                raise CorruptCheckpointError(f"{path / name}: SHA-256 mismatch (truncated or modified)")
            blobs[name] = data
        weights = safetensors.torch.load(blobs[MODEL_FILE])
        state = torch.load(io.BytesIO(blobs[STATE_FILE]), map_location=map_location, weights_only=True)
    except CorruptCheckpointError:
        raise
    except (OSError, ValueError, KeyError, TypeError, RuntimeError, pickle.UnpicklingError) as error:
        raise CorruptCheckpointError(f"{path}: unreadable checkpoint ({type(error).__name__}: {error})") from error
    return Checkpoint(path, meta, weights, state)


def list_checkpoints(directory: str | Path) -> list[tuple[int, Path]]:
    """(step, path) of every finished checkpoint directory under `directory`, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = []
    for path in directory.iterdir():
        match = _NAME.fullmatch(path.name)
        if match and path.is_dir():
            found.append((int(match.group(1)), path))
    return sorted(found)


def latest_checkpoint(directory: str | Path, *, map_location: str | torch.device = "cpu") -> Checkpoint | None:
    """The newest checkpoint that verifies; corrupt newer ones are skipped with a warning naming them."""
    for _step, path in reversed(list_checkpoints(directory)):
        try:
            return load_checkpoint(path, map_location=map_location)
        except CorruptCheckpointError as error:
            logger.warning("skipping corrupt checkpoint %s: %s; trying the previous one", path, error)
    return None


def prune_checkpoints(directory: str | Path, keep_last: int, keep: Iterable[int] = ()) -> list[Path]:
    """Delete all but the `keep_last` newest checkpoints and the steps in `keep` (the best); return deleted."""
    found = list_checkpoints(directory)
    protected = {step for step, _ in found[-keep_last:]} | set(keep)
    deleted = []
    for step, path in found:
        if step not in protected:
            shutil.rmtree(path, ignore_errors=True)
            deleted.append(path)
    return deleted
