"""What the server's route modules share: readiness, 422 answers naming the field, decoding options under
rnnkit.decoding's one rule, and the answer of a queued job (JSON, or server-sent events with ``stream``).

A route module (rnnkit.serve.routes_lm, and those of the applications, e.g. rnnkit.poems.serve) defines
``register_routes(app, settings)`` and is named for its bundle kind in rnnkit.catalog (``KindEntry.routes``).
"""

from __future__ import annotations

import json
import queue
import time
from collections.abc import Iterator

from fastapi import HTTPException, Request
from fastapi.responses import StreamingResponse

from rnnkit.decoding import DecodingOptions
from rnnkit.serve.schemas import GenerateRequest, PoemRequest
from rnnkit.serve.worker import DONE, ERROR, TOKEN, Job, QueueFull

__all__ = ["answer", "decoding_options", "events", "invalid", "invalid_value", "ready", "submit", "token_text"]


def ready(request: Request):
    state = request.app.state
    if not state.ready:
        raise HTTPException(503, "the model is not loaded yet, or the server is stopping", headers={"Retry-After": "1"})
    return state


def invalid(field: str, message: str):
    raise HTTPException(422, [{"loc": ["body", field], "msg": message, "type": "value_error"}])


def invalid_value(error: ValueError, schema: type) -> None:
    """422 for a ValueError whose message starts with the field's name: "acrostic: expected 4 characters ..."."""
    field = str(error).split(":", 1)[0]
    invalid(field if field in schema.model_fields else "body", str(error))


def decoding_options(body: GenerateRequest | PoemRequest) -> DecodingOptions:
    """The request's decoding options under the one rule of rnnkit.decoding.options (422 naming the field)."""
    try:
        return DecodingOptions.choose(beam=body.beam, temperature=body.temperature, top_p=body.top_p,
                                      top_k=getattr(body, "top_k", None), seed=body.seed)
    except (ValueError, TypeError) as error:
        invalid_value(error, type(body))


def submit(state, job):
    """Queue ``job`` on the app's worker; 429 with Retry-After when the queue is full."""
    try:
        return state.batcher.submit(job)
    except QueueFull as error:
        state.metrics.count_error("queue_full")
        raise HTTPException(429, f"too many requests: {error}; retry after {state.settings.retry_after} s",
                            headers={"Retry-After": str(state.settings.retry_after)}) from None


def events(job: Job, timeout: float) -> Iterator[tuple]:
    """The job's events until DONE or ERROR; a missing event within ``timeout`` seconds is a timeout."""
    job.log_probs = []
    deadline = time.monotonic() + timeout
    while True:
        try:
            event = job.events.get(timeout=max(0.0, deadline - time.monotonic()) + 1.0)
        except queue.Empty:
            job.cancelled.set()
            yield (ERROR, 504, f"generation took longer than the timeout of {timeout:g} s")
            return
        if event[0] == TOKEN:
            job.log_probs.append(event[2])
        yield event
        if event[0] != TOKEN:
            return


def answer(state, job: Job, stream: bool, tokenizer, finish):
    submit(state, job)
    timeout = state.settings.request_timeout
    if not stream:
        tokens: list[int] = []
        for event in events(job, timeout):
            if event[0] == TOKEN:
                tokens.append(event[1])
            elif event[0] == DONE:
                return finish(tokens, event[1])
            else:
                raise HTTPException(event[1], event[2])
        raise HTTPException(504, "no result")  # not reached: events always ends with DONE or ERROR

    def sse() -> Iterator[str]:
        tokens: list[int] = []
        try:
            for event in events(job, timeout):
                if event[0] == TOKEN:
                    tokens.append(event[1])
                    if event[1] == tokenizer.end_id:  # it ends the text and has none: the done event follows
                        continue
                    yield _sse("token", {"id": event[1], "text": token_text(tokenizer, event[1], len(tokens) == 1)})
                elif event[0] == DONE:
                    yield _sse("done", finish(tokens, event[1]))
                else:
                    yield _sse("error", {"status": event[1], "detail": event[2]})
        finally:
            job.cancelled.set()  # the client went away, or we are done: the worker drops the job

    return StreamingResponse(sse(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def token_text(tokenizer, token: int, first: bool) -> str:
    """The text a generated token adds to an answer: its decoding, after a space for a word-level tokenizer
    unless it is the first."""
    piece = tokenizer.decode([token])
    return " " + piece if piece and tokenizer.level == "word" and not first else piece


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"

