"""Load benchmark: many concurrent MCP clients over streamable HTTP, sondos-mcp beside a bare SDK server.

Each client is an asyncio task that sends JSON-RPC `tools/call` POSTs (stateless, so no session
handshake) over its own keep-alive connection: `update_assistant` (validation plus a real PUT to
the sandbox API, a separate process on 127.0.0.1) against the bare server's trivial tool.
Bounded: a fixed number of calls per client and a time limit per run; loopback only. The two
cores are shared by the server workers, the sandbox and this load generator.

Run: `python bench/bench_http.py [--clients 64] [--calls 12]`. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import httpx
from bench_core import free_port, wait_healthy  # run as a script: bench/ is on sys.path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = "bench-token"
HEADERS = {
    "Accept": "application/json, text/event-stream",
    "Content-Type": "application/json",
    "MCP-Protocol-Version": "2025-11-25",
}


def start(kind: str, workers: int, sandbox_url: str) -> tuple[subprocess.Popen, str]:
    from sondos_mcp.sandbox import DEMO_KEY

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")}
    if kind == "sondos-mcp":
        env |= {"SONDOS_BASE_URL": sandbox_url, "SONDOS_API_KEY": DEMO_KEY, "SONDOS_HTTP_TOKENS": TOKEN}
        cmd = [
            sys.executable,
            "-m",
            "sondos_mcp",
            "--transport",
            "http",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ]
        health = f"http://127.0.0.1:{port}/healthz"
    else:
        env["PYTHONPATH"] = str(ROOT / "bench")
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "bare_http_server:create_app",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        health = f"http://127.0.0.1:{port}/"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_healthy(health)
    return proc, f"http://127.0.0.1:{port}/mcp"


async def load(url: str, tool: str, clients: int, calls: int, time_limit: float) -> dict[str, float]:
    latencies: list[float] = []
    errors = 0
    speeds = [0.8, 0.9, 1.0, 1.1]

    async def client(n: int) -> None:
        nonlocal errors
        headers = HEADERS | {"Authorization": f"Bearer {TOKEN}"}
        async with httpx.AsyncClient(headers=headers, timeout=30) as http:
            for i in range(calls):
                args = (
                    {"id": 12, "speech_speed": speeds[(n + i) % 4]}
                    if tool == "update_assistant"
                    else {"text": f"hello {n} {i}"}
                )
                body = {"jsonrpc": "2.0", "id": i, "method": "tools/call", "params": {"name": tool, "arguments": args}}
                start = time.perf_counter()
                try:
                    response = await http.post(url, content=json.dumps(body))
                    result = response.json().get("result", {})
                    if response.status_code != 200 or result.get("isError") is not False:
                        errors += 1
                except (httpx.HTTPError, ValueError):
                    errors += 1
                latencies.append(time.perf_counter() - start)

    began = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(client(n) for n in range(clients))), timeout=time_limit)
    elapsed = time.perf_counter() - began
    latencies.sort()
    return {
        "rate": len(latencies) / elapsed,
        "p50": statistics.median(latencies) * 1000,
        "p99": latencies[int(len(latencies) * 0.99) - 1] * 1000,
        "errors": errors,
        "calls": len(latencies),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--calls", type=int, default=12, help="calls per client per run")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--time-limit", type=float, default=90)
    args = parser.parse_args()

    sandbox_port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "sondos_mcp.sandbox", "--port", str(sandbox_port)], stdout=subprocess.DEVNULL
    )
    sandbox_url = f"http://127.0.0.1:{sandbox_port}"
    rows = []
    try:
        wait_healthy(sandbox_url + "/user/me")
        for workers in args.workers:
            result = {}
            for kind, tool in (("bare SDK server", "echo"), ("sondos-mcp", "update_assistant")):
                proc, url = start(kind, workers, sandbox_url)
                try:
                    asyncio.run(load(url, tool, 8, 3, args.time_limit))  # warm-up: imports, pools, caches
                    result[kind] = asyncio.run(load(url, tool, args.clients, args.calls, args.time_limit))
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
            ours, bare = result["sondos-mcp"], result["bare SDK server"]
            for kind in ("bare SDK server", "sondos-mcp"):
                r = result[kind]
                rows.append((kind, workers, r))
            rows.append(
                (
                    "ratio",
                    workers,
                    {
                        "rate": ours["rate"] / bare["rate"],
                        "p50": ours["p50"] / bare["p50"],
                        "p99": ours["p99"] / bare["p99"],
                        "errors": ours["errors"],
                        "calls": 0,
                    },
                )
            )
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)

    print(f"{args.clients} concurrent clients × {args.calls} calls each, 2 cores shared by workers, sandbox and load")
    print("| server | workers | calls/s | p50 | p99 | errors |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind, workers, r in rows:
        if kind == "ratio":
            print(f"| sondos-mcp ÷ bare | {workers} | {r['rate']:.2f}× | {r['p50']:.2f}× | {r['p99']:.2f}× | |")
        else:
            print(
                f"| {kind} | {workers} | {r['rate']:.0f} | {r['p50']:.0f} ms | {r['p99']:.0f} ms | {r['errors']:.0f} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
