"""The emit preparation (jobs/core/events.py): what a Change becomes as EMIT_LUA's keys and arguments,
and how the script's reply is read. The script itself runs against Redis in the process suite."""

from __future__ import annotations

import json
from typing import Any

import pytest

from jobs.core.errors import JobClosed, NotFound, Superseded, TooBusy
from jobs.core.events import Change, ErrorInfo, JobEvent, failure, parse_emit_result, prepare_emit
from jobs.core.names import EventType, JobState, Keys
from jobs.core.outcome import Writes
from jobs.core.quotas import Charge, QuotaRefused

KEYS = Keys("p")


def _spec(change: Change, log_max: int = 50) -> dict[str, Any]:
    keys, args = prepare_emit(KEYS, "j1", change, log_max)
    assert keys == ["p:job:j1", "p:job:j1:log", "p:job:j1:output"]
    assert args[0] == "p:events:j1"
    assert args[2] == "p:user-events:"  # the script appends the record's owner
    return json.loads(str(args[1]))


def test_a_creation_carries_its_guards_cap_charges_and_sweeper_grace():
    charge = Charge("p:quota:jobs:u:2026-11", 5, 1, 1_800_000_000, lambda used: NotImplemented, "p:credit")
    spec = _spec(
        Change(
            EventType.CREATED,
            require=[None],
            state=JobState.QUEUED,
            progress=0,
            fields={"owner": "u", "kind": "IMPROVE_CV"},
            active_key="p:user:u:active",
            active_limit=2,
            charges=[charge],
            queued_grace_ms=30_000,
        )
    )
    assert spec["require"] == [""]  # no record yet: the state field is empty
    assert spec["set"] == {"owner": "u", "kind": "IMPROVE_CV", "state": "QUEUED", "progress": 0}
    assert (spec["active_key"], spec["active_limit"]) == ("p:user:u:active", 2)
    assert spec["charges"] == [["p:quota:jobs:u:2026-11", 5, 1, 1_800_000_000, "p:credit"]]
    assert (spec["queued_grace_ms"], spec["leases_key"], spec["job_prefix"]) == (30_000, "p:leases", "p:job:")
    assert (spec["type"], spec["terminal"], spec["refund"], spec["runner"]) == ("CREATED", False, False, None)


def test_nothing_to_set_is_an_empty_list_so_the_script_can_iterate_it():
    spec = _spec(Change(EventType.PROGRESS, require=[JobState.RUNNING], runner="r1"))
    assert (spec["set"], spec["incr"], spec["writes"], spec["charges"]) == ([], [], [], [])
    assert (spec["require"], spec["runner"], spec["log_max"]) == (["RUNNING"], "r1", 50)


def test_output_deltas_and_counters_are_passed_as_given():
    change = Change(
        EventType.OUTPUT,
        require=[JobState.RUNNING],
        delta="Hello, ",
        incr={"chunks": 1},
        reset_output=True,
        count_redelivery=True,
    )
    spec = _spec(change)
    assert (spec["delta"], spec["incr"], spec["reset_output"], spec["count_redelivery"]) == (
        "Hello, ",
        {"chunks": 1},
        True,
        True,
    )


def test_writes_travel_as_commands_with_their_arguments_after_the_spec():
    writes = Writes()
    writes.set("p:pdf:1", b"%PDF-")
    writes.update_if_exists("p:cv:1", {"pdf": "1", "pages": 2})
    change = Change(EventType.SUCCEEDED, require=[JobState.RUNNING], state=JobState.SUCCEEDED, writes=writes)
    _, args = prepare_emit(KEYS, "j1", change, 10)
    spec = json.loads(str(args[1]))
    assert spec["writes"] == [["SET", "p:pdf:1", 1, False], ["HSET", "p:cv:1", 4, True]]
    assert args[3:] == [b"%PDF-", "pdf", "1", "pages", 2]
    assert spec["terminal"] is True


def test_a_failure_sets_its_error_and_refunds_only_failures_on_our_side():
    ours = failure(ErrorInfo("AI_UNAVAILABLE", "the model is down"), [JobState.RUNNING], runner="r1")
    theirs = failure(ErrorInfo("TEXT_TOO_LONG", "too long"), [JobState.RUNNING])
    spec = _spec(ours)
    assert spec["set"] == {
        "state": "FAILED",
        "message": "the model is down",
        "error": json.dumps({"code": "AI_UNAVAILABLE", "message": "the model is down"}),
    }
    assert spec["error"] == {"code": "AI_UNAVAILABLE", "message": "the model is down"}
    assert (spec["type"], spec["terminal"], spec["refund"], spec["runner"]) == ("FAILED", True, True, "r1")
    assert _spec(theirs)["refund"] is False


EVENT = {
    "jobId": "j1",
    "seq": 3,
    "type": "FAILED",
    "state": "FAILED",
    "progress": 40,
    "stage": None,
    "message": "no",
    "delta": None,
    "error": {"code": "X", "message": "no"},
    "at": "1700000000.000001",
}


def test_an_accepted_write_returns_its_event():
    event = parse_emit_result("j1", [1, json.dumps(EVENT).encode()])
    error = ErrorInfo("X", "no")
    at = 1700000000.000001
    assert event == JobEvent("j1", 3, EventType.FAILED, JobState.FAILED, 40, None, "no", None, error, at)


@pytest.mark.parametrize(
    ("reply", "error", "match"),
    [
        ([0, b"SUPERSEDED", b"RUNNING"], Superseded, "taken over"),
        ([0, b"BUSY", b""], TooBusy, "unfinished jobs"),
        ([0, b"STATE", b""], NotFound, "does not exist"),
        ([0, b"STATE", b"CANCELLED"], JobClosed, "is CANCELLED"),
    ],
)
def test_a_refused_write_raises_why(reply, error, match):
    with pytest.raises(error, match=match):
        parse_emit_result("j1", reply)


def test_a_refused_charge_names_which_charge_and_its_use():
    with pytest.raises(QuotaRefused) as refused:
        parse_emit_result("j1", [0, b"QUOTA", b"", 2, 5])
    assert (refused.value.index, refused.value.used) == (1, 5)  # Lua counts from 1
