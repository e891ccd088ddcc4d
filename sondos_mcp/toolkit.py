"""What every tool module shares: the handler's context, the tool spec, argument parsing, schema
helpers, and how `update_assistant` proposals are checked (the one pipeline, policy included)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, ConfigDict, ValidationError

from sondos_mcp.checking import CheckContext, Proposal, Stage, Verdict, check_proposal
from sondos_mcp.client import SondosApi
from sondos_mcp.errors import InvalidArguments, SondosError, UpstreamNotFound
from sondos_mcp.feedback import FeedbackBuilder, suggested_arguments
from sondos_mcp.model import UpdateAssistantArgs
from sondos_mcp.policy import OPEN, Policy
from sondos_mcp.references import Lookups
from sondos_mcp.schema import model_schema

if TYPE_CHECKING:
    import anyio
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
    # The call's deadline; the time a person takes to confirm a change is not counted against it.
    deadline: anyio.CancelScope | None = None


Handler = Callable[[ToolContext, Mapping[str, Any]], Awaitable[CallToolResult]]


@dataclass(frozen=True)
class ToolSpec:
    """One tool. Its schemas are generated from its models on first use (the first tools/list), not
    at import: a desktop client waits for the server's start-up on every launch."""

    name: str
    title: str
    description: str
    input_model: type[BaseModel]
    output_model: type[BaseModel] | None
    annotations: ToolAnnotations
    handler: Handler
    # Structured fields an error result repeats from the arguments (e.g. the assistant's id).
    echo_fields: tuple[str, ...] = ()

    @functools.cached_property
    def input_schema(self) -> dict[str, Any]:
        return input_schema(self.input_model)

    @functools.cached_property
    def output_schema(self) -> dict[str, Any] | None:
        return None if self.output_model is None else output_schema(self.output_model)

    @property
    def writes(self) -> bool:
        return self.annotations.read_only_hint is not True


def not_found(assistant_id: int) -> UpstreamNotFound:
    return UpstreamNotFound(
        f"Assistant {assistant_id} not found",
        status=404,
        hint="The id does not exist or belongs to another account; list_assistants shows the valid ids.",
    )


class Args(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


def parse(model: type[BaseModel], arguments: Mapping[str, Any]) -> Any:
    """Validate a tool's arguments, with the same feedback as update_assistant."""
    try:
        return model.model_validate(dict(arguments))
    except ValidationError as exc:
        problems = FeedbackBuilder(input_schema(model), arguments).from_validation_error(exc)
        raise InvalidArguments(problems, suggested_arguments(arguments, problems)) from None


ERROR_ONLY = ("error", "problems", "suggested_arguments")


@functools.cache
def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A tool's input schema, generated once; `id`, where there is one, leads. Shared: never modify it."""
    return model_schema(model, first=("id",))


@functools.cache
def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The success shape. Fields only error results carry are left out: clients check only successful
    results against it, every listed property costs tokens, and extra properties still conform."""
    schema = model_schema(model, first=("ok", "message"), shallow=True)
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in ERROR_ONLY}
    return schema


def read_only(title: str, *, open_world: bool = True) -> ToolAnnotations:
    """A tool that changes nothing; `open_world` False when it reads only this server's own state."""
    return ToolAnnotations(
        title=title, read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=open_world
    )


def overwrites(title: str, *, idempotent: bool) -> ToolAnnotations:
    """A tool that changes live assistants' settings (always destructive: a setting is overwritten)."""
    return ToolAnnotations(
        title=title, read_only_hint=False, destructive_hint=True, idempotent_hint=idempotent, open_world_hint=True
    )


def update_input_schema() -> dict[str, Any]:
    """update_assistant's advertised input schema, as the contract (the model) generates it."""
    return input_schema(UpdateAssistantArgs)


def policy_of(ctx: ToolContext) -> Policy:
    """The policy that governs this call's caller (the open policy when none is configured)."""
    return ctx.trust.policy(ctx.request) if ctx.trust is not None else OPEN


async def stored_row(ctx: ToolContext, assistant_id: int) -> dict[str, Any] | None:
    """An assistant's stored row, for a step that can do without it (None when unreadable or absent)."""
    try:
        return await ctx.lookups.find_assistant(assistant_id)
    except SondosError:
        return None


async def check_update(ctx: ToolContext, raw: Mapping[str, Any]) -> Verdict:
    """Judge one update_assistant proposal: contract, rules, live references and the caller's policy."""

    async def assistant_mode(assistant_id: int) -> str | None:
        row = await stored_row(ctx, assistant_id)
        return row.get("mode") if row else None

    policy = policy_of(ctx)
    if policy is OPEN:
        return await check_proposal(raw, CheckContext(update_input_schema(), ctx.lookups, assistant_mode))

    async def assistant_name(assistant_id: int) -> str | None:
        row = await stored_row(ctx, assistant_id)
        return row.get("name") if row else None

    context = CheckContext(policy.narrow(update_input_schema()), ctx.lookups, assistant_mode)
    return await check_proposal(raw, context, (policy_stage(policy, assistant_name),))


def policy_stage(policy: Policy, assistant_name: Callable[[int], Awaitable[str | None]]) -> Stage:
    """The pipeline's last stage: what the proposal, as resolved, may not do under `policy`."""

    async def stage(p: Proposal) -> None:
        assistant_id = p.resolved.get("id") if type(p.resolved.get("id")) is int else None
        name = None
        if assistant_id is not None and policy.rules.allowed_assistants is not None:
            name = await assistant_name(assistant_id)
        p.problems += policy.problems(p.context.schema, p.resolved, assistant_id, name)

    return stage
