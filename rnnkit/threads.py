"""CPU thread policy for the commands: what `make demo` and `rnnkit predict` run under.

torch's OpenMP threads spin between parallel regions by default. On a busy 2-core machine that spinning
slowed training and NER tagging many times over (figures in docs/performance.md): the
small per-step operations of a recurrent network or a CRF give the threads little to share and much to wait
for. Two remedies, each where it fits:

* :func:`passive_openmp`: a program re-executes itself with ``OMP_WAIT_POLICY=PASSIVE`` (OpenMP reads the
  variable once, when torch loads), keeping its threads for the large matrix multiplies of training.
* :func:`inference_threads`: inference of one request runs with a single torch thread, which cannot spin
  against another; set ``OMP_NUM_THREADS`` to choose the count yourself.

Measured figures are in docs/performance.md.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

import torch

__all__ = ["inference_threads", "passive_openmp"]


def passive_openmp(module: str) -> None:
    """Re-execute ``python -m module`` with the same arguments and ``OMP_WAIT_POLICY=PASSIVE``, unless the
    policy is already set (then return). Only for a program's entry point: it replaces the process."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
        os.execv(sys.executable, [sys.executable, "-m", module, *sys.argv[1:]])


@contextmanager
def inference_threads() -> Iterator[int]:
    """Run the block with one torch thread (the count the user chose with ``OMP_NUM_THREADS``, if set);
    the previous count is restored afterwards. Yields the count used."""
    previous = torch.get_num_threads()
    chosen = os.environ.get("OMP_NUM_THREADS", "").strip()
    threads = int(chosen) if chosen.isdigit() and int(chosen) >= 1 else 1
    torch.set_num_threads(threads)
    try:
        yield threads
    finally:
        torch.set_num_threads(previous)
