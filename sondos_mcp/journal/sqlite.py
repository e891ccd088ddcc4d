"""The default journal store: one SQLite file, WAL mode, shared safely by several processes.

Each operation is one short transaction on this process's connection, run in a worker thread
so the event loop never waits on the file; other processes (`--workers N`) wait on SQLite's
own lock (busy timeout), never see a half-written row, and never lose one.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread

from sondos_mcp.journal.store import (
    COLUMNS,
    INSERT,
    MIGRATIONS,
    SCHEMA_VERSION,
    ChangeEntry,
    ChangeFilter,
    JournalError,
    NewChange,
    change_params,
    entry_from_row,
    filter_sql,
    last_value_of,
    utc_now,
)

T = TypeVar("T")


class SqliteJournal:
    kind = "sqlite"

    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SqliteJournal({str(self.path)!r})"

    # --- plumbing ---

    def _connect(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across process crashes in WAL mode; only a power loss can drop the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open the journal at {self.path}: {exc}") from exc
        return conn

    def _run(self, work: Callable[[sqlite3.Connection], T], write: bool = False) -> T:
        with self._lock:
            if self._conn is None:
                self._conn = self._connect()
            conn = self._conn
            try:
                conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                try:
                    result = work(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return result
            except sqlite3.Error as exc:
                raise JournalError(f"journal at {self.path}: {exc}") from exc

    async def _call(self, work: Callable[[sqlite3.Connection], T], write: bool = False) -> T:
        return await anyio.to_thread.run_sync(lambda: self._run(work, write))

    # --- the protocol ---

    async def open(self) -> None:
        await self._call(_migrate, write=True)

    def open_sync(self) -> None:
        self._run(_migrate, write=True)

    async def schema_version(self) -> int:
        return await self._call(_version)

    async def begin(self, change: NewChange) -> None:
        sql = INSERT.format(p="?")
        await self._call(lambda c: c.execute(sql, change_params(change)), write=True)

    async def finish(self, change_id: str, outcome: str, detail: str | None = None) -> None:
        sql = "UPDATE changes SET outcome = ?, detail = ?, finished_at = ? WHERE id = ?"
        await self._call(lambda c: c.execute(sql, (outcome, detail, utc_now(), change_id)), write=True)

    async def list(self, flt: ChangeFilter, limit: int) -> list[ChangeEntry]:
        where, params = filter_sql(flt, "?")
        sql = f"SELECT {COLUMNS} FROM changes{where} ORDER BY seq DESC LIMIT ?"
        rows = await self._call(lambda c: c.execute(sql, [*params, limit]).fetchall())
        return [entry_from_row(r) for r in rows]

    async def get(self, change_id: str) -> ChangeEntry | None:
        sql = f"SELECT {COLUMNS} FROM changes WHERE id = ?"
        row = await self._call(lambda c: c.execute(sql, (change_id,)).fetchone())
        return entry_from_row(row) if row else None

    async def later(self, assistant_id: int, after_seq: int) -> list[ChangeEntry]:
        sql = f"SELECT {COLUMNS} FROM changes WHERE assistant_id = ? AND seq > ? ORDER BY seq"
        rows = await self._call(lambda c: c.execute(sql, (assistant_id, after_seq)).fetchall())
        return [entry_from_row(r) for r in rows]

    async def last_value(self, assistant_id: int, field: str) -> tuple[bool, Any]:
        sql = (
            "SELECT fields FROM changes WHERE assistant_id = ? AND outcome = 'applied' AND fields LIKE ? "
            "ORDER BY seq DESC"
        )
        pattern = "%" + json.dumps(field) + "%"
        rows = await self._call(lambda c: c.execute(sql, (assistant_id, pattern)).fetchall())
        return last_value_of([r[0] for r in rows], field)

    async def aclose(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None


def _version(conn: sqlite3.Connection) -> int:
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal_schema'").fetchone()
    if not exists:
        return 0
    row = conn.execute("SELECT max(version) FROM journal_schema").fetchone()
    return int(row[0] or 0)


def _migrate(conn: sqlite3.Connection) -> None:
    version = _version(conn)
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"the journal was written by a newer sondos-mcp (schema {version}, this one knows {SCHEMA_VERSION})"
        )
    for number in range(version + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[number - 1]:
            conn.execute(statement.format(serial="INTEGER PRIMARY KEY AUTOINCREMENT"))
        conn.execute("DELETE FROM journal_schema")
        conn.execute("INSERT INTO journal_schema (version) VALUES (?)", (number,))
