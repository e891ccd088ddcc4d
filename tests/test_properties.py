"""Generated proposals: the pydantic verdict equals the jsonschema verdict, and nothing invalid is sent."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from pydantic import ValidationError

from sondos_mcp.model import TOOL_ONLY, UpdateAssistantArgs
from sondos_mcp.sandbox import LANGUAGES, MODELS, PHONE_NUMBERS, VOICES, SandboxServer, contract_validator
from sondos_mcp.server import build_server
from sondos_mcp.vocabulary import ENUM_SPELLINGS, FIELD_NAMES
from tests.conftest import make_settings
from tests.snapshots import snapshot

SNAPSHOT = snapshot("update_assistant.input.json")
VALIDATOR = contract_validator(SNAPSHOT)
PROPS: dict[str, dict[str, Any]] = SNAPSHOT["properties"]

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=4), st.integers(), max_size=2),
)


def _types(schema: dict[str, Any]) -> list[str]:
    t = schema.get("type", [])
    return [t] if isinstance(t, str) else list(t)


def _wrong_type(value: Any, integer: bool) -> bool:
    if isinstance(value, bool):
        return True
    if integer:
        return not (isinstance(value, int) or (isinstance(value, float) and value.is_integer()))
    return not isinstance(value, str)


def value_for(schema: dict[str, Any], refs: dict[str, list[Any]] | None = None, name: str = "") -> st.SearchStrategy:
    """Values near the schema's edges, mostly of the right type, sometimes not."""
    if refs and name in refs:
        # Existing references, or values of the wrong type: whether a well-typed id exists upstream
        # is the live reference checks' business (tested with the toolkit), not this contract's.
        plausible: st.SearchStrategy = st.sampled_from(refs[name])
        integer = "integer" in _types(schema)
        wrong = junk.filter(lambda v: _wrong_type(v, integer))
        return st.one_of(plausible, plausible, plausible, wrong)
    elif "enum" in schema:
        choices = schema["enum"]
        plausible = st.one_of(st.sampled_from(choices), st.sampled_from([c.upper() for c in choices] + ["inbound"]))
    elif "integer" in _types(schema):
        lo = schema.get("minimum", -5)
        hi = schema.get("maximum", lo + 1000)
        plausible = st.one_of(
            st.integers(lo - 2, hi + 2),
            st.sampled_from([lo, hi, lo - 1, hi + 1]),
            st.integers(lo, hi).map(float),
            st.floats(lo - 1, hi + 1, allow_nan=False),
        )
    elif "number" in _types(schema):
        lo, hi = schema.get("minimum", -10), schema.get("maximum", 10)
        plausible = st.one_of(
            st.floats(lo - 0.5, hi + 0.5, allow_nan=False),
            st.sampled_from([lo, hi, lo - 0.001, hi + 0.001]),
            st.integers(int(lo) - 1, int(hi) + 1),
        )
    elif "boolean" in _types(schema):
        plausible = st.booleans()
    elif "string" in _types(schema):
        if "pattern" in schema and "http" in schema["pattern"]:
            plausible = st.sampled_from(
                [
                    "https://hooks.example.com/x",
                    "http://a.b/c?d=1",
                    "example.com",
                    "https://",
                    "ftp://x.y",
                    "https://x\n",
                ]
            )
        elif "pattern" in schema:
            plausible = st.text(alphabet="ab_Z9 -\n", min_size=0, max_size=6)
        elif "maxLength" in schema:
            n = schema["maxLength"]
            plausible = st.one_of(st.text(max_size=6), st.integers(n - 1, n + 1).map(lambda k: "x" * k))
        else:
            plausible = st.text(max_size=12)
    elif "array" in _types(schema):
        plausible = st.lists(value_for(schema["items"]), max_size=2)
    elif "object" in _types(schema):
        if "properties" in schema:
            plausible = st.fixed_dictionaries(
                {}, optional={k: value_for(v) for k, v in schema["properties"].items()} | {"extra": st.just(1)}
            )
            if schema.get("required"):
                plausible = st.fixed_dictionaries(
                    {k: value_for(v) for k, v in schema["properties"].items() if k in schema["required"]},
                    optional={k: value_for(v) for k, v in schema["properties"].items() if k not in schema["required"]}
                    | {"extra": st.just(1)},
                )
        else:
            plausible = st.dictionaries(st.text(max_size=5), st.one_of(st.text(max_size=5), st.integers()), max_size=3)
    else:
        plausible = junk
    if "null" in _types(schema):
        plausible = st.one_of(plausible, st.none())
    return st.one_of(plausible, plausible, plausible, plausible, junk)


def proposals(refs: dict[str, list[Any]] | None = None) -> st.SearchStrategy[dict[str, Any]]:
    fields = {name: value_for(schema, refs, name) for name, schema in PROPS.items() if name != "id"}
    fields |= {"temperature": st.floats(0, 1), "speed": st.floats(0, 2)}
    # Mostly small proposals, as agents make them (and so that many are valid), sometimes everything at once.
    small = st.lists(st.sampled_from(sorted(fields)), max_size=4, unique=True).flatmap(
        lambda names: st.fixed_dictionaries({n: fields[n] for n in names})
    )
    body = st.one_of(small, small, small, st.fixed_dictionaries({}, optional=fields))
    ident = st.one_of(st.sampled_from([12, 13, 14]), st.sampled_from([0, -1, "12", 12.0, None]))
    return st.tuples(body, st.one_of(ident, ident, ident, st.just(None)), st.booleans()).map(
        lambda t: ({"id": t[1]} if t[1] is not None or t[2] else {}) | t[0]
    )


def pydantic_accepts(proposal: dict[str, Any]) -> bool:
    try:
        UpdateAssistantArgs.model_validate(proposal)
    except ValidationError:
        return False
    return True


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(proposals())
def test_pydantic_and_jsonschema_give_the_same_verdict(proposal: dict[str, Any]):
    """On every generated proposal the model and the advertised schema agree: valid for one iff valid for the other."""
    assert pydantic_accepts(proposal) == VALIDATOR.is_valid(proposal), proposal


@pytest.mark.parametrize(
    "proposal",
    [
        {"id": 12, "post_call_schema": [{"name": "x\n", "type": "string", "description": "d"}]},
        {"id": 12, "max_call_duration": 300.0},
        {"id": 12, "llm_temperature": 1},
        {"id": 12, "record_call": 1},
        {"id": 12.0, "record_call": True},
        {"id": 12, "webhook_url": "https://x\n"},
        {"id": 12, "variables": {}},
        {"id": 12},
        {"speech_speed": 1},
    ],
)
def test_known_disagreement_traps_agree(proposal: dict[str, Any]):
    """Cases where validators commonly differ (trailing newline, 300.0, 1 vs true) get one verdict."""
    assert pydantic_accepts(proposal) == VALIDATOR.is_valid(proposal)


@pytest.fixture(scope="module")
def live() -> Iterator[tuple[SandboxServer, BlockingPortal, Client]]:
    """One sandbox and one in-memory MCP session, driven from synchronous hypothesis tests."""
    with SandboxServer() as sandbox, start_blocking_portal() as portal:
        client = Client(build_server(make_settings(sandbox.base_url)))
        with portal.wrap_async_context_manager(client) as session:
            yield sandbox, portal, session


# Reference fields drawn from what the sandbox account really has, so that "valid" means valid to the API too.
REFS = {
    "voice_id": [v["id"] for v in VOICES],
    "phone_number_id": [p["id"] for p in PHONE_NUMBERS[1]],
    "language": [lang["name"] for lang in LANGUAGES],
    "llm_model": [m["name"] for m in MODELS],
    "timezone": ["Asia/Riyadh", "Europe/London", "America/New_York", "Riyadh", "Mars/Base"],
}


@settings(
    max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(proposal=proposals(REFS))
def test_no_invalid_proposal_ever_reaches_the_api(live: tuple[SandboxServer, BlockingPortal, Client], proposal):
    """Through MCP, a refused proposal sends nothing, and whatever is sent the sandbox's own judge accepts."""
    sandbox, portal, session = live
    before = len(sandbox.state.updates())
    result = portal.call(session.call_tool, "update_assistant", proposal)
    sent = sandbox.state.updates()[before:]
    structured = result.structured_content or {}
    if result.is_error and structured["error"]["kind"] == "invalid_arguments":
        assert sent == []
        assert not pydantic_accepts(proposal) or structured["problems"]
    else:
        assert pydantic_accepts(proposal)
        assert VALIDATOR.is_valid(proposal)
        if proposal.get("dry_run") is True:
            assert sent == []
            return
        if structured.get("applied") is False:
            # Every field already held its value (the API shows it): nothing to send.
            assert sent == []
            assert sorted(structured["unchanged_fields"]) == sorted(k for k in proposal if k not in TOOL_ONLY)
            return
        (put,) = sent
        assert _same_numbers(put.body, proposal)
        assert structured.get("error", {}).get("kind") != "upstream_validation", structured


def _same_numbers(body: dict[str, Any], proposal: dict[str, Any]) -> bool:
    """300.0 given for an integer field is forwarded as 300; everything else verbatim."""
    given_body = {k: v for k, v in proposal.items() if k not in TOOL_ONLY}
    return body.keys() == given_body.keys() and all(
        body[k] == v or (isinstance(v, float) and v.is_integer() and body[k] == int(v)) for k, v in given_body.items()
    )


def test_property_run_is_big_enough(live: tuple[SandboxServer, BlockingPortal, Client]):
    """The generated run above covered both verdicts (valid proposals were sent, invalid ones were not)."""
    sandbox, _, _ = live
    assert len(sandbox.state.updates()) > 100
    assert len(sandbox.state.updates()) < 1900


# --- every suggestion offered passes the server's own full check -------------------------------

_NUMBER = st.one_of(
    st.integers(-5, 40_000),
    st.floats(-2, 200, allow_nan=False).map(lambda x: round(x, 2)),
    st.sampled_from([0, 1, 5, 10, 19, 20, 30, 80, 100, 110, 600, 1200, 1201, 30000, 0.65, 1.25, 1.5]),
)
_UNITS = ["min", " minutes", "s", " sec", "ms", "%", " percent", "x", " words", "h", ""]
_WORDY_NUMBER = st.tuples(_NUMBER, st.sampled_from(_UNITS)).map(lambda t: f"{t[0]}{t[1]}")
_POOLS: dict[str, list[Any]] = {
    "boolean": ["yes", "no", "on", "off", "true", "False", "enabled", 0, 1, "maybe", None],
    "timezone": ["Riyadh", "GMT+3", "EST", "UTC-5", "+05:30", "New York", "asia/dubai", "Jeddah", "US", "Mars/Base"],
    "voice_id": ["Layla", "Noura", "omar", "Laila", "2", 7, 4, 99],
    "phone_number_id": ["+966 50 123 4567", "+14155550100", "null", "none", "104", 97144556677, 201],
    "language": ["ar", "en-US", "Deutsch", "Arabic, English", "arabic", ["English"], "Klingon"],
    "llm_model": ["gpt-4o mini", "GPT-5", "gpt-4.1", "openai/gpt-4o", "gemini-2.0-flash"],
    "webhook_url": ["hooks.example.com/x", "https://null", "null", "", " https://a.example.com/h ", "my hook"],
    "variables": ['{"a": "b"}', "a=1, b=2", [{"key": "a", "value": 1}], "text"],
    "end_call_tool": ["After goodbye", {"desc": "After goodbye"}, '{"description": "x"}'],
    "post_call_schema": [
        {"name": "lead score", "type": "boolean", "description": "d"},
        [{"key": "city", "data_type": "text", "desc": "City"}],
        '[{"name": "a", "type": "str", "description": "d"}]',
    ],
}
_ENUM_WORDS = sorted({w for spellings in ENUM_SPELLINGS.values() for w in spellings} | {"Pipeline", "RECEIVE", "vad "})


def _mistake_for(name: str) -> st.SearchStrategy[Any]:
    schema = PROPS.get(name, {})
    if name in _POOLS:
        return st.sampled_from(_POOLS[name])
    if "enum" in schema:
        return st.sampled_from(_ENUM_WORDS)
    if "boolean" in _types(schema):
        return st.sampled_from(_POOLS["boolean"])
    if {"number", "integer"} & set(_types(schema)):
        return st.one_of(_NUMBER, _WORDY_NUMBER, st.sampled_from(["max", "normal", "fast", "unlimited", "off"]))
    return st.one_of(st.text(max_size=5), st.integers(), st.none())


ADOPTED: dict[str, int] = {"suggestions": 0, "candidates": 0}


def mistaken_proposals() -> st.SearchStrategy[dict[str, Any]]:
    """Proposals as agents get them wrong: other fields' names, units and words in values, wrong scales."""
    fields = sorted(n for n in PROPS if n not in ("id", "dry_run"))

    def entry(name: str) -> st.SearchStrategy[tuple[str, Any]]:
        given_as = st.sampled_from([name, name, *FIELD_NAMES.get(name, ())])
        return st.tuples(given_as, _mistake_for(name))

    entries = st.lists(st.sampled_from(fields), min_size=1, max_size=3, unique=True).flatmap(
        lambda names: st.tuples(*[entry(n) for n in names])
    )
    return st.tuples(st.sampled_from([12, 13, 14, "12"]), entries).map(lambda t: {"id": t[0]} | dict(t[1]))


@settings(
    max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(proposal=st.one_of(mistaken_proposals(), proposals(REFS)))
def test_every_suggestion_offered_passes_the_full_check(live: tuple[SandboxServer, BlockingPortal, Client], proposal):
    """Whenever suggested_arguments is offered, sending it as is passes every check, live references
    included, and is forwarded exactly; and a refusal with candidates never carries a suggestion."""
    sandbox, portal, session = live
    result = portal.call(session.call_tool, "update_assistant", proposal | {"dry_run": True})
    structured = result.structured_content or {}
    suggested = structured.get("suggested_arguments")
    if any(p.get("candidates") for p in structured.get("problems", [])):
        ADOPTED["candidates"] += 1
        assert suggested is None
    if suggested is None:
        return
    ADOPTED["suggestions"] += 1
    assert all("fix" in p and p["fix"]["interpretation"] for p in structured["problems"])
    before = len(sandbox.state.updates())
    # force: a suggestion that sets what the assistant already holds is otherwise, rightly, not sent.
    again = portal.call(session.call_tool, "update_assistant", {**suggested, "dry_run": False, "force": True})
    assert not again.is_error, (proposal, suggested, again.structured_content)
    (put,) = sandbox.state.updates()[before:]
    assert put.body == {k: v for k, v in suggested.items() if k not in TOOL_ONLY}


def test_suggestion_property_run_adopted_suggestions():
    """The run above adopted many suggestions and met many candidate answers (it was not vacuous)."""
    assert ADOPTED["suggestions"] >= 50, ADOPTED
    assert ADOPTED["candidates"] >= 30, ADOPTED
