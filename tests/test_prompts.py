"""Prompts and completions through real MCP sessions against the sandbox."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INVALID_PARAMS, PromptReference, ResourceTemplateReference
from pydantic import SecretStr

from sondos_mcp.policy import load_policies
from sondos_mcp.prompts import MAX_ARGUMENT
from sondos_mcp.sandbox import OTHER_KEY, SandboxServer
from sondos_mcp.server import build_server
from sondos_mcp.tools import TOOLS_BY_NAME
from tests.conftest import call, make_settings

pytestmark = pytest.mark.anyio

ASSISTANT = ResourceTemplateReference(type="ref/resource", uri="sondos://assistants/{id}")
CHANGE = ResourceTemplateReference(type="ref/resource", uri="sondos://changes/{change_id}")


def prompt(name: str) -> PromptReference:
    return PromptReference(type="ref/prompt", name=name)


ARGUMENTS = {
    "tune_assistant": {"assistant": "12 Riyadh Sales", "goal": "fewer interruptions"},
    "review_changes": {"assistant": "12", "since": "2026-11-01"},
    "change_group": {"assistants": "Campaign Agent", "setting": "speech_speed", "value": "0.9"},
    "localize_assistant": {
        "assistant": "14",
        "language": "French",
        "voice": "6 James (pipeline)",
        "timezone": "Europe/Paris",
    },
}


async def test_prompts_are_listed_with_described_arguments(reader: Client):
    """prompts/list offers the ops prompts, each with a description and described arguments."""
    listed = (await reader.list_prompts()).prompts
    assert [p.name for p in listed] == list(ARGUMENTS)
    for p in listed:
        assert p.title
        assert p.description
        assert p.arguments
        assert all(a.description for a in p.arguments)
        assert {a.name for a in p.arguments} == set(ARGUMENTS[p.name])


@pytest.mark.parametrize("name", list(ARGUMENTS))
async def test_each_prompt_fills_its_arguments_and_names_only_real_tools(reader: Client, name: str):
    """Each prompt's text carries every argument given and uses tools by their real names, with a
    dry run before anything is applied."""
    result = await reader.get_prompt(name, ARGUMENTS[name])
    (message,) = result.messages
    assert message.role == "user"
    text = message.content.text  # type: ignore[union-attr]
    for value in ARGUMENTS[name].values():
        assert value in text
    named = set(re.findall(r"\b(?:list|get|update|undo)_[a-z_]+\b", text))
    assert named
    assert named <= set(TOOLS_BY_NAME), named - set(TOOLS_BY_NAME)
    assert "dry_run: true" in text
    assert len(text) < 900  # short: a prompt guides, the tools' own descriptions do the rest


async def test_review_filters_the_journal_by_the_completed_assistants_id(reader: Client):
    """A completed assistant ("12 Riyadh Sales") becomes list_changes' assistant_id filter."""
    result = await reader.get_prompt("review_changes", {"assistant": "12 Riyadh Sales", "since": "2026-11-01"})
    text = result.messages[0].content.text  # type: ignore[union-attr]
    assert "Call list_changes with assistant_id: 12, since: '2026-11-01';" in text


async def test_optional_arguments_may_be_left_out(reader: Client):
    """review_changes without arguments reviews everything; localize_assistant picks a voice itself."""
    review = (await reader.get_prompt("review_changes", {})).messages[0].content.text  # type: ignore[union-attr]
    assert "Call list_changes;" in review
    localize = await reader.get_prompt("localize_assistant", {"assistant": "14", "language": "French", "voice": ""})
    assert "list_voices" in localize.messages[0].content.text  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("name", "arguments", "field"),
    [
        ("tune_assistant", {"assistant": "12"}, "goal"),
        ("tune_assistant", {"assistant": "12", "goal": "  "}, "goal"),
        ("tune_assistant", {"assistant": "12", "goal": "x", "mood": "calm"}, "mood"),
        ("tune_assistant", {"assistant": "12", "goal": "x" * (MAX_ARGUMENT + 1)}, "goal"),
        ("no_such_prompt", {}, "name"),
    ],
)
async def test_a_bad_prompt_request_is_invalid_params_naming_the_argument(
    reader: Client, name: str, arguments: dict[str, str], field: str
):
    """A missing, blank, unknown or overlong argument, or an unknown prompt, is -32602 naming what."""
    with pytest.raises(MCPError) as refused:
        await reader.get_prompt(name, arguments)
    assert refused.value.error.code == INVALID_PARAMS
    assert refused.value.error.message.startswith(f"{field}: ")


async def test_a_read_only_policy_offers_no_prompts(still: SandboxServer, tmp_path: Path):
    """Every prompt ends in a change, so a read-only policy lists none and gets none, as with write tools."""
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text("read_only = true\n")
    settings = make_settings(still.base_url, policy=str(policy_file))
    assert load_policies(policy_file).for_actor("x").read_only
    async with Client(build_server(settings)) as client:
        assert (await client.list_prompts()).prompts == []
        with pytest.raises(MCPError):
            await client.get_prompt("tune_assistant", ARGUMENTS["tune_assistant"])


def days_back(*days: int) -> list[str]:
    today = datetime.now(UTC).date()
    return [(today - timedelta(days=n)).isoformat() for n in days]


@pytest.mark.parametrize(
    ("ref", "argument", "typed", "context", "values"),
    [
        (prompt("tune_assistant"), "assistant", "riy", None, ["12 Riyadh Sales"]),
        (prompt("tune_assistant"), "assistant", "16", None, ["16 London Bookings", "116 Campaign Agent 16"]),
        (prompt("tune_assistant"), "goal", "fewer", None, ["fewer interruptions"]),
        (prompt("review_changes"), "since", "", None, days_back(0, 1, 7, 30)),
        (prompt("change_group"), "setting", "speech", None, ["speech_speed"]),
        (prompt("change_group"), "value", "gpt-4.1", {"setting": "llm_model"}, ["GPT-4.1", "GPT-4.1-mini"]),
        (prompt("change_group"), "value", "", {"setting": "engine_type"}, ["pipeline", "multimodal"]),
        (prompt("change_group"), "value", "", {"setting": "allow_interruptions"}, ["true", "false"]),
        (prompt("change_group"), "value", "par", {"setting": "timezone"}, ["America/Paramaribo", "Europe/Paris"]),
        (prompt("change_group"), "value", "", {"setting": "max_call_duration"}, []),
        (prompt("change_group"), "value", "", None, []),
        (prompt("change_group"), "assistants", "lond", None, ["London Bookings"]),
        (prompt("localize_assistant"), "language", "fr", None, ["French"]),
        (prompt("localize_assistant"), "voice", "layla", None, ["2 Layla (pipeline)", "7 Layla Realtime (multimodal)"]),
        (prompt("localize_assistant"), "timezone", "riyadh", None, ["Asia/Riyadh"]),
        (ASSISTANT, "id", "14", None, ["14", "114"]),
        (ASSISTANT, "id", "dubai", None, ["14"]),
        (prompt("tune_assistant"), "assistant", "x" * 101, None, []),
    ],
)
async def test_completion_offers_the_accounts_values_filtered_by_what_was_typed(
    reader: Client, ref, argument: str, typed: str, context: dict[str, str] | None, values: list[str]
):
    """Each kind of argument completes from its source (assistants with their names, voices, languages,
    models, time zones, settings and their values), narrowed by what was typed, best match first."""
    result = (await reader.complete(ref, {"name": argument, "value": typed}, context)).completion
    assert result.values == values
    assert result.total == len(values)
    assert result.has_more is False


async def test_settings_complete_only_with_fields_the_policy_allows(still: SandboxServer, tmp_path: Path):
    """A field the caller's policy denies is not offered as a setting to change."""
    policy_file = tmp_path / "policy.toml"
    policy_file.write_text('denied_fields = ["voice_id", "voice_stability"]\n')
    async with Client(build_server(make_settings(still.base_url, policy=str(policy_file)))) as client:
        offered = (await client.complete(prompt("change_group"), {"name": "setting", "value": "voice"})).completion
    assert offered.values == ["voice_similarity", "end_call_on_voicemail"]


async def test_completion_is_bounded_and_says_how_many_matched(reader: Client):
    """A broad match returns at most 20 values, the total that matched and that there are more."""
    result = (await reader.complete(prompt("change_group"), {"name": "assistants", "value": "campaign"})).completion
    assert len(result.values) == 20
    assert result.total == 34
    assert result.has_more is True
    assert result.values[0] == "Campaign Agent 01"


async def test_every_prompt_argument_and_template_variable_completes(reader: Client):
    """No argument is left without completion: each answers with values for an empty prefix."""
    prompts = (await reader.list_prompts()).prompts
    asked = [(prompt(p.name), a.name, {"setting": "language"}) for p in prompts for a in p.arguments or []]
    asked.append((ASSISTANT, "id", {}))
    for ref, name, context in asked:
        result = (await reader.complete(ref, {"name": name, "value": ""}, context)).completion
        assert result.values, (ref, name)


async def test_change_ids_complete_from_this_accounts_journal_only(sandbox: SandboxServer):
    """sondos://changes/{change_id} completes with the caller's account's recent change ids, newest first."""
    async with Client(build_server(make_settings(sandbox.base_url))) as mine:
        first = (await call(mine, "update_assistant", {"id": 12, "max_call_duration": 400}))[1]["change_id"]
        second = (await call(mine, "update_assistant", {"id": 13, "max_call_duration": 400}))[1]["change_id"]
        result = (await mine.complete(CHANGE, {"name": "change_id", "value": "chg-"})).completion
        assert result.values[:2] == [second, first]
        assert (await mine.complete(CHANGE, {"name": "change_id", "value": first[:8]})).completion.values[0] == first
    async with Client(build_server(make_settings(sandbox.base_url, api_key=SecretStr(OTHER_KEY)))) as theirs:
        assert (await theirs.complete(CHANGE, {"name": "change_id", "value": ""})).completion.values == []
        assistants = (await theirs.complete(ASSISTANT, {"name": "id", "value": ""})).completion
        assert assistants.values == ["21"]


@pytest.mark.parametrize(
    ("ref", "argument"),
    [
        (prompt("no_such_prompt"), "assistant"),
        (prompt("tune_assistant"), "mood"),
        (ResourceTemplateReference(type="ref/resource", uri="sondos://nothing/{id}"), "id"),
        (ASSISTANT, "change_id"),
    ],
)
async def test_completing_something_that_does_not_exist_is_invalid_params(reader: Client, ref, argument: str):
    """An unknown prompt, template or argument is -32602, as the specification asks."""
    with pytest.raises(MCPError) as refused:
        await reader.complete(ref, {"name": argument, "value": ""})
    assert refused.value.error.code == INVALID_PARAMS
