"""Wiring only: the MCP server built from the tool table, the settings and the API client."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import replace
from typing import Any, Protocol, TypeVar

import anyio
from mcp.server import Server
from mcp.server.caching import CacheableMethod, CacheHint
from mcp.server.context import ServerRequestContext
from mcp.shared.exceptions import MCPError
from mcp_types import (
    INVALID_PARAMS,
    CallToolRequestParams,
    CallToolResult,
    CompleteRequestParams,
    CompleteResult,
    GetPromptRequestParams,
    GetPromptResult,
    InputRequiredResult,
    ListPromptsResult,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ListToolsResult,
    PaginatedRequestParams,
    ReadResourceRequestParams,
    ReadResourceResult,
    Tool,
)
from pydantic import SecretStr

from sondos_mcp import __version__, completions, prompts, resources, ui
from sondos_mcp.bounds import argument_problem, cap_result, escape_result, escape_text
from sondos_mcp.cache import TTLCache
from sondos_mcp.client import CALL_RECORD, CallRecord, KeySource, SondosApi
from sondos_mcp.config import Settings
from sondos_mcp.confirm import NeedsInput
from sondos_mcp.errors import READ_BACK_HINT, DeadlineExceeded, InvalidArguments, SondosError
from sondos_mcp.policy import Policy
from sondos_mcp.references import Lookups
from sondos_mcp.results import error_result, rpc_error
from sondos_mcp.tools import TOOLS, TOOLS_BY_NAME, ToolContext, ToolSpec
from sondos_mcp.trust import Person, Trust

log = logging.getLogger(__name__)
T = TypeVar("T")

DESCRIPTION = "Check, preview, apply and undo changes to Sondos AI voice assistants"

INSTRUCTIONS = (
    "Adjusts Sondos AI voice assistants. Workflow: find (list_assistants, query= by name) → read "
    "(get_assistant) → preview (update_assistant with dry_run: true, show the user before → after) → "
    "update (same call without dry_run). Assistants, voices and phone numbers are addressed by integer "
    "id (list_voices, list_phone_numbers); language and llm_model take names (list_languages, "
    "list_models). On isError, apply each problem's fix; where a problem offers candidates instead, pick "
    "by the user's words or ask them, then call again. Every change is journaled: list_changes shows "
    "what changed, undo_change takes a change back; update_assistants changes several assistants at once."
)


# How long a client may reuse a listing. The lists are fixed for the life of the process; tools and
# prompts follow the caller's policy, so only the resource lists may be shared between callers.
CACHE_HINTS: dict[CacheableMethod, CacheHint] = {
    "tools/list": CacheHint(ttl_ms=3_600_000, scope="private"),
    "prompts/list": CacheHint(ttl_ms=3_600_000, scope="private"),
    "resources/list": CacheHint(ttl_ms=3_600_000, scope="public"),
    "resources/templates/list": CacheHint(ttl_ms=3_600_000, scope="public"),
}


def _listing(tool: ToolSpec, policy: Policy | None = None) -> Tool:
    return Tool(
        name=tool.name,
        title=tool.title,
        description=tool.description,
        input_schema=policy.narrow(tool.input_schema)
        if policy and tool.name == "update_assistant"
        else tool.input_schema,
        output_schema=tool.output_schema,
        annotations=tool.annotations,
        meta=ui.tool_meta(tool.name),
    )


def tool_listing(policy: Policy | None = None, tools: tuple[ToolSpec, ...] = TOOLS) -> ListToolsResult:
    """What tools/list answers under a policy (read-only lists no write tool); built once per policy."""
    listed = [t for t in tools if policy is None or not (policy.read_only and t.writes)]
    return ListToolsResult(tools=[_listing(t, policy) for t in listed])


# The key of the call being served, when each caller brings its own (HTTP per-user mode). Set in
# the call handler's own task, so it cannot leak into another caller's concurrent call.
_call_key: ContextVar[SecretStr | None] = ContextVar("sondos_call_key", default=None)

RequestKey = Callable[[Any], SecretStr | None]
"""Reads the caller's own API key from the transport's request (None: the caller sent none)."""


class People(Protocol):
    """Signed-in people (HTTP oauth mode): who is calling, and the Sondos key each call acts with."""

    tools: tuple[ToolSpec, ...]  # tools of their own (their key on file), listed beside the others

    def attach(self, context: ToolContext) -> None:
        """The server's context, once its lifespan has built it (the journal and key vault live there)."""

    async def aclose(self) -> None: ...

    def person(self, request: Any) -> Person | None:
        """The person the transport's request was authenticated as."""

    async def admit(self, ctx: ServerRequestContext[ToolContext], person: Person | None, tool: ToolSpec) -> Any:
        """The key (`SecretStr`) this call acts with, or None for a tool that needs none; raises a
        `SondosError` (a missing scope, no key on file) or asks the person to enrol one."""


def deadline_exceeded(seconds: float, write_sent: bool) -> DeadlineExceeded:
    return DeadlineExceeded(
        f"The call did not finish within its {seconds:g} s deadline",
        hint=READ_BACK_HINT
        if write_sent
        else "Nothing was changed. The Sondos API is slow or not answering; try again later.",
        outcome="unknown" if write_sent else "not_applied",
    )


def _policy(ctx: ServerRequestContext[ToolContext], person: Person | None = None) -> Policy:
    """The policy of the caller of this request (the listing and the call agree on it)."""
    trust = ctx.lifespan_context.trust
    return trust.caller(getattr(ctx.request, "headers", None), "", person).policy


def settle_heap() -> None:
    """Once start-up has built what it builds (modules, models, schemas), keep it out of the cyclic
    collector's full passes, which then walk only what requests create: without this, a full pass
    over the import-time heap lands inside a call every few hundred calls and takes ~30 ms.
    No `gc.collect()` first: start-up is what desktop clients wait for on every launch."""
    gc.freeze()


def build_server(
    settings: Settings, request_key: RequestKey | None = None, people: People | None = None
) -> Server[ToolContext]:
    """The MCP server. With `request_key`, every call uses the key its caller sent, and only that;
    with `people`, the key the signed-in person sent or enrolled."""
    listings: dict[int, ListToolsResult] = {}
    key_source: KeySource | None = _call_key.get if request_key is not None or people is not None else None
    tools = TOOLS + (people.tools if people is not None else ())
    by_name = TOOLS_BY_NAME if people is None else {tool.name: tool for tool in tools}

    @asynccontextmanager
    async def lifespan(_: Server[ToolContext]) -> AsyncIterator[ToolContext]:
        api = SondosApi(settings, key_source=key_source)
        trust = Trust.from_settings(settings)
        try:
            cache = TTLCache(ttl=60.0, max_entries=settings.cache_entries)
            context = ToolContext(api=api, lookups=Lookups(api, cache, max_pages=settings.max_pages), trust=trust)
            if people is not None:
                people.attach(context)
            yield context
        finally:
            if people is not None:
                await people.aclose()
            await trust.aclose()
            await api.aclose()

    async def on_list_tools(
        ctx: ServerRequestContext[ToolContext], params: PaginatedRequestParams | None
    ) -> ListToolsResult:
        policy = _policy(ctx, people.person(ctx.request) if people is not None else None)
        key = id(policy)
        if key not in listings:
            listings[key] = tool_listing(policy, tools)
        return listings[key]

    async def on_call_tool(
        ctx: ServerRequestContext[ToolContext], params: CallToolRequestParams
    ) -> CallToolResult | InputRequiredResult:
        tool = by_name.get(params.name)
        person = people.person(ctx.request) if people is not None else None
        if tool is not None and tool.writes and _policy(ctx, person).read_only:
            tool = None  # not listed under a read-only policy, so not callable either
        if tool is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {params.name}")
        arguments = params.arguments or {}
        token = _call_key.set(request_key(ctx.request)) if request_key is not None and people is None else None
        record = CallRecord()
        record_token = CALL_RECORD.set(record)
        try:
            result = await run(tool, ctx, arguments, record, person)
        except NeedsInput as exc:
            return exc.result  # the client asks its user and calls again with the answer
        finally:
            CALL_RECORD.reset(record_token)
            if token is not None:
                _call_key.reset(token)
        return cap_result(escape_result(result), settings.max_result_bytes)

    async def serve(
        ctx: ServerRequestContext[ToolContext],
        what: str,
        reads_as: str | None,
        work: Callable[[ToolContext], Awaitable[T]],
    ) -> T:
        """A request besides tools/call (a resource, completions), with the key and scope of the tool
        whose data it reads (`reads_as`; None: it reads no account), within the call deadline, its
        failures as JSON-RPC errors. Raises `NeedsInput` when a signed-in person must enrol a key."""
        person = people.person(ctx.request) if people is not None else None
        token = None
        try:
            if people is None and request_key is not None:
                token = _call_key.set(request_key(ctx.request))
            elif people is not None and reads_as is not None:
                token = _call_key.set(await people.admit(ctx, person, by_name[reads_as]))
            with anyio.move_on_after(settings.deadline) as deadline:
                return await work(replace(ctx.lifespan_context, request=ctx, deadline=deadline, person=person))
            raise deadline_exceeded(settings.deadline, write_sent=False)
        except SondosError as exc:
            log.info("%s refused: %s (%s)", what, exc.kind, escape_text(exc.message))
            raise rpc_error(exc) from None
        finally:
            if token is not None:
                _call_key.reset(token)

    async def on_list_resources(
        ctx: ServerRequestContext[ToolContext], params: PaginatedRequestParams | None
    ) -> ListResourcesResult:
        return resources.resource_listing()

    async def on_list_resource_templates(
        ctx: ServerRequestContext[ToolContext], params: PaginatedRequestParams | None
    ) -> ListResourceTemplatesResult:
        return resources.template_listing()

    async def on_read_resource(
        ctx: ServerRequestContext[ToolContext], params: ReadResourceRequestParams
    ) -> ReadResourceResult | InputRequiredResult:
        try:
            reads_as = resources.reads_as(params.uri)
            return await serve(ctx, "resources/read", reads_as, lambda tc: resources.read(tc, params.uri))
        except NeedsInput as exc:
            return exc.result  # a signed-in person enrols their key, and the client reads again

    async def on_list_prompts(
        ctx: ServerRequestContext[ToolContext], params: PaginatedRequestParams | None
    ) -> ListPromptsResult:
        return prompts.prompt_listing(_policy(ctx, people.person(ctx.request) if people is not None else None))

    async def on_get_prompt(ctx: ServerRequestContext[ToolContext], params: GetPromptRequestParams) -> GetPromptResult:
        policy = _policy(ctx, people.person(ctx.request) if people is not None else None)
        try:
            return prompts.get_prompt(params.name, params.arguments, policy)
        except SondosError as exc:
            raise rpc_error(exc) from None

    async def on_completion(ctx: ServerRequestContext[ToolContext], params: CompleteRequestParams) -> CompleteResult:
        policy = _policy(ctx, people.person(ctx.request) if people is not None else None)
        try:
            reads_as = completions.reads_as(params, policy)
            return await serve(
                ctx, "completion/complete", reads_as, lambda tc: completions.complete(tc, params, policy)
            )
        except SondosError as exc:
            raise rpc_error(exc) from None
        except NeedsInput:
            return completions.nothing()  # no key on file yet: the next tool call asks the person to enrol

    async def run(
        tool: ToolSpec,
        ctx: ServerRequestContext[ToolContext],
        arguments: dict[str, Any],
        record: CallRecord,
        person: Person | None = None,
    ) -> CallToolResult:
        key_token = None
        try:
            too_large = argument_problem(
                arguments,
                max_values=settings.max_argument_values,
                max_depth=settings.max_argument_depth,
                max_bytes=settings.http_max_body,
            )
            if too_large is not None:
                raise InvalidArguments([too_large])
            if people is not None:
                key_token = _call_key.set(await people.admit(ctx, person, tool))
            # One deadline for the whole call: retries, paging and lookups all count against it.
            with anyio.move_on_after(settings.deadline) as deadline:
                context = replace(ctx.lifespan_context, request=ctx, deadline=deadline, person=person)
                return await tool.handler(context, arguments)
            raise deadline_exceeded(settings.deadline, record.write_sent and tool.writes)
        except SondosError as exc:
            log.info("%s refused: %s (%s)", tool.name, exc.kind, escape_text(exc.message))
            extra = {k: arguments[k] for k in tool.echo_fields if isinstance(arguments.get(k), int)}
            return error_result(
                exc,
                arguments=arguments,
                input_schema=tool.input_schema,
                extra=extra,
                writes=tool.writes,
                max_problems=settings.max_problems,
            )
        finally:
            if key_token is not None:
                _call_key.reset(key_token)

    server = Server(
        "sondos-mcp",
        version=__version__,
        title="Sondos AI assistants",
        description=DESCRIPTION,
        icons=ui.server_icons(),
        instructions=INSTRUCTIONS,
        cache_hints=CACHE_HINTS,
        lifespan=lifespan,
        get_tool_input_schema=lambda name: TOOLS_BY_NAME[name].input_schema if name in TOOLS_BY_NAME else None,
        on_list_tools=on_list_tools,
        on_call_tool=on_call_tool,
        on_list_resources=on_list_resources,
        on_list_resource_templates=on_list_resource_templates,
        on_read_resource=on_read_resource,
        on_list_prompts=on_list_prompts,
        on_get_prompt=on_get_prompt,
        on_completion=on_completion,
    )
    # MCP Apps: advertised as the SDK's `Apps` would (`MCPServer(extensions=...)` does the same).
    server.extensions[ui.EXTENSION_ID] = ui.SETTINGS
    return server
