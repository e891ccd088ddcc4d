"""The tools: their schemas, annotations and handlers, in one table the server is wired from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, JsonValue

from sondos_mcp.client import SondosApi
from sondos_mcp.model import UpdateAssistantArgs
from sondos_mcp.results import InvalidArguments, Outcome, success
from sondos_mcp.schema import model_schema
from sondos_mcp.validation import check_update


@dataclass(frozen=True)
class ToolContext:
    """What a handler may use; built once per server, never reached through globals."""

    api: SondosApi


Handler = Callable[[ToolContext, Mapping[str, Any]], Awaitable[CallToolResult]]


@dataclass(frozen=True)
class ToolSpec:
    name: str
    title: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    annotations: ToolAnnotations
    handler: Handler
    # Structured fields an error result repeats from the arguments (e.g. the assistant's id).
    echo_fields: tuple[str, ...] = ()


class UpdateOutcome(Outcome):
    id: int | None = None
    changed_fields: list[str] | None = None
    data: dict[str, JsonValue] | None = None


UPDATE_DESCRIPTION = (
    "Change settings of one Sondos voice assistant: id plus only the fields to change; others stay "
    "as they are. Checked before sending; a refusal lists each problem with a fix where one exists."
)


async def update_assistant(ctx: ToolContext, arguments: Mapping[str, Any]) -> CallToolResult:
    verdict = check_update(arguments, UPDATE_INPUT_SCHEMA)
    if not verdict.ok or verdict.args is None:
        raise InvalidArguments(verdict.problems, verdict.suggested)
    args = verdict.args
    body = args.body(order=list(arguments))
    answer = await ctx.api.update_assistant(args.id, body)
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
    )
    return success(outcome, f"Updated {label}: {', '.join(changed)}.")


def _output_schema(model: type[BaseModel]) -> dict[str, Any]:
    return model_schema(model, first=("ok", "message"), shallow=True)


UPDATE_INPUT_SCHEMA = model_schema(UpdateAssistantArgs, first=("id",))

TOOLS: tuple[ToolSpec, ...] = (
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
)

TOOLS_BY_NAME: dict[str, ToolSpec] = {tool.name: tool for tool in TOOLS}
