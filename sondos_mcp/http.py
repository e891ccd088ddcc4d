"""Streamable HTTP: stateless MCP at /mcp, /healthz, authentication, safe defaults.

Stateless on purpose: no session lives in a process, so any worker or replica serves any
call and a load balancer needs no affinity. Run it through the CLI
(`sondos-mcp --transport http`) or any ASGI server:
`uvicorn --factory sondos_mcp.http:create_app --workers 2 --http sondos_mcp.guard:GuardedH11Protocol`
(configuration from SONDOS_* env; the `--http` class bounds slow and idle connections, see
`sondos_mcp.guard`).
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mcp.server.transport_security import TransportSecuritySettings
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sondos_mcp import observability
from sondos_mcp.client import MAX_KEY_LENGTH, valid_key
from sondos_mcp.config import Settings, is_loopback
from sondos_mcp.logs import configure_logging
from sondos_mcp.server import build_server

if TYPE_CHECKING:
    from sondos_mcp.policy import Policies

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]

LOOPBACK_HOSTS = ["127.0.0.1:*", "localhost:*", "[::1]:*"]
LOOPBACK_ORIGINS = ["http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*"]


class UnsafeConfiguration(ValueError):
    """The HTTP server would be exposed without authentication, or is configured inconsistently."""


def check_safety(settings: Settings) -> None:
    """Refuse configurations that would expose the Sondos key, with how to fix them."""
    mode = settings.auth_mode
    if mode == "oauth":
        return _check_oauth(settings)
    if mode == "none" and not is_loopback(settings.host):
        raise UnsafeConfiguration(
            f"refusing to serve on {settings.host} without authentication: anyone who can reach it could change "
            "every assistant. Either set SONDOS_HTTP_TOKENS (or SONDOS_HTTP_TOKENS_FILE) so callers must send "
            "'Authorization: Bearer <token>', or set SONDOS_HTTP_AUTH=per_user so each caller sends its own "
            f"Sondos key in {settings.http_key_header}; or bind 127.0.0.1."
        )
    if not is_loopback(settings.host) and not settings.http_allowed_hosts:
        raise UnsafeConfiguration(
            f"serving on {settings.host} needs SONDOS_HTTP_ALLOWED_HOSTS: the host names clients use "
            "(e.g. mcp.example.com), checked against every request's Host header against DNS rebinding; "
            "'*' accepts any Host (only behind a proxy that already checks it)."
        )
    if mode == "shared" and not settings.bearer_tokens():
        raise UnsafeConfiguration("SONDOS_HTTP_AUTH=shared needs SONDOS_HTTP_TOKENS or SONDOS_HTTP_TOKENS_FILE")
    if mode == "shared" and settings.api_key is None:
        raise UnsafeConfiguration("shared-key mode needs SONDOS_API_KEY, the key the server acts with")


def _check_oauth(settings: Settings) -> None:
    needed = {"oauth_issuer": settings.oauth_issuer, "public_url": settings.public_url, "vault_key": settings.vault_key}
    missing = [f"SONDOS_{name.upper()}" for name, value in needed.items() if value is None]
    if missing:
        raise UnsafeConfiguration(
            f"SONDOS_HTTP_AUTH=oauth needs {', '.join(missing)}: the issuer whose tokens are accepted, this "
            "server's public https URL, and the key that seals enrolled Sondos keys (docs/deployment.md)"
        )
    if settings.journal_url is None and settings.journal.strip().lower() == "off":
        raise UnsafeConfiguration(
            "SONDOS_HTTP_AUTH=oauth keeps enrolled keys beside the journal: set SONDOS_JOURNAL (a file) "
            "or SONDOS_JOURNAL_URL (PostgreSQL), not off"
        )
    try:
        import cryptography  # noqa: F401
        import jwt  # noqa: F401
    except ImportError:
        raise UnsafeConfiguration(
            "SONDOS_HTTP_AUTH=oauth needs the oauth extra: pip install 'sondos-mcp[oauth]'"
        ) from None


def _unauthorized(message: str) -> Response:
    return JSONResponse(
        {"error": "unauthorized", "message": message},
        status_code=401,
        headers={"WWW-Authenticate": 'Bearer realm="sondos-mcp"'},
    )


GUARDED_PATHS = ("/mcp", "/metrics")  # /metrics: unless the caller's address is in SONDOS_METRICS_ALLOW


class AuthMiddleware:
    """Guards /mcp and /metrics: a configured bearer token (shared mode) or the caller's own key (per-user mode)."""

    def __init__(self, app: ASGIApp, *, mode: str, tokens: list[str], key_header: str) -> None:
        self.app = app
        self.mode = mode
        self.tokens = [t.encode() for t in tokens]
        self.key_header = key_header

    def _token_ok(self, presented: str) -> bool:
        candidate = presented.encode()
        # Compare against every token, always, so timing says nothing about which or how many matched.
        matches = [hmac.compare_digest(candidate, token) for token in self.tokens]
        return any(matches)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        # Checked on the headers alone: a refused request is answered before its body is read.
        if scope["type"] != "http" or not scope["path"].startswith(GUARDED_PATHS):
            return await self.app(scope, receive, send)
        if scope["method"] == "GET" and scope["path"].startswith("/mcp"):
            # Stateless mode has no stream to resume or listen on: the spec's answer is 405.
            return await _method_not_allowed(scope, receive, send)
        if self.mode in ("none", "oauth"):  # oauth: the OAuth gate inside has answered already
            return await self.app(scope, receive, send)
        request = Request(scope)
        if self.mode == "shared":
            auth = request.headers.get("authorization", "")
            if not auth.lower().startswith("bearer ") or not self._token_ok(auth[7:].strip()):
                return await _unauthorized("a valid 'Authorization: Bearer <token>' is required")(scope, receive, send)
        else:
            key = request.headers.get(self.key_header, "").strip()
            if not key:
                return await _unauthorized(f"send your Sondos API key in the {self.key_header} header")(
                    scope, receive, send
                )
            if not valid_key(key):
                return await _unauthorized(
                    f"the {self.key_header} header is not a Sondos API key "
                    f"(printable ASCII without spaces, at most {MAX_KEY_LENGTH} characters)"
                )(scope, receive, send)
        return await self.app(scope, receive, send)


_method_not_allowed = JSONResponse(
    {"error": "method_not_allowed", "message": "this server is stateless: send requests with POST /mcp"},
    status_code=405,
    headers={"Allow": "POST"},
)


async def healthz(_: Request) -> Response:
    return Response(json.dumps({"status": "ok"}), media_type="application/json")


def create_app(settings: Settings | None = None, policies: Policies | None = None) -> Starlette:
    """The ASGI app; with no settings, they are read from the environment (for `uvicorn --factory`).
    `policies`: as the command read and checked them (else the policy file is read here).

    Read from the environment, this is a process of its own (a worker of `--workers N`, or a
    `uvicorn --factory` start), so it sets up logging and secret redaction as the CLI does.
    """
    if settings is None:
        settings = Settings()
        configure_logging(settings)
    check_safety(settings)
    from sondos_mcp import guard

    guard.configure(settings)  # the connection bounds, in this worker process
    mode = settings.auth_mode
    header = settings.http_key_header

    def caller_key(request: Any) -> SecretStr | None:
        value = request.headers.get(header, "").strip() if request is not None else ""
        return SecretStr(value) if value else None

    people, routes = None, [Route("/healthz", healthz, methods=["GET"])]
    if mode == "oauth":
        from sondos_mcp import http_oauth
        from sondos_mcp.enrol import Enrolment

        checker = http_oauth.checker_for(settings)
        people = Enrolment(settings, checker)
        routes += http_oauth.metadata_routes(settings) + people.routes()
    server = build_server(
        settings,
        request_key=caller_key if mode == "per_user" else None,
        people=people,
        policies=policies,
        eager=True,
        settle=True,
    )
    observability.trace_server(server)
    metrics_app, metrics_routes = observability.install_metrics(server, settings)
    routes += metrics_routes
    any_host = "*" in settings.http_allowed_hosts
    allowed = settings.http_allowed_hosts + ([urlsplit(settings.public_url).netloc] if settings.public_url else [])
    hosts = LOOPBACK_HOSTS + [h for host in allowed if host != "*" for h in (host, f"{host}:*")]
    security = TransportSecuritySettings(
        # '*' is an explicit choice to leave Host checking to a proxy in front; the SDK then checks neither.
        enable_dns_rebinding_protection=not any_host,
        allowed_hosts=hosts,
        allowed_origins=LOOPBACK_ORIGINS + settings.http_allowed_origins,
    )

    app = server.streamable_http_app(
        streamable_http_path="/mcp",
        json_response=True,
        stateless_http=True,
        max_request_body_size=settings.http_max_body,
        transport_security=security,
        host=settings.host,
        custom_starlette_routes=routes,
    )
    if people is not None:
        http_oauth.protect(app, settings, checker)
    app.add_middleware(AuthMiddleware, mode=mode, tokens=settings.bearer_tokens(), key_header=header)
    app.add_middleware(observability.RequestObservability, metrics_app=metrics_app, allow=settings.metrics_networks())
    log.info("HTTP transport ready: auth=%s, allowed hosts=%s", mode, hosts)
    return app  # the heap is settled once the server's lifespan has built the handlers (`settle`)
