"""Prometheus metrics, for the HTTP transport with `SONDOS_METRICS` on (needs `sondos-mcp[observability]`).

Imported only then (`sondos_mcp.observability`), so neither stdio nor an HTTP server without
metrics loads `prometheus_client`. One set of metrics per process: under `--workers N` each
worker writes its values to files in `PROMETHEUS_MULTIPROC_DIR` (the CLI makes one) and a scrape
of any worker reads them all, so every scrape sees the whole server, whichever worker answers.

Labels are chosen from closed sets: a tool's name only if it is one of ours, codes and kinds
only as the server's own lower-case words, endpoints as path templates (`/user/assistant/{id}`),
HTTP statuses as numbers. Nothing a caller sends (a key, a token, an assistant's name, text of
a proposal) can become a label value.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar, cast

from mcp.server.context import CallNext, HandlerResult, ServerRequestContext
from mcp.shared.exceptions import MCPError
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, make_asgi_app
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.process_collector import ProcessCollector
from pydantic import BaseModel, ValidationError

from sondos_mcp import telemetry
from sondos_mcp.errors import JournalError
from sondos_mcp.telemetry import MULTIPROCESS_DIR
from sondos_mcp.tools import TOOLS_BY_NAME

T = TypeVar("T")

_WORD = re.compile(r"[a-z][a-z0-9_]{0,47}")
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_STATUS = re.compile(r"[1-5][0-9][0-9]|error|timeout|connect_error")

# Seconds: a tool call and an upstream request run from milliseconds to the call deadline.
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 60.0)
# A journal write is a short transaction: tens of microseconds on SQLite, a round trip on PostgreSQL.
JOURNAL_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)


def word(value: object) -> str:
    """`value` if it is one of the server's own lower-case words (a code, a kind), else `other`."""
    return value if isinstance(value, str) and _WORD.fullmatch(value) else "other"


def tool_label(name: object) -> str:
    return name if isinstance(name, str) and name in TOOLS_BY_NAME else "unknown"


class Metrics:
    """The server's metrics, in one registry of this process (or in the multiprocess files)."""

    def __init__(self) -> None:
        self.multiprocess = MULTIPROCESS_DIR in os.environ
        own = CollectorRegistry(auto_describe=True)
        # Under multiprocess mode the values live in files; the registry given here only keeps
        # the metric objects from clashing with another library's on the global one.
        self.calls = Counter(
            "sondos_tool_calls", "Tool calls by tool and outcome (ok, an error kind, input_required)",
            ["tool", "outcome"], registry=own,
        )  # fmt: skip
        self.call_seconds = Histogram(
            "sondos_tool_call_seconds", "Time to answer a tool call", ["tool"], buckets=CALL_BUCKETS, registry=own
        )
        self.refusals = Counter(
            "sondos_refusals", "Problems that refused a call, by problem code (a call with three adds three)",
            ["tool", "code"], registry=own,
        )  # fmt: skip
        self.repairs = Counter(
            "sondos_repairs_offered",
            "Repairs offered with a refusal: a problem's fix, its candidates, or whole suggested_arguments",
            ["tool", "kind"], registry=own,
        )  # fmt: skip
        self.upstream_seconds = Histogram(
            "sondos_upstream_request_seconds", "Requests to the Sondos API by method, endpoint template and status",
            ["method", "endpoint", "status"], buckets=CALL_BUCKETS, registry=own,
        )  # fmt: skip
        self.journal_seconds = Histogram(
            "sondos_journal_write_seconds", "Journal writes (begin, finish, acquire, release, prune) by operation",
            ["operation"], buckets=JOURNAL_BUCKETS, registry=own,
        )  # fmt: skip
        self.journal_failures = Counter(
            "sondos_journal_write_failures", "Journal writes that failed, by operation", ["operation"], registry=own
        )
        self.enrolled = Gauge(
            "sondos_enrolled_people", "People with a Sondos key on file in the key vault",
            registry=own, multiprocess_mode="mostrecent",
        )  # fmt: skip
        if self.multiprocess:
            # A fresh registry reading every worker's files at each scrape.
            self.registry = CollectorRegistry()
            MultiProcessCollector(self.registry)
        else:
            self.registry = own
            ProcessCollector(registry=own)

    def asgi_app(self) -> Callable[..., Awaitable[None]]:
        """The exposition endpoint (text or OpenMetrics by the scraper's Accept header)."""
        return cast(Callable[..., Awaitable[None]], make_asgi_app(self.registry))


_metrics: Metrics | None = None


def metrics() -> Metrics:
    """This process's metrics, made on first use (after `PROMETHEUS_MULTIPROC_DIR` is settled)."""
    global _metrics
    if _metrics is None:
        _metrics = Metrics()
    return _metrics


class PrometheusHooks(telemetry.Hooks):
    """The telemetry hooks, counting into this process's metrics."""

    def __init__(self, m: Metrics) -> None:
        self.m = m

    def upstream(self, method: str, path: str, status: str, seconds: float) -> None:
        self.m.upstream_seconds.labels(
            method if method in _METHODS else "OTHER",
            telemetry.endpoint_template(path),
            status if _STATUS.fullmatch(status) else "error",
        ).observe(seconds)

    def journal(self, store: T) -> T:
        return cast(T, TimedJournal(store, self.m))

    def enrolled_people(self, count: int) -> None:
        self.m.enrolled.set(count)


class TimedJournal:
    """A journal store whose writes are timed and their failures counted; the rest passes through."""

    OPERATIONS = ("acquire", "begin", "finish", "release", "prune")

    def __init__(self, store: Any, m: Metrics) -> None:
        self._store = store
        # Every operation's series exists from the start (a failure counter at 0 is one an alert can watch).
        self._series = {op: (m.journal_seconds.labels(op), m.journal_failures.labels(op)) for op in self.OPERATIONS}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def __repr__(self) -> str:
        return repr(self._store)

    async def _write(self, operation: str, pending: Awaitable[T]) -> T:
        seconds, failures = self._series[operation]
        started = time.perf_counter()
        try:
            return await pending
        except JournalError:
            failures.inc()
            raise
        finally:
            seconds.observe(time.perf_counter() - started)

    async def begin(self, change: Any) -> None:
        return await self._write("begin", self._store.begin(change))

    async def finish(self, change_id: str, outcome: str, detail: str | None, lease: Any) -> bool:
        return cast(bool, await self._write("finish", self._store.finish(change_id, outcome, detail, lease)))

    async def acquire(self, account: str, assistant_id: int, holder: str, ttl: float) -> Any:
        return await self._write("acquire", self._store.acquire(account, assistant_id, holder, ttl))

    async def release(self, lease: Any, *, sent: bool) -> None:
        return await self._write("release", self._store.release(lease, sent=sent))

    async def prune(self, before: str) -> int:
        return cast(int, await self._write("prune", self._store.prune(before)))


class CallMetrics:
    """MCP middleware: each tools/call counted by tool and outcome, timed, and its refusal read
    for problem codes and the repairs offered. Other requests pass straight through."""

    def __init__(self, m: Metrics) -> None:
        self.m = m

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        if ctx.method != "tools/call":
            return await call_next(ctx)
        tool = tool_label(ctx.params.get("name") if ctx.params else None)
        started, outcome = time.perf_counter(), "internal_error"
        try:
            result = await call_next(ctx)
            outcome = self._outcome(tool, result)
            return result
        except MCPError:
            outcome = "protocol_error"  # an unknown tool, a bad request: answered as a JSON-RPC error
            raise
        except ValidationError:
            outcome = "invalid_params"
            raise
        finally:
            self.m.calls.labels(tool, outcome).inc()
            self.m.call_seconds.labels(tool).observe(time.perf_counter() - started)

    def _outcome(self, tool: str, result: HandlerResult) -> str:
        if isinstance(result, BaseModel):
            # Three fields read as they are: a dump would serialise a whole answer (a list of
            # assistants) once more on every call only to look at them.
            wire: object = {
                "resultType": getattr(result, "result_type", None),
                "isError": getattr(result, "is_error", None),
                "structuredContent": getattr(result, "structured_content", None),
            }
        else:
            wire = result  # a result the chain already shaped for the wire (camelCase keys)
        if not isinstance(wire, dict):
            return "ok"
        if wire.get("resultType") == "input_required":
            return "input_required"  # the person is asked (a confirmation) and the client calls again
        if wire.get("isError") is not True:
            return "ok"
        structured = wire.get("structuredContent")
        structured = structured if isinstance(structured, dict) else {}
        members = structured.get("assistants")
        problems = list(_problems(structured))
        for member in members if isinstance(members, list) else []:
            problems += _problems(member)
        for problem in problems:
            self.m.refusals.labels(tool, word(problem.get("code"))).inc()
            for kind in ("fix", "candidates"):
                if problem.get(kind):
                    self.m.repairs.labels(tool, kind).inc()
        if structured.get("suggested_arguments"):
            self.m.repairs.labels(tool, "suggested_arguments").inc()
        error = structured.get("error")
        return word(error.get("kind")) if isinstance(error, dict) else "refused"


def _problems(holder: object) -> Sequence[dict[str, Any]]:
    found = holder.get("problems") if isinstance(holder, dict) else None
    return [p for p in found if isinstance(p, dict)] if isinstance(found, list) else []
