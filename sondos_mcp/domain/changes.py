"""The one way a change reaches a live assistant.

`send` holds the assistant's lease (one change at a time per account and assistant, across
processes), reads what each field holds just before the change, journals it pending, calls the
API and journals the outcome, releasing the lease in the same transaction. So the journal's order
for an assistant is the order the API applied its changes, and every before-value is what the
API held just before that change.

What a field holds: the stored row (the API's list), read fresh unless this process's snapshot is
still good for the lease's generation (no other process changed the assistant since); for a field
the list does not show, what this journal last sent for it (unknown when that outcome is unknown);
otherwise unknown. Snapshots live in the lookups' cache, keyed by account: never shared across keys.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio

from sondos_mcp import advisories, assistants, confirm
from sondos_mcp.domain.session import Session
from sondos_mcp.errors import JournalError, JournalUnavailable, SondosError, UpstreamNotFound
from sondos_mcp.feedback import Notice
from sondos_mcp.journal import JournalStore, NewChange
from sondos_mcp.journal.store import Before, utc_now
from sondos_mcp.preview import render, stored_to_update
from sondos_mcp.trust import Held

log = logging.getLogger(__name__)


def not_found(assistant_id: int) -> UpstreamNotFound:
    return UpstreamNotFound(
        f"Assistant {assistant_id} not found",
        status=404,
        hint="The id does not exist or belongs to another account; list_assistants shows the valid ids.",
    )


@dataclass
class Snapshot:
    """An assistant as this process last knew it, and for which lease generation that holds."""

    row: dict[str, Any]
    settings: dict[str, Any]
    generation: int | None  # None: no journal, so no other process to hear from
    expires: float
    # Fields the list does not show, as the journal knows them (asked once per snapshot).
    known: dict[str, Before] = field(default_factory=dict)

    @property
    def name(self) -> str | None:
        return self.row.get("name")

    @classmethod
    def read_now(cls, row: dict[str, Any], generation: int | None = None, expires: float = 0.0) -> Snapshot:
        """A snapshot of a row just read (kept in the cache only by `_snapshot`)."""
        return cls(row, stored_to_update(row)[0], generation, expires)


def _snapshot_key(session: Session, assistant_id: int) -> tuple[Any, ...]:
    return (session.caller.account, "snapshot", assistant_id)


def _snapshot(session: Session, row: dict[str, Any], generation: int | None) -> Snapshot:
    snap = Snapshot.read_now(row, generation, time.monotonic() + session.lookups.assistant_ttl)
    session.lookups.cache.put(_snapshot_key(session, int(row["id"])), snap, session.lookups.assistant_ttl)
    return snap


def _cached(session: Session, assistant_id: int, generation: int | None) -> Snapshot | None:
    hit = session.lookups.cache.peek(_snapshot_key(session, assistant_id))
    if isinstance(hit, Snapshot) and hit.generation == generation and hit.expires > time.monotonic():
        return hit
    return None


def forget(session: Session, assistant_id: int) -> None:
    session.lookups.cache.drop(_snapshot_key(session, assistant_id))


async def before_values(
    journal: JournalStore | None, session: Session, snap: Snapshot, fields: Sequence[str]
) -> dict[str, Before]:
    """What each field holds now, as far as can be told (see the module's docstring)."""
    unread = [f for f in fields if f not in snap.settings and f not in snap.known]
    if unread and journal is not None:
        last = await journal.latest_values(session.caller.account, int(snap.row["id"]), unread)
        for name in unread:
            entry = last.get(name)
            if entry is not None:
                snap.known[name] = (
                    Before(True, entry.value, "journal", entry.at, entry.change_id) if entry.known else Before(False)
                )
    out: dict[str, Before] = {}
    for name in fields:
        if name in snap.settings:
            out[name] = Before(True, snap.settings[name], "api")
        else:
            out[name] = snap.known.get(name, Before(False))
    return out


@dataclass
class Planned:
    """A change ready to show or send: the assistant, the fields, what they replace, and advice on
    settings that may not fit together once it is made."""

    assistant_id: int
    fields: dict[str, Any]
    before: dict[str, Before]
    assistant_name: str | None
    advice: list[Notice] = field(default_factory=list)

    @property
    def unchanged(self) -> list[str]:
        """Fields the API shows holding the requested value already."""
        return unchanged(self.before, self.fields)

    @property
    def changes_nothing(self) -> bool:
        return len(self.unchanged) == len(self.fields)

    def item(self) -> confirm.Item:
        lines = [(f, render(self.before[f].value, self.before[f].known), render(v)) for f, v in self.fields.items()]
        return confirm.Item(self.assistant_id, self.assistant_name, lines)


async def _journal_for_reading(session: Session) -> JournalStore | None:
    """The journal, for a read: one that cannot be opened leaves what it would tell unknown (a
    change is still refused, by `send`), never a read refused."""
    try:
        return await session.trust.ready()
    except JournalUnavailable:
        return None


def unchanged(before: Mapping[str, Before], fields: Mapping[str, Any]) -> list[str]:
    """Fields the API shows holding the requested value already. A value known only from this
    journal is not proof: an edit made elsewhere since cannot be seen, so such a field is sent."""
    return [f for f, v in fields.items() if before[f].source == "api" and before[f].value == v]


async def _assess(
    session: Session, journal: JournalStore | None, snap: Snapshot, fields: Mapping[str, Any]
) -> tuple[dict[str, Before], list[Notice]]:
    """What the fields hold now, and the advice on what the change would leave (advisories)."""
    values = await before_values(journal, session, snap, [*fields, *advisories.needed(fields)])
    voices: list[dict[str, Any]] = []
    if "voice_id" in fields or "language" in fields:
        with contextlib.suppress(SondosError):  # no list, no advice about it
            voices = await session.lookups.voices()
    current = {k: b.value for k, b in values.items() if b.known}
    after = advisories.After(fields, current, snap.row.get("status"), voices)
    return {f: values[f] for f in fields}, advisories.advise(after)


async def current_values(session: Session, row: dict[str, Any], fields: Sequence[str]) -> dict[str, Before]:
    """What each field holds, with where that is known from (get_assistant's view; no lease)."""
    journal = await _journal_for_reading(session)
    return await before_values(journal, session, Snapshot.read_now(row), fields)


async def plan(session: Session, row: dict[str, Any], fields: Mapping[str, Any]) -> Planned:
    """Before-values and advice for a preview or a confirmation, from a row already read (no lease
    is taken: `send` reads them again under its lease, and those are the ones journaled)."""
    journal = await _journal_for_reading(session)
    snap = Snapshot.read_now(row)
    before, advice = await _assess(session, journal, snap, fields)
    return Planned(int(row["id"]), dict(fields), before, row.get("name"), advice)


async def confirm_if_needed(session: Session, planned: Sequence[Planned], verb: str = "Change") -> None:
    policy = session.caller.policy
    if any(policy.needs_confirmation(p.assistant_id, p.assistant_name, list(p.fields)) for p in planned):
        await session.confirm([p.item() for p in planned], verb)


@dataclass
class Applied:
    """What became of one change: sent, or not sent because every field already held its value."""

    answer: Any
    change_id: str | None
    before: dict[str, Before]
    assistant_name: str | None = None
    warnings: list[Notice] = field(default_factory=list)
    sent: bool = True


Check = Callable[[Snapshot, dict[str, Before]], Awaitable[None]]
"""A last check under the lease, with the state the change would replace (undo's conflict check)."""


@dataclass(frozen=True)
class Known:
    """A list read once for many changes, and the lease generations from just before that read:
    a row is used for a change only if its assistant's generation has not moved since."""

    listing: assistants.Listing
    generations: dict[int, tuple[int, bool]]


async def read_known(session: Session, assistant_id: int | None = None) -> Known:
    """The list read now (or one assistant's row, found in it), with the generations read just before."""
    journal = await session.trust.ready()
    account = session.caller.lease_account
    generations = await journal.generations(account, assistant_id) if journal is not None else {}
    if assistant_id is None:
        return Known(await assistants.listing(session.lookups, fresh=True), generations)
    row = await assistants.find(session.lookups, assistant_id, fresh=True)
    if row is None:
        raise not_found(assistant_id)
    return Known(assistants.Listing({assistant_id: row}), generations)


async def _state(
    session: Session, assistant_id: int, generation: int | None, known: Known | None, fresh: bool
) -> Snapshot:
    """The assistant as it is now, for the lease's generation: this process's snapshot (unless
    `fresh`), else the row of a list read for this call if no change was sent to it since, else a read."""
    if not fresh:
        snap = _cached(session, assistant_id, generation)
        if snap is not None:
            return snap
    if known is not None and known.generations.get(assistant_id, (0, False)) == (generation or 0, False):
        row = known.listing.get(assistant_id)
        if row is None:
            raise not_found(assistant_id)
        return _snapshot(session, row, generation)
    row = await assistants.find(session.lookups, assistant_id, fresh=True)
    if row is None:
        raise not_found(assistant_id)
    return _snapshot(session, row, generation)


async def send(
    session: Session,
    assistant_id: int,
    fields: Mapping[str, Any],
    *,
    known: Known | None = None,
    fresh: bool = False,
    check: Check | None = None,
    change_set: str | None = None,
    undoes: str | None = None,
    force: bool = False,
) -> Applied:
    """Send one change under the assistant's lease, journaled before and after.

    Refused unsent (nothing journaled) when the account's list does not hold the assistant, when
    it cannot be read (a key the API does not accept never gets a journal row), when `check`
    refuses, or when the journal cannot be written. Not sent, and not journaled, when every field
    is known to hold its value already (unless `force`); the advice comes back as warnings.
    """
    trust = session.trust
    # Proof that this key sees this assistant before anything is written for it, lease included:
    # a key the API refuses, or another account's assistant, leaves no trace in the journal.
    seen = session.lookups.cache.peek(_snapshot_key(session, assistant_id)) is not None or (
        known is not None and known.listing.get(assistant_id) is not None
    )
    if not seen:
        known = await read_known(session, assistant_id)
    async with trust.hold(session.caller.lease_account, assistant_id) as held:
        journal = await trust.ready()
        generation = held.lease.generation if held.lease is not None else None
        snap = await _state(session, assistant_id, generation, known, fresh)
        before, advice = await _assess(session, journal, snap, fields)
        if check is not None:
            await check(snap, before)
        if not force and len(unchanged(before, fields)) == len(fields) and not fresh:
            # Not sending rests on what the API holds now: a snapshot may predate an edit made
            # elsewhere, so it is read again before the change is dropped.
            snap = await _state(session, assistant_id, generation, None, fresh=True)
            before, advice = await _assess(session, journal, snap, fields)
        if not force and len(unchanged(before, fields)) == len(fields):
            return Applied(None, None, before, snap.name, advice, sent=False)
        change = NewChange(
            assistant_id=assistant_id,
            fields=dict(fields),
            before=before,
            actor=session.caller.actor,
            account=session.caller.account,
            assistant_name=snap.name,
            change_set=change_set,
            undoes=undoes,
        )
        if journal is not None:
            try:
                await journal.begin(change)
            except JournalUnavailable:
                raise
            except JournalError as exc:
                raise JournalUnavailable(
                    "The change journal could not be written, so nothing was sent",
                    hint=f"Fix the journal ({exc.message}) or set SONDOS_JOURNAL=off to run without one.",
                ) from exc
        outcome, detail = "unknown", None
        try:
            answer = await session.api.update_assistant(assistant_id, change.fields)
            outcome = "applied"
        except SondosError as exc:
            outcome, detail = exc.recorded, exc.message
            raise
        finally:
            with anyio.CancelScope(shield=True):
                kept = await _finish(journal, change, outcome, detail, held)
                _remember(session, snap, change, outcome if kept else "unknown", generation)
    if not kept:
        advice = [
            *advice,
            Notice(code="outcome_unrecorded", message="the outcome could not be journaled; the entry reads as unknown"),
        ]
    return Applied(answer, change.id if journal else None, before, snap.name, advice)


async def _finish(
    journal: JournalStore | None, change: NewChange, outcome: str, detail: str | None, held: Held
) -> bool:
    """The outcome and the lease's release, in one transaction; False when it could not be recorded."""
    if journal is None:
        return True
    try:
        released = await journal.finish(change.id, outcome, detail, held.lease)
    except JournalError as exc:
        # The call itself is done; the entry stays pending and reads as unknown, the lease lapses.
        log.error("journal: the outcome of %s could not be recorded: %s", change.id, exc.message)
        return False
    held.released = True
    if not released:
        log.warning("journal: the lease on assistant %s had lapsed before %s finished", change.assistant_id, change.id)
    return released


def _remember(session: Session, snap: Snapshot, change: NewChange, outcome: str, generation: int | None) -> None:
    """Keep the snapshot in step with a change this process sent (the generation it moved to)."""
    if outcome == "applied":
        finished = utc_now()
        for name, value in change.fields.items():
            if name in snap.settings:
                snap.settings[name] = value
            else:
                snap.known[name] = Before(True, value, "journal", finished, change.id)
        snap.generation = None if generation is None else generation + 1
    elif outcome in ("refused", "failed"):
        # Nothing changed upstream, but the lease's generation moved on.
        snap.generation = None if generation is None else generation + 1
    else:
        forget(session, change.assistant_id)  # it may or may not have landed: read again next time


async def apply_change(session: Session, assistant_id: int, body: Mapping[str, Any], *, force: bool = False) -> Applied:
    """update_assistant's path: ask the person first when policy says so (not for a change that
    changes nothing), then send."""
    if await session.trust.ready() is None and session.caller.policy.rules.confirm == "never":
        # Nothing to record, no one to ask, no one to order against: the call costs one request
        # (and so a change that changes nothing cannot be told apart here: it is sent).
        return Applied(await session.api.update_assistant(assistant_id, body), None, {})
    if session.caller.policy.rules.confirm != "never":
        row = await assistants.find(session.lookups, assistant_id)
        if row is None:
            raise not_found(assistant_id)
        planned = await plan(session, row, body)
        if planned.changes_nothing and not force:
            return Applied(None, None, planned.before, planned.assistant_name, planned.advice, sent=False)
        await confirm_if_needed(session, [planned])
    return await send(session, assistant_id, body, force=force)
