"""One training run per run folder: an exclusive lock on ``RUN/run.lock`` for as long as a run writes there.

Two ``rnnkit train --out DIR`` at once would overwrite each other's checkpoints and interleave metrics.csv;
the second now fails at once with :class:`RunLockedError`, naming the folder and the holder's pid and host.

The lock is ``fcntl.flock`` on ``RUN/run.lock``: the kernel drops it when its process ends in any way,
SIGKILL included, so a killed run never blocks the next one (``--resume`` works right after a power cut).
The file holds the holder's pid, host and start time, for the message. A file left by a process that ended
without removing it (killed) is taken over with a warning naming that pid. Released at the end of the run,
also on an exception or Ctrl-C: the file is removed while still locked, and a run that opened the file just
before that notices (its inode is no longer the path's) and opens it again.

Without ``fcntl`` (Windows), or on a file system that refuses ``flock``, the pid in the file decides: a live
pid on this host holds the folder, a dead one's lock is taken over.

    with run_lock("runs/tiny"):   # what Trainer.fit and rnnkit.training.train do around a run
        ...
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: the pid check alone
    fcntl = None

logger = logging.getLogger(__name__)

__all__ = ["LOCK_FILE", "RunLockedError", "run_lock"]

LOCK_FILE = "run.lock"

# Locks this thread holds, by lock file: a run's lock is taken by rnnkit.training.train and again by the
# Trainer it calls; flock would refuse the second open of the same file, so the second one only counts.
# Another thread of this process goes through flock and is refused like another process.
_held: dict[tuple[Path, int], int] = {}


class RunLockedError(ValueError):
    """The run folder is in use by another training run (the message names its pid and host)."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's live process
        return True
    return True


def _read(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 4096, 0)
        record = json.loads(data.decode()) if data.strip() else {}
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def _describe(record: dict[str, Any]) -> str:
    return (f"pid {record.get('pid', '?')} on host {record.get('host', '?')}, started "
            f"{record.get('started', '?')}")


def _refuse(out_dir: Path, record: dict[str, Any]) -> RunLockedError:
    return RunLockedError(
        f"out_dir: {out_dir} is in use by another training run ({_describe(record)}); wait for it to finish, "
        f"or choose another folder (--out). The lock is {out_dir / LOCK_FILE}")


def _flock(fd: int) -> bool | None:
    """True: locked; False: another process holds it; None: no flock here (use the pid check)."""
    if fcntl is None:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    except OSError as error:
        if error.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        return None  # ENOLCK, EOPNOTSUPP, ...: a file system without flock
    return True


def _acquire(out_dir: Path, path: Path) -> int:
    host = socket.gethostname()
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        locked = _flock(fd)
        record = _read(fd)
        if locked is None:  # no flock: the pid in the file decides
            pid = record.get("pid")
            locked = not (isinstance(pid, int) and record.get("host") == host and pid != os.getpid() and _alive(pid))
        if not locked:
            os.close(fd)
            raise _refuse(out_dir, record)
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the holder removed the file between our open and our lock: open the new one
    if record.get("pid") not in (None, os.getpid()):
        pid = record["pid"]
        state = "no longer running" if record.get("host") == host and isinstance(pid, int) and not _alive(pid) \
            else "gone (its lock was released)"
        logger.warning("run lock %s: taking it over from %s, which is %s; a killed run leaves its lock file",
                       path, _describe(record), state)
    mine = {"pid": os.getpid(), "host": host, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps(mine).encode() + b"\n", 0)
    os.fsync(fd)
    return fd


@contextmanager
def run_lock(out_dir: str | Path) -> Iterator[Path]:
    """Hold the run folder ``out_dir`` (created if missing) for the block; yields the lock file's path.

    Raises:
        RunLockedError: another live process holds it (the message names the folder, pid and host).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = (out_dir / LOCK_FILE).resolve()
    key = (path, threading.get_ident())
    if key in _held:
        _held[key] += 1
        try:
            yield path
        finally:
            _held[key] -= 1
        return
    fd = _acquire(out_dir, path)
    _held[key] = 1
    try:
        yield path
    finally:
        del _held[key]
        try:
            path.unlink(missing_ok=True)  # still locked: a waiting opener sees the inode change
        finally:
            os.close(fd)
