"""The run-folder lock (rnnkit.training.lock): one training run per folder, taken over after a killed run."""

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rnnkit.cli import app
from rnnkit.training import RunLockedError, train
from rnnkit.training.lock import LOCK_FILE, run_lock

ROOT = Path(__file__).resolve().parents[2]
TINY = ROOT / "configs" / "tiny.yaml"
FAST = ["max_steps=4", "checkpoint.every=2", "validation.every=4", "log_every=100"]
HOLD = "import sys\nfrom rnnkit.training.lock import run_lock\nwith run_lock(sys.argv[1]):\n" \
       "    print('held', flush=True)\n    sys.stdin.read()\n"


@pytest.fixture
def holder(tmp_path):
    """Another process holding the lock of tmp_path/run until the test ends."""
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert process.stdout.readline().strip() == "held"
    yield out, process
    process.stdin.close()
    process.wait(timeout=60)


def test_a_second_run_into_a_locked_folder_fails_naming_the_holder(holder):
    out, process = holder
    with pytest.raises(RunLockedError, match=rf"out_dir: {out} is in use .*pid {process.pid} on host "
                                             rf"{socket.gethostname()}"):
        train(TINY, FAST, out_dir=out)
    assert not (out / "checkpoints").exists() and not (out / "metrics.csv").exists()  # nothing written
    result = CliRunner().invoke(app, ["train", str(TINY), "--out", str(out), *[f"--set={o}" for o in FAST]])
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]
    assert result.exit_code == 2 and len(errors) == 1 and f"pid {process.pid}" in errors[0], result.output
    assert json.loads((out / LOCK_FILE).read_text())["pid"] == process.pid  # the holder's lock is untouched


def test_the_lock_is_released_at_the_end_and_on_an_exception(tmp_path):
    out = tmp_path / "run"
    train(TINY, FAST, out_dir=out)
    assert not (out / LOCK_FILE).exists()
    with pytest.raises(KeyboardInterrupt), run_lock(out):
        assert json.loads((out / LOCK_FILE).read_text())["pid"] == os.getpid()
        raise KeyboardInterrupt
    assert not (out / LOCK_FILE).exists()
    with run_lock(out), run_lock(out):  # the same thread may nest it (train() and its Trainer)
        errors = []
        other = threading.Thread(target=lambda: _try_lock(out, errors))
        other.start()
        other.join()
        assert len(errors) == 1 and f"pid {os.getpid()}" in str(errors[0])  # another thread is refused
    assert not (out / LOCK_FILE).exists()


def _try_lock(out, errors):
    try:
        with run_lock(out):
            pass
    except RunLockedError as error:
        errors.append(error)


def test_a_lock_file_of_a_dead_process_is_taken_over_with_a_warning(tmp_path, caplog):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    out = tmp_path / "run"
    out.mkdir()
    (out / LOCK_FILE).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "started": "then"}))
    with caplog.at_level(logging.WARNING, logger="rnnkit.training.lock"):
        result = train(TINY, FAST, out_dir=out)
    assert result.step == 4 and not (out / LOCK_FILE).exists()
    assert any(f"pid {dead.pid}" in r.getMessage() and "no longer running" in r.getMessage() for r in caplog.records)


def test_resume_after_sigkill_takes_the_lock_over(tmp_path):
    out = tmp_path / "run"
    script = ("import os, signal, sys\nfrom rnnkit.training import train\nclass Kill:\n"
              "    def on_step(self, info):\n        if info.step == 3:\n"
              "            os.kill(os.getpid(), signal.SIGKILL)\n"
              "train(sys.argv[1], sys.argv[3:], out_dir=sys.argv[2], callbacks=[Kill()])\n")
    done = subprocess.run([sys.executable, "-c", script, str(TINY), str(out), *FAST], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert json.loads((out / LOCK_FILE).read_text())["pid"] > 0  # left behind, but the kernel dropped the flock
    result = train(TINY, FAST, out_dir=out, resume=True)
    assert result.step == 4 and not (out / LOCK_FILE).exists()
