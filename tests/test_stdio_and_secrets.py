"""The real `python -m sondos_mcp` process over stdio, and the API key never leaking anywhere."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from pydantic import SecretStr

from sondos_mcp.client import SondosApi
from sondos_mcp.config import Settings
from sondos_mcp.logs import RedactSecrets
from sondos_mcp.sandbox import DEMO_KEY, SandboxServer
from sondos_mcp.server import build_server
from tests.conftest import make_settings, stdio_params

pytestmark = pytest.mark.anyio

CANARY = "7|canary-9f3b2c-secret-key"


async def test_stdio_process_refuses_then_applies_corrected_proposal(sandbox: SandboxServer):
    """Over stdio, a wrong proposal is refused with fixes and the corrected one is applied."""
    params = stdio_params(sandbox.base_url)
    async with Client(params) as client:
        listed = await client.list_tools()
        assert "update_assistant" in {t.name for t in listed.tools}
        wrong = await client.call_tool("update_assistant", {"id": 12, "speech_speed": 1.25, "type": "inbound"})
        assert wrong.is_error
        suggested = wrong.structured_content["suggested_arguments"]
        assert suggested == {"id": 12, "speech_speed": 1.2, "calls_direction": "receive"}
        assert sandbox.state.updates() == []
        fixed = await client.call_tool("update_assistant", suggested)
        assert not fixed.is_error
    assert [u.body for u in sandbox.state.updates()] == [{"speech_speed": 1.2, "calls_direction": "receive"}]


def converse(params: StdioServerParameters, messages: list[dict], expect_ids: set[int]) -> tuple[str, str]:
    """Write JSON-RPC lines to a server process, keep stdin open until every expected id is answered."""
    with tempfile.TemporaryFile("w+") as errfile:
        proc = subprocess.Popen(
            [params.command, *params.args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errfile,
            text=True,
            env=params.env,
        )
        assert proc.stdin is not None
        assert proc.stdout is not None
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        proc.stdin.flush()
        out, answered = [], set()
        deadline = time.monotonic() + 60
        while answered < expect_ids and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            out.append(line)
            answered.add(json.loads(line).get("id"))
        proc.stdin.close()
        proc.wait(timeout=30)
        out.append(proc.stdout.read())
        errfile.seek(0)
        return "".join(out), errfile.read()


def test_stdout_carries_only_protocol_and_logs_go_to_stderr(sandbox: SandboxServer):
    """stdout holds nothing but JSON-RPC messages; log lines (with the key scrubbed) go to stderr."""
    messages = [
        {
            "jsonrpc": "2.0",
            "id": 1,
            "method": "initialize",
            "params": {
                "protocolVersion": "2025-11-25",
                "capabilities": {},
                "clientInfo": {"name": "t", "version": "1"},
            },
        },
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {
            "jsonrpc": "2.0",
            "id": 2,
            "method": "tools/call",
            "params": {"name": "update_assistant", "arguments": {"id": 12, "speech_speed": 0.9}},
        },
        {
            "jsonrpc": "2.0",
            "id": 3,
            "method": "tools/call",
            "params": {"name": "update_assistant", "arguments": {"id": 99999, "speech_speed": 0.9}},
        },
    ]
    sandbox.state.keys[CANARY] = 1
    params = stdio_params(sandbox.base_url, CANARY, SONDOS_LOG_LEVEL="DEBUG")
    stdout, stderr = converse(params, messages, expect_ids={1, 2, 3})
    lines = [json.loads(line) for line in stdout.splitlines() if line.strip()]
    assert all(msg.get("jsonrpc") == "2.0" for msg in lines)
    results = {msg["id"]: msg["result"] for msg in lines if "id" in msg}
    assert results[2]["isError"] is False
    assert results[3]["isError"] is True
    assert results[3]["structuredContent"]["error"]["kind"] == "not_found"
    assert "PUT /user/assistant/12 -> 200" in stderr
    assert CANARY not in stdout
    assert CANARY not in stderr
    assert sandbox.state.updates()[0].authorization == f"Bearer {CANARY}"


def test_missing_key_starts_with_a_clear_warning_not_a_traceback(sandbox: SandboxServer):
    """Started without SONDOS_API_KEY, the server says how to set it and still answers."""
    params = stdio_params(sandbox.base_url, None)
    init = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
    }
    proc = subprocess.run(
        [params.command, *params.args],
        input=json.dumps(init) + "\n",
        capture_output=True,
        text=True,
        env=params.env,
        timeout=60,
    )
    assert "SONDOS_API_KEY is not set" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert json.loads(proc.stdout.splitlines()[0])["result"]["serverInfo"]["name"] == "sondos-mcp"


async def test_key_never_appears_in_results_logs_or_reprs(sandbox: SandboxServer, caplog: pytest.LogCaptureFixture):
    """The API key is absent from every tool result, log line and repr, across success and failure paths."""
    sandbox.state.keys[CANARY] = 1
    settings = make_settings(sandbox.base_url, api_key=SecretStr(CANARY))
    seen: list[str] = [repr(settings), str(settings), settings.model_dump_json()]
    caplog.set_level(logging.DEBUG)
    handler_filter = RedactSecrets([CANARY])
    logging.getLogger().addFilter(handler_filter)
    try:
        async with Client(build_server(settings)) as client:
            for status in (None, 401, 404, 422, 429, 500):
                if status is not None:
                    sandbox.state.fail_next(
                        status, {"message": f"echo {CANARY}", "errors": {"x": [CANARY]}}, method="PUT"
                    )
                result = await client.call_tool("update_assistant", {"id": 12, "speech_speed": 0.9})
                seen.append(result.model_dump_json())
            bad = await client.call_tool("update_assistant", {"id": 12, "api_key": CANARY})
            seen.append(bad.model_dump_json())
    finally:
        logging.getLogger().removeFilter(handler_filter)
    seen += [record.getMessage() for record in caplog.records]
    seen.append(repr(SondosApi(settings, None)))  # type: ignore[arg-type]
    assert len(sandbox.state.updates()) == 6
    assert [s for s in seen if CANARY in s] == []
    assert any("[redacted]" in s for s in seen)


def test_settings_keep_the_key_secret():
    """Settings hold the key as a secret: repr and JSON show it masked."""
    settings = Settings(api_key=SecretStr(CANARY))
    assert CANARY not in repr(settings)
    assert CANARY not in settings.model_dump_json()
    assert settings.api_key is not None
    assert settings.api_key.get_secret_value() == CANARY


def test_redaction_filter_scrubs_messages_and_tracebacks():
    """The logging filter removes the key from messages, arguments and tracebacks."""
    record_filter = RedactSecrets([DEMO_KEY])
    try:
        raise RuntimeError(f"failed with {DEMO_KEY}")
    except RuntimeError:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "key=%s", (DEMO_KEY,), sys.exc_info())
    record_filter.filter(record)
    formatted = logging.Formatter().format(record)
    assert DEMO_KEY not in formatted
    assert "[redacted]" in formatted
    assert Path(__file__).name in formatted
