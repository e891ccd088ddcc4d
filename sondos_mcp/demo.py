"""A short, real conversation with the server: an MCP client session over stdio against the sandbox.

`python -m sondos_mcp.demo` spawns `python -m sondos_mcp --sandbox` exactly as a desktop client
would, then plays the agent's side of "make the Riyadh sales assistant speak a bit slower and
stop interrupting callers": a wrong proposal, the server's feedback, the corrected proposal.
"""

from __future__ import annotations

import json
import sys
import textwrap
from typing import Any

import anyio
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp_types import CallToolResult


def _show(title: str, payload: Any) -> None:
    print(f"\n── {title}")
    text = payload if isinstance(payload, str) else json.dumps(payload, indent=2, ensure_ascii=False)
    print(textwrap.indent(text, "   "))


def _text(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


async def conversation(client: Client) -> int:
    tools = await client.list_tools()
    _show("tools/list", ", ".join(t.name for t in tools.tools))

    request = "Make the Riyadh sales assistant (id 12) speak a bit slower and stop interrupting callers."
    _show("user", request)

    wrong = {"id": 12, "voice_speed": 0.5, "interruptions": "no"}
    _show("agent → update_assistant (first try)", wrong)
    refused = await client.call_tool("update_assistant", wrong)
    _show(f"server ← isError={refused.is_error}", _text(refused))
    if not refused.is_error or refused.structured_content is None:
        return 1

    corrected = refused.structured_content.get("suggested_arguments")
    if corrected is None:
        return 1
    # A careful agent reads the fixes: 0.5 was below the minimum, so the nearest bound is used.
    _show("agent → update_assistant (applying the fixes)", corrected)
    applied = await client.call_tool("update_assistant", corrected)
    _show(f"server ← isError={applied.is_error}", _text(applied))
    _show("structuredContent", applied.structured_content)
    return 0 if not applied.is_error else 1


async def main_async() -> int:
    params = StdioServerParameters(command=sys.executable, args=["-m", "sondos_mcp", "--sandbox"])
    async with Client(params) as client:
        print(
            f"Connected to {client.server_info.name if client.server_info else 'server'} over stdio "
            f"(protocol {client.protocol_version}), sandbox API, demo account."
        )
        return await conversation(client)


def main() -> int:
    return anyio.run(main_async)


if __name__ == "__main__":
    raise SystemExit(main())
