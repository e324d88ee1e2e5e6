"""One worker thread that owns the model: a bounded queue of generation jobs, batched decoding steps.

Dynamic (continuous) batching: each loop the worker admits waiting jobs up to ``max_batch``, runs each new
prompt on its own (prefill), then advances every running job by one token in a single batched model call.
A job finishes at its EOS or token limit and leaves the batch; a new one can join at the next step.

A job's result does not depend on what it is batched with: its processors see only its own history, and
it samples with its own ``torch.Generator`` from its own row, exactly as ``rnnkit.decoding.generate`` does
for a batch of one (same prefill, same ``multinomial`` call on a (1, V) distribution). The batched model
call computes each row independently; only the order of floating-point sums inside a matrix product may
differ with the batch size, which moves logits by ~1e-7, far below what changes a sampled token except
by a draw that lands within that distance of a boundary. Beam search runs alone (its K hypotheses are
already a batch).
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

from rnnkit.decoding import compose, generate

logger = logging.getLogger(__name__)

# what a job's events queue receives
TOKEN, DONE, ERROR = "token", "done", "error"


class QueueFull(Exception):
    """The job queue is full: answer 429 and ask the client to retry later."""


@dataclass(eq=False)
class Job:
    """One generation request. Events arrive on ``events``: (TOKEN, id, log_prob), then (DONE, finished)
    where finished means it ended with EOS, or (ERROR, status, message)."""

    prompt: list[int]
    max_new_tokens: int
    method: str = "sample"  # "sample" | "greedy" | "beam"
    processors: list[Callable] = field(default_factory=list)
    eos_id: int | None = None
    beam_size: int | None = None  # method="beam" only; None: generate's default (4)
    seed: int | None = None  # sampling; None: a random one, so every sampled job has its own generator
    timeout: float = 30.0  # seconds from submission
    events: queue.Queue = field(default_factory=queue.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        if self.seed is None and self.method == "sample":
            self.seed = secrets.randbelow(2**31)
        self.deadline = time.monotonic() + self.timeout


class _Row:
    """A running job: the logits for its next token, its recurrent state (batch of one), its history."""

    def __init__(self, job: Job, logits: Tensor, state: Any):
        self.job, self.logits, self.state = job, logits, state
        self.history: list[int] = []
        self.processor = compose(job.processors)
        self.generator = torch.Generator().manual_seed(job.seed) if job.method == "sample" else None


class Worker:
    """A background thread that owns the model, fed by a bounded queue; ``submit`` never blocks. Subclasses
    (:class:`Batcher`, rnnkit.serve.routes_predict.PredictBatcher) define ``_run``, which reads ``queue``,
    keeps ``running`` (jobs taken, not yet answered) and returns once ``_stop`` is set and the queue empty."""

    def __init__(self, *, max_queue: int, name: str):
        if max_queue < 1:
            raise ValueError(f"max_queue: expected >= 1, got {max_queue}")
        self.queue: queue.Queue = queue.Queue(maxsize=max_queue)
        self.running = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def _run(self) -> None:
        raise NotImplementedError

    def start(self):
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> None:
        """Finish the running and queued jobs (up to ``timeout`` seconds), then end the thread."""
        self._stop.set()
        self._thread.join(timeout)

    def submit(self, job):
        if self._stop.is_set():
            raise QueueFull("the server is shutting down")
        try:
            self.queue.put_nowait(job)
        except queue.Full:
            raise QueueFull(f"{self.queue.maxsize} requests are already waiting") from None
        return job

    def depth(self) -> int:
        """Jobs waiting or running."""
        return self.queue.qsize() + self.running


class Batcher(Worker):
    """Runs :class:`Job` s on ``model`` in a background thread; ``submit`` never blocks.

    Args:
        model: a language model, ``logits, state = model(tokens, state)`` (eval mode, on the CPU).
        max_batch: jobs decoded together at most; 1 turns batching off (one job at a time).
        max_queue: jobs waiting to start at most; past it ``submit`` raises :class:`QueueFull`.
        on_tokens, on_batch: metric hooks, called with a token count and a batch size.
    """

    def __init__(self, model: torch.nn.Module, *, max_batch: int = 8, max_queue: int = 32,
                 on_tokens: Callable[[int], None] | None = None, on_batch: Callable[[int], None] | None = None):
        if max_batch < 1 or max_queue < 1:
            raise ValueError(f"max_batch, max_queue: expected >= 1, got {max_batch}, {max_queue}")
        super().__init__(max_queue=max_queue, name="rnnkit-batcher")
        self.model, self.max_batch = model, max_batch
        self.on_tokens, self.on_batch = on_tokens or (lambda n: None), on_batch or (lambda n: None)

    # -- the thread --------------------------------------------------------------------------------------

    def _run(self) -> None:
        rows: list[_Row] = []
        while True:
            while len(rows) < self.max_batch:
                try:
                    job = self.queue.get(block=not rows, timeout=0.05)
                except queue.Empty:
                    break
                row = self._guard(job, self._start, job)
                if row is not None:
                    rows.append(row)
            self.running = len(rows)
            if not rows:
                if self._stop.is_set() and self.queue.empty():
                    return
                continue
            try:
                rows = self._step(rows)
            except Exception as error:  # a bug, not bad input: fail these jobs, keep serving
                logger.exception("decoding step failed")
                for row in rows:
                    row.job.events.put((ERROR, 500, f"generation failed: {type(error).__name__}"))
                rows = []
            self.running = len(rows)

    def _guard(self, job: Job, function: Callable, *args):
        try:
            return function(*args)
        except ValueError as error:  # e.g. constraints that leave nothing to generate
            job.events.put((ERROR, 422, str(error)))
        except Exception as error:
            logger.exception("generation failed")
            job.events.put((ERROR, 500, f"generation failed: {type(error).__name__}"))
        return None

    @torch.no_grad()
    def _start(self, job: Job) -> _Row | None:
        if job.cancelled.is_set():
            return None
        if time.monotonic() > job.deadline:
            job.events.put((ERROR, 504, f"the request waited longer than its timeout of {job.timeout:g} s"))
            return None
        if job.method == "beam":
            result = generate(self.model, [job.prompt], method="beam", max_new_tokens=job.max_new_tokens,
                              processors=job.processors, eos_id=job.eos_id, beam_size=job.beam_size)
            count = int(result.lengths[0])
            for position in range(count):
                job.events.put((TOKEN, int(result.tokens[0, position]), float(result.log_probs[0, position])))
            self.on_tokens(count)
            job.events.put((DONE, bool(result.finished[0])))
            return None
        logits, state = self.model(torch.tensor([job.prompt], dtype=torch.long), None)  # (1, T, V)
        return _Row(job, _upcast(logits[:, -1]), state)

    @torch.no_grad()
    def _step(self, rows: list[_Row]) -> list[_Row]:
        """Choose one token for every row, then advance the rows that go on in one batched model call."""
        going: list[_Row] = []
        now = time.monotonic()
        for row in rows:
            job = row.job
            if job.cancelled.is_set():
                continue
            if now > job.deadline:
                job.events.put((ERROR, 504, f"generation took longer than the timeout of {job.timeout:g} s; "
                                            "ask for fewer tokens"))
                continue
            history = torch.tensor([row.history], dtype=torch.long).view(1, len(row.history))
            log_probs = torch.log_softmax(row.processor(history, row.logits), dim=-1)  # (1, V)
            if not bool((log_probs > float("-inf")).any()):
                job.events.put((ERROR, 422, f"the constraints leave no token to generate at step {len(row.history)}"))
                continue
            if job.method == "sample":
                token = int(torch.multinomial(log_probs.exp(), 1, generator=row.generator))
            else:
                token = int(log_probs.argmax(-1))
            row.history.append(token)
            job.events.put((TOKEN, token, float(log_probs[0, token])))
            self.on_tokens(1)
            if token == job.eos_id or len(row.history) == job.max_new_tokens:
                job.events.put((DONE, token == job.eos_id))
                continue
            going.append(row)
        if not going:
            return going
        self.on_batch(len(going))
        tokens = torch.tensor([[row.history[-1]] for row in going], dtype=torch.long)  # (B, 1)
        logits, state = self.model(tokens, _cat_states([row.state for row in going]))
        for index, row in enumerate(going):
            row.logits = _upcast(logits[index:index + 1, -1])  # (1, V)
            row.state = _take(state, index)
        return going


def _upcast(logits: Tensor) -> Tensor:
    return logits.to(torch.promote_types(logits.dtype, torch.float32))


def _cat_states(states: list[Any]) -> Any:
    """Batch-of-one states -> one batched state (batch in dim 1, as torch's layers keep it)."""
    if isinstance(states[0], Tensor):
        return torch.cat(states, dim=1)
    return type(states[0])(_cat_states(list(parts)) for parts in zip(*states, strict=True))


def _take(state: Any, index: int) -> Any:
    if isinstance(state, Tensor):
        return state[:, index:index + 1]
    return type(state)(_take(part, index) for part in state)
