"""Debian's Chromium driven by Playwright (no browser download), and a guard that keeps a page's
requests on this machine: every request to anything but loopback is aborted and recorded."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Route, async_playwright

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium: `make test` installs Debian's package when it can (root)"
)
LOOPBACK = ("127.0.0.1", "localhost")


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
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
