"""Fault benchmark: the bounds under a hostile upstream and client, against the same calls unharmed.

Each row runs the installed `sondos-mcp` in a fresh process (stdio, or HTTP for the connection
rows) against the sandbox API in this process, R times, and reports the median with its ratio to
the baseline row measured in the same run:

- call time with an upstream that drips its answer a byte a second, against the call deadline;
- peak RSS of the server process while refusing a 300 MB answer, against a normal call;
- bytes of a tool result built from a 5,000-row upstream list, against the result cap;
- /healthz latency while 1,100 connections hold half-sent headers, against an idle server.

Run: `python bench/bench_faults.py [--runs 3]`. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

INIT = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}}
DEADLINE = 2.0
RESULT_CAP = 64 * 1024


def command() -> list[str]:
    script = Path(sys.executable).with_name("sondos-mcp")
    return [str(script)] if script.exists() else [sys.executable, "-m", "sondos_mcp"]


def env_for(base_url: str, **extra: str) -> dict[str, str]:
    from sondos_mcp.sandbox import DEMO_KEY

    env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")}
    return env | {"SONDOS_BASE_URL": base_url, "SONDOS_API_KEY": DEMO_KEY, "SONDOS_RETRIES": "0", **extra}


def stdio_call(env: dict[str, str], tool: str, arguments: dict[str, Any]) -> tuple[dict[str, Any], float, float]:
    """One tool call in a fresh server process: its result, seconds, and the process's peak RSS in MiB."""
    proc = subprocess.Popen(
        command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": INIT},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
    ]
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    try:
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        proc.stdin.flush()
        proc.stdout.readline()
        start = time.perf_counter()
        proc.stdin.write(json.dumps(call) + "\n")
        proc.stdin.flush()
        answer: dict[str, Any] = {}
        while answer.get("id") != 2:
            answer = json.loads(proc.stdout.readline())
        elapsed = time.perf_counter() - start
        status = Path(f"/proc/{proc.pid}/status").read_text()
        peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))) / 1024
    finally:
        proc.kill()
        proc.wait()
    return answer["result"], elapsed, peak


def result_bytes(result: dict[str, Any]) -> int:
    structured = json.dumps(result.get("structuredContent"), ensure_ascii=False, separators=(",", ":"))
    return len(structured.encode()) + sum(len(b["text"].encode()) for b in result["content"])


def median_of(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def healthz_ms(port: int) -> float:
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        if not sock.recv(64).startswith(b"HTTP/1.1 200"):
            raise RuntimeError("/healthz did not answer 200")
    return (time.perf_counter() - start) * 1000


def http_rows(runs: int) -> tuple[float, float]:
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = env_for("http://127.0.0.1:9", SONDOS_HTTP_HEADER_TIMEOUT="30")
    proc = subprocess.Popen(
        [*command(), "--transport", "http", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (1024, hard)),
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                healthz_ms(port)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        idle = median_of(runs * 5, lambda: healthz_ms(port))
        attackers = []
        for _ in range(1100):
            sock = socket.create_connection(("127.0.0.1", port))
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            attackers.append(sock)
        try:
            attacked = median_of(runs * 5, lambda: healthz_ms(port))
        finally:
            for sock in attackers:
                sock.close()
    finally:
        proc.terminate()
        proc.wait()
    return idle, attacked


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs

    from sondos_mcp.sandbox import SandboxServer

    rows: list[tuple[str, str, str, str, str]] = []
    update = {"id": 12, "speech_speed": 0.9}
    with SandboxServer() as sandbox:
        env = env_for(sandbox.base_url, SONDOS_CALL_DEADLINE=str(DEADLINE), SONDOS_TIMEOUT="3")

        def normal_call() -> float:
            return stdio_call(env, "update_assistant", update)[1]

        def dripped_call() -> float:
            body = {"message": "Assistant updated successfully", "data": {"id": 12}}
            sandbox.state.fail_next(200, body, method="PUT", drip=1.0)
            result, elapsed, _ = stdio_call(env, "update_assistant", update)
            assert result["structuredContent"]["applied"] == "unknown"
            return elapsed

        base_s = median_of(runs, normal_call)
        drip_s = median_of(runs, dripped_call)
        rows.append(("update_assistant, normal upstream (s)", f"{base_s:.3f}", "1.00", "baseline", ""))
        rows.append(
            (
                "update_assistant, drip 1 B/s (s)",
                f"{drip_s:.3f}",
                f"{drip_s / base_s:.1f}",
                f"≤ deadline + 1 = {DEADLINE + 1:g}",
                "ok" if drip_s <= DEADLINE + 1 else "MISSED",
            )
        )

        def rss(size: int) -> float:
            if size:
                sandbox.state.fail_next(200, method="GET", size=size)
            return stdio_call(env, "list_voices", {})[2]

        base_rss = median_of(runs, lambda: rss(0))
        huge_rss = median_of(runs, lambda: rss(300 * 1024 * 1024))
        rows.append(("peak RSS, normal list_voices (MiB)", f"{base_rss:.1f}", "1.00", "baseline", ""))
        rows.append(
            (
                "peak RSS, 300 MB upstream body (MiB)",
                f"{huge_rss:.1f}",
                f"{huge_rss / base_rss:.2f}",
                "< 150",
                "ok" if huge_rss < 150 else "MISSED",
            )
        )

        voices = [{"id": i, "name": f"voice {i} " + "x" * 200, "mode": "pipeline"} for i in range(5000)]
        capped_env = env | {"SONDOS_MAX_RESULT_BYTES": str(RESULT_CAP)}

        def listed(rows_: list[dict[str, Any]]) -> float:
            sandbox.state.fail_next(200, rows_, method="GET", path="/user/assistants/voices")
            return float(result_bytes(stdio_call(capped_env, "list_voices", {})[0]))

        base_bytes = median_of(1, lambda: listed(voices[:5]))
        big_bytes = median_of(1, lambda: listed(voices))
        rows.append(("list_voices result, 5 rows (bytes)", f"{base_bytes:.0f}", "1.00", "baseline", ""))
        rows.append(
            (
                "list_voices result, 5,000 rows (bytes)",
                f"{big_bytes:.0f}",
                f"{big_bytes / base_bytes:.1f}",
                f"≤ cap {RESULT_CAP}",
                "ok" if big_bytes <= RESULT_CAP else "MISSED",
            )
        )

    idle, attacked = http_rows(runs)
    rows.append(("/healthz, idle server (ms)", f"{idle:.2f}", "1.00", "baseline", ""))
    rows.append(
        (
            "/healthz, 1,100 slow-header connections held (ms)",
            f"{attacked:.2f}",
            f"{attacked / idle:.1f}",
            "answers",
            "ok",
        )
    )

    print(f"medians of {runs} runs (HTTP rows: {runs * 5} requests)\n")
    print("| measure | median | ratio to baseline | bound | |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
