"""What a tool call costs once the server is warm: no import machinery on the path."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.abc import MetaPathFinder
from pathlib import Path
from typing import Any

import pytest
from mcp import Client

from sondos_mcp.sandbox import SandboxServer
from sondos_mcp.server import build_server
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio


class _Recorder(MetaPathFinder):
    """Sees every import that sys.modules could not answer (a first load, or a failed probe)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> None:
        self.names.append(fullname)
        return None  # the real finders still answer


@contextmanager
def imports_seen() -> Iterator[list[str]]:
    recorder = _Recorder()
    sys.meta_path.insert(0, recorder)
    try:
        yield recorder.names
    finally:
        sys.meta_path.remove(recorder)


async def test_warm_calls_run_no_import_machinery(sandbox: SandboxServer, tmp_path: Path) -> None:
    """After a first call of each kind, calls reach no finder: a failed optional import per request
    (httpcore probes for sniffio on every request) scans sys.path each time, costing more than the journal."""
    settings = make_settings(sandbox.base_url, journal=str(tmp_path / "journal.sqlite3"))
    calls: list[tuple[str, dict[str, Any]]] = [
        ("update_assistant", {"id": 12, "max_call_duration": 300}),
        ("update_assistant", {"id": 12, "speech_speed": 0.9, "dry_run": True}),
        ("get_assistant", {"id": 12}),
        ("list_assistants", {}),
        ("list_changes", {"assistant_id": 12}),
    ]
    async with Client(build_server(settings)) as client:
        for tool, arguments in calls:  # warm: each path loads what it needs once
            assert not (await client.call_tool(tool, arguments)).is_error
        with imports_seen() as names:
            for round_ in range(3):
                for tool, arguments in calls:
                    if "max_call_duration" in arguments:
                        arguments = arguments | {"max_call_duration": 301 + round_}
                    assert not (await client.call_tool(tool, arguments)).is_error
    assert names == []
