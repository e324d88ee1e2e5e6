"""The language-model route: ``POST /v1/generate`` continues a prompt (sampling, greedy, beam); ``stream=true``
answers with server-sent events. Registered for ``language_model`` bundles (rnnkit.catalog)."""

from __future__ import annotations

from fastapi import FastAPI, Request

from rnnkit.decoding import ban_special_tokens
from rnnkit.serve.routing import answer, decoding_options, invalid, invalid_value, ready
from rnnkit.serve.schemas import GenerateRequest, GenerateResponse
from rnnkit.serve.worker import Job
from rnnkit.text.tokenizer import unknown_tokens

__all__ = ["register_routes"]


def register_routes(app: FastAPI, settings) -> None:
    """Add ``POST /v1/generate`` to ``app``, under the limits of ``settings`` (a ServerSettings)."""

    @app.post("/v1/generate", response_model=GenerateResponse,
              responses={200: {"content": {"text/event-stream": {}}}, 422: {}, 429: {}, 504: {}})
    def generate_text(body: GenerateRequest, request: Request):
        state = ready(request)
        tokenizer = state.bundle.tokenizer
        if len(body.prompt) > settings.max_prompt_chars:
            invalid("prompt", f"expected at most {settings.max_prompt_chars} characters, got {len(body.prompt)}")
        if body.max_new_tokens > settings.max_new_tokens:
            invalid("max_new_tokens", f"expected at most {settings.max_new_tokens} (this server's limit), "
                                      f"got {body.max_new_tokens}")
        options = decoding_options(body)
        unknown, pieces = [], tokenizer.split(body.prompt)
        if pieces:  # an empty prompt is allowed: generation from the start token
            try:
                unknown = unknown_tokens(pieces, tokenizer.__contains__, argument="prompt", text=body.prompt)
            except ValueError as error:
                invalid_value(error, GenerateRequest)
        prompt = [tokenizer.start_id, *tokenizer.encode(body.prompt)]
        processors = [ban_special_tokens(tokenizer), *options.processors()]  # never <unk>, <pad> or <s>
        job = Job(prompt, body.max_new_tokens, options.method, processors, tokenizer.end_id, options.beam,
                  options.seed, settings.request_timeout)

        def finish(tokens: list[int], finished: bool) -> dict:
            return GenerateResponse(text=tokenizer.decode(tokens), tokens=tokens, finished=finished, seed=job.seed,
                                    prompt_tokens=len(prompt), unknown=unknown).model_dump()

        return answer(state, job, body.stream, tokenizer, finish)
