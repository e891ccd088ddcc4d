"""The change view (MCP Apps, `io.modelcontextprotocol/ui`) and the server's icon, shipped as package data.

The SDK's `Apps` extension holds the `ui://` resource and the tools bound to it; the low-level
server reads both from here (its listings, `resources/read`, the advertised capability), so the
wire shapes are the SDK's own. Hosts without Apps ignore `_meta.ui` and read the tools' text,
which the view does not change.

The view is one HTML document with its script and style inline and nothing fetched: its own
Content-Security-Policy allows exactly those two blocks (by hash) and nothing else, on top of
whatever the host enforces from the resource's empty `_meta.ui.csp`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import re
from importlib import resources
from typing import TYPE_CHECKING, Any

from mcp_types import Icon

if TYPE_CHECKING:
    from mcp.server.apps import Apps
    from mcp.server.mcpserver.resources import Resource

# The SDK's extension id and the settings its `Apps` advertises (tests/test_apps.py holds both equal
# to the SDK's), named here so that start-up, which advertises them, need not import the SDK's Apps
# and its MCPServer stack (~80 ms): the Apps object itself is built on the first listing or read.
EXTENSION_ID = "io.modelcontextprotocol/ui"
SETTINGS: dict[str, Any] = {}

VIEW_URI = "ui://sondos/changes"
# The tools whose results the view renders: a change, a change set, the journal.
VIEW_TOOLS = ("update_assistant", "update_assistants", "list_changes")

__all__ = ["EXTENSION_ID", "SETTINGS", "VIEW_TOOLS", "VIEW_URI", "apps", "server_icons", "tool_meta"]


def _asset(name: str) -> str:
    return resources.files(__package__).joinpath(name).read_text(encoding="utf-8")


def _with_csp(html: str) -> str:
    """The document with a CSP that admits its own inline script and style by hash, and nothing else."""

    def hashes(tag: str) -> str:
        blocks = re.findall(rf"<{tag}>(.*?)</{tag}>", html, flags=re.DOTALL)
        if not blocks:
            raise RuntimeError(f"the change view has no <{tag}> block: the package is broken")
        return " ".join(
            "'sha256-" + base64.b64encode(hashlib.sha256(b.encode()).digest()).decode() + "'" for b in blocks
        )

    policy = (
        f"default-src 'none'; script-src {hashes('script')}; style-src {hashes('style')}; "
        "img-src data:; connect-src 'none'; base-uri 'none'; form-action 'none'"
    )
    return html.replace("<!--CSP-->", f'<meta http-equiv="Content-Security-Policy" content="{policy}">', 1)


@functools.cache
def apps() -> Apps:
    """The Apps extension: the view resource and the tools bound to it (built on first use)."""
    from mcp.server.apps import Apps, ResourceCsp

    extension = Apps()
    extension.add_html_resource(
        VIEW_URI,
        _with_csp(_asset("changes.html")),
        name="changes",
        title="Change preview",
        description="Before → after per setting, refusals with their fixes, outcome and change id",
        csp=ResourceCsp(),
        prefers_border=True,
    )
    for name in VIEW_TOOLS:
        extension.tool(resource_uri=VIEW_URI, name=name)(_bound)
    extension.tools()  # checks that every bound tool's resource is registered
    return extension


def _bound() -> None:
    """Stands for a tool handler in `Apps.tool`: the low-level server calls the real ones itself."""


def view_resource() -> Resource:
    (binding,) = apps().resources()
    return binding.resource


@functools.cache
def _metas() -> dict[str, dict[str, Any]]:
    return {binding.kwargs["name"]: binding.meta or {} for binding in apps().tools()}


def tool_meta(name: str) -> dict[str, Any] | None:
    """A tool's `_meta` (its `ui.resourceUri`), or None for a tool the view does not render."""
    return _metas().get(name)


@functools.cache
def server_icons() -> list[Icon]:
    svg = _asset("icon.svg").strip().encode()
    src = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    return [Icon(src=src, mime_type="image/svg+xml", sizes=["any"])]
