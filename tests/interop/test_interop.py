"""Interop: the server against code we did not write (MCP Inspector, the TypeScript SDK, client libraries).

Needs `npm ci` in tests/interop and the interop virtualenv (`tests/interop/.venv`, see .ci/run).
Without them these tests are skipped in a plain `pytest`, but with SONDOS_INTEROP=1 (as .ci/run
sets) a missing client is a failure, never a silent skip. Every check is recorded in
tests/interop/results/matrix.json, from which `python -m tests.interop.matrix` writes docs/interop.md.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from sondos_mcp.config import Settings
from sondos_mcp.http import create_app
from sondos_mcp.sandbox import DEMO_KEY, SandboxServer
from sondos_mcp.sandbox.loopback import ThreadedServer
from tests.conftest import free_port, server_command, wait_until_healthy

HERE = Path(__file__).resolve().parent
NODE_MODULES = HERE / "node_modules"
INTEROP_PYTHON = HERE / ".venv" / "bin" / "python"
RESULTS = HERE / "results" / "matrix.json"
TOKEN = "interop-token"
REQUIRED = os.environ.get("SONDOS_INTEROP") == "1"

pytestmark = pytest.mark.interop


def need(ok: bool, what: str) -> None:
    if not ok:
        if REQUIRED:
            pytest.fail(f"interop client missing: {what} (SONDOS_INTEROP=1 requires it)")
        pytest.skip(f"{what} not installed; run .ci/run or set up tests/interop")


def record(rows: list[dict[str, Any]]) -> None:
    RESULTS.parent.mkdir(exist_ok=True)
    existing = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    keys = {(r["client"], r.get("transport"), r.get("offered"), r["check"]) for r in rows}
    kept = [r for r in existing if (r["client"], r.get("transport"), r.get("offered"), r["check"]) not in keys]
    RESULTS.write_text(json.dumps(kept + rows, indent=1))


@pytest.fixture(scope="module")
def http_server() -> Iterator[str]:
    """sondos-mcp over streamable HTTP (shared-token mode) against a sandbox, both on 127.0.0.1."""
    with SandboxServer() as sandbox:
        settings = Settings(
            base_url=sandbox.base_url, api_key=SecretStr(DEMO_KEY), http_tokens=[SecretStr(TOKEN)], retries=0
        )
        with ThreadedServer(create_app(settings), lifespan="on") as server:
            yield f"{server.base_url}/mcp"


@contextmanager
def installed_http_server(log: Path) -> Iterator[str]:
    """`sondos-mcp --sandbox --transport http` as users start it, on a free loopback port; yields the /mcp URL."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")}
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [*server_command(), "--sandbox", "--transport", "http", "--port", str(port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            wait_until_healthy(base, proc)
            yield f"{base}/mcp"
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def inspector(*args: str, tool_error: bool = False) -> dict[str, Any]:
    need((NODE_MODULES / ".bin" / "mcp-inspector").exists(), "@modelcontextprotocol/inspector")
    proc = subprocess.run(
        [str(NODE_MODULES / ".bin" / "mcp-inspector"), "--cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=HERE,
        stdin=subprocess.DEVNULL,
    )
    # The Inspector prints the result either way and exits 5 ("tool_is_error") for an isError result.
    assert proc.returncode == (5 if tool_error else 0), proc.stderr[-2000:]
    assert ("tool_is_error" in proc.stderr) is tool_error
    return json.loads(proc.stdout)


def inspector_version() -> str:
    return json.loads((NODE_MODULES / "@modelcontextprotocol" / "inspector" / "package.json").read_text())["version"]


@pytest.fixture
def installed_http(tmp_path: Path) -> Iterator[str]:
    with installed_http_server(tmp_path / "server.log") as url:
        yield url


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_mcp_inspector_cli_lists_calls_and_sees_refusals(transport: str, request: pytest.FixtureRequest):
    """The Inspector CLI lists, applies and sees a refusal, against the installed `sondos-mcp --sandbox`."""
    if transport == "stdio":
        target = [*server_command(), "--sandbox"]
    else:
        target = [request.getfixturevalue("installed_http"), "--transport", "http"]
    listed = inspector(*target, "--method", "tools/list")
    valid = inspector(
        *target, "--method", "tools/call", "--tool-name", "update_assistant", "--tool-arg", "id=12", "speech_speed=0.9"
    )
    refused = inspector(
        *target,
        "--method",
        "tools/call",
        "--tool-name",
        "update_assistant",
        "--tool-arg",
        "id=12",
        "speech_speed=5",
        "calls_direction=inbound",
        tool_error=True,
    )
    rows = [
        ("tools/list", "update_assistant" in {t["name"] for t in listed["tools"]}),
        ("tools/call valid update", valid["isError"] is False and valid["structuredContent"]["applied"] is True),
        (
            "tools/call refused update",
            refused["isError"] is True
            and {p["field"] for p in refused["structuredContent"]["problems"]} == {"speech_speed", "calls_direction"},
        ),
    ]
    record(
        [
            {
                "client": "MCP Inspector (CLI)",
                "version": inspector_version(),
                "transport": transport,
                "offered": "",
                "negotiated": "",
                "check": check,
                "ok": ok,
            }
            for check, ok in rows
        ]
    )
    assert all(ok for _, ok in rows), rows


@pytest.mark.parametrize("transport", ["stdio", "http"])
def test_typescript_sdk_client_on_every_protocol_version(transport: str, request: pytest.FixtureRequest):
    """A TypeScript SDK client initializes on each version it offers, calls every tool, and checks outputSchema."""
    need(
        shutil.which("node") is not None and (NODE_MODULES / "@modelcontextprotocol" / "sdk").exists(),
        "@modelcontextprotocol/sdk",
    )
    args = (
        [sys.executable]
        if transport == "stdio"
        else [request.getfixturevalue("http_server"), f"Authorization: Bearer {TOKEN}"]
    )
    proc = subprocess.run(
        ["node", str(HERE / "ts_client.mjs"), transport, *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=HERE,
        stdin=subprocess.DEVNULL,
    )
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    record(rows)
    assert rows, proc.stderr[-2000:]
    assert {r["offered"] for r in rows} >= {"2025-11-25", "2025-06-18"}
    assert [r for r in rows if not r["ok"]] == []
    assert proc.returncode == 0


def test_client_libraries_accept_the_schemas_and_tools():
    """jsonschema, OpenAI strict mode, google-genai, the Anthropic SDK and langchain-mcp-adapters accept every tool."""
    need(INTEROP_PYTHON.exists(), "the interop virtualenv (tests/interop/.venv)")
    proc = subprocess.run(
        [str(INTEROP_PYTHON), str(HERE / "portability.py"), sys.executable],
        capture_output=True,
        text=True,
        timeout=300,
        stdin=subprocess.DEVNULL,
    )
    rows = [
        json.loads(line) | {"transport": "offline" if "langchain" not in line else "stdio"}
        for line in proc.stdout.splitlines()
        if line.startswith("{")
    ]
    record(rows)
    assert {r["client"] for r in rows} == {
        "jsonschema",
        "openai-agents",
        "google-genai",
        "anthropic",
        "langchain-mcp-adapters",
    }, proc.stderr[-2000:]
    assert [r for r in rows if not r["ok"]] == []
    assert proc.returncode == 0
