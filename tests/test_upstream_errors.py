"""Every upstream failure class becomes the same structured feedback, through a real MCP session."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from mcp import Client
from pydantic import SecretStr

from sondos_mcp.sandbox import OTHER_KEY, SandboxServer
from sondos_mcp.server import build_server
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio

VALID = {"id": 12, "speech_speed": 0.9}


async def update(client: Client, arguments: dict[str, Any] = VALID) -> tuple[bool, dict[str, Any], str]:
    result = await client.call_tool("update_assistant", arguments)
    text = "\n".join(block.text for block in result.content if block.type == "text")
    return result.is_error, result.structured_content or {}, text


@pytest.mark.parametrize(
    ("status", "body", "headers", "kind", "retryable", "retry_after"),
    [
        (404, {"message": "Assistant not found"}, {}, "not_found", False, None),
        (401, {"message": "Unauthenticated."}, {}, "unauthorized", False, None),
        (403, {"message": "Forbidden"}, {}, "unauthorized", False, None),
        (429, {"message": "Too Many Attempts."}, {"Retry-After": "17"}, "rate_limited", True, 17),
        (500, {"message": "Assistant update failed"}, {}, "upstream_unavailable", True, None),
        (503, None, {}, "upstream_unavailable", True, None),
        (409, {"message": "Conflict"}, {}, "upstream_error", False, None),
    ],
)
async def test_upstream_status_maps_to_structured_error(
    client: Client,
    sandbox: SandboxServer,
    status: int,
    body: Any,
    headers: dict[str, str],
    kind: str,
    retryable: bool,
    retry_after: int | None,
):
    """Each upstream status class becomes isError with its kind, retryable flag and Retry-After."""
    sandbox.state.fail_next(status, body, headers=headers, method="PUT")
    is_error, structured, text = await update(client)
    assert is_error
    assert structured["ok"] is False
    assert structured["applied"] is False
    assert structured["id"] == 12
    assert structured["error"]["kind"] == kind
    assert structured["error"]["status"] == status
    assert structured["error"]["retryable"] is retryable
    assert structured["error"].get("retry_after") == retry_after
    assert text.startswith("Not applied")


async def test_not_found_hints_how_to_find_the_right_id(client: Client):
    """An id the account does not own comes back as not_found with a hint to list assistants."""
    is_error, structured, text = await update(client, {"id": 21, "speech_speed": 0.9})
    assert is_error
    assert structured["error"]["kind"] == "not_found"
    assert "list_assistants" in structured["error"]["hint"]
    assert "list_assistants" in text


async def test_upstream_422_is_mapped_per_field_with_the_value_sent(client: Client, sandbox: SandboxServer):
    """A 422 {errors: {field: [messages]}} becomes one problem per field, quoting what was sent."""
    errors = {"speech_speed": ["The speech speed must be between 0.7 and 1.2."], "voice_id": ["Invalid voice."]}
    sandbox.state.fail_next(422, {"message": "Validation failed", "errors": errors}, method="PUT")
    is_error, structured, text = await update(client, {"id": 12, "speech_speed": 0.9, "voice_id": 2})
    assert is_error
    assert structured["error"]["kind"] == "upstream_validation"
    problems = {p["field"]: p for p in structured["problems"]}
    assert problems["speech_speed"]["code"] == "rejected_by_api"
    assert problems["speech_speed"]["received"] == 0.9
    assert problems["speech_speed"]["message"] == errors["speech_speed"][0]
    assert problems["voice_id"]["received"] == 2
    assert "The speech speed must be between 0.7 and 1.2." in text


async def test_body_that_is_not_json_is_an_upstream_failure(client: Client, sandbox: SandboxServer):
    """An HTML error page instead of JSON is reported as a retryable upstream failure."""
    sandbox.state.fail_next(502, raw="<html>Bad gateway</html>", method="PUT")
    is_error, structured, _ = await update(client)
    assert is_error
    assert structured["error"]["kind"] == "upstream_unavailable"
    assert structured["error"]["retryable"] is True


async def test_success_with_a_body_that_is_not_json_is_an_upstream_failure(client: Client, sandbox: SandboxServer):
    """A 200 whose body is not JSON is not taken for success."""
    sandbox.state.fail_next(200, raw="OK", method="PUT")
    is_error, structured, _ = await update(client)
    assert is_error
    assert structured["error"]["kind"] == "upstream_unavailable"


async def test_timeout_is_reported_as_unknown_outcome(sandbox: SandboxServer):
    """A timeout is retryable and reports the outcome as unknown, with how to check it."""
    sandbox.state.fail_next(200, {"message": "late"}, delay=2.0, method="PUT")
    async with Client(build_server(make_settings(sandbox.base_url, timeout=0.3))) as client:
        is_error, structured, text = await update(client)
    assert is_error
    assert structured["error"]["kind"] == "upstream_timeout"
    assert structured["error"]["retryable"] is True
    assert structured["applied"] == "unknown"
    assert "get_assistant" in text


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_refused_connection_is_a_retryable_upstream_failure():
    """An API that cannot be reached is a retryable upstream failure, not a traceback."""
    settings = make_settings(f"http://127.0.0.1:{closed_port()}")
    async with Client(build_server(settings)) as client:
        is_error, structured, _ = await update(client)
    assert is_error
    assert structured["error"]["kind"] == "upstream_unavailable"
    assert structured["error"]["retryable"] is True
    assert structured["applied"] is False


async def test_transient_failure_on_connect_is_retried(sandbox: SandboxServer):
    """With retries configured, a 503 from a gateway is retried and the update lands once."""
    sandbox.state.fail_next(503, {"message": "Service Unavailable"}, method="PUT")
    async with Client(build_server(make_settings(sandbox.base_url, retries=2))) as client:
        is_error, structured, _ = await update(client)
    assert not is_error, structured
    assert len(sandbox.state.updates()) == 2


async def test_missing_api_key_is_a_clear_configuration_error(sandbox: SandboxServer):
    """Without a key, proposals are still checked, and a valid one is refused with how to set the key."""
    settings = make_settings(sandbox.base_url, api_key=None)
    async with Client(build_server(settings)) as client:
        is_error, structured, text = await update(client)
        bad_error, bad, _ = await update(client, {"id": 12, "speech_speed": 5})
    assert is_error
    assert structured["error"]["kind"] == "configuration"
    assert "SONDOS_API_KEY" in text
    assert sandbox.state.received == []
    assert bad_error
    assert bad["error"]["kind"] == "invalid_arguments"


async def test_wrong_key_is_reported_without_echoing_it(sandbox: SandboxServer):
    """A key the API refuses is reported as unauthorized and never echoed back."""
    settings = make_settings(sandbox.base_url, api_key=SecretStr("9|wrong-key-canary"))
    async with Client(build_server(settings)) as client:
        is_error, structured, text = await update(client)
    assert is_error
    assert structured["error"]["kind"] == "unauthorized"
    assert "wrong-key-canary" not in text
    assert "wrong-key-canary" not in str(structured)


async def test_each_key_reaches_only_its_own_assistants(sandbox: SandboxServer):
    """The other team's key cannot change the demo account's assistant."""
    settings = make_settings(sandbox.base_url, api_key=SecretStr(OTHER_KEY))
    async with Client(build_server(settings)) as client:
        mine, _, _ = await update(client, {"id": 21, "speech_speed": 0.9})
        theirs, structured, _ = await update(client, {"id": 12, "speech_speed": 0.9})
    assert not mine
    assert theirs
    assert structured["error"]["kind"] == "not_found"
    assert {r.authorization for r in sandbox.state.updates()} == {f"Bearer {OTHER_KEY}"}
