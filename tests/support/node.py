"""The JavaScript clients frontends use (tests/js/package.json), run by Node against a real API.

`npm ci` installs the locked versions once into tests/js/node_modules (`make test` does it first;
a bare `pytest` does it here). A client script takes its inputs from the environment, prints one
JSON document on its last line of stdout, and exits non-zero with what went wrong otherwise.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

JS_DIR = Path(__file__).resolve().parent.parent / "js"
NODE = shutil.which("node")
NPM = shutil.which("npm")


def install_js_clients() -> Path:
    """tests/js/node_modules as package-lock.json pins it; installed only when it is missing or
    older than the lock."""
    if NODE is None or NPM is None:
        raise RuntimeError("Node.js and npm are needed for the JavaScript client tests")
    installed = JS_DIR / "node_modules" / ".package-lock.json"
    lock = JS_DIR / "package-lock.json"
    if not installed.exists() or installed.stat().st_mtime < lock.stat().st_mtime:
        subprocess.run(
            [NPM, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=JS_DIR, check=True, timeout=600
        )
    return JS_DIR


class NodeScriptFailed(AssertionError):
    pass


async def run_node(script: str, env: dict[str, str], limit_seconds: float = 120.0) -> Any:
    """Runs tests/js/<script> with `env` added to the environment; its last stdout line, as JSON."""
    assert NODE is not None
    proc = await asyncio.create_subprocess_exec(
        NODE,
        str(JS_DIR / script),
        cwd=JS_DIR,
        env={**os.environ, **env},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), limit_seconds)
    except TimeoutError:
        proc.kill()
        out, err = await proc.communicate()
        told = f"{script} ran past {limit_seconds} s"
        raise NodeScriptFailed(f"{told}\n{err.decode()}\n{out.decode()}") from None
    if proc.returncode != 0:
        raise NodeScriptFailed(f"{script} exited {proc.returncode}\n{err.decode()}\n{out.decode()}")
    lines = out.decode().strip().splitlines()
    if not lines:
        raise NodeScriptFailed(f"{script} printed nothing\n{err.decode()}")
    return json.loads(lines[-1])
