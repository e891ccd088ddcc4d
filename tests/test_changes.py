"""The change journal through real MCP sessions: apply → list_changes → undo_change → restart."""

from __future__ import annotations

import getpass
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import stdio_client

from sondos_mcp.client import fingerprint
from sondos_mcp.journal import NewChange
from sondos_mcp.journal.sqlite import SqliteJournal
from sondos_mcp.sandbox import DEMO_KEY, SandboxServer
from sondos_mcp.server import build_server
from tests.conftest import call, make_settings, stdio_params
from tests.hostile import RawUpstream

pytestmark = pytest.mark.anyio


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "journal.sqlite3"


@pytest.fixture
async def client(sandbox: SandboxServer, journal_path: Path):
    async with Client(build_server(make_settings(sandbox.base_url, journal=str(journal_path)))) as session:
        yield session


async def settings_of(client: Client, assistant_id: int) -> dict[str, Any]:
    _, structured, _ = await call(client, "get_assistant", {"id": assistant_id})
    return structured["assistant"]["settings"]


async def test_apply_list_undo_and_the_journal_survives_a_restart(
    client: Client, sandbox: SandboxServer, journal_path: Path
):
    """A change is journaled with its before-values, undo restores them, and a new server reads it all."""
    is_error, applied, text = await call(client, "update_assistant", {"id": 12, "max_call_duration": 300})
    assert not is_error, applied
    change_id = applied["change_id"]
    assert change_id in text
    is_error, listed, text = await call(client, "list_changes", {})
    assert not is_error
    (entry,) = listed["changes"]
    assert entry["id"] == change_id
    assert entry["outcome"] == "applied"
    assert entry["actor"] == "local:" + getpass.getuser()
    assert entry["fields"] == [{"field": "max_call_duration", "before": 600, "before_known": True, "after": 300}]
    assert "max_call_duration 600 → 300" in entry["summary"]
    assert entry["summary"] in text
    assert (await settings_of(client, 12))["max_call_duration"] == 300

    is_error, undone, text = await call(client, "undo_change", {"id": change_id})
    assert not is_error, text
    assert undone["applied"] is True
    assert (await settings_of(client, 12))["max_call_duration"] == 600
    assert [r.body for r in sandbox.state.updates()] == [{"max_call_duration": 300}, {"max_call_duration": 600}]

    async with Client(build_server(make_settings(sandbox.base_url, journal=str(journal_path)))) as again:
        _, listed, _ = await call(again, "list_changes", {})
    assert [(c["id"], c.get("undoes")) for c in listed["changes"]] == [
        (undone["change_ids"][0], change_id),
        (change_id, None),
    ]


async def test_undo_refuses_a_field_changed_since_unless_forced(client: Client, sandbox: SandboxServer):
    """A later journaled change, or an edit outside the journal, blocks the undo of that field; force overrides."""
    _, first, _ = await call(
        client, "update_assistant", {"id": 14, "max_call_duration": 300, "timezone": "Asia/Riyadh"}
    )
    await call(client, "update_assistant", {"id": 14, "max_call_duration": 400})
    sandbox.state.assistants[14]["max_silence_duration"] = 99  # unrelated field: must not block
    sent = len(sandbox.state.updates())
    is_error, undone, text = await call(client, "undo_change", {"id": first["change_id"]})
    assert not is_error, text
    fields = {f["field"]: f for f in undone["fields"]}
    assert "changed again since" in fields["max_call_duration"]["refused"]
    assert fields["timezone"].get("refused") is None
    assert sandbox.state.updates()[sent:][0].body == {"timezone": "Asia/Dubai"}
    assert (await settings_of(client, 14))["max_call_duration"] == 400

    sandbox.state.assistants[14]["timezone"] = "Europe/Paris"  # edited in the dashboard
    _, second, _ = await call(client, "update_assistant", {"id": 14, "initial_message": "Hi"})
    sandbox.state.assistants[14]["initial_message"] = "Edited elsewhere"
    sent = len(sandbox.state.updates())
    is_error, refused, text = await call(client, "undo_change", {"id": second["change_id"]})
    assert is_error
    assert "changed since outside this journal" in refused["fields"][0]["refused"]
    assert len(sandbox.state.updates()) == sent
    is_error, _, _ = await call(client, "undo_change", {"id": second["change_id"], "force": True})
    assert not is_error
    assert sandbox.state.assistants[14]["initial_message"] == "Hello, this is Dubai Concierge. How can I help?"


async def test_undo_dry_run_previews_and_sends_nothing(client: Client, sandbox: SandboxServer):
    """dry_run shows current → restored per field and sends nothing."""
    _, applied, _ = await call(client, "update_assistant", {"id": 12, "max_call_duration": 300})
    is_error, preview, text = await call(client, "undo_change", {"id": applied["change_id"], "dry_run": True})
    assert not is_error
    assert preview["applied"] is False
    assert "max_call_duration: 300 → 600" in text
    assert len(sandbox.state.updates()) == 1


async def test_an_undo_is_itself_undoable(client: Client):
    """Undoing the undo re-applies the original change."""
    _, applied, _ = await call(client, "update_assistant", {"id": 12, "max_call_duration": 300})
    _, undone, _ = await call(client, "undo_change", {"id": applied["change_id"]})
    is_error, _, text = await call(client, "undo_change", {"id": undone["change_ids"][0]})
    assert not is_error, text
    assert (await settings_of(client, 12))["max_call_duration"] == 300


async def test_before_values_fall_back_to_the_journal_then_unknown(client: Client):
    """speech_speed is not in the stored shape: first unknown (undo refuses it), then what the journal set."""
    _, first, _ = await call(client, "update_assistant", {"id": 12, "speech_speed": 0.9})
    _, second, _ = await call(client, "update_assistant", {"id": 12, "speech_speed": 1.1})
    _, listed, _ = await call(client, "list_changes", {"assistant_id": 12})
    by_id = {c["id"]: c["fields"][0] for c in listed["changes"]}
    assert by_id[first["change_id"]] == {"field": "speech_speed", "before_known": False, "after": 0.9}
    assert by_id[second["change_id"]] == {"field": "speech_speed", "before": 0.9, "before_known": True, "after": 1.1}
    is_error, refused, _ = await call(client, "undo_change", {"id": first["change_id"], "force": True})
    assert is_error
    assert "unknown" in refused["fields"][0]["refused"]


@pytest.mark.parametrize(("status", "outcome"), [(422, "refused"), (404, "refused"), (429, "refused"), (500, "failed")])
async def test_a_refused_or_failed_call_is_journaled_as_such(
    client: Client, sandbox: SandboxServer, status: int, outcome: str
):
    """The upstream outcome is recorded: refused for 4xx, failed for 5xx; undo has nothing to do."""
    sandbox.state.fail_next(status, {"message": "no", "errors": {"max_call_duration": ["no"]}}, method="PUT")
    is_error, _, _ = await call(client, "update_assistant", {"id": 12, "max_call_duration": 300})
    assert is_error
    _, listed, _ = await call(client, "list_changes", {})
    (entry,) = listed["changes"]
    assert entry["outcome"] == outcome
    assert entry["detail"]
    _, only, _ = await call(client, "list_changes", {"outcome": outcome})
    assert [c["id"] for c in only["changes"]] == [entry["id"]]


async def test_a_timeout_is_journaled_as_unknown(sandbox: SandboxServer, journal_path: Path):
    """No answer in time: the journal says unknown, not applied nor refused."""
    sandbox.state.fail_next(200, {"message": "late"}, delay=1.0, method="PUT")
    settings = make_settings(sandbox.base_url, journal=str(journal_path), timeout=0.3)
    async with Client(build_server(settings)) as client:
        await call(client, "update_assistant", {"id": 12, "max_call_duration": 300})
        _, listed, _ = await call(client, "list_changes", {})
    assert listed["changes"][0]["outcome"] == "unknown"


async def test_a_pending_entry_left_by_a_crash_reads_as_unknown(sandbox: SandboxServer, journal_path: Path):
    """A pending entry older than any call could take is shown, and filtered, as unknown."""
    store = SqliteJournal(journal_path, api=sandbox.base_url)
    await store.open()
    await store.begin(
        NewChange(
            assistant_id=12,
            fields={"max_call_duration": 300},
            before={},
            actor="local:x",
            account=fingerprint(DEMO_KEY),
            at="2026-01-01T00:00:00.000000Z",
        )
    )
    await store.aclose()
    async with Client(build_server(make_settings(sandbox.base_url, journal=str(journal_path)))) as client:
        _, listed, _ = await call(client, "list_changes", {"outcome": "unknown"})
    assert [c["outcome"] for c in listed["changes"]] == ["unknown"]


async def test_list_changes_pages_newest_first_and_filters_time(client: Client):
    """cursor pages through the journal newest first; since/until bound the time."""
    ids = []
    for seconds in (100, 200, 300, 400, 500):
        _, applied, _ = await call(client, "update_assistant", {"id": 12, "max_call_duration": seconds})
        ids.append(applied["change_id"])
    _, page1, _ = await call(client, "list_changes", {"limit": 2})
    _, page2, _ = await call(client, "list_changes", {"limit": 2, "cursor": page1["next_cursor"]})
    _, page3, _ = await call(client, "list_changes", {"limit": 2, "cursor": page2["next_cursor"]})
    got = [c["id"] for p in (page1, page2, page3) for c in p["changes"]]
    assert got == ids[::-1]
    assert "next_cursor" not in page3
    _, none, _ = await call(client, "list_changes", {"until": "2020-01-01"})
    assert none["changes"] == []
    is_error, bad, _ = await call(client, "list_changes", {"since": "yesterday"})
    assert is_error
    assert bad["problems"][0]["field"] == "since"


async def test_with_the_journal_off_updates_work_and_list_changes_says_so(sandbox: SandboxServer):
    """SONDOS_JOURNAL=off: nothing recorded, and the journal tools say the journal is off."""
    async with Client(build_server(make_settings(sandbox.base_url, journal="off"))) as client:
        is_error, applied, _ = await call(client, "update_assistant", {"id": 12, "max_call_duration": 300})
        assert not is_error
        assert "change_id" not in applied
        is_error, listed, _ = await call(client, "list_changes", {})
    assert is_error
    assert listed["error"]["kind"] == "configuration"


async def test_the_journal_survives_a_restart_of_the_stdio_server(sandbox: SandboxServer, journal_path: Path):
    """Over stdio, what one server process journaled the next one lists."""
    params = stdio_params(sandbox.base_url, SONDOS_JOURNAL=str(journal_path))
    async with Client(stdio_client(params)) as one:
        _, applied, _ = await call(one, "update_assistant", {"id": 12, "max_call_duration": 300})
    async with Client(stdio_client(params)) as two:
        _, listed, _ = await call(two, "list_changes", {})
    assert [c["id"] for c in listed["changes"]] == [applied["change_id"]]


async def test_before_values_see_changes_by_another_process_sharing_the_journal(
    sandbox: SandboxServer, journal_path: Path
):
    """Two servers on one journal: each records the other's applied value as the before-value."""
    settings = make_settings(sandbox.base_url, journal=str(journal_path))
    async with Client(build_server(settings)) as one, Client(build_server(settings)) as two:
        await call(one, "update_assistant", {"id": 12, "max_call_duration": 300})
        await call(two, "update_assistant", {"id": 12, "max_call_duration": 400})
        _, third, _ = await call(one, "update_assistant", {"id": 12, "max_call_duration": 500})
        _, listed, _ = await call(one, "list_changes", {"limit": 1})
    assert listed["changes"][0]["id"] == third["change_id"]
    assert listed["changes"][0]["fields"][0]["before"] == 400


async def test_consecutive_changes_to_one_assistant_read_it_once(client: Client, sandbox: SandboxServer):
    """The stored state read for the first change, plus what the journal applied since, serves the next ones."""
    for seconds in (300, 400, 500):
        await call(client, "update_assistant", {"id": 12, "max_call_duration": seconds})
    reads = [r for r in sandbox.state.received if r.path == "/user/assistants/get"]
    assert len(reads) == 1
    _, listed, _ = await call(client, "list_changes", {})
    assert [c["fields"][0]["before"] for c in listed["changes"]] == [400, 300, 600]


async def test_a_journal_that_cannot_be_opened_stops_changes_not_reads(sandbox: SandboxServer, tmp_path: Path):
    """SONDOS_JOURNAL under a regular file: reads work, a change is refused unsent with journal_unavailable."""
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    settings = make_settings(sandbox.base_url, journal=str(blocker / "journal.sqlite3"))
    async with Client(build_server(settings)) as client:
        is_error, _, _ = await call(client, "get_assistant", {"id": 12})
        assert not is_error
        is_error, refused, text = await call(client, "update_assistant", {"id": 12, "max_call_duration": 300})
        listed_error, listed, _ = await call(client, "list_changes", {})
    assert is_error
    assert refused["error"]["kind"] == "journal_unavailable"
    assert refused["applied"] is False
    assert "SONDOS_JOURNAL" in text
    assert listed_error
    assert listed["error"]["kind"] == "journal_unavailable"
    assert sandbox.state.updates() == []


async def test_an_undo_records_the_value_it_replaces_as_read_now(client: Client, sandbox: SandboxServer):
    """Undo with force over an edit made elsewhere: its own before-value is that edit, not the journal's value."""
    _, applied, _ = await call(client, "update_assistant", {"id": 12, "max_call_duration": 300})
    sandbox.state.assistants[12]["max_duration"] = 450  # edited in the dashboard
    is_error, undone, _ = await call(client, "undo_change", {"id": applied["change_id"], "force": True})
    assert not is_error
    _, listed, _ = await call(client, "list_changes", {"limit": 1})
    (entry,) = listed["changes"]
    assert entry["id"] == undone["change_ids"][0]
    assert entry["fields"] == [{"field": "max_call_duration", "before": 450, "before_known": True, "after": 600}]


@pytest.mark.parametrize("behaviour", ["reset", "truncate"])
async def test_a_write_that_may_have_landed_is_journaled_as_unknown(journal_path: Path, behaviour: str):
    """A reset or a cut answer after the PUT went out: the journal says unknown, as the agent is told."""
    with RawUpstream(behaviour) as upstream:  # type: ignore[arg-type]
        settings = make_settings(upstream.base_url, journal=str(journal_path))
        async with Client(build_server(settings)) as client:
            is_error, result, _ = await call(client, "update_assistant", {"id": 12, "max_call_duration": 300})
            _, listed, _ = await call(client, "list_changes", {})
    assert is_error
    assert result["applied"] == "unknown"
    assert [c["outcome"] for c in listed["changes"]] == ["unknown"]


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"cursor": 2**63}, "cursor"),
        ({"cursor": 2**64 + 1}, "cursor"),
        ({"cursor": 10**30}, "cursor"),
        ({"assistant_id": 2**63}, "assistant_id"),
        ({"assistant_id": 10**30}, "assistant_id"),
    ],
    ids=["cursor-2**63", "cursor-2**64+1", "cursor-10**30", "assistant_id-2**63", "assistant_id-10**30"],
)
async def test_list_changes_refuses_integers_beyond_64_bits_as_invalid_arguments(
    client: Client, arguments: dict[str, Any], field: str
):
    """A cursor or assistant id the journal cannot hold is a structured invalid_arguments on that field."""
    is_error, bad, text = await call(client, "list_changes", arguments)
    assert is_error, bad
    assert bad["error"]["kind"] == "invalid_arguments"
    assert [p["field"] for p in bad["problems"]] == [field]
    assert "Traceback" not in text


@pytest.mark.parametrize(
    "arguments",
    [{"cursor": 2**63 - 1}, {"assistant_id": 2**63 - 1}],
    ids=["cursor-2**63-1", "assistant_id-2**63-1"],
)
async def test_list_changes_accepts_the_largest_64_bit_integers(client: Client, arguments: dict[str, Any]):
    """The largest bounds are still valid arguments: an empty page, not an error."""
    is_error, listed, _ = await call(client, "list_changes", arguments)
    assert not is_error, listed
    assert listed["changes"] == []
