"""A hostile HTTP client: slow headers, many connections, odd keys, the SSE GET; the server stays bounded."""

from __future__ import annotations

import os
import resource
import select
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import pytest
from pydantic import SecretStr

from sondos_mcp.config import Settings
from sondos_mcp.http import create_app
from sondos_mcp.sandbox import DEMO_KEY, SandboxServer
from sondos_mcp.sandbox.loopback import ThreadedServer
from tests.conftest import free_port, server_command, wait_until_healthy
from tests.test_http import ACCEPT, INIT, post

TOKEN = "team-token-5b1e"
HEADER_TIMEOUT = 2.0


@pytest.fixture
def per_user_app(sandbox: SandboxServer) -> Iterator[ThreadedServer]:
    settings = Settings(base_url=sandbox.base_url, retries=0, timeout=5.0, http_auth="per_user")
    with ThreadedServer(create_app(settings), lifespan="on") as server:
        yield server


def test_get_mcp_in_stateless_mode_is_405_not_an_endless_stream(sandbox: SandboxServer):
    """GET /mcp (an SSE stream request) answers 405 with Allow: POST at once, instead of never closing."""
    settings = Settings(
        base_url=sandbox.base_url, api_key=SecretStr(DEMO_KEY), http_tokens=[SecretStr(TOKEN)], retries=0
    )
    with ThreadedServer(create_app(settings), lifespan="on") as server:
        headers = {"Accept": "text/event-stream", "Authorization": f"Bearer {TOKEN}"}
        response = httpx.get(f"{server.base_url}/mcp", headers=headers, timeout=5)
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


@pytest.mark.parametrize(
    "key",
    ["ключ-سري".encode(), b"k" * 5000, b"7|abc def", b"7|abc\tdef"],
    ids=["non-ascii", "5000-chars", "space", "tab"],
)
def test_per_user_key_header_that_cannot_be_a_key_is_a_structured_401(
    per_user_app: ThreadedServer, sandbox: SandboxServer, key: bytes
):
    """A per-user key header that is not printable ASCII of sane length is refused with a JSON 401."""
    response = post(per_user_app.base_url, {"X-Sondos-Api-Key": key})  # type: ignore[dict-item]
    assert response.status_code == 401
    assert response.json()["error"] == "unauthorized"
    assert "printable ASCII" in response.json()["message"]
    assert sandbox.state.received == []


def test_unauthenticated_request_is_refused_before_its_body_is_read(sandbox: SandboxServer):
    """A request without a token announcing a 100 MB body is answered 401 without waiting for the body."""
    settings = Settings(base_url=sandbox.base_url, api_key=SecretStr(DEMO_KEY), http_tokens=[SecretStr(TOKEN)])
    with (
        ThreadedServer(create_app(settings), lifespan="on") as server,
        socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock,
    ):
        sock.sendall(
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100000000\r\n\r\n{"
        )
        start = time.monotonic()
        answer = sock.recv(4096)
    assert answer.startswith(b"HTTP/1.1 401")
    assert time.monotonic() - start < 1


@pytest.mark.parametrize("depth", [50, 5_000, 100_000])
def test_deeply_nested_arguments_are_refused_quickly_over_http(sandbox: SandboxServer, depth: int):
    """Arguments nested 50 to 100,000 levels deep get a short refusal at once, and nothing is sent."""
    settings = Settings(base_url=sandbox.base_url, api_key=SecretStr(DEMO_KEY), retries=0)
    nested = "[" * depth + "]" * depth
    call = (
        '{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "update_assistant", '
        f'"arguments": {{"id": 12, "speech_speed": 0.9, "x": {nested}}}}}}}'
    )
    with ThreadedServer(create_app(settings), lifespan="on") as server:
        start = time.monotonic()
        response = httpx.post(
            f"{server.base_url}/mcp",
            headers=ACCEPT | {"MCP-Protocol-Version": "2025-11-25"},
            content=call,
            timeout=10,
        )
        elapsed = time.monotonic() - start
        healthy = httpx.get(f"{server.base_url}/healthz", timeout=5).status_code
    assert elapsed < 1
    assert len(response.content) < 2048
    answer = response.json()
    if "result" in answer:
        assert answer["result"]["structuredContent"]["problems"][0]["code"] == "too_large"
    else:
        assert answer["error"]["code"] == -32700  # the SDK's parser refuses it before any tool runs
    assert healthy == 200
    assert sandbox.state.received == []


def _raise_own_open_files_limit(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"needs {wanted} open files; the hard limit is {hard}")
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@contextmanager
def http_server(open_files: int = 1024, **env: str) -> Iterator[str]:
    """The installed server over HTTP as a subprocess, started with a soft open-files limit as common as 1024."""
    port = free_port()
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")}
    child_env |= {"SONDOS_API_KEY": DEMO_KEY, "SONDOS_BASE_URL": "http://127.0.0.1:9", **env}

    with tempfile.TemporaryFile() as log:
        # The shell sets the soft limit (no preexec_fn: this process runs threads) and execs the server.
        command = [*server_command(), "--transport", "http", "--port", str(port)]
        proc = subprocess.Popen(
            ["sh", "-c", f'ulimit -Sn {open_files} && exec "$@"', "sh", *command],
            env=child_env,
            stdout=log,
            stderr=log,
            stdin=subprocess.DEVNULL,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(base, proc)
            yield base
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def _open(port: int, count: int, payload: bytes) -> list[socket.socket]:
    sockets = []
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        if payload:
            sock.sendall(payload)
        sockets.append(sock)
    return sockets


def _closed_by_peer(sockets: list[socket.socket], within: float) -> int:
    """How many of `sockets` the server closed within `within` seconds."""
    pending = {s.fileno(): s for s in sockets}
    closed = 0
    deadline = time.monotonic() + within
    while pending and time.monotonic() < deadline:
        poller = select.poll()
        for fd in pending:
            poller.register(fd, select.POLLIN | select.POLLHUP | select.POLLERR)
        for fd, _ in poller.poll(100):
            sock = pending.pop(fd)
            try:
                data = sock.recv(1024)
            except OSError:
                data = b""
            if not data:
                closed += 1
    return closed


def _close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


def test_slow_header_connections_are_closed_and_healthz_keeps_answering():
    """1,100 connections that never finish their headers: /healthz still answers, and each is closed in time."""
    _raise_own_open_files_limit(4096)
    with http_server(SONDOS_HTTP_HEADER_TIMEOUT=str(HEADER_TIMEOUT)) as base:
        port = int(base.rsplit(":", 1)[1])
        opened = time.monotonic()
        attackers = _open(port, 1100, b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
        try:
            response = httpx.get(f"{base}/healthz", timeout=HEADER_TIMEOUT + 1)
            assert response.status_code == 200
            closed = _closed_by_peer(attackers, within=HEADER_TIMEOUT + 3 - (time.monotonic() - opened))
        finally:
            _close_all(attackers)
    assert closed == 1100


def test_request_body_dripped_past_the_read_deadline_is_cut_off():
    """A request whose headers arrive but whose body trickles in is closed at the read deadline too."""
    with http_server(SONDOS_HTTP_HEADER_TIMEOUT=str(HEADER_TIMEOUT)) as base:
        port = int(base.rsplit(":", 1)[1])
        head = (
            b"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{"
        )
        (drip,) = _open(port, 1, head)
        try:
            start = time.monotonic()
            closed = _closed_by_peer([drip], within=HEADER_TIMEOUT + 3)
            elapsed = time.monotonic() - start
        finally:
            _close_all([drip])
    assert closed == 1
    assert elapsed < HEADER_TIMEOUT + 1


def test_connections_past_the_cap_are_closed_at_once():
    """With SONDOS_HTTP_MAX_CONNECTIONS=50, idle connections past 50 are closed immediately, and serving goes on."""
    with http_server(SONDOS_HTTP_MAX_CONNECTIONS="50", SONDOS_HTTP_HEADER_TIMEOUT="30") as base:
        port = int(base.rsplit(":", 1)[1])
        idle = _open(port, 80, b"")
        try:
            closed = _closed_by_peer(idle, within=1.0)
        finally:
            _close_all(idle)
        time.sleep(0.2)
        assert httpx.get(f"{base}/healthz", timeout=5).status_code == 200
    assert closed >= 30


def test_mcp_still_serves_a_full_call_between_the_bounds(sandbox: SandboxServer):
    """The guard leaves ordinary requests alone: an initialize over HTTP succeeds under the guarded server."""
    with http_server(SONDOS_HTTP_HEADER_TIMEOUT="5") as base:
        response = post(base, {}, INIT)
        response_again = httpx.post(f"{base}/mcp", headers=ACCEPT, content=b"{}", timeout=10)
    assert response.status_code == 200
    assert response.json()["result"]["serverInfo"]["name"] == "sondos-mcp"
    assert response_again.status_code in (400, 406, 422)


def test_the_served_socket_sends_small_answers_without_waiting_for_acks():
    """The CLI binds the port itself and hands uvicorn its descriptor, which uvicorn then takes for a
    Unix socket: without TCP_NODELAY set on each connection, every answer written in two pieces
    (headers, then body) waits for the client's delayed ACK, about 40 ms a request on Linux."""
    with http_server() as base, httpx.Client(base_url=base) as http:
        http.get("/healthz")  # the connection is open and warm
        took = []
        for _ in range(15):
            start = time.perf_counter()
            assert http.get("/healthz").status_code == 200
            took.append(time.perf_counter() - start)
    assert sorted(took)[len(took) // 2] < 0.02, took
