"""The conversational toolkit through real MCP sessions: read tools, live reference checks, preview."""

from __future__ import annotations

from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mcp import Client

from sondos_mcp.sandbox import SandboxServer
from sondos_mcp.tools import TOOLS_BY_NAME
from tests.conftest import call, stdio_params

pytestmark = pytest.mark.anyio

READ_TOOLS = ["list_assistants", "get_assistant", "list_voices", "list_languages", "list_models", "list_phone_numbers"]


def conforms(tool: str, structured: dict[str, Any]) -> bool:
    return Draft202012Validator(TOOLS_BY_NAME[tool].output_schema).is_valid(structured)


@pytest.mark.parametrize(
    ("tool", "arguments", "key", "expected"),
    [
        ("list_assistants", {}, "assistants", 20),
        ("list_assistants", {"page": 2, "per_page": 25}, "assistants", 14),
        ("list_voices", {}, "items", 7),
        ("list_voices", {"mode": "multimodal"}, "items", 3),
        ("list_languages", {}, "items", 8),
        ("list_models", {}, "items", 5),
        ("list_phone_numbers", {}, "items", 4),
        ("list_phone_numbers", {"type": "inbound"}, "items", 2),
    ],
)
async def test_read_tool_returns_structured_rows_matching_its_output_schema(
    client: Client, tool: str, arguments: dict[str, Any], key: str, expected: int
):
    """Each read tool answers with rows in structuredContent that conform to its declared outputSchema."""
    is_error, structured, text = await call(client, tool, arguments)
    assert not is_error, structured
    assert len(structured[key]) == expected
    assert conforms(tool, structured)
    assert text.count("\n") >= expected


async def test_list_assistants_rows_are_compact_and_in_update_vocabulary(client: Client):
    """Rows carry id, name, status, direction (receive|make) and mode, not whole records."""
    _, structured, _ = await call(client, "list_assistants", {"per_page": 5})
    first = structured["assistants"][0]
    assert first == {"id": 12, "name": "Riyadh Sales", "status": "active", "direction": "make", "mode": "pipeline"}
    assert structured["total"] == 39
    assert structured["last_page"] == 8


async def test_list_assistants_finds_by_name_across_pages(client: Client, sandbox: SandboxServer):
    """query= matches names case-insensitively on every page."""
    _, structured, _ = await call(client, "list_assistants", {"query": "riyadh sales"})
    assert [row["id"] for row in structured["assistants"]] == [12]
    _, structured, _ = await call(client, "list_assistants", {"query": "agent 33"})
    assert [row["id"] for row in structured["assistants"]] == [133]


@pytest.mark.parametrize(
    ("arguments", "field", "fix"),
    [({"per_page": 500}, "per_page", 100), ({"page": 0}, "page", 1), ({"name": "x"}, "name", None)],
)
async def test_read_tool_arguments_are_checked_like_updates(client: Client, arguments, field: str, fix: Any):
    """Invalid read arguments get the same structured, per-field feedback."""
    is_error, structured, _ = await call(client, "list_assistants", arguments)
    assert is_error
    problem = {p["field"]: p for p in structured["problems"]}[field]
    assert problem.get("fix", {}).get("value") == fix
    assert "applied" not in structured


async def test_get_assistant_reads_settings_in_update_names_and_marks_the_rest(client: Client, sandbox: SandboxServer):
    """get_assistant maps the stored shape plainly (type→calls_direction, fillers 1→true) and guesses nothing."""
    is_error, structured, text = await call(client, "get_assistant", {"id": 133})
    assert not is_error
    assert conforms("get_assistant", structured)
    settings = structured["assistant"]["settings"]
    assert settings["assistant_name"] == "Campaign Agent 33"
    assert settings["calls_direction"] == "make"
    assert settings["filler_audios"] is True
    assert settings["max_call_duration"] == 600
    assert "speech_speed" not in settings
    assert "created_at" in structured["assistant"]["other"]
    assert "speech_speed" in text


async def test_get_assistant_stops_paging_at_the_first_hit_and_caches(client: Client, sandbox: SandboxServer):
    """Finding an assistant on page 1 reads one page; asking again reads none."""
    await call(client, "get_assistant", {"id": 12})
    await call(client, "get_assistant", {"id": 12})
    pages = [r for r in sandbox.state.received if r.path == "/user/assistants/get"]
    assert [r.query for r in pages] == [{"page": "1", "per_page": "100"}]


async def test_get_assistant_for_a_missing_id_is_not_found(client: Client):
    """An id on no page is not_found with a hint."""
    is_error, structured, _ = await call(client, "get_assistant", {"id": 21})
    assert is_error
    assert structured["error"]["kind"] == "not_found"
    assert structured["id"] == 21


@pytest.mark.parametrize(
    ("arguments", "field", "code", "fix", "mentions"),
    [
        ({"voice_id": 99}, "voice_id", "unknown_reference", None, "Layla"),
        ({"voice_id": "Layla"}, "voice_id", "wrong_type", 2, "Layla"),
        ({"voice_id": 4}, "voice_id", "wrong_mode", None, "pipeline"),
        ({"voice_id": 2, "engine_type": "multimodal"}, "voice_id", "wrong_mode", None, "Layla Realtime"),
        ({"phone_number_id": 201}, "phone_number_id", "unknown_reference", None, "+966112345678"),
        ({"phone_number_id": "+966 50 123 4567"}, "phone_number_id", "wrong_type", 102, "102"),
        ({"language": "arabic"}, "language", "unknown_reference", "Arabic", "Arabic"),
        ({"language": "ar"}, "language", "unknown_reference", "Arabic", "Arabic"),
        ({"language": "Klingon"}, "language", "unknown_reference", None, "closest"),
        ({"llm_model": "gpt-4o mini"}, "llm_model", "unknown_reference", "GPT-4o-mini", "GPT-4o-mini"),
    ],
)
async def test_unknown_reference_is_refused_before_sending_with_closest_choices(
    client: Client, sandbox: SandboxServer, arguments, field: str, code: str, fix: Any, mentions: str
):
    """A voice, phone number, language or model the account does not have is refused before anything is sent."""
    is_error, structured, _ = await call(client, "update_assistant", {"id": 12, **arguments})
    assert is_error
    assert sandbox.state.updates() == []
    problem = {p["field"]: p for p in structured["problems"]}[field]
    assert problem["code"] == code
    assert problem.get("fix", {}).get("value") == fix
    assert mentions in problem["message"]


async def test_existing_references_are_forwarded(client: Client, sandbox: SandboxServer):
    """Existing voice, number, language and model pass and are sent."""
    arguments = {"id": 12, "voice_id": 3, "phone_number_id": 104, "language": "English", "llm_model": "GPT-4o"}
    is_error, structured, _ = await call(client, "update_assistant", arguments)
    assert not is_error, structured
    assert sandbox.state.updates()[0].body == {k: v for k, v in arguments.items() if k != "id"}


async def test_failed_lookup_does_not_block_the_update_and_warns(client: Client, sandbox: SandboxServer):
    """If the voices lookup fails, the update is still sent and the result says the voice was not checked."""
    sandbox.state.fail_next(500, {"message": "boom"}, method="GET")
    is_error, structured, text = await call(client, "update_assistant", {"id": 12, "voice_id": 1})
    assert not is_error, structured
    assert len(sandbox.state.updates()) == 1
    (warning,) = structured["warnings"]
    assert (warning["code"], warning["fields"]) == ("unchecked_reference", ["voice_id"])
    assert "voice_id could not be checked" in warning["message"]
    assert "Warning" in text


async def test_lookups_are_cached_across_calls(client: Client, sandbox: SandboxServer):
    """Two updates with a voice look the voices up once."""
    await call(client, "update_assistant", {"id": 14, "voice_id": 6})
    await call(client, "update_assistant", {"id": 14, "voice_id": 1})
    assert len([r for r in sandbox.state.received if r.path == "/user/assistants/voices"]) == 1


async def test_dry_run_returns_a_per_field_diff_and_sends_nothing(client: Client, sandbox: SandboxServer):
    """A preview shows before → after per field, marks unchanged and unreadable fields, and sends no PUT."""
    arguments = {"id": 12, "max_call_duration": 900, "record_call": True, "speech_speed": 0.9, "dry_run": True}
    is_error, structured, text = await call(client, "update_assistant", arguments)
    assert not is_error, structured
    assert conforms("update_assistant", structured)
    assert sandbox.state.updates() == []
    assert structured["applied"] is False
    preview = {c["field"]: c for c in structured["preview"]}
    assert preview["max_call_duration"] == {
        "field": "max_call_duration",
        "before": 600,
        "before_known": True,
        "after": 900,
        "changed": True,
        "source": "api",
    }
    assert preview["record_call"]["changed"] is False
    assert preview["speech_speed"]["before_known"] is False
    assert "changed" not in preview["speech_speed"]
    assert structured["changed_fields"] == ["max_call_duration", "speech_speed"]
    assert structured["unchanged_fields"] == ["record_call"]
    assert "already so" in text
    assert "unknown" in text


async def test_dry_run_still_refuses_invalid_proposals(client: Client, sandbox: SandboxServer):
    """A preview runs every check: a wrong value is refused the same way."""
    is_error, structured, _ = await call(client, "update_assistant", {"id": 12, "speech_speed": 1.25, "dry_run": True})
    assert is_error
    assert structured["problems"][0]["fix"]["value"] == 1.2
    assert sandbox.state.updates() == []


async def test_dry_run_alone_has_nothing_to_update(client: Client):
    """{id, dry_run} changes nothing and is refused as such."""
    is_error, structured, _ = await call(client, "update_assistant", {"id": 12, "dry_run": True})
    assert is_error
    assert structured["problems"][0]["code"] == "nothing_to_update"


async def test_preview_after_update_reads_fresh_settings(client: Client):
    """An update forgets cached assistant pages, so the next preview shows the new value as before."""
    await call(client, "update_assistant", {"id": 13, "max_call_duration": 700, "dry_run": True})
    await call(client, "update_assistant", {"id": 13, "max_call_duration": 700})
    _, structured, _ = await call(client, "update_assistant", {"id": 13, "max_call_duration": 700, "dry_run": True})
    assert structured["preview"][0]["before"] == 700
    assert structured["preview"][0]["changed"] is False


@pytest.mark.parametrize("tool", READ_TOOLS)
async def test_read_tools_are_annotated_read_only(client: Client, tool: str):
    """Every read tool says readOnlyHint true, destructiveHint false, idempotentHint true, openWorldHint true."""
    (listed,) = [t for t in (await client.list_tools()).tools if t.name == tool]
    hints = listed.annotations
    assert hints is not None
    assert (hints.read_only_hint, hints.destructive_hint, hints.idempotent_hint, hints.open_world_hint) == (
        True,
        False,
        True,
        True,
    )


async def test_server_instructions_give_the_workflow(client: Client):
    """initialize carries instructions naming the find → read → preview → update workflow."""
    assert client.instructions is not None
    for word in ("list_assistants", "get_assistant", "dry_run", "list_voices"):
        assert word in client.instructions


async def test_conversation_over_stdio_finds_reads_previews_and_applies(sandbox: SandboxServer):
    """Over a stdio subprocess: find by name, read, preview (nothing sent), apply (sent once)."""
    async with Client(stdio_params(sandbox.base_url)) as client:
        _, found, _ = await call(client, "list_assistants", {"query": "Riyadh"})
        (row,) = found["assistants"]
        _, read, _ = await call(client, "get_assistant", {"id": row["id"]})
        assert read["assistant"]["settings"]["voice_id"] == 2
        _, voices, _ = await call(client, "list_voices", {"mode": "pipeline"})
        sarah = next(v["id"] for v in voices["items"] if v["name"] == "Sarah")
        change = {"id": row["id"], "voice_id": sarah, "allow_interruptions": False}
        _, preview, _ = await call(client, "update_assistant", change | {"dry_run": True})
        assert sandbox.state.updates() == []
        assert preview["preview"][0] == {
            "field": "voice_id",
            "before": 2,
            "before_known": True,
            "after": 1,
            "changed": True,
            "source": "api",
        }
        is_error, applied, _ = await call(client, "update_assistant", change)
        assert applied["changed_fields"] == ["voice_id", "allow_interruptions"]
        assert not is_error
    assert [u.body for u in sandbox.state.updates()] == [{"voice_id": 1, "allow_interruptions": False}]
