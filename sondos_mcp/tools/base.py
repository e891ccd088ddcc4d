"""What every tool handler shares: the handler's context, the tool spec, argument parsing, schema
helpers, and the domain `Session` a handler hands its work to."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mcp_types import CallToolResult, ToolAnnotations
from pydantic import BaseModel, ConfigDict, ValidationError

from sondos_mcp import confirm
from sondos_mcp.client import SondosApi
from sondos_mcp.domain.session import Session
from sondos_mcp.errors import InvalidArguments
from sondos_mcp.feedback import FeedbackBuilder, suggested_arguments
from sondos_mcp.references import Lookups
from sondos_mcp.schema import input_schema, model_schema
from sondos_mcp.trust import Person, Trust

if TYPE_CHECKING:
    import anyio
    from mcp.server.context import ServerRequestContext


@dataclass(frozen=True)
class ToolContext:
    """What a handler may use; built once per server, never reached through globals.

    `request` is the MCP request being served (its session sends progress and elicitation
    requests; its transport request identifies the caller); the server sets it per call.
    """

    api: SondosApi
    lookups: Lookups
    trust: Trust
    request: ServerRequestContext[Any] | None = None
    # The call's deadline; the time a person takes to confirm a change is not counted against it.
    deadline: anyio.CancelScope | None = None
    # The signed-in person (HTTP oauth mode), else None.
    person: Person | None = None

    def headers(self) -> Any:
        """The caller's transport headers (HTTP), or None (stdio)."""
        return getattr(getattr(self.request, "request", None), "headers", None)

    def session(self) -> Session:
        """The domain's view of this call: who is calling, for which account, how to ask the person."""
        caller = self.trust.caller(self.headers(), self.api.key_fingerprint(), self.person)
        request, deadline = self.request, self.deadline

        async def ask(items: Any, verb: str) -> None:
            await confirm.ask(request, items, verb, deadline=deadline)

        progress = None
        if request is not None:
            reporter = request.session

            async def progress(done: int, total: int, message: str) -> None:
                await reporter.report_progress(done, total, message)

        return Session(self.api, self.lookups, self.trust, caller, ask, progress)


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


class Args(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid")


def parse(model: type[BaseModel], arguments: Mapping[str, Any]) -> Any:
    """Validate a tool's arguments, with the same feedback as update_assistant."""
    try:
        return model.model_validate(dict(arguments))
    except ValidationError as exc:
        problems = FeedbackBuilder(input_schema(model), arguments).from_validation_error(exc)
        raise InvalidArguments(problems, suggested_arguments(arguments, problems)) from None


# Left out of output schemas: what only error results carry, and the warnings any result may carry
# (the text says them too). Clients check only successful results against the schema, every listed
# property costs tokens in every conversation, and extra properties still conform.
UNLISTED = ("error", "problems", "suggested_arguments", "warnings")


@functools.cache
def output_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The success shape, without the `UNLISTED` properties."""
    schema = model_schema(model, first=("ok", "message"), shallow=True)
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in UNLISTED}
    return schema


# The tool's title is the Tool's own `title`; repeating it in the annotations costs tokens and says nothing.


def read_only(*, open_world: bool = True) -> ToolAnnotations:
    """A tool that changes nothing; `open_world` False when it reads only this server's own state."""
    return ToolAnnotations(
        read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=open_world
    )


def overwrites(*, idempotent: bool) -> ToolAnnotations:
    """A tool that changes live assistants' settings (always destructive: a setting is overwritten)."""
    return ToolAnnotations(
        read_only_hint=False, destructive_hint=True, idempotent_hint=idempotent, open_world_hint=True
    )
