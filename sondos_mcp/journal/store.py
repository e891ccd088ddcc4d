"""What the journal records, the store protocol both backends implement, and their shared schema.

One row per change to one assistant. It is written twice, each time in its own transaction:
`pending` before the upstream call, then its outcome after. A process that dies in between
leaves a `pending` row that readers report as `unknown` once it is older than any call could take.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

if TYPE_CHECKING:
    from sondos_mcp.config import Settings

Outcome = Literal["pending", "applied", "refused", "failed", "unknown"]
OUTCOMES: tuple[str, ...] = ("pending", "applied", "refused", "failed", "unknown")


class JournalError(RuntimeError):
    """The journal cannot be opened or written (a bad path, a newer schema, a database down)."""


def iso_utc(moment: datetime) -> str:
    """How the journal writes a time: UTC, fixed width (microseconds always written), so that text
    order is time order in both stores. `moment` must carry its timezone."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")[:-6] + "Z"


def utc_now() -> str:
    return iso_utc(datetime.now(UTC))


def new_change_id() -> str:
    return "chg-" + secrets.token_hex(5)


def new_set_id() -> str:
    return "set-" + secrets.token_hex(5)


@dataclass(frozen=True)
class Before:
    """The value a change replaced: read from the stored assistant, from this journal, or unknown."""

    known: bool
    value: Any = None
    source: Literal["stored", "journal", "unknown"] = "unknown"

    def to_json(self) -> dict[str, Any]:
        return {"known": self.known, "value": self.value, "source": self.source}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Before:
        return cls(bool(data.get("known")), data.get("value"), data.get("source", "unknown"))


@dataclass(frozen=True)
class NewChange:
    """A change about to be sent."""

    assistant_id: int
    fields: dict[str, Any]
    before: dict[str, Before]
    actor: str
    assistant_name: str | None = None
    change_set: str | None = None
    undoes: str | None = None
    id: str = field(default_factory=new_change_id)
    at: str = field(default_factory=utc_now)


@dataclass(frozen=True)
class ChangeEntry:
    """A journal row as read back."""

    seq: int
    id: str
    at: str
    actor: str
    assistant_id: int
    assistant_name: str | None
    fields: dict[str, Any]
    before: dict[str, Before]
    outcome: str
    change_set: str | None = None
    undoes: str | None = None
    detail: str | None = None
    finished_at: str | None = None


@dataclass(frozen=True)
class ChangeFilter:
    assistant_id: int | None = None
    actor: str | None = None
    since: str | None = None  # ISO-8601 UTC, inclusive
    until: str | None = None  # exclusive
    outcome: str | None = None
    change_set: str | None = None
    before_seq: int | None = None  # paging: entries older than this one
    stale_before: str | None = None  # a pending entry older than this reads as unknown


class JournalStore(Protocol):
    """Both backends; every method is one transaction."""

    kind: str

    async def begin(self, change: NewChange, since: int | None = None) -> bool:
        """Record a change as pending, before it is sent.

        With `since` (a `version()` this process read), record nothing and return False if another
        connection wrote after it: the change's before-values may be stale, so the caller reads
        them again. Checked in the same transaction as the write, which costs less than asking
        `version()` first and leaves no gap between the check and the write.
        """

    async def finish(self, change_id: str, outcome: str, detail: str | None = None) -> None:
        """Record the outcome of a pending change."""

    async def list(self, flt: ChangeFilter, limit: int) -> list[ChangeEntry]:
        """Entries matching the filter, newest first."""

    async def get(self, change_id: str) -> ChangeEntry | None: ...

    async def later(self, assistant_id: int, after_seq: int) -> list[ChangeEntry]:
        """Entries for this assistant written after `after_seq`, oldest first."""

    async def last_value(self, assistant_id: int, field: str) -> tuple[bool, Any]:
        """The value this journal last applied to the field (found, value)."""

    async def latest_values(self, assistant_id: int, fields: Sequence[str]) -> dict[str, tuple[Any, str]]:
        """Per field, the value this journal last applied to it and when that change finished."""

    async def schema_version(self) -> int: ...

    async def version(self) -> int | None:
        """A number that changes whenever another connection wrote; None when the store cannot tell."""

    async def aclose(self) -> None: ...


# --- the schema, shared by both backends ------------------------------------------------------
# Each migration is a list of statements; `{serial}` is the dialect's auto-increment key.

MIGRATIONS: list[list[str]] = [
    # 1: the first journal
    [
        "CREATE TABLE IF NOT EXISTS journal_schema (version INTEGER NOT NULL)",
        """CREATE TABLE changes (
            seq {serial},
            id TEXT NOT NULL UNIQUE,
            change_set TEXT,
            at TEXT NOT NULL,
            finished_at TEXT,
            actor TEXT NOT NULL,
            assistant_id BIGINT NOT NULL,
            assistant_name TEXT,
            fields TEXT NOT NULL,
            before TEXT NOT NULL,
            outcome TEXT NOT NULL,
            detail TEXT
        )""",
        "CREATE INDEX changes_at ON changes (at)",
    ],
    # 2: undo links a change to what it reverts; per-assistant history is read on every undo
    [
        "ALTER TABLE changes ADD COLUMN undoes TEXT",
        "CREATE INDEX changes_assistant ON changes (assistant_id, seq)",
        "CREATE INDEX changes_set ON changes (change_set)",
    ],
    # 3: which API a change went to, so that one journal file never mixes two accounts' or
    # environments' assistants (a sandbox run, staging, production); older rows match any
    ["ALTER TABLE changes ADD COLUMN api TEXT"],
]
SCHEMA_VERSION = len(MIGRATIONS)

COLUMNS = (
    "seq, id, change_set, at, finished_at, actor, assistant_id, assistant_name, fields, before, outcome, detail, undoes"
)


def entry_from_row(row: tuple[Any, ...]) -> ChangeEntry:
    seq, id_, change_set, at, finished, actor, aid, name, fields, before, outcome, detail, undoes = row
    return ChangeEntry(
        seq=int(seq),
        id=id_,
        at=at,
        actor=actor,
        assistant_id=int(aid),
        assistant_name=name,
        fields=json.loads(fields),
        before={k: Before.from_json(v) for k, v in json.loads(before).items()},
        outcome=outcome,
        change_set=change_set,
        undoes=undoes,
        detail=detail,
        finished_at=finished,
    )


_to_json = json.JSONEncoder(ensure_ascii=False).encode  # one encoder, not one per call as json.dumps(**options) builds


def change_params(change: NewChange, api: str | None) -> tuple[Any, ...]:
    return (
        change.id,
        change.change_set,
        change.at,
        change.actor,
        change.assistant_id,
        change.assistant_name,
        _to_json(change.fields),
        _to_json({k: b.to_json() for k, b in change.before.items()}),
        change.undoes,
        api,
    )


# A new row, pending; `{p}` is the dialect's placeholder, the values are `change_params`.
INSERT_COLUMNS = "(id, change_set, at, actor, assistant_id, assistant_name, fields, before, outcome, undoes, api)"
INSERT_VALUES = "{p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, 'pending', {p}, {p}"
INSERT = f"INSERT INTO changes {INSERT_COLUMNS} VALUES ({INSERT_VALUES})"


def scope(p: str, api: str | None) -> tuple[str, list[Any]]:
    """The clause keeping a store to its own API's entries (rows from before version 3 match any)."""
    return ("", []) if api is None else (f" AND (api = {p} OR api IS NULL)", [api])


def latest_sql(p: str, fields: Sequence[str], api: str | None) -> str:
    """Applied changes to one assistant that mention any of the fields, newest first (LIKE only narrows)."""
    likes = " OR ".join(f"fields LIKE {p}" for _ in fields)
    return (
        f"SELECT fields, finished_at FROM changes WHERE assistant_id = {p} AND outcome = 'applied' "
        f"AND ({likes}){scope(p, api)[0]} ORDER BY seq DESC"
    )


def latest_params(assistant_id: int, fields: Sequence[str], api: str | None) -> list[Any]:
    return [assistant_id, *("%" + json.dumps(f) + "%" for f in fields), *scope("", api)[1]]


def collect_latest(rows: Iterable[tuple[str, str]], fields: Sequence[str]) -> dict[str, tuple[Any, str]]:
    """Walk rows newest first until every field has its latest value."""
    found: dict[str, tuple[Any, str]] = {}
    for text, finished in rows:
        sent = json.loads(text)
        for name in fields:
            if name in sent and name not in found:
                found[name] = (sent[name], finished)
        if len(found) == len(fields):
            break
    return found


def last_value_of(fields_json: list[str], field: str) -> tuple[bool, Any]:
    """The first of these (newest first) `fields` documents that sets `field`."""
    for text in fields_json:
        sent = json.loads(text)
        if field in sent:
            return True, sent[field]
    return False, None


def filter_sql(flt: ChangeFilter, p: str, api: str | None) -> tuple[str, list[Any]]:
    """WHERE clause and parameters; `p` is the dialect's placeholder."""
    clauses: list[str] = []
    params: list[Any] = []
    if api is not None:
        clauses.append(f"(api = {p} OR api IS NULL)")
        params.append(api)
    for column, value in (
        ("assistant_id", flt.assistant_id),
        ("actor", flt.actor),
        ("change_set", flt.change_set),
    ):
        if value is not None:
            clauses.append(f"{column} = {p}")
            params.append(value)
    if flt.since is not None:
        clauses.append(f"at >= {p}")
        params.append(flt.since)
    if flt.until is not None:
        clauses.append(f"at < {p}")
        params.append(flt.until)
    if flt.before_seq is not None:
        clauses.append(f"seq < {p}")
        params.append(flt.before_seq)
    if flt.outcome is not None and flt.stale_before is not None and flt.outcome in ("pending", "unknown"):
        # A pending entry older than any call could take was left by a crash: it reads as unknown.
        if flt.outcome == "unknown":
            clauses.append(f"(outcome = 'unknown' OR (outcome = 'pending' AND at < {p}))")
        else:
            clauses.append(f"(outcome = 'pending' AND at >= {p})")
        params.append(flt.stale_before)
    elif flt.outcome is not None:
        clauses.append(f"outcome = {p}")
        params.append(flt.outcome)
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def default_journal_path() -> Path:
    """The journal's file in the user's data directory (XDG on Linux, the platform's elsewhere)."""
    if os.name == "nt":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
    elif os.uname().sysname == "Darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "sondos-mcp" / "journal.sqlite3"


def open_journal(settings: Settings) -> JournalStore | None:
    """The configured store (not yet opened: `open()` connects and migrates); None when the journal is off."""
    if settings.journal_url is not None:
        from sondos_mcp.journal.postgres import PostgresJournal

        return PostgresJournal(settings.journal_url.get_secret_value(), api=settings.api_base)
    if settings.journal.strip().lower() == "off":
        return None
    from sondos_mcp.journal.setting import sqlite_path
    from sondos_mcp.journal.sqlite import SqliteJournal

    return SqliteJournal(sqlite_path(settings), api=settings.api_base)
