"""The reviewed schema snapshots in `tool_schemas/`: what the tools advertise, written out for review.

They belong to the repository, not to the installed package: the tests compare them with what
the installed server generates, and `UPDATE_TOOL_SCHEMAS=1` rewrites them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sondos_mcp.tools import TOOLS

SNAPSHOT_DIR = Path(__file__).resolve().parent.parent / "tool_schemas"


def tool_schemas() -> dict[str, dict[str, Any]]:
    """Every snapshot file name and its content, for the tools this server defines."""
    out: dict[str, dict[str, Any]] = {}
    for tool in TOOLS:
        out[f"{tool.name}.input.json"] = tool.input_schema
        if tool.output_schema is not None:
            out[f"{tool.name}.output.json"] = tool.output_schema
    return out


def dumps(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, ensure_ascii=False) + "\n"


def write_snapshots(directory: Path = SNAPSHOT_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, schema in tool_schemas().items():
        path = directory / name
        path.write_text(dumps(schema), encoding="utf-8")
        written.append(path)
    return written


def snapshot(name: str) -> dict[str, Any]:
    """One reviewed snapshot, as checked in."""
    return json.loads((SNAPSHOT_DIR / name).read_text("utf-8"))
