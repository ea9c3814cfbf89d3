"""An HTTP/1.1 request written by hand over a socket, for bodies no client library sends."""

from __future__ import annotations

import asyncio
import json
import select
import socket
from typing import Any
from urllib.parse import urlsplit

from tests.support.processes import Api


class RawRequest:
    """An HTTP/1.1 request written by hand over a socket, for bodies no client library sends:
    a declared size that never comes, a body that stalls."""

    def __init__(self, api: Api) -> None:
        self._url = urlsplit(api.http_url)

    async def send(
        self, headers: dict[str, str], body: bytes = b"", method: str = "POST", query: str = ""
    ) -> tuple[int, dict[str, Any], bytes]:
        """Sends the head and `body` (and nothing more), then reads until the server closes;
        returns the status, the JSON body, and what came after the response."""
        assert self._url.hostname is not None and self._url.port is not None
        target = self._url.path + (f"?{query}" if query else "")
        head = f"{method} {target} HTTP/1.1\r\nHost: {self._url.netloc}\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items()) + "\r\n"
        address = (self._url.hostname, self._url.port)
        received = await asyncio.to_thread(_exchange, address, head.encode() + body)
        status_line, _, rest = received.partition(b"\r\n")
        response_headers, _, content = rest.partition(b"\r\n\r\n")
        lengths = [h for h in response_headers.split(b"\r\n") if h.lower().startswith(b"content-length:")]
        length = int(lengths[0].split(b":")[1])
        return int(status_line.split()[1]), json.loads(content[:length]), content[length:]


def _exchange(address: tuple[str, int], data: bytes) -> bytes:
    """Writes `data` while reading, and stops writing at the first byte of an answer: the server
    refuses without reading the rest, and bytes it never reads make its close a reset. Plain
    sockets, so that what arrived before a reset is still read (asyncio's streams raise first)."""
    received, sent = b"", 0
    with socket.create_connection(address, timeout=30) as sock:
        while True:
            writing = [sock] if sent < len(data) and not received else []
            readable, writable, _ = select.select([sock], writing, [], 30)
            if not readable and not writable:
                raise TimeoutError("the server neither answered nor read")
            if readable:
                try:
                    chunk = sock.recv(65536)
                except ConnectionResetError:
                    return received
                if not chunk:
                    return received
                received += chunk
            elif writable:
                try:
                    sent += sock.send(data[sent : sent + 16384])
                except (BrokenPipeError, ConnectionResetError):
                    sent = len(data)
