"""HTTP oauth mode with a real issuer on 127.0.0.1 (keys made here): metadata, bad tokens, scopes,
people kept apart, policies by group. Enrolment and the vault: tests/test_enrolment.py."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from sondos_mcp.oauth import JWKS_MIN_REFRESH, OAuthSettings, TokenChecker, TokenRefused
from sondos_mcp.sandbox import DEMO_KEY, OTHER_KEY, SandboxServer
from tests.conftest import call
from tests.oauth_issuer import Issuer, Served, hmac_with, issuer_fixture, make_key, oauth_settings, serving, unsigned  # noqa: F401

pytestmark = pytest.mark.anyio

ACCEPT = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}


@pytest.fixture(scope="module")
def shared_sandbox() -> Iterator[SandboxServer]:
    with SandboxServer() as server:
        yield server


POLICY = """
[groups.support-leads]
allowed_fields = ["max_call_duration", "max_silence_duration"]
[scopes."sondos:admin"]
read_only = false
"""


@pytest.fixture(scope="module")
def served(issuer: Issuer, shared_sandbox: SandboxServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """One server for this module (tests keep to their own people and assistants): support leads may
    change timing fields only."""
    folder = tmp_path_factory.mktemp("oauth")
    policy = folder / "policy.toml"
    policy.write_text(POLICY, "utf-8")
    with serving(shared_sandbox.base_url, issuer, folder, policy=policy) as server:
        yield server


def sent_since(sandbox: SandboxServer, count: int) -> list[Any]:
    return sandbox.state.updates()[count:]


def post(url: str, token: str | None, body: Any = INIT, **headers: str) -> httpx.Response:
    auth = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return httpx.post(f"{url}/mcp", headers=ACCEPT | auth | headers, content=json.dumps(body), timeout=10)


@asynccontextmanager
async def session(url: str, token: str, key: str | None = DEMO_KEY, **kw: Any) -> AsyncIterator[Client]:
    headers = {"Authorization": f"Bearer {token}"} | ({"X-Sondos-Api-Key": key} if key else {})
    async with (
        httpx2.AsyncClient(headers=headers, timeout=30) as http,
        Client(streamable_http_client(f"{url}/mcp", http_client=http), **kw) as client,
    ):
        yield client


# --- metadata and challenges ---------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/.well-known/oauth-protected-resource/mcp", "/.well-known/oauth-protected-resource"])
def test_protected_resource_metadata_names_the_resource_issuer_and_scopes(served: Served, issuer: Issuer, path: str):
    """RFC 9728 metadata, without a token, at both well-known paths: the issuer exactly as configured."""
    response = httpx.get(served.url + path)
    assert response.status_code == 200
    assert response.json() | {"resource_name": None} == {
        "resource": f"{served.url}/mcp",
        "authorization_servers": [issuer.url],
        "scopes_supported": ["sondos:read", "sondos:write"],
        "bearer_methods_supported": ["header"],
        "resource_name": None,
    }


def test_no_token_is_401_pointing_to_the_metadata_without_an_error_code(served: Served):
    response = post(served.url, None)
    assert response.status_code == 401
    metadata = f"{served.url}/.well-known/oauth-protected-resource/mcp"
    assert response.headers["www-authenticate"] == f'Bearer resource_metadata="{metadata}"'


@pytest.mark.parametrize("kid", ["ec1", "rsa1", "ed1"])
def test_a_good_token_signed_with_each_published_algorithm_is_accepted(served: Served, issuer: Issuer, kid: str):
    """ES256, RS256 and EdDSA tokens for this resource from this issuer open /mcp."""
    response = post(served.url, issuer.token(served.resource, kid=kid))
    assert response.status_code == 200, response.text
    assert response.json()["result"]["serverInfo"]["name"] == "sondos-mcp"


def bad_tokens(issuer: Issuer, resource: str) -> dict[str, str]:
    now = int(time.time())
    good = {"iss": issuer.url, "aud": resource, "sub": "mallory", "scope": "sondos:read sondos:write"}
    claims = good | {"iat": now, "exp": now + 300}
    stranger = make_key("ec", "ec1")  # an unpublished key that claims a published key id
    rsa_pem = issuer.keys["rsa1"].public_pem()
    return {
        "signed with another key": issuer.token(resource, key=stranger),
        "signed with an unknown key id": issuer.token(resource, key=make_key("ec", "nobody")),
        "expired": issuer.token(resource, lifetime=-120),
        "not yet valid (nbf)": issuer.token(resource, nbf=now + 600),
        "for another audience": issuer.token("https://other.example/mcp"),
        "for this server's origin, not its /mcp resource": issuer.token(resource.removesuffix("/mcp")),
        "from another issuer": issuer.token(resource, iss="https://evil.example"),
        "alg none": unsigned(claims),
        "HMAC with the public key": hmac_with(rsa_pem, claims, "rsa1"),
        "HMAC with the public JWK": hmac_with(json.dumps(issuer.keys["rsa1"].public_jwk()).encode(), claims, "rsa1"),
        "without exp": issuer.token(resource, exp=None),
        "without a subject": issuer.token(resource, sub=None),
        "a tampered payload": _tampered(issuer.token(resource)),
        "not a JWT (and no introspection)": "opaque-token-1234567890",
    }


def _tampered(token: str) -> str:
    head, body, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["sub"] = "admin"
    forged = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{forged}.{signature}"


BAD = [
    "signed with another key",
    "signed with an unknown key id",
    "expired",
    "not yet valid (nbf)",
    "for another audience",
    "for this server's origin, not its /mcp resource",
    "from another issuer",
    "alg none",
    "HMAC with the public key",
    "HMAC with the public JWK",
    "without exp",
    "without a subject",
    "a tampered payload",
    "not a JWT (and no introspection)",
]


@pytest.mark.parametrize("case", BAD)
def test_bad_tokens_are_refused_with_invalid_token(
    served: Served, issuer: Issuer, shared_sandbox: SandboxServer, case: str
):
    """Each bad token is a 401 naming invalid_token and the metadata; nothing reaches the API."""
    before = len(shared_sandbox.state.received)
    call_tool = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "list_assistants"}}
    token = bad_tokens(issuer, served.resource)[case]
    for body in (INIT, call_tool):
        response = post(served.url, token, body, **{"X-Sondos-Api-Key": DEMO_KEY})
        assert response.status_code == 401, case
        metadata = f"{served.url}/.well-known/oauth-protected-resource/mcp"
        assert response.headers["www-authenticate"] == f'Bearer resource_metadata="{metadata}", error="invalid_token"'
    assert len(shared_sandbox.state.received) == before


async def test_each_bad_token_is_refused_for_its_own_reason(issuer: Issuer, served: Served):
    """The checker's reasons: each refusal is the check it names, not a side effect of another."""
    checker = TokenChecker(OAuthSettings(issuer=issuer.url, resource=served.resource))
    tokens = bad_tokens(issuer, served.resource)
    reasons = {}
    for case in BAD:
        with pytest.raises(TokenRefused) as refused:
            await checker.check(tokens[case])
        reasons[case] = str(refused.value)
    await checker.aclose()
    assert reasons["expired"] == "the token has expired"
    assert reasons["for another audience"] == "the token is not for this resource (aud)"
    assert reasons["from another issuer"] == "the token was issued by another issuer"
    assert reasons["alg none"].startswith("algorithm 'none' is not accepted")
    assert reasons["HMAC with the public key"].startswith("algorithm 'HS256' is not accepted")
    assert reasons["signed with another key"] == "the signature does not verify"
    assert reasons["signed with an unknown key id"] == "signed with a key the issuer does not publish"
    assert reasons["not yet valid (nbf)"].startswith("the token is not valid yet")
    assert reasons["without exp"].startswith("the token lacks a required claim")


async def test_signing_keys_are_cached_and_fetched_again_only_for_an_unknown_key_id(issuer: Issuer, served: Served):
    """Many tokens cost one key-set fetch; a rotated-in key is found by one more; a flood of
    unknown key ids within the refresh interval costs none."""
    checker = TokenChecker(OAuthSettings(issuer=issuer.url, resource=served.resource))
    start = issuer.jwks_fetches
    for kid in ["ec1", "rsa1", "ed1"] * 5:
        await checker.check(issuer.token(served.resource, kid=kid))
    assert issuer.jwks_fetches == start + 1
    rotated = issuer.add("ec", f"ec-rotated-{time.monotonic_ns()}")
    checker._keys.fetched -= JWKS_MIN_REFRESH  # the last fetch is older than the refresh interval
    claims = await checker.check(issuer.token(served.resource, key=rotated))
    assert claims["sub"] == "alice-sub"
    assert issuer.jwks_fetches == start + 2
    for n in range(20):
        with pytest.raises(TokenRefused):
            await checker.check(issuer.token(served.resource, key=make_key("ec", f"made-up-{n}")))
    assert issuer.jwks_fetches == start + 2
    await checker.aclose()


INTROSPECTED = {
    "an active token for this resource": ({"active": True}, None),
    "an inactive token": ({"active": False}, "the introspection endpoint says the token is not active"),
    "a token for another resource": ({"aud": "https://other.example/mcp"}, "the token is not for this resource (aud)"),
    "a token from another issuer": ({"iss": "https://evil.example"}, "the token was issued by another issuer"),
    "an expired token": ({"exp": 1_000_000}, "the token has expired (or states no expiry)"),
    "a token without a subject": ({"sub": None}, "the token names no subject"),
}


@pytest.mark.parametrize("case", INTROSPECTED)
async def test_an_opaque_token_is_judged_by_rfc_7662_introspection(issuer: Issuer, served: Served, case: str):
    """Asked with the server's client credentials; accepted only when active, for this resource, from
    this issuer, unexpired and naming a subject; an accepted answer is reused, not asked again."""
    changes, reason = INTROSPECTED[case]
    token = f"opaque-{case.replace(' ', '-')}"
    answer = {"active": True, "iss": issuer.url, "aud": [served.resource, "other"], "sub": "olga"}
    answer |= {"scope": "sondos:read", "exp": int(time.time()) + 300}
    issuer.opaque[token] = {k: v for k, v in (answer | changes).items() if v is not None}
    client_id, secret = issuer.client
    checker = TokenChecker(
        OAuthSettings(
            issuer=issuer.url,
            resource=served.resource,
            introspection_url=f"{issuer.url}/introspect",
            client_id=client_id,
            client_secret=secret,
        )
    )
    asked = issuer.introspections
    try:
        if reason is None:
            for _ in range(3):
                claims = await checker.check(token)
            assert checker.person(claims).subject == "olga"
            assert checker.person(claims).scopes == {"sondos:read"}
            assert issuer.introspections == asked + 1
        else:
            with pytest.raises(TokenRefused) as refused:
                await checker.check(token)
            assert str(refused.value) == reason
    finally:
        await checker.aclose()


async def test_introspection_with_wrong_client_credentials_refuses_the_token(issuer: Issuer, served: Served):
    issuer.opaque["opaque-good"] = {"active": True, "iss": issuer.url, "aud": served.resource, "sub": "o", "exp": 2**40}
    checker = TokenChecker(
        OAuthSettings(
            issuer=issuer.url,
            resource=served.resource,
            introspection_url=f"{issuer.url}/introspect",
            client_id="sondos-rs",
            client_secret="wrong",
        )
    )
    with pytest.raises(TokenRefused):
        await checker.check("opaque-good")
    await checker.aclose()


# --- scopes ------------------------------------------------------------------------------------


CHANGES = [
    ("update_assistant", {"id": 12, "speech_speed": 0.9}),
    ("update_assistants", {"ids": [12], "changes": {"speech_speed": 0.9}}),
    ("undo_change", {"id": "chg-0123456789"}),
]


async def test_a_read_scope_token_reads_and_every_change_is_refused_with_nothing_sent(
    served: Served, shared_sandbox: SandboxServer, issuer: Issuer
):
    """sondos:read alone: the read tools work; each change is a 403 asking for sondos:write (the
    SEP-835 step-up), before anything is sent or journaled."""
    sandbox, count = shared_sandbox, len(shared_sandbox.state.updates())
    token = issuer.token(served.resource, sub="reader", scope="sondos:read")
    async with session(served.url, token) as client:
        is_error, listed, _ = await call(client, "list_assistants", {})
        assert not is_error, listed
        is_error, changes, _ = await call(client, "list_changes", {})
        assert not is_error, changes
    for name, arguments in CHANGES:
        body = {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": name, "arguments": arguments}}
        response = post(served.url, token, body, **{"X-Sondos-Api-Key": DEMO_KEY})
        assert response.status_code == 403, name
        assert (
            response.headers["www-authenticate"]
            == 'Bearer error="insufficient_scope", scope="sondos:read sondos:write"'
        )
    full = issuer.token(served.resource, sub="reader")
    async with session(served.url, full) as client:
        _, listed, _ = await call(client, "list_changes", {})
    assert sent_since(sandbox, count) == []
    assert listed["changes"] == []


async def test_a_token_without_any_sondos_scope_is_403_asking_for_read(served: Served, issuer: Issuer):
    response = post(served.url, issuer.token(served.resource, scope="openid email"))
    assert response.status_code == 403
    assert response.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="sondos:read"'


# --- people ------------------------------------------------------------------------------------


async def test_two_people_with_one_key_each_list_and_undo_only_their_own_changes(
    served: Served, shared_sandbox: SandboxServer, issuer: Issuer
):
    """Alice and Bob act with the same Sondos key on the same assistant: the journal names each,
    each lists only their own change, and neither can undo the other's."""
    sandbox, count = shared_sandbox, len(shared_sandbox.state.updates())
    alice = issuer.token(served.resource, sub="alice-sub", email="alice@example.com")
    bob = issuer.token(served.resource, sub="bob-sub", preferred_username="bob")
    async with session(served.url, alice) as a, session(served.url, bob) as b:
        is_error, mine, _ = await call(a, "update_assistant", {"id": 13, "max_call_duration": 300})
        assert not is_error, mine
        is_error, theirs, _ = await call(b, "update_assistant", {"id": 13, "max_silence_duration": 20})
        assert not is_error, theirs
        _, alice_list, _ = await call(a, "list_changes", {})
        _, bob_list, _ = await call(b, "list_changes", {})
        is_error, refused, _ = await call(b, "undo_change", {"id": mine["change_id"]})
        assert is_error
        assert refused["error"]["kind"] == "not_found"
        is_error, undone, _ = await call(a, "undo_change", {"id": mine["change_id"]})
        assert not is_error, undone["fields"]
    assert [(c["id"], c["actor"]) for c in alice_list["changes"]] == [
        (mine["change_id"], "oauth:alice-sub (alice@example.com)")
    ]
    assert [(c["id"], c["actor"]) for c in bob_list["changes"]] == [(theirs["change_id"], "oauth:bob-sub (bob)")]
    assert [r.body for r in sent_since(sandbox, count)] == [
        {"max_call_duration": 300},
        {"max_silence_duration": 20},
        {"max_call_duration": 600},
    ]


async def test_people_with_different_keys_act_with_their_own(
    served: Served, shared_sandbox: SandboxServer, issuer: Issuer
):
    """The key header keeps working under sign-in: each call goes upstream with the key it carries."""
    count = len(shared_sandbox.state.updates())
    async with session(served.url, issuer.token(served.resource, sub="carol"), key=OTHER_KEY) as client:
        is_error, result, _ = await call(client, "update_assistant", {"id": 21, "speech_speed": 0.9})
    assert not is_error, result
    assert [r.authorization for r in sent_since(shared_sandbox, count)] == [f"Bearer {OTHER_KEY}"]


async def test_a_group_claim_chooses_the_policy(served: Served, shared_sandbox: SandboxServer, issuer: Issuer):
    """`[groups.support-leads]` lets its members change timing fields only; others keep the top level."""
    sandbox, count = shared_sandbox, len(shared_sandbox.state.updates())
    lead = issuer.token(served.resource, sub="lead", groups=["staff", "support-leads"])
    other = issuer.token(served.resource, sub="other", groups=["staff"])
    async with session(served.url, lead) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        timing, t_result, _ = await call(client, "update_assistant", {"id": 14, "max_call_duration": 300})
        prompt, p_result, _ = await call(client, "update_assistant", {"id": 14, "system_prompt": "Be brief."})
    async with session(served.url, other) as client:
        free, f_result, _ = await call(client, "update_assistant", {"id": 14, "system_prompt": "Be brief."})
    assert "system_prompt" not in tools["update_assistant"].input_schema["properties"]
    assert "forget_sondos_key" in tools
    assert not timing, t_result
    assert prompt
    assert p_result["problems"][0]["code"] == "policy"
    assert not free, f_result
    assert [r.body for r in sent_since(sandbox, count)] == [{"max_call_duration": 300}, {"system_prompt": "Be brief."}]
