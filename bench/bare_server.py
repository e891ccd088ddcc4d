"""The baseline: a bare `mcp` SDK server with one trivial tool, as a newcomer would write it."""

from __future__ import annotations

import json
import sys

from mcp.server.mcpserver import MCPServer

server = MCPServer("bare")


@server.tool()
def echo(text: str) -> str:
    """Echo the text back."""
    return text


if __name__ == "__main__":
    if "--print-tools" in sys.argv:
        import anyio

        tools = anyio.run(server.list_tools)
        print(
            json.dumps(
                next(t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools), separators=(",", ":")
            )
        )
    else:
        server.run("stdio")
