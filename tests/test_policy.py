"""Policies: read-only mode, allowed assistants and fields, tighter bounds, start-up errors that name the line."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from mcp import Client

from sondos_mcp.policy import PolicyError, load_policies
from sondos_mcp.sandbox import SandboxServer
from sondos_mcp.server import build_server
from sondos_mcp.trust import Trust
from tests.conftest import call, make_settings, server_command

pytestmark = pytest.mark.anyio

WRITE_TOOLS = {"update_assistant", "undo_change", "update_assistants"}


def policy_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "policy.toml"
    path.write_text(text, "utf-8")
    return path


def server_with(sandbox: SandboxServer, tmp_path: Path, text: str):
    settings = make_settings(sandbox.base_url, policy=policy_file(tmp_path, text), journal=str(tmp_path / "j.db"))
    return build_server(settings)


async def test_a_read_only_policy_lists_no_write_tool_and_refuses_calls(sandbox: SandboxServer, tmp_path: Path):
    """read_only = true: write tools are neither listed nor callable, and nothing is sent."""
    async with Client(server_with(sandbox, tmp_path, "read_only = true\n")) as client:
        names = {t.name for t in (await client.list_tools()).tools}
        assert names.isdisjoint(WRITE_TOOLS)
        assert {"list_assistants", "get_assistant", "list_changes"} <= names
        with pytest.raises(Exception, match="Unknown tool"):
            await client.call_tool("update_assistant", {"id": 12, "max_call_duration": 300})
    assert sandbox.state.updates() == []


async def test_a_denied_field_is_absent_from_the_schema_and_refused_unsent(sandbox: SandboxServer, tmp_path: Path):
    """denied_fields: the advertised schema lacks the field; a proposal with it gets a policy problem."""
    async with Client(
        server_with(sandbox, tmp_path, 'denied_fields = ["system_prompt", "phone_number_id"]\n')
    ) as client:
        (tool,) = [t for t in (await client.list_tools()).tools if t.name == "update_assistant"]
        assert "system_prompt" not in tool.input_schema["properties"]
        assert "phone_number_id" not in tool.input_schema["properties"]
        assert "max_call_duration" in tool.input_schema["properties"]
        is_error, refused, _ = await call(client, "update_assistant", {"id": 12, "system_prompt": "Be rude"})
        assert is_error
        assert [(p["field"], p["code"]) for p in refused["problems"]] == [("system_prompt", "policy")]
        is_error, _, _ = await call(client, "update_assistant", {"id": 12, "max_call_duration": 300})
        assert not is_error
    assert [r.body for r in sandbox.state.updates()] == [{"max_call_duration": 300}]


async def test_tighter_bounds_are_advertised_and_enforced(sandbox: SandboxServer, tmp_path: Path):
    """[bounds] max_call_duration max 600: the schema says 600, 900 is refused unsent, 600 is applied."""
    text = "[bounds]\nmax_call_duration = { max = 600 }\nspeech_speed = { min = 0.9 }\n"
    sandbox.state.assistants[12]["max_duration"] = 300  # so that 600, the edge, is a change
    async with Client(server_with(sandbox, tmp_path, text)) as client:
        (tool,) = [t for t in (await client.list_tools()).tools if t.name == "update_assistant"]
        assert tool.input_schema["properties"]["max_call_duration"] | {} == {
            **tool.input_schema["properties"]["max_call_duration"],
            "minimum": 20,
            "maximum": 600,
        }
        assert tool.input_schema["properties"]["speech_speed"]["minimum"] == 0.9
        is_error, refused, _ = await call(client, "update_assistant", {"id": 12, "max_call_duration": 900})
        assert is_error
        (problem,) = refused["problems"]
        assert (problem["code"], problem["allowed"]["maximum"]) == ("policy", 600)
        assert "600" in problem["message"]
        is_error, _, _ = await call(client, "update_assistant", {"id": 12, "max_call_duration": 600})
        assert not is_error
    assert [r.body for r in sandbox.state.updates()] == [{"max_call_duration": 600}]


async def test_allowed_assistants_by_id_and_name_pattern(sandbox: SandboxServer, tmp_path: Path):
    """allowed_assistants takes ids and name patterns; any other assistant is refused on its id."""
    async with Client(server_with(sandbox, tmp_path, 'allowed_assistants = [14, "riyadh *"]\n')) as client:
        assert not (await call(client, "update_assistant", {"id": 12, "max_call_duration": 300}))[0]
        assert not (await call(client, "update_assistant", {"id": 14, "max_call_duration": 300}))[0]
        is_error, refused, _ = await call(client, "update_assistant", {"id": 13, "max_call_duration": 300})
    assert is_error
    assert [(p["field"], p["code"]) for p in refused["problems"]] == [("id", "policy")]
    assert [r.path for r in sandbox.state.updates()] == ["/user/assistant/12", "/user/assistant/14"]


async def test_policy_applies_to_change_sets_all_or_nothing(sandbox: SandboxServer, tmp_path: Path):
    """A change set touching one assistant outside the policy is refused whole; nothing is sent."""
    async with Client(server_with(sandbox, tmp_path, 'allowed_assistants = ["Campaign Agent*"]\n')) as client:
        is_error, refused, _ = await call(
            client, "update_assistants", {"ids": [101, 12], "changes": {"max_call_duration": 300}}
        )
    assert is_error
    assert {m["id"]: m["outcome"] for m in refused["assistants"]} == {101: "not_sent", 12: "refused"}
    assert sandbox.state.updates() == []


def test_a_token_gets_its_own_policy_inheriting_the_rest():
    """[tokens.<name>] overrides top-level keys for that token; others get the top level."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        path = policy_file(
            Path(tmp),
            'denied_fields = ["system_prompt"]\n[tokens.viewer]\nread_only = true\n[tokens.ops]\nconfirm = "always"\n',
        )
        policies = load_policies(path)
    assert policies.for_actor("token:viewer").read_only
    ops = policies.for_actor("token:ops")
    assert (ops.read_only, ops.rules.confirm, ops.field_allowed("system_prompt")) == (False, "always", False)
    assert not policies.for_actor("local:alice").read_only
    trust = Trust(policies=policies, auth_mode="shared", tokens=[("viewer", "t-1"), ("ops", "t-2")])

    headers = {"authorization": "Bearer t-2"}
    assert trust.actor(headers) == "token:ops"
    assert trust.caller(headers, account="acct").policy is ops


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ("read_only = true\nconfirm = \n", 2, "Invalid value"),
        (
            "read_only = true\n\n[bounds]\nmax_call_duration = { max = 600 }\nspeech_sped = { max = 1 }\n",
            5,
            "speech_sped",
        ),
        ('denied_fields = ["system_prompt", "voice"]\n', 1, "'voice' is not an update_assistant field"),
        ("[bounds]\nmax_call_duration = { min = 700, max = 600 }\n", 2, "min 700 is above max 600"),
        ('read_only = "yes"\n', 1, "read_only"),
        ("\n\nreadonly = true\n", 3, "readonly"),
        ('[tokens.ops]\nconfirm = "sometimes"\n', 2, "confirm"),
        ("[bounds]\ntimezone = { max = 3 }\n", 2, "numeric"),
        ("[bounds]\nmax_call_duration = { max = inf }\n", 2, "finite"),
        ("[bounds]\nmax_call_duration = { min = -inf }\n", 2, "finite"),
        ("[bounds]\nspeech_speed = { min = nan }\n", 2, "finite"),
        ("[bounds]\nspeech_speed = { min = 0.8, max = +inf }\n", 2, "finite"),
        ("read_only = false\n[tokens.ops.bounds]\nllm_temperature = { max = nan }\n", 3, "finite"),
        (
            "[bounds]\nspeech_speed = { max = 1 }\nmax_call_duration = { max = 5 }\n",
            3,
            "below the contract's minimum 20",
        ),
        ("[bounds]\nmax_call_duration = { min = 5000 }\n", 2, "above the contract's maximum 1200"),
        ("[bounds]\nspeech_speed = { max = 0.5 }\n", 2, "below the contract's minimum 0.7"),
        ("[bounds]\nmin_interrupt_words = { min = 11, max = 12 }\n", 2, "above the contract's maximum 10"),
        ("[bounds]\nmax_call_duration = { min = 20.2, max = 20.8 }\n", 2, "no whole number"),
        ("read_only = false\n\n[tokens.ops]\nbounds = { max_silence_duration = { max = 0 } }\n", 4, "minimum 1"),
    ],
)
def test_a_bad_policy_is_refused_with_its_line(tmp_path: Path, text: str, line: int, fragment: str):
    """Syntax and schema errors name the file's line and what is wrong."""
    with pytest.raises(PolicyError) as info:
        load_policies(policy_file(tmp_path, text))
    message = str(info.value)
    assert f"line {line}" in message
    assert fragment in message


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("read_only = true\n".encode("utf-16"), "not UTF-8"),
        (b"read_only = false\n# caf\xe9\n", "not UTF-8"),
        (b"\xff\xfe\x00", "not UTF-8"),
    ],
    ids=["utf-16", "latin-1-comment", "garbage"],
)
def test_a_policy_that_is_not_utf8_is_refused_naming_the_file(tmp_path: Path, content: bytes, fragment: str):
    """A file in another encoding is a PolicyError naming the file, not a traceback."""
    path = tmp_path / "policy.toml"
    path.write_bytes(content)
    with pytest.raises(PolicyError) as info:
        load_policies(path)
    assert str(path) in str(info.value)
    assert fragment in str(info.value)


@pytest.mark.parametrize(
    ("content", "fragments"),
    [
        (b'read_only = false\n[bounds]\nmax_call_duration = { max = "ten minutes" }\n', ["line 3"]),
        (b"read_only = false\n# caf\xe9\n", ["line 2", "not UTF-8"]),
        (b"[bounds]\nspeech_speed = { max = inf }\n", ["line 2", "finite"]),
        (b"[bounds]\nmax_call_duration = { max = 5 }\n", ["line 2", "max_call_duration"]),
    ],
    ids=["wrong-type", "not-utf8", "infinite-bound", "impossible-bound"],
)
def test_a_bad_policy_stops_start_up_with_exit_2_and_one_line(tmp_path: Path, content: bytes, fragments: list[str]):
    """The installed command exits 2 with one line naming SONDOS_POLICY and the line."""
    path = tmp_path / "policy.toml"
    path.write_bytes(content)
    proc = subprocess.run(
        server_command(),
        env={"SONDOS_POLICY": str(path), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "SONDOS_POLICY" in lines[0]
    assert "Traceback" not in proc.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def test_the_documented_policy_example_loads_as_described(tmp_path: Path):
    """The example in docs/journal.md is a valid policy with the limits it describes."""
    import re

    doc = (Path(__file__).resolve().parent.parent / "docs" / "journal.md").read_text("utf-8")
    example = re.search(r"```toml\n(.*?)```", doc, re.S)
    assert example is not None
    policies = load_policies(policy_file(tmp_path, example[1]))
    default = policies.default
    assert default.bounds("max_call_duration") == (20, 600)
    assert not default.field_allowed("webhook_url")
    assert default.needs_confirmation(16, "London Bookings", ["max_call_duration"])
    assert not default.needs_confirmation(12, "Riyadh Sales", ["max_call_duration"])
    assert policies.for_actor("token:support").read_only
    assert policies.for_actor("token:ops").rules.confirm == "never"


def test_a_person_gets_the_first_matching_group_table_then_scope_table_then_the_top_level(tmp_path: Path):
    """Groups before scopes, each in the file's order; unset keys inherit the top level."""
    policies = load_policies(
        policy_file(
            tmp_path,
            'read_only = true\ndenied_fields = ["webhook_url"]\n'
            '[groups.leads]\nread_only = false\nallowed_fields = ["max_call_duration"]\n'
            "[groups.ops]\nread_only = false\n"
            '[scopes."sondos:admin"]\nread_only = false\nconfirm = "always"\n',
        )
    )
    assert policies.for_person(["ops", "leads"], []).name == "group:leads"
    assert policies.for_person(["ops"], ["sondos:admin"]).name == "group:ops"
    assert policies.for_person(["staff"], ["sondos:read", "sondos:admin"]).name == "scope:sondos:admin"
    assert policies.for_person([], ["sondos:read"]) is policies.default
    lead = policies.for_person(["leads"], [])
    assert not lead.read_only
    assert not lead.field_allowed("webhook_url")
    assert lead.field_allowed("max_call_duration")
    assert not lead.field_allowed("speech_speed")
    assert policies.default.read_only
