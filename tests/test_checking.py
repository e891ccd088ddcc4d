"""The checking pipeline's extension point: extra stages take part in the verdict and in the re-check."""

from __future__ import annotations

from typing import Any

import pytest

from sondos_mcp.checking import CheckContext, Proposal, check_proposal
from sondos_mcp.feedback import Fix
from sondos_mcp.schema import update_input_schema

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
