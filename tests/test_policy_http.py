"""Per-token policies over streamable HTTP: each named token sees and may do what its policy allows."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from pydantic import SecretStr

from sondos_mcp.client import fingerprint
from sondos_mcp.config import Settings
from sondos_mcp.http import create_app
from sondos_mcp.journal import ChangeFilter
from sondos_mcp.journal.sqlite import SqliteJournal
from sondos_mcp.sandbox import DEMO_KEY, SandboxServer
from sondos_mcp.sandbox.loopback import ThreadedServer

pytestmark = pytest.mark.anyio

POLICY = """
denied_fields = ["system_prompt"]

[tokens.viewer]
read_only = true

[tokens.ops]
[tokens.ops.bounds]
max_call_duration = { max = 600 }
"""


@asynccontextmanager
async def session(base_url: str, token: str) -> AsyncIterator[Client]:
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http,
        Client(streamable_http_client(f"{base_url}/mcp", http_client=http)) as client,
    ):
        yield client


async def test_each_named_token_gets_its_policy_and_its_name_in_the_journal(sandbox: SandboxServer, tmp_path: Path):
    """viewer lists no write tool; ops sees the tighter bound, inherits the denied field, and is journaled by name."""
    policy = tmp_path / "policy.toml"
    policy.write_text(POLICY, "utf-8")
    journal = tmp_path / "journal.sqlite3"
    settings = Settings(
        base_url=sandbox.base_url,
        api_key=SecretStr(DEMO_KEY),
        retries=0,
        http_tokens=[SecretStr("viewer:view-token-1"), SecretStr("ops:ops-token-2"), SecretStr("plain-token-3")],
        policy=policy,
        journal=str(journal),
    )
    with ThreadedServer(create_app(settings), lifespan="on") as server:
        async with session(server.base_url, "view-token-1") as viewer:
            viewer_tools = {t.name for t in (await viewer.list_tools()).tools}
        async with session(server.base_url, "ops-token-2") as ops:
            listed = {t.name: t for t in (await ops.list_tools()).tools}
            over = await ops.call_tool("update_assistant", {"id": 12, "max_call_duration": 900})
            denied = await ops.call_tool("update_assistant", {"id": 12, "system_prompt": "x"})
            fine = await ops.call_tool("update_assistant", {"id": 12, "max_call_duration": 500})
        async with session(server.base_url, "plain-token-3") as plain:
            other = await plain.call_tool("update_assistant", {"id": 14, "max_call_duration": 900})
    assert "update_assistant" not in viewer_tools
    assert "list_changes" in viewer_tools
    schema = listed["update_assistant"].input_schema["properties"]
    assert schema["max_call_duration"]["maximum"] == 600
    assert "system_prompt" not in schema
    assert over.is_error
    assert denied.is_error
    assert not fine.is_error
    assert not other.is_error  # the top-level policy has no bound on max_call_duration
    store = SqliteJournal(journal, api=sandbox.base_url)
    await store.open()
    entries = await store.list(ChangeFilter(account=fingerprint(DEMO_KEY)), 10)
    await store.aclose()
    assert [(e.actor, e.assistant_id) for e in entries][::-1][0] == ("token:ops", 12)
    assert entries[0].actor.startswith("token:token-")
    assert [r.body for r in sandbox.state.updates()] == [{"max_call_duration": 500}, {"max_call_duration": 900}]


async def test_confirmation_works_over_stateless_http(sandbox: SandboxServer, tmp_path: Path):
    """Over stateless HTTP the question rides an input_required answer; the person's decline sends nothing."""
    import mcp_types as types

    policy = tmp_path / "policy.toml"
    policy.write_text('confirm = "always"\n', "utf-8")
    settings = Settings(
        base_url=sandbox.base_url,
        api_key=SecretStr(DEMO_KEY),
        retries=0,
        http_tokens=[SecretStr("ops:ops-token-2")],
        policy=policy,
        journal=str(tmp_path / "journal.sqlite3"),
    )
    answers = iter(["decline", "accept"])
    asked: list[str] = []

    async def person(context: object, params: types.ElicitRequestParams) -> types.ElicitResult:
        asked.append(params.message)
        action = next(answers)
        return types.ElicitResult(action=action, content={"apply": True} if action == "accept" else None)  # type: ignore[arg-type]

    with ThreadedServer(create_app(settings), lifespan="on") as server:
        async with (
            httpx2.AsyncClient(headers={"Authorization": "Bearer ops-token-2"}, timeout=30) as http,
            Client(
                streamable_http_client(f"{server.base_url}/mcp", http_client=http), elicitation_callback=person
            ) as c,
        ):
            declined = await c.call_tool("update_assistant", {"id": 12, "max_call_duration": 300})
            assert sandbox.state.updates() == []
            accepted = await c.call_tool("update_assistant", {"id": 12, "max_call_duration": 300})
    assert (declined.structured_content or {})["error"]["kind"] == "declined_by_user"
    assert not accepted.is_error
    assert len(asked) == 2
    assert "max_call_duration: 600 → 300" in asked[0]
    assert [r.body for r in sandbox.state.updates()] == [{"max_call_duration": 300}]


async def test_with_per_user_keys_each_caller_sees_only_its_own_changes(sandbox: SandboxServer, tmp_path: Path):
    """Per-user mode: list_changes and undo_change are limited to changes made with the caller's own key."""
    from sondos_mcp.sandbox import OTHER_KEY

    settings = Settings(
        base_url=sandbox.base_url, retries=0, http_auth="per_user", journal=str(tmp_path / "journal.sqlite3")
    )
    with ThreadedServer(create_app(settings), lifespan="on") as server:

        @asynccontextmanager
        async def as_key(key: str) -> AsyncIterator[Client]:
            async with (
                httpx2.AsyncClient(headers={"X-Sondos-Api-Key": key}, timeout=30) as http,
                Client(streamable_http_client(f"{server.base_url}/mcp", http_client=http)) as client,
            ):
                yield client

        async with as_key(DEMO_KEY) as mine:
            applied = await mine.call_tool("update_assistant", {"id": 12, "max_call_duration": 300})
        async with as_key(OTHER_KEY) as theirs:
            await theirs.call_tool("update_assistant", {"id": 21, "max_call_duration": 300})
            listed = (await theirs.call_tool("list_changes", {})).structured_content or {}
            undo = await theirs.call_tool("undo_change", {"id": (applied.structured_content or {})["change_id"]})
    assert [c["assistant_id"] for c in listed["changes"]] == [21]
    assert all(c["actor"].startswith("key:") for c in listed["changes"])
    assert DEMO_KEY not in str(listed)
    assert OTHER_KEY not in str(listed)
    assert undo.is_error
    assert (undo.structured_content or {})["error"]["kind"] == "not_found"
