"""Observability benchmark: per-call time over streamable HTTP with metrics and traces on versus off.

Paired, interleaved design (as bench_journal.py): in each round one `sondos-mcp --transport http`
process per configuration runs at once against one sandbox API process, and the timed calls take
turns, call by call, the order rotated, so the machine's and the sandbox's drift falls on every
configuration alike. Each configuration changes its own assistant (rotated per round); all
journal to SQLite. The configurations:

- off: the defaults;
- metrics: `SONDOS_METRICS=1`;
- metrics + traces: and `OTEL_EXPORTER_OTLP_ENDPOINT` at a stand-in OTLP collector on 127.0.0.1
  that accepts every export (every call traced: the OpenTelemetry default sampler);
- metrics + traces, 1 in 10: the standard sampler settings recording one trace in ten
  (`OTEL_TRACES_SAMPLER=parentbased_traceidratio`, `OTEL_TRACES_SAMPLER_ARG=0.1`);
- and a second "off" server: two identical processes differ by a few percent (memory layout, which
  core each lands on), so its ratio is the run's own noise floor.

Three calls: an applied update (the journal's writes, a list read and a PUT upstream: three
spans), a refused update with repairs (the refusal read for codes and repairs; one span), and a
read served from the cache (list_assistants; one span). Reported per configuration: the median
and p90 of all timed calls, their ratio to "off", and the server's CPU time per call (user +
system, all its threads, so the export thread's encoding counts) with its ratio. After each
round's calls, /metrics is scraped once (untimed) to check it and to time a scrape.

Run: `python bench/bench_observability.py [--rounds 5] [--calls 150]`. Prints a Markdown table. Each
configuration changes its own assistant, rotated per round: with rounds a multiple of five, each
configuration has changed each assistant alike.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import cpu_seconds, free_port, sandbox_api, server_env, wait_healthy

TOKEN = "bench-token"
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
    "Authorization": f"Bearer {TOKEN}",
}
ASSISTANTS = (12, 14, 16, 101, 102)  # pipeline assistants alike in shape, one per configuration
Shape = Callable[[int, int], tuple[str, dict[str, Any], bool]]
SHAPES: dict[str, Shape] = {
    "update_assistant, applied": lambda id_, i: (
        "update_assistant",
        {"id": id_, "max_call_duration": 300 + i % 50},
        False,
    ),
    "update_assistant, refused with repairs": lambda id_, i: (
        "update_assistant",
        {"id": id_, "speech_speed": "0.9x", "language": "germn"},
        True,
    ),
    "list_assistants": lambda id_, i: ("list_assistants", {}, False),
}


class Collector(BaseHTTPRequestHandler):
    """Stands in for an OTLP/HTTP collector: takes each export and answers an empty success."""

    received = 0

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("content-length", 0)))
        type(self).received += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def collector() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()


@contextmanager
def http_server(env: dict[str, str]) -> Iterator[tuple[str, int]]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "sondos_mcp", "--transport", "http", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base}/healthz", proc)
        yield base, proc.pid
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def call(http: httpx.Client, base: str, tool: str, arguments: dict[str, Any], refused: bool, n: int) -> float:
    body = {"jsonrpc": "2.0", "id": n, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    start = time.perf_counter()
    response = http.post(f"{base}/mcp", content=json.dumps(body))
    elapsed = time.perf_counter() - start
    result = response.json().get("result", {})
    if response.status_code != 200 or result.get("isError") is not refused:
        raise RuntimeError(f"{tool} answered unexpectedly: {response.status_code} {response.text[:300]}")
    return elapsed * 1000


def paired_round(
    servers: dict[str, tuple[str, int]], ids: dict[str, int], shape: Shape, calls: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Timed calls taking turns; also each server's CPU time over them."""
    timings: dict[str, list[float]] = {name: [] for name in servers}
    clients = {name: httpx.Client(headers=HEADERS, timeout=30) for name in servers}
    names = list(servers)
    try:
        for i in range(10):  # warm-up: imports, pools, the journal's first open
            for name in names:
                call(clients[name], servers[name][0], *shape(ids[name], i), n=i)
        started = {name: cpu_seconds(pid) for name, (_, pid) in servers.items()}
        for i in range(calls):
            for name in names[i % len(names) :] + names[: i % len(names)]:
                tool, arguments, refused = shape(ids[name], i)
                timings[name].append(call(clients[name], servers[name][0], tool, arguments, refused, n=i))
        cpu = {name: cpu_seconds(pid) - started[name] for name, (_, pid) in servers.items()}
    finally:
        for client in clients.values():
            client.close()
    return timings, cpu


def scrape(base: str) -> float:
    """One GET /metrics, checked; milliseconds."""
    start = time.perf_counter()
    answer = httpx.get(f"{base}/metrics", timeout=30)
    elapsed = (time.perf_counter() - start) * 1000
    if answer.status_code != 200 or "sondos_tool_calls_total" not in answer.text:
        raise RuntimeError(f"/metrics answered {answer.status_code}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=150, help="timed calls per configuration, shape and round")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-observability-"))
    results: dict[tuple[str, str], list[float]] = {}
    cpu_used: dict[tuple[str, str], float] = {}
    scrapes: list[float] = []
    with sandbox_api() as base_url, collector() as otlp:
        base = server_env(base_url) | {"SONDOS_HTTP_TOKENS": TOKEN, "SONDOS_RETRIES": "0"}
        base = {k: v for k, v in base.items() if not k.startswith(("OTEL_", "PROMETHEUS_"))}
        metrics = base | {"SONDOS_METRICS": "1", "SONDOS_METRICS_ALLOW": "127.0.0.1"}
        traced = metrics | {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp}
        sampled = traced | {"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.1"}
        configs = {
            "off": base,
            # A second server with the defaults: how far two identical servers differ in this run, the
            # figure any other ratio must clear to mean something.
            "off, a second server": base,
            "metrics": metrics,
            "metrics + traces": traced,
            "metrics + traces, 1 in 10": sampled,
        }
        configs = {
            name: env | {"SONDOS_JOURNAL": str(tmp / f"{k}.sqlite3")} for k, (name, env) in enumerate(configs.items())
        }
        for round_ in range(args.rounds):
            ids = {name: ASSISTANTS[(k + round_) % len(ASSISTANTS)] for k, name in enumerate(configs)}
            with ExitStack() as stack:
                servers = {name: stack.enter_context(http_server(env)) for name, env in configs.items()}
                for label, shape in SHAPES.items():
                    timings, cpu = paired_round(servers, ids, shape, args.calls)
                    for name, values in timings.items():
                        results.setdefault((label, name), []).extend(values)
                        cpu_used[(label, name)] = cpu_used.get((label, name), 0.0) + cpu[name]
                scrapes.append(scrape(servers["metrics + traces"][0]))
        exports = Collector.received

    print("| call | configuration | median | p90 | median vs off | server CPU per call | CPU vs off |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for label in SHAPES:
        off_median = statistics.median(results[(label, "off")])
        off_cpu = cpu_used[(label, "off")] / len(results[(label, "off")])
        for name in configs:
            timings = sorted(results[(label, name)])
            median = statistics.median(timings)
            p90 = timings[int(len(timings) * 0.9)]
            per_call = cpu_used[(label, name)] / len(timings)
            print(
                f"| {label} | {name} | {median:.2f} ms | {p90:.2f} ms | {median / off_median:.3f}× "
                f"| {per_call * 1e6:.0f} µs | {per_call / off_cpu:.2f}× |"
            )
    print(
        f"\n{args.rounds} rounds × {args.calls} calls per configuration and call, interleaved call by call; "
        f"medians of all calls. The stand-in collector took {exports} OTLP exports; a scrape of /metrics "
        f"took {statistics.median(scrapes):.1f} ms (median of {len(scrapes)})."
    )
    return 0 if exports else 1


if __name__ == "__main__":
    raise SystemExit(main())
