"""A real `rnnkit serve` process: SIGTERM lets the in-flight request finish and refuses new connections."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

httpx = pytest.importorskip("httpx", reason="the serve extra (fastapi, uvicorn, httpx) is not installed")
pytest.importorskip("uvicorn", reason="the serve extra (fastapi, uvicorn, httpx) is not installed")


def test_sigterm_finishes_in_flight_requests(poem_bundle):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "rnnkit.cli", "serve", str(poem_bundle.path), "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "OMP_NUM_THREADS": "1"})
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        answers = {}

        def long_request():
            answers["in_flight"] = httpx.post(url + "/v1/generate", json={"max_new_tokens": 512, "seed": 0}, timeout=60)

        thread = threading.Thread(target=long_request)
        thread.start()
        time.sleep(0.3)
        server.send_signal(signal.SIGTERM)
        thread.join(60)
        assert answers["in_flight"].status_code == 200  # finished although SIGTERM came while it ran
        server.wait(30)  # uvicorn re-raises SIGTERM after its graceful shutdown, so the exit status is -15
        with pytest.raises(httpx.ConnectError):
            httpx.get(url + "/health", timeout=2)
    finally:
        server.kill()
        server.wait()
