"""Wiring only: the MCP server built from the settings; its handlers (`sondos_mcp.handlers`) and
everything they import load on the first request after initialize."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING, Any

from mcp.server import Server
from mcp.server.caching import CacheableMethod, CacheHint
from mcp.server.context import ServerRequestContext
from mcp_types import (
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
)

from sondos_mcp import __version__, ui

if TYPE_CHECKING:
    from sondos_mcp.config import Settings
    from sondos_mcp.handlers import Handlers, People, RequestKey
    from sondos_mcp.policy import Policies, Policy

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


def tool_listing(policy: Policy | None = None) -> ListToolsResult:
    """What tools/list answers under a policy (read-only lists no write tool)."""
    from sondos_mcp import handlers

    return handlers.tool_listing(policy)


Context = ServerRequestContext["Deferred"]


def settle_heap() -> None:
    """Once start-up has built what it builds (modules, models, schemas), keep it out of the cyclic
    collector's full passes, which then walk only what requests create: without this, a full pass
    over the import-time heap lands inside a call every few hundred calls and takes ~30 ms.
    No `gc.collect()` first: start-up is what desktop clients wait for on every launch."""
    gc.freeze()


class Deferred:
    """What the lifespan holds: the handlers and their tool context, built on the first request
    after initialize, so that initialize is answered before the tool table, the contract's models
    and the trust layer are imported and built (desktop clients wait for it on every launch)."""

    def __init__(
        self,
        settings: Settings,
        request_key: RequestKey | None,
        people: People | None,
        policies: Policies | None,
        settle: bool,
    ) -> None:
        self.settings, self.request_key, self.people = settings, request_key, people
        self.policies, self.settle = policies, settle
        self.built: Handlers | None = None

    def handlers(self) -> Handlers:
        if self.built is None:
            from sondos_mcp.handlers import Handlers

            self.built = Handlers(self.settings, self.request_key, self.people, self.policies)
            if self.settle:
                settle_heap()  # what was just built is start-up's too: keep it out of the collector's full passes
        return self.built

    async def aclose(self) -> None:
        try:
            if self.people is not None:
                await self.people.aclose()
        finally:
            if self.built is not None:
                await self.built.aclose()


def _input_schema(name: str) -> Mapping[str, Any] | None:
    from sondos_mcp.tools import TOOLS_BY_NAME  # the tool table, loaded on first use

    return TOOLS_BY_NAME[name].input_schema if name in TOOLS_BY_NAME else None


def build_server(
    settings: Settings,
    request_key: RequestKey | None = None,
    people: People | None = None,
    *,
    policies: Policies | None = None,
    eager: bool = False,
    settle: bool = False,
) -> Server[Deferred]:
    """The MCP server. With `request_key`, every call uses the key its caller sent, and only that;
    with `people`, the key the signed-in person sent or enrolled. `policies`: as start-up read and
    checked them (else the policy file is read when the handlers are built). With `eager` (HTTP),
    the handlers are built when the server starts, not on its first request: no caller waits for
    the build, and a failure in it stops start-up instead of answering a request. With `settle`
    (the process's one server: the commands, not a library's or a test's servers), what the build
    made is frozen out of the cyclic collector's full passes (`settle_heap`); a server frozen so is
    never freed."""

    @asynccontextmanager
    async def lifespan(_: Server[Deferred]) -> AsyncIterator[Deferred]:
        deferred = Deferred(settings, request_key, people, policies, settle)
        try:
            if eager:
                deferred.handlers()
            yield deferred
        finally:
            await deferred.aclose()

    def handlers(ctx: Context) -> Handlers:
        return ctx.lifespan_context.handlers()

    async def on_list_tools(ctx: Context, params: PaginatedRequestParams | None) -> ListToolsResult:
        return await handlers(ctx).on_list_tools(ctx, params)

    async def on_call_tool(ctx: Context, params: CallToolRequestParams) -> CallToolResult | InputRequiredResult:
        return await handlers(ctx).on_call_tool(ctx, params)

    async def on_list_resources(ctx: Context, params: PaginatedRequestParams | None) -> ListResourcesResult:
        return await handlers(ctx).on_list_resources(ctx, params)

    async def on_list_resource_templates(
        ctx: Context, params: PaginatedRequestParams | None
    ) -> ListResourceTemplatesResult:
        return await handlers(ctx).on_list_resource_templates(ctx, params)

    async def on_read_resource(
        ctx: Context, params: ReadResourceRequestParams
    ) -> ReadResourceResult | InputRequiredResult:
        return await handlers(ctx).on_read_resource(ctx, params)

    async def on_list_prompts(ctx: Context, params: PaginatedRequestParams | None) -> ListPromptsResult:
        return await handlers(ctx).on_list_prompts(ctx, params)

    async def on_get_prompt(ctx: Context, params: GetPromptRequestParams) -> GetPromptResult:
        return await handlers(ctx).on_get_prompt(ctx, params)

    async def on_completion(ctx: Context, params: CompleteRequestParams) -> CompleteResult:
        return await handlers(ctx).on_completion(ctx, params)

    server = Server(
        "sondos-mcp",
        version=__version__,
        title="Sondos AI assistants",
        description=DESCRIPTION,
        icons=ui.server_icons(),
        instructions=INSTRUCTIONS,
        cache_hints=CACHE_HINTS,
        lifespan=lifespan,
        get_tool_input_schema=_input_schema,
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
