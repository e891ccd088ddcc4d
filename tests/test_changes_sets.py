"""Change sets: one change to several assistants, checked all first, progress while applying, undone whole."""

from __future__ import annotations

from pathlib import Path

import pytest
from mcp import Client

from sondos_mcp.sandbox import SandboxServer
from sondos_mcp.server import build_server
from tests.conftest import call, make_settings

pytestmark = pytest.mark.anyio


@pytest.fixture
async def client(sandbox: SandboxServer, tmp_path: Path):
    async with Client(build_server(make_settings(sandbox.base_url, journal=str(tmp_path / "j.db")))) as session:
        yield session


async def test_a_change_set_by_name_query_previews_then_applies_with_progress(client: Client, sandbox: SandboxServer):
    """query picks the assistants; dry_run sends nothing; the real run reports progress and one change set."""
    is_error, preview, text = await call(
        client,
        "update_assistants",
        {"query": "campaign agent 0", "changes": {"max_call_duration": 300}, "dry_run": True},
    )
    assert not is_error, preview
    expected = sorted(
        i
        for i, a in sandbox.state.assistants.items()
        if a["user_id"] == 1 and "0" in a["name"] and "Campaign" in a["name"]
    )
    assert [m["id"] for m in preview["assistants"]] == expected
    assert len(expected) == 12
    assert {m["outcome"] for m in preview["assistants"]} == {"planned"}
    assert "600 → 300" in text
    assert sandbox.state.updates() == []

    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    is_error, applied, _ = await call(
        client,
        "update_assistants",
        {"query": "campaign agent 0", "changes": {"max_call_duration": 300}},
        progress_callback=on_progress,
    )
    assert not is_error, applied
    assert [p[0] for p in progress] == [*range(12), 12]
    assert {p[1] for p in progress} == {12}
    assert "Campaign Agent 01" in (progress[0][2] or "")
    assert {m["outcome"] for m in applied["assistants"]} == {"applied"}
    assert len(sandbox.state.updates()) == 12
    _, listed, _ = await call(client, "list_changes", {"limit": 100})
    assert {c["change_set"] for c in listed["changes"]} == {applied["change_set"]}
    assert len(listed["changes"]) == 12


async def test_one_bad_member_refuses_the_whole_set_unsent(client: Client, sandbox: SandboxServer):
    """A voice of the wrong engine for one assistant: that one is refused with its problem, none is sent."""
    is_error, refused, text = await call(client, "update_assistants", {"ids": [12, 13], "changes": {"voice_id": 2}})
    assert is_error
    members = {m["id"]: m for m in refused["assistants"]}
    assert members[13]["outcome"] == "refused"
    assert members[13]["problems"][0]["code"] == "wrong_mode"
    assert members[12]["outcome"] == "not_sent"
    assert "nothing was sent" in text
    assert sandbox.state.updates() == []


async def test_a_failure_midway_leaves_a_journal_that_says_which_were_applied(client: Client, sandbox: SandboxServer):
    """The API fails on the second assistant: the first is applied, the second failed, the third not attempted."""

    async def fail_second(done: float, total: float | None, message: str | None) -> None:
        if done == 1:
            sandbox.state.fail_next(500, {"message": "boom"}, method="PUT")

    is_error, result, _ = await call(
        client,
        "update_assistants",
        {"ids": [12, 14, 16], "changes": {"max_call_duration": 300}},
        progress_callback=fail_second,
    )
    assert is_error
    assert [(m["id"], m["outcome"]) for m in result["assistants"]] == [
        (12, "applied"),
        (14, "failed"),
        (16, "not_attempted"),
    ]
    _, listed, _ = await call(client, "list_changes", {})
    assert sorted((c["assistant_id"], c["outcome"]) for c in listed["changes"]) == [(12, "applied"), (14, "failed")]
    assert sandbox.state.assistants[16]["max_duration"] == 600


async def test_undo_change_reverts_a_whole_change_set(client: Client, sandbox: SandboxServer):
    """undo_change with the set id restores every assistant in it, as one new set."""
    _, applied, _ = await call(
        client, "update_assistants", {"ids": [12, 14, 16], "changes": {"max_call_duration": 300}}
    )
    assert [sandbox.state.assistants[i]["max_duration"] for i in (12, 14, 16)] == [300, 300, 300]
    is_error, undone, text = await call(client, "undo_change", {"id": applied["change_set"]})
    assert not is_error, text
    assert [sandbox.state.assistants[i]["max_duration"] for i in (12, 14, 16)] == [600, 600, 600]
    assert len(undone["change_ids"]) == 3
    _, listed, _ = await call(client, "list_changes", {"limit": 3})
    assert {c["undoes"] for c in listed["changes"]} == {c["change_id"] for c in applied["assistants"]}
    assert {c["change_set"] for c in listed["changes"]} == {undone["change_set"]}


async def test_choosing_assistants_needs_ids_or_a_query(client: Client):
    """Neither, or both, is a structured problem; a query that matches nothing says so."""
    for arguments in (
        {"changes": {"max_call_duration": 300}},
        {"ids": [12], "query": "x", "changes": {"record_call": True}},
    ):
        is_error, refused, _ = await call(client, "update_assistants", arguments)
        assert is_error
        assert refused["problems"][0]["code"] == "choose_assistants"
    is_error, refused, _ = await call(client, "update_assistants", {"query": "zzz", "changes": {"record_call": True}})
    assert is_error
    assert refused["problems"][0]["code"] == "no_match"


async def test_id_or_dry_run_inside_changes_is_refused(client: Client, sandbox: SandboxServer):
    """changes carries only fields: an id there would change the wrong assistant, so it is refused."""
    is_error, refused, _ = await call(
        client, "update_assistants", {"ids": [12], "changes": {"id": 14, "record_call": True}}
    )
    assert is_error
    assert refused["problems"][0]["field"] == "changes.id"
    assert sandbox.state.updates() == []
