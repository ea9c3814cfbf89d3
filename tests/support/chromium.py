"""Debian's Chromium driven by Playwright (no browser download), and two ways to keep a page's
requests on this machine: a route that aborts and records every request to anything but loopback;
or, where requests must not be intercepted, a proxy that goes nowhere for all but loopback, and a
watch that records what was sent there."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page, ProxySettings, Request, Route, async_playwright

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium: `make test` installs Debian's package when it can (root)"
)
LOOPBACK = ("127.0.0.1", "localhost")
# A port nothing listens on; loopback goes direct.
NOWHERE_PROXY = ProxySettings(server="http://127.0.0.1:9", bypass=",".join(LOOPBACK))


@asynccontextmanager
async def chromium(proxy_nowhere: bool = False) -> AsyncIterator[Browser]:
    """The browser; with `proxy_nowhere`, every request beyond loopback fails at a dead proxy."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox"],
            proxy=NOWHERE_PROXY if proxy_nowhere else None,
        )
        try:
            yield browser
        finally:
            await browser.close()


class LoopbackOnly:
    """A page's route handler (`page.route("**/*", guard)`): what leaves loopback is stopped and
    listed in `elsewhere`."""

    def __init__(self) -> None:
        self.elsewhere: list[str] = []

    async def __call__(self, route: Route) -> None:
        if urlsplit(route.request.url).hostname in LOOPBACK:
            await route.continue_()
        else:
            self.elsewhere.append(route.request.url)
            await route.abort()


def watch_beyond_loopback(page: Page) -> list[str]:
    """The URLs the page requests beyond loopback, recorded without intercepting anything: with
    interception on, Playwright answers CORS preflights itself (204, allowing all), so a test of
    the API's own preflight answers must not route requests."""
    elsewhere: list[str] = []

    def record(request: Request) -> None:
        if urlsplit(request.url).hostname not in LOOPBACK:
            elsewhere.append(request.url)

    page.on("request", record)
    return elsewhere
