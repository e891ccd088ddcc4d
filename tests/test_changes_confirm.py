"""Confirmation by the person: MCP elicitation before a change is sent, when policy asks for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mcp_types as types
import pytest
from mcp import Client

from sondos_mcp.sandbox import SandboxServer
from sondos_mcp.server import build_server
from tests.conftest import make_settings

pytestmark = pytest.mark.anyio

# auto: protocol 2026-07-28, the question rides an input_required result; legacy: a back-channel request.
MODES = ["auto", "legacy"]


def server(sandbox: SandboxServer, tmp_path: Path, policy: str):
    path = tmp_path / "policy.toml"
    path.write_text(policy, "utf-8")
    return build_server(make_settings(sandbox.base_url, policy=path, journal=str(tmp_path / "j.db")))


class Person:
    """The client's elicitation callback: answers as told and remembers what it was shown."""

    def __init__(self, action: str, content: dict[str, Any] | None = None) -> None:
        self.action = action
        self.content = content
        self.asked: list[str] = []

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.asked.append(params.message)
        return types.ElicitResult(action=self.action, content=self.content)  # type: ignore[arg-type]


async def update(client: Client, arguments: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    result = await client.call_tool("update_assistant", arguments)
    return bool(result.is_error), result.structured_content or {}


@pytest.mark.parametrize("mode", MODES)
async def test_an_accepted_confirmation_applies_the_change(sandbox: SandboxServer, tmp_path: Path, mode: str):
    """The person sees the assistant and before → after, accepts, and the change is sent once."""
    person = Person("accept", {"apply": True})
    async with Client(server(sandbox, tmp_path, 'confirm = "always"\n'), elicitation_callback=person, mode=mode) as c:
        is_error, result = await update(c, {"id": 12, "max_call_duration": 300})
    assert not is_error, result
    assert result["applied"] is True
    (message,) = person.asked
    assert "Riyadh Sales" in message
    assert "max_call_duration: 600 → 300" in message
    assert [r.body for r in sandbox.state.updates()] == [{"max_call_duration": 300}]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("action", "content"),
    [
        ("decline", None),
        ("cancel", None),
        ("accept", {"apply": False}),
        ("accept", {"apply": "no"}),
        ("accept", {"apply": "false"}),
        ("accept", {"apply": "true"}),
        ("accept", {"apply": 0}),
        ("accept", {"apply": 1}),
        ("accept", {"apply": None}),
        ("accept", None),
        ("accept", {}),
        ("accept", {"other": True}),
        ("decline", {"apply": True}),
        ("cancel", {"apply": True}),
    ],
    ids=[
        "decline",
        "cancel",
        "unticked",
        "apply-no-string",
        "apply-false-string",
        "apply-true-string",
        "apply-zero",
        "apply-one",
        "apply-null",
        "accept-without-content",
        "accept-with-empty-content",
        "accept-without-apply",
        "decline-with-apply",
        "cancel-with-apply",
    ],
)
async def test_only_an_accept_with_apply_true_applies_anything_else_sends_nothing(
    sandbox: SandboxServer, tmp_path: Path, mode: str, action: str, content: dict[str, Any] | None
):
    """Anything but accept with apply = true (the boolean): declined_by_user, nothing sent or journaled."""
    person = Person(action, content)
    async with Client(server(sandbox, tmp_path, 'confirm = "always"\n'), elicitation_callback=person, mode=mode) as c:
        is_error, result = await update(c, {"id": 12, "max_call_duration": 300})
        listed = (await c.call_tool("list_changes", {})).structured_content or {}
    assert is_error
    assert result["error"]["kind"] == "declined_by_user"
    assert result["applied"] is False
    assert len(person.asked) == 1
    assert sandbox.state.updates() == []
    assert listed["changes"] == []


@pytest.mark.parametrize("mode", MODES)
async def test_a_client_without_elicitation_gets_a_clear_answer_not_a_silent_apply(
    sandbox: SandboxServer, tmp_path: Path, mode: str
):
    """Policy demands confirmation, the client cannot ask: confirmation_required, nothing sent."""
    async with Client(server(sandbox, tmp_path, 'confirm = "always"\n'), mode=mode) as c:
        is_error, result = await update(c, {"id": 12, "max_call_duration": 300})
    assert is_error
    assert result["error"]["kind"] == "confirmation_required"
    assert "elicitation" in result["message"]
    assert sandbox.state.updates() == []


async def test_confirmation_for_listed_fields_and_assistants_only(sandbox: SandboxServer, tmp_path: Path):
    """confirm = {fields, assistants}: only changes touching those ask; the rest apply directly."""
    person = Person("accept", {"apply": True})
    policy = 'confirm = { fields = ["system_prompt"], assistants = ["London*"] }\n'
    async with Client(server(sandbox, tmp_path, policy), elicitation_callback=person) as c:
        assert not (await update(c, {"id": 12, "max_call_duration": 300}))[0]
        assert person.asked == []
        assert not (await update(c, {"id": 12, "system_prompt": "Be brief."}))[0]
        assert not (await update(c, {"id": 16, "max_call_duration": 300}))[0]
    assert len(person.asked) == 2
    assert "London Bookings" in person.asked[1]


async def test_without_a_policy_nothing_is_asked(client: Client, sandbox: SandboxServer):
    """The default (no policy, stdio) never asks: today's behaviour is unchanged."""
    is_error, _ = await update(client, {"id": 12, "max_call_duration": 300})
    assert not is_error
    assert len(sandbox.state.updates()) == 1


async def test_a_change_set_and_an_undo_are_confirmed_once_each(sandbox: SandboxServer, tmp_path: Path):
    """update_assistants asks once for all its assistants; undo_change asks before restoring."""
    person = Person("accept", {"apply": True})
    async with Client(server(sandbox, tmp_path, 'confirm = "always"\n'), elicitation_callback=person) as c:
        result = await c.call_tool("update_assistants", {"ids": [12, 14], "changes": {"max_call_duration": 300}})
        assert not result.is_error, result.structured_content
        change_set = (result.structured_content or {})["change_set"]
        undo = await c.call_tool("undo_change", {"id": change_set})
        assert not undo.is_error
    assert len(person.asked) == 2
    assert "Riyadh Sales" in person.asked[0]
    assert "Dubai Concierge" in person.asked[0]
    assert person.asked[1].startswith("Undo")
    assert len(sandbox.state.updates()) == 4


class SlowPerson(Person):
    """A person who takes longer to answer than the call's deadline allows the API."""

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        import anyio

        await anyio.sleep(1.5)
        return await super().__call__(context, params)


async def test_the_persons_time_to_answer_does_not_count_against_the_call_deadline(
    sandbox: SandboxServer, tmp_path: Path
):
    """A confirmation slower than SONDOS_CALL_DEADLINE still applies: the deadline bounds the API, not the person."""
    path = tmp_path / "policy.toml"
    path.write_text('confirm = "always"\n', "utf-8")
    settings = make_settings(sandbox.base_url, policy=path, journal=str(tmp_path / "j.db"), call_deadline=1.0)
    person = SlowPerson("accept", {"apply": True})
    async with Client(build_server(settings), elicitation_callback=person, mode="legacy") as c:
        is_error, result = await update(c, {"id": 12, "max_call_duration": 300})
    assert not is_error, result
    assert result["applied"] is True
    assert [r.body for r in sandbox.state.updates()] == [{"max_call_duration": 300}]
