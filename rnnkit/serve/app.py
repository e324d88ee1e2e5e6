"""The HTTP server: ``create_app(bundle)`` builds a FastAPI app around one model bundle.

    POST /v1/generate   continue a prompt (sampling, greedy, beam); stream=true: server-sent events
                        (rnnkit.serve.routes_lm)
    POST /v1/poem       a Tang poem of an exact form (rnnkit.poems' constraints); stream as above
                        (rnnkit.poems.serve)
    POST /v1/predict    classifier and tagger bundles: labels with probabilities, or tags and entity spans
                        (rnnkit.serve.routes_predict); for a language model it answers 400
    GET  /health        200 once the model is loaded; 503 outside the lifespan (under uvicorn, which listens
                        only inside it, a request then gets a refused connection instead)
    GET  /metrics       Prometheus text (prometheus_client): requests and latency by route, tokens, errors,
                        queue depth, batch sizes, model info
    GET  /              the playground page; GET /docs the OpenAPI docs

This module is the core (lifespan, limits, metrics, health, batching); the routes of the bundle's kind
come from the modules rnnkit.catalog names for the kind (``KindEntry.routes``), each with
``register_routes(app, settings)`` built on rnnkit.serve.routing. A kind without routes is refused
(:func:`route_modules`). A route module may define ``start_worker(bundle, settings, metrics)``, the thread
that owns the model (with ``submit``, ``depth`` and ``stop``); without one the worker is the language
models' Batcher.

The model is loaded in the lifespan and kept on ``app.state``; one worker thread owns it
(rnnkit.serve.worker), endpoints are plain ``def`` (FastAPI runs them in its thread pool) that queue a job
and wait for its tokens. Limits answer clearly: 413 for a body over ``max_body_bytes``, 422 naming the field
for a bad value (a prompt over ``max_prompt_chars``, max_new_tokens over ``max_new_tokens``), 429 with
Retry-After when ``max_queue`` jobs already wait, 504 past ``request_timeout``.
"""

from __future__ import annotations

import importlib
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from rnnkit import catalog
from rnnkit.bundle import read_info, require_kind
from rnnkit.serve.metrics import OTHER_ROUTE, Metrics
from rnnkit.serve.playground import PAGE
from rnnkit.serve.routing import ready
from rnnkit.serve.schemas import Health, PredictRequest
from rnnkit.serve.worker import Batcher

logger = logging.getLogger(__name__)

_CORE_PATHS = frozenset({"/", "/health", "/metrics", "/docs", "/openapi.json", "/v1/predict"})  # metric labels


@dataclass(frozen=True)
class ServerSettings:
    max_body_bytes: int = 16_384  # larger request bodies get 413
    max_prompt_chars: int = 2_000  # longer prompts get 422
    max_new_tokens: int = 512  # requests asking for more get 422
    max_batch: int = 8  # jobs decoded together; 1 disables dynamic batching
    max_queue: int = 32  # jobs waiting beyond the running batch; past it 429
    request_timeout: float = 30.0  # seconds from arrival to the last token; past it 504
    retry_after: int = 1  # seconds, the Retry-After of a 429
    max_inputs: int = 64  # /v1/predict: texts per request (more get 422) and per batch
    max_input_chars: int = 5_000  # /v1/predict: longer texts get 422
    batch_window: float = 0.005  # /v1/predict: seconds a batch waits for more requests after its first


def create_app(bundle: Any, settings: ServerSettings | None = None) -> FastAPI:
    """A FastAPI app serving ``bundle``: a bundle folder (loaded at startup) or a loaded rnnkit.bundle.Bundle.

    Its kind (bundle.json, read now) picks the routes; a kind without any raises ValueError."""
    settings = settings or ServerSettings()
    info = read_info(bundle) if isinstance(bundle, (str, Path)) else (bundle.info or {})
    kind = info.get("kind", catalog.DEFAULT_KIND)
    modules = route_modules(info)
    metrics = Metrics()
    app = FastAPI(title="rnnkit", version=_version(), lifespan=_lifespan(bundle, kind, modules, settings, metrics),
                  description=f"Serve a recurrent {kind.replace('_', ' ')} bundle (see docs/serving.md).")
    app.state.ready, app.state.settings, app.state.metrics = False, settings, metrics
    app.exception_handler(RequestValidationError)(_invalid_request)
    _add_core_routes(app, metrics)
    kind_paths = _add_kind_routes(app, settings, modules)
    if "/v1/predict" not in kind_paths:
        _add_predict_route(app)
    paths = _CORE_PATHS | kind_paths
    app.add_middleware(_LimitsAndMetrics, max_body_bytes=settings.max_body_bytes, metrics=metrics, paths=paths)
    return app


def route_modules(info: dict[str, Any]) -> tuple[str, ...]:
    """The route modules rnnkit.catalog names for the kind of bundle.json ``info``; ValueError for a kind
    without any, naming the commands that take it."""
    kind = info.get("kind", catalog.DEFAULT_KIND)
    entry = catalog.kind_entry(kind)
    if entry is None or not entry.routes:
        served = ", ".join(repr(e.name) for e in catalog.KINDS if e.routes)
        commands = ", ".join(f"rnnkit {command}" for command in entry.commands) if entry else "none"
        raise ValueError(f"bundle: rnnkit serve serves the kinds {served}, got kind {kind!r}, which has no HTTP "
                         f"routes; use {commands} with this bundle")
    return entry.routes


def _lifespan(bundle: Any, kind: str, modules: tuple[str, ...], settings: ServerSettings, metrics: Metrics):
    """Load the bundle (a folder) or take it (a Bundle), check its kind, run the worker while the app runs."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.ready = False
        if isinstance(bundle, (str, Path)):
            from rnnkit.bundle import load

            app.state.bundle = load(bundle)
        else:
            app.state.bundle = bundle
        require_kind(app.state.bundle.info, kind, f"the server (started with a {kind!r} bundle)")
        app.state.bundle.model.eval()
        app.state.batcher = _start_worker(app.state.bundle, modules, settings, metrics)
        app.state.ready = True
        logger.info("serving %s", getattr(app.state.bundle, "path", "a bundle"))
        yield
        app.state.ready = False  # new requests get 503 while the running ones finish
        app.state.batcher.stop(timeout=settings.request_timeout)

    return lifespan


async def _invalid_request(request: Request, error: RequestValidationError):
    # loc, msg and type only: echoing the input back could hold NaN or Infinity, which JSON cannot carry
    detail = [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
              for e in error.errors()]
    return JSONResponse({"detail": jsonable_encoder(detail)}, status_code=422)


def _add_core_routes(app: FastAPI, metrics: Metrics) -> None:
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
        state = request.app.state
        if hasattr(state, "bundle"):
            metrics.describe_model(state.bundle.info, _version())
        depth = state.batcher.depth() if hasattr(state, "batcher") else 0
        return Response(metrics.render(depth), media_type=CONTENT_TYPE_LATEST)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def playground():
        return HTMLResponse(PAGE)


def _start_worker(bundle: Any, modules: tuple[str, ...], settings: ServerSettings, metrics: Metrics):
    """The first route module's ``start_worker``, else the language models' Batcher."""
    for module in modules:
        start = getattr(importlib.import_module(module), "start_worker", None)
        if start is not None:
            return start(bundle, settings, metrics)
    return Batcher(bundle.model, max_batch=settings.max_batch, max_queue=settings.max_queue,
                   on_tokens=metrics.count_tokens, on_batch=metrics.observe_batch).start()


def _add_kind_routes(app: FastAPI, settings: ServerSettings, modules: tuple[str, ...]) -> frozenset[str]:
    """Register the routes of ``modules`` (the catalog's for the bundle's kind); their paths."""
    before = {route.path for route in app.routes}
    for module in modules:
        importlib.import_module(module).register_routes(app, settings)
    return frozenset(route.path for route in app.routes) - before


def _add_predict_route(app: FastAPI) -> None:
    @app.post("/v1/predict", responses={400: {}})
    def predict(body: PredictRequest, request: Request):
        state = ready(request)
        info = state.bundle.info or {}
        raise HTTPException(400, f"this bundle holds a language model (task {info.get('task')!r}), for which "
                                 "/v1/predict is not served yet: it serves classifier and tagger bundles. Use "
                                 "/v1/generate or /v1/poem here.")


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


class _LimitsAndMetrics:
    """ASGI middleware: refuse bodies over the limit (413) before the app reads them, turn an unexpected
    exception into a logged 500, and record every request's status and latency."""

    def __init__(self, app, *, max_body_bytes: int, metrics: Metrics, paths: frozenset[str]):
        self.app, self.max_body_bytes, self.metrics, self.paths = app, max_body_bytes, metrics, paths

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        start, status = time.perf_counter(), [500]
        path = scope.get("path", "")
        label = path if path in self.paths else OTHER_ROUTE  # route templates only: raw paths are unbounded

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
