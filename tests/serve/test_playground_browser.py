"""The web playground in a real headless browser: Debian's chromium driven by Playwright for Python.

Needs /usr/bin/chromium and the playwright package (`make browser-deps`); skipped with the reason otherwise.
Playwright's own browser downloads are never used: it is pointed at the system chromium.
"""

import shutil
import socket
import threading
import time

import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed: make browser-deps")
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on this machine: make browser-deps")

CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def server_url(poem_bundle):
    import copy

    import uvicorn

    from rnnkit.serve import create_app

    # The tiny model writes a poem in a few milliseconds, which the browser may receive as one piece; 20 ms per
    # model call spreads the tokens out so that streaming is visible, as it is with a real model.
    model = copy.deepcopy(poem_bundle.model)
    fast_forward = model.forward

    def slow_forward(*args, **kwargs):
        time.sleep(0.02)
        return fast_forward(*args, **kwargs)

    model.forward = slow_forward
    poem_bundle = poem_bundle._replace(model=model)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(poem_bundle), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("the test server did not start within 20 s")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def page(server_url):
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.goto(server_url + "/")
        yield page
        browser.close()


def test_writes_an_acrostic_quatrain_streamed_token_by_token(page):
    # record the poem's length each time the page updates it: a streamed poem shows up in several pieces
    # (the browser may hand over several server-sent events at once, so not necessarily one per token)
    page.evaluate("""() => {
        window.poemLengths = [];
        new MutationObserver(() => { window.poemLengths.push(document.getElementById("poem").textContent.length); })
            .observe(document.getElementById("poem"), {childList: true, characterData: true, subtree: true});
    }""")
    page.select_option("#form", "wujue")
    page.fill("#acrostic", "春夏秋冬")
    page.fill("#seed", "3")
    page.click("#write")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('done')", timeout=20_000)
    lines = [line for line in page.inner_text("#poem").split("\n") if line]
    assert len(lines) == 2  # the page breaks the line after each full stop: two couplets
    assert [line[0] for line in (lines[0][:6], lines[0][6:], lines[1][:6], lines[1][6:])] == list("春夏秋冬")
    for line in lines:  # five characters, comma, five characters, full stop
        assert len(line) == 12 and line[5] == "，" and line[11] == "。"
    lengths = [n for n in page.evaluate("window.poemLengths") if n > 0]
    assert len(set(lengths)) >= 3 and lengths == sorted(lengths)  # grew in several steps, never rewritten


def test_shows_the_servers_message_for_a_bad_acrostic(page):
    page.fill("#acrostic", "春夏秋冬山")  # five characters for a four-line poem
    page.click("#write")
    page.wait_for_function("document.getElementById('status').textContent.startsWith('error')", timeout=20_000)
    status = page.inner_text("#status")
    assert "422" in status and "acrostic" in status
