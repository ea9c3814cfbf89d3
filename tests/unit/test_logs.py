"""jobs/core/logs.py without processes: a JSON line per record with its context, uvicorn's access
line without its query string, request ids that are plain tokens, user ids hashed."""

from __future__ import annotations

import io
import json
import logging

from jobs.core import logs


def _logged(log_format: str, message: str, *args: object, **context: str) -> str:
    stream = io.StringIO()
    logger = logging.Logger("probe")
    logger.addHandler(logs.handler_for(log_format, stream))
    with logs.bound(**context):
        logger.warning(message, *args)
    return stream.getvalue()


def test_a_json_line_carries_the_context_it_was_logged_in() -> None:
    line = _logged("json", "job %s queued", "j1", request_id="r1", job_id="j1", job_kind="IMPROVE_CV")
    record = json.loads(line)
    assert line.count("\n") == 1
    assert {k: record[k] for k in ("level", "logger", "message", "request_id", "job_id", "job_kind")} == {
        "level": "WARNING",
        "logger": "probe",
        "message": "job j1 queued",
        "request_id": "r1",
        "job_id": "j1",
        "job_kind": "IMPROVE_CV",
    }
    assert "user_hash" not in record and record["timestamp"].endswith("+00:00")


def test_a_message_with_line_breaks_stays_one_json_line() -> None:
    assert _logged("json", "two\nlines").count("\n") == 1


def test_a_text_line_names_its_context_and_none_outside_it() -> None:
    assert _logged("text", "hello", job_id="j2").rstrip().endswith("hello [job_id=j2]")
    assert _logged("text", "hello").rstrip().endswith("hello")


def test_the_access_line_loses_its_query_string() -> None:
    record = logging.LogRecord(
        "uvicorn.access", logging.INFO, "", 0, '%s - "%s %s HTTP/%s" %d',
        ("1.2.3.4:5", "GET", "/graphql?query=q&variables=%7B%22email%22%3A%22a%40b.c%22%7D", "1.1", 200),
        None,
    )
    logs.NoQueryStrings().filter(record)
    assert record.getMessage() == '1.2.3.4:5 - "GET /graphql HTTP/1.1" 200'


def test_a_request_id_is_the_callers_plain_token_or_a_new_one() -> None:
    assert logs.request_id_from("abc-123.x:y_z") == "abc-123.x:y_z"
    for unfit in (None, "", "a b", "line\nbreak", "jane@example.com", "x" * 65):
        made = logs.request_id_from(unfit)
        assert made != unfit and len(made) == 32


def test_a_user_hash_is_stable_and_hides_the_id() -> None:
    assert logs.user_hash("alice") == logs.user_hash("alice") != logs.user_hash("bob")
    assert "alice" not in logs.user_hash("alice") and len(logs.user_hash("alice")) == 16
