"""The poem route of the HTTP server: ``POST /v1/poem`` writes a Tang poem of an exact form with the constraints
of rnnkit.poems (the same processors as :func:`rnnkit.poems.write_poems`, so a seed gives its poem); ``stream``
as for /v1/generate. rnnkit.catalog names this module among the routes of ``language_model`` bundles; a
bundle whose tokenizer lacks the form tokens answers 400."""

from __future__ import annotations

from fastapi import FastAPI, HTTPException, Request

from rnnkit.poems.data import FORMS, poem_lines
from rnnkit.poems.generate import PoemSettings, poem_processors
from rnnkit.serve.routing import answer, decoding_options, invalid_value, ready
from rnnkit.serve.schemas import PoemRequest, PoemResponse
from rnnkit.serve.worker import Job

__all__ = ["register_routes"]


def register_routes(app: FastAPI, settings) -> None:
    """Add ``POST /v1/poem`` to ``app``, under the limits of ``settings`` (a ServerSettings)."""

    @app.post("/v1/poem", response_model=PoemResponse,
              responses={200: {"content": {"text/event-stream": {}}}, 400: {}, 422: {}, 429: {}, 504: {}})
    def poem(body: PoemRequest, request: Request):
        state = ready(request)
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

        return answer(state, job, body.stream, tokenizer, finish)


def _poem_plan(state, body: PoemRequest):
    """PoemSettings and the processors of rnnkit.poems.write_poems (so a seed gives its poem)."""
    options = decoding_options(body)
    try:
        config = PoemSettings(form=body.form, acrostic=body.acrostic, start=body.start, theme=body.theme,
                              rhyme=body.rhyme, method=options.method, beam=options.beam,
                              temperature=options.temperature, top_p=options.top_p, seed=options.seed)
        processors = poem_processors(state.bundle.tokenizer, config)
    except ValueError as error:
        invalid_value(error, PoemRequest)
    except ImportError as error:
        raise HTTPException(400, f"rhyme: needs pypinyin on the server ({error})") from None
    return config, processors
