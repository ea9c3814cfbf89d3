"""A WebSocket client that subscribes and then never reads again, with a tiny receive buffer:
the slowest consumer possible. Raw sockets, so no client library reads on its behalf."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
import struct

from tests.support.gql import connection_init


def _frame(payload: dict[str, object]) -> bytes:
    data = json.dumps(payload).encode()
    mask = os.urandom(4)
    masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
    if len(data) < 126:
        header = struct.pack("!BB", 0x81, 0x80 | len(data))
    else:
        header = struct.pack("!BBH", 0x81, 0x80 | 126, len(data))
    return header + mask + masked


class StuckClient:
    def __init__(self, port: int) -> None:
        self.sock = socket.socket()
        # Set before connecting, so the advertised window never grows.
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.port = port

    async def subscribe(self, query: str, variables: dict[str, object]) -> None:
        """Subscribe and read until the first event arrives; after that, read nothing."""
        await asyncio.to_thread(self._subscribe, query, variables)

    def _subscribe(self, query: str, variables: dict[str, object]) -> None:
        self.sock.connect(("127.0.0.1", self.port))
        key = base64.b64encode(os.urandom(16)).decode()
        self.sock.sendall(
            f"GET /graphql HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            "Sec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n".encode()
        )
        received = b""
        while b"\r\n\r\n" not in received:  # frames may only follow the 101 response
            received += self._recv()
        self.sock.sendall(_frame(json.loads(connection_init())))
        self.sock.sendall(
            _frame({"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}})
        )
        while b'"next"' not in received:
            received += self._recv()

    def _recv(self) -> bytes:
        chunk = self.sock.recv(256)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        return chunk

    def close(self) -> None:
        self.sock.close()
