"""update_assistant through a real MCP session against the sandbox: bounds, types, fixes, forwarding."""

from __future__ import annotations

from typing import Any

import pytest
from mcp import Client

from sondos_mcp.sandbox import SandboxServer

pytestmark = pytest.mark.anyio

# (field, lowest valid, highest valid, just below, just above), straight from the API docs.
NUMERIC_BOUNDS = [
    ("endpoint_sensitivity", 0, 5, -0.01, 5.01),
    ("interrupt_sensitivity", 0, 5, -0.01, 5.01),
    ("ambient_sound_volume", 0, 1, -0.01, 1.01),
    ("llm_temperature", 0, 1, -0.01, 1.01),
    ("voice_stability", 0, 1, -0.01, 1.01),
    ("voice_similarity", 0, 1, -0.01, 1.01),
    ("speech_speed", 0.7, 1.2, 0.69, 1.21),
    ("min_interrupt_words", 0, 10, -1, 11),
    ("re_engagement_interval", 7, 600, 6, 601),
    ("max_call_duration", 20, 1200, 19, 1201),
    ("max_silence_duration", 1, 120, 0, 121),
]

EDGES = [(field, value) for field, lo, hi, _, _ in NUMERIC_BOUNDS for value in (lo, hi)]
# Below the minimum of a seconds field, the number also reads as minutes (19 → 19 min) or as "off" (0):
# those get candidates, not a fix.
SEVERAL_READINGS = {("max_call_duration", 19), ("re_engagement_interval", 6), ("max_silence_duration", 0)}
PAST = [
    (field, value, fix)
    for field, lo, hi, below, above in NUMERIC_BOUNDS
    for value, fix in ((below, lo), (above, hi))
    if (field, value) not in SEVERAL_READINGS
]


async def call(client: Client, arguments: dict[str, Any]) -> tuple[bool, dict[str, Any], str]:
    result = await client.call_tool("update_assistant", arguments)
    text = "\n".join(block.text for block in result.content if block.type == "text")
    return result.is_error, result.structured_content or {}, text


def problems_by_field(structured: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["field"]: p for p in structured.get("problems", [])}


def fix_of(problem: dict[str, Any]) -> dict[str, Any] | None:
    """The problem's fix without its interpretation, which every fix must state."""
    fix = problem.get("fix")
    if fix is None:
        return None
    assert fix["interpretation"].strip()
    return {"field": fix["field"], "value": fix["value"]}


@pytest.mark.parametrize(("field", "value"), EDGES)
async def test_value_at_documented_bound_is_forwarded(client: Client, sandbox: SandboxServer, field: str, value: Any):
    """A value exactly at a documented bound is accepted and forwarded unchanged."""
    is_error, structured, _ = await call(client, {"id": 12, field: value})
    assert not is_error, structured
    assert structured["changed_fields"] == [field]
    (put,) = sandbox.state.updates()
    assert put.path == "/user/assistant/12"
    assert put.body == {field: value}


@pytest.mark.parametrize(("field", "value", "nearest"), PAST)
async def test_value_just_past_bound_is_refused_with_nearest_bound(
    client: Client, sandbox: SandboxServer, field: str, value: Any, nearest: Any
):
    """A value just past a bound is refused, nothing is sent, and the fix is the nearest bound."""
    is_error, structured, text = await call(client, {"id": 12, field: value})
    assert is_error
    assert sandbox.state.updates() == []
    problem = problems_by_field(structured)[field]
    assert problem["code"] == "out_of_range"
    assert problem["received"] == value
    assert fix_of(problem) == {"field": field, "value": nearest}
    assert {"minimum", "maximum"} <= set(problem["allowed"])
    assert field in text
    assert "Fix" in text


@pytest.mark.parametrize(("field", "value"), sorted(SEVERAL_READINGS))
async def test_number_below_a_seconds_minimum_gets_candidates_not_a_fix(
    client: Client, sandbox: SandboxServer, field: str, value: int
):
    """19 for max_call_duration may be 19 s or 19 minutes, 0 may mean off: candidates, no fix, no suggestion."""
    is_error, structured, text = await call(client, {"id": 12, field: value})
    assert is_error
    assert sandbox.state.updates() == []
    problem = problems_by_field(structured)[field]
    assert "fix" not in problem
    assert len(problem["candidates"]) >= 2
    assert all(c["interpretation"] for c in problem["candidates"])
    assert "suggested_arguments" not in structured
    assert "Which was meant?" in text


@pytest.mark.parametrize(
    ("field", "limit"),
    [("assistant_name", 255), ("language", 100), ("llm_model", 100), ("end_call_tool.description", 500)],
)
async def test_string_longer_than_documented_limit_is_refused(
    client: Client, sandbox: SandboxServer, field: str, limit
):
    """A string one character past its documented maximum length is refused; at the limit it is not."""
    outer, _, inner = field.partition(".")

    def proposal(length: int) -> dict[str, Any]:
        value = "x" * length
        return {"id": 12, outer: {inner: value} if inner else value}

    _, at_limit, _ = await call(client, proposal(limit))
    assert "too_long" not in {p["code"] for p in at_limit.get("problems", [])}
    is_error, structured, _ = await call(client, proposal(limit + 1))
    assert is_error
    problem = problems_by_field(structured)[field]
    assert problem["code"] == "too_long"
    assert problem["allowed"]["maxLength"] == limit
    assert "fix" not in problem  # text is never cut short to fit
    assert all(put.body.get(outer) != proposal(limit + 1)[outer] for put in sandbox.state.updates())


@pytest.mark.parametrize(
    ("field", "value", "fix"),
    [
        ("speech_speed", "1.1", 1.1),
        ("llm_temperature", True, None),
        ("allow_interruptions", 1, True),
        ("allow_interruptions", "false", False),
        ("max_call_duration", 300.5, 300),
        ("max_call_duration", "300", 300),
        ("voice_id", "2", 2),
        ("assistant_name", 42, None),
        ("variables", '{"city": "Riyadh"}', {"city": "Riyadh"}),
        (
            "post_call_schema",
            {"name": "score", "type": "number", "description": "Lead score"},
            [{"name": "score", "type": "number", "description": "Lead score"}],
        ),
    ],
)
async def test_wrong_type_is_refused_strictly_with_converted_fix(
    client: Client, sandbox: SandboxServer, field: str, value: Any, fix: Any
):
    """Types are strict ("1.1" is not a number, 1 is not true), and a convertible value comes back as the fix."""
    is_error, structured, _ = await call(client, {"id": 12, field: value})
    assert is_error
    assert sandbox.state.updates() == []
    problem = problems_by_field(structured)[field]
    assert problem["code"] == "wrong_type"
    assert problem.get("fix", {}).get("value") == fix


async def test_integral_float_for_integer_field_is_accepted_as_json_schema_does(client: Client, sandbox: SandboxServer):
    """300.0 is an integer in JSON Schema, so it is accepted and forwarded as 300."""
    is_error, _, _ = await call(client, {"id": 12, "max_call_duration": 300.0})
    assert not is_error
    assert sandbox.state.updates()[0].body == {"max_call_duration": 300}


@pytest.mark.parametrize(
    ("field", "value", "intended"),
    [
        ("engine_type", "Pipeline", "pipeline"),
        ("engine_type", "MULTIMODAL", "multimodal"),
        ("calls_direction", "inbound", "receive"),
        ("calls_direction", "outbound", "make"),
        ("calls_direction", "Receive", "receive"),
        ("who_speaks_first", "assistant", "AI assistant"),
        ("who_speaks_first", "ai assistant", "AI assistant"),
        ("who_speaks_first", "customer", "Customer"),
        ("endpoint_type", "VAD", "vad"),
        ("post_call_schema.0.type", "boolean", "bool"),
    ],
)
async def test_enum_case_or_synonym_slip_gets_intended_value(client: Client, field: str, value: str, intended: str):
    """A case or synonym slip in an enum is refused with the value the agent meant."""
    outer, _, rest = field.partition(".")
    arguments: dict[str, Any] = {"id": 12, field: value}
    if rest:
        arguments = {"id": 12, outer: [{"name": "ok", "type": value, "description": "d"}]}
    is_error, structured, _ = await call(client, arguments)
    assert is_error
    problem = problems_by_field(structured)[field]
    assert problem["code"] == "not_allowed"
    assert fix_of(problem)["value"] == intended
    assert intended in problem["allowed"]["enum"]


@pytest.mark.parametrize(
    ("name", "value", "intended", "renamed_value", "suggested_value"),
    [
        ("temperature", 0.3, "llm_temperature", 0.3, 0.3),
        ("voice_speed", 0.9, "speech_speed", 0.9, 0.9),
        ("assistant_id", 12, "id", 12, 12),
        ("speechSpeed", 0.8, "speech_speed", 0.8, 0.8),
        ("speach_speed", 0.8, "speech_speed", 0.8, 0.8),
        ("type", "inbound", "calls_direction", "inbound", "receive"),
        ("name", "Riyadh Sales", "assistant_name", "Riyadh Sales", "Riyadh Sales"),
        ("max_duration", 5000, "max_call_duration", 5000, None),
        ("max_call_duration_minutes", 10, "max_call_duration", 600, 600),
        ("silenceTimeoutMs", 30000, "max_silence_duration", 30, 30),
    ],
)
async def test_unknown_field_gets_intended_field_and_value(
    client: Client,
    sandbox: SandboxServer,
    name: str,
    value: Any,
    intended: str,
    renamed_value: Any,
    suggested_value: Any,
):
    """An unknown or misspelled field is refused, naming the intended field (a unit in the name converted);
    the suggestion carries the value fixed too, or is absent when the value has several readings."""
    arguments = {name: value} if name == "assistant_id" else {"id": 12, name: value}
    if name == "assistant_id":
        arguments["speech_speed"] = 0.9
    is_error, structured, _ = await call(client, arguments)
    assert is_error
    assert sandbox.state.updates() == []
    problem = problems_by_field(structured)[name]
    assert problem["code"] == "unknown_field"
    assert fix_of(problem) == {"field": intended, "value": renamed_value}
    assert structured.get("suggested_arguments", {}).get(intended) == suggested_value


async def test_every_problem_is_reported_in_one_round_with_suggested_arguments(client: Client, sandbox: SandboxServer):
    """All problems come back at once, and when each has a fix the corrected proposal is offered and valid."""
    wrong = {
        "id": 12,
        "speech_speed": 1.25,
        "calls_direction": "inbound",
        "temperature": 0.3,
        "engine_type": "Pipeline",
    }
    is_error, structured, _ = await call(client, wrong)
    assert is_error
    assert set(problems_by_field(structured)) == {"speech_speed", "calls_direction", "temperature", "engine_type"}
    suggested = structured["suggested_arguments"]
    assert suggested == {
        "id": 12,
        "speech_speed": 1.2,
        "calls_direction": "receive",
        "engine_type": "pipeline",
        "llm_temperature": 0.3,
    }
    assert sandbox.state.updates() == []
    is_error, structured, _ = await call(client, suggested)
    assert not is_error, structured
    assert sandbox.state.updates()[0].body == {k: v for k, v in suggested.items() if k != "id"}


@pytest.mark.parametrize("field", ["speech_speed", "allow_interruptions", "calls_direction", "is_webhook_active"])
async def test_null_is_refused_where_the_docs_give_it_no_meaning(client: Client, sandbox: SandboxServer, field: str):
    """null is refused for fields whose docs do not give null a meaning."""
    is_error, structured, _ = await call(client, {"id": 12, field: None})
    assert is_error
    assert problems_by_field(structured)[field]["code"] == "null_not_allowed"
    assert sandbox.state.updates() == []


@pytest.mark.parametrize(("assistant", "field"), [(12, "phone_number_id"), (16, "webhook_url")])
async def test_explicit_null_is_forwarded_where_it_has_a_meaning(
    client: Client, sandbox: SandboxServer, assistant: int, field: str
):
    """null unassigns the phone number / removes the webhook, and is forwarded as an explicit null."""
    is_error, structured, _ = await call(client, {"id": assistant, field: None})
    assert not is_error, structured
    assert sandbox.state.updates()[0].body == {field: None}


async def test_active_webhook_without_url_is_refused_without_reversing_the_request(
    client: Client, sandbox: SandboxServer
):
    """is_webhook_active true with webhook_url null is refused; turning it off is explained, never suggested."""
    is_error, structured, _ = await call(client, {"id": 12, "is_webhook_active": True, "webhook_url": None})
    assert is_error
    problem = problems_by_field(structured)["webhook_url"]
    assert problem["code"] == "conflict"
    assert "fix" not in problem
    assert "is_webhook_active false" in problem["message"]
    assert "suggested_arguments" not in structured
    assert sandbox.state.updates() == []


async def test_update_with_only_an_id_is_refused(client: Client, sandbox: SandboxServer):
    """An update with nothing besides id is refused: there is nothing to do."""
    is_error, structured, _ = await call(client, {"id": 12})
    assert is_error
    assert structured["problems"][0]["code"] == "nothing_to_update"
    assert sandbox.state.updates() == []


@pytest.mark.parametrize(
    ("value", "fix"),
    [("example.com/hook", "https://example.com/hook"), ("ftp://example.com", None), ("https://", None)],
)
async def test_webhook_url_must_be_an_http_url(client: Client, value: str, fix: str | None):
    """webhook_url must be an http(s) URL with a host; a missing scheme is fixed."""
    is_error, structured, _ = await call(client, {"id": 12, "webhook_url": value})
    assert is_error
    problem = problems_by_field(structured)["webhook_url"]
    assert problem["code"] == "pattern"
    assert problem.get("fix", {}).get("value") == fix


@pytest.mark.parametrize(
    ("name", "fix"), [("lead score", "lead_score"), ("budget-range", "budget_range"), ("x\n", "x")]
)
async def test_post_call_field_name_must_be_letters_digits_underscores(client: Client, name: str, fix: str):
    """post_call_schema names allow letters, digits and underscores only (a trailing newline included)."""
    entry = {"name": name, "type": "string", "description": "d"}
    is_error, structured, _ = await call(client, {"id": 12, "post_call_schema": [entry]})
    assert is_error
    problem = problems_by_field(structured)["post_call_schema.0.name"]
    assert problem["fix"]["value"] == fix


async def test_post_call_entry_needs_all_three_keys(client: Client):
    """Each post_call_schema entry needs name, type and description."""
    is_error, structured, _ = await call(client, {"id": 12, "post_call_schema": [{"name": "score"}]})
    assert is_error
    missing = {p["field"] for p in structured["problems"] if p["code"] == "missing"}
    assert missing == {"post_call_schema.0.type", "post_call_schema.0.description"}


@pytest.mark.parametrize(
    ("value", "fix"), [("Riyadh", "Asia/Riyadh"), ("asia/dubai", "Asia/Dubai"), ("Mars/Base", None)]
)
async def test_timezone_must_be_an_iana_name(client: Client, sandbox: SandboxServer, value: str, fix: str | None):
    """A timezone that is not an IANA name is refused, with the zone meant when it can be told."""
    is_error, structured, _ = await call(client, {"id": 12, "timezone": value})
    assert is_error
    problem = problems_by_field(structured)["timezone"]
    assert (fix_of(problem) or {}).get("value") == fix
    assert sandbox.state.updates() == []


async def test_valid_update_forwards_exactly_the_given_fields(client: Client, sandbox: SandboxServer):
    """A valid proposal is sent as PUT /user/assistant/{id} with exactly the given fields, in order."""
    arguments = {
        "id": 12,
        "speech_speed": 0.9,
        "allow_interruptions": False,
        "timezone": "Asia/Riyadh",
        "post_call_schema": [{"name": "lead_score", "type": "number", "description": "0-10"}],
        "end_call_tool": {"description": "When the caller says goodbye"},
        "variables": {"region": "Riyadh"},
        "phone_number_id": None,
    }
    is_error, structured, text = await call(client, arguments)
    assert not is_error, structured
    (put,) = sandbox.state.updates()
    assert put.authorization == "Bearer 1|sandbox-demo-key"
    assert list(put.body) == list(arguments)[1:]
    assert put.body == {k: v for k, v in arguments.items() if k != "id"}
    assert structured["ok"] is True
    assert structured["applied"] is True
    assert structured["data"] == {
        "id": 12,
        "name": "Riyadh Sales",
        "status": "active",
        "type": "outbound",
        "mode": "pipeline",
    }
    assert structured["changed_fields"] == list(arguments)[1:]
    assert "Updated assistant 12" in text


async def test_suggestion_is_offered_only_when_it_would_pass(client: Client, sandbox: SandboxServer):
    """A renamed field whose value is still wrong gets its fix, but no suggested_arguments that would fail again."""
    is_error, structured, _ = await call(client, {"id": 12, "speed": "fast"})
    assert is_error
    assert fix_of(problems_by_field(structured)["speed"]) == {"field": "speech_speed", "value": "fast"}
    assert "fix" not in problems_by_field(structured)["speech_speed"]
    assert "suggested_arguments" not in structured
    _, renamed, _ = await call(client, {"id": 12, "webhook": "hooks.example.com/x"})
    assert renamed["suggested_arguments"] == {"id": 12, "webhook_url": "https://hooks.example.com/x"}
    assert sandbox.state.updates() == []


async def test_voice_by_name_is_judged_against_the_assistant_the_fixed_id_names(client: Client, sandbox: SandboxServer):
    """With the id given as a string, a voice of the other engine is still refused, not suggested."""
    is_error, structured, _ = await call(client, {"id": "12", "voice_id": "Noura"})
    assert is_error
    assert problems_by_field(structured)["voice_id"]["code"] == "wrong_mode"
    assert "suggested_arguments" not in structured
    assert sandbox.state.updates() == []


@pytest.mark.parametrize("active", [True, "true", "yes"])
async def test_webhook_conflict_is_told_in_the_first_round_however_true_is_spelt(
    client: Client, sandbox: SandboxServer, active: Any
):
    """An active webhook with its URL removed is a conflict, also when true and null are spelt as words."""
    is_error, structured, _ = await call(client, {"id": 12, "is_webhook_active": active, "webhook_url": "null"})
    assert is_error
    assert problems_by_field(structured)["webhook_url"]["code"] == "conflict"
    assert "suggested_arguments" not in structured
    assert sandbox.state.updates() == []
