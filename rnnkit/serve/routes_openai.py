"""OpenAI-compatible text completions for language-model bundles: ``POST /v1/completions`` and
``GET /v1/models``, so that the official ``openai`` client, and any tool built on it, work against rnnkit with
only ``base_url`` changed::

    from openai import OpenAI
    client = OpenAI(base_url="http://127.0.0.1:8000/v1", api_key="unused")
    client.completions.create(model="poems", prompt="春", max_tokens=24, temperature=0.8, seed=1, n=2)

The request and answer follow OpenAI's Completions API: ``prompt`` (a string or a list of strings),
``max_tokens``, ``temperature``, ``top_p``, ``n``, ``stop`` (up to 4 strings, cut from the text),
``seed``, ``stream`` (chunks as server-sent ``data:`` lines, then ``data: [DONE]``), and ``choices`` with
``finish_reason`` "stop" (the end token or a stop string) or "length", plus ``usage``. Fields rnnkit cannot
honour (``logprobs``, ``echo``, ``suffix``, penalties, ``logit_bias``, ``best_of`` other than ``n``) are
accepted at their neutral values and refused otherwise (422 naming the field), never ignored.

Decoding follows rnnkit's one rule (rnnkit.decoding.options) with OpenAI's defaults: temperature 1 and top_p 1
sample, temperature 0 is greedy decoding (where OpenAI treats ``seed`` as best effort, it is not used then).
The ``n`` completions of a prompt are separate jobs, decoded together by the server's dynamic batching;
with a ``seed``, completion i uses seed + i, so the answer is reproducible.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import datetime

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, StreamingResponse

from rnnkit.decoding import DecodingOptions, ban_special_tokens
from rnnkit.serve.openai_schemas import (
    CompletionChoice,
    CompletionRequest,
    CompletionResponse,
    Model,
    ModelList,
    Usage,
)
from rnnkit.serve.routing import events, invalid, invalid_value, ready, submit, token_text
from rnnkit.serve.worker import DONE, TOKEN, Job
from rnnkit.text.tokenizer import unknown_tokens

__all__ = ["register_routes", "StopScanner"]


def register_routes(app: FastAPI, settings) -> None:
    """Add ``POST /v1/completions`` and ``GET /v1/models`` to ``app``, under the limits of ``settings``."""

    @app.get("/v1/models", response_model=ModelList)
    def list_models(request: Request):
        state = ready(request)
        return ModelList(data=[_model(state)])

    @app.post("/v1/completions", response_model=CompletionResponse,
              responses={200: {"content": {"text/event-stream": {}}}, 404: {}, 422: {}, 429: {}, 504: {}})
    def create_completion(body: CompletionRequest, request: Request):
        state = ready(request)
        served = _model(state).id
        if body.model != served:
            return JSONResponse(status_code=404, content={"error": {  # OpenAI's error body, as its client reads it
                "message": f"model: this server serves {served!r}, got {body.model!r}",
                "type": "invalid_request_error", "param": "model", "code": "model_not_found"}})
        prompts = [body.prompt] if isinstance(body.prompt, str) else list(body.prompt)
        jobs, prompt_tokens, unknown = _jobs(state, settings, body, prompts)
        header = {"id": f"cmpl-{uuid.uuid4().hex}", "object": "text_completion", "created": int(time.time()),
                  "model": served}
        for job in jobs:
            submit(state, job)
        if body.stream:
            return StreamingResponse(_stream(state, jobs, body.stop, header), media_type="text/event-stream",
                                     headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        choices, completion_tokens = [], 0
        for index, job in enumerate(jobs):
            text, finish_reason, count = _complete(state, job, body.stop)
            choices.append(CompletionChoice(text=text, index=index, finish_reason=finish_reason))
            completion_tokens += count
        usage = Usage(prompt_tokens=prompt_tokens, completion_tokens=completion_tokens,
                      total_tokens=prompt_tokens + completion_tokens)
        return CompletionResponse(**header, choices=choices, usage=usage, unknown=unknown)


def _model(state) -> Model:
    """The served model: its id is the bundle's task (e.g. "poems"), as GET /v1/models lists it."""
    info = state.bundle.info
    try:
        created = int(datetime.strptime(info.get("created", ""), "%Y-%m-%dT%H:%M:%S%z").timestamp())
    except ValueError:  # a bundle without its creation time
        created = 0
    return Model(id=str(info.get("task", "rnnkit")), created=created)


def _options(body: CompletionRequest) -> DecodingOptions:
    """OpenAI's sampling fields under rnnkit's one rule: neutral values count as absent, temperature 0 is
    greedy decoding (its seed unused)."""
    temperature = body.temperature
    top_p = None if body.top_p is None or body.top_p == 1 else body.top_p
    seed = None if temperature == 0 else body.seed
    try:
        return DecodingOptions.choose(temperature=temperature, top_p=top_p, seed=seed)
    except (ValueError, TypeError) as error:
        invalid_value(error, CompletionRequest)


def _jobs(state, settings, body: CompletionRequest, prompts: list[str]) -> tuple[list[Job], int, list[str]]:
    """One job per prompt and completion (prompt-major, as OpenAI orders the choices)."""
    tokenizer = state.bundle.tokenizer
    if len(prompts) * body.n > settings.max_batch * 4:
        invalid("n", f"expected at most {settings.max_batch * 4} completions per request (prompts x n), got "
                     f"{len(prompts)} x {body.n}")
    if body.max_tokens > settings.max_new_tokens:
        invalid("max_tokens", f"expected at most {settings.max_new_tokens} (this server's limit), got "
                              f"{body.max_tokens}")
    options, jobs, prompt_tokens, unknown = _options(body), [], 0, []
    for index, prompt in enumerate(prompts):
        if len(prompt) > settings.max_prompt_chars:
            invalid("prompt", f"expected at most {settings.max_prompt_chars} characters, got {len(prompt)}")
        pieces = tokenizer.split(prompt)
        if pieces:  # an empty prompt is allowed: generation from the start token
            try:
                name = "prompt" if isinstance(body.prompt, str) else f"prompt[{index}]"
                unknown += unknown_tokens(pieces, tokenizer.__contains__, argument=name, text=prompt)
            except ValueError as error:
                invalid("prompt", str(error))
        ids = [tokenizer.start_id, *tokenizer.encode(prompt)]
        prompt_tokens += len(ids) - 1  # the start token is rnnkit's, not the caller's
        processors = [ban_special_tokens(tokenizer), *options.processors()]  # never <unk>, <pad> or <s>
        for number in range(body.n):
            seed = None if options.seed is None else options.seed + number
            jobs.append(Job(ids, body.max_tokens, options.method, processors, tokenizer.end_id, None, seed,
                            settings.request_timeout))
    return jobs, prompt_tokens, unknown


class StopScanner:
    """Cuts a streamed text at the first of the ``stop`` strings: ``feed`` returns the text that can be sent
    (what may still be the start of a stop string is held back), ``stopped`` tells whether one appeared."""

    def __init__(self, stop: list[str]):
        self.stop, self.pending, self.stopped = stop, "", False
        self.hold = max((len(s) for s in stop), default=1) - 1

    def feed(self, piece: str) -> str:
        if self.stopped:
            return ""
        self.pending += piece
        cuts = [self.pending.find(s) for s in self.stop if s in self.pending]
        if cuts:
            self.stopped = True
            text, self.pending = self.pending[:min(cuts)], ""
            return text
        keep = len(self.pending) - self.hold
        text, self.pending = (self.pending[:keep], self.pending[keep:]) if keep > 0 else ("", self.pending)
        return text

    def flush(self) -> str:
        text, self.pending = ("" if self.stopped else self.pending), ""
        return text


def _pieces(state, job: Job) -> Iterator[tuple[str | None, bool | None]]:
    """(text of a generated token, None) for each token, then (None, finished); HTTP errors raise."""
    tokenizer = state.bundle.tokenizer
    count = 0
    for event in events(job, state.settings.request_timeout):
        if event[0] == TOKEN:
            if event[1] == tokenizer.end_id:
                continue
            yield token_text(tokenizer, event[1], first=count == 0), None
            count += 1
        elif event[0] == DONE:
            yield None, event[1]
            return
        else:
            raise HTTPException(event[1], event[2])


def _complete(state, job: Job, stop: list[str]) -> tuple[str, str, int]:
    """One completion's text, finish reason and token count."""
    scanner, text, count = StopScanner(stop), "", 0
    try:
        for piece, finished in _pieces(state, job):
            if piece is None:
                return text + scanner.flush(), "stop" if finished else "length", count
            count += 1
            text += scanner.feed(piece)
            if scanner.stopped:
                return text, "stop", count
    finally:
        job.cancelled.set()  # done, stopped, or failed: the worker drops the job
    raise HTTPException(504, "no result")  # not reached: the events end with DONE or an error


def _stream(state, jobs: list[Job], stop: list[str], header: dict) -> Iterator[str]:
    """OpenAI's stream: a chunk per piece of text (one choice each), a last chunk per choice with its
    finish_reason, then ``data: [DONE]``; completions follow one another."""
    try:
        for index, job in enumerate(jobs):
            scanner = StopScanner(stop)
            finish_reason = "length"
            try:
                for piece, finished in _pieces(state, job):
                    if piece is None:
                        finish_reason = "stop" if finished else "length"
                        text = scanner.flush()
                    else:
                        text = scanner.feed(piece)
                    if text:
                        yield _chunk(header, index, text, None)
                    if scanner.stopped:
                        finish_reason = "stop"
                        break
                    if piece is None:
                        break
            except HTTPException as error:
                yield _data({"error": {"message": str(error.detail), "type": "server_error", "code": error.status_code}})
                return
            yield _chunk(header, index, "", finish_reason)
        yield "data: [DONE]\n\n"
    finally:
        for job in jobs:
            job.cancelled.set()


def _chunk(header: dict, index: int, text: str, finish_reason: str | None) -> str:
    return _data({**header, "choices": [{"text": text, "index": index, "logprobs": None,
                                         "finish_reason": finish_reason}]})


def _data(payload: dict) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"
