"""When a write waits for its replicas (jobs/core/replication.py)."""

from __future__ import annotations

from jobs.core.replication import ReplicaAcks


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def acks(replicas: int, clock: Clock, shorts: list[int]) -> ReplicaAcks:
    return ReplicaAcks(replicas, 500, pause_seconds=5.0, on_short=lambda: shorts.append(1), clock=clock)


def test_without_replicas_to_wait_for_no_write_waits() -> None:
    shorts: list[int] = []
    assert not acks(0, Clock(), shorts).wanted()
    assert shorts == []


def test_writes_wait_while_their_replicas_acknowledge_them() -> None:
    shorts: list[int] = []
    waiting = acks(2, Clock(), shorts)
    for _ in range(3):
        assert waiting.wanted()
        waiting.acknowledged(2)
    assert shorts == []


def test_a_short_acknowledgement_stops_the_waits_for_a_while_and_every_write_meanwhile_is_counted() -> None:
    shorts: list[int] = []
    clock = Clock()
    waiting = acks(2, clock, shorts)
    assert waiting.wanted()
    waiting.acknowledged(1)  # one of two: the write went on without the second
    assert len(shorts) == 1
    clock.now += 4.9
    assert not waiting.wanted()  # nor does this one wait, and it has only the primary
    assert len(shorts) == 2
    clock.now += 0.2
    assert waiting.wanted()  # tried again
    waiting.acknowledged(2)
    clock.now += 0.1
    assert waiting.wanted()
    assert len(shorts) == 2


def test_shorts_met_by_several_runs_at_once_start_one_pause() -> None:
    shorts: list[int] = []
    clock = Clock()
    waiting = acks(1, clock, shorts)
    assert waiting.wanted() and waiting.wanted()
    waiting.acknowledged(0)
    clock.now += 3.0
    waiting.acknowledged(0)  # a write that was already waiting when the first came back short
    clock.now += 2.1
    assert waiting.wanted(), "the pause runs from the first short answer"
    assert len(shorts) == 2
