import json

import pytest
import torch

pytest.importorskip("fastapi", reason="the serve extra (fastapi, httpx) is not installed")
pytest.importorskip("httpx", reason="the serve extra (fastapi, httpx) is not installed")

from fastapi.testclient import TestClient  # noqa: E402
from prometheus_client import CONTENT_TYPE_LATEST  # noqa: E402

from rnnkit.decoding import ban_special_tokens, generate, temperature, top_k  # noqa: E402
from rnnkit.poems import write_poems  # noqa: E402
from rnnkit.poems.data import FORMS  # noqa: E402
from rnnkit.serve import ServerSettings, create_app  # noqa: E402
from rnnkit.serve.worker import QueueFull  # noqa: E402


@pytest.fixture
def poet(poem_bundle):
    with TestClient(create_app(poem_bundle, ServerSettings(max_new_tokens=40, max_prompt_chars=50))) as client:
        yield client


def events(response) -> list[tuple[str, dict]]:
    found = []
    for block in response.text.strip().split("\n\n"):
        kind = block.split("\n")[0].removeprefix("event: ")
        found.append((kind, json.loads(block.split("\n")[1].removeprefix("data: "))))
    return found


def test_health_docs_and_playground(poet):
    health = poet.get("/health")
    assert health.status_code == 200 and health.json()["status"] == "ready"
    assert health.json()["task"] == "poems"
    assert poet.get("/docs").status_code == 200
    schema = poet.get("/openapi.json").json()
    assert {"/v1/generate", "/v1/poem", "/v1/predict", "/health"} <= set(schema["paths"])
    page = poet.get("/")
    assert page.status_code == 200 and "/v1/poem" in page.text and "<script>" in page.text


def test_generate_equals_rnnkit_generate_with_the_same_seed(poet, poem_bundle):
    body = {"prompt": "春山", "max_new_tokens": 12, "temperature": 0.8, "top_k": 10, "seed": 7}
    answer = poet.post("/v1/generate", json=body)
    assert answer.status_code == 200, answer.text
    tokenizer = poem_bundle.tokenizer
    prompt = [tokenizer.start_id, *tokenizer.encode("春山")]
    expected = generate(poem_bundle.model, [prompt], method="sample", max_new_tokens=12, eos_id=tokenizer.end_id,
                        processors=[ban_special_tokens(tokenizer), temperature(0.8), top_k(10)], seed=7)
    tokens = expected.tokens[0, : int(expected.lengths[0])].tolist()
    assert answer.json()["tokens"] == tokens
    assert answer.json()["text"] == tokenizer.decode(tokens)
    assert answer.json()["seed"] == 7 and answer.json()["prompt_tokens"] == 3


def test_greedy_and_beam_equal_rnnkit_generate(poet, poem_bundle):
    tokenizer = poem_bundle.tokenizer
    prompt = [tokenizer.start_id, *tokenizer.encode("秋")]
    for body, method, beam in (({"temperature": 0}, "greedy", None), ({"beam": 1}, "greedy", None),
                               ({"beam": 3}, "beam", 3)):
        answer = poet.post("/v1/generate", json={"prompt": "秋", "max_new_tokens": 6, **body}).json()
        expected = generate(poem_bundle.model, [prompt], method=method, max_new_tokens=6, beam_size=beam,
                            eos_id=tokenizer.end_id, processors=[ban_special_tokens(tokenizer)])
        assert answer["tokens"] == expected.tokens[0, : int(expected.lengths[0])].tolist()
        assert answer["seed"] is None  # deterministic: no seed to report


def test_decoding_options_follow_one_rule_and_get_422_naming_the_field(poet):
    cases = [
        ("/v1/generate", {"beam": 3, "seed": 1}, "seed", "only used when sampling; got seed=1 with beam search"),
        ("/v1/generate", {"beam": 3, "temperature": 0.5}, "temperature", "only used when sampling"),
        ("/v1/generate", {"temperature": 0, "top_k": 5}, "top_k", "got top_k=5 with greedy decoding"),
        ("/v1/generate", {"beam": 1, "top_p": 0.5}, "top_p", "got top_p=0.5 with greedy decoding"),
        ("/v1/generate", {"beam": 2, "temperature": 0}, "temperature", "0 asks for greedy decoding"),
        ("/v1/generate", {"beam": 0}, "beam", "greater than or equal to 1"),
        ("/v1/poem", {"beam": 0}, "beam", "greater than or equal to 1"),
        ("/v1/poem", {"beam": 3, "seed": 1}, "seed", "only used when sampling; got seed=1 with beam search"),
        ("/v1/poem", {"temperature": 0, "top_p": 0.5}, "top_p", "got top_p=0.5 with greedy decoding"),
    ]
    for path, body, field, message in cases:
        answer = poet.post(path, json={**body, **({"max_new_tokens": 8} if path == "/v1/generate" else {})})
        assert answer.status_code == 422, (body, answer.text)
        detail = answer.json()["detail"][0]
        assert detail["loc"][-1] == field and message in detail["msg"], (body, detail)


@pytest.mark.parametrize(("request_", "settings"), [({"beam": 3}, {"method": "beam", "beam": 3}),
                                                    ({"beam": 1}, {"method": "greedy"}),
                                                    ({"temperature": 0}, {"method": "greedy"})])
def test_deterministic_poems_equal_write_poems_and_report_no_seed(poet, poem_bundle, request_, settings):
    answer = poet.post("/v1/poem", json={"form": "wujue", **request_})
    assert answer.status_code == 200, answer.text
    expected = write_poems(poem_bundle, form="wujue", **settings)[0]
    assert answer.json()["text"] == expected.text and answer.json()["seed"] is None
    assert answer.json()["log_prob"] == pytest.approx(expected.log_prob, abs=1e-4)


def test_unknown_prompt_tokens_are_422_when_all_a_warning_when_some(poet, poem_bundle):
    answer = poet.post("/v1/generate", json={"prompt": "龍鳳龍", "max_new_tokens": 4})
    assert answer.status_code == 422, answer.text
    detail = answer.json()["detail"][0]
    assert detail["loc"][-1] == "prompt" and "every token is unknown to it (龍 鳳)" in detail["msg"], detail
    answer = poet.post("/v1/generate", json={"prompt": "春龍", "max_new_tokens": 4, "seed": 0})
    assert answer.status_code == 200 and answer.json()["unknown"] == ["龍"] and answer.json()["prompt_tokens"] == 3
    assert events(poet.post("/v1/generate", json={"prompt": "春龍", "max_new_tokens": 4, "seed": 0, "stream": True})
                  )[-1] == ("done", answer.json())
    answer = poet.post("/v1/generate", json={"max_new_tokens": 4, "seed": 0})  # empty: from the start token
    assert answer.status_code == 200 and answer.json()["unknown"] == []


def test_generation_never_emits_special_tokens_but_the_end(poem_bundle):
    import copy

    model = copy.deepcopy(poem_bundle.model)
    tokenizer = poem_bundle.tokenizer
    with torch.no_grad():  # the specials but </s> are the most probable tokens at every step
        for token_id in range(tokenizer.num_specials):
            if token_id != tokenizer.end_id:
                model.output.bias[token_id] += 50.0
    with TestClient(create_app(poem_bundle._replace(model=model), ServerSettings(max_new_tokens=20))) as client:
        for body in ({"seed": 1}, {"temperature": 0}, {"beam": 3}):
            answer = client.post("/v1/generate", json={"prompt": "春", "max_new_tokens": 12, **body})
            assert answer.status_code == 200, answer.text
            tokens = answer.json()["tokens"]
            assert tokens and all(t >= tokenizer.num_specials or t == tokenizer.end_id for t in tokens), (body, tokens)


def test_streaming_gives_the_same_tokens_one_event_each(poet, poem_bundle):
    body = {"prompt": "月", "max_new_tokens": 10, "seed": 3}
    plain = poet.post("/v1/generate", json=body).json()
    streamed = poet.post("/v1/generate", json={**body, "stream": True})
    assert streamed.headers["content-type"].startswith("text/event-stream")
    found = events(streamed)
    texts = [token for token in plain["tokens"] if token != poem_bundle.tokenizer.end_id]  # the end token has no text
    assert [kind for kind, _ in found] == ["token"] * len(texts) + ["done"]
    assert [data["id"] for _, data in found[:-1]] == texts
    assert found[-1][1] == plain


def test_a_streamed_poem_sends_no_event_for_the_end_token(poet, poem_bundle):
    streamed = events(poet.post("/v1/poem", json={"form": "wujue", "seed": 11, "stream": True}))
    tokens = [data for kind, data in streamed if kind == "token"]
    assert len(tokens) == FORMS["wujue"].num_chars  # each character and punctuation mark, then "done"
    assert all(data["text"] and data["id"] != poem_bundle.tokenizer.end_id for data in tokens)
    assert streamed[-1][0] == "done" and "".join(data["text"] for data in tokens) == streamed[-1][1]["text"]


@pytest.mark.parametrize("request_", [dict(form="wujue", seed=11), dict(acrostic="春夏秋冬", seed=2, temperature=0.7),
                                      dict(form="wulv", start="白日", theme="月", seed=5)])
def test_poem_equals_write_poems_and_has_its_form(poet, poem_bundle, request_):
    answer = poet.post("/v1/poem", json=request_)
    assert answer.status_code == 200, answer.text
    poem = answer.json()
    expected = write_poems(poem_bundle, **request_)[0]
    assert poem["text"] == expected.text and poem["lines"] == expected.lines
    assert poem["log_prob"] == pytest.approx(expected.log_prob, abs=1e-4)
    form = FORMS[poem["form"]]
    assert len(poem["lines"]) == form.num_lines and all(len(line) == form.line_length for line in poem["lines"])
    streamed = events(poet.post("/v1/poem", json={**request_, "stream": True}))
    assert "".join(data["text"] for kind, data in streamed if kind == "token") == expected.text
    assert streamed[-1][0] == "done" and streamed[-1][1]["text"] == expected.text


def test_poem_with_rhyme_equals_write_poems_streamed_or_not(poet, poem_bundle):
    pytest.importorskip("pypinyin")
    from rnnkit.poems.rhyme import rhyme_groups

    request_ = {"form": "wujue", "rhyme": True, "seed": 4}
    expected = write_poems(poem_bundle, **request_)[0]
    answer = poet.post("/v1/poem", json=request_)
    assert answer.status_code == 200, answer.text
    assert answer.json()["text"] == expected.text
    streamed = events(poet.post("/v1/poem", json={**request_, "stream": True}))
    assert streamed[-1] == ("done", answer.json())
    groups, tokenizer = rhyme_groups(poem_bundle.tokenizer), poem_bundle.tokenizer
    ends = [line[-1] for line in expected.lines[1::2]]
    assert len({int(groups[tokenizer.token_to_id(c)]) for c in ends}) == 1  # the even lines rhyme
    assert poet.post("/v1/poem", json={**request_, "seed": 5}).status_code == 200  # a second request: cached


def test_invalid_input_gets_422_naming_the_field(poet):
    cases = [
        ({"prompt": "x" * 51}, "prompt", "at most 50 characters"),
        ({"max_new_tokens": 41}, "max_new_tokens", "at most 40"),
        ({"max_new_tokens": 0}, "max_new_tokens", "greater than or equal to 1"),
        ({"temperature": -1}, "temperature", "greater than or equal to 0"),
        ({"top_p": 0}, "top_p", "greater than 0"),
        ({"colour": "red"}, "colour", "Extra inputs are not permitted"),
    ]
    for body, field, message in cases:
        answer = poet.post("/v1/generate", json=body)
        assert answer.status_code == 422, (body, answer.text)
        detail = answer.json()["detail"][0]
        assert detail["loc"][-1] == field and message in detail["msg"], detail
    for body, field, message in [({"acrostic": "春夏秋"}, "acrostic", "expected 4 characters"),
                                 ({"start": "龍"}, "start", "does not know the character"),
                                 ({"form": "sonnet"}, "form", "wujue")]:
        answer = poet.post("/v1/poem", json=body)
        assert answer.status_code == 422, (body, answer.text)
        detail = answer.json()["detail"][0]
        assert detail["loc"][-1] == field and message in detail["msg"], detail
    assert poet.post("/v1/generate", content=b"{not json", headers={"content-type": "application/json"}).status_code == 422


def test_limits_body_size_queue_and_timeout(poem_bundle, monkeypatch):
    settings = ServerSettings(max_body_bytes=100, request_timeout=1e-9)
    with TestClient(create_app(poem_bundle, settings)) as client:
        answer = client.post("/v1/generate", json={"prompt": "春" * 200})
        assert answer.status_code == 413 and "100 bytes" in answer.json()["detail"]
        answer = client.post("/v1/generate", json={"prompt": "春"})
        assert answer.status_code == 504 and "timeout" in answer.json()["detail"]

        def full(job):
            raise QueueFull("32 requests are already waiting")

        monkeypatch.setattr(client.app.state.batcher, "submit", full)
        answer = client.post("/v1/poem", json={})
        assert answer.status_code == 429 and answer.headers["retry-after"] == "1"
        assert "too many requests" in answer.json()["detail"]


def test_predict_and_poem_answer_400_for_the_wrong_bundle(poet, text_bundle):
    answer = poet.post("/v1/predict", json={"inputs": ["a"]})
    assert answer.status_code == 400 and "language model" in answer.json()["detail"]
    assert "/v1/predict is not served yet" in answer.json()["detail"]
    with TestClient(create_app(text_bundle)) as client:
        answer = client.post("/v1/poem", json={})
        assert answer.status_code == 400 and "not a poem model" in answer.json()["detail"]
        words = client.post("/v1/generate", json={"prompt": "the cat", "max_new_tokens": 5, "seed": 0,
                                                   "stream": True})
        pieces = [data["text"] for kind, data in events(words) if kind == "token"]
        assert "".join(pieces).strip() == events(words)[-1][1]["text"]  # words come with their spaces


def test_metrics_count_requests_tokens_and_errors(poet, samples):
    poet.post("/v1/generate", json={"max_new_tokens": 5, "seed": 1})
    poet.post("/v1/generate", json={"max_new_tokens": -1})
    answer = poet.get("/metrics")
    assert answer.headers["content-type"] == CONTENT_TYPE_LATEST
    values = samples(answer.text)
    assert values["rnnkit_requests_total", (("method", "POST"), ("route", "/v1/generate"), ("status", "200"))] == 1
    assert values["rnnkit_requests_total", (("method", "POST"), ("route", "/v1/generate"), ("status", "422"))] == 1
    assert values["rnnkit_request_duration_seconds_bucket", (("le", "+Inf"), ("route", "/v1/generate"))] == 2
    assert 1 <= values["rnnkit_tokens_generated_total", ()] <= 5
    assert values["rnnkit_errors_total", (("kind", "http_422"),)] == 1 and values["rnnkit_queue_depth", ()] == 0


def test_health_is_503_before_the_model_is_loaded(poem_bundle):
    client = TestClient(create_app(poem_bundle))  # not entered: the lifespan has not run
    answer = client.get("/health")
    assert answer.status_code == 503 and answer.json()["status"] == "loading"
    assert client.post("/v1/generate", json={}).status_code == 503
