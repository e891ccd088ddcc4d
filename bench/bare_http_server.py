"""Baseline for the load benchmark: a bare `mcp` SDK server with one trivial tool, over streamable HTTP.

Same transport settings as sondos-mcp (stateless, JSON responses) so the comparison is the work
done per call, not a different transport mode. `--factory` style for uvicorn workers.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer
from starlette.applications import Starlette


def create_app() -> Starlette:
    server = MCPServer("bare", log_level="WARNING")

    @server.tool()
    def echo(text: str) -> str:
        """Echo the text back."""
        return text

    return server.streamable_http_app(stateless_http=True, json_response=True)
