"""The production install works as the README says: the wheel, installed without extras into a
fresh virtualenv, runs `celery -A jobs worker` and `uvicorn asgi:app` from a directory outside
the checkout, through one job from mutation to terminal event, and serves GraphiQL's vendored
files. A runtime import that is no declared dependency, or a file that is no declared package
data, fails here (the development install has every extra and the whole checkout)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from graph.edges.graphiql import ASSETS, ASSETS_PATH
from graph.vendored import sri
from tests.conftest import Stack, stack_env
from tests.samples import CV
from tests.support.gql import improve_cv, stream_of
from tests.support.processes import start_api, start_worker

CHECKOUT = Path(__file__).resolve().parent.parent
NOT_SHIPPED = shutil.ignore_patterns(
    ".git", ".venv", ".data", "build", "*.egg-info", "__pycache__", ".*_cache", "node_modules"
)
# The module's set-up builds a wheel and installs it with its dependencies into a new virtualenv:
# on a loaded machine that alone may take longer than the suite's per-test timeout.
pytestmark = pytest.mark.timeout(600)


def _run(*args: str | Path, cwd: Path | None = None) -> str:
    done = subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"{args}: {done.stdout[-2000:]}\n{done.stderr[-4000:]}"
    return done.stdout


def _installed_python(root: Path) -> str:
    """A fresh virtualenv holding only the wheel and its declared dependencies."""
    source = root / "src"
    # Built from a copy: an in-tree build would leave build/ and *.egg-info in the checkout.
    shutil.copytree(CHECKOUT, source, ignore=NOT_SHIPPED)
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", root / "dist", source)
    wheel = next((root / "dist").glob("cvimprover_graph-*.whl"))
    venv = root / "venv"
    _run(sys.executable, "-m", "venv", venv)
    python = venv / "bin" / "python"
    _run(python, "-m", "pip", "install", "--quiet", wheel)
    return str(python)


@pytest.fixture(scope="module")
async def installed(redis_server, tmp_path_factory) -> AsyncIterator[tuple[Stack, str]]:
    root = tmp_path_factory.mktemp("install")
    python = await asyncio.to_thread(_installed_python, root)
    cwd = root / "run"  # outside the checkout: imports can only come from the install
    cwd.mkdir()
    env = stack_env(redis_server.url, "t-install")
    worker = start_worker("t-install-worker", env, cwd, concurrency=2, python=python)
    try:
        api = await start_api("t-install-api", env, cwd, python=python)
    except BaseException:
        await worker.stop()  # the API did not start (its log says why): nothing left running
        raise
    stack = Stack("t-install", env, cwd, api, [worker])
    yield stack, python
    await stack.stop()


async def test_the_wheel_without_extras_runs_a_job_end_to_end(installed):
    stack, python = installed
    imported = "import asgi, graph, jobs; print(asgi.__file__, graph.__file__, jobs.__file__)"
    where = _run(python, "-c", imported, cwd=stack.cwd)
    venv = str(Path(python).parent.parent)
    assert all(path.startswith(venv) for path in where.split()), where
    job = await improve_cv(stack.http, CV)
    events = await stream_of(stack.ws, job["id"], after_seq=0)
    assert events[0]["state"] == "QUEUED" and events[-1]["state"] == "SUCCEEDED"


async def test_the_wheel_serves_every_vendored_graphiql_file_with_its_recorded_hash(installed):
    stack, _ = installed
    async with httpx.AsyncClient(base_url=stack.api.base_url) as client:
        page = await client.get("/graphql", headers={"accept": "text/html"})
        assert page.status_code == 200 and "unpkg.com" not in page.text
        for _package, file in ASSETS.files():
            path = f"{ASSETS_PATH}/{file.file}"
            served = await client.get(path)
            assert f'"{path}"' in page.text and served.status_code == 200, path
            assert sri(served.content) == file.integrity, path
