"""Two HTTP worker processes, 32 concurrent clients: every change sent upstream is journaled, once, intact."""

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

from sondos_mcp.journal import ChangeFilter, JournalStore
from sondos_mcp.journal.sqlite import SqliteJournal
from sondos_mcp.sandbox import DEMO_KEY, SandboxServer
from tests.conftest import start_http_server
from tests.postgres_cluster import Cluster, pg_cluster  # noqa: F401 - the fixture

pytestmark = pytest.mark.anyio

CLIENTS = 32
CALLS_EACH = 3
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "Authorization": "Bearer ops-token-9f2c",
    "MCP-Protocol-Version": "2025-11-25",
}
ASSISTANTS = [12, 13, 14, 15, 16, *range(101, 135)]


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


async def hammer(base: str) -> list[dict[str, Any]]:
    """32 clients at once, each applying 3 changes through its own connection."""
    answers: list[dict[str, Any]] = []

    async def one_client(n: int) -> None:
        async with httpx.AsyncClient(headers=HEADERS, timeout=60) as http:
            for k in range(CALLS_EACH):
                assistant = ASSISTANTS[(n * CALLS_EACH + k) % len(ASSISTANTS)]
                arguments = {"id": assistant, "max_silence_duration": 1 + (n * CALLS_EACH + k) % 120}
                body = {"jsonrpc": "2.0", "id": k, "method": "tools/call"}
                body["params"] = {"name": "update_assistant", "arguments": arguments}
                response = await http.post(f"{base}/mcp", content=json.dumps(body))
                answers.append(response.json()["result"])

    async with anyio.create_task_group() as tg:
        for n in range(CLIENTS):
            tg.start_soon(one_client, n)
    return answers


@pytest.fixture(params=["sqlite", "postgres"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[dict[str, str], JournalStore]]:
    if request.param == "sqlite":
        path = tmp_path / "journal.sqlite3"
        yield {"SONDOS_JOURNAL": str(path)}, SqliteJournal(path)
        return
    from sondos_mcp.journal.postgres import PostgresJournal

    cluster: Cluster = request.getfixturevalue("pg_cluster")
    url = cluster.create_database("conc" + os.urandom(3).hex())
    yield {"SONDOS_JOURNAL_URL": url}, PostgresJournal(url)


async def test_two_workers_and_32_clients_lose_no_journal_entry(
    sandbox: SandboxServer, journal: tuple[dict[str, str], JournalStore]
):
    """Every PUT the API received has exactly one applied journal entry with the same assistant and fields."""
    env, store = journal
    proc, base = start_workers(sandbox, env)
    try:
        answers = await hammer(base)
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert len(answers) == CLIENTS * CALLS_EACH
    assert [a for a in answers if a["isError"]] == []
    await store.open()
    try:
        entries = await store.list(ChangeFilter(), 10_000)
    finally:
        await store.aclose()
    puts = sandbox.state.updates()
    assert len(puts) == CLIENTS * CALLS_EACH
    assert len(entries) == len(puts)
    sent = Counter((int(p.path.rsplit("/", 1)[1]), json.dumps(p.body, sort_keys=True)) for p in puts)
    journaled = Counter((e.assistant_id, json.dumps(e.fields, sort_keys=True)) for e in entries)
    assert journaled == sent
    assert {e.outcome for e in entries} == {"applied"}
    assert {e.actor for e in entries} == {"token:ops"}
    assert len({e.id for e in entries}) == len(entries)
    assert {a["structuredContent"]["change_id"] for a in answers} == {e.id for e in entries}
