"""The advertised tool definitions: generated from the models, snapshotted, self-contained, annotated."""

from __future__ import annotations

import json
import os
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from mcp import Client
from pydantic import ValidationError

from sondos_mcp.model import TOOL_ONLY
from sondos_mcp.tools import TOOLS
from tests.snapshots import SNAPSHOT_DIR, dumps, tool_schemas, write_snapshots

pytestmark = pytest.mark.anyio

# Every documented bound of the update contract, as the JSON Schema keyword that must carry it.
DOCUMENTED_BOUNDS = {
    "assistant_name": {"maxLength": 255},
    "language": {"maxLength": 100},
    "llm_model": {"maxLength": 100},
    "calls_direction": {"enum": ["receive", "make"]},
    "engine_type": {"enum": ["pipeline", "multimodal"]},
    "endpoint_type": {"enum": ["vad", "ai"]},
    "endpoint_sensitivity": {"minimum": 0, "maximum": 5},
    "interrupt_sensitivity": {"minimum": 0, "maximum": 5},
    "ambient_sound_volume": {"minimum": 0, "maximum": 1},
    "min_interrupt_words": {"minimum": 0, "maximum": 10, "type": "integer"},
    "llm_temperature": {"minimum": 0, "maximum": 1},
    "voice_stability": {"minimum": 0, "maximum": 1},
    "voice_similarity": {"minimum": 0, "maximum": 1},
    "speech_speed": {"minimum": 0.7, "maximum": 1.2},
    "re_engagement_interval": {"minimum": 7, "maximum": 600, "type": "integer"},
    "max_call_duration": {"minimum": 20, "maximum": 1200, "type": "integer"},
    "max_silence_duration": {"minimum": 1, "maximum": 120, "type": "integer"},
    "who_speaks_first": {"enum": ["AI assistant", "Customer"]},
    "phone_number_id": {"type": ["integer", "null"]},
    "webhook_url": {"type": ["string", "null"]},
    "voice_id": {"type": "integer"},
}
DOCUMENTED_FIELDS = [
    "assistant_name",
    "voice_id",
    "language",
    "llm_model",
    "calls_direction",
    "engine_type",
    "timezone",
    "initial_message",
    "system_prompt",
    "phone_number_id",
    "endpoint_type",
    "endpoint_sensitivity",
    "interrupt_sensitivity",
    "ambient_sound_volume",
    "post_call_evaluation",
    "send_webhook_only_on_completed",
    "include_recording_in_webhook",
    "is_webhook_active",
    "webhook_url",
    "use_min_interrupt_words",
    "min_interrupt_words",
    "variables",
    "post_call_schema",
    "end_call_tool",
    "llm_temperature",
    "voice_stability",
    "voice_similarity",
    "speech_speed",
    "allow_interruptions",
    "filler_audios",
    "re_engagement_interval",
    "max_call_duration",
    "max_silence_duration",
    "end_call_on_voicemail",
    "noise_cancellation",
    "record_call",
    "who_speaks_first",
]


def update_schema() -> dict[str, Any]:
    return tool_schemas()["update_assistant.input.json"]


def test_snapshots_match_the_models():
    """tool_schemas/ holds exactly what the models generate (UPDATE_TOOL_SCHEMAS=1 rewrites it)."""
    if os.environ.get("UPDATE_TOOL_SCHEMAS") == "1":
        write_snapshots()
    generated = tool_schemas()
    on_disk = {p.name: p.read_text("utf-8") for p in SNAPSHOT_DIR.glob("*.json")}
    assert set(on_disk) == set(generated)
    for name, schema in generated.items():
        assert on_disk[name] == dumps(schema), f"{name} drifted: rerun with UPDATE_TOOL_SCHEMAS=1"


def test_update_schema_has_every_documented_field_and_nothing_else():
    """All 37 documented body fields are there, plus the id (and the preview flag, where present)."""
    properties = update_schema()["properties"]
    assert len(DOCUMENTED_FIELDS) == 37
    assert set(DOCUMENTED_FIELDS) <= set(properties)
    assert set(properties) - set(DOCUMENTED_FIELDS) <= set(TOOL_ONLY)
    assert update_schema()["required"] == ["id"]
    assert update_schema()["additionalProperties"] is False


@pytest.mark.parametrize(("field", "keywords"), DOCUMENTED_BOUNDS.items())
def test_every_documented_bound_is_a_schema_keyword(field: str, keywords: dict[str, Any]):
    """Each documented range, enum, length and nullability is a JSON Schema keyword on its property."""
    prop = update_schema()["properties"][field]
    for keyword, value in keywords.items():
        assert prop[keyword] == value


def test_nested_contracts_are_carried():
    """post_call_schema items and end_call_tool carry their own keys, bounds and pattern."""
    props = update_schema()["properties"]
    item = props["post_call_schema"]["items"]
    assert item["required"] == ["name", "type", "description"]
    assert item["additionalProperties"] is False
    assert item["properties"]["name"]["pattern"] == "^[A-Za-z0-9_]+$"
    assert item["properties"]["type"]["enum"] == ["string", "number", "bool"]
    assert props["end_call_tool"]["properties"]["description"]["maxLength"] == 500


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.name)
def test_schemas_are_self_contained_valid_2020_12(tool):
    """No $ref or $defs anywhere, object at the root, and valid against the 2020-12 metaschema."""
    for schema in (tool.input_schema, tool.output_schema or {"type": "object"}):
        text = json.dumps(schema)
        assert "$ref" not in text
        assert "$defs" not in text
        assert schema["type"] == "object"
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("tool", TOOLS, ids=lambda t: t.name)
def test_a_property_without_null_in_its_schema_refuses_null(tool):
    """Optional is not nullable (`Omittable`): where the schema has no null, the model refuses an explicit null."""
    for name, prop in tool.input_schema["properties"].items():
        types = prop.get("type", [])
        if "null" in ([types] if isinstance(types, str) else types):
            continue
        with pytest.raises(ValidationError) as refused:
            tool.input_model.model_validate({name: None})
        assert (name,) in [e["loc"][:1] for e in refused.value.errors()], name


async def test_tools_list_advertises_generated_schemas_and_annotations(client: Client):
    """tools/list serves each tool's generated schemas and explicit annotations."""
    listed = {t.name: t for t in (await client.list_tools()).tools}
    assert set(listed) == {t.name for t in TOOLS}
    for tool in TOOLS:
        served = listed[tool.name]
        assert served.input_schema == tool.input_schema
        assert served.output_schema == tool.output_schema
        assert served.title
        hints = served.annotations
        assert hints is not None
        for hint in ("read_only_hint", "destructive_hint", "idempotent_hint", "open_world_hint"):
            assert isinstance(getattr(hints, hint), bool), f"{tool.name}.{hint} is not set explicitly"


async def test_update_assistant_is_annotated_as_a_destructive_idempotent_write(client: Client):
    """update_assistant overwrites settings: not read-only, destructive, idempotent, open world."""
    (tool,) = [t for t in (await client.list_tools()).tools if t.name == "update_assistant"]
    assert tool.annotations is not None
    assert tool.title  # on the tool itself; not repeated in the annotations, where it would cost tokens
    assert tool.annotations.title is None
    assert tool.annotations.read_only_hint is False
    assert tool.annotations.destructive_hint is True
    assert tool.annotations.idempotent_hint is True
    assert tool.annotations.open_world_hint is True


def test_tool_names_are_snake_case_verb_noun():
    """Tool names read verb_noun in snake_case."""
    for tool in TOOLS:
        verb, _, noun = tool.name.partition("_")
        assert tool.name == tool.name.lower()
        assert verb in {"update", "list", "get", "preview", "delete", "find", "undo"}
        assert noun


def test_update_tool_definition_fits_its_token_budget():
    """update_assistant's definition, as tools/list sends it, stays within 1,000 o200k tokens."""
    import bpe_openai

    from sondos_mcp.server import tool_listing

    encoding = bpe_openai.get_encoding("o200k_base")
    (tool,) = [t for t in tool_listing().tools if t.name == "update_assistant"]
    wire = json.dumps(tool.model_dump(mode="json", by_alias=True, exclude_none=True), separators=(",", ":"))
    assert len(encoding.encode(wire)) <= 1000
