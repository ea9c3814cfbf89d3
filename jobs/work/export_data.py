"""The work of an EXPORT job: every record the deployment holds about the job's owner, as one JSON
document (data.json) in a zip, with their uploaded files and PDFs beside it.

Not everything of a user is reachable from their indexes (a finished job is listed nowhere; a
response made from pasted text belongs to no questionnaire), so the export walks the keyspace once
(SCAN, in batches) and keeps the objects whose owner is the caller: a record's `owner` field, an
analysis' `meta.owner`, or the user id inside a per-user key's name (quota counters, `user:<u>:*`).
What depends on an object (a job's events, an upload's bytes, ...) is read by name. One pass costs
time in the number of keys of the deployment: hence EXPORTS_PER_DAY.

The zip is built in the worker's memory, bounded by EXPORT_MAX_BYTES, and stored with the job's
success in one atomic step (C11), with a TTL: an export cancelled meanwhile (or whose owner was
erased) stores nothing, and a stored one forgets itself after EXPORT_TTL_SECONDS.
"""

from __future__ import annotations

import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from redis import Redis

from jobs.core.errors import WorkFailed
from jobs.core.events import as_text
from jobs.core.names import Keys, Stage
from jobs.core.outcome import Outcome, Write, Writes
from jobs.core.records import JobRecord
from jobs.work.context import WorkerContext
from jobs.work.run import JobRun

FORMAT = "cvimprover-export/1"
DOCUMENT = "data.json"
SCAN_BATCH = 1000
READ_BATCH = 200
# Object families: the key's first segment, the document's section, and the keys that hang off it
# (`<family>:<id>:<child>`). Children named in FILES are bytes, stored in the zip beside the JSON.
SECTIONS = {
    "job": "jobs",
    "q": "questionnaires",
    "resume": "uploads",
    "response": "responses",
    "pdf": "pdfs",
    "analysis": "analyses",
}
CHILDREN = {
    "job": ("log", "output", "export"),
    "q": ("responses", "analyses"),
    "resume": ("file",),
    "response": ("pdfs",),
    "pdf": ("file",),
    "analysis": (),
}
FILES = {("resume", "file"), ("pdf", "file")}
# An earlier export's zip: its size is listed, its bytes are not nested in this one.
SUMMARISED = {("job", "export")}
# Hash fields that hold JSON: shown as JSON, not as strings of it.
JSON_FIELDS = frozenset({"input", "result", "error", "layout"})
ROOT = re.compile(r"^(job|q|resume|response|pdf|analysis):([^:]+)$")
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass
class Owned:
    """The names of what the owner has: object ids by family, and per-user keys."""

    objects: dict[str, list[str]] = field(default_factory=lambda: {family: [] for family in SECTIONS})
    user_keys: list[str] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.objects.values()) + len(self.user_keys)


def export_data(run: JobRun, ctx: WorkerContext, job: JobRecord) -> Outcome:
    settings, keys = ctx.settings, ctx.keys
    run.progress(5, Stage.EXPORTING, "Looking through the stored records")
    owned = find_owned(ctx.redis, keys, job.owner)
    run.progress(40, Stage.EXPORTING, f"Found {owned.count} records; reading them")
    content = build_zip(ctx.redis, keys, job.owner, owned, settings.export_max_bytes)
    run.progress(90, Stage.FINALIZING, f"Packed {owned.count} records in {len(content)} bytes")
    writes = Writes()
    # SET with EX: the zip expires on its own (Writes has no such method; the emit script runs any).
    writes.commands.append(
        Write("SET", keys.export_file(job.id), [content, "EX", settings.export_ttl_seconds])
    )
    result = {
        "size": len(content),
        "records": owned.count,
        "expires_at": time.time() + settings.export_ttl_seconds,
    }
    return Outcome(result, writes)


def find_owned(redis: Redis, keys: Keys, owner: str) -> Owned:
    owned = Owned()
    candidates: list[tuple[str, str]] = []
    for name in _names(redis, keys):
        if root := ROOT.match(name):
            candidates.append((root[1], root[2]))
            if len(candidates) >= SCAN_BATCH:
                _keep_owned(redis, keys, owner, candidates, owned)
                candidates = []
        elif _user_key_owner(name) == owner:
            owned.user_keys.append(name)
    _keep_owned(redis, keys, owner, candidates, owned)
    return owned


def _names(redis: Redis, keys: Keys) -> Iterator[str]:
    """Every key of the deployment, without its prefix."""
    start = len(keys.prefix) + 1
    for raw in redis.scan_iter(match=f"{keys.prefix}:*", count=SCAN_BATCH):
        yield as_text(raw)[start:]


def _user_key_owner(name: str) -> str | None:
    """The user a per-user key belongs to: `quota:<scope>:<user>:<window>`, `user:<user>:<what>`."""
    parts = name.split(":")
    if parts[0] == "quota" and len(parts) >= 4:
        return ":".join(parts[2:-1])
    if parts[0] == "user" and len(parts) >= 3:
        return ":".join(parts[1:-1])
    return None


def _keep_owned(
    redis: Redis, keys: Keys, owner: str, candidates: list[tuple[str, str]], owned: Owned
) -> None:
    with redis.pipeline(transaction=False) as pipe:
        for family, object_id in candidates:
            key = _key(keys, family, object_id)
            pipe.get(key) if family == "analysis" else pipe.hget(key, "owner")
        found = pipe.execute()
    for (family, object_id), value in zip(candidates, found, strict=True):
        if value is not None and _owner_of(family, value) == owner:
            owned.objects[family].append(object_id)


def _owner_of(family: str, value: bytes) -> str:
    if family != "analysis":
        return as_text(value)
    document = json.loads(value)
    return str(document.get("meta", {}).get("owner", "")) if isinstance(document, dict) else ""


def _key(keys: Keys, family: str, object_id: str, child: str | None = None) -> str:
    return f"{keys.prefix}:{family}:{object_id}" + (f":{child}" if child else "")


def build_zip(redis: Redis, keys: Keys, owner: str, owned: Owned, max_bytes: int) -> bytes:
    document: dict[str, Any] = {
        "format": FORMAT,
        "user": owner,
        "exported_at": datetime.now(UTC).isoformat(),
    }
    files: dict[str, str] = {}  # key -> its path in the zip
    sizes = 0
    for family, ids in owned.objects.items():
        section: dict[str, Any] = {}
        for start in range(0, len(ids), READ_BATCH):
            batch = ids[start : start + READ_BATCH]
            for object_id, entry, found in _read_objects(redis, keys, family, batch):
                section[object_id] = entry
                for key, (path, size) in found.items():
                    files[key], sizes = path, sizes + size
        document[SECTIONS[family]] = section
    document["quotas"], document["indexes"] = _user_keys(redis, keys, owned.user_keys)
    text = json.dumps(document, ensure_ascii=False, indent=1, sort_keys=True).encode()
    if sizes + len(text) > max_bytes:
        raise WorkFailed(
            f"your data takes {sizes + len(text)} bytes, more than an export holds ({max_bytes}); "
            "delete what you no longer need and export again",
            code="EXPORT_TOO_LARGE",
        )
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(DOCUMENT, text)
        for key, path in files.items():
            content = redis.get(key)  # one at a time: at most one file beside the zip in memory
            if content is not None:
                archive.writestr(path, content)
    return buffer.getvalue()


def _read_objects(
    redis: Redis, keys: Keys, family: str, ids: list[str]
) -> Iterator[tuple[str, dict[str, Any], dict[str, tuple[str, int]]]]:
    """Each object's entry (its record and children) and its files (key -> path in the zip, size)."""
    children = CHILDREN[family]
    with redis.pipeline(transaction=False) as pipe:
        for object_id in ids:
            key = _key(keys, family, object_id)
            pipe.get(key) if family == "analysis" else pipe.hgetall(key)
            for child in children:
                child_key = _key(keys, family, object_id, child)
                binary = (family, child) in FILES or (family, child) in SUMMARISED
                pipe.strlen(child_key) if binary else _read_any(pipe, child_key)
        replies = iter(pipe.execute())
    for object_id in ids:
        record = next(replies)
        entry: dict[str, Any] = {"record": _record(family, record)}
        files: dict[str, tuple[str, int]] = {}
        for child in children:
            value = next(replies)
            if (family, child) in FILES:
                if value:
                    path = _file_path(family, object_id, entry["record"])
                    files[_key(keys, family, object_id, child)] = (path, int(value))
                    entry[child] = {"path": path, "bytes": int(value)}
            elif (family, child) in SUMMARISED:
                if value:
                    entry[child] = {"bytes": int(value)}
            elif value:
                entry[child] = _plain(value)
        yield object_id, entry, files


def _read_any(pipe: Any, key: str) -> None:
    """The children that are not files: lists (ids, events) and strings (a job's output)."""
    if key.endswith((":log", ":responses", ":analyses", ":pdfs")):
        pipe.lrange(key, 0, -1)
    else:
        pipe.get(key)


def _record(family: str, raw: Any) -> Any:
    if raw is None or raw == {}:
        return None  # deleted between the scan and the read
    if family == "analysis":
        return json.loads(raw)
    return {as_text(k): _field(as_text(k), as_text(v)) for k, v in raw.items()}


def _field(name: str, value: str) -> Any:
    if name in JSON_FIELDS and value:
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _plain(value: Any) -> Any:
    """A list of ids or events (events are JSON), or a string."""
    if isinstance(value, list):
        return [_maybe_json(as_text(v)) for v in value]
    return as_text(value)


def _maybe_json(text: str) -> Any:
    if text.startswith("{"):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def _file_path(family: str, object_id: str, record: dict[str, Any] | None) -> str:
    if family == "pdf":
        return f"pdfs/{object_id}.pdf"
    filename = SAFE_NAME.sub("_", str((record or {}).get("filename") or "upload"))[-100:]
    return f"uploads/{object_id}-{filename}"


def _user_keys(redis: Redis, keys: Keys, names: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Quota counters (`<scope>:<window>`: units used) and the per-user indexes (by what they index)."""
    quotas: dict[str, Any] = {}
    indexes: dict[str, Any] = {}
    for name in names:
        key = f"{keys.prefix}:{name}"
        kind = as_text(redis.type(key))
        value: Any
        if kind == "string":
            value = as_text(redis.get(key) or b"")
        elif kind == "set":
            value = sorted(as_text(m) for m in redis.smembers(key))
        elif kind == "zset":
            value = [as_text(m) for m in redis.zrange(key, 0, -1) if isinstance(m, (bytes, str))]
        elif kind == "list":
            value = [as_text(m) for m in redis.lrange(key, 0, -1)]
        elif kind == "hash":
            value = {as_text(k): as_text(v) for k, v in redis.hgetall(key).items()}
        else:
            continue  # expired between the scan and the read
        parts = name.split(":")
        if parts[0] == "quota":
            quotas[f"{parts[1]}:{parts[-1]}"] = value
        else:
            indexes[parts[-1]] = value
    return quotas, indexes
