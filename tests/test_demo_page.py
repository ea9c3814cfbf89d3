"""The demo page (examples/web at /demo) in Chromium on the offline engine, as a person uses it:
paste or upload a CV, name the position, watch the analysis and the rewrite stream in over the
WebSocket, download the PDF; errors shown with the API's codes. Nothing leaves loopback. And /demo
follows the environment: served in development (with a token for the shared demo user), in
production only with DEMO=true (and no token), a typed 404 otherwise or when not installed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import Browser, Page
from pydantic import SecretStr
from starlette.applications import Starlette

from graph.edges.demo import DEMO_USER, demo_routes
from settings import Settings
from tests.conftest import api_alone
from tests.samples import CV, JOB_DESCRIPTION
from tests.support.auth import Caller
from tests.support.chromium import LoopbackOnly, chromium, needs_chromium
from tests.support.documents import scanned_pdf, text_pdf
from tests.support.gql import execute

ME = "{ me { id plan } }"
RUN_SECONDS = 60


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


class DemoPage:
    def __init__(self, page: Page, guard: LoopbackOnly) -> None:
        self.page, self.guard = page, guard

    @classmethod
    async def open(cls, browser: Browser, base_url: str) -> DemoPage:
        guard = LoopbackOnly()
        page = await browser.new_page(accept_downloads=True)
        await page.route("**/*", guard)
        await page.goto(f"{base_url}/demo")
        return cls(page, guard)

    async def minted_token(self) -> str:
        # (A selector, not wait_for_function: the page's policy forbids the eval that polls one.)
        await self.page.wait_for_selector("#token:not(:placeholder-shown)")
        return await self.page.input_value("#token")

    async def run(self, position: str, cv_text: str | None = None, cv_file: bytes | None = None) -> str:
        """Fills the form, starts, and waits for the run's end; "done" or "failed"."""
        await self.page.fill("#position", position)
        await self.page.fill("#job-description", JOB_DESCRIPTION)
        if cv_text is not None:
            await self.page.fill("#cv-text", cv_text)
        if cv_file is not None:
            await self.page.set_input_files(
                "#cv-file", {"name": "cv.pdf", "mimeType": "application/pdf", "buffer": cv_file}
            )
        await self.page.click("#start")
        await self.page.wait_for_selector("body[data-run]", state="attached", timeout=RUN_SECONDS * 1000)
        return await self.page.get_attribute("body", "data-run") or ""

    async def succeeds(self, position: str, **cv: Any) -> dict[str, str]:
        """A run that must end well: each of its jobs' kind and id, in the order they started."""
        assert await self.run(position, **cv) == "done", await self.errors()
        jobs = await self.jobs()
        assert all(state == "SUCCEEDED" for _, state in jobs.values()), jobs
        return {kind: job for kind, (job, _) in jobs.items()}

    async def close(self) -> None:
        assert self.guard.elsewhere == [], "the page reached beyond loopback"
        await self.page.close()

    async def errors(self) -> str:
        return await self.page.inner_text("#errors")

    async def jobs(self) -> dict[str, tuple[str, str]]:
        """Each job row's kind: (job id, state)."""
        rows = await self.page.eval_on_selector_all(
            "#jobs li", "rows => rows.map(r => [r.dataset.kind, r.dataset.job, r.dataset.state])"
        )
        return {kind: (job, state) for kind, job, state in rows}

    async def download_pdf(self) -> bytes:
        async with self.page.expect_download() as download_info:
            await self.page.click("#pdf")
        path = await (await download_info.value).path()
        return await asyncio.to_thread(Path(path).read_bytes)


async def _advice_of(http_url: str, job_id: str, token: str) -> list[str]:
    query = "query($id: ID!) { job(id: $id) { response { advice } } }"
    data = await execute(http_url, query, {"id": job_id}, token)
    return list(data["job"]["response"]["advice"])


async def _rewrite_of(http_url: str, job_id: str, token: str) -> str:
    query = "query($id: ID!) { job(id: $id) { result { text } } }"
    data = await execute(http_url, query, {"id": job_id}, token)
    return str(data["job"]["result"]["text"])


@needs_chromium
async def test_a_pasted_cv_is_analysed_rewritten_live_and_rendered_as_a_pdf(offline_stack, browser):
    demo = await DemoPage.open(browser, offline_stack.api.base_url)
    token = await demo.minted_token()
    assert (await execute(offline_stack.http, ME, token=token))["me"]["id"] == DEMO_USER

    jobs = await demo.succeeds("Senior Python Engineer", cv_text=CV)
    assert set(jobs) == {"ANALYZE_CV", "IMPROVE_CV", "RENDER_PDF"}
    assert (await demo.page.inner_text("#overall-score")).endswith("/100")
    # The rewrite arrived in pieces (OUTPUT events), and the pieces make up the stored text.
    assert int(await demo.page.get_attribute("#rewrite", "data-deltas") or 0) >= 2
    shown = await demo.page.eval_on_selector("#rewrite", "e => e.textContent")
    assert shown == await _rewrite_of(offline_stack.http, jobs["IMPROVE_CV"], token)
    # The advice (what the job asks for that the CV lacks) is shown apart, never as CV text.
    advice = await _advice_of(offline_stack.http, jobs["IMPROVE_CV"], token)
    listed = await demo.page.eval_on_selector_all("#advice li", "items => items.map(i => i.textContent)")
    assert advice and listed == advice

    pdf = await demo.download_pdf()
    shown_size = int(await demo.page.get_attribute("#pdf", "data-bytes") or 0)
    assert pdf.startswith(b"%PDF") and len(pdf) == shown_size
    await demo.close()


@needs_chromium
async def test_an_uploaded_pdf_is_read_then_analysed_rewritten_and_rendered(offline_stack, browser):
    demo = await DemoPage.open(browser, offline_stack.api.base_url)
    await demo.minted_token()
    await demo.page.fill("#token", Caller.bearer)  # a token pasted from `make token`

    jobs = await demo.succeeds("Senior Python Engineer", cv_file=text_pdf([CV]))
    assert list(jobs) == ["EXTRACT_RESUME", "ANALYZE_CV", "IMPROVE_CV", "RENDER_PDF"]
    mine = await execute(
        offline_stack.http, "{ questionnaires(first: 1) { edges { node { resume { format state } } } } }"
    )
    assert mine["questionnaires"]["edges"][0]["node"]["resume"] == {"format": "PDF", "state": "EXTRACTED"}
    assert "Jane Doe" in await demo.page.eval_on_selector("#rewrite", "e => e.textContent")
    assert (await demo.download_pdf()).startswith(b"%PDF")
    await demo.close()


@needs_chromium
async def test_errors_show_in_the_page_with_the_api_codes(offline_stack, browser):
    demo = await DemoPage.open(browser, offline_stack.api.base_url)
    await demo.minted_token()
    await demo.page.fill("#token", "not-a-token")
    assert await demo.run("Senior Python Engineer", cv_text=CV) == "failed"
    errors = await demo.errors()
    assert "UNAUTHENTICATED" in errors and "the token is not valid" in errors

    # A scan has no text to read: the extraction job fails, and the page says why.
    await demo.page.fill("#token", Caller.bearer)
    assert await demo.run("Senior Python Engineer", cv_file=scanned_pdf()) == "failed"
    assert "NO_TEXT_LAYER" in await demo.errors()
    assert (await demo.jobs())["EXTRACT_RESUME"][1] == "FAILED"
    await demo.close()


async def _get(url: str, method: str = "GET") -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.request(method, url)


async def test_development_serves_the_page_and_a_token_for_the_demo_user(offline_stack):
    base = offline_stack.api.base_url
    moved = await _get(f"{base}/demo")
    page = await _get(f"{base}/demo/")
    minted = await _get(f"{base}/demo/token", "POST")
    assert moved.status_code == 308 and moved.headers["location"] == "/demo/"
    assert page.status_code == 200 and '<script type="module" src="app.js">' in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    assert minted.headers["cache-control"] == "no-store"
    me = (await execute(offline_stack.http, ME, token=minted.json()["token"]))["me"]
    assert me == {"id": DEMO_USER, "plan": "PRO"}
    listed = await _get(f"{base}/demo/token")
    assert listed.status_code == 405 and _code(listed) == "METHOD_NOT_ALLOWED"


async def test_a_demo_token_goes_only_to_this_machine_by_a_loopback_name(offline_stack):
    """A page on a name its owner rebound to 127.0.0.1 (DNS rebinding) reaches the API with that
    name as Host: it gets no token. (A peer that is not loopback is refused alike.)"""
    url = f"{offline_stack.api.base_url}/demo/token"
    async with httpx.AsyncClient() as client:
        rebound = await client.post(url, headers={"Host": "attacker.example:8000"})
        local = await client.post(url, headers={"Host": "localhost:8000"})
    assert rebound.status_code == 403 and _code(rebound) == "DEMO_TOKEN_UNAVAILABLE"
    assert "token" not in rebound.json()
    assert local.status_code == 200 and local.json()["user"] == DEMO_USER


def _code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


@pytest.mark.parametrize("demo", [None, "true"])
async def test_production_serves_the_page_only_when_asked_and_never_a_token(redis_server, workdir, demo):
    env = {"ENV": "production", **({"DEMO": demo} if demo else {})}
    async with api_alone(f"t-demo-prod-{demo}", redis_server.url, workdir, **env) as api:
        page = await _get(f"{api.base_url}/demo/")
        minted = await _get(f"{api.base_url}/demo/token", "POST")
    if demo:
        assert page.status_code == 200 and "cvimprover-graph demo" in page.text
        assert minted.status_code == 404 and _code(minted) == "DEMO_TOKEN_UNAVAILABLE"
    else:
        assert page.status_code == 404 and _code(page) == "NOT_FOUND" and "DEMO=true" in page.text
        assert minted.status_code == 404 and _code(minted) == "NOT_FOUND"


async def test_an_install_without_the_page_answers_a_typed_404_saying_so(tmp_path):
    # What a wheel install finds: examples/web ships with the checkout only.
    settings = Settings(_env_file=None, env="development", jwt_secret=SecretStr("s" * 32))
    app = Starlette(routes=demo_routes(settings, web_dir=tmp_path / "examples" / "web"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client:
        page = await client.get("/demo/")
    assert page.status_code == 404 and _code(page) == "NOT_FOUND"
    assert "not installed" in page.json()["errors"][0]["message"]
