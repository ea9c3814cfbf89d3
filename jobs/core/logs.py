"""How the API and the workers log: plain text (LOG_FORMAT=text, the default) or one JSON object
per line (LOG_FORMAT=json), each record carrying what is known of the request and the job it
belongs to (request id, job id and kind, a hash of the user id) from a context variable.

What never reaches a line: user ids (only their keyed hash), CV text, contact details, tokens and
query strings. Our own log calls name ids and codes only; uvicorn's access log has its query
string cut (a GET /graphql carries its variables there).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import sys
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from types import MappingProxyType
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from settings import Settings

# The Celery message header that carries the request id from the mutation to its task.
REQUEST_ID_HEADER = "request_id"
# What a caller's X-Request-ID may be; anything else is replaced by one of ours (a header is the
# caller's text: it must not smuggle a line break, or an e-mail address, into every line).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")
# The fields a record may carry from its context, in the order a JSON line lists them.
CONTEXT_FIELDS = ("request_id", "job_id", "job_kind", "user_hash")
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s%(context)s"
# uvicorn logs through these; routed to our handler so that they share the format.
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")

_context: ContextVar[Mapping[str, str]] = ContextVar("log_context", default=MappingProxyType({}))
# A process's key for user hashes; a random one (hashes that correlate within one process only)
# until configure() is given LOG_USER_HASH_KEY.
_user_hash_key = secrets.token_bytes(32)


def request_id_from(header: str | None) -> str:
    """The caller's X-Request-ID when it is a plain token, else a new one."""
    if header is not None and _REQUEST_ID.fullmatch(header):
        return header
    return secrets.token_hex(16)


def user_hash(user_id: str) -> str:
    """A keyed hash of a user id: lines of one user can be found together, the id cannot be read
    back (nor guessed and checked, without the key)."""
    return hmac.new(_user_hash_key, user_id.encode(), hashlib.sha256).hexdigest()[:16]


def current(name: str) -> str | None:
    return _context.get().get(name)


@contextlib.contextmanager
def bound(**fields: str | None) -> Iterator[None]:
    """Records logged inside carry `fields` (those not None) besides the context's own."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def enter(**fields: str | None) -> None:
    """Start a fresh context (a task beginning on a reused worker thread); `leave` ends it."""
    _context.set({k: v for k, v in fields.items() if v is not None})


def add(**fields: str | None) -> None:
    """Add to the current context (what becomes known midway, like a job's owner)."""
    _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})


def leave() -> None:
    _context.set({})


class _WithContext(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        fields = _context.get()
        for name in CONTEXT_FIELDS:
            if not hasattr(record, name):
                setattr(record, name, fields.get(name))
        record.context = "".join(
            f" [{name}={value}]" for name in CONTEXT_FIELDS if (value := getattr(record, name)) is not None
        )
        return True


class NoQueryStrings(logging.Filter):
    """uvicorn's access line without the query string: `GET /graphql?query=...&variables=...`
    would put a caller's variables (and any token a client put in a URL) in the log."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5 and isinstance(args[2], str):
            record.args = (*args[:2], args[2].partition("?")[0], *args[3:])
        return True


class JsonLines(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in CONTEXT_FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


# Request headers whose values are credentials.
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})


class NoWebSocketSecrets(logging.Filter):
    """websockets (uvicorn's WebSocket protocol) logs at DEBUG every frame with its first and last
    characters (connection_init's are the token's, a subscription's its variables), the upgrade's
    headers and its path with the query. Kept: a frame's kind and size, a credential header's name,
    the path without its query."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.levelno > logging.DEBUG or not isinstance(args, tuple) or not args:
            return True
        if record.msg in ("< %s", "> %s") and hasattr(args[0], "opcode") and hasattr(args[0], "data"):
            record.args = (f"{args[0].opcode.name} [{len(args[0].data)} bytes]",)
        elif record.msg in ("< %s: %s", "> %s: %s") and str(args[0]).lower() in _SECRET_HEADERS:
            record.args = (args[0], "[redacted]")
        elif record.msg == "< GET %s HTTP/1.1":
            record.args = (str(args[0]).split("?", 1)[0],)
        return True


def handler_for(log_format: str, stream: IO[str]) -> logging.Handler:
    """A handler writing to `stream` in `log_format` (json or text), each record with its context."""
    handler = logging.StreamHandler(stream)
    handler.addFilter(_WithContext())
    handler.addFilter(NoWebSocketSecrets())
    handler.setFormatter(JsonLines() if log_format == "json" else logging.Formatter(_TEXT_FORMAT))
    return handler


def configure(settings: Settings, level: int | str = logging.INFO) -> None:
    """One handler on the root logger (stderr), in LOG_FORMAT; uvicorn's loggers sent to it.
    Called again, it replaces what it set before."""
    global _user_hash_key
    if settings.log_user_hash_key is not None:
        _user_hash_key = settings.log_user_hash_key.get_secret_value().encode()
    handler = handler_for(settings.log_format, sys.stderr)
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        # Their levels stay as uvicorn's --log-level set them; their output goes through ours.
        for old in logger.handlers[:]:
            logger.removeHandler(old)
        logger.propagate = True
    access = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, NoQueryStrings) for f in access.filters):
        access.addFilter(NoQueryStrings())
    logging.captureWarnings(True)
