"""A Redis Sentinel topology of a test's own: a primary, one replica and three sentinels on
loopback, all the same redis-server binary (devstack/redis_server.py), the primary and the
replica with AOF as in production. Never the session's `redis_server`: the test kills this primary."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import redis

from devstack.redis_server import RedisServer, free_port, redis_server_binary, start_redis
from tests.conftest import Stack, start_stack

MASTER = "cvi-primary"
# How long a silent primary takes to be judged down; short, so that a test's failover is quick.
DOWN_AFTER_MS = 1000


@dataclass
class Sentinel:
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=2, decode_responses=True)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@dataclass
class SentinelTopology:
    primary: RedisServer
    replica: RedisServer
    sentinels: list[Sentinel] = field(default_factory=list)

    @property
    def sentinel_list(self) -> str:
        """REDIS_SENTINELS for the processes under test."""
        return ",".join(f"127.0.0.1:{s.port}" for s in self.sentinels)

    def kill_primary(self) -> None:
        """SIGKILL: no AOF flush, no goodbye to the replica or the clients."""
        self.primary.process.kill()
        self.primary.process.wait()

    def cut_off_replica(self) -> None:
        """The replica stops (SIGSTOP) and the primary drops its link: from now on the primary's
        writes are acknowledged to their clients and reach no replica, as when a replica lags or
        its link is down at the moment the primary dies. Briefly: a replica silent past the
        sentinels' down-after is no longer a candidate for promotion."""
        self.replica.process.send_signal(signal.SIGSTOP)
        with redis.Redis(port=self.primary.port) as client:
            client.client_kill_filter(_type="replica")

    def resume_replica(self) -> None:
        self.replica.process.send_signal(signal.SIGCONT)

    def await_promotion(self) -> None:
        """Until every sentinel names the replica as a primary in good health: what a client's
        lookup (redis-py's `discover_master`, SENTINEL MASTERS) accepts. GET-MASTER-ADDR-BY-NAME
        names it some tens of milliseconds earlier, while the failover still runs."""

        def promoted(sentinel: Sentinel) -> bool:
            with sentinel.client() as client:
                state = client.sentinel_master(MASTER)
            healthy = state["is_master"] and not (state["is_sdown"] or state["is_odown"])
            return bool(healthy and int(state["port"]) == self.replica.port)

        for sentinel in self.sentinels:
            _probe_until("promotion", lambda: promoted(sentinel))  # noqa: B023

    def primary_port(self) -> int:
        """Where the sentinels say the primary is now."""
        with self.sentinels[0].client() as client:
            _, port = client.sentinel_get_master_addr_by_name(MASTER)
        return int(port)

    def stop(self) -> None:
        for sentinel in self.sentinels:
            sentinel.stop()
        self.replica.stop()
        self.primary.stop()


def _start_sentinel(data_dir: Path, primary_port: int) -> Sentinel:
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    config = data_dir / "sentinel.conf"  # a sentinel rewrites its own config: ours to own
    config.write_text(
        f"port {port}\n"
        "bind 127.0.0.1\n"
        f"dir {data_dir.resolve()}\n"
        "logfile sentinel.log\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {primary_port} 2\n"
        f"sentinel down-after-milliseconds {MASTER} {DOWN_AFTER_MS}\n"
        f"sentinel failover-timeout {MASTER} 10000\n"
        f"sentinel parallel-syncs {MASTER} 1\n"
    )
    process = subprocess.Popen(
        [redis_server_binary(), str(config), "--sentinel"], stdin=subprocess.DEVNULL, cwd=data_dir
    )
    return Sentinel(process, port, data_dir)


def _probe_until(what: str, check: Callable[[], bool], timeout: float = 30.0) -> None:
    # Replication and sentinels' discovery of each other (their hello messages, every 2 s) offer
    # no event to await from outside: probe until they are done.
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"sentinel topology: {what} not done in {timeout}s")
        time.sleep(0.1)


def _replica_in_sync(replica: RedisServer) -> bool:
    with redis.Redis(port=replica.port, decode_responses=True) as client:
        return client.info("replication").get("master_link_status") == "up"


def _sentinel_sees_all(sentinel: Sentinel) -> bool:
    with sentinel.client() as client:
        state = client.sentinel_master(MASTER)
    return bool(int(state["num-slaves"]) == 1 and int(state["num-other-sentinels"]) == 2)


@contextmanager
def sentinel_topology(data_dir: Path) -> Iterator[SentinelTopology]:
    """A primary, a replica of it, and three sentinels (quorum 2) that all see both and each other."""
    primary = start_redis(data_dir / "primary")
    topology = SentinelTopology(primary, start_redis(data_dir / "replica"))
    try:
        with redis.Redis(port=topology.replica.port) as client:
            client.replicaof("127.0.0.1", primary.port)
        _probe_until("replication", lambda: _replica_in_sync(topology.replica))
        for i in range(3):
            topology.sentinels.append(_start_sentinel(data_dir / f"sentinel{i}", primary.port))
        for sentinel in topology.sentinels:
            _probe_until("discovery", lambda: _sentinel_sees_all(sentinel))  # noqa: B023
        yield topology
    finally:
        topology.stop()


async def sentinel_stack(prefix: str, topology: SentinelTopology, cwd: Path, **env: str) -> Stack:
    """One prefork worker and one API process configured with REDIS_SENTINELS alone: their
    REDIS_URL names a port where nothing listens, so every client (the API's pool and listener,
    the workers' runs, leases and sweeper, Celery's broker and result backend) can only reach
    Redis through the sentinels."""
    nowhere = f"redis://127.0.0.1:{free_port()}/0"
    sentinels = {"REDIS_SENTINELS": topology.sentinel_list, "REDIS_SENTINEL_MASTER": MASTER}
    return await start_stack(prefix, nowhere, cwd, pool="prefork", **sentinels, **env)
