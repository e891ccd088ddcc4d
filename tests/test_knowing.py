"""What the agent knows: values last set here (with where they come from), changes that change
nothing (not sent), and advice on settings that may not fit together (never a refusal)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from pydantic import SecretStr

from sondos_mcp.sandbox import DEMO_KEY, SandboxServer
from sondos_mcp.server import build_server
from tests.conftest import call, make_settings

pytestmark = pytest.mark.anyio

SECOND_KEY_OF_USER_1 = "1|another-key-of-the-demo-account-00000000"


@pytest.fixture
async def client(sandbox: SandboxServer, tmp_path: Path) -> AsyncIterator[Client]:
    async with Client(build_server(make_settings(sandbox.base_url, journal=str(tmp_path / "j.sqlite3")))) as session:
        yield session


# --- known values with provenance ------------------------------------------------------------


async def test_a_field_the_list_does_not_show_reads_back_as_last_set_here(client: Client):
    """speech_speed is not in the API's list: after setting it here, get_assistant says so, with when."""
    _, before, _ = await call(client, "get_assistant", {"id": 12})
    assert before["assistant"]["sources"]["speech_speed"] == "unknown"
    _, applied, _ = await call(client, "update_assistant", {"id": 12, "speech_speed": 0.9})
    _, after, text = await call(client, "get_assistant", {"id": 12})
    view = after["assistant"]
    assert view["sources"]["speech_speed"] == "journal"
    assert view["sources"]["max_call_duration"] == "api"
    here = view["last_set_here"]["speech_speed"]
    assert (here["value"], here["change_id"]) == (0.9, applied["change_id"])
    assert here["at"]
    assert "speech_speed" not in view["unknown"]
    assert "- speech_speed: 0.9 (last set here at " in text
    assert "changes made elsewhere since are not visible" in text


async def test_values_last_set_here_are_never_shown_to_another_key(sandbox: SandboxServer, tmp_path: Path):
    """Even another key of the same Sondos user is another account here: it sees what the API
    shows, and none of what the first key set."""
    sandbox.state.keys[SECOND_KEY_OF_USER_1] = 1
    keys = {"key": DEMO_KEY}
    settings = make_settings(sandbox.base_url, journal=str(tmp_path / "j.sqlite3"), http_auth="per_user")
    async with Client(build_server(settings, request_key=lambda _: SecretStr(keys["key"]))) as client:
        await call(client, "update_assistant", {"id": 12, "speech_speed": 0.9})
        keys["key"] = SECOND_KEY_OF_USER_1
        _, other, _ = await call(client, "get_assistant", {"id": 12})
        _, preview, _ = await call(client, "update_assistant", {"id": 12, "speech_speed": 1.1, "dry_run": True})
    assert other["assistant"]["sources"]["speech_speed"] == "unknown"
    assert other["assistant"]["last_set_here"] == {}
    assert preview["preview"][0]["before_known"] is False


async def test_the_preview_shows_a_value_last_set_here_and_where_it_is_known_from(client: Client):
    await call(client, "update_assistant", {"id": 12, "speech_speed": 0.9})
    _, preview, text = await call(client, "update_assistant", {"id": 12, "speech_speed": 0.8, "dry_run": True})
    (change,) = preview["preview"]
    assert (change["before"], change["source"], change["changed"]) == (0.9, "journal", True)
    assert "last set here" in text


# --- changes that change nothing -------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [{"max_call_duration": 600}, {"webhook_url": None}, {"language": "Arabic", "record_call": True}],
    ids=["shown-by-the-list", "null-as-a-value", "several-fields"],
)
async def test_a_change_to_the_values_already_held_is_not_sent_unless_forced(
    client: Client, sandbox: SandboxServer, change: dict[str, Any]
):
    is_error, result, text = await call(client, "update_assistant", {"id": 12, **change})
    assert not is_error, result
    assert (result["applied"], result["changed_fields"], result["unchanged_fields"]) == (False, [], list(change))
    assert "change_id" not in result
    assert "already has" in text
    assert "force" in text
    assert sandbox.state.updates() == []
    _, listed, _ = await call(client, "list_changes", {})
    assert listed["changes"] == []
    is_error, forced, _ = await call(client, "update_assistant", {"id": 12, **change, "force": True})
    assert not is_error
    assert forced["applied"] is True
    assert [u.body for u in sandbox.state.updates()] == [change]


async def test_a_value_known_only_from_the_journal_is_no_proof_so_the_change_is_sent(
    client: Client, sandbox: SandboxServer
):
    """speech_speed 0.9 was set here, then perhaps changed in the dashboard: the API cannot show it,
    so a repeat is sent (the preview still says what was last set here)."""
    await call(client, "update_assistant", {"id": 12, "speech_speed": 0.9})
    _, again, _ = await call(client, "update_assistant", {"id": 12, "speech_speed": 0.9})
    assert again["applied"] is True
    assert len(sandbox.state.updates()) == 2


async def test_an_edit_made_elsewhere_since_the_last_read_is_not_mistaken_for_already_so(
    client: Client, sandbox: SandboxServer
):
    """The cached copy says 300; the dashboard set 600 since: the repeat of 300 is read afresh and sent."""
    await call(client, "update_assistant", {"id": 12, "max_call_duration": 300})
    sandbox.state.assistants[12]["max_duration"] = 600  # the dashboard, within the cache's lifetime
    _, again, _ = await call(client, "update_assistant", {"id": 12, "max_call_duration": 300})
    assert again["applied"] is True
    assert [u.body for u in sandbox.state.updates()] == [{"max_call_duration": 300}] * 2


async def test_a_field_whose_value_is_unknown_is_sent_as_asked(client: Client, sandbox: SandboxServer):
    _, applied, _ = await call(client, "update_assistant", {"id": 12, "speech_speed": 1.0})  # the API holds 1.0
    assert applied["applied"] is True
    assert len(sandbox.state.updates()) == 1


async def test_repeating_a_change_set_sends_nothing_and_counts_each_member_as_already_so(
    client: Client, sandbox: SandboxServer
):
    arguments = {"query": "campaign agent 0", "changes": {"language": "Turkish"}}
    _, first, _ = await call(client, "update_assistants", arguments)
    assert first["counts"] == {"applied": 12}
    sandbox.state.reset_log()
    _, preview, _ = await call(client, "update_assistants", arguments | {"dry_run": True})
    assert preview["counts"] == {"unchanged": 12}
    assert {m["preview"][0]["changed"] for m in preview["assistants"]} == {False}
    is_error, again, text = await call(client, "update_assistants", arguments)
    assert not is_error, again
    assert again["counts"] == {"unchanged": 12}
    assert {m["outcome"] for m in again["assistants"]} == {"unchanged"}
    assert "change_set" not in again
    assert "already" in text
    assert sandbox.state.updates() == []
    _, forced, _ = await call(client, "update_assistants", arguments | {"force": True})
    assert forced["counts"] == {"applied": 12}
    assert len(sandbox.state.updates()) == 12


async def test_a_change_set_preview_marks_each_members_fields_changed_or_not(client: Client, sandbox: SandboxServer):
    sandbox.state.assistants[101]["max_duration"] = 300
    _, preview, text = await call(
        client, "update_assistants", {"ids": [101, 102], "changes": {"max_call_duration": 300}, "dry_run": True}
    )
    changed = {m["id"]: m["preview"][0]["changed"] for m in preview["assistants"]}
    assert changed == {101: False, 102: True}
    assert preview["counts"] == {"planned": 1, "unchanged": 1}
    assert "(already so)" in text


# --- advice on settings that may not fit together ---------------------------------------------


@pytest.mark.parametrize(
    ("assistant", "setup", "change", "code", "fields"),
    [
        (12, None, {"send_webhook_only_on_completed": True}, "webhook_off", ["send_webhook_only_on_completed"]),
        (12, None, {"include_recording_in_webhook": True}, "webhook_off", ["include_recording_in_webhook"]),
        (
            12,
            None,
            {"post_call_schema": [{"name": "outcome", "type": "string", "description": "How it ended"}]},
            "post_call_evaluation_off",
            ["post_call_schema"],
        ),
        (
            12,
            {"use_min_interrupt_words": False},
            {"min_interrupt_words": 3},
            "min_interrupt_words_unused",
            ["min_interrupt_words"],
        ),
        (14, None, {"language": "Arabic"}, "voice_language", ["language"]),
        (12, None, {"max_silence_duration": 100, "max_call_duration": 60}, "silence_beyond_call", None),
        (15, None, {"speech_speed": 0.9}, "inactive_assistant", None),
    ],
    ids=["webhook-completed", "webhook-recording", "post-call", "min-words", "voice-language", "silence", "inactive"],
)
async def test_settings_that_may_not_fit_together_are_advised_never_refused(
    client: Client,
    sandbox: SandboxServer,
    assistant: int,
    setup: dict[str, Any] | None,
    change: dict[str, Any],
    code: str,
    fields: list[str] | None,
):
    if setup is not None:
        await call(client, "update_assistant", {"id": assistant, **setup})
    sandbox.state.reset_log()
    _, preview, _ = await call(client, "update_assistant", {"id": assistant, **change, "dry_run": True})
    is_error, applied, text = await call(client, "update_assistant", {"id": assistant, **change})
    assert not is_error, applied
    assert len(sandbox.state.updates()) == 1
    for result in (preview, applied):
        (warning,) = [w for w in result["warnings"] if w["code"] == code]
        if fields is not None:
            assert warning["fields"] == fields
    assert "Warning: " in text


@pytest.mark.parametrize(
    ("assistant", "change"),
    [
        (16, {"send_webhook_only_on_completed": True}),  # its webhook is on, with a URL
        (12, {"min_interrupt_words": 3}),  # use_min_interrupt_words: not shown, never set here
        (12, {"language": "French"}),  # voice 2 lists no languages
        (12, {"max_silence_duration": 100}),  # within the 600 s call
    ],
    ids=["webhook-on", "unknown-switch", "voice-without-list", "silence-within"],
)
async def test_no_advice_where_the_settings_fit_or_cannot_be_told(
    client: Client, assistant: int, change: dict[str, Any]
):
    _, preview, _ = await call(client, "update_assistant", {"id": assistant, **change, "dry_run": True})
    assert "warnings" not in preview


async def test_each_change_set_member_carries_its_own_advice(client: Client):
    _, preview, _ = await call(
        client, "update_assistants", {"ids": [12, 15], "changes": {"speech_speed": 0.9}, "dry_run": True}
    )
    advice = {m["id"]: [w["code"] for w in m.get("warnings", [])] for m in preview["assistants"]}
    assert advice == {12: [], 15: ["inactive_assistant"]}
