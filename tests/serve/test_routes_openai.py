"""rnnkit.serve.routes_openai: the official openai client against rnnkit's server (its httpx transport is the
in-process TestClient), streaming and not, checked against rnnkit.decoding.generate on the same bundle."""

import pytest

pytest.importorskip("fastapi")
openai = pytest.importorskip("openai")

import torch  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from rnnkit.decoding import ban_special_tokens, generate  # noqa: E402
from rnnkit.serve import ServerSettings, create_app  # noqa: E402
from rnnkit.serve.routes_openai import StopScanner  # noqa: E402


@pytest.fixture(scope="module")
def served(poem_bundle):
    with TestClient(create_app(poem_bundle, ServerSettings(max_new_tokens=40))) as http:
        yield openai.OpenAI(base_url="http://testserver/v1", api_key="unused", http_client=http, max_retries=0), http


def _greedy(bundle, prompt: str, tokens: int) -> str:
    tokenizer = bundle.tokenizer
    ids = torch.tensor([[tokenizer.start_id, *tokenizer.encode(prompt)]])
    result = generate(bundle.model, ids, method="greedy", max_new_tokens=tokens, eos_id=tokenizer.end_id,
                      processors=[ban_special_tokens(tokenizer)])
    out = [t for t in result.tokens[0, : int(result.lengths[0])].tolist() if t != tokenizer.end_id]
    return tokenizer.decode(out)


def test_models_lists_the_served_bundle(served):
    client, _ = served
    models = client.models.list()
    assert [m.id for m in models.data] == ["poems"] and models.data[0].owned_by == "rnnkit"


def test_greedy_completion_equals_rnnkit_generate(served, poem_bundle):
    client, _ = served
    answer = client.completions.create(model="poems", prompt="春山", max_tokens=12, temperature=0)
    assert answer.object == "text_completion" and len(answer.choices) == 1
    assert answer.choices[0].text == _greedy(poem_bundle, "春山", 12)
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert answer.usage.prompt_tokens == 2 and answer.usage.total_tokens == 2 + answer.usage.completion_tokens


def test_streamed_chunks_join_to_the_whole_answer_and_end_with_done(served):
    client, http = served
    whole = client.completions.create(model="poems", prompt="月", max_tokens=10, temperature=0.9, seed=7, n=2)
    chunks = list(client.completions.create(model="poems", prompt="月", max_tokens=10, temperature=0.9, seed=7,
                                            n=2, stream=True))
    for index in range(2):
        mine = [c.choices[0] for c in chunks if c.choices[0].index == index]
        assert "".join(c.text for c in mine) == whole.choices[index].text
        assert mine[-1].finish_reason == whole.choices[index].finish_reason
    raw = http.post("/v1/completions", json={"model": "poems", "prompt": "月", "max_tokens": 3, "stream": True})
    assert raw.text.endswith("data: [DONE]\n\n") and "event:" not in raw.text


def test_seeded_samples_repeat_and_n_gives_distinct_seeds(served):
    client, _ = served
    first = client.completions.create(model="poems", prompt="", max_tokens=16, seed=3, n=3)
    again = client.completions.create(model="poems", prompt="", max_tokens=16, seed=3, n=3)
    assert [c.text for c in first.choices] == [c.text for c in again.choices]
    single = client.completions.create(model="poems", prompt="", max_tokens=16, seed=4)
    assert single.choices[0].text == first.choices[1].text  # completion i uses seed + i
    assert [c.index for c in first.choices] == [0, 1, 2]


def test_a_list_of_prompts_orders_choices_prompt_major(served, poem_bundle):
    client, _ = served
    answer = client.completions.create(model="poems", prompt=["春", "秋"], max_tokens=6, temperature=0, n=2)
    texts = [c.text for c in answer.choices]
    assert texts == [_greedy(poem_bundle, "春", 6)] * 2 + [_greedy(poem_bundle, "秋", 6)] * 2


def test_stop_strings_cut_the_text(served, poem_bundle):
    client, _ = served
    full = _greedy(poem_bundle, "春", 20)
    stop = full[3:5]
    answer = client.completions.create(model="poems", prompt="春", max_tokens=20, temperature=0, stop=[stop])
    assert answer.choices[0].text == full[: full.find(stop)] and answer.choices[0].finish_reason == "stop"
    streamed = list(client.completions.create(model="poems", prompt="春", max_tokens=20, temperature=0,
                                              stop=stop, stream=True))
    assert "".join(c.choices[0].text for c in streamed) == answer.choices[0].text


@pytest.mark.parametrize("body,field", [
    ({"model": "poems", "prompt": "春", "logprobs": 2}, "logprobs"),
    ({"model": "poems", "prompt": "春", "echo": True}, "echo"),
    ({"model": "poems", "prompt": "春", "presence_penalty": 0.5}, "presence_penalty"),
    ({"model": "poems", "prompt": "春", "stop": ["a", "b", "c", "d", "e"]}, "stop"),
    ({"model": "poems", "prompt": "春", "max_tokens": 41}, "max_tokens"),
    ({"model": "poems", "prompt": "春", "temperature": 0.5, "top_p": 0.5, "n": 0}, "n"),
    ({"model": "poems", "prompt": "zzz"}, "prompt"),
])
def test_what_cannot_be_honoured_is_a_422_naming_the_field(served, body, field):
    _, http = served
    response = http.post("/v1/completions", json=body)
    assert response.status_code == 422 and field in response.text, response.text


def test_neutral_openai_defaults_are_accepted(served):
    """What tools built on the client send by default: top_p 1, zero penalties, an empty logit_bias, best_of n."""
    _, http = served
    response = http.post("/v1/completions", json={
        "model": "poems", "prompt": "春", "max_tokens": 4, "temperature": 0, "top_p": 1, "presence_penalty": 0,
        "frequency_penalty": 0, "logit_bias": {}, "best_of": 1, "n": 1, "user": "me", "seed": 5})
    assert response.status_code == 200, response.text


def test_another_model_name_is_a_404_naming_the_served_one(served):
    client, _ = served
    with pytest.raises(openai.NotFoundError, match="this server serves 'poems'"):
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt="春")


@pytest.mark.parametrize("stop,pieces,expected", [
    (["ab"], ["x", "a", "b", "y"], ("x", True)),
    (["ab"], ["x", "a", "c"], ("xac", False)),
    (["。"], ["春", "山", "。", "水"], ("春山", True)),
    ([], ["春", "山"], ("春山", False)),
])
def test_stop_scanner_holds_back_only_what_may_start_a_stop_string(stop, pieces, expected):
    scanner = StopScanner(stop)
    sent = "".join(scanner.feed(p) for p in pieces)
    assert (sent + scanner.flush(), scanner.stopped) == expected


def test_serve_quantize_int8_serves_the_int8_copy(poem_bundle, monkeypatch):
    from typer.testing import CliRunner

    import rnnkit.serve as server
    from rnnkit.cli import app
    from rnnkit.quantize import is_quantized, quantize_dynamic

    answers = {}

    def fake_serve(bundle, **options):  # what uvicorn would run: the app, entered as TestClient does
        answers["int8"] = is_quantized(bundle.model)
        with TestClient(create_app(bundle, options["settings"])) as http:
            answers["text"] = http.post("/v1/completions", json={"model": "poems", "prompt": "春", "max_tokens": 8,
                                                                 "temperature": 0}).json()["choices"][0]["text"]

    monkeypatch.setattr(server, "serve", fake_serve)
    result = CliRunner().invoke(app, ["serve", str(poem_bundle.path), "--quantize", "int8"])
    assert result.exit_code == 0, result.output
    int8 = quantize_dynamic(poem_bundle.model)
    assert answers["int8"] and answers["text"] == _greedy(poem_bundle._replace(model=int8), "春", 8)
    result = CliRunner().invoke(app, ["serve", str(poem_bundle.path), "--quantize", "int4"])
    assert result.exit_code == 2 and "--quantize: expected int8" in result.output
