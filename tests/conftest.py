"""Shared fixtures: a real sandbox API on 127.0.0.1 and real MCP client sessions to the server."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from pydantic import SecretStr

from sondos_mcp.config import Settings
from sondos_mcp.sandbox import DEMO_KEY, SandboxServer
from sondos_mcp.server import build_server


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


@pytest.fixture
def settings(sandbox: SandboxServer) -> Settings:
    return make_settings(sandbox.base_url)


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[Client]:
    """An in-memory MCP client session to a server pointed at the sandbox."""
    async with Client(build_server(settings)) as session:
        yield session


def stdio_params(base_url: str, api_key: str | None = DEMO_KEY, *extra_args: str, **env: str) -> StdioServerParameters:
    """Parameters that spawn `python -m sondos_mcp` as a subprocess speaking MCP over stdio."""
    child_env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")}
    child_env |= {"SONDOS_BASE_URL": base_url, "SONDOS_RETRIES": "0", **env}
    if api_key is not None:
        child_env["SONDOS_API_KEY"] = api_key
    return StdioServerParameters(command=sys.executable, args=["-m", "sondos_mcp", *extra_args], env=child_env)
