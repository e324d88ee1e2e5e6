"""Request and response bodies of the HTTP API (pydantic; the OpenAPI schema at /docs comes from these).

Unknown fields are refused (422 naming the field), so a misspelt option never goes unnoticed.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

SEED_MAX = 2**32 - 1
BEAM = ("Beam width: 1 greedy decoding, > 1 beam search (both deterministic: no temperature, top_k, top_p or "
        "seed with them); default: sampling.")


class GenerateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prompt: str = Field("", max_length=100_000, description="Text to continue (after the start token); may be empty. "
                        "Unknown tokens are listed in the answer's `unknown`; a prompt of only unknown tokens gets 422.")
    max_new_tokens: int = Field(64, ge=1, description="Tokens to generate at most (EOS included); capped by the server.")
    temperature: float | None = Field(None, ge=0, le=100, description="Sampling temperature (default 1); 0 means "
                                                                       "greedy decoding.")
    top_k: int | None = Field(None, ge=1, le=1_000_000, description="Sample among the k most probable tokens.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling mass (default 1: off).")
    beam: int | None = Field(None, ge=1, le=16, description=BEAM)
    seed: int | None = Field(None, ge=0, le=SEED_MAX, description="Sampling seed; the same seed gives the same text.")
    stream: bool = Field(False, description="Answer with server-sent events, one per token.")


class GenerateResponse(BaseModel):
    text: str  # the generated text (prompt not included)
    tokens: list[int]  # generated token ids, EOS included if reached
    finished: bool  # ended with the end token (False: reached max_new_tokens)
    seed: int | None  # the seed used (send it back to get the same text); None for greedy and beam search
    prompt_tokens: int
    unknown: list[str] = []  # prompt tokens the model does not know (it read them as <unk>); a warning


class PoemRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    form: Literal["wujue", "qijue", "wulv", "qilv"] | None = Field(
        None, description="五言绝句 wujue, 七言绝句 qijue, 五言律诗 wulv, 七言律诗 qilv; default qijue (qilv for an "
                          "8-character acrostic).")
    acrostic: str | None = Field(None, max_length=16, description="藏头诗: line i starts with the i-th character.")
    start: str | None = Field(None, max_length=64, description="The poem opens with these characters.")
    theme: str | None = Field(None, max_length=16, description="Characters the poem leans toward.")
    rhyme: bool = Field(False, description="Even lines end in one rhyme group.")
    temperature: float | None = Field(None, ge=0, le=10, description="Sampling temperature (default 1); 0 means "
                                                                      "greedy decoding.")
    top_p: float | None = Field(None, gt=0, le=1, description="Nucleus sampling mass (default 0.9); 1 disables it.")
    beam: int | None = Field(None, ge=1, le=16, description=BEAM)
    seed: int | None = Field(None, ge=0, le=SEED_MAX, description="Sampling seed; the same seed gives the same poem.")
    stream: bool = Field(False, description="Answer with server-sent events, one per character.")


class PoemResponse(BaseModel):
    form: str
    form_chinese: str
    lines: list[str]
    text: str
    log_prob: float
    seed: int | None  # None for greedy and beam search


class PredictRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"inputs": ["a gorgeous , witty , seductive movie .", "the plot is paper-thin"]},
        {"inputs": ["Going to see Taylor Swift in London tonight"]}]})

    inputs: list[str] = Field(..., min_length=1, max_length=10_000, description="Texts to classify or tag, one "
                              "prediction each (at most the server's max_inputs texts of max_input_chars characters). "
                              "A text that is empty or of only unknown tokens gets 422 naming inputs[i].")


class Entity(BaseModel):
    text: str = Field(description="The entity as it stands in the input: input[start:end].")
    label: str = Field(description="Its type, e.g. person.")
    start: int = Field(description="Character offset of its first character in the input.")
    end: int = Field(description="One past its last character.")
    probability: float = Field(description="Mean over its tokens of p(tag).")


class Prediction(BaseModel):
    label: str | None = Field(None, description="Classifiers: the most probable label.")
    probabilities: dict[str, float] | None = Field(None, description="Classifiers: every label's probability.")
    tokens: list[str] | None = Field(None, description="Taggers: the tokens the text was split into.")
    tags: list[str] | None = Field(None, description="Taggers: one BIO tag per token.")
    entities: list[Entity] | None = Field(None, description="Taggers: the spans the tags describe.")
    unknown: list[str] = Field([], description="A warning: tokens the model does not know (read as <unk>).")


class PredictResponse(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"predictions": [{"label": "positive", "probabilities": {"negative": 0.03, "positive": 0.97},
                          "unknown": []}]},
        {"predictions": [{"tokens": ["Going", "to", "see", "Taylor", "Swift", "in", "London", "tonight"],
                          "tags": ["O", "O", "O", "B-person", "I-person", "O", "B-location", "O"],
                          "entities": [{"text": "Taylor Swift", "label": "person", "start": 13, "end": 25,
                                        "probability": 0.91},
                                       {"text": "London", "label": "location", "start": 29, "end": 35,
                                        "probability": 0.88}],
                          "unknown": []}]}]})

    predictions: list[Prediction]  # one per input, in order


class Health(BaseModel):
    status: Literal["ready", "loading", "stopping"]
    task: str | None = None
    rnnkit_version: str | None = None
    queue_depth: int = 0
