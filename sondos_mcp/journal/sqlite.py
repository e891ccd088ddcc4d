"""The default journal store: one SQLite file, WAL mode, shared safely by several processes.

Each operation is one short transaction on this process's connection, run in a worker thread
so the event loop never waits on the file; other processes (`--workers N`) wait on SQLite's
own lock (busy timeout), never see a half-written row, and never lose one.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread

from sondos_mcp.journal.store import (
    COLUMNS,
    INSERT,
    INSERT_COLUMNS,
    INSERT_VALUES,
    MIGRATIONS,
    SCHEMA_VERSION,
    ChangeEntry,
    ChangeFilter,
    JournalError,
    NewChange,
    change_params,
    collect_latest,
    entry_from_row,
    filter_sql,
    last_value_of,
    latest_params,
    latest_sql,
    scope,
    utc_now,
)

T = TypeVar("T")

_INSERT = INSERT.format(p="?")
# The same row, written only if no other connection committed since the version the caller read.
_INSERT_IF_UNCHANGED = (
    f"INSERT INTO changes {INSERT_COLUMNS} SELECT {INSERT_VALUES.format(p='?')} "
    "WHERE (SELECT data_version FROM pragma_data_version) = ?"
)


class _Busy(Exception):
    """Another process holds the journal's write lock right now."""


class SqliteJournal:
    kind = "sqlite"

    def __init__(self, path: Path, api: str | None = None) -> None:
        self.path = path
        self.api = api  # entries of other APIs are invisible to this store
        # [in place, never waits; in a thread, waits for the lock]
        self._conns: list[sqlite3.Connection | None] = [None, None]
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"SqliteJournal({str(self.path)!r})"

    # --- plumbing ---

    def _connect(self, busy_ms: int) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=busy_ms / 1000, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={busy_ms}")
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL is durable across process crashes in WAL mode; only a power loss can drop the last commits.
            conn.execute("PRAGMA synchronous=NORMAL")
        except (OSError, sqlite3.Error) as exc:
            raise JournalError(f"cannot open the journal at {self.path}: {exc}") from exc
        return conn

    def _run(self, work: Callable[[sqlite3.Connection], T], write: bool, wait: bool) -> T:
        """One transaction: `write` wraps several statements in one; otherwise `work` runs a single
        statement, which SQLite makes atomic by itself. Without `wait`, a busy database raises
        `_Busy` at once instead of waiting."""
        with self._lock:
            index = 1 if wait else 0
            if self._conns[index] is None:
                self._conns[index] = self._connect(30_000 if wait else 0)
            conn = self._conns[index]
            assert conn is not None
            try:
                if not write:
                    # One statement is its own transaction: no BEGIN/COMMIT round to pay for.
                    return work(conn)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    result = work(conn)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return result
            except sqlite3.OperationalError as exc:
                if not wait and exc.sqlite_errorcode in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")
                    raise _Busy from exc
                raise JournalError(f"journal at {self.path}: {exc}") from exc
            except sqlite3.Error as exc:
                raise JournalError(f"journal at {self.path}: {exc}") from exc

    async def _call(self, work: Callable[[sqlite3.Connection], T], write: bool = False) -> T:
        # A transaction on an idle journal takes tens of microseconds: run it in place, which is
        # cheaper than a thread hop. Only when another process holds the lock, wait in a thread,
        # so the event loop never blocks on it.
        try:
            return self._run(work, write, wait=False)
        except _Busy:
            return await anyio.to_thread.run_sync(lambda: self._run(work, write, wait=True))

    # --- the protocol ---

    async def open(self) -> None:
        await anyio.to_thread.run_sync(lambda: self._run(_migrate, True, wait=True))

    async def version(self) -> int | None:
        # data_version moves when any other connection commits (other processes, and this
        # store's own waiting connection); it is per connection, so only the in-place one answers.
        try:
            return self._run(_data_version, False, wait=False)
        except _Busy:
            return None

    async def schema_version(self) -> int:
        return await self._call(_version)

    async def begin(self, change: NewChange, since: int | None = None) -> bool:
        params = change_params(change, self.api)
        if since is None:
            await self._call(lambda c: c.execute(_INSERT, params))
            return True
        try:
            # One statement, so one implicit transaction: the version is read under the write lock.
            return self._run(
                lambda c: c.execute(_INSERT_IF_UNCHANGED, (*params, since)).rowcount == 1, False, wait=False
            )
        except _Busy:
            # Another process is writing right now, and versions only compare on the in-place
            # connection: the caller reads the before-values again and records without the check.
            return False

    async def finish(self, change_id: str, outcome: str, detail: str | None = None) -> None:
        sql = "UPDATE changes SET outcome = ?, detail = ?, finished_at = ? WHERE id = ?"
        await self._call(lambda c: c.execute(sql, (outcome, detail, utc_now(), change_id)))

    async def list(self, flt: ChangeFilter, limit: int) -> list[ChangeEntry]:
        where, params = filter_sql(flt, "?", self.api)
        sql = f"SELECT {COLUMNS} FROM changes{where} ORDER BY seq DESC LIMIT ?"
        rows = await self._call(lambda c: c.execute(sql, [*params, limit]).fetchall())
        return [entry_from_row(r) for r in rows]

    async def get(self, change_id: str) -> ChangeEntry | None:
        clause, extra = scope("?", self.api)
        sql = f"SELECT {COLUMNS} FROM changes WHERE id = ?{clause}"
        row = await self._call(lambda c: c.execute(sql, (change_id, *extra)).fetchone())
        return entry_from_row(row) if row else None

    async def later(self, assistant_id: int, after_seq: int) -> list[ChangeEntry]:
        clause, extra = scope("?", self.api)
        sql = f"SELECT {COLUMNS} FROM changes WHERE assistant_id = ? AND seq > ?{clause} ORDER BY seq"
        rows = await self._call(lambda c: c.execute(sql, (assistant_id, after_seq, *extra)).fetchall())
        return [entry_from_row(r) for r in rows]

    async def latest_values(self, assistant_id: int, fields: Sequence[str]) -> dict[str, tuple[Any, str]]:
        if not fields:
            return {}
        sql = latest_sql("?", fields, self.api)
        params = latest_params(assistant_id, fields, self.api)

        # The cursor is read lazily: the walk stops at the newest rows in the usual case.
        def walk(c: sqlite3.Connection) -> dict[str, tuple[Any, str]]:
            cursor = c.execute(sql, params)
            try:
                return collect_latest(cursor, fields)
            finally:
                cursor.close()  # the walk may stop early: end the statement, releasing its snapshot

        return await self._call(walk)

    async def last_value(self, assistant_id: int, field: str) -> tuple[bool, Any]:
        # Newest first, stopping at the first row that really sets the field (LIKE only narrows).
        clause, extra = scope("?", self.api)
        sql = (
            "SELECT fields FROM changes WHERE assistant_id = ? AND outcome = 'applied' AND fields LIKE ?"
            f"{clause} ORDER BY seq DESC"
        )
        pattern = "%" + json.dumps(field) + "%"

        def first(c: sqlite3.Connection) -> tuple[bool, Any]:
            cursor = c.execute(sql, (assistant_id, pattern, *extra))
            try:
                for (text,) in cursor:
                    found = last_value_of([text], field)
                    if found[0]:
                        return found
                return False, None
            finally:
                cursor.close()

        return await self._call(first)

    async def aclose(self) -> None:
        with self._lock:
            for conn in self._conns:
                if conn is not None:
                    conn.close()
            self._conns = [None, None]


def _data_version(conn: sqlite3.Connection) -> int:
    return int(conn.execute("PRAGMA data_version").fetchone()[0])


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
