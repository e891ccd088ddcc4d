"""The journal in PostgreSQL, for deployments on several hosts (`SONDOS_JOURNAL_URL=postgresql://…`).

Needs the `postgres` extra (psycopg 3 and its pool), imported only when this store is chosen.
Migrations run under an advisory lock, so replicas starting together migrate once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

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
    collect_latest,
    entry_from_row,
    filter_sql,
    last_value_of,
    latest_params,
    latest_sql,
    scope,
    utc_now,
)

_LOCK_KEY = 0x50DD05  # advisory lock id for migrations


class PostgresJournal:
    kind = "postgres"

    def __init__(
        self, url: str, api: str | None = None, min_size: int = 1, max_size: int = 8, open_timeout: float = 15.0
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

    async def _write(self, sql: str, params: Any) -> None:
        import psycopg

        try:
            async with self._pool.connection() as conn:  # commits on leaving the block
                await conn.execute(sql, params)
        except psycopg.Error as exc:
            raise JournalError(f"PostgreSQL journal: {self._redact(exc)}") from None

    async def version(self) -> int | None:
        return None  # other hosts' writes cannot be seen without asking

    async def schema_version(self) -> int:
        row = await self._fetch("SELECT max(version) FROM journal_schema", one=True)
        return int(row[0] or 0)

    async def begin(self, change: NewChange, since: int | None = None) -> bool:
        # `since` is always None here: `version()` cannot tell, so before-values are asked afresh.
        await self._write(INSERT.format(p="%s"), change_params(change, self.api))
        return True

    async def finish(self, change_id: str, outcome: str, detail: str | None = None) -> None:
        sql = "UPDATE changes SET outcome = %s, detail = %s, finished_at = %s WHERE id = %s"
        await self._write(sql, (outcome, detail, utc_now(), change_id))

    async def list(self, flt: ChangeFilter, limit: int) -> list[ChangeEntry]:
        where, params = filter_sql(flt, "%s", self.api)
        rows = await self._fetch(f"SELECT {COLUMNS} FROM changes{where} ORDER BY seq DESC LIMIT %s", [*params, limit])
        return [entry_from_row(r) for r in rows]

    async def get(self, change_id: str) -> ChangeEntry | None:
        clause, extra = scope("%s", self.api)
        row = await self._fetch(f"SELECT {COLUMNS} FROM changes WHERE id = %s{clause}", (change_id, *extra), one=True)
        return entry_from_row(row) if row else None

    async def later(self, assistant_id: int, after_seq: int) -> list[ChangeEntry]:
        clause, extra = scope("%s", self.api)
        sql = f"SELECT {COLUMNS} FROM changes WHERE assistant_id = %s AND seq > %s{clause} ORDER BY seq"
        return [entry_from_row(r) for r in await self._fetch(sql, (assistant_id, after_seq, *extra))]

    async def latest_values(self, assistant_id: int, fields: Sequence[str]) -> dict[str, tuple[Any, str]]:
        if not fields:
            return {}
        rows = await self._fetch(latest_sql("%s", fields, self.api), latest_params(assistant_id, fields, self.api))
        return collect_latest(rows, fields)

    async def last_value(self, assistant_id: int, field: str) -> tuple[bool, Any]:
        clause, extra = scope("%s", self.api)
        sql = (
            "SELECT fields FROM changes WHERE assistant_id = %s AND outcome = 'applied' "
            f"AND (fields::jsonb) ? %s{clause} ORDER BY seq DESC LIMIT 1"
        )
        rows = await self._fetch(sql, (assistant_id, field, *extra))
        return last_value_of([r[0] for r in rows], field)

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
