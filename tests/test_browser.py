"""GraphiQL in a real browser (Chromium, driven by Playwright): the walk-through of the README,
with every script and style served by the API itself; nothing leaves the machine."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from urllib.parse import quote, urlencode

import pytest
from playwright.async_api import Browser, Page

from tests.support.auth import Caller
from tests.support.chromium import LoopbackOnly, chromium, needs_chromium

pytestmark = needs_chromium


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with chromium() as launched:
        yield launched


async def _run_in_graphiql(page: Page, base: str, query: str, expect: str) -> str:
    headers = json.dumps({"Authorization": f"Bearer {Caller.bearer}"})
    await page.goto(f"{base}/graphql?" + urlencode({"q": query, "headers": headers}, quote_via=quote))
    await page.click(".graphiql-execute-button")
    await page.wait_for_function(
        "s => (document.querySelector('.result-window') || {}).innerText?.includes(s)",
        arg=expect,
        timeout=30_000,
    )
    return await page.inner_text(".result-window")


async def test_the_readme_walk_through_in_graphiql(offline_stack, browser: Browser):
    base = offline_stack.api.base_url
    only_loopback = LoopbackOnly()
    page = await browser.new_page()
    await page.route("**/*", only_loopback)
    me = await _run_in_graphiql(page, base, "query { me { id plan } }", Caller.user)
    assert '"plan": "PREMIUM"' in me

    mutation = (
        'mutation { improveCv(input: {cvText: "Jane Doe\\\\nEXPERIENCE\\\\n- responsible for the billing '
        'service in Python", position: "Senior Python Engineer"}) { id state seq } }'
    )
    queued = await _run_in_graphiql(page, base, mutation, "QUEUED")
    job_id = re.search(r'"id": "([0-9a-f-]{36})"', queued)
    assert job_id is not None and '"seq": 1' in queued

    # GraphiQL sends the Headers tab in the WebSocket's connection_init, and shows the latest event.
    subscription = (
        f'subscription {{ jobUpdates(jobId: "{job_id.group(1)}", afterSeq: 0) {{ seq state stage }} }}'
    )
    final = await _run_in_graphiql(page, base, subscription, "SUCCEEDED")
    assert '"stage": "done"' in final
    assert only_loopback.elsewhere == []
    await page.close()
