"""Fuzz the API from its OpenAPI schema: any body, well-formed or not, gets an answer below 500."""

import json

import pytest

pytest.importorskip("fastapi", reason="the serve extra (fastapi, httpx) is not installed")

from fastapi.testclient import TestClient  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from rnnkit.serve import ServerSettings, create_app  # noqa: E402

VALUES = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30), st.lists(st.integers(), max_size=3), st.dictionaries(st.text(max_size=3), st.integers(),
                                                                              max_size=2),
    st.sampled_from(["wujue", "qilv", "春夏秋冬", "春", "", " ", "，。", "\x00", "<s>", "</s>"]),
)


@pytest.fixture(scope="module")
def client(poem_bundle):
    # max_new_tokens is capped at 8: a large value gets 422 rather than a long run
    with TestClient(create_app(poem_bundle, ServerSettings(max_new_tokens=8))) as client:
        yield client


def bodies(client, path):
    schema = client.get("/openapi.json").json()
    reference = schema["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    fields = list(schema["components"]["schemas"][reference.rsplit("/", 1)[1]]["properties"])
    keys = st.sampled_from(fields) | st.text(max_size=8)
    return st.one_of(st.dictionaries(keys, VALUES, max_size=6), VALUES)


@pytest.mark.parametrize("path", ["/v1/generate", "/v1/poem", "/v1/predict"])
def test_no_body_gives_a_server_error(client, path):
    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(body=bodies(client, path))
    def check(body):
        content = json.dumps(body).encode()  # NaN and Infinity go out as JavaScript writes them (invalid JSON)
        answer = client.post(path, content=content, headers={"content-type": "application/json"})
        assert answer.status_code < 500, (body, answer.status_code, answer.text)

    check()
