"""The default journal store: one SQLite file, WAL mode, shared safely by several processes.

Each operation is one short transaction on this process's connection, run in a worker thread
so the event loop never waits on the file; other processes (`--workers N`) wait on SQLite's
own lock (busy timeout), never see a half-written row, and never lose one.
"""

from __future__ import annotations

import builtins
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

import anyio.to_thread

from sondos_mcp.errors import AlreadyUndone, JournalError, JournalUnavailable
from sondos_mcp.journal.store import (
    ACQUIRE,
    COLUMNS,
    COUNT_PEOPLE,
    FINISH,
    FORGET_KEY,
    GET_KEY,
    INSERT,
    MIGRATIONS,
    PRUNE,
    PRUNE_TICKETS,
    PUT_KEY,
    RELEASE,
    SCHEMA_VERSION,
    SPEND_TICKET,
    UNDONE_BY,
    ChangeEntry,
    ChangeFilter,
    Last,
    Lease,
    NewChange,
    acquire_params,
    change_params,
    collect_latest,
    entry_from_row,
    filter_sql,
    generations_sql,
    latest_params,
    latest_sql,
    release_params,
    scope,
    utc_now,
)

T = TypeVar("T")

_INSERT = INSERT.format(p="?")
_FINISH = FINISH.format(p="?")
_ACQUIRE = ACQUIRE.format(p="?")
_RELEASE = RELEASE.format(p="?")


class _Busy(Exception):
    """Another process holds the journal's write lock right now."""


class SqliteJournal:
    kind = "sqlite"

    def __init__(self, path: Path, api: str = "") -> None:
        self.path = path
        self.api = api  # entries of other APIs are invisible to this store
        self._identity: tuple[int, int] | None = None  # the file opened: (device, inode)
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
        if self._identity is None:
            await anyio.to_thread.run_sync(lambda: self._run(_migrate, True, wait=True))
            self._identity = self._file_identity()

    def _file_identity(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_dev, stat.st_ino) if stat.st_size > 0 else None

    async def check(self) -> None:
        # A stat costs microseconds; a journal deleted or replaced under a running server would
        # otherwise keep "recording" into a file no one will ever open again.
        if self._identity is not None and self._file_identity() != self._identity:
            raise JournalUnavailable(
                f"The change journal at {self.path} was removed or replaced while the server ran, so nothing was sent",
                hint="Restore the file, or restart the server to start a new journal there.",
            )

    async def schema_version(self) -> int:
        return await self._call(_version)

    async def acquire(self, account: str, assistant_id: int, holder: str, ttl: float) -> Lease | None:
        await self.check()
        now = time.time()
        lease = Lease(account, assistant_id, holder, 0)
        params = acquire_params(self.api, lease, now + ttl, now)
        row = await self._call(lambda c: c.execute(_ACQUIRE, params).fetchone())
        return None if row is None else Lease(account, assistant_id, holder, int(row[0]))

    async def release(self, lease: Lease, *, sent: bool) -> None:
        params = release_params(self.api, lease, sent)
        await self._call(lambda c: c.execute(_RELEASE, params))

    async def generations(self, account: str, assistant_id: int | None = None) -> dict[int, tuple[int, bool]]:
        sql, params = generations_sql("?", self.api, account, assistant_id)
        rows = await self._call(lambda c: c.execute(sql, params).fetchall())
        return {int(a): (int(g), bool(h)) for a, g, h in rows}

    async def begin(self, change: NewChange) -> None:
        await self.check()
        params = change_params(change, self.api)
        try:
            await self._call(lambda c: c.execute(_INSERT, params))
        except JournalError as exc:
            if change.undoes and isinstance(exc.__cause__, sqlite3.IntegrityError):
                raise AlreadyUndone(f"{change.undoes} is already undone (or being undone)") from None
            raise

    async def finish(self, change_id: str, outcome: str, detail: str | None, lease: Lease | None) -> bool:
        # Two statements, each its own transaction, in this order: the outcome is durable before the
        # lease is let go (a crash between leaves the lease to lapse). One explicit transaction
        # around both cost two more statements (BEGIN, COMMIT) on every change.
        def work(c: sqlite3.Connection) -> bool:
            c.execute(_FINISH, (outcome, detail, utc_now(), change_id))
            return lease is None or c.execute(_RELEASE, release_params(self.api, lease, True)).rowcount == 1

        return await self._call(work)

    async def list(self, flt: ChangeFilter, limit: int) -> list[ChangeEntry]:
        where, params = filter_sql(flt, "?", self.api)
        sql = f"SELECT {COLUMNS} FROM changes{where} ORDER BY seq DESC LIMIT ?"
        rows = await self._call(lambda c: c.execute(sql, [*params, limit]).fetchall())
        return [entry_from_row(r) for r in rows]

    async def get(self, account: str, change_id: str) -> ChangeEntry | None:
        clause, extra = scope("?", self.api, account)
        sql = f"SELECT {COLUMNS} FROM changes WHERE id = ?{clause}"
        row = await self._call(lambda c: c.execute(sql, (change_id, *extra)).fetchone())
        return entry_from_row(row) if row else None

    async def later(self, account: str, assistant_id: int, after_seq: int) -> builtins.list[ChangeEntry]:
        clause, extra = scope("?", self.api, account)
        sql = f"SELECT {COLUMNS} FROM changes WHERE assistant_id = ? AND seq > ?{clause} ORDER BY seq"
        rows = await self._call(lambda c: c.execute(sql, (assistant_id, after_seq, *extra)).fetchall())
        return [entry_from_row(r) for r in rows]

    async def latest_values(self, account: str, assistant_id: int, fields: Sequence[str]) -> dict[str, Last]:
        if not fields:
            return {}
        sql = latest_sql("?", fields)
        params = latest_params(account, assistant_id, fields, self.api)

        # The cursor is read lazily: the walk stops at the newest rows in the usual case.
        def walk(c: sqlite3.Connection) -> dict[str, Last]:
            cursor = c.execute(sql, params)
            try:
                return collect_latest(cursor, fields)
            finally:
                cursor.close()  # the walk may stop early: end the statement, releasing its snapshot

        return await self._call(walk)

    async def undone_by(self, account: str, change_id: str) -> str | None:
        sql = UNDONE_BY.format(p="?")
        row = await self._call(lambda c: c.execute(sql, (self.api, account, change_id)).fetchone())
        return str(row[0]) if row else None

    async def prune(self, before: str) -> int:
        sql = PRUNE.format(p="?")
        return await self._call(lambda c: c.execute(sql, (before,)).rowcount)

    async def sealed_key(self, person: str) -> str | None:
        row = await self._call(lambda c: c.execute(GET_KEY.format(p="?"), (self.api, person)).fetchone())
        return str(row[0]) if row else None

    async def enrol(self, ticket: str, expires: float, person: str, sealed: str | None) -> bool:
        await self.check()

        def work(c: sqlite3.Connection) -> bool:
            c.execute(PRUNE_TICKETS.format(p="?"), (time.time(),))
            if c.execute(SPEND_TICKET.format(p="?"), (ticket, expires)).rowcount != 1:
                return False
            if sealed is None:
                c.execute(FORGET_KEY.format(p="?"), (self.api, person))
            else:
                c.execute(PUT_KEY.format(p="?"), (self.api, person, sealed, utc_now()))
            return True

        return await self._call(work, write=True)

    async def forget_key(self, person: str) -> bool:
        return await self._call(lambda c: c.execute(FORGET_KEY.format(p="?"), (self.api, person)).rowcount > 0)

    async def people(self) -> int:
        row = await self._call(lambda c: c.execute(COUNT_PEOPLE.format(p="?"), (self.api,)).fetchone())
        return int(row[0])

    async def aclose(self) -> None:
        with self._lock:
            for conn in self._conns:
                if conn is not None:
                    conn.close()
            self._conns = [None, None]


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
