"""A small authorization server for the main suite: discovery and a JWK set over real HTTP on
127.0.0.1, and access tokens signed with keys made here (RS256, ES256, EdDSA). The end-to-end
sign-in against a certified provider (oidc-provider) is in tests/interop/test_oauth_interop.py."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sondos_mcp.config import Settings
from sondos_mcp.http import create_app
from sondos_mcp.sandbox.loopback import ThreadedServer
from tests.conftest import free_port

ALGORITHM_OF = {"rsa": "RS256", "ec": "ES256", "ed": "EdDSA"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class SigningKey:
    kid: str
    kind: str  # rsa | ec | ed
    private: Any

    @property
    def alg(self) -> str:
        return ALGORITHM_OF[self.kind]

    def public_jwk(self) -> dict[str, Any]:
        algorithm = jwt.get_algorithm_by_name(self.alg)
        jwk = json.loads(algorithm.to_jwk(self.private.public_key()))
        return jwk | {"kid": self.kid, "use": "sig", "alg": self.alg}

    def public_pem(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


def make_key(kind: str, kid: str) -> SigningKey:
    if kind == "rsa":
        private: Any = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    elif kind == "ec":
        private = ec.generate_private_key(ec.SECP256R1())
    else:
        private = ed25519.Ed25519PrivateKey.generate()
    return SigningKey(kid, kind, private)


@dataclass
class Issuer:
    """Serves /.well-known/openid-configuration and /jwks; `published` is what the key set shows."""

    keys: dict[str, SigningKey] = field(default_factory=dict)
    published: list[str] = field(default_factory=list)
    jwks_fetches: int = 0
    # RFC 7662: what /introspect answers per opaque token, and how often it was asked.
    opaque: dict[str, dict[str, Any]] = field(default_factory=dict)
    introspections: int = 0
    client: tuple[str, str] = ("sondos-rs", "rs-secret")
    server: ThreadedServer | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        return self.server.base_url

    def app(self) -> Starlette:
        async def metadata(_: Request) -> Response:
            return JSONResponse(
                {
                    "issuer": self.url,
                    "jwks_uri": f"{self.url}/jwks",
                    "authorization_endpoint": f"{self.url}/authorize",
                    "token_endpoint": f"{self.url}/token",
                    "response_types_supported": ["code"],
                }
            )

        async def jwks(_: Request) -> Response:
            self.jwks_fetches += 1
            return JSONResponse({"keys": [self.keys[kid].public_jwk() for kid in self.published]})

        async def introspect(request: Request) -> Response:
            self.introspections += 1
            expected = "Basic " + base64.b64encode(":".join(self.client).encode()).decode()
            if request.headers.get("authorization") != expected:
                return JSONResponse({"error": "invalid_client"}, status_code=401)
            token = (await request.form()).get("token")
            return JSONResponse(self.opaque.get(str(token), {"active": False}))

        return Starlette(
            routes=[
                Route("/.well-known/openid-configuration", metadata, methods=["GET"]),
                Route("/jwks", jwks, methods=["GET"]),
                Route("/introspect", introspect, methods=["POST"]),
            ]
        )

    def start(self) -> Issuer:
        self.server = ThreadedServer(self.app()).start()
        return self

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()

    def add(self, kind: str, kid: str, *, publish: bool = True) -> SigningKey:
        key = self.keys[kid] = make_key(kind, kid)
        if publish:
            self.published.append(kid)
        return key

    def token(
        self,
        resource: str,
        *,
        sub: str = "alice-sub",
        scope: str = "sondos:read sondos:write",
        kid: str = "ec1",
        lifetime: int = 300,
        header: dict[str, Any] | None = None,
        key: SigningKey | None = None,
        **claims: Any,
    ) -> str:
        now = int(time.time())
        signer = key or self.keys[kid]
        payload = {"iss": self.url, "aud": resource, "sub": sub, "scope": scope, "iat": now, "exp": now + lifetime}
        payload |= claims
        return jwt.encode(
            {k: v for k, v in payload.items() if v is not None},
            signer.private,
            algorithm=signer.alg,
            headers={"kid": signer.kid, "typ": "at+jwt"} | (header or {}),
        )


def unsigned(claims: dict[str, Any], kid: str = "ec1") -> str:
    """A token with `alg: none` and no signature."""
    head = _b64(json.dumps({"alg": "none", "typ": "at+jwt", "kid": kid}).encode())
    return f"{head}.{_b64(json.dumps(claims).encode())}."


def hmac_with(secret: bytes, claims: dict[str, Any], kid: str) -> str:
    """A token "signed" HS256 with `secret` (say, the issuer's public key as text): the classic forgery."""
    head = _b64(json.dumps({"alg": "HS256", "typ": "at+jwt", "kid": kid}).encode())
    body = _b64(json.dumps(claims).encode())
    signature = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64(signature)}"


VAULT_KEY = base64.urlsafe_b64encode(bytes(range(32))).decode()


@pytest.fixture(scope="module", name="issuer")
def issuer_fixture() -> Iterator[Issuer]:
    """An issuer with an ES256, an RS256 and an EdDSA key, for a test module."""
    made = Issuer()
    made.add("ec", "ec1")
    made.add("rsa", "rsa1")
    made.add("ed", "ed1")
    made.start()
    yield made
    made.stop()


def oauth_settings(sandbox_url: str, issuer_url: str, public_url: str, journal: Path, **more: Any) -> Settings:
    values: dict[str, Any] = {
        "base_url": sandbox_url,
        "retries": 0,
        "timeout": 5.0,
        "http_auth": "oauth",
        "oauth_issuer": issuer_url,
        "public_url": public_url,
        "vault_key": VAULT_KEY,
        "journal": str(journal),
    }
    return Settings(**(values | more))


@dataclass
class Served:
    url: str
    settings: Settings

    @property
    def resource(self) -> str:
        return self.settings.resource_url


@contextmanager
def serving(sandbox_url: str, issuer: Issuer, tmp_path: Path, **more: Any) -> Iterator[Served]:
    """The server in oauth mode on a free loopback port, its public URL that port, journal in `tmp_path`."""
    port = free_port()
    public = f"http://127.0.0.1:{port}"
    settings = oauth_settings(sandbox_url, issuer.url, public, tmp_path / "journal.sqlite3", **more)
    with ThreadedServer(create_app(settings), port=port, lifespan="on") as server:
        yield Served(server.base_url, settings)
