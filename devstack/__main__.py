"""`make run`: Redis (embedded unless REDIS_URL is set), one Celery worker and the API.

Ctrl-C, or SIGTERM to `make run`, stops the API, then the worker, then Redis; if this
supervisor dies, the kernel sends its children SIGTERM (PR_SET_PDEATHSIG), so nothing is left
behind either way.
"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from devstack.redis_server import RedisServer, start_redis
from devstack.token import dev_secret
from graph.edges.demo import demo_enabled
from settings import Settings, get_settings

PR_SET_PDEATHSIG = 1
STOP_SIGNALS = {signal.SIGINT, signal.SIGTERM}
WATCHED = STOP_SIGNALS | {signal.SIGCHLD}


def _die_with_parent() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _child_setup() -> None:
    # Children get their own session (a terminal's Ctrl-C reaches only us, and we stop them in
    # order) and the default signal mask back (we block the signals we wait for).
    signal.pthread_sigmask(signal.SIG_UNBLOCK, WATCHED)
    _die_with_parent()


def _spawn(name: str, args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(args, env=env, start_new_session=True, preexec_fn=_child_setup)
    print(f"devstack: started {name} (pid {process.pid})", flush=True)
    return process


def _wait_healthy(url: str, processes: list[subprocess.Popen[bytes]], timeout: float = 60.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in processes):
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        # Doubles as the poll interval: a Ctrl-C during startup is seen within 0.1 s.
        if signal.sigtimedwait(STOP_SIGNALS, 0.1) is not None:
            raise KeyboardInterrupt
    return False


def _stop(process: subprocess.Popen[bytes], name: str, grace: float) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            print(f"devstack: {name} did not stop in {grace:.0f}s; killing it", flush=True)
            process.kill()
            process.wait()
    print(f"devstack: stopped {name}", flush=True)


def main() -> int:
    settings = get_settings()
    _die_with_parent()
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    env = dict(os.environ)
    if settings.jwt_secret is None and not settings.jwt_public_key:
        # Tokens from `make token` are signed with this checkout's own development secret.
        env["JWT_SECRET"] = dev_secret(settings.data_dir)
    redis: RedisServer | None = None
    children: list[tuple[str, subprocess.Popen[bytes], float]] = []
    try:
        if "redis_url" not in settings.model_fields_set and not settings.redis_sentinel_addresses:
            redis = _start_embedded_redis(settings.data_dir)
            env["REDIS_URL"] = redis.url
        _start_services(settings, env, children)
        base = f"http://{settings.api_host}:{settings.api_port}"
        # Ready: the API answers with Redis and its listener, and the worker answers a ping.
        if not _wait_healthy(f"{base}/readyz", [p for _, p, _ in children]):
            print("devstack: the API and the worker did not become ready; stopping", flush=True)
            return 1
        print(f"GraphiQL: {base}/graphql", flush=True)
        if demo_enabled(settings):
            print(f"Demo:     {base}/demo/", flush=True)
        print(
            "Token:    make token USER=alice PLAN=Pro  (then the Headers tab: Authorization: Bearer <token>)",
            flush=True,
        )
        return _supervise([p for _, p, _ in children])
    except KeyboardInterrupt:
        return 130
    finally:
        for name, process, grace in reversed(children):
            _stop(process, name, grace)
        if redis is not None:
            redis.stop()
            print("devstack: stopped Redis", flush=True)


def _start_embedded_redis(data_dir: str) -> RedisServer:
    redis = start_redis(Path(data_dir) / "redis", preexec_fn=_child_setup, start_new_session=True)
    print(
        f"devstack: started redis (pid {redis.process.pid}), embedded, at {redis.url} "
        f"(data in {redis.data_dir})",
        flush=True,
    )
    return redis


def _start_services(
    settings: Settings, env: dict[str, str], children: list[tuple[str, subprocess.Popen[bytes], float]]
) -> None:
    """The worker, beat, then the API, each with the seconds it gets to stop; added to `children` as
    each starts, so that a failure to start the second still stops the first."""
    python = sys.executable
    # No -Q: the app's queues, every plan's best first, then the default one (jobs/core/dispatch.py).
    worker = [python, "-m", "celery", "-A", "jobs", "worker", "--loglevel=INFO"]
    api = [python, "-m", "uvicorn", "asgi:app", "--host", settings.api_host, "--port", str(settings.api_port)]
    # uvicorn's own frame limit, above ours (WS_MAX_MESSAGE_BYTES, answered with 4400 and a
    # reason): what it buffers of a hostile frame stays bounded.
    api += ["--ws-max-size", str(2 * settings.ws_max_message_bytes)]
    # Open HTTP subscription streams never end by themselves; uvicorn waits for them on SIGTERM
    # unless told how long, and this must stay under the 15 s the API gets to stop.
    api += ["--timeout-graceful-shutdown", "5"]
    # Event frames are small JSON (a few hundred bytes): per-message deflate saves little on them
    # and costs each socket a compressor (+42 KiB RSS) and each frame its compression (+30 % CPU
    # per delivered event; README, "Benchmark").
    api += ["--ws-per-message-deflate", "false"]
    # Celery beat sends the periodic tasks (retention, when RETENTION_DAYS is set); its schedule's
    # state lives with the embedded Redis's data.
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    schedule = str(Path(settings.data_dir) / "celerybeat-schedule")
    beat = [python, "-m", "celery", "-A", "jobs", "beat", "--loglevel=INFO", "--schedule", schedule]
    children.append(("worker", _spawn("worker", worker, env), 30.0))
    children.append(("beat", _spawn("beat", beat, env), 10.0))
    children.append(("api", _spawn("api", api, env), 15.0))


def _supervise(processes: list[subprocess.Popen[bytes]]) -> int:
    while True:
        info = signal.sigwaitinfo(WATCHED)
        if info.si_signo in STOP_SIGNALS:
            print("devstack: stopping", flush=True)
            return 0
        for process in processes:
            if process.poll() is not None:
                print(f"devstack: pid {process.pid} exited with {process.returncode}; stopping", flush=True)
                return 1


if __name__ == "__main__":
    sys.exit(main())
