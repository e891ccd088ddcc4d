"""The tools of trust: list_changes (the journal), undo_change, update_assistants (change sets)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from mcp_types import CallToolResult
from pydantic import BaseModel, Field, JsonValue

from sondos_mcp import confirm
from sondos_mcp.changes import Planned, confirm_if_needed, plan, send, trust_of
from sondos_mcp.errors import ConfigurationError, InvalidArguments, SondosError, UpstreamNotFound
from sondos_mcp.feedback import FeedbackBuilder, Problem
from sondos_mcp.journal import ChangeEntry, ChangeFilter, JournalStore, new_set_id
from sondos_mcp.journal.store import Before, iso_utc
from sondos_mcp.model import MAX_ID, Integer
from sondos_mcp.preview import stored_to_update
from sondos_mcp.references import ASSISTANT_PAGE, rows_of
from sondos_mcp.results import Outcome, refusal, success
from sondos_mcp.toolkit import (
    Args,
    ToolContext,
    ToolSpec,
    check_update,
    input_schema,
    overwrites,
    parse,
    policy_of,
    read_only,
    update_input_schema,
)

ID_PATTERN = r"^(chg|set)-[0-9a-f]{10}$"


async def _journal(ctx: ToolContext) -> JournalStore:
    journal = await trust_of(ctx).ready()
    if journal is None:
        raise ConfigurationError(
            "The change journal is off on this server", hint="Unset SONDOS_JOURNAL=off to record changes."
        )
    return journal


def _show(value: Any, known: bool = True) -> str:
    return confirm.render(value, known)


# --- list_changes ----------------------------------------------------------------------------


class ListChangesArgs(Args):
    assistant_id: Integer = Field(None, ge=1, le=MAX_ID)
    actor: str = Field(None, min_length=1)
    since: str = Field(None, description="ISO time")
    until: str = Field(None)
    outcome: Literal["applied", "refused", "failed", "unknown"] = Field(None)
    cursor: Integer = Field(None, description="next_cursor", le=2**63 - 1)
    limit: Integer = Field(20, ge=1, le=100)


class FieldChange(BaseModel):
    field: str
    before: JsonValue = None
    before_known: bool
    after: JsonValue


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


def effective_outcome(entry: ChangeEntry, stale_before: str) -> str:
    return "unknown" if entry.outcome == "pending" and entry.at < stale_before else entry.outcome


def view(entry: ChangeEntry, stale_before: str) -> ChangeView:
    outcome = effective_outcome(entry, stale_before)
    fields = []
    for name, after in entry.fields.items():
        before = entry.before.get(name, Before(False))
        fields.append(FieldChange(field=name, before=before.value, before_known=before.known, after=after))
    parts = "; ".join(f"{f.field} {_show(f.before, f.before_known)} → {_show(f.after)}" for f in fields)
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


def _stale_before(ctx: ToolContext) -> str:
    return iso_utc(datetime.now(UTC) - timedelta(seconds=trust_of(ctx).pending_after))


async def list_changes(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
    args: ListChangesArgs = parse(ListChangesArgs, arguments)
    journal = await _journal(ctx)
    builder = FeedbackBuilder(input_schema(ListChangesArgs), arguments)
    stale = _stale_before(ctx)
    flt = ChangeFilter(
        assistant_id=args.assistant_id,
        actor=_own_actor(ctx) or args.actor,
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


class UndoField(BaseModel):
    assistant_id: int
    field: str
    current: JsonValue = None
    current_known: bool
    restore: JsonValue = None
    refused: str | None = None


class UndoOutcome(Outcome):
    applied: bool | None = None
    undoes: str | None = None
    change_ids: list[str] | None = None
    change_set: str | None = None
    fields: list[UndoField] | None = None


def _own_actor(ctx: ToolContext) -> str | None:
    """With per-user keys, a caller sees and undoes only the changes made with its own key."""
    trust = trust_of(ctx)
    return trust.actor(ctx.request) if trust.auth_mode == "per_user" else None


async def _targets(ctx: ToolContext, journal: JournalStore, target: str) -> list[ChangeEntry]:
    if target.startswith("set-"):
        entries = await journal.list(ChangeFilter(change_set=target), 10_000)
    else:
        entry = await journal.get(target)
        entries = [entry] if entry is not None else []
    own = _own_actor(ctx)
    return sorted((e for e in entries if own is None or e.actor == own), key=lambda e: e.seq)


async def _current(ctx: ToolContext, assistant_id: int) -> dict[str, Any] | None:
    row = await ctx.lookups.find_assistant(assistant_id)
    return stored_to_update(row)[0] if row is not None else None


async def undo_change(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
    args: UndoArgs = parse(UndoArgs, arguments)
    journal = await _journal(ctx)
    entries = await _targets(ctx, journal, args.id)
    if not entries:
        raise UpstreamNotFound(f"No change {args.id} in the journal", hint="list_changes shows the change ids.")
    stale = _stale_before(ctx)
    ctx.lookups.forget_assistants()  # judge against what is stored now, not a cached page
    report: list[UndoField] = []
    plans: list[tuple[ChangeEntry, dict[str, Any]]] = []
    for entry in entries:
        outcome = effective_outcome(entry, stale)
        current = await _current(ctx, entry.assistant_id)
        later = [
            e
            for e in await journal.later(entry.assistant_id, entry.seq)
            if e.outcome not in ("refused", "failed") and (entry.change_set is None or e.change_set != entry.change_set)
        ]
        restore: dict[str, Any] = {}
        for name, after in entry.fields.items():
            before = entry.before.get(name, Before(False))
            known = current is not None and name in current
            now = current.get(name) if current is not None else None
            reason = None
            if outcome in ("refused", "failed"):
                reason = f"change was {outcome}, so nothing to undo"
            elif not before.known:
                reason = "its value before the change is unknown"
            else:
                touched = next((e for e in later if name in e.fields), None)
                if touched is not None and not args.force:
                    reason = f"changed again since by {touched.id} ({'an undo' if touched.undoes else touched.actor})"
                elif known and now != after and not args.force:
                    reason = f"changed since outside this journal (now {_show(now)}, the change set {_show(after)})"
                elif not known and outcome != "applied" and not args.force:
                    reason = f"change outcome is {outcome} and the current value is not readable"
            report.append(
                UndoField(
                    assistant_id=entry.assistant_id,
                    field=name,
                    current=now,
                    current_known=known,
                    restore=before.value if before.known else None,
                    refused=reason,
                )
            )
            if reason is None:
                restore[name] = before.value
        if restore:
            plans.append((entry, restore))
    refused = [f for f in report if f.refused]
    lines = [
        f"- assistant {f.assistant_id} {f.field}: {_show(f.current, f.current_known)} → {_show(f.restore)}"
        + (f" REFUSED: {f.refused}" if f.refused else "")
        for f in report
    ]
    if refused and not args.force and any("changed" in (f.refused or "") for f in refused):
        lines.append("force: true undoes fields changed since, overwriting the newer values.")
    if not plans:
        outcome = UndoOutcome(
            ok=False,
            message=f"Nothing of {args.id} can be undone safely; nothing was sent",
            applied=False,
            undoes=args.id,
            fields=report,
        )
        return refusal(outcome, "\n".join([outcome.message + ":", *lines]))
    planned = [await plan(ctx, entry.assistant_id, restore, fresh=True) for entry, restore in plans]
    problems = _policy_problems(ctx, planned)
    if problems:
        raise InvalidArguments(problems)
    if args.dry_run:
        head = f"Undo preview for {args.id}; nothing was sent"
        outcome = UndoOutcome(ok=True, message=head, applied=False, undoes=args.id, fields=report)
        return success(outcome, "\n".join([head + ":", *lines, "Call again without dry_run to undo."]))
    await confirm_if_needed(ctx, planned, verb="Undo: change")
    change_set = new_set_id() if len(plans) > 1 or args.id.startswith("set-") else None
    ids: list[str] = []
    failure: str | None = None
    for (entry, _), p in zip(plans, planned, strict=True):
        try:
            applied = await send(ctx, p, change_set=change_set, undoes=entry.id)
        except SondosError as exc:
            if not ids:
                raise  # nothing restored yet: the plain error says it all
            # Stop at the first failure, as a change set does; the journal holds what was restored.
            failure = f"stopped at assistant {p.assistant_id}: {exc.message}"
            break
        ids.append(applied.change_id or "")
    ctx.lookups.forget_assistants()
    head = f"Undid {args.id}: {len(report) - len(refused)} field(s) restored" + (
        f", {len(refused)} refused" if refused else ""
    )
    if failure:
        head = f"Undo of {args.id} partly applied ({len(ids)} of {len(plans)} assistants); {failure}"
    outcome = UndoOutcome(
        ok=failure is None,
        message=head,
        applied=True,
        undoes=args.id,
        change_ids=ids,
        change_set=change_set,
        fields=report,
    )
    tail = f"This undo is {change_set or ids[0]}; undo_change on it reverts the undo."
    return (refusal if failure else success)(outcome, "\n".join([head + ":", *lines, tail]))


def _policy_problems(ctx: ToolContext, planned: Sequence[Planned]) -> list[Problem]:
    policy = policy_of(ctx)
    out: list[Problem] = []
    for p in planned:
        raw = {"id": p.assistant_id, **p.fields}
        out += policy.problems(policy.narrow(update_input_schema()), raw, p.assistant_id, p.assistant_name)
    return out


# --- update_assistants (change sets) ---------------------------------------------------------


class UpdateAssistantsArgs(Args):
    ids: list[Integer] = Field(None, min_length=1, max_length=100)
    query: str = Field(None, min_length=1, description="Name filter, instead of ids")
    changes: dict[str, Any] = Field(
        description="update_assistant fields, no id", json_schema_extra={"minProperties": 1}
    )
    dry_run: bool = Field(False)


class SetMember(BaseModel):
    id: int
    name: str | None = None
    outcome: str  # planned, applied, refused, not_sent, failed, unknown, not_attempted
    change_id: str | None = None
    preview: list[FieldChange] | None = None
    problems: list[Problem] | None = None
    error: str | None = None


class UpdateAssistantsOutcome(Outcome):
    applied: bool | None = None
    change_set: str | None = None
    assistants: list[SetMember] | None = None


async def _chosen(ctx: ToolContext, args: UpdateAssistantsArgs, builder: FeedbackBuilder) -> list[int]:
    if (args.ids is None) == (args.query is None):
        raise InvalidArguments([builder.problem("", "choose_assistants", "give either ids or query, not both")])
    if args.ids is not None:
        return list(dict.fromkeys(args.ids))
    words = args.query.casefold().split() if args.query else []
    found: list[int] = []
    page, last = 1, 1
    while page <= last:
        answer = await ctx.lookups.assistant_page(page, ASSISTANT_PAGE)
        for row in rows_of(answer):
            if isinstance(row.get("id"), int) and all(w in str(row.get("name") or "").casefold() for w in words):
                found.append(row["id"])
        last = answer.get("last_page", page) if isinstance(answer, dict) else page
        page += 1
    if not found:
        raise InvalidArguments([builder.problem("query", "no_match", "no assistant's name matches")])
    return found


async def _check_member(
    ctx: ToolContext, assistant_id: int, changes: Mapping[str, Any]
) -> tuple[list[Problem], dict[str, Any]]:
    """One member's full check: the same pipeline (contract, rules, references, policy) as update_assistant."""
    verdict = await check_update(ctx, {"id": assistant_id, **changes})
    body = verdict.args.body(order=list(changes)) if verdict.args is not None else dict(changes)
    return verdict.problems, body


async def update_assistants(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
    args: UpdateAssistantsArgs = parse(UpdateAssistantsArgs, arguments)
    builder = FeedbackBuilder(input_schema(UpdateAssistantsArgs), arguments)
    misplaced = [k for k in ("id", "dry_run") if k in args.changes]
    if misplaced:
        raise InvalidArguments(
            [builder.problem(f"changes.{k}", "misplaced", f"{k} belongs beside changes, not in it") for k in misplaced]
        )
    ids = await _chosen(ctx, args, builder)
    members: list[SetMember] = []
    planned: list[Planned] = []
    for assistant_id in ids:
        row = await ctx.lookups.find_assistant(assistant_id)
        if row is None:
            members.append(SetMember(id=assistant_id, outcome="refused", error="not found"))
            continue
        problems, body = await _check_member(ctx, assistant_id, args.changes)
        p = await plan(ctx, assistant_id, body)
        planned.append(p)
        preview = [
            FieldChange(field=f, before=p.before[f].value, before_known=p.before[f].known, after=v)
            for f, v in body.items()
        ]
        members.append(
            SetMember(
                id=assistant_id, name=row.get("name"), outcome="planned", preview=preview, problems=problems or None
            )
        )
    bad = [m for m in members if m.problems or m.error]
    text = [_member_line(m) for m in members]
    if bad:
        for m in members:
            m.outcome = "refused" if m.problems or m.error else "not_sent"
        outcome = UpdateAssistantsOutcome(
            ok=False,
            message=f"{len(bad)} of {len(members)} assistants refuse this change; nothing was sent to any",
            applied=False,
            assistants=members,
        )
        return refusal(outcome, "\n".join([outcome.message + ":", *text]))
    if args.dry_run:
        head = f"Preview of a change to {len(members)} assistants; nothing was sent"
        outcome = UpdateAssistantsOutcome(ok=True, message=head, applied=False, assistants=members)
        return success(outcome, "\n".join([head + ":", *text, "Call again without dry_run to apply."]))
    await confirm_if_needed(ctx, planned)
    change_set = new_set_id()
    session = ctx.request.session if ctx.request is not None else None
    total = len(planned)
    failed_at: int | None = None
    for i, (member, p) in enumerate(zip(members, planned, strict=True)):
        if session is not None:
            await session.report_progress(i, total, f"assistant {p.assistant_id} ({p.assistant_name})")
        try:
            applied = await send(ctx, p, change_set=change_set)
        except SondosError as exc:
            member.outcome = (
                "unknown"
                if exc.kind == "upstream_timeout"
                else ("failed" if exc.retryable or exc.kind == "configuration" else "refused")
            )
            member.error = exc.message
            failed_at = i
            break
        member.outcome, member.change_id = "applied", applied.change_id
    ctx.lookups.forget_assistants()
    if failed_at is not None:
        for m in members[failed_at + 1 :]:
            m.outcome = "not_attempted"
    elif session is not None:
        await session.report_progress(total, total, "done")
    done = sum(m.outcome == "applied" for m in members)
    head = f"Change set {change_set}: {done} of {total} assistants updated"
    if failed_at is not None:
        head += f"; stopped at assistant {members[failed_at].id} ({members[failed_at].outcome})"
    outcome = UpdateAssistantsOutcome(
        ok=failed_at is None, message=head, applied=done > 0, change_set=change_set, assistants=members
    )
    lines = [head + ":", *[_member_line(m) for m in members]]
    if done:
        lines.append(f"undo_change with {change_set} reverts the whole set.")
    return (refusal if failed_at is not None else success)(outcome, "\n".join(lines))


def _member_line(m: SetMember) -> str:
    parts = "; ".join(f"{f.field} {_show(f.before, f.before_known)} → {_show(f.after)}" for f in m.preview or [])
    line = f"- {m.id} {m.name or ''} [{m.outcome}] {parts}".rstrip()
    for p in m.problems or []:
        line += f"\n    {p.field}: {p.message}"
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
        annotations=read_only("List changes", open_world=False),
        handler=list_changes,
    ),
    ToolSpec(
        name="update_assistants",
        title="Update several assistants",
        description="One change to several assistants as one change set; none sent if any is refused.",
        input_model=UpdateAssistantsArgs,
        output_model=None,
        annotations=overwrites("Update several assistants", idempotent=True),
        handler=update_assistants,
    ),
    ToolSpec(
        name="undo_change",
        title="Undo a change",
        description="Restore a change's (or set's) before-values; fields changed since need force.",
        input_model=UndoArgs,
        output_model=None,  # tools/list token budget: the text and structuredContent speak for themselves
        annotations=overwrites("Undo a change", idempotent=False),
        handler=undo_change,
    ),
)
