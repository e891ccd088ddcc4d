"""The assistant tools: update_assistant, and the read tools (assistants and the lookup lists)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal

from mcp_types import CallToolResult
from pydantic import BaseModel, Field, JsonValue

from sondos_mcp import assistants
from sondos_mcp.domain.changes import apply_change, not_found
from sondos_mcp.domain.checks import check_update
from sondos_mcp.errors import InvalidArguments
from sondos_mcp.feedback import Notice
from sondos_mcp.model import MAX_ID, Integer, Omittable, UpdateAssistantArgs
from sondos_mcp.preview import Change, diff, stored_to_update
from sondos_mcp.references import rows_of
from sondos_mcp.results import Outcome, success
from sondos_mcp.tools.base import Args, ToolContext, ToolSpec, overwrites, parse, read_only
from sondos_mcp.vocabulary import STORED_DIRECTION

# --- update_assistant ----------------------------------------------------------------------


class UpdateOutcome(Outcome):
    applied: bool | Literal["unknown"] | None = None
    id: int | None = None
    changed_fields: list[str] | None = None
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
    warnings = verdict.warnings
    args = verdict.args
    body = args.body(order=list(arguments))
    if args.dry_run:
        return await _preview(ctx, args.id, body, warnings)
    applied = await apply_change(session, args.id, body)
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
        warnings=(warnings + applied.warnings) or None,
        change_id=applied.change_id,
    )
    lines = [f"Updated {label}: {', '.join(changed)}."] + [w.line() for w in warnings + applied.warnings]
    if applied.change_id:
        lines.append(f"Journaled as {applied.change_id}; undo_change reverts it.")
    return success(outcome, "\n".join(lines))


async def _preview(ctx: ToolContext, assistant_id: int, body: dict[str, Any], warnings: list[Notice]) -> CallToolResult:
    row = await assistants.find(ctx.lookups, assistant_id)
    if row is None:
        raise not_found(assistant_id)
    changes = diff(row, body)
    lines = [f"Preview for assistant {assistant_id} ({row.get('name')}); nothing was sent:"]
    for c in changes:
        before = json.dumps(c.before, ensure_ascii=False) if c.before_known else "unknown"
        mark = "" if c.changed is not False else " (no change)"
        lines.append(f"- {c.field}: {before} → {json.dumps(c.after, ensure_ascii=False)}{mark}")
    lines += [w.line() for w in warnings]
    lines.append("Call again without dry_run to apply.")
    outcome = UpdateOutcome(
        ok=True,
        applied=False,
        message="Preview only; nothing was sent",
        id=assistant_id,
        changed_fields=[c.field for c in changes if c.changed is not False],
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


class AssistantView(BaseModel):
    id: int
    name: str | None = None
    status: str | None = None
    settings: dict[str, JsonValue]
    other: dict[str, JsonValue]


class GetAssistantOutcome(Outcome):
    assistant: AssistantView | None = None


async def get_assistant(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
    args = parse(IdArgs, arguments)
    row = await assistants.find(ctx.lookups, args.id)
    if row is None:
        raise not_found(args.id)
    settings, other = stored_to_update(row)
    view = AssistantView(id=args.id, name=row.get("name"), status=row.get("status"), settings=settings, other=other)
    lines = [f"Assistant {args.id} ({row.get('name')}, {row.get('status')}); settings in update_assistant names:"]
    lines += [f"- {k}: {_short(v)}" for k, v in settings.items()]
    lines.append(
        "Not readable here (unknown until set): " + ", ".join(f for f in UPDATE_ARGS_FIELDS if f not in settings)
    )
    return success(GetAssistantOutcome(ok=True, message=lines[0], assistant=view), "\n".join(lines))


def _short(value: Any, limit: int = 80) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
        annotations=read_only(title),
        handler=handler,
    )


async def _voices(ctx: ToolContext, args: VoicesArgs) -> list[dict[str, Any]]:
    voices = await ctx.lookups.voices()
    return [v for v in voices if args.mode is None or v.get("mode") == args.mode]


async def _phones(ctx: ToolContext, args: PhoneArgs) -> list[dict[str, Any]]:
    phones = await ctx.lookups.phone_numbers()
    return [p for p in phones if args.type is None or p.get("type_label") == args.type]


# --- the table -----------------------------------------------------------------------------


UPDATE_ARGS_FIELDS = [f for f in UpdateAssistantArgs.model_fields if f not in ("id", "dry_run")]

ASSISTANT_TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="list_assistants",
        title="List assistants",
        description="Assistants as id, name, status, direction (receive|make), mode; paged. Use query to find by name.",
        input_model=ListAssistantsArgs,
        output_model=ListAssistantsOutcome,
        annotations=read_only("List assistants"),
        handler=list_assistants,
    ),
    ToolSpec(
        name="get_assistant",
        title="Get assistant settings",
        description="One assistant's current settings, named as in update_assistant. No single-assistant "
        "endpoint exists, so this pages the list (cached briefly).",
        input_model=IdArgs,
        output_model=GetAssistantOutcome,
        annotations=read_only("Get assistant settings"),
        handler=get_assistant,
        echo_fields=("id",),
    ),
    ToolSpec(
        name="update_assistant",
        title="Update assistant settings",
        description=UPDATE_DESCRIPTION,
        input_model=UpdateAssistantArgs,
        output_model=UpdateOutcome,
        annotations=overwrites("Update assistant settings", idempotent=True),
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
