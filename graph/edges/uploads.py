"""The gate in front of GraphQL multipart uploads (the multipart request spec).

Two defences that Strawberry leaves to us once uploads are enabled:

- CSRF: a browser sends a cross-site `multipart/form-data` POST without a preflight, cookies
  and all. Such a request must carry a header no simple request can set (`Apollo-Require-
  Preflight`, `GraphQL-Require-Preflight` or `X-Apollo-Operation-Name`), which forces a CORS
  preflight that a foreign origin does not pass.
- Size: files over the limit are refused while they stream, as soon as their bytes pass it,
  before the rest is read or spooled to disk. The limit holds for all files of a request together
  (uploadResume takes one), and the whole body may carry at most 1 MiB more (the operations and
  map fields): many parts cannot add up to more. The parts are scanned incrementally
  (python-multipart, the parser Starlette itself uses).
- Form parts: Starlette refuses a field (a part without a filename) over 1 MiB, or more than
  1000 parts, by raising from deep inside the GraphQL view (an INTERNAL answer). They are refused
  here first, with a code: a file sent without a filename (`curl -F 0=text`, gql's streaming
  uploads) is a form field, and a big one is BAD_USER_INPUT.
"""

from __future__ import annotations

from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graph.edges.body_limits import refuse

PREFLIGHT_HEADERS = ("apollo-require-preflight", "graphql-require-preflight", "x-apollo-operation-name")
FIELDS_ALLOWANCE = 1024 * 1024  # for the operations and map fields, beyond the files themselves
# Starlette's own limits on a multipart form (`Request.form()`'s defaults).
FIELD_MAX_BYTES = 1024 * 1024
MAX_PARTS = 1000


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class UploadGuard:
    def __init__(self, app: ASGIApp, max_file_bytes: int) -> None:
        self._app = app
        self._max_file = max_file_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        content_type, options = parse_options_header(headers.get("content-type", ""))
        if scope["type"] != "http" or content_type != b"multipart/form-data":
            await self._app(scope, receive, send)
            return
        if not any(headers.get(h) for h in PREFLIGHT_HEADERS):
            message = "multipart requests must carry an Apollo-Require-Preflight header (CSRF defence)"
            await refuse(send, 400, "CSRF_PREVENTED", message, close=False)
            return
        if int(headers.get("content-length") or 0) > self._max_file + FIELDS_ALLOWANCE:
            await refuse(send, 413, "FILE_TOO_LARGE", self._too_large(), close=False)
            return
        counter = _BodyBytes(options.get(b"boundary", b""), self._max_file, self._max_file + FIELDS_ALLOWANCE)
        try:
            await self._app(scope, counter.wrap(receive), send)
        except _Refused as refused:
            await refuse(send, refused.status, refused.code, refused.message, close=False)

    def _too_large(self) -> str:
        return _files_limited(self._max_file)


def _files_limited(max_file: int) -> str:
    return f"files are limited to {max_file} bytes"


class _BodyBytes:
    """Counts the body's bytes, its file parts' bytes, each field's bytes and the parts, as they
    stream in; raises past any limit."""

    def __init__(self, boundary: bytes, file_limit: int, body_limit: int) -> None:
        self._file_limit = file_limit
        self._body_limit = body_limit
        self._body = 0
        self._in_file = False
        self._size = 0
        self._field = 0
        self._parts = 0
        self._header = b""
        callbacks: Any = {
            "on_part_begin": self._part_begin,
            "on_header_value": self._header_value,
            "on_headers_finished": self._headers_finished,
            "on_part_data": self._part_data,
        }
        self._parser = MultipartParser(boundary, callbacks) if boundary else None

    def wrap(self, receive: Receive) -> Receive:
        async def counted() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                chunk = message.get("body", b"")
                self._body += len(chunk)
                if self._body > self._body_limit:
                    raise self._too_large()
                if self._parser is not None:
                    self._parser.write(chunk)
            return message

        return counted

    def _too_large(self) -> _Refused:
        return _Refused(413, "FILE_TOO_LARGE", _files_limited(self._file_limit))

    def _part_begin(self) -> None:
        self._in_file, self._header, self._field = False, b"", 0
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise _Refused(400, "BAD_USER_INPUT", f"a multipart request may have at most {MAX_PARTS} parts")

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        # A value may arrive in pieces when a chunk ends inside it; headers are small.
        self._header += data[start:end] + b"\n"

    def _headers_finished(self) -> None:
        self._in_file = b"filename=" in self._header

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._size += end - start
            if self._size > self._file_limit:
                raise self._too_large()
            return
        self._field += end - start
        if self._field > FIELD_MAX_BYTES:
            raise _Refused(
                400,
                "BAD_USER_INPUT",
                f"a form field is limited to {FIELD_MAX_BYTES} bytes; send files as file parts, "
                "with a filename",
            )
