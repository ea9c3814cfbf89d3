"""Plans read back from records, and where their jobs queue (jobs/core/dispatch.py)."""

from __future__ import annotations

import itertools

from jobs.core.dispatch import BANDS, route
from jobs.core.names import Keys
from jobs.core.quotas import Plan
from jobs.core.records import JobRecord


def test_a_stored_plan_that_is_missing_or_unknown_is_served_as_free():
    assert Plan.stored("Premium") is Plan.PREMIUM
    assert Plan.stored(None) is Plan.FREE
    assert Plan.stored("") is Plan.FREE
    assert Plan.stored("Enterprise") is Plan.FREE  # a plan renamed or retired since the job was made


def test_bands_are_disjoint_and_best_plans_first_and_turns_stay_in_their_band():
    keys = Keys("t")
    order = [Plan.PREMIUM, Plan.PRO, Plan.BASIC, Plan.FREE]
    assert [BANDS[p].start for p in order] == sorted(BANDS[p].start for p in order)
    for better, worse in itertools.pairwise(order):
        assert BANDS[better].stop <= BANDS[worse].start
    for plan in order:
        priorities = {route(keys, plan, rank).priority for rank in range(20)}
        assert priorities <= set(BANDS[plan])
        assert route(keys, plan, 0).priority == BANDS[plan].start


def test_a_record_whose_plan_was_retired_still_reads_and_queues_as_free():
    raw = {b"id": b"j", b"kind": b"IMPROVE_CV", b"state": b"QUEUED", b"seq": b"1"}
    raw |= {b"created_at": b"1.0", b"updated_at": b"1.0"}
    assert JobRecord.from_hash({**raw, b"plan": b"Enterprise"}).plan is Plan.FREE
    assert JobRecord.from_hash(raw).plan is Plan.FREE
    assert JobRecord.from_hash({**raw, b"plan": b"Pro"}).plan is Plan.PRO
