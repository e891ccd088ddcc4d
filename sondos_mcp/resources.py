"""Resources: the lookup lists, one assistant, one journal entry, and the change view.

Read through the same paths as the tools: the lookups cache (keyed by the account), the one
walker over the assistants list, the journal scoped by the caller's account as `list_changes`
reads it. What an assistant resource holds is what `get_assistant` returns; a journal entry is
the entry as `list_changes` shows it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp_types import (
    BlobResourceContents,
    ListResourcesResult,
    ListResourceTemplatesResult,
    ReadResourceResult,
    Resource,
    ResourceTemplate,
    TextResourceContents,
)

from sondos_mcp import ui
from sondos_mcp.bounds import escape_text
from sondos_mcp.domain.changes import not_found
from sondos_mcp.domain.undo import journal_of, stale_before
from sondos_mcp.errors import InvalidArguments, UpstreamNotFound
from sondos_mcp.feedback import Problem
from sondos_mcp.model import MAX_ID
from sondos_mcp.tools.assistants import assistant_view
from sondos_mcp.tools.base import ToolContext
from sondos_mcp.tools.changes import view

JSON = "application/json"
ASSISTANT_TEMPLATE = "sondos://assistants/{id}"
CHANGE_TEMPLATE = "sondos://changes/{change_id}"
_ASSISTANT = re.compile(r"sondos://assistants/([1-9][0-9]{0,18})")
_CHANGE = re.compile(r"sondos://changes/(chg-[0-9a-f]{10})")

# How long a client may keep what it read: the lookups as long as this server caches them itself;
# the view until the server may have been upgraded. An assistant or a journal entry: not at all.
LOOKUP_TTL_MS = 60_000
VIEW_TTL_MS = 3_600_000


@dataclass(frozen=True)
class Lookup:
    """A static resource: one of the account's lookup lists, as its list_* tool returns it."""

    uri: str
    name: str
    title: str
    description: str
    load: Callable[[ToolContext], Awaitable[list[dict[str, Any]]]]


LOOKUPS: tuple[Lookup, ...] = (
    Lookup(
        "sondos://voices",
        "voices",
        "Voices",
        "Voices for voice_id, with their engine mode",
        lambda c: c.lookups.voices(),
    ),
    Lookup(
        "sondos://languages",
        "languages",
        "Languages",
        "Language names accepted by language",
        lambda c: c.lookups.languages(),
    ),
    Lookup(
        "sondos://models", "models", "LLM models", "Model names accepted by llm_model", lambda c: c.lookups.models()
    ),
    Lookup(
        "sondos://phone-numbers",
        "phone-numbers",
        "Phone numbers",
        "The account's phone numbers, for phone_number_id",
        lambda c: c.lookups.phone_numbers(),
    ),
)
LOOKUPS_BY_URI = {lookup.uri: lookup for lookup in LOOKUPS}


# The tool whose data a resource is: its read takes that tool's key and scope (OAuth mode).
LOOKUP_TOOLS = {
    "sondos://voices": "list_voices",
    "sondos://languages": "list_languages",
    "sondos://models": "list_models",
    "sondos://phone-numbers": "list_phone_numbers",
}


def reads_as(uri: str) -> str | None:
    """The tool `uri` reads like, or None when it reads no account (the view, an unknown URI)."""
    if uri in LOOKUP_TOOLS:
        return LOOKUP_TOOLS[uri]
    if _ASSISTANT.fullmatch(uri):
        return "get_assistant"
    if _CHANGE.fullmatch(uri):
        return "list_changes"
    return None


def resource_listing() -> ListResourcesResult:
    view_resource = ui.view_resource()
    listed = [
        Resource(uri=r.uri, name=r.name, title=r.title, description=r.description, mime_type=JSON) for r in LOOKUPS
    ]
    listed.append(
        Resource(
            uri=view_resource.uri,
            name=view_resource.name or view_resource.uri,
            title=view_resource.title,
            description=view_resource.description,
            mime_type=view_resource.mime_type,
            meta=view_resource.meta,
        )
    )
    return ListResourcesResult(resources=listed)


def template_listing() -> ListResourceTemplatesResult:
    return ListResourceTemplatesResult(
        resource_templates=[
            ResourceTemplate(
                uri_template=ASSISTANT_TEMPLATE,
                name="assistant",
                title="Assistant settings",
                description="One assistant's current settings, named as in update_assistant (as get_assistant)",
                mime_type=JSON,
            ),
            ResourceTemplate(
                uri_template=CHANGE_TEMPLATE,
                name="change",
                title="Journaled change",
                description="One change from the journal (chg-…), before → after and outcome (as list_changes)",
                mime_type=JSON,
            ),
        ]
    )


def _json(uri: str, value: Any, ttl_ms: int | None = None) -> ReadResourceResult:
    # Escaped like tool text: a name with a bidi override reaches a person's screen through a host.
    text = escape_text(json.dumps(value, ensure_ascii=False))
    contents: list[TextResourceContents | BlobResourceContents] = [
        TextResourceContents(uri=uri, mime_type=JSON, text=text)
    ]
    return (
        ReadResourceResult(contents=contents)
        if ttl_ms is None
        else ReadResourceResult(contents=contents, ttl_ms=ttl_ms)
    )


async def read(ctx: ToolContext, uri: str) -> ReadResourceResult:
    """A resource's contents. Raises `UpstreamNotFound` for a URI no resource answers to, and the
    tools' own errors (the API or the journal unreachable, the key refused) as they come."""
    lookup = LOOKUPS_BY_URI.get(uri)
    if lookup is not None:
        return _json(uri, await lookup.load(ctx), LOOKUP_TTL_MS)
    if uri == ui.VIEW_URI:
        resource = ui.view_resource()
        text = await resource.read()
        if not isinstance(text, str):
            raise TypeError(f"{uri} is text by construction, not {type(text).__name__}")
        contents: list[TextResourceContents | BlobResourceContents] = [
            TextResourceContents(uri=uri, mime_type=resource.mime_type, text=text, meta=resource.meta)
        ]
        return ReadResourceResult(contents=contents, ttl_ms=VIEW_TTL_MS, cache_scope="public")
    if match := _ASSISTANT.fullmatch(uri):
        assistant_id = int(match.group(1))
        if assistant_id > MAX_ID:
            raise not_found(assistant_id)
        assistant = await assistant_view(ctx, assistant_id)
        return _json(uri, assistant.model_dump(mode="json", exclude_none=True))
    if match := _CHANGE.fullmatch(uri):
        session = ctx.session()
        journal = await journal_of(session)
        entry = await journal.get(session.caller.account, match.group(1))
        if entry is None:
            raise UpstreamNotFound(
                f"No change {match.group(1)} in the journal", hint="list_changes shows the change ids."
            )
        return _json(uri, view(entry, stale_before(session)).model_dump(mode="json", exclude_none=True))
    raise UnknownResource(uri)


class UnknownResource(InvalidArguments):
    """No resource or template answers to this URI."""

    def __init__(self, uri: str) -> None:
        hint = "resources/list and resources/templates/list name what can be read"
        problem = Problem(field="uri", code="unknown_resource", message=f"no resource {uri!r}")
        super().__init__([problem])
        self.message = f"Unknown resource: {uri}"
        self.hint = hint
