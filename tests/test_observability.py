"""Metrics, traces and logs: /metrics after real calls and who may read it, spans nesting a tool call
over its upstream requests, JSON log lines with request and trace ids; none of them carries a key,
a token, an assistant's name or a proposal's text."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr, ValidationError

from sondos_mcp import telemetry
from sondos_mcp.config import Settings, setting_errors
from sondos_mcp.errors import JournalUnavailable
from sondos_mcp.http import create_app
from sondos_mcp.journal import NewChange
from sondos_mcp.journal.sqlite import SqliteJournal
from sondos_mcp.metrics import Metrics, PrometheusHooks, TimedJournal
from sondos_mcp.sandbox import DEMO_KEY, SandboxServer
from sondos_mcp.sandbox.data import seed_assistants
from sondos_mcp.sandbox.loopback import ThreadedServer
from sondos_mcp.telemetry import endpoint_template
from tests.conftest import server_command, start_http_server, stdio_exchange
from tests.oauth_issuer import Issuer, issuer_fixture, serving  # noqa: F401

TOKEN = "obs-team-token-91c4"
PROMPT = "PROMPT-CANARY answer in rhyme"
NAMES = sorted({row["name"] for row in seed_assistants().values()})
HERE = Path(__file__).resolve().parent

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(base: str, *, source: str = "127.0.0.1", headers: dict[str, str] | None = None) -> httpx.Response:
    """GET /metrics from a chosen loopback address (127.0.0.0/8 all reaches a server on 127.0.0.1)."""
    with httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=10) as http:
        return http.get(f"{base}/metrics", headers=headers or {})


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def label_values(samples: Samples, label: str) -> set[str]:
    return {v for (_, labels) in samples for k, v in labels if k == label}


class Collector(BaseHTTPRequestHandler):
    """A stand-in OTLP/HTTP collector on 127.0.0.1: keeps each export's body, answers success."""

    bodies: ClassVar[list[tuple[str, bytes]]] = []

    def do_POST(self) -> None:
        self.bodies.append((self.path, self.rfile.read(int(self.headers.get("content-length", 0)))))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def collector() -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    Collector.bodies = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", Collector.bodies
    finally:
        server.shutdown()


def exported_spans(bodies: list[tuple[str, bytes]]) -> list[Any]:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    spans = []
    for path, body in bodies:
        assert path == "/v1/traces"
        request = ExportTraceServiceRequest.FromString(body)
        spans += [span for rs in request.resource_spans for ss in rs.scope_spans for span in ss.spans]
    return spans


@pytest.fixture
def restored_hooks() -> Iterator[None]:
    """An in-process server with metrics on installs its hooks process-wide: put the no-op ones back."""
    before = telemetry.hooks
    yield
    telemetry.install(before)


# --- /metrics on a real server process --------------------------------------------------------------


@pytest.mark.anyio
async def test_metrics_count_real_calls_and_carry_no_secret_or_name(
    sandbox: SandboxServer, tmp_path: Path, collector: tuple[str, list[tuple[str, bytes]]]
):
    """`sondos-mcp --transport http` with SONDOS_METRICS=1 and OTEL_EXPORTER_OTLP_ENDPOINT: after real
    calls, /metrics holds calls by tool and outcome, refusals by problem code, repairs offered, upstream
    latency by endpoint template and status, journal writes and enrolled people; an allowed address
    reads it without a token, any other needs the normal one. The spans reach the OTLP collector by the
    time the server has stopped, and the JSON log lines carry the request's and the trace's ids. No
    key, token, assistant name or prompt text appears in the metrics, the spans or the logs."""
    otlp, exports = collector
    proc, base = start_http_server(
        {
            "SONDOS_BASE_URL": sandbox.base_url,
            "SONDOS_API_KEY": DEMO_KEY,
            "SONDOS_HTTP_TOKENS": TOKEN,
            "SONDOS_RETRIES": "0",
            "SONDOS_JOURNAL": str(tmp_path / "journal.sqlite3"),
            "SONDOS_METRICS": "1",
            "SONDOS_METRICS_ALLOW": "127.0.0.2, 10.0.0.0/8",
            "SONDOS_LOG_FORMAT": "json",
            "SONDOS_LOG_LEVEL": "INFO",
            "OTEL_EXPORTER_OTLP_ENDPOINT": otlp,
        }
    )
    try:
        headers = {"Authorization": f"Bearer {TOKEN}", "X-Request-Id": "obs-req-1"}
        async with (
            httpx2.AsyncClient(headers=headers, timeout=30) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
        ):
            ok = await client.call_tool(
                "update_assistant", {"id": 12, "max_call_duration": 301, "system_prompt": PROMPT}
            )
            assert not ok.is_error, ok.content
            refused = await client.call_tool(
                "update_assistant", {"id": 12, "speech_speed": "0.9x", "language": "germn"}
            )
            assert refused.is_error
            missing = await client.call_tool("get_assistant", {"id": 9999})
            assert missing.is_error
            # No such tool: the client hears its name back, but no label or span carries it.
            with pytest.raises(MCPError, match=f"Unknown tool: {NAMES[0]}"):
                await client.call_tool(NAMES[0], {"query": NAMES[1]})
        allowed = scrape(base, source="127.0.0.2")
        assert allowed.status_code == 200, allowed.text
        assert allowed.headers["x-request-id"]
        assert scrape(base).status_code == 401  # 127.0.0.1 is not in the list: the normal auth applies
        with_token = scrape(base, headers={"Authorization": f"Bearer {TOKEN}"})
        assert with_token.status_code == 200
    finally:
        proc.terminate()
        _, stderr = proc.communicate(timeout=20)

    samples = parse(allowed.text)
    calls = "sondos_tool_calls_total"
    assert value(samples, calls, tool="update_assistant", outcome="ok") == 1
    assert value(samples, calls, tool="update_assistant", outcome="invalid_arguments") == 1
    assert value(samples, calls, tool="get_assistant", outcome="not_found") == 1
    assert value(samples, calls, tool="unknown", outcome="protocol_error") == 1
    assert value(samples, "sondos_tool_call_seconds_count", tool="update_assistant") == 2
    assert value(samples, "sondos_refusals_total", tool="update_assistant", code="wrong_type") == 1
    assert value(samples, "sondos_refusals_total", tool="update_assistant", code="unknown_reference") == 1
    assert value(samples, "sondos_repairs_offered_total", tool="update_assistant", kind="fix") == 1
    assert value(samples, "sondos_repairs_offered_total", tool="update_assistant", kind="candidates") == 1
    put = {"method": "PUT", "endpoint": "/user/assistant/{id}", "status": "200"}
    assert value(samples, "sondos_upstream_request_seconds_count", **put) == 1
    assert value(samples, "sondos_upstream_request_seconds_bucket", **put, le="+Inf") == 1
    assert (
        value(
            samples,
            "sondos_upstream_request_seconds_count",
            method="GET",
            endpoint="/user/assistants/get",
            status="200",
        )
        >= 1
    )
    for operation in ("acquire", "begin", "finish"):
        assert value(samples, "sondos_journal_write_seconds_count", operation=operation) == 1
    for operation in ("acquire", "begin", "finish", "release", "prune"):
        assert value(samples, "sondos_journal_write_failures_total", operation=operation) == 0
        assert ("sondos_journal_write_failures_total", frozenset({("operation", operation)})) in samples
    assert value(samples, "sondos_enrolled_people") == 0
    assert ("sondos_enrolled_people", frozenset()) in samples
    assert all(not any(ch.isdigit() for ch in endpoint) for endpoint in label_values(samples, "endpoint"))
    assert parse(with_token.text).keys() >= {k for k in samples if k[0].startswith("sondos_tool_calls")}
    for secret in (DEMO_KEY, DEMO_KEY.split("|")[1], TOKEN, PROMPT, "PROMPT-CANARY", *NAMES):
        assert secret not in allowed.text
        assert secret not in stderr

    logged = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    assert logged
    assert len(logged) == len([line for line in stderr.splitlines() if not line.startswith("sondos-mcp:")])
    put_lines = [e for e in logged if e["message"] == "PUT /user/assistant/12 -> 200"]
    assert [e["request_id"] for e in put_lines] == ["obs-req-1"]

    spans = exported_spans(exports)  # flushed when the worker shut down, within the 5 s batch delay
    tool = next(span for span in spans if span.name == "tools/call update_assistant")
    put_span = next(span for span in spans if span.name == "PUT /user/assistant/{id}")
    assert put_span.parent_span_id == tool.span_id
    assert [e["trace_id"] for e in put_lines] == [tool.trace_id.hex()]
    exported = b"".join(body for _, body in exports)
    for secret in (DEMO_KEY, TOKEN, PROMPT, *NAMES):
        assert secret.encode() not in exported


def test_per_user_mode_serves_metrics_only_to_allowed_addresses(sandbox: SandboxServer, restored_hooks: None):
    """In per-user key mode a key header proves nothing about the caller, so /metrics goes to the
    allowed addresses only (403 to anyone else, key or not; 401 without a key, as for /mcp)."""
    settings = Settings(
        base_url=sandbox.base_url, http_auth="per_user", metrics=True, metrics_allow=["127.0.0.2"], retries=0
    )
    with ThreadedServer(create_app(settings), lifespan="on") as server:
        assert scrape(server.base_url, source="127.0.0.2").status_code == 200
        assert scrape(server.base_url, headers={"X-Sondos-Api-Key": DEMO_KEY}).status_code == 403
        assert scrape(server.base_url).status_code == 401
        # Only GET (and HEAD) bypasses the authentication, even from an allowed address.
        with httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2")) as http:
            assert http.post(f"{server.base_url}/metrics").status_code == 401


def test_signed_in_mode_serves_metrics_to_a_read_scope_token_or_an_allowed_address(
    sandbox: SandboxServer, issuer: Issuer, tmp_path: Path, restored_hooks: None
):
    """In oauth mode the normal authentication for /metrics is an access token with sondos:read:
    none is a 401 pointing to the resource metadata, a token without the scope a 403."""
    with serving(sandbox.base_url, issuer, tmp_path, metrics=True, metrics_allow=["127.0.0.2"]) as served:
        assert scrape(served.url, source="127.0.0.2").status_code == 200
        anonymous = scrape(served.url)
        assert anonymous.status_code == 401
        assert "resource_metadata=" in anonymous.headers["www-authenticate"]
        bad = scrape(served.url, headers={"Authorization": "Bearer not-a-token"})
        assert bad.status_code == 401
        reader = issuer.token(served.resource, scope="sondos:read")
        assert scrape(served.url, headers={"Authorization": f"Bearer {reader}"}).status_code == 200
        stranger = issuer.token(served.resource, scope="profile")
        assert scrape(served.url, headers={"Authorization": f"Bearer {stranger}"}).status_code == 403


def test_metrics_are_off_by_default(sandbox: SandboxServer):
    """Without SONDOS_METRICS there is no /metrics, for any caller, and answers still carry a request id."""
    settings = Settings(base_url=sandbox.base_url, api_key=SecretStr(DEMO_KEY), http_tokens=[SecretStr(TOKEN)])
    with ThreadedServer(create_app(settings), lifespan="on") as server:
        response = scrape(server.base_url, headers={"Authorization": f"Bearer {TOKEN}"})
        assert response.status_code == 404
        assert response.headers["x-request-id"]
        health = httpx.get(f"{server.base_url}/healthz", headers={"X-Request-Id": "lb-check-7"})
        assert health.headers["x-request-id"] == "lb-check-7"
        odd = httpx.get(f"{server.base_url}/healthz", headers={"X-Request-Id": '{"injected": "log field"}'})
        assert odd.headers["x-request-id"] != '{"injected": "log field"}'  # not a plain token: a new id instead


# --- the hooks --------------------------------------------------------------------------------------


def test_a_count_set_before_metrics_are_switched_on_reaches_the_gauge(restored_hooks: None):
    """`telemetry.set_enrolled_people` keeps the count, so hooks installed later report it."""
    m = Metrics()
    telemetry.set_enrolled_people(4)
    telemetry.install(PrometheusHooks(m))
    assert m.registry.get_sample_value("sondos_enrolled_people") == 4
    telemetry.set_enrolled_people(0)
    assert m.registry.get_sample_value("sondos_enrolled_people") == 0


@pytest.mark.anyio
async def test_the_enrolled_people_gauge_follows_the_vault(restored_hooks: None, tmp_path: Path):
    """The key vault reports how many people have a key on file: when first used, and after each
    enrolment and each forgetting; its store is the journal's, timed like every journal write."""
    import base64

    from sondos_mcp.vault import Vault

    m = Metrics()
    telemetry.install(PrometheusHooks(m))
    store = telemetry.hooks.journal(SqliteJournal(tmp_path / "journal.sqlite3", api="https://api.test"))
    assert isinstance(store, TimedJournal)
    await store.open()

    async def ready() -> Any:
        return store

    keys = Vault(bytes(range(32)), api="https://api.test", audience="https://mcp.test/mcp", store=ready)
    gauge = "sondos_enrolled_people"
    try:
        assert await keys.key_of("alice") is None
        assert m.registry.get_sample_value(gauge) == 0
        for person, count in (("alice", 1), ("bob", 2), ("alice", 2)):
            ticket = keys.read(keys.issue(person))
            assert ticket is not None
            assert await keys.enrol(ticket, "1|" + base64.b16encode(person.encode()).decode())
            assert m.registry.get_sample_value(gauge) == count
        assert await keys.forget("alice")
        assert m.registry.get_sample_value(gauge) == 1
    finally:
        await store.aclose()


@pytest.mark.anyio
async def test_journal_writes_are_timed_and_failures_counted(tmp_path: Path):
    """Each journal write is observed by operation; a write that fails (the file removed under the
    server) is counted as a failure and still raised."""
    m = Metrics()
    path = tmp_path / "journal.sqlite3"
    store = TimedJournal(SqliteJournal(path, api="https://api.test"), m)
    await store.open()
    lease = await store.acquire("acct", 12, "holder-1", 30.0)
    assert lease is not None
    change = NewChange(assistant_id=12, fields={"max_call_duration": 300}, before={}, actor="t", account="acct")
    await store.begin(change)
    assert await store.finish(change.id, "applied", None, lease)
    assert [e.id for e in await store.list(_filter("acct"), 10)] == [change.id]  # reads pass through
    path.unlink()
    with pytest.raises(JournalUnavailable):
        await store.begin(NewChange(assistant_id=12, fields={}, before={}, actor="t", account="acct"))
    await store.aclose()
    sample = m.registry.get_sample_value
    for operation in ("acquire", "finish"):
        assert sample("sondos_journal_write_seconds_count", {"operation": operation}) == 1
    assert sample("sondos_journal_write_seconds_count", {"operation": "begin"}) == 2
    assert sample("sondos_journal_write_failures_total", {"operation": "begin"}) == 1
    assert sample("sondos_journal_write_failures_total", {"operation": "finish"}) == 0


def _filter(account: str) -> Any:
    from sondos_mcp.journal import ChangeFilter

    return ChangeFilter(account=account)


@pytest.mark.parametrize(
    ("path", "template"),
    [
        ("/user/assistant/12", "/user/assistant/{id}"),
        ("/user/assistants/get", "/user/assistants/get"),
        ("/user/assistants/phone-numbers", "/user/assistants/phone-numbers"),
        ("/user/assistant/12?page=2&name=Riyadh%20Sales", "/user/assistant/{id}"),
        ("/user/assistant/Riyadh Sales", "/user/assistant/{id}"),
        ("/user/assistant/a1b2c3/calls/77", "/user/assistant/{id}/calls/{id}"),
        ("/api/user/me", "/api/user/me"),
    ],
)
def test_endpoints_are_path_templates_without_ids_or_queries(path: str, template: str):
    assert endpoint_template(path) == template


def test_a_bad_metrics_allow_list_is_refused_at_start_up():
    with pytest.raises(ValidationError) as caught:
        Settings(metrics_allow="127.0.0.1, 10.0.0.0/33")
    assert setting_errors(caught.value) == [
        "SONDOS_METRICS_ALLOW: '10.0.0.0/33' is not an IP address or network (such as 127.0.0.1 or 10.0.0.0/8)"
        " (got '127.0.0.1, 10.0.0.0/33')"
    ]


# --- JSON logs ----------------------------------------------------------------------------------------


def test_json_log_lines_carry_request_and_trace_ids_with_secrets_scrubbed():
    """SONDOS_LOG_FORMAT=json: one object per line, the request's and the current span's ids, and the
    secrets scrubbed in the message and in a traceback alike."""
    import io
    import logging

    from opentelemetry.sdk.trace import TracerProvider

    from sondos_mcp.logs import JsonFormatter, RedactSecrets

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactSecrets([DEMO_KEY]))
    logger = logging.getLogger("sondos_mcp.test_json_logs")
    logger.addHandler(handler)
    logger.propagate = False
    tracer = TracerProvider().get_tracer("test")  # a provider of its own: the process's stays untouched
    token = telemetry.REQUEST_ID.set("req-42")
    try:
        with tracer.start_as_current_span("tools/call update_assistant") as span:
            logger.warning("sent with %s", DEMO_KEY)
            try:
                raise RuntimeError(f"upstream echoed {DEMO_KEY}")
            except RuntimeError:
                logger.exception("failed")
    finally:
        telemetry.REQUEST_ID.reset(token)
        logger.removeHandler(handler)
    logger.info("outside any request")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    context = span.get_span_context()
    assert first["message"] == "sent with [redacted]"
    assert first["request_id"] == "req-42"
    assert first["trace_id"] == format(context.trace_id, "032x")
    assert first["span_id"] == format(context.span_id, "016x")
    assert first["level"] == "WARNING"
    assert "RuntimeError: upstream echoed [redacted]" in second["exception"]
    assert DEMO_KEY not in stream.getvalue()


# --- traces ---------------------------------------------------------------------------------------------


def test_spans_nest_upstream_requests_under_their_tool_call(tmp_path: Path):
    """With a tracer provider (the SDK's in-memory exporter), the MCP SDK's middleware records each
    tool call and the upstream client each request to the API as its child, named by the endpoint
    template, and the upstream receives that span as its `traceparent`; log lines of the call carry its
    trace id; no span holds a key, a name or prompt text. A call continuing a caller's unsampled trace
    records nothing and sends no trace context upstream (the instrumentation is skipped)."""
    child = subprocess.run(
        [sys.executable, str(HERE / "trace_child.py"), str(tmp_path / "journal.sqlite3")],
        capture_output=True,
        text=True,
        timeout=60,
        env=os.environ | {"PYTHONSAFEPATH": "1"},
    )
    assert child.returncode == 0, child.stderr
    run = json.loads(child.stdout)
    spans, upstream = run["spans"], run["upstream"]
    by_id = {s["span_id"]: s for s in spans}
    tool = next(s for s in spans if s["name"] == "tools/call update_assistant")
    assert tool["kind"] == "SERVER"
    assert tool["attributes"]["gen_ai.tool.name"] == "update_assistant"
    put = next(s for s in spans if s["name"] == "PUT /user/assistant/{id}")
    assert put["kind"] == "CLIENT"
    assert put["parent_id"] == tool["span_id"]
    assert put["trace_id"] == tool["trace_id"]
    assert put["attributes"]["url.template"] == "/user/assistant/{id}"
    assert put["attributes"]["url.full"].endswith("/user/assistant/{id}")  # no id, and no query anywhere:
    assert (put["attributes"]["http.request.method"], put["attributes"]["http.response.status_code"]) == ("PUT", 200)
    client_spans = [s for s in spans if s["kind"] == "CLIENT"]
    assert len(client_spans) == 3  # the list read before the change, the PUT, get_assistant's read
    assert all(by_id[s["parent_id"]]["name"].startswith("tools/call ") for s in client_spans)
    assert all("?" not in s["attributes"]["url.full"] for s in client_spans)
    # Each traced upstream request carried its own span as the parent the API would continue from.
    sent = [u["traceparent"].rsplit("-", 1)[0] for u in upstream[:3]]  # the flags: sampled (and random id)
    assert sent == [f"00-{s['trace_id']}-{s['span_id']}" for s in client_spans]
    # The third call continued an unsampled trace: no span of it, no trace context sent upstream.
    assert [u["path"] for u in upstream[3:]] == ["/user/assistants/get", "/user/assistant/14"]
    assert [u["traceparent"] for u in upstream[3:]] == [None, None]
    assert sum(s["name"] == "tools/call update_assistant" for s in spans) == 1
    unknown = [s for s in spans if s["attributes"].get("gen_ai.operation.name") == "execute_tool" and s is not tool]
    assert [s["name"] for s in unknown] == ["tools/call get_assistant", "tools/call"]  # the unknown name left out
    assert unknown[1]["status"] == "ERROR"
    assert "Riyadh" not in json.dumps(spans)  # neither the unknown tool's name nor the resource's address
    assert any(s["name"] == "resources/read" and s["status"] == "ERROR" for s in spans)
    text = child.stdout + child.stderr
    for secret in (DEMO_KEY, DEMO_KEY.split("|")[1], "PROMPT-CANARY", *NAMES):
        assert secret not in text
    logs = [json.loads(line) for line in child.stderr.splitlines() if line.startswith("{")]
    put_logs = [e for e in logs if e["message"] == "PUT /user/assistant/12 -> 200"]
    assert [e["trace_id"] for e in put_logs] == [tool["trace_id"]]


def test_stdio_start_up_loads_no_metrics_or_tracing_sdk():
    """Off by default and free: the stdio command, run to the end of its input, imports neither
    prometheus_client nor the OpenTelemetry SDK (nor our module that would); with
    OTEL_EXPORTER_OTLP_ENDPOINT set, the same start-up turns tracing on."""
    script = (
        "import os, sys\n"
        "from sondos_mcp.cli import main\n"
        "heavy = ('prometheus_client', 'opentelemetry.sdk', 'opentelemetry.exporter', 'opentelemetry.instrumentation',"
        " 'sondos_mcp.metrics', 'sondos_mcp.observability')\n"
        "def loaded(): return sorted(m for m in sys.modules if m.startswith(heavy))\n"
        "assert main([]) == 0\n"
        "print(loaded())\n"
        "os.environ['OTEL_EXPORTER_OTLP_ENDPOINT'] = 'http://127.0.0.1:9'\n"
        "assert main([]) == 0\n"
        "print('opentelemetry.sdk.trace' in loaded(), 'sondos_mcp.observability' in loaded())\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SONDOS_", "OTEL_", "PROMETHEUS_"))}
    child = subprocess.run(
        [sys.executable, "-c", script], stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60, env=env
    )
    assert child.returncode == 0, child.stderr
    assert child.stdout.splitlines() == ["[]", "True True"]


@pytest.mark.parametrize(
    ("method", "base_url", "path", "status", "name", "url", "port", "error"),
    [
        (
            "GET",
            "https://user:secret-pw@api.example.com/api/",
            "/user/assistants/get?page=2&search=Riyadh",
            "200",
            "GET /user/assistants/get",
            "https://api.example.com/api/user/assistants/get",
            443,
            None,
        ),
        ("PUT", "http://127.0.0.1:8080", "/user/assistant/12", "502", "PUT /user/assistant/{id}", None, 8080, "502"),
        (
            "PUT",
            "http://[::1]:8080",
            "/user/assistant/12",
            "timeout",
            "PUT /user/assistant/{id}",
            None,
            8080,
            "timeout",
        ),
        (
            "GET",
            "http://api.local",
            "/user/me",
            "connect_error",
            "GET /user/me",
            "http://api.local/user/me",
            80,
            "connect_error",
        ),
    ],
)
def test_an_upstream_request_is_a_child_span_named_by_its_template_without_ids_credentials_or_query(
    method: str, base_url: str, path: str, status: str, name: str, url: str | None, port: int, error: str | None
):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import StatusCode

    from sondos_mcp.observability import UpstreamSpans

    exporter = InMemorySpanExporter()
    provider = TracerProvider()  # not the process's: this test sets no global state
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    spans = UpstreamSpans(provider.get_tracer("test"))
    assert spans.upstream(method, base_url, path) is None  # outside a recorded span: untraced, nothing sent
    with provider.get_tracer("test").start_as_current_span("tools/call update_assistant") as parent:
        upstream = spans.upstream(method, base_url, path)
        assert upstream is not None
        upstream.end(status)
    child = next(s for s in exporter.get_finished_spans() if s.name != "tools/call update_assistant")
    context = child.get_span_context()
    assert child.name == name
    assert child.parent is not None
    assert child.parent.span_id == parent.get_span_context().span_id
    assert (
        upstream.headers["traceparent"]
        == f"00-{context.trace_id:032x}-{context.span_id:016x}-{context.trace_flags:02x}"
    )
    assert context.trace_flags.sampled
    attributes = dict(child.attributes or {})
    assert attributes["http.request.method"] == method
    assert attributes["server.port"] == port
    if url is not None:
        assert attributes["url.full"] == url
    assert attributes.get("http.response.status_code") == (int(status) if status.isdigit() else None)
    assert attributes.get("error.type") == error
    assert child.status.status_code == (StatusCode.ERROR if error else StatusCode.UNSET)
    shown = json.dumps(attributes) + child.name
    for secret in ("secret-pw", "user:", "Riyadh", "page=", "assistant/12"):
        assert secret not in shown


def test_a_name_that_is_not_a_string_is_refused_as_such_with_traces_on(collector: tuple[str, Any]):
    """With traces on, a tools/call or prompts/get whose `name` is a list or an object gets the
    JSON-RPC error for bad parameters, as with traces off, not an internal failure of the span guard."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SONDOS_", "OTEL_"))}
    env |= {"SONDOS_API_KEY": DEMO_KEY, "SONDOS_JOURNAL": "off", "OTEL_EXPORTER_OTLP_ENDPOINT": collector[0]}
    proc = subprocess.Popen(
        server_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdin is not None
    try:
        answers = stdio_exchange(
            proc,
            {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}},
            {"jsonrpc": "2.0", "method": "notifications/initialized"},
            {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": ["Riyadh Sales"]}},
            {"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"name": {"a": "Riyadh"}}},
            {"jsonrpc": "2.0", "id": 4, "method": "prompts/get", "params": {"name": ["tune_assistant"]}},
        )  # fmt: skip
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert [a.get("error", {}).get("code") for a in answers[1:]] == [-32602] * 3, answers


def _call_result(is_error: bool, structured: dict[str, Any]) -> Any:
    from mcp_types import CallToolResult, TextContent

    return CallToolResult(
        content=[TextContent(type="text", text="…")], structured_content=structured, is_error=is_error
    )


@pytest.mark.parametrize(
    ("result", "outcome", "refusals", "repairs"),
    [
        pytest.param(_call_result(False, {"applied": True}), "ok", {}, {}, id="ok"),
        pytest.param(
            _call_result(True, {"error": {"kind": "upstream_unavailable"}}), "upstream_unavailable", {}, {}, id="error"
        ),
        pytest.param(
            _call_result(
                True,
                {
                    "problems": [
                        {"code": "out_of_range", "fix": {"value": 1.2}},
                        {"code": "unknown_reference", "candidates": [3, 4]},
                    ],
                    "suggested_arguments": {"id": 12, "speech_speed": 1.2},
                },
            ),
            "refused",
            {"out_of_range": 1, "unknown_reference": 1},
            {"fix": 1, "candidates": 1, "suggested_arguments": 1},
            id="refused-with-repairs",
        ),
        pytest.param(
            _call_result(
                True,
                {"assistants": [{"problems": [{"code": "wrong_type"}]}, {"problems": [{"code": "Riyadh Sales"}]}]},
            ),
            "refused",
            {"wrong_type": 1, "other": 1},
            {},
            id="change-set-members",
        ),
        pytest.param(
            {"resultType": "input_required", "inputRequests": {}}, "input_required", {}, {}, id="input-required-wire"
        ),
        pytest.param({"isError": True, "structuredContent": {}}, "refused", {}, {}, id="refused-wire"),
    ],
)
def test_a_calls_outcome_refusals_and_repairs_are_counted_from_its_result(
    result: Any, outcome: str, refusals: dict[str, int], repairs: dict[str, int]
):
    """What the calls middleware reads off a result, the model as the handlers return it or the wire
    shape: the outcome, each problem's code (a code that is not one of our words as `other`), and the
    repairs offered."""
    from mcp_types import InputRequiredResult

    from sondos_mcp.metrics import CallMetrics, Metrics

    m = Metrics()
    metrics = CallMetrics(m)
    assert metrics._outcome("update_assistant", result) == outcome
    samples = parse(generate_latest(m.registry).decode())
    counted = {dict(labels)["code"]: v for (name, labels), v in samples.items() if name == "sondos_refusals_total"}
    offered = {
        dict(labels)["kind"]: v for (name, labels), v in samples.items() if name == "sondos_repairs_offered_total"
    }
    assert counted == refusals
    assert offered == repairs
    assert (
        CallMetrics(Metrics())._outcome("update_assistant", InputRequiredResult(request_state="s")) == "input_required"
    )
