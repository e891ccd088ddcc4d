"""The journal in PostgreSQL, for deployments on several hosts (`SONDOS_JOURNAL_URL=postgresql://…`).

Needs the `postgres` extra (psycopg 3 and its pool), imported only when this store is chosen.
Migrations run under an advisory lock, so replicas starting together migrate once.
"""

from __future__ import annotations

import asyncio
import builtins
import re
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, urlsplit

import anyio

from sondos_mcp.errors import AlreadyUndone, JournalError, JournalSettingError
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
from sondos_mcp.journal_url import DRIVER_LOGGERS, JOURNAL_URL, place, url_problem, url_secrets
from sondos_mcp.logs import redact_loggers

_LOCK_KEY = 0x50DD05  # advisory lock id for migrations
PROBE_TIMEOUT = 5.0  # seconds one connection attempt may take before the server counts as silent


def _driver() -> Any:
    try:
        import psycopg
        import psycopg_pool  # noqa: F401 - the pool must be there too
    except ImportError:
        raise JournalSettingError(
            JOURNAL_URL, "the PostgreSQL journal needs its driver: pip install 'sondos-mcp[postgres]'"
        ) from None
    return psycopg


def guard_driver_logs(url: str) -> None:
    """psycopg's and psycopg_pool's own log lines never show the URL or its password, whatever handler reads them."""
    redact_loggers(DRIVER_LOGGERS, url_secrets(url))


def redact(text: str, url: str) -> str:
    for secret in sorted(url_secrets(url), key=len, reverse=True):
        text = text.replace(secret, "<SONDOS_JOURNAL_URL>" if secret == url else "***")
    return text


def _connect_timeout(url: str, psycopg: Any, bound: float) -> int:
    """Seconds for one connection attempt: the URL's own connect_timeout if shorter, never over `bound`
    (libpq counts whole seconds, 2 at least)."""
    try:
        given = float(psycopg.conninfo.conninfo_to_dict(url).get("connect_timeout") or 0)
    except (ValueError, TypeError):
        given = 0
    chosen = min(given, bound) if given > 0 else bound
    return max(2, int(chosen))


def _fatal(text: str) -> str:
    """The server's own words from a libpq message (after FATAL:), else its first line."""
    match = re.search(r"FATAL:\s+(.+)", text)
    lines = text.strip().splitlines()
    return (match[1] if match else lines[0] if lines else "").strip()


def connect_failure(exc: BaseException, url: str, seconds: float) -> str:
    """Why a connection failed, named by SQLSTATE where the driver gives one, else by libpq's words."""
    text = str(exc)
    low = text.lower()
    sqlstate = getattr(exc, "sqlstate", None)
    where = place(url)
    if sqlstate == "28P01" or "password authentication failed" in low:
        user = re.search(r'for user "([^"]*)"', text)
        who = f' of user "{user[1]}"' if user else ""
        return f"the PostgreSQL journal refused the password{who}: authentication failed"
    if "no password supplied" in low:
        return "the PostgreSQL journal asks for a password and the URL has none: authentication failed"
    if (
        sqlstate == "28000"
        or "authentication failed" in low
        or "pg_hba.conf" in low
        or re.search(r'role "[^"]*" does not exist', text)
    ):
        return f"the PostgreSQL journal refused the user: {redact(_fatal(text), url)} (authentication failed)"
    if sqlstate == "3D000" or re.search(r'database "[^"]*" does not exist', text):
        database = re.search(r'database "([^"]*)" does not exist', text)
        named = f' "{database[1]}"' if database else ""
        return f"the PostgreSQL journal's database{named} does not exist on {where}"
    if isinstance(exc, TimeoutError) or type(exc).__name__ == "ConnectionTimeout" or "timeout expired" in low:
        return f"the PostgreSQL server at {where} did not answer within {seconds:g} s"
    if "connection refused" in low or ("socket" in low and "no such file or directory" in low):
        return f"the PostgreSQL server at {where} refused the connection (is it running and listening there?)"
    if "failed to resolve host" in low or "could not translate host name" in low or "name or service" in low:
        return f"the PostgreSQL host {where} cannot be resolved (DNS)"
    if "unreachable" in low or "no route to host" in low:
        return f"the PostgreSQL server at {where} is unreachable from here"
    return f"cannot connect to the PostgreSQL journal at {where}: {redact(_fatal(text), url)}"


async def probe(url: str, bound: float = PROBE_TIMEOUT) -> None:
    """Connect once and hang up, so a bad password, a missing database or a server that refuses,
    cannot be found or does not answer is named at once. Raises `JournalSettingError`; the URL is
    never handed to the driver unless it has the right shape, since the driver's errors echo it.

    Each host the URL names gets `bound` seconds (the URL's connect_timeout if shorter), DNS included."""
    problem = url_problem(url)
    if problem is not None:
        raise JournalSettingError(JOURNAL_URL, problem)
    psycopg = _driver()
    guard_driver_logs(url)
    try:
        seconds = _connect_timeout(url, psycopg, bound)
    except psycopg.Error as exc:  # an option libpq does not know, a value it cannot read
        reason = f"is not a valid PostgreSQL URL: {redact(_fatal(str(exc)), url)}"
        raise JournalSettingError(JOURNAL_URL, reason) from None
    failure: BaseException = TimeoutError()
    # The driver bounds each connection attempt; this bounds them all, and the name lookups.
    with anyio.move_on_after(seconds * _host_count(url)):
        try:
            conn = await psycopg.AsyncConnection.connect(url, connect_timeout=seconds)
        except psycopg.Error as exc:
            failure = exc
        else:
            await conn.close()
            return
    raise JournalSettingError(JOURNAL_URL, connect_failure(failure, url, seconds)) from None


def _host_count(url: str) -> int:
    parts = urlsplit(url)
    hosts = parts.netloc.rpartition("@")[2] or ",".join(parse_qs(parts.query).get("host", []))
    return max(1, hosts.count(",") + 1)


def probe_blocking(url: str, bound: float = PROBE_TIMEOUT) -> None:
    """`probe` from synchronous code (start-up), on an event loop of its own in a daemon thread,
    which is left behind if a name lookup hangs past the bound."""
    outcome: list[BaseException | None] = []
    done = threading.Event()

    async def attempt() -> None:
        try:
            await probe(url, bound)
            outcome.append(None)
        except BaseException as exc:  # handed to the calling thread
            outcome.append(exc)
        finally:
            done.set()

    def run() -> None:
        # psycopg's async mode needs a selector loop (Windows defaults to the proactor).
        factory = asyncio.SelectorEventLoop if sys.platform == "win32" else None
        with asyncio.Runner(loop_factory=factory) as runner:
            runner.run(attempt())

    threading.Thread(target=run, name="sondos-journal-probe", daemon=True).start()
    if not done.wait(bound * _host_count(url) + 0.5) or not outcome:
        where = place(url)
        raise JournalSettingError(JOURNAL_URL, f"the PostgreSQL server at {where} did not answer within {bound:g} s")
    if isinstance(outcome[0], JournalError):
        raise outcome[0]
    if outcome[0] is not None:
        raise JournalSettingError(JOURNAL_URL, f"cannot connect: {type(outcome[0]).__name__}") from None


class PostgresJournal:
    """One pool per store (one store per server process), opened once; `open()` is safe to cancel."""

    kind = "postgres"

    def __init__(
        self, url: str, api: str = "", min_size: int = 1, max_size: int = 8, open_timeout: float = 10.0
    ) -> None:
        self._url = url
        self._open_timeout = open_timeout
        self.api = api  # entries of other APIs are invisible to this store
        self._min = min_size
        self._max = max_size
        self._pool: Any = None
        self._opening = anyio.Lock()

    def __repr__(self) -> str:
        return "PostgresJournal()"  # the URL may carry a password

    async def open(self) -> None:
        """Probe, open the pool, migrate. Idempotent: after a success it does nothing, and a call made
        while another is opening waits for it. The work runs shielded from the caller's cancellation
        (bounded by `open_timeout` instead), so a caller's deadline can neither leave a pool half-open
        nor make the next call open another; on any failure the pool is closed."""
        if self._pool is not None:
            return
        async with self._opening:
            if self._pool is not None:
                return
            with anyio.CancelScope(shield=True):
                self._pool = await self._open_pool()

    async def _open_pool(self) -> Any:
        psycopg = _driver()
        from psycopg_pool import AsyncConnectionPool

        await probe(self._url, min(PROBE_TIMEOUT, self._open_timeout))  # bounded by itself
        seconds = _connect_timeout(self._url, psycopg, PROBE_TIMEOUT)
        with anyio.move_on_after(self._open_timeout):
            pool = AsyncConnectionPool(
                self._url,
                min_size=self._min,
                max_size=self._max,
                open=False,
                name="sondos-journal",
                kwargs={"connect_timeout": seconds},
            )
            try:
                await pool.open(wait=True, timeout=self._open_timeout)
                async with pool.connection() as conn, conn.transaction():
                    await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
                    await _migrate(conn)
            except BaseException as exc:
                with anyio.CancelScope(shield=True):
                    await pool.close()
                if isinstance(exc, psycopg.OperationalError):
                    raise JournalSettingError(JOURNAL_URL, connect_failure(exc, self._url, seconds)) from None
                if isinstance(exc, psycopg.Error):
                    reason = f"cannot set up the PostgreSQL journal: {redact(_fatal(str(exc)), self._url)}"
                    raise JournalSettingError(JOURNAL_URL, reason) from None
                raise
            return pool
        raise JournalSettingError(
            JOURNAL_URL, f"the PostgreSQL journal at {place(self._url)} did not open within {self._open_timeout:g} s"
        )

    def _redact(self, exc: BaseException) -> str:
        """The driver's message without the URL or its password."""
        return redact(str(exc), self._url)

    async def _fetch(self, sql: str, params: Any = (), one: bool = False) -> Any:
        import psycopg

        if self._pool is None:
            raise JournalError("the PostgreSQL journal is not open")
        try:
            async with self._pool.connection() as conn:
                cur = await conn.execute(sql, params)
                return await (cur.fetchone() if one else cur.fetchall())
        except psycopg.Error as exc:
            raise JournalError(f"PostgreSQL journal: {self._redact(exc)}") from None

    async def _write(self, sql: str, params: Any) -> int:
        import psycopg

        if self._pool is None:
            raise JournalError("the PostgreSQL journal is not open")
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
        pool, self._pool = self._pool, None
        if pool is not None:  # nothing to wait for otherwise: no checkpoint for a caller's deadline to hit
            with anyio.CancelScope(shield=True):
                await pool.close()


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
