"""The advertised (narrowed) schema and the policy's enforcement give the same verdict on every proposal."""

from __future__ import annotations

from typing import Any

import anyio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator

from sondos_mcp.checking import CheckContext, check_proposal
from sondos_mcp.domain.checks import policy_stage
from sondos_mcp.policy import Policy, PolicyRules
from sondos_mcp.schema import update_input_schema

POLICIES = {
    "deny_and_cap": PolicyRules.model_validate(
        {"denied_fields": ["system_prompt", "max_silence_duration"], "bounds": {"max_call_duration": {"max": 600}}}
    ),
    "allow_list": PolicyRules.model_validate(
        {
            "allowed_fields": ["speech_speed", "max_call_duration", "record_call"],
            "bounds": {"speech_speed": {"min": 0.8, "max": 1.1}},
        }
    ),
    "floors": PolicyRules.model_validate(
        {
            "bounds": {
                "re_engagement_interval": {"min": 30},
                "llm_temperature": {"max": 0.5},
                "max_call_duration": {"min": 60, "max": 900},
            }
        }
    ),
    "open": PolicyRules(),
}

NUMBERS = st.one_of(
    st.integers(min_value=-5, max_value=1500),
    st.floats(min_value=-1, max_value=1500, allow_nan=False, allow_infinity=False),
    st.sampled_from([0, 0.8, 0.79, 1.1, 1.11, 20, 30, 29, 59, 60, 600, 601, 900, 901, 1200, 0.5, 0.51, 600.0]),
)
FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "max_call_duration": NUMBERS,
    "max_silence_duration": NUMBERS,
    "re_engagement_interval": NUMBERS,
    "speech_speed": NUMBERS,
    "llm_temperature": NUMBERS,
    "record_call": st.booleans(),
    "system_prompt": st.text(max_size=5),
}
PROPOSALS = st.fixed_dictionaries({"id": st.just(12)}, optional=FIELDS)


@pytest.mark.parametrize("name", POLICIES)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(proposal=PROPOSALS)
def test_narrowed_schema_and_policy_enforcement_agree(name: str, proposal: dict[str, Any]):
    """For each policy, a proposal is valid against the advertised schema iff the checking pipeline accepts it."""
    policy = Policy(POLICIES[name])
    narrowed = policy.narrow(update_input_schema())
    by_schema = Draft202012Validator(narrowed).is_valid(proposal)

    async def name(_: int) -> str:
        return "Riyadh Sales"

    # The server's one pipeline, as update_assistant runs it, minus the live lookups.
    verdict = anyio.run(check_proposal, proposal, CheckContext(narrowed), (policy_stage(policy, name),))
    by_server = verdict.ok
    assert by_schema == by_server, (name, proposal)
