"""The unit tests run without processes: a test here that asks for one of the process-level
fixtures of tests/conftest.py (Redis, a worker stack, the fake OpenAI server, Node) fails before
any fixture starts anything. Such a test belongs in tests/."""

from __future__ import annotations

import pytest

PROCESS_FIXTURES = frozenset(
    {"redis_server", "redis", "workdir", "offline_stack", "ai_stack", "fake_openai", "js_clients"}
)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    wanted = sorted(PROCESS_FIXTURES.intersection(getattr(item, "fixturenames", ())))
    if wanted:
        pytest.fail(f"a unit test may not use {', '.join(wanted)}: move it to tests/", pytrace=False)
