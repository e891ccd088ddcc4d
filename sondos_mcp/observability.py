"""Metrics, traces and request ids for the HTTP transport; traces for stdio too. All off unless asked for.

- Metrics (`SONDOS_METRICS=1`): Prometheus at `/metrics` (`sondos_mcp.metrics`), read without
  authentication only from `SONDOS_METRICS_ALLOW`'s addresses; elsewhere the normal auth applies.
- Traces: when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) is set, an
  OpenTelemetry SDK tracer provider exporting over OTLP/HTTP. The MCP SDK's own
  `OpenTelemetryMiddleware` (on every `Server`) then records a span per request, and
  `UpstreamSpans` a child span per upstream request, named by its endpoint template.
- Request ids: every HTTP request gets one (the caller's sane `X-Request-Id`, or a new one), sent
  back in `X-Request-Id` and written on each log line of that request.

This module imports only the standard library and `telemetry` at start-up; `prometheus_client`
and the OpenTelemetry SDK are imported when switched on, so stdio's start-up pays nothing for them.
"""

from __future__ import annotations

import dataclasses
import functools
import ipaddress
import os
import re
import tempfile
import uuid
from collections.abc import Awaitable, Callable, Iterator, MutableMapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sondos_mcp import telemetry
from sondos_mcp.telemetry import MULTIPROCESS_DIR

if TYPE_CHECKING:
    from mcp.server import Server
    from opentelemetry.sdk.trace import SpanProcessor
    from starlette.routing import Route

    from sondos_mcp.config import Settings

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

EXTRA_HINT = "install it with: pip install 'sondos-mcp[observability]'"
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class ObservabilityUnavailable(RuntimeError):
    """Metrics or traces were asked for, but their packages are not installed."""


# --- request ids and /metrics from the allowed addresses ----------------------------------------


def request_id(scope: Scope) -> str:
    """The caller's (or its proxy's) `X-Request-Id` when it is a plain token, else a new one."""
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(text):
                return text
            break
    return uuid.uuid4().hex


def allowed(scope: Scope, networks: Sequence[Network]) -> bool:
    client = scope.get("client")
    if not networks or not client:
        return False
    try:
        address = ipaddress.ip_address(client[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in network for network in networks)


class RequestObservability:
    """Outermost HTTP middleware: names each request (for log lines and the `X-Request-Id` answer
    header) and answers `GET /metrics` from an allowed address itself, before any authentication."""

    def __init__(self, app: ASGIApp, *, metrics_app: ASGIApp | None, allow: Sequence[Network]) -> None:
        self.app = app
        self.metrics_app = metrics_app
        self.allow = list(allow)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, _flushing_at_shutdown(send))
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        rid = request_id(scope)
        header = (b"x-request-id", rid.encode("ascii"))

        async def send_with_id(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        app = self.app
        if (
            self.metrics_app is not None
            and scope["path"] == "/metrics"
            and scope["method"] in ("GET", "HEAD")
            and allowed(scope, self.allow)
        ):
            app = self.metrics_app
        token = telemetry.REQUEST_ID.set(rid)
        try:
            await app(scope, receive, send_with_id)
        finally:
            telemetry.REQUEST_ID.reset(token)


def _flushing_at_shutdown(send: Any) -> Any:
    """Export the spans still queued before the worker says it has shut down: uvicorn ends a worker
    by re-raising SIGTERM, so the tracer provider's own exit hook would never run."""

    async def send_after_flush(message: MutableMapping[str, Any]) -> None:
        if message["type"] == "lifespan.shutdown.complete" and _provider is not None:
            import anyio.to_thread

            await anyio.to_thread.run_sync(_provider.force_flush, FLUSH_MILLIS)
        await send(message)

    return send_after_flush


class _AsAsgi:
    """Starlette serves an object that is not a function as a plain ASGI app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        await self.app(scope, receive, send)


# --- metrics ------------------------------------------------------------------------------------


def check_available(settings: Settings) -> None:
    """Refuse at start-up, with the fix, metrics or traces asked for without their packages."""
    if settings.metrics and not _installed("prometheus_client"):
        raise ObservabilityUnavailable(f"SONDOS_METRICS needs prometheus-client; {EXTRA_HINT}")
    if telemetry.tracing_requested():
        for name in ("opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http"):
            if not _installed(name):
                raise ObservabilityUnavailable(
                    f"OTEL_EXPORTER_OTLP_ENDPOINT is set but {name} is not installed; {EXTRA_HINT}"
                )


def _installed(name: str) -> bool:
    """Whether `name` could be imported, without importing it (its parent packages excepted)."""
    from importlib.util import find_spec

    try:
        return find_spec(name) is not None
    except (ImportError, ValueError):
        return False


@contextmanager
def multiprocess_metrics(settings: Settings) -> Iterator[None]:
    """For `--workers N` with metrics on: a directory where every worker writes its values
    (`PROMETHEUS_MULTIPROC_DIR`, handed to the workers through the environment), so that a scrape
    answered by any worker counts them all. A directory given by the operator is emptied of an
    earlier run's files first; otherwise a temporary one is made and removed at exit."""
    if not settings.metrics:
        yield
        return
    given = os.environ.get(MULTIPROCESS_DIR)
    if given:
        Path(given).mkdir(parents=True, exist_ok=True)
        for stale in Path(given).glob("*.db"):
            stale.unlink()
        yield
        return
    with tempfile.TemporaryDirectory(prefix="sondos-metrics-") as directory:
        os.environ[MULTIPROCESS_DIR] = directory
        try:
            yield
        finally:
            del os.environ[MULTIPROCESS_DIR]


def install_metrics(server: Server[Any], settings: Settings) -> tuple[ASGIApp | None, list[Route]]:
    """With `SONDOS_METRICS` on: count this process's calls, upstream requests and journal writes,
    and give back the exposition app and the authenticated `/metrics` route. Off: (None, [])."""
    if not settings.metrics:
        return None, []
    try:
        from sondos_mcp import metrics
    except ImportError as exc:
        raise ObservabilityUnavailable(
            f"SONDOS_METRICS needs prometheus-client ({exc.name} is missing); {EXTRA_HINT}"
        ) from None
    from starlette.responses import JSONResponse, Response
    from starlette.routing import Route

    m = metrics.metrics()
    telemetry.install(metrics.PrometheusHooks(m))
    server.middleware.append(metrics.CallMetrics(m))
    exposition = m.asgi_app()
    mode = settings.auth_mode
    signed_in = _signed_in(settings) if mode == "oauth" else None

    async def authenticated(scope: Scope, receive: Any, send: Any) -> None:
        # Reached past the normal authentication (shared tokens are checked by then). In per-user
        # mode that only says a key was sent, which anyone can do: metrics are for the addresses in
        # SONDOS_METRICS_ALLOW alone there. Signed in (oauth), a token with the read scope is needed.
        refusal: Response | None = None
        if mode == "per_user":
            refusal = JSONResponse(
                {
                    "error": "forbidden",
                    "message": "in per-user key mode /metrics is served only to SONDOS_METRICS_ALLOW's addresses",
                },
                status_code=403,
            )
        elif signed_in is not None:
            refusal = signed_in(scope)
        if refusal is not None:
            return await refusal(scope, receive, send)
        await exposition(scope, receive, send)

    return exposition, [Route("/metrics", _AsAsgi(authenticated), methods=["GET", "HEAD"])]


def _signed_in(settings: Settings) -> Callable[[Scope], Any]:
    """In oauth mode: None for a request whose access token the SDK's middleware accepted with the
    read scope, else the same 401 (or 403) the /mcp gate gives."""
    from starlette.responses import JSONResponse

    from sondos_mcp.http_oauth import metadata_url
    from sondos_mcp.oauth import READ_SCOPE

    challenge = f'Bearer resource_metadata="{metadata_url(settings)}"'

    def check(scope: Scope) -> Any:
        user = scope.get("user")
        if not getattr(user, "is_authenticated", False):
            body = {"error": "unauthorized", "error_description": "sign in: an access token is required"}
            return JSONResponse(body, status_code=401, headers={"WWW-Authenticate": challenge})
        if READ_SCOPE not in getattr(user, "scopes", ()):
            body = {"error": "insufficient_scope", "error_description": f"this server needs {READ_SCOPE}"}
            scope_challenge = f'Bearer error="insufficient_scope", scope="{READ_SCOPE}"'
            return JSONResponse(body, status_code=403, headers={"WWW-Authenticate": scope_challenge})
        return None

    return check


# --- traces -------------------------------------------------------------------------------------

_tracing = False
_provider: Any = None  # the process's tracer provider, once tracing is on
FLUSH_MILLIS = 5000  # at most this long, at shutdown, to hand the last spans to the collector


def trace_server(server: Server[Any]) -> bool:
    """Tracing for this process when the environment asks for it, with the server's span names guarded."""
    if not setup_tracing():
        return False
    guard_span_names(server)
    return True


def guard_span_names(server: Server[Any]) -> None:
    """Wrap the SDK's OpenTelemetry middleware (see `_SdkSpans`); once tracing is on."""
    from mcp.server._otel import OpenTelemetryMiddleware

    server.middleware = [_SdkSpans(m) if isinstance(m, OpenTelemetryMiddleware) else m for m in server.middleware]


class _SdkSpans:
    """Runs the SDK's OpenTelemetry middleware so that what a client sends stays out of its spans.

    The middleware names a span after the request's `name` parameter and sets a failure's message
    as its status, and our failures' messages repeat what was asked for (`no resource
    'sondos://…'`, `Unknown tool: Riyadh Sales`). So it sees a view of the request without a name
    that is not one of our tools' or prompts', and each failure as its code with a fixed message;
    the rest of the chain, and the client, see the request and its answer as they are.
    """

    def __init__(self, inner: Any) -> None:
        from mcp.shared.exceptions import MCPError
        from pydantic import ValidationError

        from sondos_mcp.prompts import PROMPTS_BY_NAME
        from sondos_mcp.tools import TOOLS_BY_NAME

        self.inner = inner
        self.error, self.invalid = MCPError, ValidationError
        self.ours = {"tools/call": frozenset(TOOLS_BY_NAME), "prompts/get": frozenset(PROMPTS_BY_NAME)}

    async def __call__(self, ctx: Any, call_next: Any) -> Any:
        name = ctx.params.get("name") if ctx.params else None
        foreign = name is not None and not (isinstance(name, str) and name in self.ours.get(ctx.method, ()))
        raised: list[BaseException] = []

        async def inside(_: Any) -> Any:
            try:
                return await call_next(ctx)
            except self.error as exc:
                raised.append(exc)
                raise self.error(code=exc.error.code, message=f"error {exc.error.code}") from None
            except self.invalid:
                raise  # the SDK records it as invalid parameters, without its text
            except Exception as exc:
                raised.append(exc)
                raise RuntimeError(f"{type(exc).__name__} (its message is not recorded)") from None

        shown = (
            dataclasses.replace(ctx, params={k: v for k, v in ctx.params.items() if k != "name"}) if foreign else ctx
        )
        try:
            return await self.inner(shown, inside)
        except Exception:
            if raised:
                raise raised[0] from None
            raise


def setup_tracing() -> bool:
    """Export traces over OTLP/HTTP when the environment asks for it; else do nothing (and import nothing)."""
    if _tracing or not telemetry.tracing_requested():
        return _tracing
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError as exc:
        raise ObservabilityUnavailable(
            f"OTEL_EXPORTER_OTLP_ENDPOINT is set but the OpenTelemetry SDK is not installed ({exc.name}); {EXTRA_HINT}"
        ) from None
    # The exporter reads its endpoint, headers, timeout and compression from the OTEL_* variables.
    enable_tracing(BatchSpanProcessor(OTLPSpanExporter()))
    return True


def enable_tracing(processor: SpanProcessor) -> None:
    """Make the process's tracer provider, with `processor`, and trace upstream requests (once per process).

    The provider reads OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES and OTEL_TRACES_SAMPLER itself.
    """
    global _tracing, _provider
    if _tracing:
        return
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
    except ImportError as exc:
        raise ObservabilityUnavailable(
            f"traces need the OpenTelemetry SDK ({exc.name} is missing); {EXTRA_HINT}"
        ) from None
    from sondos_mcp import __version__

    resource = Resource.create({"service.version": __version__})
    if str(resource.attributes.get("service.name", "unknown_service")).startswith("unknown_service"):
        resource = resource.merge(Resource({"service.name": "sondos-mcp"}))
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(processor)
    trace.set_tracer_provider(provider)
    telemetry.trace_upstream(UpstreamSpans(provider.get_tracer("sondos_mcp.client", __version__)))
    _tracing, _provider = True, provider


class UpstreamSpans(telemetry.Spans):
    """A client span per request to the Sondos API, child of the MCP request's span, its context sent
    on in `traceparent` (through the configured propagators, `OTEL_PROPAGATORS`).

    Named and shown by the endpoint template (`PUT /user/assistant/{id}`), never by the URL as sent:
    no id, no query, no name reaches a span; no header or body is recorded. Made here rather than by
    the httpx instrumentation, which costs about 0.12 ms a request beyond the span itself (header
    normalising, URL parsing and redaction, metrics of its own) for the same attributes.

    A request made outside a recorded span (a call whose trace is not sampled) gets no span and
    carries no trace context: nothing of it would be recorded.
    """

    def __init__(self, tracer: Any) -> None:
        from opentelemetry.propagate import inject
        from opentelemetry.trace import SpanKind, get_current_span, set_span_in_context

        self.tracer, self.kind, self.inject = tracer, SpanKind.CLIENT, inject
        self.current, self.within = get_current_span, set_span_in_context

    def upstream(self, method: str, base_url: str, path: str) -> telemetry.UpstreamSpan | None:
        if not self.current().is_recording():
            return None
        template = telemetry.endpoint_template(path)
        host, port, shown = _server(base_url)
        span = self.tracer.start_span(
            f"{method} {template}",
            kind=self.kind,
            attributes={
                "http.request.method": method,
                "url.template": template,
                "url.full": shown + template,
                "server.address": host,
                "server.port": port,
            },
        )
        headers: dict[str, str] = {}
        self.inject(headers, context=self.within(span))
        return _Upstream(span, headers)


class _Upstream:
    __slots__ = ("headers", "span")

    def __init__(self, span: Any, headers: dict[str, str]) -> None:
        self.span, self.headers = span, headers

    def end(self, status: str) -> None:
        if status.isdigit():
            self.span.set_attribute("http.response.status_code", int(status))
            failed = int(status) >= 400
        else:
            failed = True
        if failed:
            from opentelemetry.trace import StatusCode

            self.span.set_attribute("error.type", status)
            self.span.set_status(StatusCode.ERROR)
        self.span.end()


@functools.lru_cache(maxsize=16)
def _server(base_url: str) -> tuple[str, int, str]:
    """The API's host, port, and base URL as a span shows it (no user or password), read once per base URL."""
    from urllib.parse import urlsplit

    parts = urlsplit(base_url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    netloc = f"[{host}]" if ":" in host else host
    if parts.port:
        netloc += f":{parts.port}"
    return host, port, f"{parts.scheme}://{netloc}{parts.path.rstrip('/')}"
