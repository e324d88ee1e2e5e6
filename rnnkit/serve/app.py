"""The HTTP server: ``create_app(bundle)`` builds a FastAPI app around one model bundle.

    POST /v1/generate   continue a prompt (sampling, greedy, beam); stream=true: server-sent events
    POST /v1/poem       a Tang poem of an exact form (rnnkit.poems' constraints); stream as above
    POST /v1/predict    not served yet: the app serves language-model bundles only, so it answers 400
    GET  /health        200 once the model is loaded; 503 outside the lifespan (under uvicorn, which listens
                        only inside it, a request then gets a refused connection instead)
    GET  /metrics       Prometheus text: requests, latency histogram, tokens, errors, queue depth
    GET  /              the playground page; GET /docs the OpenAPI docs

The model is loaded in the lifespan and kept on ``app.state``; one worker thread owns it
(rnnkit.serve.worker), endpoints are plain ``def`` (FastAPI runs them in its thread pool) that queue a job
and wait for its tokens. Limits answer clearly: 413 for a body over ``max_body_bytes``, 422 naming the field
for a bad value (a prompt over ``max_prompt_chars``, max_new_tokens over ``max_new_tokens``), 429 with
Retry-After when ``max_queue`` jobs already wait, 504 past ``request_timeout``.
"""

from __future__ import annotations

import json
import logging
import queue
import time
from collections.abc import Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, StreamingResponse

from rnnkit.decoding import DecodingOptions, ban_special_tokens
from rnnkit.serve.metrics import Metrics
from rnnkit.serve.playground import PAGE
from rnnkit.serve.schemas import (
    GenerateRequest,
    GenerateResponse,
    Health,
    PoemRequest,
    PoemResponse,
    PredictRequest,
)
from rnnkit.serve.worker import DONE, ERROR, TOKEN, Batcher, Job, QueueFull
from rnnkit.text.tokenizer import unknown_tokens

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServerSettings:
    max_body_bytes: int = 16_384  # larger request bodies get 413
    max_prompt_chars: int = 2_000  # longer prompts get 422
    max_new_tokens: int = 512  # requests asking for more get 422
    max_batch: int = 8  # jobs decoded together; 1 disables dynamic batching
    max_queue: int = 32  # jobs waiting beyond the running batch; past it 429
    request_timeout: float = 30.0  # seconds from arrival to the last token; past it 504
    retry_after: int = 1  # seconds, the Retry-After of a 429


def create_app(bundle: Any, settings: ServerSettings | None = None) -> FastAPI:
    """A FastAPI app serving ``bundle``: a bundle folder (loaded at startup) or a loaded rnnkit.bundle.Bundle."""
    settings = settings or ServerSettings()
    metrics = Metrics()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.ready = False
        if isinstance(bundle, (str, Path)):
            from rnnkit.bundle import load

            app.state.bundle = load(bundle)
        else:
            app.state.bundle = bundle
        from rnnkit.bundle import require_kind

        require_kind(app.state.bundle.info, "language_model", "the server (text generation)")
        app.state.bundle.model.eval()
        app.state.batcher = Batcher(app.state.bundle.model, max_batch=settings.max_batch, max_queue=settings.max_queue,
                                    on_tokens=metrics.count_tokens, on_batch=metrics.observe_batch).start()
        app.state.ready = True
        logger.info("serving %s", getattr(app.state.bundle, "path", "a bundle"))
        yield
        app.state.ready = False  # new requests get 503 while the running ones finish
        app.state.batcher.stop(timeout=settings.request_timeout)

    app = FastAPI(title="rnnkit", version=_version(), lifespan=lifespan,
                  description="Generate text and poems with a recurrent language model (see docs/serving.md).")
    app.state.ready, app.state.settings, app.state.metrics = False, settings, metrics
    app.add_middleware(_LimitsAndMetrics, max_body_bytes=settings.max_body_bytes, metrics=metrics)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError):
        # loc, msg and type only: echoing the input back could hold NaN or Infinity, which JSON cannot carry
        detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
                  for e in error.errors()]
        return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=422)

    @app.get("/health", response_model=Health, responses={503: {"model": Health}})
    def health(request: Request):
        state = request.app.state
        if not state.ready:
            status = "loading" if not hasattr(state, "batcher") else "stopping"
            return JSONResponse(Health(status=status).model_dump(), status_code=503)
        info = state.bundle.info or {}
        return Health(status="ready", task=info.get("task"), rnnkit_version=info.get("rnnkit_version"),
                      queue_depth=state.batcher.depth())

    @app.get("/metrics", response_class=PlainTextResponse)
    def prometheus(request: Request):
        depth = request.app.state.batcher.depth() if hasattr(request.app.state, "batcher") else 0
        return PlainTextResponse(metrics.render(depth), media_type="text/plain; version=0.0.4")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def playground():
        return HTMLResponse(PAGE)

    @app.post("/v1/generate", response_model=GenerateResponse,
              responses={200: {"content": {"text/event-stream": {}}}, 422: {}, 429: {}, 504: {}})
    def generate_text(body: GenerateRequest, request: Request):
        state = _ready(request)
        tokenizer = state.bundle.tokenizer
        if len(body.prompt) > settings.max_prompt_chars:
            _invalid("prompt", f"expected at most {settings.max_prompt_chars} characters, got {len(body.prompt)}")
        if body.max_new_tokens > settings.max_new_tokens:
            _invalid("max_new_tokens", f"expected at most {settings.max_new_tokens} (this server's limit), "
                                       f"got {body.max_new_tokens}")
        options = _decoding_options(body)
        unknown, pieces = [], tokenizer.split(body.prompt)
        if pieces:  # an empty prompt is allowed: generation from the start token
            try:
                unknown = unknown_tokens(pieces, tokenizer.__contains__, argument="prompt", text=body.prompt)
            except ValueError as error:
                _invalid_value(error, GenerateRequest)
        prompt = [tokenizer.start_id, *tokenizer.encode(body.prompt)]
        processors = [ban_special_tokens(tokenizer), *options.processors()]  # never <unk>, <pad> or <s>
        job = Job(prompt, body.max_new_tokens, options.method, processors, tokenizer.end_id, options.beam,
                  options.seed, settings.request_timeout)

        def finish(tokens: list[int], finished: bool) -> dict:
            return GenerateResponse(text=tokenizer.decode(tokens), tokens=tokens, finished=finished, seed=job.seed,
                                    prompt_tokens=len(prompt), unknown=unknown).model_dump()

        return _answer(state, job, body.stream, tokenizer, finish)

    @app.post("/v1/poem", response_model=PoemResponse,
              responses={200: {"content": {"text/event-stream": {}}}, 400: {}, 422: {}, 429: {}, 504: {}})
    def poem(body: PoemRequest, request: Request):
        state = _ready(request)
        from rnnkit.poems.data import FORMS, poem_lines

        tokenizer = state.bundle.tokenizer
        missing = [form.token for form in FORMS.values() if form.token not in tokenizer]
        if missing:
            raise HTTPException(400, f"this bundle is not a poem model (its tokenizer lacks {missing}); "
                                     "serve a bundle trained with `make demo`")
        settings_, processors = _poem_plan(state, body)
        form = FORMS[settings_.form]
        job = Job([tokenizer.token_to_id(form.token)], form.num_chars + 1, settings_.method, processors,
                  tokenizer.end_id, settings_.beam, settings_.seed, settings.request_timeout)

        def finish(tokens: list[int], finished: bool) -> dict:
            text = tokenizer.decode(tokens)
            log_prob = sum(job.log_probs)
            return PoemResponse(form=form.name, form_chinese=form.chinese, lines=poem_lines(text), text=text,
                                log_prob=log_prob, seed=job.seed).model_dump()

        return _answer(state, job, body.stream, tokenizer, finish)

    @app.post("/v1/predict", responses={400: {}})
    def predict(body: PredictRequest, request: Request):
        state = _ready(request)
        info = state.bundle.info or {}
        raise HTTPException(400, f"this bundle holds a language model (task {info.get('task')!r}) and this server "
                                 "serves language models only; /v1/predict is not served yet. Use /v1/generate or "
                                 "/v1/poem here, and rnnkit predict for classifier and tagger bundles.")

    return app


def serve(bundle: Any, *, host: str = "127.0.0.1", port: int = 8000, settings: ServerSettings | None = None,
          graceful_seconds: float = 30.0) -> None:
    """Run the server with uvicorn until SIGINT/SIGTERM; ``bundle`` as for :func:`create_app` (a folder or a
    loaded Bundle). On SIGTERM uvicorn stops accepting connections, lets in-flight requests finish (up to
    ``graceful_seconds``), then the lifespan drains the worker."""
    import uvicorn

    uvicorn.run(create_app(bundle, settings), host=host, port=port, timeout_graceful_shutdown=graceful_seconds,
                log_level="info")


# -- helpers ---------------------------------------------------------------------------------------------


def _version() -> str:
    from rnnkit import __version__

    return __version__


def _ready(request: Request):
    state = request.app.state
    if not state.ready:
        raise HTTPException(503, "the model is not loaded yet, or the server is stopping", headers={"Retry-After": "1"})
    return state


def _invalid(field: str, message: str):
    raise HTTPException(422, [{"loc": ["body", field], "msg": message, "type": "value_error"}])


def _invalid_value(error: ValueError, schema: type) -> None:
    """422 for a ValueError whose message starts with the field's name: "acrostic: expected 4 characters ..."."""
    field = str(error).split(":", 1)[0]
    _invalid(field if field in schema.model_fields else "body", str(error))


def _decoding_options(body: GenerateRequest | PoemRequest) -> DecodingOptions:
    """The request's decoding options under the one rule of rnnkit.decoding.options (422 naming the field)."""
    try:
        return DecodingOptions.choose(beam=body.beam, temperature=body.temperature, top_p=body.top_p,
                                      top_k=getattr(body, "top_k", None), seed=body.seed)
    except (ValueError, TypeError) as error:
        _invalid_value(error, type(body))


def _poem_plan(state, body: PoemRequest):
    """PoemSettings and the processors of rnnkit.poems.write_poems (so a seed gives its poem)."""
    from rnnkit.poems import PoemSettings
    from rnnkit.poems.generate import poem_processors

    options = _decoding_options(body)
    try:
        config = PoemSettings(form=body.form, acrostic=body.acrostic, start=body.start, theme=body.theme,
                              rhyme=body.rhyme, method=options.method, beam=options.beam,
                              temperature=options.temperature, top_p=options.top_p, seed=options.seed)
        processors = poem_processors(state.bundle.tokenizer, config)
    except ValueError as error:
        _invalid_value(error, PoemRequest)
    except ImportError as error:
        raise HTTPException(400, f"rhyme: needs pypinyin on the server ({error})") from None
    return config, processors


def _submit(state, job: Job) -> None:
    try:
        state.batcher.submit(job)
    except QueueFull as error:
        state.metrics.count_error("queue_full")
        raise HTTPException(429, f"too many requests: {error}; retry after {state.settings.retry_after} s",
                            headers={"Retry-After": str(state.settings.retry_after)}) from None


def _events(job: Job, timeout: float) -> Iterator[tuple]:
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


def _answer(state, job: Job, stream: bool, tokenizer, finish):
    _submit(state, job)
    timeout = state.settings.request_timeout
    if not stream:
        tokens: list[int] = []
        for event in _events(job, timeout):
            if event[0] == TOKEN:
                tokens.append(event[1])
            elif event[0] == DONE:
                return finish(tokens, event[1])
            else:
                raise HTTPException(event[1], event[2])
        raise HTTPException(504, "no result")  # not reached: _events always ends with DONE or ERROR

    def sse() -> Iterator[str]:
        tokens: list[int] = []
        try:
            for event in _events(job, timeout):
                if event[0] == TOKEN:
                    tokens.append(event[1])
                    if event[1] == tokenizer.end_id:  # it ends the text and has none: the done event follows
                        continue
                    piece = tokenizer.decode([event[1]])
                    if piece and tokenizer.level == "word" and len(tokens) > 1:
                        piece = " " + piece
                    yield _sse("token", {"id": event[1], "text": piece})
                elif event[0] == DONE:
                    yield _sse("done", finish(tokens, event[1]))
                else:
                    yield _sse("error", {"status": event[1], "detail": event[2]})
        finally:
            job.cancelled.set()  # the client went away, or we are done: the worker drops the job

    return StreamingResponse(sse(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


class _LimitsAndMetrics:
    """ASGI middleware: refuse bodies over the limit (413) before the app reads them, turn an unexpected
    exception into a logged 500, and record every request's status and latency."""

    def __init__(self, app, *, max_body_bytes: int, metrics: Metrics):
        self.app, self.max_body_bytes, self.metrics = app, max_body_bytes, metrics

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]
        path = scope.get("path", "")
        label = path if path in _PATHS else "other"

        async def send_recording(message):
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            if scope["method"] in ("POST", "PUT", "PATCH"):
                body, too_large = b"", False
                while True:  # read the body here (bounded) so the limit holds for chunked uploads too
                    message = await receive()
                    if message["type"] == "http.disconnect":
                        return
                    body += message.get("body", b"")
                    if len(body) > self.max_body_bytes:
                        too_large = True
                        break
                    if not message.get("more_body", False):
                        break
                if too_large:
                    response = JSONResponse({"detail": f"request body over the limit of {self.max_body_bytes} bytes"},
                                            status_code=413)
                    return await response(scope, receive, send_recording)
                sent = [False]

                async def replay():
                    if not sent[0]:
                        sent[0] = True
                        return {"type": "http.request", "body": body, "more_body": False}
                    return await receive()

                await self.app(scope, replay, send_recording)
            else:
                await self.app(scope, receive, send_recording)
        except Exception:
            logger.exception("unhandled error on %s", path)
            status[0] = 500
            self.metrics.count_error("unhandled")
            raise
        finally:
            self.metrics.observe_request(scope["method"], label, status[0], time.perf_counter() - start)


_PATHS = {"/", "/health", "/metrics", "/docs", "/openapi.json", "/v1/generate", "/v1/poem", "/v1/predict"}
