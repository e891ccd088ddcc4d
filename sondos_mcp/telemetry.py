"""Where the server's parts report what they did, for metrics and traces: hooks that do nothing by default.

The upstream client and the journal's store factory call `hooks`; the HTTP adapter replaces it
with Prometheus-backed hooks when `SONDOS_METRICS` is on (`sondos_mcp.metrics`). The upstream
client also asks `spans` for a span around each request; `sondos_mcp.observability` replaces it
when traces are on. Off, each report is one call to an empty method: nothing is imported,
counted or stored, so stdio and an HTTP server without metrics or traces pay nothing for them.
This module imports nothing of the package, so any layer may report through it without an
upward import.
"""

from __future__ import annotations

import functools
import os
import re
from contextvars import ContextVar
from typing import Protocol, TypeVar

T = TypeVar("T")

REQUEST_ID: ContextVar[str | None] = ContextVar("sondos_request_id", default=None)
"""The id of the HTTP request being served (from `X-Request-Id`, or made up), for log lines."""

# prometheus-client's own variable: the directory its multiprocess mode shares between workers.
MULTIPROCESS_DIR = "PROMETHEUS_MULTIPROC_DIR"


class Hooks:
    """The reports the server makes; these defaults ignore them (metrics off)."""

    def upstream(self, method: str, path: str, status: str, seconds: float) -> None:
        """One request to the Sondos API: `path` as sent (ids in it), `status` the HTTP code or a failure's name."""

    def journal(self, store: T) -> T:
        """The journal store to use: this one, or one that times its writes."""
        return store

    def enrolled_people(self, count: int) -> None:
        """How many people have a Sondos key on file (the key vault says so when it changes)."""


class UpstreamSpan(Protocol):
    """A span around one request to the Sondos API, begun just before it is sent."""

    headers: dict[str, str]
    """The trace context to send with the request (`traceparent`), so the API can continue it."""

    def end(self, status: str) -> None:
        """The request is over: `status` is the HTTP code, or a failure's name (`timeout`, ...)."""


class Spans:
    """Traces of upstream requests; this default records none (traces off)."""

    def upstream(self, method: str, base_url: str, path: str) -> UpstreamSpan | None:
        """A span for a request about to be sent to `base_url` + `path` (as sent, ids in it), or None
        to send it untraced."""
        return None


hooks: Hooks = Hooks()
spans: Spans = Spans()
_enrolled = 0


def tracing_requested() -> bool:
    """The standard OpenTelemetry variables ask for traces to be exported (and the SDK is not disabled)."""
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    return bool(os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))


def install(new: Hooks) -> None:
    """Report to `new` from now on (the HTTP adapter, once per process, before the server starts)."""
    global hooks
    hooks = new
    new.enrolled_people(_enrolled)


def trace_upstream(new: Spans) -> None:
    """Trace upstream requests with `new` from now on (once per process, when traces are switched on)."""
    global spans
    spans = new


def set_enrolled_people(count: int) -> None:
    """The key vault's report: people with a key on file now. Kept, so hooks installed later see it too."""
    global _enrolled
    _enrolled = max(0, int(count))
    hooks.enrolled_people(_enrolled)


_ID_SEGMENT = r"[a-z][a-z_-]{0,39}"  # compiled on first use (re's cache), not at start-up


@functools.lru_cache(maxsize=1024)
def endpoint_template(path: str) -> str:
    """A request path as a template: `/user/assistant/12?x=1` -> `/user/assistant/{id}`.

    Every segment that is not a plain lower-case word becomes `{id}`, and the query goes, so a
    metric label or span name never carries an id, a name or a parameter, only the endpoint.
    """
    path = path.split("?", 1)[0].split("#", 1)[0]
    return "/".join(s if not s or re.fullmatch(_ID_SEGMENT, s) else "{id}" for s in path.split("/")) or "/"
