"""Request and response bodies of the OpenAI-compatible routes (rnnkit.serve.routes_openai), after OpenAI's
Completions and Models APIs. Fields rnnkit cannot honour are accepted only at their neutral values."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rnnkit.serve.schemas import SEED_MAX


class CompletionRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"model": "poems", "prompt": "春", "max_tokens": 24, "temperature": 0.8, "n": 2, "seed": 1}]})

    model: str = Field(..., description="The served model's id, as GET /v1/models lists it.")
    prompt: str | list[str] = Field("", description="Text to continue, or a list of texts (one completion set "
                                                    "each); may be empty.")
    max_tokens: int = Field(16, ge=1, description="Tokens to generate at most; capped by the server.")
    temperature: float | None = Field(None, ge=0, le=2, description="Sampling temperature (default 1); 0 is "
                                                                     "greedy decoding.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling mass (default 1: off).")
    n: int = Field(1, ge=1, le=16, description="Completions per prompt.")
    stop: str | list[str] | None = Field(None, validate_default=True,
                                         description="Up to 4 strings; the text ends before the first.")
    seed: int | None = Field(None, ge=0, le=SEED_MAX - 16, description="Sampling seed: completion i uses seed + i.")
    stream: bool = Field(False, description="Answer with server-sent data chunks, then data: [DONE].")
    stream_options: dict | None = Field(None, description="Accepted; usage is not streamed.")
    user: str | None = Field(None, description="Accepted and unused (OpenAI's end-user id).")
    # OpenAI fields rnnkit cannot honour: accepted at their neutral values only
    echo: bool = False
    logprobs: int | None = None
    suffix: str | None = None
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    logit_bias: dict[str, float] | None = None
    best_of: int | None = None

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, value):
        stops = [] if value is None else [value] if isinstance(value, str) else list(value)
        if len(stops) > 4 or any(not s for s in stops):
            raise ValueError(f"expected at most 4 non-empty strings, got {stops!r}")
        return stops

    @field_validator("prompt")
    @classmethod
    def _prompts(cls, value):
        if isinstance(value, list) and not value:
            raise ValueError("expected a string or a non-empty list of strings, got []")
        return value

    @model_validator(mode="after")
    def _neutral(self):
        unsupported = {"echo": self.echo is not False, "logprobs": self.logprobs is not None,
                       "suffix": self.suffix not in (None, ""), "presence_penalty": self.presence_penalty != 0,
                       "frequency_penalty": self.frequency_penalty != 0, "logit_bias": any(v != 0 for v in (self.logit_bias or {}).values()),
                       "best_of": self.best_of not in (None, self.n)}
        for name, refused in unsupported.items():
            if refused:
                raise ValueError(f"{name}: not supported by rnnkit's completions (leave it at its default), got "
                                 f"{getattr(self, name)!r}")
        return self


class CompletionChoice(BaseModel):
    text: str
    index: int
    logprobs: None = None
    finish_reason: Literal["stop", "length"]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class CompletionResponse(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[CompletionChoice]
    usage: Usage
    unknown: list[str] = []  # rnnkit's addition: prompt tokens the model does not know (read as <unk>)


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "rnnkit"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]
