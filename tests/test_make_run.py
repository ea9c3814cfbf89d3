"""`make run`: embedded Redis, a worker, beat and the API; SIGTERM stops everything; jobs survive a
restart (AOF persistence)."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
from pathlib import Path

from devstack.redis_server import free_port
from tests.samples import CV
from tests.support.auth import Caller
from tests.support.gql import execute, get_job, improve_cv, stream_of

ROOT = Path(__file__).resolve().parent.parent


class MakeRun:
    def __init__(self, data_dir: Path, port: int) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "OPENAI_", "JWT_", "MAKE"))}
        env.update(DATA_DIR=str(data_dir), API_PORT=str(port), KEY_PREFIX="t-makerun")
        self.process = subprocess.Popen(
            ["make", "--no-print-directory", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.output: list[str] = []

    def wait_for_url(self) -> str:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.output.append(line)
            if match := re.match(r"GraphiQL: (http://\S+)", line):
                return match.group(1)
        raise AssertionError("make run ended without printing the GraphiQL URL:\n" + "".join(self.output))

    @staticmethod
    def token(data_dir: Path, user: str, plan: str) -> str:
        """`make token`, as the README tells a newcomer to run it."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JWT_", "MAKE"))}
        env["DATA_DIR"] = str(data_dir)
        done = subprocess.run(
            ["make", "--no-print-directory", "token", f"USER={user}", f"PLAN={plan}"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout.strip().splitlines()[-1]

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        rest, _ = self.process.communicate(timeout=60)
        return "".join(self.output) + rest

    @staticmethod
    def started_pids(output: str) -> list[int]:
        return [int(pid) for pid in re.findall(r"started \w+ \(pid (\d+)\)", output)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/status").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text()


async def test_make_run_serves_jobs_stops_cleanly_and_keeps_jobs_across_restarts(tmp_path):
    port = free_port()
    first = MakeRun(tmp_path / "data", port)
    url = await asyncio.to_thread(first.wait_for_url)
    assert url == f"http://127.0.0.1:{port}/graphql"
    Caller.bearer = await asyncio.to_thread(MakeRun.token, tmp_path / "data", "alice", "Pro")
    assert (await execute(url, "{ me { id plan } }"))["me"] == {"id": "alice", "plan": "PRO"}
    job = await improve_cv(url, CV)
    events = await stream_of(url.replace("http", "ws"), job["id"], after_seq=0)
    assert events[-1]["state"] == "SUCCEEDED"
    output = await asyncio.to_thread(first.stop)
    assert "embedded" in output and "stopped Redis" in output
    pids = MakeRun.started_pids(output)
    assert len(pids) == 4 and not any(_alive(pid) for pid in pids)  # Redis, worker, beat, API
    assert (tmp_path / "data" / "redis" / "redis.log").exists()

    second = MakeRun(tmp_path / "data", port)
    url = await asyncio.to_thread(second.wait_for_url)
    try:
        again = await get_job(url, job["id"])
        assert again["state"] == "SUCCEEDED" and again["result"]["text"]
    finally:
        await asyncio.to_thread(second.stop)
