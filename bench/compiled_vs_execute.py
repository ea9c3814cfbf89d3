"""The compiled `jobUpdates` path against graphql-core's public `execute`, CPU only.

Both share one rendering of each event with every subscriber of the same document; they differ in
how that rendering is made:
- compiled: graph/live/compiled_subscription.py's plan renders the event's selection by hand
  (`JobUpdatesPlan.payload`);
- execute: graphql-core's public `execute` runs the parsed document once per (document, event)
  with the event as the root value, against the schema Strawberry built, and its result is
  JSON-encoded once.

Per event: all the CPU one event costs, its rendering once plus every subscriber's `next` message
text. Per delivery: that divided by the subscribers (with 1 subscriber it is the whole rendering;
with many, mostly the lookup of the shared text and the message's concatenation). No sockets:
what a socket write costs is the same for both paths (the README's `make bench` figures, 52-74 µs
of API CPU per delivery end to end, are mostly that). Checks first that both produce the same
text for every event.

Which to keep: the simpler (execute: no hand-written renderer) unless the compiled path is clearly
faster, meaning it saves at least 20% of the API's end-to-end CPU per delivery at the fan-out
most jobs have: one subscriber, the job's owner (20% of ~60 µs: 12 µs per delivery).

    python bench/compiled_vs_execute.py [--events 2000] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from graphql import DocumentNode, ExecutionResult, execute, parse

from graph.domain.mirror import build
from graph.domain.types import JobEvent
from graph.live.compiled_subscription import SubscriptionCompiler, next_message_head
from graph.schema import schema
from graph.strawberry_private import graphql_schema
from jobs.core import events
from jobs.core.names import EventType, JobState

# What a client that follows one job selects (tests/js clients and the README's example).
QUERY = (
    "subscription($j: ID!, $a: Int) { jobUpdates(jobId: $j, afterSeq: $a) "
    "{ jobId seq type state progress stage message delta at error { code message } } }"
)
VARIABLES = {"j": "bench-job", "a": None}
SUBSCRIBERS = (1, 100, 1000)


def _events(count: int, first_seq: int) -> list[events.JobEvent]:
    return [
        events.JobEvent(
            job_id="bench-job",
            seq=seq,
            type=EventType.PROGRESS,
            state=JobState.RUNNING,
            progress=seq % 100,
            stage="improving",
            message=f"step {seq} of the improvement",
            delta="A line of the improved CV, streamed as it is written. " * 2,
            error=None,
            at=1_800_000_000.0 + seq,
        )
        for seq in range(first_seq, first_seq + count)
    ]


class Executed:
    """graphql-core's `execute` once per (document, event), its JSON shared like a plan's."""

    def __init__(self, document: DocumentNode) -> None:
        self._schema = graphql_schema(schema)
        self._document = document
        self._rendered: dict[tuple[str, int], str] = {}

    def payload(self, event: events.JobEvent) -> str:
        key = (event.job_id, event.seq)
        text = self._rendered.get(key)
        if text is None:
            result = execute(
                self._schema, self._document, root_value=build(JobEvent, event), variable_values=VARIABLES
            )
            assert isinstance(result, ExecutionResult) and not result.errors, result
            text = self._rendered[key] = json.dumps({"data": result.data}, separators=(",", ":"))
        return text


def _deliver(
    payload: Callable[[events.JobEvent], str], batch: list[events.JobEvent], subscribers: int
) -> int:
    """CPU ns to make every subscriber's `next` message of every event in `batch`."""
    heads = [next_message_head(str(i)) for i in range(subscribers)]
    started = time.process_time_ns()
    for event in batch:
        for head in heads:
            message = head + payload(event) + "}"
    elapsed = time.process_time_ns() - started
    del message
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2000, help="events rendered per measurement")
    parser.add_argument("--repeat", type=int, default=5, help="measurements per figure (median printed)")
    args = parser.parse_args()

    compiler = SubscriptionCompiler(schema)
    plan = compiler.plan(QUERY, None)
    assert plan is not None and plan.arguments(schema, VARIABLES) is not None, "the bench query must compile"
    document = parse(QUERY)
    ways: dict[str, Callable[[], Callable[[events.JobEvent], str]]] = {
        "compiled": lambda: _fresh_plan(compiler),
        "execute": lambda: Executed(document).payload,
    }

    check = _events(200, 1)
    compiled, executed = ways["compiled"](), ways["execute"]()
    assert all(compiled(e) == executed(e) for e in check), "the two paths render differently"
    print(f"same JSON for {len(check)} events: yes; strawberry-graphql schema, query: {QUERY}")

    first_seq = 1_000
    print(f"{'path':<10}{'subscribers':>12}{'per event µs':>16}{'per delivery µs':>18}")
    figures: dict[tuple[str, int], float] = {}
    for subscribers in SUBSCRIBERS:
        # Fewer events for many subscribers: the deliveries, not the events, take the time.
        count = max(20, args.events // max(1, subscribers // 10))
        for name, fresh in ways.items():
            totals = []
            for _ in range(args.repeat):
                batch = _events(count, first_seq)
                first_seq += count
                totals.append(_deliver(fresh(), batch, subscribers))
            total = statistics.median(totals)
            per_event = total / count / 1000
            figures[(name, subscribers)] = per_event
            print(f"{name:<10}{subscribers:>12}{per_event:>16.2f}{per_event / subscribers:>18.3f}")
    for subscribers in SUBSCRIBERS:
        compiled_us, execute_us = figures[("compiled", subscribers)], figures[("execute", subscribers)]
        print(
            f"{subscribers} subscribers: execute takes {execute_us / compiled_us:.2f}x the CPU per event, "
            f"{(execute_us - compiled_us) / subscribers:.2f} µs more per delivery"
        )


def _fresh_plan(compiler: SubscriptionCompiler) -> Callable[[events.JobEvent], str]:
    # A new compiler each time would reparse; a new plan object keeps the measurement to rendering.
    plan = SubscriptionCompiler(schema, compiler.max_bytes).plan(QUERY, None)
    assert plan is not None
    return plan.payload


if __name__ == "__main__":
    main()
