"""The trust failures found by trying the journal, undo and change sets as an attacker and as a busy
team would, each end to end through a real MCP session to the sandbox API on loopback. Each test
was run against the code before the fix and failed there."""

from __future__ import annotations

import os
import sqlite3
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from pydantic import SecretStr

from sondos_mcp.sandbox import DEMO_KEY, OTHER_KEY, SandboxServer
from sondos_mcp.server import build_server
from tests.conftest import call, make_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite3"


@pytest.fixture
async def client(sandbox: SandboxServer, journal_path: Path) -> AsyncIterator[Client]:
    async with Client(build_server(make_settings(sandbox.base_url, journal=str(journal_path)))) as session:
        yield session


def journal_bytes(path: Path) -> int:
    """The journal's size with its write-ahead log folded in (the log's own length is reused space)."""
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    return path.stat().st_size


class PerUserKeys:
    """One server in per-user-key mode; `key` is what the current caller sends."""

    def __init__(self) -> None:
        self.key = DEMO_KEY

    def __call__(self, _: Any) -> SecretStr:
        return SecretStr(self.key)


@pytest.fixture
async def per_user(sandbox: SandboxServer, journal_path: Path) -> AsyncIterator[tuple[Client, PerUserKeys]]:
    keys = PerUserKeys()
    settings = make_settings(sandbox.base_url, journal=str(journal_path), http_auth="per_user")
    async with Client(build_server(settings, request_key=keys)) as session:
        yield session, keys


# 1. One account could read another's settings through the journal.
@pytest.mark.parametrize("intruder", [OTHER_KEY, "7|made-up-key-not-known-to-the-api"])
async def test_a_caller_never_sees_another_accounts_settings_in_its_journal(
    per_user: tuple[Client, PerUserKeys], intruder: str
):
    client, keys = per_user
    secret_hook = "https://hooks.example.com/owner?token=owner-secret-51"
    is_error, _, _ = await call(client, "update_assistant", {"id": 16, "webhook_url": secret_hook})
    assert not is_error
    keys.key = intruder
    is_error, _, _ = await call(client, "update_assistant", {"id": 16, "webhook_url": "https://x.example/hook"})
    assert is_error
    _, listed, text = await call(client, "list_changes", {})
    assert "owner-secret-51" not in str(listed) + text
    assert listed.get("changes", []) == []


# 2. Anyone could grow the journal with made-up keys.
async def test_refused_calls_with_made_up_keys_do_not_grow_the_journal(
    per_user: tuple[Client, PerUserKeys], journal_path: Path
):
    client, keys = per_user
    await call(client, "update_assistant", {"id": 12, "max_call_duration": 300})  # the journal exists
    size = journal_bytes(journal_path)
    for n in range(30):
        keys.key = f"{n}|made-up-key-{n:04d}-xxxxxxxxxxxxxxxxxxxxxx"
        is_error, _, _ = await call(client, "update_assistant", {"id": 12, "system_prompt": "x" * 200_000})
        assert is_error
    assert journal_bytes(journal_path) == size


# 3. Change sets: members x pages of list reads, a page count sent as text, a query past the bound.
async def test_a_change_set_reads_the_list_about_once_per_page(client: Client, sandbox: SandboxServer):
    template = sandbox.state.assistants[12]
    for i in range(1000, 1250):
        sandbox.state.assistants[i] = dict(template, id=i, name=f"Fleet Agent {i}")
    sandbox.state.reset_log()
    is_error, result, _ = await call(
        client, "update_assistants", {"query": "fleet agent", "changes": {"max_call_duration": 300}}
    )
    assert not is_error, result
    lists = [r for r in sandbox.state.received if r.path == "/user/assistants/get"]
    assert len(sandbox.state.updates()) == 250
    assert len(lists) <= 2 * 3  # 3 pages of 100; never members x pages


async def test_a_page_count_sent_as_text_is_read_not_a_crash(client: Client, sandbox: SandboxServer):
    rows = [dict(a, id=i) for i, a in sorted(sandbox.state.assistants.items()) if a["user_id"] == 1]
    page = {"current_page": 1, "data": rows, "per_page": 100, "total": len(rows), "last_page": "1"}
    sandbox.state.fail_next(200, page, method="GET", path="/user/assistants/get", repeat=True)
    is_error, result, _ = await call(
        client, "update_assistants", {"query": "campaign agent 0", "changes": {"max_call_duration": 300}}
    )
    assert not is_error, result
    assert len(result["assistants"]) == 12


async def test_a_change_set_query_never_walks_past_the_page_bound(sandbox: SandboxServer, journal_path: Path):
    page = {"current_page": 1, "data": [{"id": 12, "name": "Riyadh Sales"}], "per_page": 100, "last_page": 5000}
    sandbox.state.fail_next(200, page, method="GET", path="/user/assistants/get", repeat=True)
    settings = make_settings(sandbox.base_url, journal=str(journal_path), max_pages=5)
    async with Client(build_server(settings)) as client:
        is_error, result, _ = await call(
            client, "update_assistants", {"query": "riyadh", "changes": {"max_call_duration": 300}}
        )
    assert is_error
    assert result["error"]["kind"] == "too_many_pages"
    assert len([r for r in sandbox.state.received if r.path == "/user/assistants/get"]) <= 5
    assert sandbox.state.updates() == []


async def test_an_assistant_listed_on_two_pages_is_changed_once(client: Client, sandbox: SandboxServer):
    rows = [dict(a, id=i) for i, a in sorted(sandbox.state.assistants.items()) if a["user_id"] == 1]
    pages = {1: rows[:30], 2: rows[29:]}  # the list shifted while it was read: row 30 twice
    for n in (1, 2):
        body = {"current_page": n, "data": pages[n], "per_page": 100, "last_page": 2}
        sandbox.state.fail_next(200, body, method="GET", path="/user/assistants/get")
    is_error, result, _ = await call(
        client, "update_assistants", {"query": "campaign agent", "changes": {"max_call_duration": 300}, "dry_run": True}
    )
    assert not is_error, result
    ids = [m["id"] for m in result["assistants"]]
    assert len(ids) == len(set(ids)) == 34


# 4. A member whose PUT may have landed was reported failed.
@pytest.mark.parametrize("status", [502, 504])
async def test_a_change_set_member_that_may_have_landed_is_reported_unknown(
    client: Client, sandbox: SandboxServer, status: int
):
    sandbox.state.fail_next(status, {"message": "gateway"}, method="PUT", path="/user/assistant/102")
    is_error, result, _ = await call(
        client, "update_assistants", {"ids": [101, 102, 103], "changes": {"max_call_duration": 300}}
    )
    assert is_error
    assert [m["outcome"] for m in result["assistants"]] == ["applied", "unknown", "not_attempted"]
    _, listed, _ = await call(client, "list_changes", {"assistant_id": 102})
    assert listed["changes"][0]["outcome"] == "unknown"


# 7. Undo overwrote an edit made elsewhere to a field it cannot read.
async def test_undo_never_overwrites_a_field_it_cannot_read_without_force(client: Client, sandbox: SandboxServer):
    await call(client, "update_assistant", {"id": 12, "speech_speed": 0.9})
    _, changed, _ = await call(client, "update_assistant", {"id": 12, "speech_speed": 0.8})
    sandbox.state.assistants[12]["speech_speed"] = 1.15  # the dashboard
    sandbox.state.reset_log()
    is_error, result, text = await call(client, "undo_change", {"id": changed["change_id"]})
    assert is_error
    assert sandbox.state.updates() == []
    assert "force" in text
    is_error, result, _ = await call(client, "undo_change", {"id": changed["change_id"], "force": True})
    assert not is_error, result
    assert sandbox.state.assistants[12]["speech_speed"] == 0.9


# 8. A journal deleted while the server ran went unnoticed.
@pytest.mark.parametrize("damage", [os.remove, lambda p: (os.remove(p), Path(p).write_bytes(b"\0" * 8192))])
async def test_a_journal_deleted_while_serving_refuses_the_next_change_unsent(
    client: Client, sandbox: SandboxServer, journal_path: Path, damage: Callable[[Path], Any]
):
    is_error, _, _ = await call(client, "update_assistant", {"id": 12, "max_call_duration": 300})
    assert not is_error
    damage(journal_path)
    sandbox.state.reset_log()
    is_error, result, _ = await call(client, "update_assistant", {"id": 12, "max_call_duration": 400})
    assert is_error
    assert result["error"]["kind"] == "journal_unavailable"
    assert sandbox.state.updates() == []
