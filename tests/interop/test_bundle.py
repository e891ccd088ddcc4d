"""The Claude Desktop bundle as the desktop app runs it, with the official @anthropic-ai/mcpb code throughout.

.ci/run packs dist/sondos-mcp-<version>.mcpb with `bundle/build.py` (`mcpb validate`, `mcpb pack`);
without one newer than the wheel, this test packs it the same way. Then it is unpacked with
`mcpb unpack`, its command is computed by the library's `getMcpConfigForManifest` (the function
the desktop app uses) from the user's answers, and that command is started over stdio.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

import sondos_mcp
from sondos_mcp.tools import TOOLS
from tests.conftest import REPO
from tests.interop.test_interop import HERE, NODE_MODULES, need, record

pytestmark = pytest.mark.interop

MCPB = NODE_MODULES / ".bin" / "mcpb"
BUNDLE = REPO / "dist" / f"sondos-mcp-{sondos_mcp.__version__}.mcpb"
CHECKED_IN = json.loads((REPO / "bundle" / "manifest.json").read_text("utf-8"))


def tool_path() -> str:
    """PATH with this virtualenv's scripts first (uv lives there), as a desktop app's PATH would hold uv."""
    return os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def packed_bundle() -> Path:
    wheels = sorted((REPO / "dist").glob(f"sondos_mcp-{sondos_mcp.__version__}-*.whl"), key=os.path.getmtime)
    need(bool(wheels), "a wheel built into dist/")
    if BUNDLE.exists() and BUNDLE.stat().st_mtime >= wheels[-1].stat().st_mtime:
        return BUNDLE
    need(shutil.which("npx") is not None, "Node's npx (for the mcpb CLI)")
    proc = subprocess.run(
        [sys.executable, str(REPO / "bundle" / "build.py"), str(wheels[-1])],
        capture_output=True,
        text=True,
        timeout=600,
        env=os.environ | {"PATH": tool_path(), "MCPB": str(MCPB)},
        stdin=subprocess.DEVNULL,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return BUNDLE


def run(*command: str | Path) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=120, cwd=HERE, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return proc


@pytest.mark.anyio
async def test_packed_bundle_starts_as_claude_desktop_starts_it(tmp_path: Path):
    """The packed bundle, unpacked and started from the user's answers (no key, sandbox on) as the desktop app
    starts it, lists the tool table's tools and applies an update in the sandbox."""
    need(MCPB.exists(), "@anthropic-ai/mcpb (npm ci in tests/interop)")
    bundle = packed_bundle()
    validated = run(MCPB, "validate", REPO / "bundle" / "manifest.json")
    extension = tmp_path / "Claude Extensions" / "sondos-mcp"
    run(MCPB, "unpack", bundle, extension)
    unpacked = json.loads((extension / "manifest.json").read_text("utf-8"))
    config = json.loads(run("node", HERE / "mcpb_host_config.mjs", extension, json.dumps({"sandbox": True})).stdout)

    # The desktop app passes the manifest's env; PATH is where it finds uv. Nothing else from here.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")} | {"PATH": tool_path()}
    params = StdioServerParameters(command=config["command"], args=config["args"], env=env | config["env"])
    started = time.monotonic()
    async with Client(params) as client:
        ready = time.monotonic() - started
        listed = [(t.name, t.description) for t in (await client.list_tools()).tools]
        applied = await client.call_tool("update_assistant", {"id": 12, "speech_speed": 0.9})

    print(f"bundle: first start (uv sync and initialize) {ready:.1f} s")
    rows = [
        ("mcpb validate", "passes" in validated.stdout),
        ("packed manifest is the checked-in one", unpacked == CHECKED_IN),
        (
            "host config: no key, sandbox on",
            config["env"]
            == {
                "SONDOS_API_KEY": "",
                "SONDOS_BASE_URL": CHECKED_IN["user_config"]["base_url"]["default"],
                "SONDOS_SANDBOX": "true",
            },
        ),
        ("tools/list is the tool table", listed == [(t.name, t.description) for t in TOOLS]),
        ("manifest tools are the listed tools", [(t["name"], t["description"]) for t in unpacked["tools"]] == listed),
        ("tools/call update in the sandbox", applied.is_error is False and applied.structured_content["applied"]),
    ]
    record(
        [
            {
                "client": "Claude Desktop bundle (mcpb, uv)",
                "version": json.loads((NODE_MODULES / "@anthropic-ai" / "mcpb" / "package.json").read_text())[
                    "version"
                ],
                "transport": "stdio",
                "offered": "",
                "negotiated": "",
                "check": check,
                "ok": bool(ok),
            }
            for check, ok in rows
        ]
    )
    assert [check for check, ok in rows if not ok] == []
