"""The per-process pub/sub fan-out (contract C4).

One Redis pub/sub connection carries the events of every subscription in this API process.
Channels are reference-counted: the first subscriber of a job SUBSCRIBEs, the last one leaving
UNSUBSCRIBEs. Each subscriber has a bounded inbox; one that falls `queue_size` events behind is
dropped alone (its stream ends with SLOW_SUBSCRIBER) and never stalls the others.

The connection is ours to heal: redis-py would silently reconnect and resubscribe, losing what
was published in between without telling anyone. Here a broken connection is replaced, every
channel is resubscribed, and each subscriber is told to re-read its job's log once its channel is
confirmed again; after `give_up_seconds` without Redis, live subscriptions end with an error the
client can act on (broadcaster #144 is the trap this avoids).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from graph.live import live_metrics
from jobs.core.deletes import ERASED_MESSAGE, AccountErased
from jobs.core.errors import ServiceError, SlowSubscriber, Unavailable
from jobs.core.events import JobEvent, as_text

log = logging.getLogger(__name__)

RESYNC = None  # what `Subscriber.next()` returns when the stream must re-read the log
_ERASED = ERASED_MESSAGE.encode()  # compared with every message: encoded once
# The longest wait between two reconnect attempts while Redis is away: also how late, at worst,
# live streams resume once it is back. An attempt is one TCP connect: cheap.
MAX_RECONNECT_DELAY = 0.5


class Subscriber:
    """One subscription's bounded inbox.

    Its reader waits on a bare future, made only while the inbox is empty: an asyncio.Event
    would cost every subscription two more deques, and every event a lock-step through it."""

    __slots__ = ("_error", "_items", "_maxsize", "_resync", "_waiter", "channel")

    def __init__(self, channel: str, maxsize: int) -> None:
        self.channel = channel
        self._items: deque[JobEvent] | None = None  # made with the first event
        self._maxsize = maxsize
        self._waiter: asyncio.Future[None] | None = None
        self._resync = False
        self._error: ServiceError | None = None

    def push(self, event: JobEvent) -> bool:
        items = self._items
        if items is None:
            items = self._items = deque()
        elif len(items) >= self._maxsize:
            return False
        items.append(event)
        self._wake()
        return True

    def request_resync(self) -> None:
        self._resync = True
        self._wake()

    def end(self, error: ServiceError) -> None:
        self._error = error
        self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():
                waiter.set_result(None)

    async def next(self) -> JobEvent | None:
        """The next live event, or RESYNC when events may have been missed."""
        while True:
            if self._error is not None:
                raise self._error
            if self._resync:
                self._resync = False
                live_metrics.taken(None)
                return RESYNC
            if self._items:
                event = self._items.popleft()
                live_metrics.taken(event.at)
                return event
            # Only before a wait: a task that would otherwise return at once comes back here.
            _honour_cancellation()
            self._waiter = waiter = asyncio.get_running_loop().create_future()
            await waiter


class Watcher(Subscriber):
    """Registered on a channel for how it ends alone (an erased account: graph/live/transport.py
    closes the user's sockets): it keeps no events, so it costs no inbox and never falls behind."""

    __slots__ = ("_on_end",)

    def __init__(self, channel: str, on_end: Callable[[ServiceError], None]) -> None:
        super().__init__(channel, 0)
        self._on_end = on_end

    def push(self, event: JobEvent) -> bool:
        return True

    def request_resync(self) -> None:
        pass

    def end(self, error: ServiceError) -> None:
        self._on_end(error)


def _honour_cancellation() -> None:
    """Raise CancelledError if this task was asked to stop and something swallowed it.

    On Python 3.11 `asyncio.wait_for` returns the result of an awaitable that completes in the
    same step as a cancellation, and drops the cancellation (fixed in 3.12); redis-py sends every
    command through it (its default socket timeout). A subscription whose cancellation fell
    there would otherwise wait here for events forever, unseen by its socket, and hold up the
    socket's shutdown and the server's. The task still counts the request (`cancelling()`)."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@dataclass
class ListenerStats:
    reconnects: int = 0
    dropped_subscribers: int = 0
    messages: int = 0


class Listener:
    def __init__(
        self, redis: Redis, queue_size: int, give_up_seconds: float, idle_probe_seconds: float = 15.0
    ) -> None:
        # `redis` must not retry on its own (see module docstring): build it with retries=0.
        self._redis = redis
        self._queue_size = queue_size
        self._give_up = give_up_seconds
        self._idle_probe = idle_probe_seconds
        self._subs: dict[str, set[Subscriber]] = {}
        self._confirmed: dict[str, asyncio.Future[None]] = {}
        self._sent: set[str] = set()  # channels SUBSCRIBEd on the current connection
        # SUBSCRIBEs not yet answered, per channel: only the answer to the latest one confirms
        # (an earlier one may have been undone by an UNSUBSCRIBE sent after it).
        self._unanswered: dict[str, int] = {}
        self._resync_on_confirm: set[str] = set()
        self._pubsub: PubSub | None = None
        self._lock = asyncio.Lock()
        self._task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.connected = False
        self.stats = ListenerStats()

    @property
    def subscriber_count(self) -> int:
        """Subscriptions (watchers are sockets' bookkeeping, not subscriptions)."""
        return sum(1 for subs in self._subs.values() for sub in subs if not isinstance(sub, Watcher))

    @property
    def channel_count(self) -> int:
        return len(self._subs)

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pubsub-listener")

    async def stop(self) -> None:
        # The background commands too: they use the connection about to be closed.
        for task in [self._task, *self._background]:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for subs in self._subs.values():
            for sub in subs:
                sub.end(Unavailable("the server is shutting down; subscribe again"))

    @contextlib.asynccontextmanager
    async def subscribe(self, channel: str) -> AsyncIterator[Subscriber]:
        """Register for a channel; returns once Redis has confirmed the subscription, so that
        anything published afterwards reaches the inbox."""
        sub = Subscriber(channel, self._queue_size)
        self._subs.setdefault(channel, set()).add(sub)
        try:
            await self._ensure_subscribed(channel)
            yield sub
        finally:
            self._forget(sub)

    def watch(self, channel: str, on_end: Callable[[ServiceError], None]) -> Watcher:
        """`on_end(error)` when the channel's subscribers are ended (e.g. an erased account),
        until `unwatch`. Registered at once, without a task or a wait: the SUBSCRIBE goes out in
        the background, so a socket pays for its watch with one small object."""
        watcher = Watcher(channel, on_end)
        self._subs.setdefault(channel, set()).add(watcher)
        if channel not in self._confirmed:
            self._confirmed[channel] = asyncio.get_running_loop().create_future()
        if channel not in self._sent:
            self._in_background(self._send_subscribe(channel))
        return watcher

    def unwatch(self, watcher: Watcher) -> None:
        self._forget(watcher)

    async def _ensure_subscribed(self, channel: str) -> None:
        confirmed = self._confirmed.get(channel)
        if confirmed is None:
            confirmed = self._confirmed[channel] = asyncio.get_running_loop().create_future()
        if channel not in self._sent:
            # Sent by the listener, not in the subscriber's task: a subscriber cancelled while
            # the command is on the wire would leave the channel unconfirmed for the others
            # waiting on it. Asked by every subscriber that finds the channel unsent (the send
            # checks again under the lock): one whose predecessor left before sending must not
            # wait on a confirmation nobody asked for.
            self._in_background(self._send_subscribe(channel))
        _honour_cancellation()
        try:
            # Not asyncio.wait_for: on Python 3.11 it swallows a cancellation that arrives as
            # the confirmation does (see _honour_cancellation).
            async with asyncio.timeout(self._give_up):
                await asyncio.shield(confirmed)
        except TimeoutError as e:
            raise Unavailable("the event stream is unavailable; try again shortly") from e

    async def _send_subscribe(self, channel: str) -> None:
        async with self._lock:
            if self._subs.get(channel) and self.connected and channel not in self._sent:
                self._sent.add(channel)
                self._unanswered[channel] = self._unanswered.get(channel, 0) + 1
                with contextlib.suppress(RedisError, OSError):
                    assert self._pubsub is not None
                    await self._pubsub.subscribe(channel)

    def _forget(self, sub: Subscriber) -> None:
        subs = self._subs.get(sub.channel)
        if subs is None or sub not in subs:
            return
        subs.discard(sub)
        if not subs:
            self._in_background(self._release(sub.channel))

    async def _release(self, channel: str) -> None:
        async with self._lock:
            if self._subs.get(channel):
                return  # somebody subscribed again meanwhile
            self._subs.pop(channel, None)
            self._confirmed.pop(channel, None)
            self._resync_on_confirm.discard(channel)
            if channel in self._sent and self.connected:
                self._sent.discard(channel)
                with contextlib.suppress(RedisError, OSError):
                    assert self._pubsub is not None
                    await self._pubsub.unsubscribe(channel)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        down_since: float | None = None
        delay = 0.05
        while True:
            try:
                await self._connect(resync=down_since is not None)
                down_since, delay = None, 0.05
                await self._read()
            except (RedisError, OSError) as e:
                if self.connected:
                    self.stats.reconnects += 1
                    log.warning("pub/sub connection lost (%s); reconnecting", e)
                self._disconnected()
                down_since = down_since if down_since is not None else loop.time()
                if loop.time() - down_since >= self._give_up:
                    self._end_all(Unavailable("lost the event stream; subscribe again with afterSeq"))
                # Reconnect backoff, not a wait for an event: Redis is away.
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_RECONNECT_DELAY)

    async def _connect(self, resync: bool) -> None:
        pubsub = self._redis.pubsub()
        self._pubsub = pubsub
        await pubsub.connect()  # type: ignore[no-untyped-call]
        async with self._lock:
            channels = list(self._subs)
            self._sent = set(channels)
            for channel in channels:
                # A confirmation from the old connection says nothing about this one: new
                # subscribers must wait for the fresh one before they read the log.
                current = self._confirmed.get(channel)
                if current is None or current.done():
                    self._confirmed[channel] = asyncio.get_running_loop().create_future()
            self._unanswered = dict.fromkeys(channels, 1)
            if resync:
                self._resync_on_confirm = set(channels)
            if channels:
                await pubsub.subscribe(*channels)
            self.connected = True

    async def _read(self) -> None:
        """Route messages until the connection breaks. A connection that goes quiet is probed
        with PING, so a half-open TCP connection (Redis host gone, no RST) is noticed too."""
        pubsub = self._pubsub
        assert pubsub is not None
        awaiting_pong = False
        while True:
            message = await pubsub.get_message(timeout=self._idle_probe)
            if message is None:
                if awaiting_pong:
                    raise RedisConnectionError("no answer to PING on the pub/sub connection")
                await pubsub.ping()
                awaiting_pong = True
                continue
            awaiting_pong = False
            kind = message["type"]
            if kind == "message":
                self._deliver(as_text(message["channel"]), message["data"])
            elif kind == "subscribe":
                self._on_confirmed(as_text(message["channel"]))

    def _on_confirmed(self, channel: str) -> None:
        left = self._unanswered.get(channel, 0) - 1
        if left > 0:
            self._unanswered[channel] = left
            return
        self._unanswered.pop(channel, None)
        confirmed = self._confirmed.get(channel)
        if confirmed is not None and not confirmed.done():
            confirmed.set_result(None)
        if channel in self._resync_on_confirm:
            self._resync_on_confirm.discard(channel)
            for sub in self._subs.get(channel, ()):
                sub.request_resync()

    def _deliver(self, channel: str, data: bytes) -> None:
        subs = self._subs.get(channel)
        if not subs:
            return
        self.stats.messages += 1
        if data == _ERASED:
            for sub in list(subs):
                sub.end(AccountErased("your data was erased (deleteMyData); this stream has ended"))
                self._forget(sub)
            return
        try:
            event = JobEvent.from_json(data)  # parsed once, shared by every subscriber of the job
        except (ValueError, KeyError, TypeError, AttributeError):
            # Only the emit script should publish here; anything else must not end the one listener
            # of the process (and every live subscription with it).
            log.warning("skipping a message on %s that is not an event (%d bytes)", channel, len(data))
            return
        for sub in list(subs):
            if not sub.push(event):
                self.stats.dropped_subscribers += 1
                log.warning("dropping a subscriber of %s: %d events behind", channel, self._queue_size)
                sub.end(
                    SlowSubscriber(
                        "this subscription fell too far behind and was dropped; subscribe again with afterSeq"
                    )
                )
                self._forget(sub)

    def _disconnected(self) -> None:
        self.connected = False
        self._sent.clear()
        self._unanswered.clear()
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            self._in_background(_close_quietly(pubsub))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        # Held until done: the loop keeps only weak references to tasks.
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _end_all(self, error: ServiceError) -> None:
        for subs in list(self._subs.values()):
            for sub in list(subs):
                sub.end(error)
                self._forget(sub)


async def _close_quietly(pubsub: PubSub) -> None:
    with contextlib.suppress(RedisError, OSError):
        await pubsub.aclose()  # type: ignore[no-untyped-call]
