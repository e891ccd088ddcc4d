"""A raw-socket upstream for the faults an ASGI app cannot commit: a reset after the request, a cut body."""

from __future__ import annotations

import json
import socket
import struct
import threading
from typing import Literal

Behaviour = Literal["reset", "truncate"]


class RawUpstream:
    """`with RawUpstream("reset") as up:` reads each request whole, records it, and misbehaves on writes."""

    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[bytes] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self._sock.settimeout(0.2)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def __enter__(self) -> RawUpstream:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            with conn:
                request = _read_request(conn)
                self.requests.append(request)
                if request.startswith(b"GET "):
                    # Reads before the write (the journal's before-values) are answered properly.
                    conn.sendall(_json_response(READ_ANSWER))
                elif self.behaviour == "reset":
                    # SO_LINGER 0: close sends RST, as a crashed proxy or a dropped NAT entry would.
                    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                else:
                    body = b'{"message": "Assistant updated successfully", "data": {"id": 12'
                    head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n"
                    conn.sendall(head + body)


READ_ANSWER = {
    "current_page": 1,
    "data": [{"id": 12, "name": "Riyadh Sales", "status": "active", "type": "outbound", "mode": "pipeline"}],
    "per_page": 100,
    "total": 1,
    "last_page": 1,
}


def _json_response(payload: object) -> bytes:
    body = json.dumps(payload).encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    return head.encode() + b"Connection: close\r\n\r\n" + body


def _read_request(conn: socket.socket) -> bytes:
    conn.settimeout(5)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body
