"""The checking pipeline: its extension point (extra stages take part in the verdict and the re-check),
field knowledge declared with each field, and each kind of mistake read by the rule of its kind."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field

from sondos_mcp.checking import CheckContext, Proposal, check_proposal
from sondos_mcp.feedback import Fix
from sondos_mcp.model import WEBHOOK_URL_PATTERN, UpdateAssistantArgs
from sondos_mcp.schema import input_schema, update_input_schema
from sondos_mcp.vocabulary import scale_of
from sondos_mcp.vocabulary_kinds import (
    Choice,
    Fraction,
    Level,
    Multiplier,
    Number,
    Reference,
    Seconds,
    check_complete,
    incomplete,
    kind_of,
)

pytestmark = pytest.mark.anyio

CONTEXT = CheckContext(update_input_schema())


async def at_most_ten_minutes(p: Proposal) -> None:
    """A policy stage as an operator might write one: calls last at most 600 s."""
    value = p.resolved.get("max_call_duration")
    if isinstance(value, int) and value > 600:
        fix = Fix(field="max_call_duration", value=600, interpretation="the policy's longest call")
        p.problems.append(p.builder.problem("max_call_duration", "policy", "at most 600 s by policy", fix))


async def no_records(p: Proposal) -> None:
    if p.resolved.get("record_call") is True:
        p.problems.append(p.builder.problem("record_call", "policy", "recording is not allowed here"))


@pytest.mark.parametrize(
    ("raw", "codes", "suggested"),
    [
        ({"id": 12, "max_call_duration": 900}, ["policy"], {"id": 12, "max_call_duration": 600}),
        ({"id": 12, "max_call_duration": "15 min"}, ["wrong_type"], None),
        ({"id": 12, "max_call_duration": 300}, [], None),
    ],
)
async def test_an_extra_stage_adds_problems_and_its_rule_holds_for_the_suggestion(
    raw: dict[str, Any], codes: list[str], suggested: dict[str, Any] | None
):
    """A problem from an extra stage refuses the proposal; a suggestion is re-checked through that stage too
    ("15 min" reads as 900 s, which the policy refuses, so nothing is suggested)."""
    verdict = await check_proposal(raw, CONTEXT, extra_stages=[at_most_ten_minutes])
    assert [p.code for p in verdict.problems] == codes
    assert verdict.suggested == suggested
    assert verdict.ok is (codes == [])


async def test_an_extra_stage_problem_without_a_fix_blocks_the_suggestion():
    """Every problem must have its one reading for a suggestion, the extra stage's included."""
    verdict = await check_proposal({"id": 12, "record": 1}, CONTEXT, extra_stages=[no_records])
    assert {p.code for p in verdict.problems} == {"unknown_field", "wrong_type"}
    assert verdict.suggested is None


# --- each field's knowledge is declared with the field ------------------------------------------


class Hold(BaseModel):
    """A throwaway contract with fields the real one lacks: only their kinds say what they are."""

    model_config = ConfigDict(strict=True, extra="forbid")

    id: Annotated[int, Reference(lookup="assistants", names=("assistant_id",))] = Field(ge=1)
    hold_music_volume: Annotated[float, Fraction(names=("music_volume",))] = Field(None, ge=0, le=1)
    hold_timeout: Annotated[int, Seconds(names=("hold_limit",))] = Field(None, ge=10, le=300)
    hold_speed: Annotated[float, Multiplier(names=("hold_rate",))] = Field(None, ge=0.5, le=2)


HOLD = CheckContext(input_schema(Hold), model=Hold)


@pytest.mark.parametrize(
    ("raw", "suggested", "candidates"),
    [
        ({"hold_music_volume": "50%"}, {"hold_music_volume": 0.5}, None),
        ({"hold_music_volume": 1.02}, {"hold_music_volume": 1}, None),
        ({"hold_music_volume": 50}, None, [0.5, 1]),
        ({"hold_music_volume": 7}, None, [0.7, 1]),
        ({"music_volume_percent": 40}, {"hold_music_volume": 0.4}, None),
        ({"hold_timeout": "2 min"}, {"hold_timeout": 120}, None),
        ({"hold_timeout": "PT90S"}, {"hold_timeout": 90}, None),
        ({"hold_limit": "00:01:30"}, {"hold_timeout": 90}, None),
        ({"hold_timeout_ms": 45000}, {"hold_timeout": 45}, None),
        ({"hold_timeout": 5}, None, [10, 300]),  # seconds: the nearest bound leads
        ({"hold_timeout": "1:30"}, None, [90, 300]),
        ({"hold_speed": "1.5x"}, {"hold_speed": 1.5}, None),
        ({"hold_rate": "-20%"}, {"hold_speed": 0.8}, None),
    ],
)
async def test_a_new_field_with_a_kind_gets_unit_and_scale_handling_with_no_other_edit(
    raw: dict[str, Any], suggested: dict[str, Any] | None, candidates: list[Any] | None
):
    """A field declared only with its kind and bounds (in a model the vocabulary has never seen) is read
    in its units and scales, under its names, like the contract's own fields of that kind."""
    verdict = await check_proposal({"id": 1} | raw, HOLD)
    assert verdict.problems
    assert verdict.suggested == (None if suggested is None else {"id": 1} | suggested)
    offered = [c.value for c in verdict.candidates]
    assert offered == (candidates or [])


def test_every_field_of_the_contract_declares_a_complete_kind():
    """Every field (nested ones included) says what it is: one kind that fits its type, bounds for a
    numeric kind, and at least one other name."""
    assert incomplete(UpdateAssistantArgs) == []
    assert all(kind_of(info) is not None for info in UpdateAssistantArgs.model_fields.values())


class Undeclared(BaseModel):
    volume: float = Field(None, ge=0, le=1)
    speed: Annotated[float, Fraction(names=("rate",))] = Field(None)
    mode: Annotated[str, Seconds(names=("m",))] = Field(None)
    level: Annotated[float, Level()] = Field(None, ge=0, le=5)
    kind: Annotated[Literal["a", "b"], Choice(names=("k",), spellings={"x": "c"})] = Field(None)


def test_a_field_without_a_complete_kind_is_refused_where_the_model_is_defined():
    """A field with no kind, a numeric kind without bounds or on text, no other name, or spellings that
    name no choice: each is named, and `check_complete` (run on the contract at import) refuses the model."""
    found = "\n".join(incomplete(Undeclared))
    assert "Undeclared.volume: declares 0 kinds" in found
    assert "Undeclared.speed: a numeric kind needs both bounds" in found
    assert "Undeclared.mode: a numeric kind on a field that is not a number" in found
    assert "Undeclared.level: no other names" in found
    assert "Undeclared.kind: spellings name values that are not choices: ['c']" in found
    with pytest.raises(TypeError, match="incomplete"):
        check_complete(Undeclared)


# --- the kinds of mistake, each by the rule of its kind (no live lookups here) --------------------


@pytest.mark.parametrize(
    ("raw", "suggested"),
    [
        # Durations in ISO 8601 and hh:mm:ss: one reading.
        ({"max_call_duration": "PT10M"}, {"max_call_duration": 600}),
        ({"max_silence_duration": "PT1M30S"}, {"max_silence_duration": 90}),
        ({"max_call_duration": "00:07:30"}, {"max_call_duration": 450}),
        ({"max_call_duration": "12:00 min"}, {"max_call_duration": 720}),
        # Nested fields written dotted or flat.
        ({"end_call_tool.description": "Bye"}, {"end_call_tool": {"description": "Bye"}}),
        ({"endCallToolDescription": "Bye"}, {"end_call_tool": {"description": "Bye"}}),
        # Other platforms' names: nested paths, objects, negated switches, a switch picking a choice.
        ({"stopSpeakingPlan.numWords": 2}, {"min_interrupt_words": 2}),
        ({"voice": {"speed": 0.9, "stability": 0.4}}, {"speech_speed": 0.9, "voice_stability": 0.4}),
        ({"block_interruptions": True}, {"allow_interruptions": False}),
        ({"disable_noise_cancellation": "yes"}, {"noise_cancellation": False}),
        ({"wait_for_greeting": False}, {"who_speaks_first": "AI assistant"}),
        ({"responsiveness": 3}, {"endpoint_sensitivity": 3}),
        # Plain type slips.
        ({"llm_temperature": ".3"}, {"llm_temperature": 0.3}),
        ({"assistant_name": 2025}, {"assistant_name": "2025"}),
        ({"record_call": "Yes."}, {"record_call": True}),
        # A URL whose wrapping is off.
        ({"webhook_url": "<https://hooks.example.com/a>"}, {"webhook_url": "https://hooks.example.com/a"}),
        ({"webhook_url": "Https://hooks.example.com/a"}, {"webhook_url": "https://hooks.example.com/a"}),
    ],
)
async def test_a_mistake_with_one_reading_is_repaired_by_the_rule_of_its_kind(
    raw: dict[str, Any], suggested: dict[str, Any]
):
    verdict = await check_proposal({"id": 12} | raw, CONTEXT)
    assert verdict.suggested == {"id": 12} | suggested
    assert all(p.fix is not None and p.fix.interpretation for p in verdict.problems)


@pytest.mark.parametrize(
    ("raw", "field", "candidates"),
    [
        ({"max_call_duration": "05:00"}, "max_call_duration", [300, 1200]),  # mm:ss or hh:mm
        ({"max_call_duration": "P2M"}, "max_call_duration", [120]),  # a month in ISO 8601; PT2M?
        ({"max_silence_duration": "PT0S"}, "max_silence_duration", [120, 1]),  # off, which it cannot say
        ({"idle_timeout": 20}, "idle_timeout", [20, 20]),  # two fields go by this name
        ({"responsiveness": 0.6}, "endpoint_sensitivity", [0.6, 3]),  # Retell's 0-1, or this API's 0-5
        ({"interruption_sensitivity": "0.4"}, "interrupt_sensitivity", [0.4, 2]),
    ],
)
async def test_a_value_with_two_readings_stays_a_question(raw: dict[str, Any], field: str, candidates: list[Any]):
    verdict = await check_proposal({"id": 12} | raw, CONTEXT)
    assert verdict.suggested is None
    offered = [c.value for p in verdict.problems if p.field == field for c in p.candidates or []]
    assert offered == candidates


@pytest.mark.parametrize(
    "url",
    [
        "https://<your-webhook-url>",
        "https://YOUR_WEBHOOK_URL",
        "https://{{host}}/calls",
        "https://hooks.example.com/calls/{assistant_id}",
        "https://hooks.example.com/x?key=<API_KEY>",
        "https://hooks.example.com/a|b",
        "https://hooks.example.com/100%",
        "https://-x-.example.com/",
        "https://[insert-url-here]",
        "https://hooks:99999/x",
    ],
)
async def test_a_url_that_passes_the_pattern_but_is_no_url_is_refused_without_a_fix(url: str):
    """The schema's pattern admits these; checked as URLs, each is refused (a placeholder is the person's
    to fill in), never forwarded and never "repaired"."""
    assert re.search(WEBHOOK_URL_PATTERN, url)
    verdict = await check_proposal({"id": 12, "webhook_url": url}, CONTEXT)
    (problem,) = verdict.problems
    assert (problem.field, problem.code, problem.fix, verdict.suggested) == ("webhook_url", "not_a_url", None, None)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/a_b/c-d/~e?x=1&y=%20&z=[1]#f",
        "http://localhost:8080/hook",
        "http://10.0.0.5:8080/hook",
        "https://user:secret@hooks.example.com/h",
        "http://[::1]:8080/h",
        "https://مثال.example/ويب",
    ],
)
async def test_a_url_with_every_legal_part_is_accepted(url: str):
    verdict = await check_proposal({"id": 12, "webhook_url": url}, CONTEXT)
    assert verdict.ok, verdict.problems


async def test_a_refused_proposal_still_names_the_fix_of_its_fixable_part():
    """One unknown field refuses the whole proposal; the renamed field's problem names the value to
    send (not the value as given), so the agent has the fixable part in the same round."""
    verdict = await check_proposal({"id": 12, "speed": "0.9x", "transfer_to": "+966501234567"}, CONTEXT)
    assert verdict.suggested is None
    fixes = {p.field: p.fix for p in verdict.problems if p.fix is not None}
    assert (fixes["speed"].field, fixes["speed"].value) == ("speech_speed", 0.9)
    assert "0.9× normal" in fixes["speed"].interpretation
    assert [p.code for p in verdict.problems if p.field == "transfer_to"] == ["unknown_field"]


def test_every_numeric_field_says_its_scale_in_words():
    """For descriptions and messages: each numeric field's scale or unit, from its kind and bounds."""
    numeric = [n for n, i in UpdateAssistantArgs.model_fields.items() if isinstance(kind_of(i), Number)]
    scales = {n: scale_of(n) for n in numeric}
    assert all(scales.values()), scales
    assert (scales["max_call_duration"], scales["voice_stability"], scales["endpoint_sensitivity"]) == (
        "seconds",
        "0 expressive, 1 steady",  # its kind says what the ends mean
        "0–5",
    )
    assert scale_of("hold_music_volume", Hold) == "0–1"
