"""Undo: put a change's (or a change set's) before-values back, never over what cannot be checked.

A field is restored only when the journal knows what it held before, nothing changed it since
(in this journal, or in the API's list), and it was not undone already. A field the API's list
does not show cannot be checked against edits made elsewhere, so restoring it needs `force`.
The journal enforces "once" itself: a second undo of one change is refused even when two race.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, JsonValue

from sondos_mcp import assistants
from sondos_mcp.domain.changes import Applied, Planned, Snapshot, confirm_if_needed, read_known, send
from sondos_mcp.domain.session import Session
from sondos_mcp.errors import ConfigurationError, InvalidArguments, SondosError, UpstreamNotFound
from sondos_mcp.feedback import Problem
from sondos_mcp.journal import ChangeEntry, ChangeFilter, JournalStore, new_set_id
from sondos_mcp.journal.store import Before, iso_utc
from sondos_mcp.preview import render, stored_to_update
from sondos_mcp.schema import update_input_schema


class UndoField(BaseModel):
    assistant_id: int
    field: str
    current: JsonValue = None
    current_known: bool
    restore: JsonValue = None
    refused: str | None = None


class UndoConflict(SondosError):
    """What the undo would overwrite changed between its plan and its turn to send."""

    kind = "changed_since"


async def journal_of(session: Session) -> JournalStore:
    journal = await session.trust.ready()
    if journal is None:
        raise ConfigurationError(
            "The change journal is off on this server", hint="Unset SONDOS_JOURNAL=off to record changes."
        )
    return journal


def stale_before(session: Session) -> str:
    """The time before which a pending entry was left by a crash (no call takes that long)."""
    return iso_utc(datetime.now(UTC) - timedelta(seconds=session.trust.pending_after))


def effective_outcome(entry: ChangeEntry, stale_before: str) -> str:
    """A pending entry older than any call could take was left by a crash: it reads as unknown."""
    return "unknown" if entry.outcome == "pending" and entry.at < stale_before else entry.outcome


def refusal(
    entry: ChangeEntry,
    name: str,
    outcome: str,
    current: Mapping[str, Any] | None,
    later: Sequence[ChangeEntry],
    undone_by: str | None,
    force: bool,
) -> str | None:
    """Why field `name` of `entry` may not be restored (None: it may)."""
    before = entry.before.get(name, Before(False))
    after = entry.fields[name]
    if outcome in ("refused", "failed"):
        return f"change was {outcome}, so nothing to undo"
    if undone_by is not None:
        return f"already undone by {undone_by}"
    if not before.known:
        return "its value before the change is unknown"
    if force:
        return None
    touched = next((e for e in later if name in e.fields), None)
    if touched is not None:
        return f"changed again since by {touched.id} ({'an undo' if touched.undoes else touched.actor})"
    if current is not None and name in current:
        if current[name] != after:
            return f"changed since outside this journal (now {render(current[name])}, the change set {render(after)})"
        return None
    return (
        f"not readable from the API: last set here to {render(after)} by {entry.id}, and a change made elsewhere "
        f"since cannot be seen; force: true restores {render(before.value)}"
    )


@dataclass
class UndoPlan:
    target: str
    report: list[UndoField]
    restores: list[tuple[ChangeEntry, dict[str, Any]]]
    stale_before: str
    force: bool

    @property
    def refused(self) -> list[UndoField]:
        return [f for f in self.report if f.refused]


async def _later(journal: JournalStore, session: Session, entry: ChangeEntry) -> list[ChangeEntry]:
    return [
        e
        for e in await journal.later(session.caller.account, entry.assistant_id, entry.seq)
        if e.outcome not in ("refused", "failed") and (entry.change_set is None or e.change_set != entry.change_set)
    ]


async def plan_undo(session: Session, target: str, stale_before: str, *, force: bool = False) -> UndoPlan:
    """What undoing `target` (chg-… or set-…) would restore and what it refuses, per field; nothing sent."""
    journal = await journal_of(session)
    account = session.caller.account
    if target.startswith("set-"):
        entries = await journal.list(ChangeFilter(account=account, change_set=target), 10_000)
    else:
        entry = await journal.get(account, target)
        entries = [entry] if entry is not None else []
    if not entries:
        raise UpstreamNotFound(f"No change {target} in the journal", hint="list_changes shows the change ids.")
    entries.sort(key=lambda e: e.seq)
    rows: dict[int, dict[str, Any] | None] = {}
    session.lookups.forget_assistants()  # judge against what is stored now, not a cached page
    report: list[UndoField] = []
    restores: list[tuple[ChangeEntry, dict[str, Any]]] = []
    for entry in entries:
        if entry.assistant_id not in rows:
            rows[entry.assistant_id] = await assistants.find(session.lookups, entry.assistant_id)
        row = rows[entry.assistant_id]
        current = stored_to_update(row)[0] if row is not None else None
        later = await _later(journal, session, entry)
        undone_by = await journal.undone_by(account, entry.id)
        outcome = effective_outcome(entry, stale_before)
        restore: dict[str, Any] = {}
        for name in entry.fields:
            reason = refusal(entry, name, outcome, current, later, undone_by, force)
            before = entry.before.get(name, Before(False))
            known = current is not None and name in current
            report.append(
                UndoField(
                    assistant_id=entry.assistant_id,
                    field=name,
                    current=current.get(name) if known and current is not None else None,
                    current_known=known,
                    restore=before.value if before.known else None,
                    refused=reason,
                )
            )
            if reason is None:
                restore[name] = before.value
        if restore:
            restores.append((entry, restore))
    _policy_check(session, restores, rows)
    return UndoPlan(target, report, restores, stale_before, force)


def _policy_check(
    session: Session, restores: Sequence[tuple[ChangeEntry, dict[str, Any]]], rows: Mapping[int, Any]
) -> None:
    policy = session.caller.policy
    schema = policy.narrow(update_input_schema())
    problems: list[Problem] = []
    for entry, restore in restores:
        row = rows.get(entry.assistant_id)
        name = row.get("name") if isinstance(row, dict) else entry.assistant_name
        problems += policy.problems(schema, {"id": entry.assistant_id, **restore}, entry.assistant_id, name)
    if problems:
        raise InvalidArguments(problems)


async def confirm_undo(session: Session, plan: UndoPlan) -> None:
    """Ask the person first when policy says so: each restore shown as what the change set → what it restores."""
    planned = [
        Planned(
            entry.assistant_id,
            restore,
            {f: Before(True, entry.fields[f], "journal") for f in restore},
            entry.assistant_name,
        )
        for entry, restore in plan.restores
    ]
    await confirm_if_needed(session, planned, verb="Undo: change")


@dataclass
class UndoResult:
    change_ids: list[str] = field(default_factory=list)
    change_set: str | None = None
    failure: str | None = None


async def run_undo(session: Session, plan: UndoPlan) -> UndoResult:
    """Send the plan's restores, each rechecked under its assistant's lease; stop at the first failure."""
    journal = await journal_of(session)
    result = UndoResult(change_set=new_set_id() if len(plan.restores) > 1 or plan.target.startswith("set-") else None)
    # Several assistants: the list is read once for all of them (a member another process changed
    # since is read again on its turn); one: it is read afresh under its lease.
    known = await read_known(session) if len({e.assistant_id for e, _ in plan.restores}) > 1 else None
    for entry, restore in plan.restores:

        async def recheck(
            snap: Snapshot, _: dict[str, Before], entry: ChangeEntry = entry, restore: dict[str, Any] = restore
        ) -> None:
            later = await _later(journal, session, entry)
            undone_by = await journal.undone_by(session.caller.account, entry.id)
            outcome = effective_outcome(entry, plan.stale_before)
            for name in restore:
                reason = refusal(entry, name, outcome, snap.settings, later, undone_by, plan.force)
                if reason is not None:
                    raise UndoConflict(
                        f"Not undone: assistant {entry.assistant_id} {name} {reason}; nothing more was sent",
                        hint="list_changes shows what changed; undo_change again to see the new plan.",
                    )

        try:
            applied: Applied = await send(
                session,
                entry.assistant_id,
                restore,
                known=known,
                fresh=True,
                check=recheck,
                change_set=result.change_set,
                undoes=entry.id,
            )
        except SondosError as exc:
            if not result.change_ids:
                raise  # nothing restored yet: the plain error says it all
            # Stop at the first failure, as a change set does; the journal holds what was restored.
            result.failure = f"stopped at assistant {entry.assistant_id}: {exc.message}"
            break
        result.change_ids.append(applied.change_id or "")
    session.lookups.forget_assistants()
    return result
