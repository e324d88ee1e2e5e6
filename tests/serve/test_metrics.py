import pytest

pytest.importorskip("fastapi", reason="the serve extra (fastapi, httpx) is not installed")
pytest.importorskip("httpx", reason="the serve extra (fastapi, httpx) is not installed")
pytest.importorskip("prometheus_client", reason="the serve extra (prometheus_client) is not installed")

import prometheus_client  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

import rnnkit  # noqa: E402
from rnnkit.decoding import temperature  # noqa: E402
from rnnkit.serve import ServerSettings, create_app  # noqa: E402
from rnnkit.serve.metrics import Metrics  # noqa: E402
from rnnkit.serve.worker import DONE, Batcher, Job  # noqa: E402

POST, GET = ("method", "POST"), ("method", "GET")
GENERATE = ("route", "/v1/generate")


@pytest.fixture
def client(poem_bundle):
    with TestClient(create_app(poem_bundle, ServerSettings(max_new_tokens=40))) as client:
        yield client


def test_requests_latency_tokens_and_errors_by_route_and_status(client, samples):
    answers = [client.post("/v1/generate", json={"max_new_tokens": 5, "seed": seed}) for seed in (1, 2)]
    assert client.post("/v1/generate", json={"max_new_tokens": -1}).status_code == 422
    assert client.get("/no/such/path/123").status_code == 404
    assert client.get("/health").status_code == 200
    values = samples(client.get("/metrics").text)
    assert values["rnnkit_requests_total", (POST, GENERATE, ("status", "200"))] == 2
    assert values["rnnkit_requests_total", (POST, GENERATE, ("status", "422"))] == 1
    assert values["rnnkit_requests_total", (GET, ("route", "other"), ("status", "404"))] == 1
    assert values["rnnkit_requests_total", (GET, ("route", "/health"), ("status", "200"))] == 1
    assert not any("/no/such" in str(labels) for _, labels in values)  # raw paths never become labels
    assert values["rnnkit_request_duration_seconds_count", (GENERATE,)] == 3
    assert values["rnnkit_request_duration_seconds_bucket", (("le", "+Inf"), GENERATE)] == 3
    assert values["rnnkit_request_duration_seconds_sum", (GENERATE,)] > 0
    assert values["rnnkit_errors_total", (("kind", "http_422"),)] == 1
    assert values["rnnkit_errors_total", (("kind", "http_404"),)] == 1
    generated = sum(len(answer.json()["tokens"]) for answer in answers)
    assert values["rnnkit_tokens_generated_total", ()] == generated
    # one request at a time: every decoding step holds one row
    steps = values["rnnkit_batch_size_count", ()]
    assert steps > 0 and values["rnnkit_batch_size_sum", ()] == steps
    assert values["rnnkit_batch_size_bucket", (("le", "1.0"),)] == steps
    assert values["rnnkit_queue_depth", ()] == 0


def test_histogram_sums_and_buckets_equal_the_observations(samples):
    metrics = Metrics()
    for seconds in (0.003, 0.2, 4.0):
        metrics.observe_request("POST", "/v1/poem", 200, seconds)
    metrics.observe_request("BREW", "/v1/poem", 405, 0.001)  # an unknown method gets a fixed label
    values = samples(metrics.render(queue_depth=3).decode())
    poem = ("route", "/v1/poem")
    assert values["rnnkit_request_duration_seconds_sum", (poem,)] == pytest.approx(4.204)
    assert values["rnnkit_request_duration_seconds_bucket", (("le", "0.005"), poem)] == 2
    assert values["rnnkit_request_duration_seconds_bucket", (("le", "0.25"), poem)] == 3
    assert values["rnnkit_request_duration_seconds_bucket", (("le", "5.0"), poem)] == 4
    assert values["rnnkit_requests_total", (("method", "OTHER"), poem, ("status", "405"))] == 1
    assert values["rnnkit_queue_depth", ()] == 3


def test_model_info_names_the_bundle(client, poem_bundle, samples):
    values = samples(client.get("/metrics").text)
    (labels,) = [dict(labels) for name, labels in values if name == "rnnkit_model_info"]
    info = poem_bundle.info
    assert labels == {"kind": info["kind"], "task": "poems", "weights_sha256": info["weights_sha256"],
                      "bundle_rnnkit_version": info["rnnkit_version"], "rnnkit_version": rnnkit.__version__}
    assert len(labels["weights_sha256"]) == 64 and labels["kind"] == "language_model"


def test_batch_sizes_of_a_batched_generation(poem_bundle, samples):
    tokenizer, metrics = poem_bundle.tokenizer, Metrics()
    batcher = Batcher(poem_bundle.model, max_batch=8, on_tokens=metrics.count_tokens, on_batch=metrics.observe_batch)
    jobs = [Job([tokenizer.start_id, 5 + seed], 6, "sample", [temperature(0.9)], None, seed=seed) for seed in range(4)]
    for job in jobs:  # all queued before the worker starts: they run as one batch of 4
        batcher.submit(job)
    batcher.start()
    for job in jobs:
        while job.events.get(timeout=30)[0] != DONE:
            pass
    batcher.stop()
    values = samples(metrics.render(0).decode())
    # 6 tokens each, no end token: the first comes from the prompt pass, then 5 decoding steps of all 4 rows
    assert values["rnnkit_batch_size_count", ()] == 5 and values["rnnkit_batch_size_sum", ()] == 20
    assert values["rnnkit_batch_size_bucket", (("le", "2.0"),)] == 0
    assert values["rnnkit_batch_size_bucket", (("le", "4.0"),)] == 5
    assert values["rnnkit_tokens_generated_total", ()] == 24


def test_two_apps_in_one_process_count_apart(poem_bundle, text_bundle, samples):
    with TestClient(create_app(poem_bundle)) as poems, TestClient(create_app(text_bundle)) as words:
        poems.get("/health")
        poems.get("/health")
        words.get("/health")
        first, second = samples(poems.get("/metrics").text), samples(words.get("/metrics").text)
    health = (GET, ("route", "/health"), ("status", "200"))
    assert first["rnnkit_requests_total", health] == 2 and second["rnnkit_requests_total", health] == 1
    assert {dict(labels)["task"] for name, labels in first if name == "rnnkit_model_info"} == {"poems"}
    assert {dict(labels)["task"] for name, labels in second if name == "rnnkit_model_info"} == {"word_lm"}
    default = samples(prometheus_client.generate_latest(prometheus_client.REGISTRY).decode())
    assert not any(name.startswith("rnnkit_") for name, _ in default)  # never the process-wide registry
