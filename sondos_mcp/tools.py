"""The tools: their schemas, annotations and handlers, in one table the server is wired from."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, ConfigDict, Field, JsonValue, ValidationError

from sondos_mcp.changes import apply_change, policy_problems
from sondos_mcp.client import SondosApi
from sondos_mcp.errors import InvalidArguments, SondosError, UpstreamNotFound
from sondos_mcp.feedback import FeedbackBuilder, Problem, suggested_arguments
from sondos_mcp.model import Integer, UpdateAssistantArgs
from sondos_mcp.preview import DIRECTION, Change, diff, stored_to_update
from sondos_mcp.references import ASSISTANT_PAGE, Lookups, check_references, rows_of
from sondos_mcp.results import Outcome, success
from sondos_mcp.schema import model_schema
from sondos_mcp.validation import check_update, offered_fix

if TYPE_CHECKING:
    from mcp.server.context import ServerRequestContext

    from sondos_mcp.changes import Trust


@dataclass(frozen=True)
class ToolContext:
    """What a handler may use; built once per server, never reached through globals.

    `request` is the MCP request being served (its session sends progress and elicitation
    requests; its transport request identifies the caller); the server sets it per call.
    """

    api: SondosApi
    lookups: Lookups
    request: ServerRequestContext[Any] | None = None
    trust: Trust | None = None  # journal, policies, caller names (sondos_mcp.changes)


Handler = Callable[[ToolContext, Mapping[str, Any]], Awaitable[CallToolResult]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any] | None
    annotations: ToolAnnotations
    handler: Handler
    # Structured fields an error result repeats from the arguments (e.g. the assistant's id).
    echo_fields: tuple[str, ...] = ()

    @property
    def writes(self) -> bool:
        return self.annotations.read_only_hint is not True


def _not_found(assistant_id: int) -> UpstreamNotFound:
    return UpstreamNotFound(
        f"Assistant {assistant_id} not found",
        status=404,
        hint="The id does not exist or belongs to another account; list_assistants shows the valid ids.",
    )


# --- update_assistant ----------------------------------------------------------------------


class UpdateOutcome(Outcome):
    applied: bool | None = None
    id: int | None = None
    changed_fields: list[str] | None = None
    data: dict[str, JsonValue] | None = None
    preview: list[Change] | None = None
    change_id: str | None = None


UPDATE_DESCRIPTION = (
    "Change one assistant's settings: id plus only the fields to change. Checked before sending; "
    "a refusal lists each problem with its fix."
)


async def update_assistant(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
    verdict = check_update(arguments, UPDATE_INPUT_SCHEMA)
    builder = FeedbackBuilder(UPDATE_INPUT_SCHEMA, arguments)
    assistant_id = arguments.get("id") if type(arguments.get("id")) is int else None

    async def current_mode() -> str | None:
        if assistant_id is None:
            return None
        try:
            row = await ctx.lookups.find_assistant(assistant_id)
        except SondosError:
            return None
        return row.get("mode") if row else None

    found, improved, warnings = await check_references(ctx.lookups, builder, arguments, verdict.problems, current_mode)
    better = {p.field: p for p in improved}
    problems: list[Problem] = [better.get(p.field, p) for p in verdict.problems] + found
    problems += await policy_problems(ctx, arguments, UPDATE_INPUT_SCHEMA)
    if problems or verdict.args is None:
        raise InvalidArguments(problems, offered_fix(arguments, problems, UPDATE_INPUT_SCHEMA))
    args = verdict.args
    body = args.body(order=list(arguments))
    if args.dry_run:
        return await _preview(ctx, args.id, body, warnings)
    applied = await apply_change(ctx, args.id, body)
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
    lines = [f"Updated {label}: {', '.join(changed)}."] + [f"Warning: {w}" for w in warnings + applied.warnings]
    if applied.change_id:
        lines.append(f"Journaled as {applied.change_id}; undo_change reverts it.")
    return success(outcome, "\n".join(lines))


async def _preview(ctx: ToolContext, assistant_id: int, body: dict[str, Any], warnings: list[str]) -> CallToolResult:
    row = await ctx.lookups.find_assistant(assistant_id)
    if row is None:
        raise _not_found(assistant_id)
    changes = diff(row, body)
    lines = [f"Preview for assistant {assistant_id} ({row.get('name')}); nothing was sent:"]
    for c in changes:
        before = json.dumps(c.before, ensure_ascii=False) if c.before_known else "unknown"
        mark = "" if c.changed is not False else " (no change)"
        lines.append(f"- {c.field}: {before} → {json.dumps(c.after, ensure_ascii=False)}{mark}")
    lines += [f"Warning: {w}" for w in warnings]
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


class _Args(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


def parse(model: type[BaseModel], schema: Mapping[str, Any], arguments: Mapping[str, Any]) -> Any:
    """Validate a read tool's arguments, with the same feedback as update_assistant."""
    try:
        return model.model_validate(dict(arguments))
    except ValidationError as exc:
        problems = FeedbackBuilder(schema, arguments).from_validation_error(exc)
        raise InvalidArguments(problems, suggested_arguments(arguments, problems)) from None


class ListAssistantsArgs(_Args):
    page: Integer = Field(1, ge=1)
    per_page: Integer = Field(20, ge=1, le=100)
    query: str = Field(None, description="Name filter, searches all pages", min_length=1)


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
        direction=DIRECTION.get(stored.get("type", "")),
        mode=stored.get("mode"),
    )


def _row_line(r: AssistantRow) -> str:
    return f"{r.id} {r.name} · {r.status} · {r.direction} · {r.mode}"


async def list_assistants(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
    args = parse(ListAssistantsArgs, LIST_ASSISTANTS_SCHEMA, arguments)
    if args.query is not None:
        words = args.query.casefold().split()
        matches: list[AssistantRow] = []
        page, last = 1, 1
        while page <= last:
            answer = await ctx.lookups.assistant_page(page, ASSISTANT_PAGE)
            rows = [_row(r) for r in rows_of(answer) if isinstance(r.get("id"), int)]
            matches += [r for r in rows if all(w in (r.name or "").casefold() for w in words)]
            last = answer.get("last_page", page) if isinstance(answer, dict) else page
            page += 1
        text = [f"{len(matches)} assistant(s) named like {args.query!r} (id name · status · direction · mode):"]
        outcome = ListAssistantsOutcome(ok=True, message=text[0], assistants=matches, total=len(matches))
        return success(outcome, "\n".join(text + [_row_line(r) for r in matches]))
    answer = await ctx.lookups.assistant_page(args.page, args.per_page)
    rows = [_row(r) for r in rows_of(answer) if isinstance(r.get("id"), int)]
    meta = answer if isinstance(answer, dict) else {}
    last = meta.get("last_page") if isinstance(meta.get("last_page"), int) else None
    total = meta.get("total") if isinstance(meta.get("total"), int) else None
    head = f"Assistants page {args.page}/{last or '?'} ({total if total is not None else '?'} in all)"
    outcome = ListAssistantsOutcome(
        ok=True, message=head, assistants=rows, page=args.page, per_page=args.per_page, total=total, last_page=last
    )
    more = [f"More: page {args.page + 1}."] if last and args.page < last else []
    return success(
        outcome, "\n".join([head + " (id name · status · direction · mode):"] + [_row_line(r) for r in rows] + more)
    )


class IdArgs(_Args):
    id: Integer = Field(description="Assistant id", ge=1)


class AssistantView(BaseModel):
    id: int
    name: str | None = None
    status: str | None = None
    settings: dict[str, JsonValue]
    other: dict[str, JsonValue]


class GetAssistantOutcome(Outcome):
    assistant: AssistantView | None = None


async def get_assistant(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
    args = parse(IdArgs, GET_ASSISTANT_SCHEMA, arguments)
    row = await ctx.lookups.find_assistant(args.id)
    if row is None:
        raise _not_found(args.id)
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


class VoicesArgs(_Args):
    mode: Literal["pipeline", "multimodal"] = Field(None)


class PhoneArgs(_Args):
    type: Literal["inbound", "outbound"] = Field(None)


class NoArgs(_Args):
    pass


class ItemsOutcome(Outcome):
    items: list[dict[str, JsonValue]] | None = None


def _list_tool(
    name: str,
    title: str,
    description: str,
    args_model: type[_Args],
    fetch: Callable[[ToolContext, Any], Awaitable[list[dict[str, Any]]]],
    what: str,
    line: Callable[[dict[str, Any]], str],
) -> ToolSpec:
    """A read-only tool that lists reference rows, in the shape all four listing tools share."""
    schema = model_schema(args_model)

    async def handler(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
        args = parse(args_model, schema, arguments)
        items = await fetch(ctx, args)
        head = f"{len(items)} {what}:"
        return success(ItemsOutcome(ok=True, message=head, items=items), "\n".join([head] + [line(i) for i in items]))

    return ToolSpec(
        name=name,
        title=title,
        description=description,
        input_schema=schema,
        output_schema=ITEMS_OUTPUT,
        annotations=_read_only(title),
        handler=handler,
    )


async def _voices(ctx: ToolContext, args: VoicesArgs) -> list[dict[str, Any]]:
    voices = await ctx.lookups.voices()
    return [v for v in voices if args.mode is None or v.get("mode") == args.mode]


async def _phones(ctx: ToolContext, args: PhoneArgs) -> list[dict[str, Any]]:
    phones = await ctx.lookups.phone_numbers()
    return [p for p in phones if args.type is None or p.get("type_label") == args.type]


# --- the table -----------------------------------------------------------------------------


ERROR_ONLY = ("error", "problems", "suggested_arguments")


def _output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The success shape. Fields only error results carry are left out: clients check only successful
    results against it, every listed property costs tokens, and extra properties still conform."""
    schema = model_schema(model, first=("ok", "message"), shallow=True)
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in ERROR_ONLY}
    return schema


def _read_only(title: str) -> ToolAnnotations:
    return ToolAnnotations(
        title=title, read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True
    )


UPDATE_INPUT_SCHEMA = model_schema(UpdateAssistantArgs, first=("id",))
UPDATE_ARGS_FIELDS = [f for f in UPDATE_INPUT_SCHEMA["properties"] if f not in ("id", "dry_run")]
LIST_ASSISTANTS_SCHEMA = model_schema(ListAssistantsArgs)
GET_ASSISTANT_SCHEMA = model_schema(IdArgs)
ITEMS_OUTPUT = _output_schema(ItemsOutcome)

TOOLS: tuple[ToolSpec, ...] = (
    ToolSpec(
        name="list_assistants",
        title="List assistants",
        description="Assistants as id, name, status, direction (receive|make), mode; paged. Use query to find by name.",
        input_schema=LIST_ASSISTANTS_SCHEMA,
        output_schema=_output_schema(ListAssistantsOutcome),
        annotations=_read_only("List assistants"),
        handler=list_assistants,
    ),
    ToolSpec(
        name="get_assistant",
        title="Get assistant settings",
        description="One assistant's current settings, named as in update_assistant. No single-assistant "
        "endpoint exists, so this pages the list (cached briefly).",
        input_schema=GET_ASSISTANT_SCHEMA,
        output_schema=_output_schema(GetAssistantOutcome),
        annotations=_read_only("Get assistant settings"),
        handler=get_assistant,
        echo_fields=("id",),
    ),
    ToolSpec(
        name="update_assistant",
        title="Update assistant settings",
        description=UPDATE_DESCRIPTION,
        input_schema=UPDATE_INPUT_SCHEMA,
        output_schema=_output_schema(UpdateOutcome),
        annotations=ToolAnnotations(
            title="Update assistant settings",
            read_only_hint=False,
            destructive_hint=True,
            idempotent_hint=True,
            open_world_hint=True,
        ),
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

# The journal, undo and change-set tools build on the table above.
from sondos_mcp.change_tools import CHANGE_TOOLS  # noqa: E402

TOOLS += CHANGE_TOOLS
TOOLS_BY_NAME: dict[str, ToolSpec] = {tool.name: tool for tool in TOOLS}
