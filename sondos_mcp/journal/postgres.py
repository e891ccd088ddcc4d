"""The journal in PostgreSQL, for deployments on several hosts (`SONDOS_JOURNAL_URL=postgresql://…`).

Needs the `postgres` extra (psycopg 3 and its pool), imported only when this store is chosen.
Migrations run under an advisory lock, so replicas starting together migrate once.
"""

from __future__ import annotations

import builtins
import time
from collections.abc import Sequence
from typing import Any

from sondos_mcp.errors import AlreadyUndone, JournalError
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

_LOCK_KEY = 0x50DD05  # advisory lock id for migrations


class PostgresJournal:
    kind = "postgres"

    def __init__(
        self, url: str, api: str = "", min_size: int = 1, max_size: int = 8, open_timeout: float = 15.0
    ) -> None:
        self._url = url
        self._open_timeout = open_timeout
        self.api = api  # entries of other APIs are invisible to this store
        self._min = min_size
        self._max = max_size
        self._pool: Any = None

    def __repr__(self) -> str:
        return "PostgresJournal()"  # the URL may carry a password

    async def open(self) -> None:
        try:
            import psycopg
            from psycopg_pool import AsyncConnectionPool
        except ImportError as exc:
            raise JournalError(
                "SONDOS_JOURNAL_URL needs the PostgreSQL driver: pip install 'sondos-mcp[postgres]'"
            ) from exc
        pool = AsyncConnectionPool(self._url, min_size=self._min, max_size=self._max, open=False)
        try:
            await pool.open(wait=True, timeout=self._open_timeout)
            async with pool.connection() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                await _migrate(conn)
        except (psycopg.Error, TimeoutError, OSError) as exc:
            await pool.close()
            raise JournalError(
                f"cannot open the PostgreSQL journal: {type(exc).__name__}: {self._redact(exc)}"
            ) from None
        self._pool = pool

    def _redact(self, exc: BaseException) -> str:
        """The driver's message without the URL or its password (a malformed URL is echoed back)."""
        from urllib.parse import urlsplit

        text = str(exc).replace(self._url, "<SONDOS_JOURNAL_URL>")
        try:
            password = urlsplit(self._url).password
        except ValueError:
            password = None
        return text.replace(password, "***") if password else text

    async def _fetch(self, sql: str, params: Any = (), one: bool = False) -> Any:
        import psycopg

        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(sql, params)
                return await (cur.fetchone() if one else cur.fetchall())
        except psycopg.Error as exc:
            raise JournalError(f"PostgreSQL journal: {self._redact(exc)}") from None

    async def _write(self, sql: str, params: Any) -> int:
        import psycopg

        try:
            async with self._pool.connection() as conn:  # commits on leaving the block
                return int((await conn.execute(sql, params)).rowcount)
        except psycopg.errors.UniqueViolation:
            raise
        except psycopg.Error as exc:
            raise JournalError(f"PostgreSQL journal: {self._redact(exc)}") from None

    async def check(self) -> None:
        return None  # a dropped table or database fails the next statement, as JournalError

    async def schema_version(self) -> int:
        row = await self._fetch("SELECT max(version) FROM journal_schema", one=True)
        return int(row[0] or 0)

    async def acquire(self, account: str, assistant_id: int, holder: str, ttl: float) -> Lease | None:
        now = time.time()
        lease = Lease(account, assistant_id, holder, 0)
        import psycopg

        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(ACQUIRE.format(p="%s"), acquire_params(self.api, lease, now + ttl, now))
                row = await cur.fetchone()
        except psycopg.Error as exc:
            raise JournalError(f"PostgreSQL journal: {self._redact(exc)}") from None
        return None if row is None else Lease(account, assistant_id, holder, int(row[0]))

    async def release(self, lease: Lease, *, sent: bool) -> None:
        await self._write(RELEASE.format(p="%s"), release_params(self.api, lease, sent))

    async def generations(self, account: str, assistant_id: int | None = None) -> dict[int, tuple[int, bool]]:
        rows = await self._fetch(*generations_sql("%s", self.api, account, assistant_id))
        return {int(a): (int(g), bool(h)) for a, g, h in rows}

    async def begin(self, change: NewChange) -> None:
        import psycopg

        try:
            await self._write(INSERT.format(p="%s"), change_params(change, self.api))
        except psycopg.errors.UniqueViolation:
            raise AlreadyUndone(f"{change.undoes} is already undone (or being undone)") from None

    async def finish(self, change_id: str, outcome: str, detail: str | None, lease: Lease | None) -> bool:
        import psycopg

        try:
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(FINISH.format(p="%s"), (outcome, detail, utc_now(), change_id))
                if lease is None:
                    return True
                cur = await conn.execute(RELEASE.format(p="%s"), release_params(self.api, lease, True))
                return cur.rowcount == 1
        except psycopg.Error as exc:
            raise JournalError(f"PostgreSQL journal: {self._redact(exc)}") from None

    async def list(self, flt: ChangeFilter, limit: int) -> list[ChangeEntry]:
        where, params = filter_sql(flt, "%s", self.api)
        rows = await self._fetch(f"SELECT {COLUMNS} FROM changes{where} ORDER BY seq DESC LIMIT %s", [*params, limit])
        return [entry_from_row(r) for r in rows]

    async def get(self, account: str, change_id: str) -> ChangeEntry | None:
        clause, extra = scope("%s", self.api, account)
        row = await self._fetch(f"SELECT {COLUMNS} FROM changes WHERE id = %s{clause}", (change_id, *extra), one=True)
        return entry_from_row(row) if row else None

    async def later(self, account: str, assistant_id: int, after_seq: int) -> builtins.list[ChangeEntry]:
        clause, extra = scope("%s", self.api, account)
        sql = f"SELECT {COLUMNS} FROM changes WHERE assistant_id = %s AND seq > %s{clause} ORDER BY seq"
        return [entry_from_row(r) for r in await self._fetch(sql, (assistant_id, after_seq, *extra))]

    async def latest_values(self, account: str, assistant_id: int, fields: Sequence[str]) -> dict[str, Last]:
        if not fields:
            return {}
        rows = await self._fetch(latest_sql("%s", fields), latest_params(account, assistant_id, fields, self.api))
        return collect_latest(rows, fields)

    async def undone_by(self, account: str, change_id: str) -> str | None:
        row = await self._fetch(UNDONE_BY.format(p="%s"), (self.api, account, change_id), one=True)
        return str(row[0]) if row else None

    async def prune(self, before: str) -> int:
        return await self._write(PRUNE.format(p="%s"), (before,))

    async def sealed_key(self, person: str) -> str | None:
        row = await self._fetch(GET_KEY.format(p="%s"), (self.api, person), one=True)
        return str(row[0]) if row else None

    async def enrol(self, ticket: str, expires: float, person: str, sealed: str | None) -> bool:
        import psycopg

        try:
            async with self._pool.connection() as conn, conn.transaction():
                await conn.execute(PRUNE_TICKETS.format(p="%s"), (time.time(),))
                cur = await conn.execute(SPEND_TICKET.format(p="%s"), (ticket, expires))
                if cur.rowcount != 1:
                    return False
                if sealed is None:
                    await conn.execute(FORGET_KEY.format(p="%s"), (self.api, person))
                else:
                    await conn.execute(PUT_KEY.format(p="%s"), (self.api, person, sealed, utc_now()))
                return True
        except psycopg.Error as exc:
            raise JournalError(f"PostgreSQL journal: {self._redact(exc)}") from None

    async def forget_key(self, person: str) -> bool:
        return await self._write(FORGET_KEY.format(p="%s"), (self.api, person)) > 0

    async def people(self) -> int:
        row = await self._fetch(COUNT_PEOPLE.format(p="%s"), (self.api,), one=True)
        return int(row[0])

    async def aclose(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None


async def _migrate(conn: Any) -> None:
    await conn.execute("CREATE TABLE IF NOT EXISTS journal_schema (version INTEGER NOT NULL)")
    row = await (await conn.execute("SELECT max(version) FROM journal_schema")).fetchone()
    version = int(row[0] or 0)
    if version > SCHEMA_VERSION:
        raise JournalError(
            f"the journal was written by a newer sondos-mcp (schema {version}, this one knows {SCHEMA_VERSION})"
        )
    for number in range(version + 1, SCHEMA_VERSION + 1):
        for statement in MIGRATIONS[number - 1]:
            await conn.execute(statement.format(serial="BIGSERIAL PRIMARY KEY"))
        await conn.execute("DELETE FROM journal_schema")
        await conn.execute("INSERT INTO journal_schema (version) VALUES (%s)", (number,))
