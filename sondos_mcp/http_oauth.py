"""HTTP oauth mode: /mcp as an OAuth 2.1 protected resource (the MCP authorization spec).

Built from the SDK's auth parts: its `TokenVerifier` protocol (ours checks tokens in
`sondos_mcp.oauth`), its `BearerAuthBackend` and `AuthContextMiddleware`, its `AccessToken`,
and its Protected Resource Metadata model and handler. Not its `RequireAuthMiddleware`: that one
writes `error="invalid_token"` even when no token was sent (RFC 6750 §3.1 says not to) and
requires every listed scope of every request, while a read-only token here must still read; nor
its metadata route alone, which advertises only the scopes every request requires and only at
the path-suffixed well-known URL. So `OAuthGate` answers for /mcp:

- no token, or one that is not accepted: 401, `WWW-Authenticate: Bearer resource_metadata="…"`
  (plus `error="invalid_token"` when a token was sent);
- a token without `sondos:read` or `sondos:write`: 403 `insufficient_scope`;
- a token without `sondos:write` calling a tool that changes assistants: 403
  `Bearer error="insufficient_scope", scope="sondos:read sondos:write"`, before anything is
  sent (the client may ask the person for the wider grant and try again, SEP-835). Only such
  tokens have their request body read here; every other request passes untouched.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from mcp.server.auth.handlers.metadata import ProtectedResourceMetadataHandler
from mcp.server.auth.middleware.auth_context import AuthContextMiddleware
from mcp.server.auth.middleware.bearer_auth import AuthenticatedUser, BearerAuthBackend
from mcp.server.auth.provider import AccessToken
from mcp.server.auth.routes import cors_middleware
from mcp.shared.auth import ProtectedResourceMetadata
from starlette.applications import Starlette
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.routing import Route

from sondos_mcp.config import Settings
from sondos_mcp.oauth import READ_SCOPE, SCOPES, WRITE_SCOPE, OAuthSettings, TokenChecker, TokenRefused
from sondos_mcp.tools import TOOLS_BY_NAME

log = logging.getLogger(__name__)

METADATA_PATH = "/.well-known/oauth-protected-resource"
Scope = dict[str, Any]


class Verifier:
    """The SDK's `TokenVerifier`: an accepted token as the SDK's `AccessToken`, anything else None."""

    def __init__(self, checker: TokenChecker) -> None:
        self.checker = checker

    async def verify_token(self, token: str) -> AccessToken | None:
        try:
            claims = await self.checker.check(token)
        except TokenRefused as exc:
            log.info("oauth: a token was refused: %s", exc)
            return None
        person = self.checker.person(claims)
        client = claims.get("client_id") or claims.get("azp") or ""
        expires = claims.get("exp")
        return AccessToken(
            token=token,
            client_id=str(client),
            scopes=sorted(person.scopes),
            expires_at=int(expires) if isinstance(expires, int | float) else None,
            resource=self.checker.config.resource,
            subject=person.subject,
            claims=claims,
        )


def metadata_url(settings: Settings) -> str:
    """The path-suffixed metadata URL (RFC 9728 §3.1) that 401s point to."""
    return f"{settings.public_url}{METADATA_PATH}/mcp"


def metadata_routes(settings: Settings) -> list[Route]:
    """Protected Resource Metadata at both well-known paths, read by clients without a token."""
    assert settings.oauth_issuer is not None
    metadata = ProtectedResourceMetadata.model_validate(
        {
            "resource": settings.resource_url,
            "authorization_servers": [settings.oauth_issuer],
            "scopes_supported": list(SCOPES),
            "bearer_methods_supported": ["header"],
            "resource_name": "Sondos AI assistants",
        }
    )
    endpoint = cors_middleware(ProtectedResourceMetadataHandler(metadata).handle, ["GET", "OPTIONS"])
    return [
        Route(path, endpoint=endpoint, methods=["GET", "OPTIONS"]) for path in (f"{METADATA_PATH}/mcp", METADATA_PATH)
    ]


async def _answer(send: Any, status: int, challenge: str, error: str, description: str) -> None:
    body = json.dumps({"error": error, "error_description": description}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"www-authenticate", challenge.encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def asks_for_change(body: bytes) -> bool:
    """Whether a JSON-RPC body (one message or a batch) calls a tool that changes assistants."""
    try:
        parsed = json.loads(body)
    except (ValueError, RecursionError):
        return False  # not JSON: the transport refuses it with its own error
    for message in parsed if isinstance(parsed, list) else [parsed]:
        if not isinstance(message, dict) or message.get("method") != "tools/call":
            continue
        params = message.get("params")
        name = params.get("name") if isinstance(params, dict) else None
        tool = TOOLS_BY_NAME.get(name) if isinstance(name, str) else None
        if tool is not None and tool.writes:
            return True
    return False


class _Gone(Exception):
    """The client went away while its body was being read."""


class OAuthGate:
    """Guards /mcp after the SDK's authentication middleware has checked the bearer token."""

    def __init__(self, app: Any, *, metadata_url: str, max_body: int) -> None:
        self.app = app
        self.unauthorized = f'Bearer resource_metadata="{metadata_url}"'
        self.max_body = max_body

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or not scope["path"].startswith("/mcp"):
            return await self.app(scope, receive, send)
        user = scope.get("user")
        if not isinstance(user, AuthenticatedUser):
            if any(name == b"authorization" for name, _ in scope.get("headers", ())):
                challenge = self.unauthorized + ', error="invalid_token"'
                return await _answer(send, 401, challenge, "invalid_token", "the access token is not accepted")
            return await _answer(send, 401, self.unauthorized, "unauthorized", "sign in: an access token is required")
        scopes = set(user.scopes)
        if WRITE_SCOPE in scopes:
            return await self.app(scope, receive, send)
        if READ_SCOPE not in scopes:
            challenge = f'Bearer error="insufficient_scope", scope="{READ_SCOPE}"'
            return await _answer(send, 403, challenge, "insufficient_scope", f"this server needs {READ_SCOPE}")
        try:
            body = await self._body(receive)
        except _Gone:
            return None
        if body is None:
            return await _answer(send, 413, "Bearer", "too_large", f"the body is over {self.max_body} bytes")
        if asks_for_change(body):
            challenge = f'Bearer error="insufficient_scope", scope="{READ_SCOPE} {WRITE_SCOPE}"'
            description = f"a change needs {WRITE_SCOPE}; nothing was sent"
            return await _answer(send, 403, challenge, "insufficient_scope", description)
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return await self.app(scope, replay, send)

    async def _body(self, receive: Any) -> bytes | None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                raise _Gone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def protect(app: Starlette, settings: Settings, checker: TokenChecker) -> None:
    """Put /mcp behind the gate; the SDK's middleware checks tokens and keeps the caller in context.
    (Starlette runs the last added outermost: authentication first, then the context, then the gate.)"""
    app.add_middleware(OAuthGate, metadata_url=metadata_url(settings), max_body=settings.http_max_body)
    app.add_middleware(AuthContextMiddleware)
    app.add_middleware(AuthenticationMiddleware, backend=BearerAuthBackend(Verifier(checker)))


def checker_for(settings: Settings) -> TokenChecker:
    return TokenChecker(OAuthSettings.from_settings(settings))
