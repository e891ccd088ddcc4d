"""Resources through real MCP sessions: what each one holds is what its tool returns, per account."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from mcp import Client
from mcp.shared.exceptions import MCPError
from mcp_types import INTERNAL_ERROR, INVALID_PARAMS, PromptReference
from pydantic import SecretStr

from sondos_mcp.resources import LOOKUP_TOOLS, reads_as
from sondos_mcp.sandbox import DEMO_KEY, OTHER_KEY, SandboxServer
from sondos_mcp.sandbox.loopback import ThreadedServer
from sondos_mcp.server import build_server
from sondos_mcp.tools import TOOLS_BY_NAME
from sondos_mcp.ui import VIEW_URI
from tests.conftest import call, make_settings
from tests.oauth_issuer import Issuer, Served, issuer_fixture, serving  # noqa: F401
from tests.test_http import http_settings, mcp_session
from tests.test_oauth import session as oauth_session

pytestmark = pytest.mark.anyio

JSON = "application/json"


async def read_json(client: Client, uri: str) -> Any:
    result = await client.read_resource(uri)
    (content,) = result.contents
    assert content.uri == uri
    assert content.mime_type == JSON
    return json.loads(content.text)  # type: ignore[union-attr]


async def test_resources_and_templates_are_listed_with_names_descriptions_and_types(reader: Client):
    """resources/list names the four lookup lists and the change view; the templates name one
    assistant and one journal entry. Each has a name, a description and a MIME type."""
    listed = (await reader.list_resources()).resources
    assert [r.uri for r in listed] == [
        "sondos://voices",
        "sondos://languages",
        "sondos://models",
        "sondos://phone-numbers",
        VIEW_URI,
    ]
    templates = (await reader.list_resource_templates()).resource_templates
    assert [t.uri_template for t in templates] == ["sondos://assistants/{id}", "sondos://changes/{change_id}"]
    for item in [*listed, *templates]:
        assert item.name
        assert item.description
        assert item.mime_type in (JSON, "text/html;profile=mcp-app")


@pytest.mark.parametrize(
    ("uri", "tool"),
    [
        ("sondos://voices", "list_voices"),
        ("sondos://languages", "list_languages"),
        ("sondos://models", "list_models"),
        ("sondos://phone-numbers", "list_phone_numbers"),
    ],
)
async def test_lookup_resource_holds_what_its_list_tool_returns(reader: Client, uri: str, tool: str):
    """Each lookup list reads as the items its list_* tool returns, from the same cache."""
    _, structured, _ = await call(reader, tool, {})
    assert structured["items"]
    assert await read_json(reader, uri) == structured["items"]


async def test_assistant_resource_holds_what_get_assistant_returns(reader: Client):
    """sondos://assistants/{id} is get_assistant's view: settings in update_assistant names, the rest apart."""
    _, structured, _ = await call(reader, "get_assistant", {"id": 14})
    read = await read_json(reader, "sondos://assistants/14")
    assert read == structured["assistant"]
    assert read["settings"]["language"] == "English"
    assert read["settings"]["timezone"] == "Asia/Dubai"


async def test_assistant_resource_reads_the_assistant_as_changed(client: Client, sandbox: SandboxServer):
    """An update is seen by the next read of the resource (the update forgets the cached list)."""
    assert (await read_json(client, "sondos://assistants/16"))["settings"]["max_call_duration"] == 600
    await call(client, "update_assistant", {"id": 16, "max_call_duration": 300})
    assert sandbox.state.assistants[16]["max_duration"] == 300
    assert (await read_json(client, "sondos://assistants/16"))["settings"]["max_call_duration"] == 300


async def test_change_resource_is_the_journal_entry_as_list_changes_shows_it(client: Client):
    """sondos://changes/{change_id} holds the entry list_changes lists: before → after, outcome, actor."""
    _, applied, _ = await call(client, "update_assistant", {"id": 13, "max_call_duration": 900})
    change_id = applied["change_id"]
    _, listed, _ = await call(client, "list_changes", {"assistant_id": 13})
    (entry,) = [c for c in listed["changes"] if c["id"] == change_id]
    read = await read_json(client, f"sondos://changes/{change_id}")
    assert read == entry
    assert read["fields"] == [{"field": "max_call_duration", "before": 600, "before_known": True, "after": 900}]
    assert read["outcome"] == "applied"


async def test_another_accounts_assistants_and_changes_are_not_readable(sandbox: SandboxServer):
    """A key reads only its own account: the other account's assistant is not found, and so is a
    change journaled with the other key, though both servers share one journal file."""
    async with Client(build_server(make_settings(sandbox.base_url))) as mine:
        _, applied, _ = await call(mine, "update_assistant", {"id": 12, "max_call_duration": 500})
        assert (await read_json(mine, f"sondos://changes/{applied['change_id']}"))["assistant_id"] == 12
    other = make_settings(sandbox.base_url, api_key=SecretStr(OTHER_KEY))
    async with Client(build_server(other)) as theirs:
        assert (await read_json(theirs, "sondos://assistants/21"))["name"] == "Other Team Receptionist"
        for uri in ("sondos://assistants/12", f"sondos://changes/{applied['change_id']}"):
            with pytest.raises(MCPError) as refused:
                await theirs.read_resource(uri)
            assert refused.value.error.code == INVALID_PARAMS
            assert refused.value.error.data["kind"] == "not_found"


async def test_each_http_caller_reads_resources_with_their_own_key(sandbox: SandboxServer):
    """Over HTTP with per-user keys, a resource is read with the key its caller sent, and only that."""
    with ThreadedServer(build_http(sandbox), lifespan="on") as server:
        seen = {}
        for key in (DEMO_KEY, OTHER_KEY):
            async with mcp_session(server.base_url, {"X-Sondos-Api-Key": key}) as client:
                seen[key] = {p["id"] for p in await read_json(client, "sondos://phone-numbers")}
    assert seen == {DEMO_KEY: {101, 102, 103, 104}, OTHER_KEY: {201}}
    keys = {r.authorization for r in sandbox.state.received if r.path == "/user/assistants/phone-numbers"}
    assert keys == {f"Bearer {DEMO_KEY}", f"Bearer {OTHER_KEY}"}


def build_http(sandbox: SandboxServer) -> Any:
    from sondos_mcp.http import create_app

    return create_app(http_settings(sandbox, http_auth="per_user"))


@pytest.mark.parametrize(
    ("uri", "kind"),
    [
        ("sondos://assistants/999", "not_found"),
        ("sondos://changes/chg-0123456789", "not_found"),
        ("sondos://assistants/0", "invalid_arguments"),
        ("sondos://assistants/12abc", "invalid_arguments"),
        ("sondos://assistants/99999999999999999999", "invalid_arguments"),
        ("sondos://changes/set-0123456789", "invalid_arguments"),
        ("sondos://changes/../../etc/passwd", "invalid_arguments"),
        ("test://static-text", "invalid_arguments"),
    ],
)
async def test_a_uri_nothing_answers_to_is_invalid_params_with_its_kind(reader: Client, uri: str, kind: str):
    """A URI no resource answers to, or an id that does not exist, is JSON-RPC -32602 saying which."""
    with pytest.raises(MCPError) as refused:
        await reader.read_resource(uri)
    assert refused.value.error.code == INVALID_PARAMS
    assert refused.value.error.data["kind"] == kind


async def test_an_upstream_failure_is_an_internal_error_saying_to_retry(sandbox: SandboxServer):
    """The API failing is a JSON-RPC internal error whose data says the kind and that a retry may help;
    the API key appears nowhere in it."""
    async with Client(build_server(make_settings(sandbox.base_url))) as client:
        sandbox.state.fail_next(503)
        with pytest.raises(MCPError) as failed:
            await client.read_resource("sondos://voices")
    error = failed.value.error
    assert error.code == INTERNAL_ERROR
    assert error.data["kind"] == "upstream_unavailable"
    assert error.data["retryable"] is True
    assert DEMO_KEY not in json.dumps(error.model_dump(mode="json"))


# --- signed-in people (HTTP oauth mode) ------------------------------------------------------


@pytest.fixture(scope="module")
def signed_in(issuer: Issuer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with SandboxServer() as sandbox, serving(sandbox.base_url, issuer, tmp_path_factory.mktemp("oauth")) as server:
        yield server


async def test_signed_in_people_read_with_their_key_and_only_their_own_changes(signed_in: Served, issuer: Issuer):
    """Under sign-in, a resource is read as the tool whose data it is: with the person's key, and a
    journal entry only by the person who made it; without a key on file, the read names where to
    enrol one (so does completing from the account), while the view and fixed completions need no key."""
    alice = issuer.token(signed_in.resource, sub="alice-res")
    bob = issuer.token(signed_in.resource, sub="bob-res")
    async with oauth_session(signed_in.url, alice) as a, oauth_session(signed_in.url, bob) as b:
        _, made, _ = await call(a, "update_assistant", {"id": 15, "max_silence_duration": 25})
        uri = f"sondos://changes/{made['change_id']}"
        assert (await read_json(a, uri))["fields"][0]["after"] == 25
        with pytest.raises(MCPError) as refused:
            await b.read_resource(uri)
        assert refused.value.error.data["kind"] == "not_found"
        ids = {r["id"] for r in await read_json(a, "sondos://phone-numbers")}
        assert ids == {101, 102, 103, 104}
    async with oauth_session(signed_in.url, issuer.token(signed_in.resource, sub="carol-res"), key=None) as c:
        with pytest.raises(MCPError) as keyless:
            await c.read_resource("sondos://voices")
        assert keyless.value.error.data["kind"] == "key_required"
        assert keyless.value.error.data["enrol_url"].startswith(signed_in.url)
        (view,) = (await c.read_resource(VIEW_URI)).contents
        assert view.mime_type == "text/html;profile=mcp-app"
        goals = await c.complete(
            PromptReference(type="ref/prompt", name="tune_assistant"), {"name": "goal", "value": "short"}
        )
        assert goals.completion.values == ["shorter calls"]
        with pytest.raises(MCPError) as keyless:
            await c.complete(
                PromptReference(type="ref/prompt", name="localize_assistant"), {"name": "voice", "value": ""}
            )
        assert keyless.value.error.data["kind"] == "key_required"


@pytest.mark.parametrize("uri", [*LOOKUP_TOOLS, "sondos://assistants/12", "sondos://changes/chg-0123456789"])
def test_each_resource_reads_as_a_read_only_tool(uri: str):
    """A resource takes the key and scope of a tool that changes nothing (so a read scope suffices)."""
    tool = TOOLS_BY_NAME[reads_as(uri) or ""]
    assert not tool.writes
