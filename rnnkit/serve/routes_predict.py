"""POST /v1/predict for classifier and tagger bundles (rnnkit.predict), with dynamic batching.

Requests that arrive within ``ServerSettings.batch_window`` seconds of the first waiting one run together
(up to ``max_batch`` requests and ``max_inputs`` texts), as one call of rnnkit.predict.predict on all their
texts, in one worker thread
that owns the model. A request's answer does not depend on its neighbours: predict() pads each text to the
batch's longest and reads it with its own length, so only the order of floating-point sums may differ
(~1e-7 in a probability). A batch in which one request's texts are refused (empty, or every token unknown)
runs again one request at a time, so the 422 names ``inputs[i]`` of that request, and the others get
their answers.

Named for the ``classifier`` and ``tagger`` kinds in rnnkit.catalog (``KindEntry.routes``); the core
(rnnkit.serve.app) takes the worker from :func:`start_worker`.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, HTTPException, Request

from rnnkit.serve.routing import invalid, ready, submit
from rnnkit.serve.schemas import PredictRequest, PredictResponse
from rnnkit.serve.worker import Worker

logger = logging.getLogger(__name__)

__all__ = ["PredictBatcher", "PredictJob", "register_routes", "start_worker"]


def register_routes(app: FastAPI, settings) -> None:
    @app.post("/v1/predict", response_model=PredictResponse, response_model_exclude_none=True,
              responses={422: {}, 429: {}, 504: {}})
    def predict(body: PredictRequest, request: Request):
        """Classify texts (label and every label's probability) or tag them (tokens, BIO tags, entity spans
        with character offsets into the text); one prediction per input, in order."""
        state = ready(request)
        if len(body.inputs) > settings.max_inputs:
            invalid("inputs", f"inputs: expected at most {settings.max_inputs} texts per request (max_inputs), "
                              f"got {len(body.inputs)}; send them in several requests")
        for index, text in enumerate(body.inputs):
            if len(text) > settings.max_input_chars:
                invalid("inputs", f"inputs[{index}]: expected at most {settings.max_input_chars} characters "
                                  f"(max_input_chars), got {len(text)}")
        model = state.bundle.model
        if state.bundle.info.get("kind") == "classifier" and model.config.vocab_size is None:
            invalid("inputs", "inputs: this classifier reads numeric series, which /v1/predict does not take "
                              "(it takes texts); use rnnkit.predict.predict(bundle, series) in Python")
        job = submit(state, PredictJob(list(body.inputs), timeout=settings.request_timeout))
        try:
            status, result = job.result.get(timeout=settings.request_timeout + 1.0)
        except queue.Empty:
            job.cancelled.set()
            raise HTTPException(504, f"prediction took longer than the timeout of "
                                     f"{settings.request_timeout:g} s") from None
        if status == 422:
            invalid("inputs", result)
        if status != 200:
            raise HTTPException(status, result)
        return PredictResponse(predictions=[_answer(item) for item in result])


def start_worker(bundle, settings, metrics) -> PredictBatcher:
    return PredictBatcher(bundle, max_batch=settings.max_batch, max_inputs=settings.max_inputs,
                          max_queue=settings.max_queue, window=settings.batch_window,
                          on_batch=metrics.observe_batch).start()


def _answer(item) -> dict[str, Any]:
    if item.label is not None:
        return {"label": item.label, "probabilities": item.probabilities, "unknown": list(item.unknown)}
    return {"tokens": item.tokens, "tags": item.tags, "entities": [entity._asdict() for entity in item.entities],
            "unknown": list(item.unknown)}


@dataclass(eq=False)
class PredictJob:
    """One /v1/predict request: its texts; ``result`` receives (200, predictions) or (status, message)."""

    inputs: list[str]
    timeout: float = 30.0  # seconds from submission
    result: queue.Queue = field(default_factory=queue.Queue)
    cancelled: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self):
        self.deadline = time.monotonic() + self.timeout


class PredictBatcher(Worker):
    """Runs :class:`PredictJob` s on a classifier or tagger bundle in a background thread (rnnkit.serve.worker's
    Worker: ``submit``, which raises QueueFull when ``max_queue`` jobs wait, ``depth``, ``stop``).

    Args:
        bundle: a loaded classifier or tagger Bundle (model in eval mode).
        max_batch: jobs run together at most; 1 turns batching off (one job at a time).
        max_inputs: texts run in one predict() call at most (a job is never split).
        max_queue: jobs waiting at most; past it ``submit`` raises QueueFull.
        window: seconds a batch waits for more jobs after its first one.
        on_batch: called with each batch's number of jobs (metrics).
    """

    def __init__(self, bundle, *, max_batch: int = 8, max_inputs: int = 64, max_queue: int = 32,
                 window: float = 0.005, on_batch=lambda size: None):
        if max_batch < 1 or max_inputs < 1:
            raise ValueError(f"max_batch, max_inputs: expected >= 1, got {max_batch}, {max_inputs}")
        super().__init__(max_queue=max_queue, name="rnnkit-predict")
        self.bundle, self.max_batch, self.max_inputs = bundle, max_batch, max_inputs
        self.window, self.on_batch = window, on_batch

    def _run(self) -> None:
        while True:
            try:
                first = self.queue.get(timeout=0.05)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            batch, count, held = [first], len(first.inputs), None
            closes = time.monotonic() + self.window
            while count < self.max_inputs and len(batch) < self.max_batch:
                try:
                    job = self.queue.get(timeout=max(0.0, closes - time.monotonic()))
                except queue.Empty:
                    break
                if count + len(job.inputs) > self.max_inputs:
                    held = job  # it starts the next batch
                    break
                batch.append(job)
                count += len(job.inputs)
            for jobs in ([batch, [held]] if held is not None else [batch]):
                self.running = len(jobs)
                self.on_batch(len(jobs))
                self.run_batch(jobs)
            self.running = 0

    def run_batch(self, jobs: list[PredictJob]) -> None:
        """Predict for every live job's texts in one call; on a refused text, each job alone."""
        from rnnkit.predict import predict

        now = time.monotonic()
        for job in jobs:
            if now > job.deadline and not job.cancelled.is_set():
                job.result.put((504, f"the request waited longer than its timeout of {job.timeout:g} s"))
        jobs = [job for job in jobs if not job.cancelled.is_set() and now <= job.deadline]
        if not jobs:
            return
        try:
            predictions = predict(self.bundle, [text for job in jobs for text in job.inputs])
        except ValueError as error:
            if len(jobs) > 1:  # find whose: the message then names inputs[i] of that request
                for job in jobs:
                    self.run_batch([job])
                return
            jobs[0].result.put((422, str(error)))
            return
        except Exception as error:  # a bug, not bad input: fail these jobs, keep serving
            logger.exception("prediction failed")
            for job in jobs:
                job.result.put((500, f"prediction failed: {type(error).__name__}"))
            return
        start = 0
        for job in jobs:
            job.result.put((200, predictions[start:start + len(job.inputs)]))
            start += len(job.inputs)

