"""Streamable HTTP through real HTTP clients against servers on 127.0.0.1: auth, keys, safety, scale-out."""

from __future__ import annotations

import json
import logging
import os
import subprocess
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from sondos_mcp.config import Settings
from sondos_mcp.http import create_app
from sondos_mcp.sandbox import DEMO_KEY, OTHER_KEY, SandboxServer
from sondos_mcp.sandbox.loopback import ThreadedServer
from tests.conftest import server_command, start_http_server

pytestmark = pytest.mark.anyio

TOKEN = "team-token-5b1e"
CANARY = "7|http-canary-key-77aa"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def http_settings(sandbox: SandboxServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"base_url": sandbox.base_url, "retries": 0, "timeout": 5.0}
    return Settings(**(values | overrides))


@pytest.fixture
def shared(sandbox: SandboxServer) -> Iterator[ThreadedServer]:
    """The server in shared-key mode: it holds the Sondos key, callers present a team token."""
    settings = http_settings(sandbox, api_key=SecretStr(DEMO_KEY), http_tokens=[SecretStr(TOKEN)])
    with ThreadedServer(create_app(settings), lifespan="on") as server:
        yield server


@pytest.fixture
def per_user(sandbox: SandboxServer) -> Iterator[ThreadedServer]:
    """The server in per-user mode: no key of its own, each caller sends theirs."""
    with ThreadedServer(create_app(http_settings(sandbox, http_auth="per_user")), lifespan="on") as server:
        yield server


@asynccontextmanager
async def mcp_session(base_url: str, headers: dict[str, str]) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{base_url}/mcp", http_client=http)) as client,
    ):
        yield client


def post(base_url: str, headers: dict[str, str], body: Any = INIT) -> httpx.Response:
    return httpx.post(f"{base_url}/mcp", headers=ACCEPT | headers, content=json.dumps(body), timeout=10)


def test_healthz_answers_without_auth(shared: ThreadedServer):
    """GET /healthz is open for load balancers and says ok."""
    response = httpx.get(f"{shared.base_url}/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}])
def test_missing_or_wrong_token_is_401_with_www_authenticate(shared: ThreadedServer, headers: dict[str, str]):
    """Without a configured bearer token, /mcp answers 401 and says how to authenticate."""
    response = post(shared.base_url, headers)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_shared_mode_serves_a_real_session_with_the_servers_key(shared: ThreadedServer, sandbox: SandboxServer):
    """With the team token, a real MCP session updates through the server's own key."""
    async with mcp_session(shared.base_url, {"Authorization": f"Bearer {TOKEN}"}) as client:
        result = await client.call_tool("update_assistant", {"id": 12, "speech_speed": 0.9})
        refused = await client.call_tool("update_assistant", {"id": 12, "speech_speed": 1.25})
    assert not result.is_error
    assert refused.is_error
    assert refused.structured_content["problems"][0]["fix"]["value"] == 1.2
    assert [r.authorization for r in sandbox.state.updates()] == [f"Bearer {DEMO_KEY}"]


def test_foreign_host_is_421(shared: ThreadedServer):
    """A Host outside the allow-list (DNS rebinding) is refused with 421."""
    response = post(shared.base_url, {"Authorization": f"Bearer {TOKEN}", "Host": "evil.example:80"})
    assert response.status_code == 421


def test_foreign_origin_is_403(shared: ThreadedServer):
    """A browser Origin outside the allow-list is refused with 403."""
    response = post(shared.base_url, {"Authorization": f"Bearer {TOKEN}", "Origin": "https://evil.example"})
    assert response.status_code == 403


def test_oversized_body_is_413(sandbox: SandboxServer):
    """A request body over the cap is refused before it is parsed."""
    settings = http_settings(sandbox, api_key=SecretStr(DEMO_KEY), http_tokens=[SecretStr(TOKEN)], http_max_body=4096)
    with ThreadedServer(create_app(settings), lifespan="on") as server:
        big = INIT | {"params": INIT["params"] | {"padding": "x" * 10_000}}
        response = post(server.base_url, {"Authorization": f"Bearer {TOKEN}"}, big)
    assert response.status_code == 413


async def test_per_user_mode_uses_exactly_each_callers_key(per_user: ThreadedServer, sandbox: SandboxServer):
    """Two concurrent callers with different keys each act with their own key, and reach only their own
    assistant: the other's is not in their list, so it is refused before anything is sent."""
    outcomes: dict[str, list[bool]] = {}

    async def caller(key: str, mine: int, theirs: int) -> None:
        async with mcp_session(per_user.base_url, {"X-Sondos-Api-Key": key}) as client:
            results = []
            for _ in range(5):
                ok = await client.call_tool("update_assistant", {"id": mine, "speech_speed": 0.9})
                denied = await client.call_tool("update_assistant", {"id": theirs, "speech_speed": 0.9})
                results += [not ok.is_error, denied.structured_content["error"]["kind"] == "not_found"]
            outcomes[key] = results

    async with anyio.create_task_group() as tg:
        tg.start_soon(caller, DEMO_KEY, 12, 21)
        tg.start_soon(caller, OTHER_KEY, 21, 12)
    assert all(outcomes[DEMO_KEY])
    assert all(outcomes[OTHER_KEY])
    by_path: dict[str, set[str | None]] = {}
    for request in sandbox.state.updates():
        by_path.setdefault(request.path, set()).add(request.authorization)
    assert by_path == {"/user/assistant/12": {f"Bearer {DEMO_KEY}"}, "/user/assistant/21": {f"Bearer {OTHER_KEY}"}}
    assert len(sandbox.state.updates()) == 10
    assert sandbox.state.assistants[12]["speech_speed"] == 0.9


def test_per_user_mode_without_a_key_is_401_not_a_fallback(per_user: ThreadedServer, sandbox: SandboxServer):
    """A caller with no key is refused; the server has no key of its own to fall back to."""
    response = post(per_user.base_url, {})
    assert response.status_code == 401
    assert "X-Sondos-Api-Key" in response.json()["message"]
    assert sandbox.state.received == []


def test_refuses_to_start_on_a_public_address_without_auth():
    """Binding 0.0.0.0 with no authentication configured exits with a message saying how to fix it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")} | {"SONDOS_API_KEY": "x"}
    proc = subprocess.run(
        [*server_command(), "--transport", "http", "--host", "0.0.0.0"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 2
    assert "SONDOS_HTTP_TOKENS" in proc.stderr
    assert "per_user" in proc.stderr


def test_stateless_calls_work_on_any_of_two_workers(sandbox: SandboxServer):
    """With two worker processes, independent requests (no session id) all succeed, and logs hold no key."""
    settings = {
        "SONDOS_BASE_URL": sandbox.base_url,
        "SONDOS_API_KEY": CANARY,
        "SONDOS_HTTP_TOKENS": TOKEN,
        "SONDOS_LOG_LEVEL": "DEBUG",
        "SONDOS_RETRIES": "0",
    }
    sandbox.state.keys[CANARY] = 1
    proc, base = start_http_server(settings, "--workers", "2", stdout=subprocess.PIPE)
    try:
        call = {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "update_assistant", "arguments": {"id": 12, "speech_speed": 0.9}},
        }
        answers = []
        for i in range(12):
            with httpx.Client(
                headers=ACCEPT | {"Authorization": f"Bearer {TOKEN}", "MCP-Protocol-Version": "2025-11-25"}
            ) as fresh:
                response = fresh.post(f"{base}/mcp", content=json.dumps(call | {"id": i}), timeout=10)
            assert "mcp-session-id" not in response.headers
            answers.append(response.json()["result"])
        failure = {
            "jsonrpc": "2.0",
            "id": 99,
            "method": "tools/call",
            "params": {"name": "update_assistant", "arguments": {"id": 999, "speech_speed": 0.9}},
        }
        not_found = post(base, {"Authorization": f"Bearer {TOKEN}", "MCP-Protocol-Version": "2025-11-25"}, failure)
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert all(a["isError"] is False for a in answers)
    assert len(sandbox.state.updates()) == 12  # assistant 999 is not in the account's list: nothing sent
    assert not_found.json()["result"]["structuredContent"]["error"]["kind"] == "not_found"
    assert CANARY not in out + err + not_found.text + json.dumps(answers)
    assert "workers: 2" in err


async def test_key_canary_never_leaks_over_http(sandbox: SandboxServer, caplog: pytest.LogCaptureFixture):
    """The per-user key is absent from responses and log lines, on success and on failure."""
    sandbox.state.keys[CANARY] = 1
    caplog.set_level(logging.DEBUG)
    seen = []
    with ThreadedServer(create_app(http_settings(sandbox, http_auth="per_user")), lifespan="on") as server:
        async with mcp_session(server.base_url, {"X-Sondos-Api-Key": CANARY}) as client:
            for status in (None, 401, 422, 500):
                if status is not None:
                    sandbox.state.fail_next(status, {"message": f"echo {CANARY}"}, method="PUT")
                result = await client.call_tool("update_assistant", {"id": 12, "speech_speed": 0.9})
                seen.append(result.model_dump_json())
    seen += [record.getMessage() for record in caplog.records]
    assert len(sandbox.state.updates()) == 4
    assert [s for s in seen if CANARY in s] == []
