"""CORS as a browser enforces it (Chromium): a page served from a second loopback origin, listed in
ALLOWED_ORIGINS, queries the API with fetch (an Authorization header: a preflighted request) and
follows a job over the WebSocket; the same page from an origin not listed gets neither (its fetch
blocked at the preflight, its WebSocket handshake refused).

No request is routed through Playwright here: with interception on, Playwright answers CORS
preflights itself, allowing everything, and the API's own answers would go untested. Requests
beyond loopback fail at a proxy that goes nowhere instead (tests/support/chromium.py)."""

from __future__ import annotations

import shutil
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from playwright.async_api import Browser

from graph.edges.demo import WEB_DIR
from tests.conftest import Stack, start_stack
from tests.support.auth import Caller
from tests.support.chromium import chromium, needs_chromium, watch_beyond_loopback
from tests.support.gql import improve_cv

pytestmark = needs_chromium

# The page's script: the demo's own graphql-transport-ws client (examples/web/socket.js), served
# beside it by the page's server; what happened is left in window.outcome.
PAGE = """<!doctype html>
<title>another origin</title>
<script type="module">
import { GraphQLSocket } from "./socket.js";
const given = new URLSearchParams(location.search);
const api = given.get("api"), authorization = `Bearer ${given.get("token")}`;
const outcome = {};
try {
  const response = await fetch(api, {
    method: "POST",
    headers: { "Content-Type": "application/json", Authorization: authorization },
    body: JSON.stringify({ query: "{ me { id } }" }),
  });
  outcome.me = (await response.json()).data.me.id;
} catch (e) {
  outcome.fetchError = `${e.name}: ${e.message}`;
}
try {
  const socket = await GraphQLSocket.open(api.replace(/^http/, "ws"), authorization);
  const query = "subscription($j: ID!) { jobUpdates(jobId: $j, afterSeq: 0) { state } }";
  outcome.states = [];
  for await (const { data } of socket.operation(query, { j: given.get("job") })) {
    outcome.states.push(data.jobUpdates.state);
  }
  socket.close();
} catch (e) {
  outcome.socketError = e.code;
}
window.outcome = outcome;
document.body.dataset.done = "yes";
</script>
<body></body>
"""


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def page_server(directory: Path) -> Iterator[str]:
    """An HTTP server of `directory` on a loopback port of its own: the page's origin."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(_Quiet, directory=str(directory)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture(scope="module")
def page_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("other-origin")
    (directory / "index.html").write_text(PAGE)
    shutil.copy(WEB_DIR / "socket.js", directory / "socket.js")
    return directory


@pytest.fixture(scope="module")
def origins(page_dir: Path) -> Iterator[tuple[str, str]]:
    """The same page on two origins: the first will be allowed, the second not."""
    with page_server(page_dir) as allowed, page_server(page_dir) as foreign:
        yield allowed, foreign


@pytest.fixture(scope="module")
async def stack(redis_server, workdir, origins) -> AsyncIterator[Stack]:
    allowed, _ = origins
    stack = await start_stack("t-corsb", redis_server.url, workdir, ALLOWED_ORIGINS=allowed)
    yield stack
    await stack.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium(proxy_nowhere=True) as launched:
        yield launched


async def _visit(browser: Browser, origin: str, stack: Stack, job_id: str) -> tuple[dict[str, Any], str]:
    """What the page did from `origin`, and what Chromium's console said meanwhile."""
    page = await browser.new_page()
    elsewhere = watch_beyond_loopback(page)
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    query = urlencode({"api": stack.http, "token": Caller.bearer, "job": job_id})
    await page.goto(f"{origin}/index.html?{query}")
    await page.wait_for_selector("body[data-done]", state="attached", timeout=60_000)
    outcome = await page.evaluate("window.outcome")
    await page.close()
    assert elsewhere == []
    return outcome, "\n".join(console)


async def test_a_page_on_an_allowed_origin_fetches_and_subscribes(stack, origins, browser):
    allowed, _ = origins
    job = await improve_cv(stack.http, "Jane Doe\nEXPERIENCE\n- Built payment APIs in Python")
    outcome, console = await _visit(browser, allowed, stack, job["id"])
    assert outcome == {"me": Caller.user, "states": [*outcome["states"][:-1], "SUCCEEDED"]}, console
    assert outcome["states"][0] == "QUEUED"


async def test_a_page_on_another_origin_gets_neither_fetch_nor_websocket(stack, origins, browser):
    _, foreign = origins
    job = await improve_cv(stack.http, "Jane Doe\nEXPERIENCE\n- Built payment APIs in Python")
    outcome, console = await _visit(browser, foreign, stack, job["id"])
    assert outcome == {"fetchError": "TypeError: Failed to fetch", "socketError": "WEBSOCKET_1006"}
    # Chromium says why: the API's answer to the preflight allowed no origin, and it answered
    # the WebSocket handshake 403 (an origin not in ALLOWED_ORIGINS).
    assert "Response to preflight request doesn't pass access control check" in console, console
    assert "WebSocket handshake: Unexpected response code: 403" in console, console
