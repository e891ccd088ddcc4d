"""The assistant tools: update_assistant, and the read tools (assistants and the lookup lists)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from mcp_types import CallToolResult
from pydantic import BaseModel, Field, JsonValue

from sondos_mcp import assistants
from sondos_mcp.domain.changes import Planned, apply_change, current_values, not_found, plan
from sondos_mcp.domain.checks import check_update
from sondos_mcp.domain.session import Session
from sondos_mcp.errors import InvalidArguments
from sondos_mcp.feedback import Notice
from sondos_mcp.journal.store import Before
from sondos_mcp.model import MAX_ID, TOOL_ONLY, Integer, Omittable, UpdateAssistantArgs
from sondos_mcp.preview import Change, describe_known, render, stored_to_update
from sondos_mcp.references import rows_of
from sondos_mcp.results import Outcome, success
from sondos_mcp.tools.base import Args, ToolContext, ToolSpec, overwrites, parse, read_only
from sondos_mcp.vocabulary import STORED_DIRECTION

# --- update_assistant ----------------------------------------------------------------------


class UpdateOutcome(Outcome):
    applied: bool | Literal["unknown"] | None = None
    id: int | None = None
    changed_fields: list[str] | None = None
    unchanged_fields: list[str] | None = None
    data: dict[str, JsonValue] | None = None
    preview: list[Change] | None = None
    change_id: str | None = None


UPDATE_DESCRIPTION = (
    "Change one assistant's settings: id plus only the fields to change. Checked before sending; "
    "a refusal lists each problem with its fix or candidates."
)


async def update_assistant(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
    session = ctx.session()
    verdict = await check_update(session, arguments)
    if not verdict.ok or verdict.args is None:
        raise InvalidArguments(verdict.problems, verdict.suggested)
    args = verdict.args
    body = args.body(order=list(arguments))
    if args.dry_run:
        return await _preview(session, args.id, body, verdict.warnings)
    applied = await apply_change(session, args.id, body, force=args.force)
    warnings = verdict.warnings + applied.warnings
    if not applied.sent:
        already = "; ".join(f"{f} {json.dumps(v, ensure_ascii=False)}" for f, v in body.items())
        outcome = UpdateOutcome(
            ok=True,
            applied=False,
            message=f"Nothing sent: assistant {args.id} already has {already}",
            id=args.id,
            changed_fields=[],
            unchanged_fields=list(body),
            warnings=warnings or None,
        )
        lines = [outcome.message + ".", *(w.line() for w in warnings), "force: true sends it anyway."]
        return success(outcome, "\n".join(lines))
    answer = applied.answer
    ctx.lookups.forget_assistants()
    data = answer.get("data") if isinstance(answer, dict) else None
    changed = list(body)
    name = data.get("name") if isinstance(data, dict) else None
    label = f"assistant {args.id}" + (f" ({name})" if name else "")
    outcome = UpdateOutcome(
        ok=True,
        applied=True,
        message=(answer.get("message") if isinstance(answer, dict) else None) or "Assistant updated",
        id=args.id,
        changed_fields=changed,
        data=data if isinstance(data, dict) else None,
        warnings=warnings or None,
        change_id=applied.change_id,
        # What was sent against what it replaced, as journaled (unknown with the journal off): the
        # change view's before → after.
        preview=changes_of(Planned(args.id, body, {f: applied.before.get(f, Before(False)) for f in body}, name)),
    )
    lines = [f"Updated {label}: {', '.join(changed)}."] + [w.line() for w in warnings]
    if applied.change_id:
        lines.append(f"Journaled as {applied.change_id}; undo_change reverts it.")
    return success(outcome, "\n".join(lines))


def changes_of(planned: Planned) -> list[Change]:
    """Per field: what it holds now (and where that is known from), what it would become, and whether it changes."""
    out = []
    for name, after in planned.fields.items():
        b = planned.before[name]
        changed = (b.value != after) if b.known else None
        source = b.source if b.known else None
        out.append(
            Change(
                field=name,
                before=b.value,
                before_known=b.known,
                after=after,
                changed=changed,
                source=source,
                set_at=b.at,
            )
        )
    return out


def change_line(c: Change) -> str:
    before = describe_known(c.before, c.source or "", c.set_at) if c.before_known else "unknown"
    mark = " (already so)" if c.changed is False else ""
    return f"- {c.field}: {before} → {json.dumps(c.after, ensure_ascii=False)}{mark}"


async def _preview(session: Session, assistant_id: int, body: dict[str, Any], warnings: list[Notice]) -> CallToolResult:
    row = await assistants.find(session.lookups, assistant_id)
    if row is None:
        raise not_found(assistant_id)
    planned = await plan(session, row, body)
    changes = changes_of(planned)
    warnings = warnings + planned.advice
    lines = [f"Preview for assistant {assistant_id} ({row.get('name')}); nothing was sent:"]
    lines += [change_line(c) for c in changes]
    lines += [w.line() for w in warnings]
    if planned.changes_nothing:
        lines.append("Every field already holds its value: applying sends nothing unless force: true.")
    else:
        lines.append("Call again without dry_run to apply.")
    outcome = UpdateOutcome(
        ok=True,
        applied=False,
        message="Preview only; nothing was sent",
        id=assistant_id,
        changed_fields=[c.field for c in changes if c.changed is not False],
        unchanged_fields=planned.unchanged or None,
        preview=changes,
        warnings=warnings or None,
    )
    return success(outcome, "\n".join(lines))


# --- read tools ----------------------------------------------------------------------------


class ListAssistantsArgs(Args):
    page: Integer = Field(1, ge=1)
    per_page: Integer = Field(20, ge=1, le=100)
    query: Omittable[str] = Field(None, description="Name filter, searches all pages", min_length=1)


class AssistantRow(BaseModel):
    id: int
    name: str | None = None
    status: str | None = None
    direction: str | None = None
    mode: str | None = None


class ListAssistantsOutcome(Outcome):
    assistants: list[AssistantRow] | None = None
    page: int | None = None
    per_page: int | None = None
    total: int | None = None
    last_page: int | None = None


def _row(stored: Mapping[str, Any]) -> AssistantRow:
    return AssistantRow(
        id=stored["id"],
        name=stored.get("name"),
        status=stored.get("status"),
        direction=STORED_DIRECTION.get(stored.get("type", "")),
        mode=stored.get("mode"),
    )


def _row_line(r: AssistantRow) -> str:
    return f"{r.id} {r.name} · {r.status} · {r.direction} · {r.mode}"


async def list_assistants(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
    args = parse(ListAssistantsArgs, arguments)
    if args.query is not None:
        listing = await assistants.listing(ctx.lookups)
        matches = [_row(r) for r in listing.matching(args.query)]
        text = [f"{len(matches)} assistant(s) named like {args.query!r} (id name · status · direction · mode):"]
        outcome = ListAssistantsOutcome(ok=True, message=text[0], assistants=matches, total=len(matches))
        return success(outcome, "\n".join(text + [_row_line(r) for r in matches]))
    answer = await ctx.lookups.assistant_page(args.page, args.per_page)
    rows = [_row(r) for r in rows_of(answer) if isinstance(r.get("id"), int)]
    meta = answer if isinstance(answer, dict) else {}
    last = meta.get("last_page") if type(meta.get("last_page")) is int else None
    total = meta.get("total") if isinstance(meta.get("total"), int) else None
    head = f"Assistants page {args.page}/{last or '?'} ({total if total is not None else '?'} in all)"
    outcome = ListAssistantsOutcome(
        ok=True, message=head, assistants=rows, page=args.page, per_page=args.per_page, total=total, last_page=last
    )
    more = [f"More: page {args.page + 1}."] if last and args.page < last else []
    return success(
        outcome, "\n".join([head + " (id name · status · direction · mode):"] + [_row_line(r) for r in rows] + more)
    )


class IdArgs(Args):
    id: Integer = Field(description="Assistant id", ge=1, le=MAX_ID)


class SetHere(BaseModel):
    value: JsonValue = None
    at: str | None = None
    change_id: str | None = None


class AssistantView(BaseModel):
    id: int
    name: str | None = None
    status: str | None = None
    settings: dict[str, JsonValue]  # as the API's list shows them
    # Fields the list does not show, as this server last set them (changes elsewhere are not visible).
    last_set_here: dict[str, SetHere]
    unknown: list[str]
    sources: dict[str, Literal["api", "journal", "unknown"]]
    other: dict[str, JsonValue]


class GetAssistantOutcome(Outcome):
    assistant: AssistantView | None = None


async def assistant_view(ctx: ToolContext, assistant_id: int) -> AssistantView:
    """One assistant as get_assistant shows it (so does the sondos://assistants/{id} resource)."""
    session = ctx.session()
    row = await assistants.find(ctx.lookups, assistant_id)
    if row is None:
        raise not_found(assistant_id)
    settings, other = stored_to_update(row)
    known = await current_values(session, row, [f for f in UPDATE_ARGS_FIELDS if f not in settings])
    here = {f: SetHere(value=b.value, at=b.at, change_id=b.change_id) for f, b in known.items() if b.known}
    unknown = [f for f, b in known.items() if not b.known]
    sources: dict[str, Literal["api", "journal", "unknown"]] = {f: "api" for f in settings}
    sources.update({f: "journal" for f in here})
    sources.update({f: "unknown" for f in unknown})
    return AssistantView(
        id=assistant_id,
        name=row.get("name"),
        status=row.get("status"),
        settings=settings,
        last_set_here=here,
        unknown=unknown,
        sources=sources,
        other=other,
    )


async def get_assistant(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
    args = parse(IdArgs, arguments)
    view = await assistant_view(ctx, args.id)
    lines = [f"Assistant {args.id} ({view.name}, {view.status}); settings in update_assistant names:"]
    lines += [f"- {k}: {render(v)}" for k, v in view.settings.items()]
    lines += [f"- {k}: {describe_known(h.value, 'journal', h.at)}" for k, h in view.last_set_here.items()]
    if view.unknown:
        lines.append("Not readable here (unknown until set): " + ", ".join(view.unknown))
    return success(GetAssistantOutcome(ok=True, message=lines[0], assistant=view), "\n".join(lines))


class VoicesArgs(Args):
    mode: Omittable[Literal["pipeline", "multimodal"]] = Field(None)


class PhoneArgs(Args):
    type: Omittable[Literal["inbound", "outbound"]] = Field(None)


class NoArgs(Args):
    pass


class ItemsOutcome(Outcome):
    items: list[dict[str, JsonValue]] | None = None


def _list_tool(
    name: str,
    title: str,
    description: str,
    args_model: type[Args],
    fetch: Callable[[ToolContext, Any], Awaitable[list[dict[str, Any]]]],
    what: str,
    line: Callable[[dict[str, Any]], str],
) -> ToolSpec:
    """A read-only tool that lists reference rows, in the shape all four listing tools share."""

    async def handler(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
        args = parse(args_model, arguments)
        items = await fetch(ctx, args)
        head = f"{len(items)} {what}:"
        return success(ItemsOutcome(ok=True, message=head, items=items), "\n".join([head] + [line(i) for i in items]))

    return ToolSpec(
        name=name,
        title=title,
        description=description,
        input_model=args_model,
        output_model=ItemsOutcome,
        annotations=read_only(),
        handler=handler,
    )


async def _voices(ctx: ToolContext, args: VoicesArgs) -> list[dict[str, Any]]:
    voices = await ctx.lookups.voices()
    return [v for v in voices if args.mode is None or v.get("mode") == args.mode]


async def _phones(ctx: ToolContext, args: PhoneArgs) -> list[dict[str, Any]]:
    phones = await ctx.lookups.phone_numbers()
    return [p for p in phones if args.type is None or p.get("type_label") == args.type]


# --- the table -----------------------------------------------------------------------------


UPDATE_ARGS_FIELDS = [f for f in UpdateAssistantArgs.model_fields if f not in TOOL_ONLY]

ASSISTANT_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="list_assistants",
        title="List assistants",
        description="Assistants as id, name, status, direction (receive|make), mode; paged. Use query to find by name.",
        input_model=ListAssistantsArgs,
        output_model=ListAssistantsOutcome,
        annotations=read_only(),
        handler=list_assistants,
    ),
    ToolSpec(
        name="get_assistant",
        title="Get assistant settings",
        description="One assistant's current settings, named as in update_assistant. No single-assistant "
        "endpoint exists, so this pages the list (cached briefly).",
        input_model=IdArgs,
        output_model=GetAssistantOutcome,
        annotations=read_only(),
        handler=get_assistant,
        echo_fields=("id",),
    ),
    ToolSpec(
        name="update_assistant",
        title="Update assistant settings",
        description=UPDATE_DESCRIPTION,
        input_model=UpdateAssistantArgs,
        output_model=UpdateOutcome,
        annotations=overwrites(idempotent=True),
        handler=update_assistant,
        echo_fields=("id",),
    ),
    _list_tool(
        "list_voices",
        "List voices",
        "Voices for voice_id, with their engine mode.",
        VoicesArgs,
        _voices,
        "voices (id name · mode)",
        lambda v: f"{v.get('id')} {v.get('name')} · {v.get('mode')}",
    ),
    _list_tool(
        "list_languages",
        "List languages",
        "Language names accepted by language.",
        NoArgs,
        lambda ctx, _: ctx.lookups.languages(),
        "languages",
        lambda r: f"{r.get('name')} ({r.get('iso_2')})",
    ),
    _list_tool(
        "list_models",
        "List LLM models",
        "Model names accepted by llm_model.",
        NoArgs,
        lambda ctx, _: ctx.lookups.models(),
        "models",
        lambda r: str(r.get("name")),
    ),
    _list_tool(
        "list_phone_numbers",
        "List phone numbers",
        "The account's phone numbers, for phone_number_id.",
        PhoneArgs,
        _phones,
        "phone numbers (id number · type · available)",
        lambda p: (
            f"{p.get('id')} {p.get('phone_number')} · {p.get('type_label')} · "
            f"{'available' if p.get('is_available') else 'assigned'}"
        ),
    ),
)
