"""Shared fixtures: a real sandbox API on 127.0.0.1 and real MCP client sessions to the server.

The suite tests the installed package. In CI that is the built wheel in a clean venv
(`SONDOS_TEST_WHEEL=1` makes the run refuse to start if `sondos_mcp` would come from the
source tree instead); pytest's `--import-mode=append` and `PYTHONSAFEPATH` for subprocesses keep
the checkout beside the tests from shadowing it.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from pydantic import SecretStr

import sondos_mcp
from sondos_mcp.config import Settings
from sondos_mcp.sandbox import DEMO_KEY, SandboxServer
from sondos_mcp.server import build_server

REPO = Path(__file__).resolve().parent.parent

# Child Pythons (`python -m sondos_mcp`, the demo) must not import a source tree from their cwd.
os.environ["PYTHONSAFEPATH"] = "1"
# The change journal's default file lives in the user's data directory: never the real one in tests.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="sondos-test-data-")


def installed_from_source_tree() -> bool:
    return Path(sondos_mcp.__file__).resolve().parent == REPO / "sondos_mcp"


def pytest_report_header() -> str:
    return f"sondos_mcp {sondos_mcp.__version__} from {Path(sondos_mcp.__file__).parent}"


def pytest_configure(config: pytest.Config) -> None:
    if os.environ.get("SONDOS_TEST_WHEEL") == "1" and installed_from_source_tree():
        raise pytest.UsageError(
            f"SONDOS_TEST_WHEEL=1 but sondos_mcp is imported from the source tree ({sondos_mcp.__file__}); "
            "install the built wheel into the venv (not -e) and run its pytest"
        )


def server_command() -> list[str]:
    """How users start the server: the installed `sondos-mcp` script (python -m as a fallback)."""
    script = Path(sys.executable).with_name("sondos-mcp")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sondos_mcp"]


def free_port() -> int:
    """A loopback port nothing listens on right now, for a server process to bind."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_healthy(base: str, proc: subprocess.Popen[Any], timeout: float = 60) -> None:
    """Wait for a server process's /healthz to answer 200; fail if it exits or never does."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        assert proc.poll() is None, f"the server exited with status {proc.returncode}"
        assert time.monotonic() < deadline, f"the server did not answer /healthz within {timeout} s"
        time.sleep(0.2)


def stdio_exchange(proc: subprocess.Popen[str], *messages: dict[str, Any]) -> list[dict[str, Any]]:
    """Send JSON-RPC messages to a stdio server process, one per line, and read the answer to each
    request before sending the next: a server stops at the end of its input, and a request still in
    flight then goes unanswered. The input stays open; the caller closes it."""
    assert proc.stdin is not None
    assert proc.stdout is not None
    answers = []
    for message in messages:
        proc.stdin.write(json.dumps(message) + "\n")
        proc.stdin.flush()
        if "id" in message:
            answers.append(json.loads(proc.stdout.readline()))
    return answers


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that accepts connections and never answers (a server hung, a firewall eating replies)."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        yield listener.getsockname()[1]


def start_http_server(
    settings: dict[str, str], *args: str, stdout: int = subprocess.DEVNULL
) -> tuple[subprocess.Popen[str], str]:
    """The installed server over HTTP on a free loopback port, configured by `settings` (SONDOS_*
    variables) and by nothing else from this environment; answers once /healthz does. Stderr is piped."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")} | settings
    proc = subprocess.Popen(
        [*server_command(), "--transport", "http", "--port", str(port), *args],
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, proc)
    except AssertionError:
        proc.terminate()
        raise
    return proc, base


async def call(client: Client, tool: str, arguments: dict[str, Any], **kw: Any) -> tuple[bool, dict[str, Any], str]:
    """One tool call through a real MCP session: (isError, structuredContent, the text blocks joined)."""
    result = await client.call_tool(tool, arguments, **kw)
    text = "\n".join(block.text for block in result.content if block.type == "text")
    return bool(result.is_error), result.structured_content or {}, text


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def sandbox() -> Iterator[SandboxServer]:
    """A fresh sandbox API (seeded data, empty request log) on a loopback port."""
    with SandboxServer() as server:
        yield server


def make_settings(base_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"base_url": base_url, "api_key": SecretStr(DEMO_KEY), "retries": 0, "timeout": 5.0}
    return Settings(**(values | overrides))


@pytest.fixture(scope="module")
def still() -> Iterator[SandboxServer]:
    """One sandbox per module for the tests that change nothing: starting and stopping one costs more
    than they do."""
    with SandboxServer() as server:
        yield server


@pytest.fixture
async def reader(still: SandboxServer) -> AsyncIterator[Client]:
    """A session to a server on the shared sandbox, for reads."""
    async with Client(build_server(make_settings(still.base_url))) as session:
        yield session


@pytest.fixture
def settings(sandbox: SandboxServer) -> Settings:
    return make_settings(sandbox.base_url)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    """An in-memory MCP client session to a server pointed at the sandbox."""
    async with Client(build_server(settings)) as session:
        yield session


def stdio_params(base_url: str, api_key: str | None = DEMO_KEY, *extra_args: str, **env: str) -> StdioServerParameters:
    """Parameters that spawn the installed server as a subprocess speaking MCP over stdio."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")}
    child_env |= {"SONDOS_BASE_URL": base_url, "SONDOS_RETRIES": "0", **env}
    if api_key is not None:
        child_env["SONDOS_API_KEY"] = api_key
    command, *args = server_command()
    return StdioServerParameters(command=command, args=[*args, *extra_args], env=child_env)
