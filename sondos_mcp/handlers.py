"""Every request but initialize: the handlers `server.build_server` wires, over one tool context.

Over stdio they are built on the first request after initialize (`server.build_server`), with
everything they import: the tool table, the update contract's models, checking and the trust
layer; a desktop client spawns the server on every launch and waits for its initialize answer
first. Over HTTP they are built when the server starts, before any caller is served.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import replace
from typing import Any, Protocol, TypeVar

import anyio
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

from sondos_mcp import ui
from sondos_mcp.bounds import argument_problem, cap_result, escape_result, escape_text
from sondos_mcp.cache import TTLCache
from sondos_mcp.client import CALL_RECORD, CallRecord, KeySource, SondosApi
from sondos_mcp.config import Settings
from sondos_mcp.confirm import NeedsInput
from sondos_mcp.errors import READ_BACK_HINT, DeadlineExceeded, InvalidArguments, SondosError
from sondos_mcp.policy import Policies, Policy
from sondos_mcp.references import Lookups
from sondos_mcp.results import error_result, rpc_error
from sondos_mcp.tools import TOOLS, TOOLS_BY_NAME, ToolContext, ToolSpec
from sondos_mcp.trust import Person, Trust

log = logging.getLogger(__name__)
T = TypeVar("T")
Context = ServerRequestContext[Any]


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

    async def admit(self, ctx: Context, person: Person | None, tool: ToolSpec) -> Any:
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


class Handlers:
    """The handlers and the tool context they share (the API client, the lookups cache, trust).
    With `request_key`, every call uses the key its caller sent, and only that; with `people`,
    the key the signed-in person sent or enrolled."""

    def __init__(
        self,
        settings: Settings,
        request_key: RequestKey | None,
        people: People | None,
        policies: Policies | None = None,
    ) -> None:
        self.settings = settings
        self.request_key = request_key
        self.people = people
        self.listings: dict[int, ListToolsResult] = {}
        self.tools = TOOLS + (people.tools if people is not None else ())
        self.by_name = TOOLS_BY_NAME if people is None else {tool.name: tool for tool in self.tools}
        key_source: KeySource | None = _call_key.get if request_key is not None or people is not None else None
        api = SondosApi(settings, key_source=key_source)
        trust = Trust.from_settings(settings, policies)
        cache = TTLCache(ttl=60.0, max_entries=settings.cache_entries)
        self.context = ToolContext(api=api, lookups=Lookups(api, cache, max_pages=settings.max_pages), trust=trust)
        if people is not None:
            people.attach(self.context)

    async def aclose(self) -> None:
        try:
            await self.context.trust.aclose()
        finally:
            await self.context.api.aclose()

    def _person(self, ctx: Context) -> Person | None:
        return self.people.person(ctx.request) if self.people is not None else None

    def _policy(self, ctx: Context, person: Person | None) -> Policy:
        """The policy of the caller of this request (the listing and the call agree on it)."""
        return self.context.trust.caller(getattr(ctx.request, "headers", None), "", person).policy

    async def on_list_tools(self, ctx: Context, params: PaginatedRequestParams | None) -> ListToolsResult:
        policy = self._policy(ctx, self._person(ctx))
        key = id(policy)
        if key not in self.listings:
            self.listings[key] = tool_listing(policy, self.tools)
        return self.listings[key]

    async def on_call_tool(self, ctx: Context, params: CallToolRequestParams) -> CallToolResult | InputRequiredResult:
        tool = self.by_name.get(params.name)
        person = self._person(ctx)
        if tool is not None and tool.writes and self._policy(ctx, person).read_only:
            tool = None  # not listed under a read-only policy, so not callable either
        if tool is None:
            raise MCPError(code=INVALID_PARAMS, message=f"Unknown tool: {params.name}")
        arguments = params.arguments or {}
        request_key = self.request_key
        token = _call_key.set(request_key(ctx.request)) if request_key is not None and self.people is None else None
        record = CallRecord()
        record_token = CALL_RECORD.set(record)
        try:
            result = await self.run(tool, ctx, arguments, record, person)
        except NeedsInput as exc:
            return exc.result  # the client asks its user and calls again with the answer
        finally:
            CALL_RECORD.reset(record_token)
            if token is not None:
                _call_key.reset(token)
        return cap_result(escape_result(result), self.settings.max_result_bytes)

    async def serve(
        self, ctx: Context, what: str, reads_as: str | None, work: Callable[[ToolContext], Awaitable[T]]
    ) -> T:
        """A request besides tools/call (a resource, completions), with the key and scope of the tool
        whose data it reads (`reads_as`; None: it reads no account), within the call deadline, its
        failures as JSON-RPC errors. Raises `NeedsInput` when a signed-in person must enrol a key."""
        people, request_key, settings = self.people, self.request_key, self.settings
        person = self._person(ctx)
        token = None
        try:
            if people is None and request_key is not None:
                token = _call_key.set(request_key(ctx.request))
            elif people is not None and reads_as is not None:
                token = _call_key.set(await people.admit(ctx, person, self.by_name[reads_as]))
            with anyio.move_on_after(settings.deadline) as deadline:
                return await work(replace(self.context, request=ctx, deadline=deadline, person=person))
            raise deadline_exceeded(settings.deadline, write_sent=False)
        except SondosError as exc:
            log.info("%s refused: %s (%s)", what, exc.kind, escape_text(exc.message))
            raise rpc_error(exc) from None
        finally:
            if token is not None:
                _call_key.reset(token)

    # Resources, prompts and completions load on their first use: a client may never ask for them.

    async def on_list_resources(self, ctx: Context, params: PaginatedRequestParams | None) -> ListResourcesResult:
        from sondos_mcp import resources

        return resources.resource_listing()

    async def on_list_resource_templates(
        self, ctx: Context, params: PaginatedRequestParams | None
    ) -> ListResourceTemplatesResult:
        from sondos_mcp import resources

        return resources.template_listing()

    async def on_read_resource(
        self, ctx: Context, params: ReadResourceRequestParams
    ) -> ReadResourceResult | InputRequiredResult:
        from sondos_mcp import resources

        try:
            reads_as = resources.reads_as(params.uri)
            return await self.serve(ctx, "resources/read", reads_as, lambda tc: resources.read(tc, params.uri))
        except NeedsInput as exc:
            return exc.result  # a signed-in person enrols their key, and the client reads again

    async def on_list_prompts(self, ctx: Context, params: PaginatedRequestParams | None) -> ListPromptsResult:
        from sondos_mcp import prompts

        return prompts.prompt_listing(self._policy(ctx, self._person(ctx)))

    async def on_get_prompt(self, ctx: Context, params: GetPromptRequestParams) -> GetPromptResult:
        from sondos_mcp import prompts

        policy = self._policy(ctx, self._person(ctx))
        try:
            return prompts.get_prompt(params.name, params.arguments, policy)
        except SondosError as exc:
            raise rpc_error(exc) from None

    async def on_completion(self, ctx: Context, params: CompleteRequestParams) -> CompleteResult:
        from sondos_mcp import completions

        policy = self._policy(ctx, self._person(ctx))
        try:
            reads_as = completions.reads_as(params, policy)
            return await self.serve(
                ctx, "completion/complete", reads_as, lambda tc: completions.complete(tc, params, policy)
            )
        except SondosError as exc:
            raise rpc_error(exc) from None
        except NeedsInput:
            return completions.nothing()  # no key on file yet: the next tool call asks the person to enrol

    async def run(
        self,
        tool: ToolSpec,
        ctx: Context,
        arguments: dict[str, Any],
        record: CallRecord,
        person: Person | None = None,
    ) -> CallToolResult:
        settings = self.settings
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
            if self.people is not None:
                key_token = _call_key.set(await self.people.admit(ctx, person, tool))
            # One deadline for the whole call: retries, paging and lookups all count against it.
            with anyio.move_on_after(settings.deadline) as deadline:
                context = replace(self.context, request=ctx, deadline=deadline, person=person)
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
