"""The MCP Apps change view as served (its browser rendering is tests/interop/test_apps_browser.py),
and the 2026-07-28 hints: cache hints on the lists, the server's description and icon."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest
from mcp import Client
from mcp.client import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from sondos_mcp import ui
from sondos_mcp.sandbox import SandboxServer
from sondos_mcp.server import build_server
from sondos_mcp.ui import VIEW_TOOLS, VIEW_URI
from tests.conftest import call, make_settings

pytestmark = pytest.mark.anyio

APPS_HOST = advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})


async def test_the_change_tools_point_at_the_view_and_the_server_advertises_apps(reader: Client):
    """update_assistant, update_assistants and list_changes carry _meta.ui.resourceUri; no other tool
    does; the server advertises the io.modelcontextprotocol/ui extension."""
    tools = (await reader.list_tools()).tools
    bound = {t.name: (t.meta or {}).get("ui") for t in tools if t.meta}
    assert bound == {name: {"resourceUri": VIEW_URI} for name in VIEW_TOOLS}
    assert EXTENSION_ID in (reader.server_capabilities.extensions or {})
    # Named apart from the SDK so that start-up need not import its Apps: held equal to it here.
    assert (ui.EXTENSION_ID, ui.SETTINGS) == (ui.apps().identifier, ui.apps().settings()) == (EXTENSION_ID, {})


async def test_the_view_is_one_self_contained_document_under_its_own_strict_csp(reader: Client):
    """The view is served as text/html;profile=mcp-app with an empty CSP declaration (no outside
    domain); it loads nothing from anywhere, and its own CSP admits exactly its inline script and style."""
    (content,) = (await reader.read_resource(VIEW_URI)).contents
    assert content.mime_type == APP_MIME_TYPE
    assert content.meta == {"ui": {"csp": {}, "prefersBorder": True}}
    html = content.text  # type: ignore[union-attr]
    assert html.startswith("<!DOCTYPE html>")
    for loads in ("http:", "https:", "src=", "<link", "@import", "url(", "innerHTML", "eval("):
        assert loads not in html, loads
    (policy,) = re.findall(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert "default-src 'none'" in policy
    assert "connect-src 'none'" in policy
    assert "unsafe" not in policy
    for tag in ("script", "style"):
        (block,) = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
        digest = base64.b64encode(hashlib.sha256(block.encode()).digest()).decode()
        assert f"{tag}-src 'sha256-{digest}'" in policy


@pytest.mark.parametrize(
    ("tool", "arguments"),
    [
        ("update_assistant", {"id": 12, "speech_speed": 0.9, "dry_run": True}),
        ("update_assistant", {"id": 12, "voice_id": "Layla", "language": "Klingon", "dry_run": True}),
        ("update_assistants", {"query": "Campaign Agent 0", "changes": {"max_call_duration": 300}, "dry_run": True}),
        ("list_changes", {"limit": 5}),
    ],
)
async def test_a_host_with_apps_gets_the_same_result_as_one_without(still: SandboxServer, tool: str, arguments: dict):
    """The view adds nothing to a tool's result: a host that renders Apps and one that does not get the
    same text and the same structured content."""
    results = []
    for extensions in (None, [APPS_HOST]):
        async with Client(build_server(make_settings(still.base_url)), extensions=extensions) as client:
            results.append(await call(client, tool, arguments))
    assert results[0] == results[1]
    assert results[0][2]


async def test_an_applied_update_reports_each_field_before_and_after(sandbox: SandboxServer):
    """An applied update_assistant reports before → after per field as journaled (the view's rows),
    unknown where the API does not show the field; its text is unchanged."""
    async with Client(build_server(make_settings(sandbox.base_url))) as client:
        failed, structured, text = await call(
            client, "update_assistant", {"id": 12, "max_call_duration": 450, "speech_speed": 0.9}
        )
    assert not failed
    assert structured["preview"] == [
        {
            "field": "max_call_duration",
            "before": 600,
            "before_known": True,
            "after": 450,
            "changed": True,
            "source": "api",
        },
        {"field": "speech_speed", "before_known": False, "after": 0.9},
    ]
    assert text.startswith("Updated assistant 12 (Riyadh Sales): max_call_duration, speech_speed.")


async def test_the_server_describes_itself_with_a_description_and_an_icon(reader: Client):
    """serverInfo carries a description and an SVG icon inlined as a data: URI (nothing is fetched)."""
    info = reader.server_info
    assert info is not None
    assert info.description
    (icon,) = info.icons or []
    assert icon.mime_type == "image/svg+xml"
    prefix = "data:image/svg+xml;base64,"
    assert icon.src.startswith(prefix)
    svg = base64.b64decode(icon.src[len(prefix) :]).decode()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert "<script" not in svg


async def test_the_lists_carry_cache_hints_shared_only_where_no_caller_differs(reader: Client):
    """The list methods say how long a client may reuse them: tools and prompts per caller (they follow
    the caller's policy), the resource lists to anyone; a journal entry or an assistant not at all."""
    assert reader.protocol_version == "2026-07-28"
    hints = {
        "tools/list": await reader.list_tools(),
        "prompts/list": await reader.list_prompts(),
        "resources/list": await reader.list_resources(),
        "resources/templates/list": await reader.list_resource_templates(),
    }
    assert {m: (r.ttl_ms, r.cache_scope) for m, r in hints.items()} == {
        "tools/list": (3_600_000, "private"),
        "prompts/list": (3_600_000, "private"),
        "resources/list": (3_600_000, "public"),
        "resources/templates/list": (3_600_000, "public"),
    }
    assistant = await reader.read_resource("sondos://assistants/12")
    assert (assistant.ttl_ms, assistant.cache_scope) == (0, "private")
    voices = await reader.read_resource("sondos://voices")
    assert (voices.ttl_ms, voices.cache_scope) == (60_000, "private")
