"""The adapters: every tool the server is wired from, in one table; handlers stay thin."""

from sondos_mcp.tools.assistants import ASSISTANT_TOOLS
from sondos_mcp.tools.base import ToolContext, ToolSpec
from sondos_mcp.tools.changes import CHANGE_TOOLS

TOOLS: tuple[ToolSpec, ...] = ASSISTANT_TOOLS + CHANGE_TOOLS
TOOLS_BY_NAME: dict[str, ToolSpec] = {tool.name: tool for tool in TOOLS}

__all__ = ["TOOLS", "TOOLS_BY_NAME", "ToolContext", "ToolSpec"]
