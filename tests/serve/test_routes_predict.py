import json
import threading

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnnkit.bundle import load, save
from rnnkit.predict import predict
from rnnkit.serve import ServerSettings, create_app, route_modules
from rnnkit.serve.routes_predict import PredictBatcher, PredictJob


@pytest.fixture(scope="module")
def classifier(classifier_bundle):
    with TestClient(create_app(classifier_bundle, ServerSettings(max_inputs=4, max_input_chars=40))) as client:
        yield client


@pytest.fixture(scope="module")
def tagger(tagger_bundle):
    with TestClient(create_app(load(tagger_bundle))) as client:
        yield client


def test_a_classifier_bundle_folder_is_served(classifier, classifier_bundle):
    answer = classifier.post("/v1/predict", json={"inputs": ["A fine film", "a dull zorb film"]})
    assert answer.status_code == 200
    got = answer.json()["predictions"]
    want = predict(classifier_bundle, ["A fine film", "a dull zorb film"])
    assert [item["label"] for item in got] == [item.label for item in want]
    for item, reference in zip(got, want, strict=True):
        assert item["probabilities"] == pytest.approx(reference.probabilities, abs=1e-6)
        assert set(item) == {"label", "probabilities", "unknown"}
    assert got[0]["unknown"] == [] and got[1]["unknown"] == ["zorb"]


def test_a_tagger_answers_tokens_tags_and_entities_with_offsets(tagger):
    text = "Alice visits  Paris"
    answer = tagger.post("/v1/predict", json={"inputs": [text]})
    assert answer.status_code == 200
    (item,) = answer.json()["predictions"]
    assert item["tokens"] == ["Alice", "visits", "Paris"] and item["tags"] == ["B-PER", "O", "B-LOC"]
    assert [(e["text"], e["label"], e["start"], e["end"]) for e in item["entities"]] == [("Alice", "PER", 0, 5),
                                                                                       ("Paris", "LOC", 14, 19)]
    assert all(text[e["start"]:e["end"]] == e["text"] and 0 < e["probability"] <= 1 for e in item["entities"])
    assert item["unknown"] == [] and "label" not in item


def test_limits_and_refusals_are_422_naming_the_field(classifier, tagger):
    too_many = classifier.post("/v1/predict", json={"inputs": ["a fine film"] * 5})
    assert too_many.status_code == 422 and "at most 4 texts per request (max_inputs), got 5" in str(too_many.json())
    too_long = classifier.post("/v1/predict", json={"inputs": ["a", "film " * 10]})
    assert too_long.status_code == 422
    assert "inputs[1]: expected at most 40 characters (max_input_chars), got 50" in str(too_long.json())
    for client in (classifier, tagger):
        empty = client.post("/v1/predict", json={"inputs": ["a fine film", " "]})
        assert empty.status_code == 422 and empty.json()["detail"][0]["loc"] == ["body", "inputs"]
        assert empty.json()["detail"][0]["msg"].startswith("inputs[1]: expected a text with at least one token")
    unknown = classifier.post("/v1/predict", json={"inputs": ["zorb qux"]})
    assert unknown.status_code == 422 and unknown.json()["detail"][0]["msg"].startswith("inputs[0]: ")
    for body in ({}, {"inputs": []}, {"inputs": "a text"}, {"inputs": [1]}, {"inputs": ["a"], "top_k": 1}):
        assert classifier.post("/v1/predict", json=body).status_code == 422, body


def test_health_metrics_and_docs_work_for_a_classifier(classifier, samples):
    health = classifier.get("/health").json()
    assert health["status"] == "ready" and health["task"] == "sentiment" and health["queue_depth"] == 0
    classifier.post("/v1/predict", json={"inputs": ["a fine film"]})
    counted = samples(classifier.get("/metrics").text)
    assert counted["rnnkit_requests_total", (("method", "POST"), ("route", "/v1/predict"), ("status", "200"))] >= 1
    schema = classifier.get("/openapi.json").json()
    assert "/v1/generate" not in schema["paths"] and "/v1/predict" in schema["paths"]
    assert schema["components"]["schemas"]["PredictRequest"]["examples"][0]["inputs"]


def _run_queued(bundle, requests: list[list[str]], **options) -> tuple[list, list[int]]:
    """Queue ``requests`` on a worker before it starts (so it finds them all waiting); their results and the
    sizes of the batches it ran."""
    batches: list[int] = []
    batcher = PredictBatcher(load(bundle), window=0.2, on_batch=batches.append, **options)
    jobs = [batcher.submit(PredictJob(inputs)) for inputs in requests]
    batcher.start()
    results = [job.result.get(timeout=30) for job in jobs]
    batcher.stop()
    return results, batches


def _run_together(bundle, requests: list[list[str]]) -> list:
    results, batches = _run_queued(bundle, requests)
    assert batches == [len(requests)]  # one batch: they did run together
    return results


@pytest.mark.parametrize("name", ["classifier_bundle", "random_tagger_bundle"])
def test_a_request_gets_the_same_answer_alone_or_in_a_batch(request, name):
    bundle = request.getfixturevalue(name)
    requests = [["a fine film"], ["a dull film , a fine alice", "film"], ["paris visits alice a dull film film"]]
    if name == "random_tagger_bundle":
        requests = [["Alice visits Paris"], ["Paris", "alice visits paris visits alice"], ["visits  Alice"]]
    results = _run_together(bundle, requests)
    for inputs, (status, got) in zip(requests, results, strict=True):
        assert status == 200
        for text, item in zip(inputs, got, strict=True):
            (alone,) = predict(bundle, [text])
            assert (item.label, item.tokens, item.tags, item.unknown) == (alone.label, alone.tokens, alone.tags,
                                                                          alone.unknown)
            assert item.probabilities == pytest.approx(alone.probabilities, abs=1e-6)
            assert [e[:4] for e in item.entities] == [e[:4] for e in alone.entities]
            assert [e.probability for e in item.entities] == pytest.approx([e.probability for e in alone.entities],
                                                                           abs=1e-6)


def test_a_refused_request_in_a_batch_does_not_fail_the_others(classifier_bundle):
    (first, second) = _run_together(classifier_bundle, [["a fine film"], ["a film", ""]])
    assert first[0] == 200 and first[1][0].label == predict(classifier_bundle, ["a fine film"])[0].label
    assert second[0] == 422 and second[1].startswith("inputs[1]: ")  # its own index, not the batch's


def test_a_batch_holds_at_most_max_batch_requests_and_max_inputs_texts(classifier_bundle):
    requests = [["a fine film"], ["a film", "film"], ["film", "a film", "a dull film"], ["a"]]
    results, batches = _run_queued(classifier_bundle, requests, max_inputs=4)
    assert batches == [2, 1, 1]  # 1 + 2 texts; the third request would pass 4 texts: it runs next, alone
    for inputs, (status, got) in zip(requests, results, strict=True):
        assert status == 200 and [item.text for item in got] == inputs
    _, batches = _run_queued(classifier_bundle, [["a"]] * 4, max_batch=3)
    assert batches == [3, 1]
    _, batches = _run_queued(classifier_bundle, [["a"]] * 3, max_batch=1)
    assert batches == [1, 1, 1]


def test_concurrent_requests_all_get_their_own_answer(classifier_bundle):
    texts = ["a fine film", "a dull film", "film film", "a film"]
    answers: dict[str, dict] = {}
    with TestClient(create_app(classifier_bundle, ServerSettings(batch_window=0.05))) as client:
        def ask(text):
            answers[text] = client.post("/v1/predict", json={"inputs": [text]}).json()["predictions"][0]

        threads = [threading.Thread(target=ask, args=(text,)) for text in texts]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    for text in texts:
        assert answers[text]["probabilities"] == pytest.approx(predict(classifier_bundle, [text])[0].probabilities,
                                                               abs=1e-6)


def test_a_series_classifier_is_refused_with_422_not_a_crash(tmp_path):
    from rnnkit.models.classifier import ClassifierConfig, SequenceClassifier

    model = SequenceClassifier(ClassifierConfig(input_size=2, hidden_size=4, num_classes=2))
    path = save(tmp_path / "b", model.eval(), task="series")
    with TestClient(create_app(path)) as client:
        answer = client.post("/v1/predict", json={"inputs": ["1 2 3"]})
    assert answer.status_code == 422 and "numeric series" in answer.json()["detail"][0]["msg"]


def test_a_kind_without_routes_is_refused_naming_its_commands(tagger_bundle, tmp_path):
    info = json.loads((tagger_bundle / "bundle.json").read_text())
    with pytest.raises(ValueError, match=r"got kind 'forecaster', which has no HTTP routes; use rnnkit forecast, "
                                         r"rnnkit detect, rnnkit eval with this bundle"):
        route_modules({**info, "kind": "forecaster"})
    assert route_modules(info) == ("rnnkit.serve.routes_predict",)
    with pytest.raises(ValueError, match="'language_model', 'classifier', 'tagger'"):
        create_app(load(tagger_bundle)._replace(info={**info, "kind": "seq2seq"}))


def test_the_cli_serve_starts_the_app_for_a_classifier_bundle(classifier_bundle, monkeypatch):
    from typer.testing import CliRunner

    import rnnkit.serve as server
    from rnnkit.cli import app

    started = {}

    def fake_serve(bundle, **options):  # what uvicorn would run: the app, entered as TestClient does
        with TestClient(create_app(bundle, options["settings"])) as client:
            started["answer"] = client.post("/v1/predict", json={"inputs": ["a fine film"]})

    monkeypatch.setattr(server, "serve", fake_serve)
    result = CliRunner().invoke(app, ["serve", str(classifier_bundle)])
    assert result.exit_code == 0, result.output
    assert started["answer"].status_code == 200 and started["answer"].json()["predictions"][0]["label"]


TEXTS = st.one_of(st.text(max_size=40), st.sampled_from(["", " ", "\x00", "<unk>", "<pad>", "Alice visits Paris",
                                                          "a fine film", "zorb", "春夏", "a" * 41]))


@pytest.mark.parametrize("name", ["classifier", "tagger"])
def test_no_list_of_texts_gives_a_server_error(request, name):
    client = request.getfixturevalue(name)

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(inputs=st.lists(TEXTS, min_size=0, max_size=6))
    def check(inputs):
        answer = client.post("/v1/predict", json={"inputs": inputs})
        assert answer.status_code in (200, 422), (inputs, answer.status_code, answer.text)
        if answer.status_code == 200:
            assert len(answer.json()["predictions"]) == len(inputs)

    check()
