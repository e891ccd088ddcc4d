"""The tools of trust: list_changes (the journal), undo_change, update_assistants (change sets)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from mcp_types import CallToolResult
from pydantic import BaseModel, Field, JsonValue

from sondos_mcp.domain.change_sets import Member, apply_set, choose, plan_set
from sondos_mcp.domain.undo import (
    UndoField,
    confirm_undo,
    effective_outcome,
    journal_of,
    plan_undo,
    run_undo,
    stale_before,
)
from sondos_mcp.errors import InvalidArguments
from sondos_mcp.feedback import FeedbackBuilder, Notice, Problem
from sondos_mcp.journal import ChangeEntry, ChangeFilter
from sondos_mcp.journal.store import Before, iso_utc
from sondos_mcp.model import MAX_ID, TOOL_ONLY, Integer, Omittable
from sondos_mcp.preview import render
from sondos_mcp.results import Outcome, refusal, success
from sondos_mcp.schema import input_schema
from sondos_mcp.tools.base import Args, ToolContext, ToolSpec, overwrites, parse, read_only

ID_PATTERN = r"^(chg|set)-[0-9a-f]{10}$"


# --- list_changes ----------------------------------------------------------------------------


class ListChangesArgs(Args):
    assistant_id: Omittable[Integer] = Field(None, ge=1, le=MAX_ID)
    actor: Omittable[str] = Field(None, min_length=1)
    since: Omittable[str] = Field(None, description="ISO time")
    until: Omittable[str] = Field(None)
    outcome: Omittable[Literal["applied", "refused", "failed", "unknown"]] = Field(None)
    cursor: Omittable[Integer] = Field(None, description="next_cursor", le=2**63 - 1)
    limit: Integer = Field(20, ge=1, le=100)


class FieldChange(BaseModel):
    field: str
    before: JsonValue = None
    before_known: bool
    after: JsonValue
    changed: bool | None = None  # None: the value before is not known


class ChangeView(BaseModel):
    id: str
    at: str
    actor: str
    assistant_id: int
    assistant_name: str | None = None
    outcome: str
    change_set: str | None = None
    undoes: str | None = None
    detail: str | None = None
    fields: list[FieldChange]
    summary: str


class ListChangesOutcome(Outcome):
    changes: list[ChangeView] | None = None
    next_cursor: int | None = None


def _when(text: str, field: str, builder: FeedbackBuilder) -> str:
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidArguments(
            [builder.problem(field, "invalid_time", "not an ISO-8601 time, e.g. 2026-11-25T09:00Z")]
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return iso_utc(moment)


def view(entry: ChangeEntry, stale_before: str) -> ChangeView:
    outcome = effective_outcome(entry, stale_before)
    fields = []
    for name, after in entry.fields.items():
        before = entry.before.get(name, Before(False))
        fields.append(FieldChange(field=name, before=before.value, before_known=before.known, after=after))
    parts = "; ".join(f"{f.field} {render(f.before, f.before_known)} → {render(f.after)}" for f in fields)
    label = f"assistant {entry.assistant_id}" + (f" ({entry.assistant_name})" if entry.assistant_name else "")
    extra = "".join(
        [
            f", undoes {entry.undoes}" if entry.undoes else "",
            f", in {entry.change_set}" if entry.change_set else "",
        ]
    )
    summary = f"{entry.id} {entry.at[:16]}Z {entry.actor}: {label} {parts} [{outcome}{extra}]"
    return ChangeView(
        id=entry.id,
        at=entry.at,
        actor=entry.actor,
        assistant_id=entry.assistant_id,
        assistant_name=entry.assistant_name,
        outcome=outcome,
        change_set=entry.change_set,
        undoes=entry.undoes,
        detail=entry.detail,
        fields=fields,
        summary=summary,
    )


async def list_changes(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
    args: ListChangesArgs = parse(ListChangesArgs, arguments)
    session = ctx.session()
    journal = await journal_of(session)
    builder = FeedbackBuilder(input_schema(ListChangesArgs), arguments)
    stale = stale_before(session)
    flt = ChangeFilter(
        account=session.caller.account,
        assistant_id=args.assistant_id,
        actor=args.actor,
        since=_when(args.since, "since", builder) if args.since else None,
        until=_when(args.until, "until", builder) if args.until else None,
        outcome=args.outcome,
        before_seq=args.cursor,
        stale_before=stale,
    )
    entries = await journal.list(flt, args.limit + 1)
    more = len(entries) > args.limit
    entries = entries[: args.limit]
    views = [view(e, stale) for e in entries]
    cursor = entries[-1].seq if more else None
    head = f"{len(views)} change(s), newest first" + (f"; more with cursor {cursor}" if cursor else "")
    outcome = ListChangesOutcome(ok=True, message=head, changes=views, next_cursor=cursor)
    return success(outcome, "\n".join([head + ":"] + [v.summary for v in views]))


# --- undo_change -----------------------------------------------------------------------------


class UndoArgs(Args):
    id: str = Field(description="chg-… or set-…", pattern=ID_PATTERN)
    force: bool = Field(False)
    dry_run: bool = Field(False)


class UndoOutcome(Outcome):
    applied: bool | None = None
    undoes: str | None = None
    change_ids: list[str] | None = None
    change_set: str | None = None
    fields: list[UndoField] | None = None


async def undo_change(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
    args: UndoArgs = parse(UndoArgs, arguments)
    session = ctx.session()
    plan = await plan_undo(session, args.id, stale_before(session), force=args.force)
    refused = plan.refused
    lines = [
        f"- assistant {f.assistant_id} {f.field}: {render(f.current, f.current_known)} → {render(f.restore)}"
        + (f" REFUSED: {f.refused}" if f.refused else "")
        for f in plan.report
    ]
    if refused and not args.force and any(("force" in r or "changed" in r) for f in refused if (r := f.refused)):
        lines.append("force: true undoes fields changed since (or not readable), overwriting what is there now.")
    if not plan.restores:
        outcome = UndoOutcome(
            ok=False,
            message=f"Nothing of {args.id} can be undone safely; nothing was sent",
            applied=False,
            undoes=args.id,
            fields=plan.report,
        )
        return refusal(outcome, "\n".join([outcome.message + ":", *lines]))
    if args.dry_run:
        head = f"Undo preview for {args.id}; nothing was sent"
        outcome = UndoOutcome(ok=True, message=head, applied=False, undoes=args.id, fields=plan.report)
        return success(outcome, "\n".join([head + ":", *lines, "Call again without dry_run to undo."]))
    await confirm_undo(session, plan)
    result = await run_undo(session, plan)
    head = f"Undid {args.id}: {len(plan.report) - len(refused)} field(s) restored" + (
        f", {len(refused)} refused" if refused else ""
    )
    if result.failure:
        head = f"Undo of {args.id} partly applied ({len(result.change_ids)} of {len(plan.restores)} assistants); "
        head += result.failure
    outcome = UndoOutcome(
        ok=result.failure is None,
        message=head,
        applied=True,
        undoes=args.id,
        change_ids=result.change_ids,
        change_set=result.change_set,
        fields=plan.report,
    )
    tail = f"This undo is {result.change_set or result.change_ids[0]}; undo_change on it reverts the undo."
    return (refusal if result.failure else success)(outcome, "\n".join([head + ":", *lines, tail]))


# --- update_assistants (change sets) ---------------------------------------------------------


class UpdateAssistantsArgs(Args):
    ids: Omittable[list[Integer]] = Field(None, min_length=1, max_length=100)
    query: Omittable[str] = Field(None, min_length=1, description="Name filter, instead of ids")
    changes: dict[str, Any] = Field(
        description="update_assistant fields, no id", json_schema_extra={"minProperties": 1}
    )
    dry_run: bool = Field(False)
    force: bool = Field(False)


class SetMember(BaseModel):
    id: int
    name: str | None = None
    outcome: str  # planned, applied, unchanged, refused, not_sent, failed, unknown, not_attempted
    change_id: str | None = None
    preview: list[FieldChange] | None = None
    problems: list[Problem] | None = None
    warnings: list[Notice] | None = None
    error: str | None = None


class UpdateAssistantsOutcome(Outcome):
    applied: bool | None = None
    change_set: str | None = None
    # Members by outcome (applied, unchanged, refused, unknown, …).
    counts: dict[str, int] | None = None
    assistants: list[SetMember] | None = None


def _member(m: Member) -> SetMember:
    p = m.planned
    preview = None
    if p is not None:
        preview = []
        for f, v in p.fields.items():
            b = p.before[f]
            changed = (b.value != v) if b.known else None
            preview.append(FieldChange(field=f, before=b.value, before_known=b.known, after=v, changed=changed))
    return SetMember(
        id=m.id,
        name=m.name,
        outcome=m.outcome,
        change_id=m.change_id,
        preview=preview,
        problems=m.problems or None,
        warnings=(p.advice or None) if p is not None else None,
        error=m.error,
    )


def _counts(members: list[SetMember]) -> dict[str, int]:
    return dict(Counter(m.outcome for m in members))


async def update_assistants(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
    args: UpdateAssistantsArgs = parse(UpdateAssistantsArgs, arguments)
    builder = FeedbackBuilder(input_schema(UpdateAssistantsArgs), arguments)
    misplaced = [k for k in TOOL_ONLY if k in args.changes]
    if misplaced:
        raise InvalidArguments(
            [builder.problem(f"changes.{k}", "misplaced", f"{k} belongs beside changes, not in it") for k in misplaced]
        )
    if (args.ids is None) == (args.query is None):
        raise InvalidArguments([builder.problem("", "choose_assistants", "give either ids or query, not both")])
    session = ctx.session()
    ids, known = await choose(session, args.ids, args.query)
    if not ids:
        raise InvalidArguments([builder.problem("query", "no_match", "no assistant's name matches")])
    planned = await plan_set(session, ids, args.changes, known)
    if planned.refused:
        for m in planned.members:
            m.outcome = "refused" if m.problems or m.error else "not_sent"
        members = [_member(m) for m in planned.members]
        outcome = UpdateAssistantsOutcome(
            ok=False,
            message=f"{len(planned.refused)} of {len(members)} assistants refuse this change; nothing was sent to any",
            applied=False,
            assistants=members,
        )
        return refusal(outcome, "\n".join([outcome.message + ":", *map(_member_line, members)]))
    if args.dry_run:
        members = [_member(m) for m in planned.members]
        already = sum(1 for m in planned.members if m.planned is not None and m.planned.changes_nothing)
        head = f"Preview of a change to {len(members)} assistants; nothing was sent"
        if already:
            head += f"; {already} already so (not sent unless force: true)"
        counts = {"planned": len(members) - already, "unchanged": already}
        outcome = UpdateAssistantsOutcome(
            ok=True, message=head, applied=False, counts={k: v for k, v in counts.items() if v}, assistants=members
        )
        tail = "Call again without dry_run to apply."
        return success(outcome, "\n".join([head + ":", *map(_member_line, members), tail]))
    change_set = await apply_set(session, planned, force=args.force)
    members = [_member(m) for m in planned.members]
    counts = _counts(members)
    total, done = len(members), counts.get("applied", 0)
    stopped = next((m for m in members if m.outcome not in ("applied", "unchanged", "not_attempted")), None)
    head = f"Change set {change_set}: {done} of {total} assistants updated"
    if counts.get("unchanged"):
        head += f", {counts['unchanged']} already so (not sent)"
    if stopped is not None:
        head += f"; stopped at assistant {stopped.id} ({stopped.outcome})"
    outcome = UpdateAssistantsOutcome(
        ok=stopped is None,
        message=head,
        applied=done > 0,
        change_set=change_set if done else None,
        counts=counts,
        assistants=members,
    )
    lines = [head + ":", *map(_member_line, members)]
    if stopped is not None and stopped.outcome == "unknown":
        lines.append(f"Assistant {stopped.id}: the change may or may not have landed; read it back before retrying.")
    if done:
        lines.append(f"undo_change with {change_set} reverts the whole set.")
    elif counts.get("unchanged") == total:
        lines.append("Nothing was sent: every assistant already holds these values; force: true sends anyway.")
    return (refusal if stopped is not None else success)(outcome, "\n".join(lines))


def _member_line(m: SetMember) -> str:
    parts = "; ".join(
        f"{f.field} {render(f.before, f.before_known)} → {render(f.after)}"
        + (" (already so)" if f.changed is False else "")
        for f in m.preview or []
    )
    line = f"- {m.id} {m.name or ''} [{m.outcome}] {parts}".rstrip()
    for p in m.problems or []:
        line += f"\n    {p.field}: {p.message}"
    for w in m.warnings or []:
        line += f"\n    {w.line()}"
    if m.error:
        line += f"\n    {m.error}"
    return line


# --- the tools -------------------------------------------------------------------------------


CHANGE_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="list_changes",
        title="List changes",
        description="Journal of changes sent, newest first: who, when, before → after, outcome.",
        input_model=ListChangesArgs,
        output_model=ListChangesOutcome,
        annotations=read_only(open_world=False),
        handler=list_changes,
    ),
    ToolSpec(
        name="update_assistants",
        title="Update several assistants",
        description="One change to several assistants as one change set; none sent if any is refused.",
        input_model=UpdateAssistantsArgs,
        output_model=UpdateAssistantsOutcome,
        annotations=overwrites(idempotent=True),
        handler=update_assistants,
    ),
    ToolSpec(
        name="undo_change",
        title="Undo a change",
        description="Restore a change's (or set's) before-values; fields changed since need force.",
        input_model=UndoArgs,
        output_model=None,  # tools/list token budget: the text and structuredContent speak for themselves
        annotations=overwrites(idempotent=False),
        handler=undo_change,
    ),
)
