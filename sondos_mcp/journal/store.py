"""What the journal records, the store protocol both backends implement, and their shared schema.

One row per change to one assistant. It is written twice, each time in its own transaction:
`pending` before the upstream call, then its outcome after. A process that dies in between
leaves a `pending` row that readers report as `unknown` once it is older than any call could take.

Every row belongs to one account (a fingerprint of the API key that sent it, never the key) on
one API; every read is scoped to both, so nothing of one account reaches another caller. A lease
per (account, assistant) serializes read -> send -> record across processes and replicas, so
the journal's order for an assistant is the order the API applied its changes; its generation
counts the changes sent under it, telling a process whether another one changed the assistant
since it last looked.
"""

from __future__ import annotations

import builtins
import json
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

Outcome = Literal["pending", "applied", "refused", "failed", "unknown"]
OUTCOMES: tuple[str, ...] = ("pending", "applied", "refused", "failed", "unknown")


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


Source = Literal["api", "journal", "unknown"]


@dataclass(frozen=True)
class Before:
    """What a field holds, as far as this server can tell: read from the API's list (`api`), last set
    through this journal (`journal`: when, and by which change; changes made elsewhere since cannot be
    seen), or `unknown`. What a change replaced is recorded as one."""

    known: bool
    value: Any = None
    source: Source = "unknown"
    at: str | None = None  # journal: when that change finished
    change_id: str | None = None  # journal: the change that set it

    def to_json(self) -> dict[str, Any]:
        out = {"known": self.known, "value": self.value, "source": self.source}
        return out | ({"at": self.at, "change_id": self.change_id} if self.change_id else {})

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Before:
        # "stored": what entries written before the rename call `api`.
        sources: dict[str, Source] = {"stored": "api", "api": "api", "journal": "journal"}
        source = sources.get(str(data.get("source")), "unknown")
        return cls(bool(data.get("known")), data.get("value"), source, data.get("at"), data.get("change_id"))


@dataclass(frozen=True)
class Last:
    """What this journal last sent for one field: applied (`known`), or with an uncertain outcome."""

    known: bool
    value: Any
    change_id: str
    at: str | None  # when it finished


@dataclass(frozen=True)
class Lease:
    """The right to change one assistant of one account, held until released or `expires`."""

    account: str
    assistant_id: int
    holder: str
    generation: int  # changes sent under earlier leases


@dataclass(frozen=True)
class NewChange:
    """A change about to be sent."""

    assistant_id: int
    fields: dict[str, Any]
    before: dict[str, Before]
    actor: str
    account: str
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
    account: str  # only this account's entries, always
    assistant_id: int | None = None
    actor: str | None = None
    since: str | None = None  # ISO-8601 UTC, inclusive
    until: str | None = None  # exclusive
    outcome: str | None = None
    change_set: str | None = None
    before_seq: int | None = None  # paging: entries older than this one
    stale_before: str | None = None  # a pending entry older than this reads as unknown


class JournalStore(Protocol):
    """Both backends; every method is one transaction, scoped to one account of this store's API."""

    kind: str

    async def open(self) -> None:
        """Connect and migrate; safe to call again."""

    async def check(self) -> None:
        """Raise `JournalUnavailable` if the journal is no longer the one opened (removed, replaced)."""

    async def acquire(self, account: str, assistant_id: int, holder: str, ttl: float) -> Lease | None:
        """Take the assistant's lease unless another holder has it and it has not expired."""

    async def release(self, lease: Lease, *, sent: bool) -> None:
        """Give the lease back; `sent`: a change went out under it (the generation moves on)."""

    async def generations(self, account: str, assistant_id: int | None = None) -> dict[int, tuple[int, bool]]:
        """Per assistant with a lease row (or just `assistant_id`'s): (generation, held now)."""

    async def begin(self, change: NewChange) -> None:
        """Record a change as pending, before it is sent (`AlreadyUndone` if it undoes an undone change)."""

    async def finish(self, change_id: str, outcome: str, detail: str | None, lease: Lease | None) -> bool:
        """Record the outcome of a pending change, then release the lease (never before the outcome is
        recorded); False when the lease had expired and was taken by another holder."""

    async def list(self, flt: ChangeFilter, limit: int) -> list[ChangeEntry]:
        """Entries matching the filter, newest first."""

    async def get(self, account: str, change_id: str) -> ChangeEntry | None: ...

    async def later(self, account: str, assistant_id: int, after_seq: int) -> builtins.list[ChangeEntry]:
        """Entries for this assistant written after `after_seq`, oldest first."""

    async def latest_values(self, account: str, assistant_id: int, fields: Sequence[str]) -> dict[str, Last]:
        """Per field, the newest change this journal sent for it (applied, or of uncertain outcome)."""

    async def undone_by(self, account: str, change_id: str) -> str | None:
        """The undo that reverted this change (applied, pending or of unknown outcome), if any."""

    async def prune(self, before: str) -> int:
        """Delete entries older than `before`; how many went."""

    async def schema_version(self) -> int: ...

    async def aclose(self) -> None: ...

    # The key vault beside the journal (HTTP oauth mode): sealed per-person keys, spent enrolment tickets.

    async def sealed_key(self, person: str) -> str | None:
        """The person's sealed Sondos key on this store's API, if one is on file."""

    async def enrol(self, ticket: str, expires: float, person: str, sealed: str | None) -> bool:
        """Spend `ticket` and, in the same transaction, store the person's sealed key (None: forget it);
        False, with nothing stored, when the ticket was spent before."""

    async def forget_key(self, person: str) -> bool:
        """Forget the person's key; whether one was on file."""

    async def people(self) -> int:
        """How many people have a key on file for this store's API."""


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
    # 4: every entry belongs to one account (older rows, without one, are shown to nobody); the
    # per-assistant lease that orders changes across processes; an undo runs once
    [
        "ALTER TABLE changes ADD COLUMN account TEXT",
        "CREATE INDEX changes_account ON changes (account, assistant_id, seq)",
        """CREATE TABLE assistant_locks (
            api TEXT NOT NULL,
            account TEXT NOT NULL,
            assistant_id BIGINT NOT NULL,
            holder TEXT,
            expires DOUBLE PRECISION NOT NULL DEFAULT 0,
            generation BIGINT NOT NULL DEFAULT 0,
            PRIMARY KEY (api, account, assistant_id)
        )""",
        "CREATE UNIQUE INDEX changes_undone_once ON changes (account, undoes) "
        "WHERE account IS NOT NULL AND undoes IS NOT NULL AND outcome IN ('pending', 'applied', 'unknown')",
    ],
    # 5: the key vault (HTTP oauth mode): each person's Sondos key, sealed with SONDOS_VAULT_KEY
    # (AES-GCM; `person` is a digest of issuer and subject, never either), and the enrolment
    # tickets already spent, so that a ticket is used once across every replica
    [
        """CREATE TABLE person_keys (
            api TEXT NOT NULL,
            person TEXT NOT NULL,
            sealed TEXT NOT NULL,
            enrolled_at TEXT NOT NULL,
            PRIMARY KEY (api, person)
        )""",
        "CREATE TABLE enrol_tickets (ticket TEXT PRIMARY KEY, expires DOUBLE PRECISION NOT NULL)",
    ],
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


def change_params(change: NewChange, api: str) -> tuple[Any, ...]:
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
        change.account,
    )


# A new row, pending; `{p}` is the dialect's placeholder, the values are `change_params`.
INSERT = (
    "INSERT INTO changes (id, change_set, at, actor, assistant_id, assistant_name, fields, before, outcome, "
    "undoes, api, account) VALUES ({p}, {p}, {p}, {p}, {p}, {p}, {p}, {p}, 'pending', {p}, {p}, {p})"
)
FINISH = "UPDATE changes SET outcome = {p}, detail = {p}, finished_at = {p} WHERE id = {p}"

# The lease: taken when free or expired, in one statement (no row comes back when it is held).
ACQUIRE = (
    "INSERT INTO assistant_locks (api, account, assistant_id, holder, expires) VALUES ({p}, {p}, {p}, {p}, {p}) "
    "ON CONFLICT (api, account, assistant_id) DO UPDATE SET holder = excluded.holder, expires = excluded.expires "
    "WHERE assistant_locks.holder IS NULL OR assistant_locks.expires < {p} RETURNING generation"
)
RELEASE = (
    "UPDATE assistant_locks SET holder = NULL, generation = generation + {p} "
    "WHERE api = {p} AND account = {p} AND assistant_id = {p} AND holder = {p}"
)
GENERATIONS = (
    "SELECT assistant_id, generation, holder IS NOT NULL AND expires >= {p} FROM assistant_locks "
    "WHERE api = {p} AND account = {p}"
)
GENERATION_OF = GENERATIONS + " AND assistant_id = {p}"


def generations_sql(p: str, api: str, account: str, assistant_id: int | None) -> tuple[str, tuple[Any, ...]]:
    now = time.time()
    if assistant_id is None:
        return GENERATIONS.format(p=p), (now, api, account)
    return GENERATION_OF.format(p=p), (now, api, account, assistant_id)


UNDONE_BY = (
    "SELECT id FROM changes WHERE api = {p} AND account = {p} AND undoes = {p} "
    "AND outcome IN ('pending', 'applied', 'unknown') ORDER BY seq LIMIT 1"
)
PRUNE = "DELETE FROM changes WHERE at < {p}"

# The vault: one statement each; `enrol` runs SPEND_TICKET, then PUT_KEY or FORGET_KEY, in one transaction.
SPEND_TICKET = "INSERT INTO enrol_tickets (ticket, expires) VALUES ({p}, {p}) ON CONFLICT (ticket) DO NOTHING"
PRUNE_TICKETS = "DELETE FROM enrol_tickets WHERE expires < {p}"
PUT_KEY = (
    "INSERT INTO person_keys (api, person, sealed, enrolled_at) VALUES ({p}, {p}, {p}, {p}) "
    "ON CONFLICT (api, person) DO UPDATE SET sealed = excluded.sealed, enrolled_at = excluded.enrolled_at"
)
GET_KEY = "SELECT sealed FROM person_keys WHERE api = {p} AND person = {p}"
FORGET_KEY = "DELETE FROM person_keys WHERE api = {p} AND person = {p}"
COUNT_PEOPLE = "SELECT count(*) FROM person_keys WHERE api = {p}"


def acquire_params(api: str, lease: Lease, expires: float, now: float) -> tuple[Any, ...]:
    return (api, lease.account, lease.assistant_id, lease.holder, expires, now)


def release_params(api: str, lease: Lease, sent: bool) -> tuple[Any, ...]:
    return (1 if sent else 0, api, lease.account, lease.assistant_id, lease.holder)


def scope(p: str, api: str, account: str) -> tuple[str, list[Any]]:
    """The clause keeping a read to one account's entries on this store's API."""
    return f" AND api = {p} AND account = {p}", [api, account]


# Changes that may have reached the API (pending ones included: a crash leaves them uncertain).
_SENT = "outcome IN ('applied', 'unknown', 'pending')"


def latest_sql(p: str, fields: Sequence[str]) -> str:
    """Sent changes to one assistant that mention any of the fields, newest first (LIKE only narrows)."""
    likes = " OR ".join(f"fields LIKE {p}" for _ in fields)
    return (
        f"SELECT fields, outcome, id, finished_at FROM changes WHERE assistant_id = {p} AND {_SENT} "
        f"AND ({likes}){scope(p, '', '')[0]} ORDER BY seq DESC"
    )


def latest_params(account: str, assistant_id: int, fields: Sequence[str], api: str) -> list[Any]:
    return [assistant_id, *("%" + json.dumps(f) + "%" for f in fields), *scope("", api, account)[1]]


def collect_latest(rows: Iterable[tuple[str, str, str, str | None]], fields: Sequence[str]) -> dict[str, Last]:
    """Walk rows newest first until every field has its newest change."""
    found: dict[str, Last] = {}
    for text, outcome, change_id, finished in rows:
        sent = json.loads(text)
        for name in fields:
            if name in sent and name not in found:
                found[name] = Last(outcome == "applied", sent[name], change_id, finished)
        if len(found) == len(fields):
            break
    return found


def filter_sql(flt: ChangeFilter, p: str, api: str) -> tuple[str, list[Any]]:
    """WHERE clause and parameters; `p` is the dialect's placeholder."""
    clauses: list[str] = [f"api = {p}", f"account = {p}"]
    params: list[Any] = [api, flt.account]
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
    return " WHERE " + " AND ".join(clauses), params
