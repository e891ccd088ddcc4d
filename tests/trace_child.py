"""Run by tests/test_observability.py in a process of its own (a tracer provider is set once per
process): traces on, with the OpenTelemetry SDK's in-memory exporter; real MCP calls through an
in-memory client session to the server, which calls the sandbox API over real HTTP. Prints one
JSON document on stdout: the finished spans, and the `traceparent` header of each request the
sandbox received. The server's JSON log lines go to stderr."""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
from mcp import Client
from mcp.shared.exceptions import MCPError
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pydantic import SecretStr

from sondos_mcp.config import Settings
from sondos_mcp.logs import install_handler
from sondos_mcp.observability import enable_tracing, guard_span_names
from sondos_mcp.sandbox import DEMO_KEY, SandboxState, build_app
from sondos_mcp.sandbox.loopback import ThreadedServer
from sondos_mcp.server import build_server

FOREIGN = "Riyadh Sales"
FOREIGN_URI = "sondos://assistants/Riyadh-Sales"
UNSAMPLED_PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"  # a caller's trace, not sampled


def recording(app: Any, seen: list[dict[str, Any]]) -> Any:
    """The sandbox app, noting each request's trace context header as it arrives."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            traceparent = headers.get(b"traceparent")
            seen.append(
                {"method": scope["method"], "path": scope["path"], "traceparent": traceparent and traceparent.decode()}
            )
        await app(scope, receive, send)

    return wrapped


async def calls(base_url: str, journal: str) -> None:
    settings = Settings(base_url=base_url, api_key=SecretStr(DEMO_KEY), retries=0, journal=journal)
    server = build_server(settings)
    guard_span_names(server)  # as the server does once tracing is on
    async with Client(server) as client:
        for tool, arguments, meta in (
            ("update_assistant", {"id": 12, "max_call_duration": 333, "system_prompt": "PROMPT-CANARY be brief"}, None),
            ("get_assistant", {"id": 13}, None),
            # Continues a caller's trace that is not sampled: nothing of this call is recorded.
            ("update_assistant", {"id": 14, "max_call_duration": 334}, {"traceparent": UNSAMPLED_PARENT}),
        ):
            result = await client.call_tool(tool, arguments, meta=meta)
            assert not result.is_error, result.content
        # A tool name the server does not know (here an assistant's): the client hears it back, no span carries it.
        message = None
        try:
            await client.call_tool(FOREIGN, {})
        except MCPError as exc:
            message = exc.error.message
        assert message == f"Unknown tool: {FOREIGN}", message
        # A resource that does not exist, its address naming an assistant: the client hears which.
        message = None
        try:
            await client.read_resource(FOREIGN_URI)
        except MCPError as exc:
            message = exc.error.message
        assert message is not None
        assert FOREIGN_URI in message, message


def main() -> None:
    exporter = InMemorySpanExporter()
    enable_tracing(SimpleSpanProcessor(exporter))
    install_handler("INFO", [DEMO_KEY], "json")  # JSON log lines on stderr, with the trace's ids
    upstream: list[dict[str, Any]] = []
    with ThreadedServer(recording(build_app(SandboxState()), upstream)) as sandbox:
        anyio.run(calls, sandbox.base_url, sys.argv[1])
    spans = []
    for span in exporter.get_finished_spans():
        context, parent = span.get_span_context(), span.parent
        spans.append(
            {
                "name": span.name,
                "kind": span.kind.name,
                "trace_id": format(context.trace_id, "032x"),
                "span_id": format(context.span_id, "016x"),
                "parent_id": format(parent.span_id, "016x") if parent is not None else None,
                "attributes": dict(span.attributes or {}),
                "events": [{"name": e.name, "attributes": dict(e.attributes or {})} for e in span.events],
                "status": span.status.status_code.name,
                "status_description": span.status.description,
            }
        )
    print(json.dumps({"spans": spans, "upstream": upstream}, default=str))


if __name__ == "__main__":
    main()
