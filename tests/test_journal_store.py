"""The journal stores: one test suite, run on SQLite and on a real PostgreSQL server."""

from __future__ import annotations

import logging
import secrets
import shutil
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import anyio
import pytest

from sondos_mcp.errors import AlreadyUndone, JournalError, JournalUnavailable
from sondos_mcp.journal.sqlite import SqliteJournal
from sondos_mcp.journal.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    Before,
    ChangeFilter,
    JournalStore,
    Last,
    NewChange,
)
from tests.postgres_cluster import Cluster, pg_cluster  # noqa: F401 - the fixture

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).resolve().parent / "fixtures"
API = "http://sandbox.test/api"
ACCOUNT = "acct-alice"
EVERYTHING = ChangeFilter(account=ACCOUNT)


StoreFactory = Callable[[], JournalStore]


@pytest.fixture(params=["sqlite", "postgres"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    """Opens a store on one journal (the same file or database each call), as a new process would."""
    if request.param == "sqlite":
        path = tmp_path / "journal.sqlite3"
        return lambda: SqliteJournal(path, api=API)
    from sondos_mcp.journal.postgres import PostgresJournal

    cluster: Cluster = request.getfixturevalue("pg_cluster")
    url = cluster.create_database("j" + secrets.token_hex(4))
    return lambda: PostgresJournal(url, api=API)


@pytest.fixture
async def store(make_store: StoreFactory) -> AsyncIterator[JournalStore]:
    journal = make_store()
    await journal.open()
    yield journal
    await journal.aclose()


def change(assistant_id: int = 12, actor: str = "os:alice", **kw: Any) -> NewChange:
    values: dict[str, Any] = {
        "assistant_id": assistant_id,
        "fields": {"max_call_duration": 300},
        "before": {"max_call_duration": Before(True, 600, "api")},
        "actor": actor,
        "account": ACCOUNT,
        "assistant_name": "Riyadh Sales",
    }
    return NewChange(**(values | kw))


async def test_a_change_is_pending_until_its_outcome_is_recorded(store: JournalStore):
    """begin writes a pending row with everything; finish records the outcome and when."""
    c = change(fields={"speech_speed": 0.9, "webhook_url": None}, before={"speech_speed": Before(False)})
    await store.begin(c)
    (entry,) = await store.list(EVERYTHING, 10)
    assert (entry.id, entry.outcome, entry.finished_at) == (c.id, "pending", None)
    assert entry.fields == {"speech_speed": 0.9, "webhook_url": None}
    assert entry.before == {"speech_speed": Before(False)}
    await store.finish(c.id, "applied", None, None)
    entry = await store.get(ACCOUNT, c.id)
    assert entry is not None
    assert entry.outcome == "applied"
    assert entry.finished_at is not None
    assert entry.finished_at >= entry.at


async def test_listing_is_newest_first_filtered_and_paged(store: JournalStore):
    """Filters by assistant, actor, outcome, set and time; pages by sequence, newest first."""
    made = []
    for i in range(7):
        c = change(
            assistant_id=12 if i % 2 else 13,
            actor="os:alice" if i < 4 else "ops",
            change_set="set-a" if i == 6 else None,
        )
        made.append(c)
        await store.begin(c)
        await store.finish(c.id, "applied" if i != 3 else "refused", None if i != 3 else "422", None)
    ids = [c.id for c in made]
    assert [e.id for e in await store.list(EVERYTHING, 100)] == ids[::-1]
    assert [e.id for e in await store.list(ChangeFilter(account=ACCOUNT, assistant_id=12), 100)] == [
        ids[5],
        ids[3],
        ids[1],
    ]
    assert [e.id for e in await store.list(ChangeFilter(account=ACCOUNT, actor="ops"), 100)] == [ids[6], ids[5], ids[4]]
    assert [e.id for e in await store.list(ChangeFilter(account=ACCOUNT, outcome="refused"), 100)] == [ids[3]]
    assert [e.id for e in await store.list(ChangeFilter(account=ACCOUNT, change_set="set-a"), 100)] == [ids[6]]
    first = await store.list(EVERYTHING, 3)
    second = await store.list(ChangeFilter(account=ACCOUNT, before_seq=first[-1].seq), 3)
    assert [e.id for e in first + second] == ids[::-1][:6]
    assert await store.list(ChangeFilter(account=ACCOUNT, since=made[2].at, until=made[4].at), 100) == [
        e for e in await store.list(EVERYTHING, 100) if e.id in (ids[2], ids[3])
    ]


async def test_latest_values_give_each_fields_newest_sent_value_unknown_when_its_outcome_is(store: JournalStore):
    """Per field, the newest change that may have reached the API: applied gives a known value (null is
    one), an unknown outcome gives none; refused changes, other assistants and other accounts do not count."""
    for assistant, fields, outcome in (
        (12, {"speech_speed": 0.8, "timezone": "Asia/Riyadh", "webhook_url": "https://a.example"}, "applied"),
        (12, {"speech_speed": 0.9, "webhook_url": None}, "applied"),
        (12, {"timezone": "Asia/Dubai"}, "refused"),
        (12, {"language": "Arabic"}, "applied"),
        (12, {"language": "French"}, "unknown"),
        (13, {"speech_speed": 1.1}, "applied"),
    ):
        c = change(assistant_id=assistant, fields=fields)
        await store.begin(c)
        await store.finish(c.id, outcome, None, None)
    fields = ["speech_speed", "timezone", "webhook_url", "language", "record_call"]
    latest = await store.latest_values(ACCOUNT, 12, fields)
    assert {k: (v.known, v.value) for k, v in latest.items()} == {
        "speech_speed": (True, 0.9),
        "timezone": (True, "Asia/Riyadh"),
        "webhook_url": (True, None),
        "language": (False, "French"),
    }
    assert all(isinstance(v, Last) and v.change_id.startswith("chg-") for v in latest.values())
    assert await store.latest_values(ACCOUNT, 12, []) == {}
    assert await store.latest_values("acct-bob", 12, ["speech_speed"]) == {}


async def test_later_lists_what_happened_to_an_assistant_since_a_change(store: JournalStore):
    """later() gives the assistant's entries after a sequence number, oldest first."""
    a, b, c = change(), change(assistant_id=13), change(fields={"speech_speed": 1.0})
    for x in (a, b, c):
        await store.begin(x)
    first = await store.get(ACCOUNT, a.id)
    assert first is not None
    assert [e.id for e in await store.later(ACCOUNT, 12, first.seq)] == [c.id]


async def test_a_store_sees_only_its_own_apis_entries(tmp_path: Path):
    """Two APIs (a sandbox run and production) sharing one file never see each other's changes."""
    path = tmp_path / "shared.sqlite3"
    sandbox, production = SqliteJournal(path, api=API), SqliteJournal(path, api="https://x/api")
    await sandbox.open()
    await production.open()
    c = change()
    await sandbox.begin(c)
    await sandbox.finish(c.id, "applied", None, None)
    try:
        assert [e.id for e in await sandbox.list(EVERYTHING, 10)] == [c.id]
        assert await production.list(EVERYTHING, 10) == []
        assert await production.get(ACCOUNT, c.id) is None
        assert await production.latest_values(ACCOUNT, 12, ["max_call_duration"]) == {}
        assert await production.later(ACCOUNT, 12, 0) == []
    finally:
        await sandbox.aclose()
        await production.aclose()


async def test_undo_links_survive_a_reopen(make_store: StoreFactory):
    """What one store instance wrote, a new one on the same journal reads (a restart)."""
    one = make_store()
    await one.open()
    c = change(undoes="chg-0123456789", change_set="set-0123456789")
    await one.begin(c)
    await one.finish(c.id, "applied", None, None)
    await one.aclose()
    two = make_store()
    await two.open()
    entry = await two.get(ACCOUNT, c.id)
    await two.aclose()
    assert entry is not None
    assert (entry.undoes, entry.change_set, entry.outcome) == ("chg-0123456789", "set-0123456789", "applied")


async def test_concurrent_writers_lose_nothing(make_store: StoreFactory):
    """Four store instances (as four processes would) writing 40 changes at once keep all 40, each finished."""
    stores = [make_store() for _ in range(4)]
    for s in stores:
        await s.open()
    made: list[str] = []

    async def write(s: JournalStore, n: int) -> None:
        for _ in range(n):
            c = change()
            made.append(c.id)
            await s.begin(c)
            await s.finish(c.id, "applied", None, None)

    async with anyio.create_task_group() as tg:
        for s in stores:
            for _ in range(2):
                tg.start_soon(write, s, 5)
    entries = await stores[0].list(EVERYTHING, 1000)
    for s in stores:
        await s.aclose()
    assert sorted(e.id for e in entries) == sorted(made)
    assert len(made) == 40
    assert {e.outcome for e in entries} == {"applied"}
    assert len({e.seq for e in entries}) == 40


async def test_a_fresh_journal_is_at_the_current_schema_version(store: JournalStore):
    """Opening migrates an empty journal all the way."""
    assert await store.schema_version() == SCHEMA_VERSION


async def test_a_journal_written_at_version_1_opens_and_keeps_its_entries(tmp_path: Path, request):
    """The version-1 fixture journal migrates on open; its entries read back unchanged."""
    path = tmp_path / "old.sqlite3"
    shutil.copy(FIXTURES / "journal-v1.sqlite3", path)
    journal = SqliteJournal(path, api=API)
    await journal.open()
    try:
        assert await journal.schema_version() == SCHEMA_VERSION
        # Kept, but shown to no one: they carry no account, so no caller can be shown to own them.
        assert await journal.list(EVERYTHING, 10) == []
        await journal.begin(change(undoes="chg-0000000001"))
    finally:
        await journal.aclose()
    conn = sqlite3.connect(path)
    kept = conn.execute("SELECT id, outcome FROM changes WHERE account IS NULL ORDER BY seq").fetchall()
    conn.close()
    assert kept == [("chg-0000000001", "applied"), ("chg-0000000002", "pending")]


async def test_a_postgres_journal_written_at_version_1_migrates(pg_cluster: Cluster):  # noqa: F811
    """A database holding the version-1 schema and a row migrates on open and keeps the row."""
    import psycopg

    from sondos_mcp.journal.postgres import PostgresJournal

    url = pg_cluster.create_database("old" + secrets.token_hex(3))
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in MIGRATIONS[0]:
            conn.execute(statement.format(serial="BIGSERIAL PRIMARY KEY"))
        conn.execute("INSERT INTO journal_schema (version) VALUES (1)")
        conn.execute(
            "INSERT INTO changes (id, at, actor, assistant_id, fields, before, outcome) "
            "VALUES ('chg-old', '2026-11-20T09:00:00.000000Z', 'ops', 12, '{\"speech_speed\": 0.9}', '{}', 'applied')"
        )
    journal = PostgresJournal(url, api=API)
    await journal.open()
    try:
        assert await journal.schema_version() == SCHEMA_VERSION
        assert await journal.list(EVERYTHING, 10) == []  # no account: shown to no one
    finally:
        await journal.aclose()
    with psycopg.connect(url, autocommit=True) as conn:
        row = conn.execute("SELECT id, fields, undoes, account FROM changes").fetchone()
    assert row == ("chg-old", '{"speech_speed": 0.9}', None, None)


async def test_a_journal_from_a_newer_version_is_refused(tmp_path: Path):
    """A schema newer than this code knows is refused with a clear error, not misread."""
    path = tmp_path / "new.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE journal_schema (version INTEGER NOT NULL)")
    conn.execute("INSERT INTO journal_schema VALUES (?)", (SCHEMA_VERSION + 1,))
    conn.commit()
    conn.close()
    journal = SqliteJournal(path)
    with pytest.raises(JournalError, match="newer sondos-mcp"):
        await journal.open()
    await journal.aclose()


async def test_the_sqlite_journal_uses_wal_mode(tmp_path: Path):
    """WAL lets several worker processes read while one writes."""
    journal = SqliteJournal(tmp_path / "j.sqlite3")
    await journal.open()
    await journal.aclose()
    conn = sqlite3.connect(tmp_path / "j.sqlite3")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()


@pytest.mark.parametrize(
    "url",
    ["postgresql://sondos:canary-pw-91@127.0.0.1:1/journal", "postgresql://sondos:canary-pw-91@[bad"],
)
async def test_a_postgres_journal_that_cannot_open_never_shows_its_password(url: str):
    """Unreachable or malformed: the error says why, without the URL's password."""
    pytest.importorskip("psycopg")
    from sondos_mcp.journal.postgres import PostgresJournal

    journal = PostgresJournal(url, open_timeout=1.0)
    with pytest.raises(JournalError) as info:
        await journal.open()
    assert "canary-pw-91" not in str(info.value)
    assert "canary-pw-91" not in repr(journal)
    assert info.value.__cause__ is None


async def test_an_account_sees_only_its_own_entries(store: JournalStore):
    """Nothing one account's key wrote is listed, read, or used as a before-value for another."""
    mine, theirs = change(), change(account="acct-bob", fields={"webhook_url": "https://bob.example/?token=s3"})
    for c in (mine, theirs):
        await store.begin(c)
        await store.finish(c.id, "applied", None, None)
    assert [e.id for e in await store.list(EVERYTHING, 10)] == [mine.id]
    assert await store.get(ACCOUNT, theirs.id) is None
    assert [e.id for e in await store.later(ACCOUNT, 12, 0)] == [mine.id]
    assert await store.latest_values(ACCOUNT, 12, ["webhook_url"]) == {}


async def test_a_lease_is_held_by_one_holder_until_released_and_counts_changes_sent(make_store: StoreFactory):
    """Two stores (two processes): while one holds an assistant's lease the other cannot take it; a
    release after a change moves the generation on, a release without one does not."""
    one, two = make_store(), make_store()
    await one.open()
    await two.open()
    try:
        first = await one.acquire(ACCOUNT, 12, "holder-1", ttl=30)
        assert first is not None
        assert first.generation == 0
        assert await two.acquire(ACCOUNT, 12, "holder-2", ttl=30) is None
        assert await two.acquire(ACCOUNT, 13, "holder-2", ttl=30) is not None  # other assistants are free
        assert await two.acquire("acct-bob", 12, "holder-2", ttl=30) is not None  # and other accounts
        c = change()
        await one.begin(c)
        assert await one.finish(c.id, "applied", None, first) is True
        second = await two.acquire(ACCOUNT, 12, "holder-2", ttl=30)
        assert second is not None
        assert second.generation == 1
        assert (await one.generations(ACCOUNT))[12] == (1, True)
        await two.release(second, sent=False)
        assert (await one.generations(ACCOUNT))[12] == (1, False)
    finally:
        await one.aclose()
        await two.aclose()


async def test_a_lapsed_lease_is_taken_over_and_its_late_holder_is_told(store: JournalStore):
    """A holder that died (or overran its lease) does not block the assistant forever; if it comes
    back, recording its outcome says the lease was lost."""
    stale = await store.acquire(ACCOUNT, 12, "crashed", ttl=-1)
    assert stale is not None
    fresh = await store.acquire(ACCOUNT, 12, "alive", ttl=30)
    assert fresh is not None
    c = change()
    await store.begin(c)
    assert await store.finish(c.id, "applied", None, stale) is False


async def test_a_change_is_undone_once_even_by_two_racing_undos(store: JournalStore):
    """A second pending undo of one change is refused by the journal itself; a refused undo frees it."""
    target = change()
    await store.begin(target)
    await store.finish(target.id, "applied", None, None)
    first, second = change(undoes=target.id), change(undoes=target.id)
    await store.begin(first)
    with pytest.raises(AlreadyUndone):
        await store.begin(second)
    assert await store.undone_by(ACCOUNT, target.id) == first.id
    await store.finish(first.id, "refused", "422", None)
    assert await store.undone_by(ACCOUNT, target.id) is None
    await store.begin(second)
    assert await store.undone_by(ACCOUNT, target.id) == second.id


async def test_pruning_removes_only_entries_older_than_the_cutoff(store: JournalStore):
    old, new = change(at="2020-01-01T00:00:00.000000Z"), change()
    for c in (old, new):
        await store.begin(c)
    assert await store.prune("2025-01-01T00:00:00.000000Z") == 1
    assert [e.id for e in await store.list(EVERYTHING, 10)] == [new.id]


@pytest.mark.parametrize("how", ["deleted", "replaced"])
async def test_a_sqlite_journal_removed_or_replaced_while_open_refuses_the_next_change(tmp_path: Path, how: str):
    """The next change is refused unsent (journal_unavailable), not 'recorded' into a file no one will open."""
    path = tmp_path / "j.sqlite3"
    journal = SqliteJournal(path, api=API)
    await journal.open()
    try:
        await journal.begin(change())
        path.unlink()
        for suffix in ("-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        if how == "replaced":
            other = SqliteJournal(path, api=API)
            await other.open()
            await other.aclose()
        with pytest.raises(JournalUnavailable, match="removed or replaced"):
            await journal.begin(change())
        with pytest.raises(JournalUnavailable):
            await journal.acquire(ACCOUNT, 12, "h", ttl=30)
    finally:
        await journal.aclose()


# --- PostgreSQL faults: named at once, never showing the URL's password -----------------------

PASSWORD = "canary-pw-7f3a"  # in every URL below that carries a password


def _cluster(request: pytest.FixtureRequest) -> Cluster:
    return request.getfixturevalue("pg_cluster")


# (how to build the URL, words the error must carry)
UNREACHABLE_JOURNALS = [
    pytest.param(lambda r: _cluster(r).password_url(PASSWORD), ["refused the password"], id="wrong-password"),
    pytest.param(
        lambda r: _cluster(r).password_url(PASSWORD).replace(f":{PASSWORD}@", "@"),
        ["asks for a password"],
        id="missing-password",
    ),
    pytest.param(
        lambda r: _cluster(r).url().replace("postgres@", f"ghost:{PASSWORD}@"), ["refused the user"], id="unknown-role"
    ),
    pytest.param(
        lambda r: _cluster(r).url("no_such_db").replace("postgres@", f"postgres:{PASSWORD}@"),
        ['database "no_such_db" does not exist'],
        id="missing-database",
    ),
    pytest.param(
        lambda r: f"postgresql://sondos:{PASSWORD}@127.0.0.1:1/journal", ["refused the connection"], id="refused"
    ),
    pytest.param(
        lambda r: f"postgresql://postgres:{PASSWORD}@/postgres?host={_cluster(r).dir}&port=1",
        ["refused the connection"],
        id="no-server-at-the-socket",
    ),
    pytest.param(
        lambda r: f"postgresql://sondos:{PASSWORD}@no-such-host.invalid/journal",
        ["cannot be resolved"],
        id="unknown-host",
    ),
    pytest.param(
        lambda r: f"postgresql://sondos:{PASSWORD}@127.0.0.1:{r.getfixturevalue('silent_port')}/journal",
        ["did not answer within"],
        id="silent-server",
    ),
]


@pytest.mark.parametrize(("make_url", "words"), UNREACHABLE_JOURNALS)
async def test_a_postgres_journal_that_cannot_connect_says_why_at_once_without_its_password(
    make_url: Callable[[pytest.FixtureRequest], str],
    words: list[str],
    request: pytest.FixtureRequest,
    caplog: pytest.LogCaptureFixture,
):
    """Password, user, database, refusal, DNS, silence: each named, fast, with no URL or password anywhere."""
    pytest.importorskip("psycopg")
    from sondos_mcp.journal.postgres import PostgresJournal

    url = make_url(request)
    caplog.set_level(logging.DEBUG)
    for name in DRIVER_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    # Defaults, except for the silent server: a connection attempt waits at most 2 s (libpq's least).
    journal = PostgresJournal(url, open_timeout=2.0) if "silent" in request.node.name else PostgresJournal(url)
    started = time.monotonic()
    with pytest.raises(JournalError) as info:
        await journal.open()
    elapsed = time.monotonic() - started
    await journal.aclose()
    message = str(info.value)
    assert elapsed < 4.0, message
    for word in [*words, "SONDOS_JOURNAL_URL"]:
        assert word in message
    assert "Sondos API" not in message
    for secret in (PASSWORD, url):
        assert secret not in message
        assert secret not in caplog.text
    assert info.value.__cause__ is None
    assert journal._pool is None  # nothing left behind


DRIVER_LOGGERS = ("psycopg", "psycopg.pq", "psycopg.pool")

# URLs this store cannot take: refused before the driver ever sees them (its errors echo the URL).
MALFORMED_URLS = [
    pytest.param(f"mysql://sondos:{PASSWORD}@db.example.com/journal", id="mysql"),
    pytest.param(f"http://sondos:{PASSWORD}@db.example.com/journal", id="http"),
    pytest.param(f"postgresql://sondos:{PASSWORD}@[bad", id="unclosed-bracket"),
    pytest.param(f"postgresql://sondos:{PASSWORD}@/journal", id="no-host"),
    pytest.param(f"postgresql://sondos:{PASSWORD}@db.example.com:99999/journal", id="port-out-of-range"),
    pytest.param(f"postgresql://sondos:{PASSWORD}@db.example.com:54x/journal", id="port-not-a-number"),
    pytest.param(f"sondos:{PASSWORD}@db.example.com/journal", id="no-scheme"),
]


@pytest.mark.parametrize("url", MALFORMED_URLS)
async def test_a_url_that_is_not_postgresql_is_refused_before_the_driver_sees_it(
    url: str, caplog: pytest.LogCaptureFixture
):
    """mysql://, a broken URL, no host, a bad port: refused at once, naming the setting, silent in the logs."""
    pytest.importorskip("psycopg")
    from sondos_mcp.journal.postgres import PostgresJournal

    caplog.set_level(logging.DEBUG)
    for name in DRIVER_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    journal = PostgresJournal(url)
    started = time.monotonic()
    with pytest.raises(JournalError, match="SONDOS_JOURNAL_URL") as info:
        await journal.open()
    assert time.monotonic() - started < 1.0
    assert PASSWORD not in str(info.value)
    assert PASSWORD not in caplog.text
    assert [r.getMessage() for r in caplog.records if r.name.startswith("psycopg")] == []
    assert journal._pool is None


@pytest.mark.parametrize("deadline", [0.0, 0.002, 0.02, 0.1])
async def test_opens_cut_short_by_a_callers_deadline_leave_one_pool(
    deadline: float,
    pg_cluster: Cluster,  # noqa: F811
):
    """Each call opening the journal under a short deadline: the first open finishes regardless, the rest reuse it."""
    from sondos_mcp.journal.postgres import PostgresJournal

    name = "cut" + secrets.token_hex(3)
    journal = PostgresJournal(pg_cluster.create_database(name))
    try:
        for _ in range(5):
            with anyio.move_on_after(deadline):
                await journal.open()
        pool = journal._pool
        await anyio.sleep(0.3)  # a pool left open in the background would have connected by now
        assert pg_cluster.connections(name) <= 1
        await journal.open()  # no deadline: if an open got under way, it finished, and this one adds nothing
        assert journal._pool is not None
        assert pool is None or journal._pool is pool
        assert pg_cluster.connections(name) == 1
    finally:
        await journal.aclose()


@pytest.mark.parametrize("together", [False, True], ids=["one-after-another", "concurrently"])
async def test_a_second_open_reuses_the_first_pool(together: bool, pg_cluster: Cluster):  # noqa: F811
    """open() after open() is a no-op; two opens at once share the pool the first one opens."""
    from sondos_mcp.journal.postgres import PostgresJournal

    name = "twice" + secrets.token_hex(3)
    journal = PostgresJournal(pg_cluster.create_database(name))
    pools = []

    async def open_once() -> None:
        await journal.open()
        pools.append(journal._pool)

    try:
        if together:
            async with anyio.create_task_group() as tg:
                tg.start_soon(open_once)
                tg.start_soon(open_once)
        else:
            await open_once()
            await open_once()
        await anyio.sleep(0.3)
        assert len(pools) == 2
        assert pools[0] is pools[1] is not None
        assert pg_cluster.connections(name) == 1
    finally:
        await journal.aclose()


async def test_calls_with_a_short_deadline_open_one_pool_through_trust(pg_cluster: Cluster):  # noqa: F811
    """What the server does on each change (`Trust.ready`), under a deadline shorter than the open: one pool."""
    from sondos_mcp.journal.postgres import PostgresJournal
    from sondos_mcp.trust import Trust

    name = "trust" + secrets.token_hex(3)
    journal = PostgresJournal(pg_cluster.create_database(name))
    trust = Trust(journal)
    try:
        for _ in range(5):
            with anyio.move_on_after(0.005):
                await trust.ready()
        await anyio.sleep(0.3)
        assert pg_cluster.connections(name) == 1
        assert await trust.ready() is journal
        assert trust.journal_error is None
    finally:
        await trust.aclose()
