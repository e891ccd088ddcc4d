"""A short, real conversation with the server: an MCP client session over stdio against the sandbox.

`python -m sondos_mcp.demo` spawns `python -m sondos_mcp --sandbox` exactly as a desktop client
would, then plays the agent's side of "make the Riyadh sales assistant speak a bit slower and
stop interrupting callers": find it by name, read it, a wrong proposal and the server's
feedback, the corrected proposal previewed (nothing sent), then applied.

The server gets the caller's environment (the SDK would pass only a handful of variables), with
one exception: its journal is a temporary file, so the demo's sandbox changes never reach the
user's real journal.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import textwrap
from pathlib import Path
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

    _show("user", "Make the Riyadh sales assistant speak a bit slower and stop interrupting callers.")

    found = await client.call_tool("list_assistants", {"query": "Riyadh sales"})
    _show("agent → list_assistants {query: 'Riyadh sales'}", _text(found))
    (row,) = (found.structured_content or {}).get("assistants", [])
    assistant_id = row["id"]

    current = await client.call_tool("get_assistant", {"id": assistant_id})
    _show(f"agent → get_assistant {{id: {assistant_id}}}", "\n".join(_text(current).splitlines()[:8]) + "\n…")

    wrong = {"id": assistant_id, "voice_speed": "90%", "interruptions": "no", "dry_run": True}
    _show("agent → update_assistant (first try, as a preview)", wrong)
    refused = await client.call_tool("update_assistant", wrong)
    _show(f"server ← isError={refused.is_error}", _text(refused))
    corrected = (refused.structured_content or {}).get("suggested_arguments")
    if not refused.is_error or corrected is None:
        return 1

    # Every problem had one reading (a renamed field, "90%" of normal speed, "no"), so the server
    # offered the corrected proposal, already checked; the agent adopts it as is.
    _show("agent → update_assistant (the fixes, still a preview)", corrected)
    preview = await client.call_tool("update_assistant", corrected)
    _show(f"server ← isError={preview.is_error}", _text(preview))

    _show("user", "Looks good, apply it.")
    apply = {k: v for k, v in corrected.items() if k != "dry_run"}
    _show("agent → update_assistant", apply)
    applied = await client.call_tool("update_assistant", apply)
    _show(f"server ← isError={applied.is_error}", _text(applied))
    _show("structuredContent", applied.structured_content)
    return 0 if not (preview.is_error or applied.is_error) else 1


def server_environment(scratch: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SONDOS_JOURNAL_URL"}
    return env | {"SONDOS_JOURNAL": str(scratch / "journal.sqlite3")}


async def main_async() -> int:
    with tempfile.TemporaryDirectory(prefix="sondos-demo-") as scratch:
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "sondos_mcp", "--sandbox"], env=server_environment(Path(scratch))
        )
        async with Client(params) as client:
            print(
                f"Connected to {client.server_info.name if client.server_info else 'server'} over stdio "
                f"(protocol {client.protocol_version}), sandbox API, demo account, a temporary journal."
            )
            return await conversation(client)


def main() -> int:
    return anyio.run(main_async)


if __name__ == "__main__":
    raise SystemExit(main())
