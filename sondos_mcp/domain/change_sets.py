"""Change sets: one change to several assistants, all checked before any is sent.

The account's list is read once per set (not once per member): members are chosen from it,
checked and previewed against it, and sent with it, each under its own lease; a member whose
assistant another process changed since the read is read again on its turn.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sondos_mcp.domain.changes import Known, Planned, confirm_if_needed, plan, read_known, send
from sondos_mcp.domain.checks import check_update
from sondos_mcp.domain.session import Session
from sondos_mcp.errors import SondosError
from sondos_mcp.feedback import Problem
from sondos_mcp.journal import new_set_id


@dataclass
class Member:
    id: int
    name: str | None = None
    # planned, applied, unchanged (already so: not sent), refused, not_sent, failed, unknown, not_attempted
    outcome: str = "planned"
    change_id: str | None = None
    planned: Planned | None = None
    problems: list[Problem] = field(default_factory=list)
    error: str | None = None


@dataclass
class SetPlan:
    members: list[Member]
    known: Known

    @property
    def refused(self) -> list[Member]:
        return [m for m in self.members if m.problems or m.error]


async def choose(session: Session, ids: Sequence[int] | None, query: str | None) -> tuple[list[int], Known]:
    """The members (ids as given, de-duplicated; or every name matching `query`) and the one read."""
    known = await read_known(session)
    if ids is not None:
        return list(dict.fromkeys(ids)), known
    return [int(r["id"]) for r in known.listing.matching(query or "")], known


async def plan_set(session: Session, ids: Sequence[int], changes: Mapping[str, Any], known: Known) -> SetPlan:
    """Every member checked (the same pipeline as update_assistant) and previewed; nothing sent."""

    async def row_of(assistant_id: int) -> dict[str, Any] | None:
        return known.listing.get(assistant_id)

    members: list[Member] = []
    for assistant_id in ids:
        row = known.listing.get(assistant_id)
        if row is None:
            members.append(Member(assistant_id, outcome="refused", error="not found"))
            continue
        verdict = await check_update(session, {"id": assistant_id, **changes}, row_of)
        body = verdict.args.body(order=list(changes)) if verdict.args is not None else dict(changes)
        members.append(
            Member(assistant_id, row.get("name"), planned=await plan(session, row, body), problems=verdict.problems)
        )
    return SetPlan(members, known)


async def apply_set(session: Session, planned: SetPlan, *, force: bool = False) -> str:
    """Send every member in order under one change-set id; stop at the first failure.

    A member whose every field already holds its value is not sent (`unchanged`) unless `force`.
    A failed member reports what its error means for the change (`unknown` when it may have
    landed), never a plain "failed" that would invite a retry of a change that landed."""
    members = [m for m in planned.members if m.planned is not None]
    asked = [m.planned for m in members if m.planned is not None and (force or not m.planned.changes_nothing)]
    if asked:
        await confirm_if_needed(session, asked)
    change_set = new_set_id()
    total = len(members)
    for i, member in enumerate(members):
        assert member.planned is not None
        if session.progress is not None:
            await session.progress(i, total, f"assistant {member.id} ({member.name})")
        try:
            applied = await send(
                session, member.id, member.planned.fields, known=planned.known, change_set=change_set, force=force
            )
        except SondosError as exc:
            member.outcome, member.error = exc.recorded, exc.message
            for rest in members[i + 1 :]:
                rest.outcome = "not_attempted"
            break
        member.outcome, member.change_id = ("applied", applied.change_id) if applied.sent else ("unchanged", None)
    else:
        if session.progress is not None:
            await session.progress(total, total, "done")
    session.lookups.forget_assistants()
    return change_set
