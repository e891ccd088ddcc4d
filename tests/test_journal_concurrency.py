"""Two HTTP worker processes sharing one journal behave as one process would: every change sent upstream
is journaled once, intact, with the value the API held just before it; an undo runs once."""

from __future__ import annotations

import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest

from sondos_mcp.client import fingerprint
from sondos_mcp.journal import ChangeFilter, JournalStore
from sondos_mcp.journal.sqlite import SqliteJournal
from sondos_mcp.sandbox import DEMO_KEY, SandboxServer
from tests.conftest import start_http_server
from tests.postgres_cluster import Cluster, pg_cluster  # noqa: F401 - the fixture

pytestmark = pytest.mark.anyio

CLIENTS = 64
CALLS_EACH = 3
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "Authorization": "Bearer ops-token-9f2c",
    "MCP-Protocol-Version": "2025-11-25",
}
ASSISTANTS = [12, 14, 16, 101]  # contended: 64 clients share four assistants


def start_workers(sandbox: SandboxServer, journal_env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    settings = {
        "SONDOS_BASE_URL": sandbox.base_url,
        "SONDOS_API_KEY": DEMO_KEY,
        "SONDOS_HTTP_TOKENS": "ops:ops-token-9f2c",
        "SONDOS_RETRIES": "0",
        "SONDOS_TIMEOUT": "30",
        **journal_env,
    }
    return start_http_server(settings, "--workers", "2")


async def call(http: httpx.AsyncClient, base: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    response = await http.post(f"{base}/mcp", content=json.dumps(body))
    result: dict[str, Any] = response.json()["result"]
    return result


async def hammer(
    base: str, arguments_for: Any, clients: int = CLIENTS, calls: int = CALLS_EACH
) -> list[dict[str, Any]]:
    """`clients` clients at once, each applying `calls` changes through its own connection."""
    answers: list[dict[str, Any]] = []

    async def one_client(n: int) -> None:
        async with httpx.AsyncClient(headers=HEADERS, timeout=60) as http:
            for k in range(calls):
                answers.append(await call(http, base, "update_assistant", arguments_for(n * calls + k)))

    async with anyio.create_task_group() as tg:
        for n in range(clients):
            tg.start_soon(one_client, n)
    return answers


def contended(i: int) -> dict[str, Any]:
    """Four assistants, a field the list shows and one it does not, every body unique."""
    return {
        "id": ASSISTANTS[i % len(ASSISTANTS)],
        "max_silence_duration": 1 + i % 120,
        "speech_speed": 0.7 + (i // 120) / 100,
    }


async def read_journal(store: JournalStore, base_url: str) -> list[Any]:
    await store.open()
    try:
        return await store.list(ChangeFilter(account=fingerprint(DEMO_KEY)), 10_000)
    finally:
        await store.aclose()


@pytest.fixture(params=["sqlite", "postgres"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[dict[str, str], JournalStore]]:
    sandbox: SandboxServer = request.getfixturevalue("sandbox")
    if request.param == "sqlite":
        path = tmp_path / "journal.sqlite3"
        yield {"SONDOS_JOURNAL": str(path)}, SqliteJournal(path, api=sandbox.base_url)
        return
    from sondos_mcp.journal.postgres import PostgresJournal

    cluster: Cluster = request.getfixturevalue("pg_cluster")
    url = cluster.create_database("conc" + os.urandom(3).hex())
    yield {"SONDOS_JOURNAL_URL": url}, PostgresJournal(url, api=sandbox.base_url)


async def test_two_workers_order_changes_as_one_process_would_and_undo_once(
    sandbox: SandboxServer, journal: tuple[dict[str, str], JournalStore]
):
    """64 clients on two workers change four assistants at once. Every PUT the API received has exactly
    one applied journal entry with the same assistant and fields, and each journaled before-value
    equals the value the API replaced (the sandbox records it per PUT), for a field the list shows and
    for one only the journal knows; a value never known is unknown, never guessed. Then two
    simultaneous undo_change calls of one change, through the two workers: one undoes, one is refused."""
    env, store = journal
    proc, base = start_workers(sandbox, env)
    try:
        answers = await hammer(base, contended)
        puts = {(int(p.path.rsplit("/", 1)[1]), json.dumps(p.body, sort_keys=True)): p for p in sandbox.state.updates()}
        entries = await read_journal(store, sandbox.base_url)
        assert [a for a in answers if a["isError"]] == []
        undone = [await undo_twice_at_once(sandbox, base, trial) for trial in range(3)]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert len(entries) == len(puts) == CLIENTS * CALLS_EACH
    assert {(e.assistant_id, json.dumps(e.fields, sort_keys=True)) for e in entries} == set(puts)
    assert {e.outcome for e in entries} == {"applied"}
    assert {e.actor for e in entries} == {"token:ops"}
    assert {a["structuredContent"]["change_id"] for a in answers} == {e.id for e in entries}
    first = {e.assistant_id: e.id for e in sorted(entries, key=lambda e: -e.seq)}
    checked: Counter[str] = Counter()
    for entry in entries:
        put = puts[(entry.assistant_id, json.dumps(entry.fields, sort_keys=True))]
        assert put.prior is not None
        for name, before in entry.before.items():
            if before.known:
                assert before.value == put.prior[name], (entry.id, name)
                checked[name] += 1
            else:
                # speech_speed is not in the list: unknown until this journal has set it once.
                assert (name, entry.id) == ("speech_speed", first[entry.assistant_id])
    assert checked["max_silence_duration"] == len(entries)
    assert checked["speech_speed"] == len(entries) - 4
    for errors, puts_sent in undone:
        assert errors == [False, True]
        assert puts_sent == 1


async def undo_twice_at_once(sandbox: SandboxServer, base: str, trial: int) -> tuple[list[bool], int]:
    """A change to assistant 13, then two undos of it at once, each on its own connection (so either
    worker may take either): which failed, and how many PUTs the undos sent."""
    async with httpx.AsyncClient(headers=HEADERS, timeout=60) as http:
        changed = await call(http, base, "update_assistant", {"id": 13, "max_call_duration": 300 + trial})
    change_id = changed["structuredContent"]["change_id"]
    sandbox.state.reset_log()
    answers: list[dict[str, Any]] = []

    async def undo() -> None:
        async with httpx.AsyncClient(headers=HEADERS, timeout=60) as own:
            answers.append(await call(own, base, "undo_change", {"id": change_id, "force": True}))

    async with anyio.create_task_group() as tg:
        tg.start_soon(undo)
        tg.start_soon(undo)
    return sorted(a["isError"] for a in answers), len(sandbox.state.updates())
