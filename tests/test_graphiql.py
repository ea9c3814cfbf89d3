"""GraphiQL follows the environment: served in development, opening with an example document and
the Authorization header to fill in; in production only when GRAPHIQL=true."""

from __future__ import annotations

import httpx
import pytest

from tests.conftest import stack_env
from tests.support.processes import start_api

HTML = {"Accept": "text/html"}


async def _page(url: str) -> httpx.Response:
    async with httpx.AsyncClient() as client:
        return await client.get(url, headers=HTML)


async def test_development_serves_graphiql_with_an_example_and_the_header_template(offline_stack):
    page = await _page(offline_stack.http)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "query WhoAmI" in page.text and "Bearer <a token from make token>" in page.text
    assert "unpkg.com" not in page.text  # its scripts are served by the API itself


@pytest.mark.parametrize(("graphiql", "served"), [(None, False), ("true", True)])
async def test_production_serves_graphiql_only_when_asked(redis_server, workdir, graphiql, served):
    env = {**stack_env(redis_server.url, "t-graphiql"), "ENV": "production"}
    if graphiql is not None:
        env["GRAPHIQL"] = graphiql
    api = await start_api(f"t-graphiql-{graphiql}-api", env, workdir)
    try:
        page = await _page(api.http_url)
    finally:
        await api.proc.stop()
    assert ("query WhoAmI" in page.text) is served
    if not served:
        # No page here: a typed 404, as for any other path that serves nothing.
        assert page.status_code == 404 and page.json()["errors"][0]["extensions"]["code"] == "NOT_FOUND"
