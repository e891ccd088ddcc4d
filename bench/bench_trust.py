"""Trust benchmark: a change set at scale, before-values under concurrency, the journal under made-up keys.

Three figures, one Markdown table each, with the target from the issue:

1. A change set of N members: `update_assistants` {query, changes} through an in-memory MCP
   session with the default settings (so the default call deadline, timeout 15 + 5 = 20 s), the
   sandbox seeded with N extra assistants whose names share a word. Wall time (median of the
   repeats), the list requests and PUTs the sandbox received, the pages of the list.
   Target: within the deadline; list reads ~ pages, not members × pages.
2. Before-values under concurrency: 2 HTTP workers on one journal (SQLite; PostgreSQL too when a
   throwaway cluster starts), 64 clients, 2,000 `update_assistant` changes on 4 assistants, each
   body unique, setting a field the list shows (max_silence_duration) and one it does not
   (speech_speed). Every journaled before-value is held to the value the sandbox replaced (the
   `prior` of the matching PUT). Target: 0 wrong; unknown only for each assistant's first
   speech_speed change.
3. Journal growth with made-up keys: an HTTP server in per-user-key mode, 300 `update_assistant`
   calls, each with a different made-up key and a 200 KB system_prompt. Target: < 1 MB of journal
   (SQLite file plus its -wal) per 100 refused calls.

The sandbox API runs in this process, in a thread (its request log is what the figures are
checked against); the HTTP servers are the installed `sondos-mcp` in processes of their own.

Run: `python bench/bench_trust.py [--quick]` (--quick: 1 repeat, 500 changes, 100 made-up keys).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import secrets
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
# For tests.postgres_cluster; appended, so that the installed sondos_mcp wins over the source tree.
sys.path.append(str(Path(__file__).resolve().parent.parent))
from bench_core import free_port, wait_healthy
from bench_faults import command
from bench_http import HEADERS

LIST_PATH = "/user/assistants/get"
SET_WORD = "Fleet"  # every seeded assistant's name holds it; the change set's query
CONTENDED = (12, 13, 14, 15)
TOKEN = "ops:bench-trust-token"


def table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])


def start_http(settings: dict[str, str], log: Path, *args: str) -> tuple[subprocess.Popen[bytes], str]:
    """The installed server over HTTP on a free port, configured by `settings` (SONDOS_*) alone; stderr to `log`."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")} | {"PYTHONSAFEPATH": "1"} | settings
    with log.open("ab") as err:
        proc = subprocess.Popen(
            [*command(), "--transport", "http", "--port", str(port), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
    base = f"http://127.0.0.1:{port}"
    wait_healthy(f"{base}/healthz")
    return proc, base


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    proc.wait(timeout=30)


async def call_tool(http: httpx.AsyncClient, base: str, tool: str, arguments: dict[str, Any], **kw: Any) -> Any:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    response = await http.post(f"{base}/mcp", content=json.dumps(body), **kw)
    return response.json()["result"]


# --- 1. a change set of N members ------------------------------------------------------------


def fleet_sandbox(members: int) -> Any:
    """The sandbox with `members` more assistants of the demo account, seeded as data.py seeds its own."""
    from sondos_mcp.sandbox import SandboxServer, SandboxState
    from sondos_mcp.sandbox.data import _assistant

    state = SandboxState()
    for i in range(members):
        id_ = 1000 + i
        kind = "outbound" if i % 2 else "inbound"
        state.assistants[id_] = _assistant(
            id_, 1, f"{SET_WORD} Agent {i:04d}", kind, "pipeline" if i % 3 else "multimodal"
        )
    return SandboxServer(state=state)


async def change_set(members: int, value: int, journal: Path) -> dict[str, Any]:
    """One `update_assistants` call over a fresh sandbox and server; what it took and what the API saw."""
    from mcp import Client
    from pydantic import SecretStr

    from sondos_mcp.assistants import PAGE
    from sondos_mcp.config import Settings
    from sondos_mcp.sandbox import DEMO_KEY
    from sondos_mcp.server import build_server

    with fleet_sandbox(members) as sandbox:
        settings = Settings(base_url=sandbox.base_url, api_key=SecretStr(DEMO_KEY), journal=str(journal))
        async with Client(build_server(settings)) as client:
            sandbox.state.reset_log()
            start = time.perf_counter()
            result = await client.call_tool(
                "update_assistants", {"query": SET_WORD, "changes": {"max_call_duration": value}}
            )
            elapsed = time.perf_counter() - start
    state = sandbox.state
    total = sum(a["user_id"] == 1 for a in state.assistants.values())
    return {
        "seconds": elapsed,
        "deadline": settings.deadline,
        "lists": sum(r.method == "GET" and r.path == LIST_PATH for r in state.received),
        "puts": len(state.updates()),
        "pages": math.ceil(total / PAGE),
        "error": result.content[0].text.splitlines()[0] if result.is_error else None,
    }


def figure_change_sets(sizes: list[int], repeats: int) -> str:
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="bench-trust-sets-"))
    for members in sizes:
        runs = [
            asyncio.run(change_set(members, 300 + r, tmp / f"journal-{members}-{r}.sqlite3")) for r in range(repeats)
        ]
        seconds = statistics.median(r["seconds"] for r in runs)
        last = runs[-1]
        errors = [r["error"] for r in runs if r["error"]]
        within = seconds <= last["deadline"] and not errors
        reads_ok = all(r["lists"] <= r["pages"] + 1 for r in runs)  # the list once, and a page to spare
        rows.append(
            [
                f"{members:,}",
                f"{seconds:.2f} s",
                f"{min(r['seconds'] for r in runs):.2f}–{max(r['seconds'] for r in runs):.2f} s",
                " / ".join(str(r["lists"]) for r in runs),
                str(last["pages"]),
                " / ".join(str(r["puts"]) for r in runs),
                f"≤ {last['deadline']:g} s; list reads ~ pages (not {members * last['pages']:,})",
                ("ok" if within and reads_ok else "MISSED") + (f": {errors[0]}" if errors else ""),
            ]
        )
    head = f"### 1. Change set of N members (update_assistants by query, in-memory session; median of {repeats})\n\n"
    header = ["members", "wall time", "range", "list requests", "pages", "PUTs", "target", ""]
    return head + table(header, rows)


# --- 2. before-values under concurrency ------------------------------------------------------


def contended(i: int) -> dict[str, Any]:
    """Four assistants, a field the list shows and one it does not, every body unique."""
    return {
        "id": CONTENDED[i % len(CONTENDED)],
        "max_silence_duration": 1 + i % 120,
        "speech_speed": round(0.7 + (i // 120) / 100, 2),
    }


async def hammer(base: str, bodies: list[dict[str, Any]], clients: int) -> tuple[list[Any], float]:
    """`clients` clients at once, each on its own connection, taking the next body until none is left."""
    headers = HEADERS | {"Authorization": "Bearer " + TOKEN.split(":", 1)[1]}
    todo = iter(bodies)
    answers: list[Any] = []

    async def one_client() -> None:
        async with httpx.AsyncClient(headers=headers, timeout=60) as http:
            for arguments in todo:
                answers.append(await call_tool(http, base, "update_assistant", arguments))

    start = time.perf_counter()
    await asyncio.gather(*(one_client() for _ in range(clients)))
    return answers, time.perf_counter() - start


async def read_journal(store: Any) -> list[Any]:
    from sondos_mcp.client import fingerprint
    from sondos_mcp.journal import ChangeFilter
    from sondos_mcp.sandbox import DEMO_KEY

    await store.open()
    try:
        return await store.list(ChangeFilter(account=fingerprint(DEMO_KEY)), 10_000)
    finally:
        await store.aclose()


def before_values_run(journal_for: Callable[[str], tuple[dict[str, str], Any]], changes: int, log: Path) -> Counter:
    """One run on a fresh sandbox and journal: each journaled before-value against the PUT's `prior`."""
    from sondos_mcp.sandbox import DEMO_KEY, SandboxServer

    with SandboxServer() as sandbox:
        env, store = journal_for(sandbox.base_url)
        settings = {
            "SONDOS_BASE_URL": sandbox.base_url,
            "SONDOS_API_KEY": DEMO_KEY,
            "SONDOS_HTTP_TOKENS": TOKEN,
            "SONDOS_RETRIES": "0",
            "SONDOS_TIMEOUT": "30",
            **env,
        }
        proc, base = start_http(settings, log, "--workers", "2")
        try:
            answers, seconds = asyncio.run(hammer(base, [contended(i) for i in range(changes)], 64))
        finally:
            stop(proc)
        puts = {(int(p.path.rsplit("/", 1)[1]), json.dumps(p.body, sort_keys=True)): p for p in sandbox.state.updates()}
    entries = asyncio.run(read_journal(store))
    first = {}
    for entry in sorted(entries, key=lambda e: e.seq):
        first.setdefault(entry.assistant_id, entry.id)
    count: Counter = Counter(changes=len(entries), errors=sum(bool(a.get("isError")) for a in answers))
    count["seconds"] = seconds
    # Unmatched: an entry without its applied PUT, or a PUT without its entry.
    count["unmatched"] = abs(len(puts) - len(entries))
    for entry in entries:
        put = puts.get((entry.assistant_id, json.dumps(entry.fields, sort_keys=True)))
        if put is None or put.prior is None or entry.outcome != "applied":
            count["unmatched"] += 1
            continue
        for name, before in entry.before.items():
            if not before.known:
                first_speed = name == "speech_speed" and entry.id == first[entry.assistant_id]
                count["unknown (expected)" if first_speed else "unknown (unexpected)"] += 1
            elif before.value == put.prior[name]:
                count["known, right"] += 1
            else:
                count["known, WRONG"] += 1
    return count


def figure_before_values(changes: int, repeats: int, log: Path) -> str:
    from sondos_mcp.journal.sqlite import SqliteJournal

    tmp = Path(tempfile.mkdtemp(prefix="bench-trust-journal-"))

    def sqlite(base_url: str) -> tuple[dict[str, str], Any]:
        path = tmp / f"{secrets.token_hex(4)}.sqlite3"
        return {"SONDOS_JOURNAL": str(path)}, SqliteJournal(path, api=base_url)

    backends: dict[str, Callable[[str], tuple[dict[str, str], Any]]] = {"SQLite": sqlite}
    cluster, note = start_postgres()
    if cluster is not None:
        from sondos_mcp.journal.postgres import PostgresJournal

        def postgres(base_url: str) -> tuple[dict[str, str], Any]:
            url = cluster.create_database("bench" + secrets.token_hex(4))
            return {"SONDOS_JOURNAL_URL": url}, PostgresJournal(url, api=base_url)

        backends["PostgreSQL"] = postgres
    rows = []
    try:
        for name, journal_for in backends.items():
            runs = [before_values_run(journal_for, changes, log) for _ in range(repeats)]
            total = sum(runs, Counter())
            rates = [r["changes"] / r["seconds"] for r in runs]
            known = total["known, right"] + total["known, WRONG"]
            wrong_ok = total["known, WRONG"] == 0 and total["unknown (unexpected)"] == 0 and not total["unmatched"]
            rows.append(
                [
                    name,
                    f"{changes:,} × {repeats}",
                    str(total["errors"]),
                    f"{known:,} of {2 * total['changes']:,}",
                    str(total["known, WRONG"]),
                    f"{total['unknown (expected)']} expected, {total['unknown (unexpected)']} other",
                    str(total["unmatched"]),
                    f"{statistics.median(rates):.0f} /s ({min(rates):.0f}–{max(rates):.0f})",
                    "ok" if wrong_ok and not total["errors"] else "MISSED",
                ]
            )
    finally:
        if cluster is not None:
            cluster.stop()
    head = (
        "### 2. Before-values under concurrency (2 HTTP workers, 64 clients, 4 assistants; "
        f"throughput median of {repeats})\n\n"
    )
    header = [
        "journal",
        "changes",
        "errors",
        "before-values known",
        "wrong",
        "unknown",
        "unmatched",
        "throughput",
        "target: 0 wrong, unknown = 4 per run",
    ]
    tail = f"\n\n{note}" if note else ""
    return head + table(header, rows) + tail


def start_postgres() -> tuple[Any, str]:
    """A throwaway cluster (tests/postgres_cluster.py), or None and why not."""
    try:
        import psycopg  # noqa: F401

        from tests.postgres_cluster import Cluster, find_bin
    except ImportError as exc:
        return None, f"PostgreSQL skipped: {exc}"
    bin_dir = find_bin()
    if bin_dir is None:
        return None, "PostgreSQL skipped: no server binaries (initdb, pg_ctl)"
    try:
        return Cluster(bin_dir).start(), ""
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"PostgreSQL skipped: the cluster did not start ({exc})"


# --- 3. journal growth with made-up keys -----------------------------------------------------


def journal_state(path: Path) -> dict[str, int]:
    """On disk (the file and its -wal), the database's own size (pages in use, -wal included), its rows."""
    wal = path.with_name(path.name + "-wal")
    with closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True)) as conn:
        pages = conn.execute("PRAGMA page_count").fetchone()[0] * conn.execute("PRAGMA page_size").fetchone()[0]
        rows = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("changes", "assistant_locks")}
    disk = path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)
    return {"file + -wal on disk (B)": disk, "database pages (B)": pages} | {f"rows in {t}": n for t, n in rows.items()}


async def refused_calls(base: str, calls: int, prompt_bytes: int) -> tuple[list[Any], list[float]]:
    answers, timings = [], []
    async with httpx.AsyncClient(headers=HEADERS, timeout=60) as http:
        for n in range(calls):
            key = f"{1000 + n}|made-up-{secrets.token_hex(20)}"
            prompt = f"{n} {secrets.token_hex(16)} ".ljust(prompt_bytes, "x")
            start = time.perf_counter()
            answer = await call_tool(
                http, base, "update_assistant", {"id": 12, "system_prompt": prompt}, headers={"X-Sondos-Api-Key": key}
            )
            timings.append(time.perf_counter() - start)
            answers.append(answer)
    return answers, timings


def figure_made_up_keys(calls: int, log: Path, prompt_bytes: int = 200_000) -> str:
    from sondos_mcp.sandbox import DEMO_KEY, SandboxServer

    path = Path(tempfile.mkdtemp(prefix="bench-trust-keys-")) / "journal.sqlite3"
    with SandboxServer() as sandbox:
        settings = {"SONDOS_BASE_URL": sandbox.base_url, "SONDOS_HTTP_AUTH": "per_user", "SONDOS_JOURNAL": str(path)}
        proc, base = start_http(settings, log)
        try:

            async def opening_change() -> Any:  # a real change with the demo key: the journal opened and migrated
                async with httpx.AsyncClient(headers=HEADERS | {"X-Sondos-Api-Key": DEMO_KEY}, timeout=60) as http:
                    return await call_tool(http, base, "update_assistant", {"id": 12, "max_call_duration": 301})

            assert not asyncio.run(opening_change())["isError"]
            before = journal_state(path)
            answers, timings = asyncio.run(refused_calls(base, calls, prompt_bytes))
            after = journal_state(path)
        finally:
            stop(proc)
        made_up = [r for r in sandbox.state.received if r.authorization != f"Bearer {DEMO_KEY}"]
    kinds = Counter((a.get("structuredContent") or {}).get("error", {}).get("kind", "?") for a in answers)
    refused = sum(bool(a.get("isError")) for a in answers)
    upstream = Counter(f"{r.method} {r.path}" for r in made_up)
    rows = [
        ["calls refused", "", f"{refused} of {calls}", "", ", ".join(f"{k} {v}" for k, v in kinds.items())],
        [
            "made-up keys' requests upstream",
            "",
            str(len(made_up)),
            "",
            ", ".join(f"{k} {v}" for k, v in upstream.items()),
        ],
        ["median refused call", "", f"{statistics.median(timings) * 1000:.1f} ms", "", f"{prompt_bytes:,} B prompt"],
    ]
    for measure in before:
        per_100 = (after[measure] - before[measure]) * 100 / calls
        target = "< 1 MB" if measure.endswith("(B)") else ""
        verdict = ("ok" if per_100 < 1_000_000 else "MISSED") if target else ""
        rows.append([measure, f"{before[measure]:,}", f"{after[measure]:,}", f"{per_100:,.0f}", f"{target} {verdict}"])
    head = f"### 3. Journal growth with made-up keys (per-user-key mode, {calls} keys, one call each)\n\n"
    note = (
        "\n\nThe -wal is SQLite's write-ahead log: it grows by the pages each write transaction touches until "
        "the auto-checkpoint (1,000 pages, about 4 MB), then is written again from its start (unless a long read "
        "holds the checkpoint back). The database pages are what stays."
    )
    return head + table(["measure", "before", "after", "per 100 refused calls", "target / note"], rows) + note


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 repeat, 500 changes, 100 made-up keys")
    parser.add_argument("--repeats", type=int, help="repeats of the timed figures (default 3; --quick 1)")
    args = parser.parse_args()
    repeats = args.repeats or (1 if args.quick else 3)
    log = Path(tempfile.mkdtemp(prefix="bench-trust-")) / "servers.log"

    print(figure_change_sets([100, 1000], repeats), flush=True)
    print()
    print(figure_before_values(500 if args.quick else 2000, repeats, log), flush=True)
    print()
    print(figure_made_up_keys(100 if args.quick else 300, log), flush=True)
    print(
        f"\nmachine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; the sandbox API runs in this process; "
        f"server stderr in {log}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
