"""Schema portability, checked with each client library's own code. Runs in the interop venv.

These libraries pin `mcp` 1.x, so they live in their own virtualenv (`tests/interop/.venv`), and
the langchain check talks to our server (2.x, the project venv) over stdio: a real cross-version
session. Usage: `python portability.py <server-python>`; prints one JSON object per check and
exits non-zero if any failed.
"""

from __future__ import annotations

import asyncio
import copy
import json
import sys
from importlib.metadata import version
from pathlib import Path
from typing import Any

SCHEMAS = Path(__file__).resolve().parents[2] / "tool_schemas"
failed = False


def report(library: str, check: str, ok: bool, detail: str = "") -> None:
    global failed
    failed |= not ok
    dist = {
        "jsonschema": "jsonschema",
        "openai-agents": "openai-agents",
        "google-genai": "google-genai",
        "anthropic": "anthropic",
        "langchain-mcp-adapters": "langchain-mcp-adapters",
    }[library]
    print(json.dumps({"client": library, "version": version(dist), "check": check, "ok": ok, "detail": detail[:300]}))


def schemas() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text("utf-8")) for p in sorted(SCHEMAS.glob("*.json"))}


def tools() -> list[tuple[str, dict[str, Any]]]:
    return [(name.removesuffix(".input.json"), s) for name, s in schemas().items() if name.endswith(".input.json")]


def check_metaschema() -> None:
    from jsonschema import Draft202012Validator

    for name, schema in schemas().items():
        try:
            Draft202012Validator.check_schema(schema)
            report("jsonschema", f"2020-12 metaschema: {name}", True)
        except Exception as exc:
            report("jsonschema", f"2020-12 metaschema: {name}", False, str(exc))


def check_openai_agents() -> None:
    from agents.strict_schema import ensure_strict_json_schema

    for name, schema in tools():
        try:
            ensure_strict_json_schema(copy.deepcopy(schema))
            report("openai-agents", f"strict schema: {name}", True)
        except Exception as exc:
            report("openai-agents", f"strict schema: {name}", False, f"{type(exc).__name__}: {exc}")


def check_google_genai() -> None:
    from google.genai import types

    for name, schema in tools():
        try:
            declaration = types.FunctionDeclaration(name=name, description="d", parameters_json_schema=schema)
            types.Tool(function_declarations=[declaration]).model_dump(mode="json")
            report("google-genai", f"function declaration (parameters_json_schema): {name}", True)
        except Exception as exc:
            report("google-genai", f"function declaration: {name}", False, f"{type(exc).__name__}: {exc}")


def check_anthropic() -> None:
    from anthropic.types import ToolParam
    from pydantic import TypeAdapter

    adapter = TypeAdapter(list[ToolParam])
    listed = [{"name": name, "description": "d", "input_schema": schema} for name, schema in tools()]
    try:
        adapter.validate_python(listed, strict=True)
        report("anthropic", f"tools parameter ({len(listed)} tools)", True)
    except Exception as exc:
        report("anthropic", "tools parameter", False, str(exc))


async def check_langchain(server_python: str) -> None:
    from langchain_mcp_adapters.tools import load_mcp_tools
    from mcp import ClientSession, StdioServerParameters
    from mcp.client.stdio import stdio_client

    params = StdioServerParameters(command=server_python, args=["-m", "sondos_mcp", "--sandbox"])
    async with stdio_client(params) as (read, write), ClientSession(read, write) as session:
        await session.initialize()
        loaded = {tool.name: tool for tool in await load_mcp_tools(session)}
        report("langchain-mcp-adapters", f"load_mcp_tools ({len(loaded)} tools)", len(loaded) == len(tools()))
        update = loaded["update_assistant"]
        try:
            answer = await update.ainvoke({"id": 12, "speech_speed": 0.9})
            report(
                "langchain-mcp-adapters",
                "invoke update_assistant (valid)",
                "Updated assistant 12" in str(answer),
                str(answer)[:200],
            )
        except Exception as exc:
            report("langchain-mcp-adapters", "invoke update_assistant (valid)", False, f"{type(exc).__name__}: {exc}")
        # Depending on its version the adapter returns an isError result's content to the model or raises
        # ToolException with it; either way the model must see the per-field fix.
        try:
            seen = str(await update.ainvoke({"id": 12, "speech_speed": 1.25}))
        except Exception as exc:
            seen = f"{type(exc).__name__}: {exc}"
        report(
            "langchain-mcp-adapters",
            "invoke update_assistant (refused: the fix reaches the model)",
            "speech_speed" in seen and "Fix: 1.2" in seen,
            seen[:120],
        )


def main() -> int:
    check_metaschema()
    check_openai_agents()
    check_google_genai()
    check_anthropic()
    asyncio.run(check_langchain(sys.argv[1]))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
