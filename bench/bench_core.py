"""Core benchmark: sondos-mcp over stdio beside a bare `mcp` SDK server with one trivial tool.

Everything is measured in one run on this machine, and reported as medians (machines here are
noisy) with ratios against the baseline:

- spawn-to-initialize over stdio (median of N spawns, alternating the two servers),
- tool round trip over stdio: `update_assistant` against the sandbox API (a separate process on
  127.0.0.1) versus the bare server's trivial tool; median and p90 of M calls,
- validation time per proposal (the whole check: contract, cross-field rules, feedback),
- peak RSS of each server process,
- the tool definitions' size in o200k tokens, as tools/list sends them.

Run: `python bench/bench_core.py [--spawns 9] [--calls 400]`. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import compileall
import contextlib
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
BARE_SERVER = ROOT / "bench" / "bare_server.py"
INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listening on {port}")


@contextmanager
def sandbox_api() -> Iterator[str]:
    """The sandbox API in a process of its own on a free loopback port; yields its base URL."""
    port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "sondos_mcp.sandbox", "--port", str(port)], stdout=subprocess.DEVNULL
    )
    try:
        wait_for_port(port)
        yield f"http://127.0.0.1:{port}"
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)


def server_env(base_url: str) -> dict[str, str]:
    from sondos_mcp.sandbox import DEMO_KEY

    env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")}
    return env | {"SONDOS_BASE_URL": base_url, "SONDOS_API_KEY": DEMO_KEY}


def spawn_to_initialize(cmd: list[str], env: dict[str, str]) -> float:
    """Seconds from spawning the process to reading its initialize answer."""
    return spawn_timeline(cmd, env)["initialize"]


def wait_healthy(url: str, proc: subprocess.Popen[Any] | None = None, timeout: float = 60) -> None:
    """Wait until `url` answers at all (a server started in another process); fail if `proc` exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"the server for {url} exited with status {proc.returncode}") from None
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


def _request(id_: int, method: str, params: dict[str, Any]) -> bytes:
    return (json.dumps({"jsonrpc": "2.0", "id": id_, "method": method, "params": params}) + "\n").encode()


def _answer(proc: subprocess.Popen[bytes], id_: int) -> bytes:
    """The line answering request `id_` (notifications and requests from the server are skipped)."""
    assert proc.stdout is not None
    while True:
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the server closed stdout before answering request {id_}")
        if json.loads(line).get("id") == id_ and b'"method"' not in line:
            return line


def cpu_seconds(pid: int) -> float:
    """CPU time the process's threads have run so far (nanosecond clock, unlike the tick-counting
    /proc/<pid>/stat): the work done, whatever else the machine was busy with."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(FileNotFoundError, ProcessLookupError):  # a thread that ended in between
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def spawn_timeline(
    cmd: list[str],
    env: dict[str, str],
    tool: str | None = None,
    arguments: dict[str, Any] | None = None,
    cwd: Path | None = None,
) -> dict[str, float]:
    """Seconds from spawning the process to each answer a client waits for on launch: initialize,
    the first tools/list, the first tools/call of `tool` (work deferred past initialize shows in the
    later columns); and the CPU seconds the server had used by initialize's and by the call's answer.
    Without `tool`, initialize's alone."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=cwd
    )
    assert proc.stdin is not None
    out: dict[str, float] = {}
    try:
        proc.stdin.write((json.dumps(INIT) + "\n").encode())
        proc.stdin.flush()
        line = _answer(proc, 1)
        out["initialize"] = time.perf_counter() - start
        out["cpu initialize"] = cpu_seconds(proc.pid)
        if b'"result"' not in line:
            raise RuntimeError(f"{cmd}: bad initialize answer {line[:200]!r}")
        if tool is None:
            return out
        initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
        proc.stdin.write((json.dumps(initialized) + "\n").encode() + _request(2, "tools/list", {}))
        proc.stdin.flush()
        line = _answer(proc, 2)
        out["tools/list"] = time.perf_counter() - start
        if b'"tools"' not in line:
            raise RuntimeError(f"{cmd}: bad tools/list answer {line[:200]!r}")
        proc.stdin.write(_request(3, "tools/call", {"name": tool, "arguments": arguments or {}}))
        proc.stdin.flush()
        answer = json.loads(_answer(proc, 3))
        out["tools/call"] = time.perf_counter() - start
        out["cpu tools/call"] = cpu_seconds(proc.pid)
        if "result" not in answer or answer["result"].get("isError"):
            raise RuntimeError(f"{cmd}: {tool} failed: {json.dumps(answer)[:300]}")
    finally:
        proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return out


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def round_trips(
    cmd: list[str], env: dict[str, str], tool: str, args_for: Any, calls: int, expect_error: bool = False
) -> dict[str, float]:
    """Median and p90 milliseconds of `calls` tool calls over one stdio session, plus the server's peak RSS."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=env)
    timings: list[float] = []
    async with Client(params) as client:
        for i in range(20):  # warm-up: imports, connection pool, caches
            await client.call_tool(tool, args_for(i))
        for i in range(calls):
            start = time.perf_counter()
            result = await client.call_tool(tool, args_for(i))
            timings.append((time.perf_counter() - start) * 1000)
            if result.is_error != expect_error:
                raise RuntimeError(f"{tool} answered unexpectedly: {result.content}")
        rss = server_rss(cmd)
    timings.sort()
    return {"median": statistics.median(timings), "p90": timings[int(len(timings) * 0.9)], "rss": rss}


def server_rss(cmd: list[str]) -> float:
    """Peak RSS of the newest process running `cmd` (the session's child)."""
    out = subprocess.run(["pgrep", "-n", "-f", "--", " ".join(cmd[1:])], capture_output=True, text=True).stdout.split()
    return peak_rss_mib(int(out[0])) if out else float("nan")


def validation_timing(rounds: int = 2000) -> dict[str, float]:
    """Microseconds per proposal: the server's full check vs. a precompiled jsonschema validation."""
    from sondos_mcp.checking import CheckContext, check_proposal
    from sondos_mcp.sandbox import contract_schema, contract_validator
    from sondos_mcp.schema import update_input_schema

    proposals = [
        {"id": 12, "speech_speed": 0.9, "allow_interruptions": False},
        {"id": 12, "speech_speed": 5, "calls_direction": "inbound", "temperature": 0.3},
        {
            "id": 12,
            "post_call_schema": [{"name": "lead_score", "type": "number", "description": "0-10"}],
            "timezone": "Asia/Riyadh",
            "max_call_duration": 600,
        },
    ]
    validator = contract_validator(contract_schema())
    out = {}
    for name, fn in (
        ("check_update", lambda p: _run_sync(check_proposal(p, CheckContext(update_input_schema())))),
        ("jsonschema", validator.is_valid),
    ):
        samples = []
        for proposal in proposals:
            fn(proposal)
            start = time.perf_counter()
            for _ in range(rounds):
                fn(proposal)
            samples.append((time.perf_counter() - start) / rounds * 1e6)
        out[name] = statistics.median(samples)
    return out


def _run_sync(coro: Any) -> Any:
    """Drive a coroutine that never suspends (no live lookups) without an event loop's overhead."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    raise RuntimeError("the check suspended; it was given no lookups")


def token_counts() -> dict[str, int]:
    import bpe_openai

    from sondos_mcp.server import tool_listing

    encoding = bpe_openai.get_encoding("o200k_base")
    tools = [t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tool_listing().tools]
    wire = {t["name"]: len(encoding.encode(json.dumps(t, separators=(",", ":")))) for t in tools}
    bare = subprocess.run(
        [sys.executable, str(BARE_SERVER), "--print-tools"], capture_output=True, text=True, check=True
    ).stdout
    wire["(bare trivial tool)"] = len(encoding.encode(bare.strip()))
    return wire


def main() -> int:
    import anyio

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spawns", type=int, default=9)
    parser.add_argument("--calls", type=int, default=400)
    args = parser.parse_args()

    import sondos_mcp

    # Timed as installed: pip byte-compiles the package; with PYTHONDONTWRITEBYTECODE set (as on this
    # machine), a source checkout would otherwise be compiled again by every spawn.
    compileall.compile_dir(Path(sondos_mcp.__file__).parent, quiet=1)
    with sandbox_api() as base_url:
        env = server_env(base_url)
        ours = [sys.executable, "-m", "sondos_mcp"]
        bare = [sys.executable, str(BARE_SERVER)]

        spawn = {"ours": [], "bare": []}
        for _ in range(args.spawns):
            spawn["bare"].append(spawn_to_initialize(bare, env))
            spawn["ours"].append(spawn_to_initialize(ours, env))
        startup = {k: statistics.median(v) * 1000 for k, v in spawn.items()}

        speeds = [0.7 + (i % 6) * 0.1 for i in range(6)]
        ours_rt = anyio.run(
            round_trips,
            ours,
            env,
            "update_assistant",
            lambda i: {"id": 12, "speech_speed": round(speeds[i % 6], 1)},
            args.calls,
        )
        refused_rt = anyio.run(
            round_trips,
            ours,
            env,
            "update_assistant",
            lambda i: {"id": 12, "speech_speed": 5, "type": "inbound"},
            args.calls,
            True,
        )
        bare_rt = anyio.run(round_trips, bare, env, "echo", lambda i: {"text": f"hello {i}"}, args.calls)

    validation = validation_timing()
    tokens = token_counts()
    update_tokens = tokens["update_assistant"]
    all_tokens = sum(v for k, v in tokens.items() if not k.startswith("("))

    rows = [
        (
            f"spawn → initialize, stdio (median of {args.spawns})",
            f"{startup['ours']:.0f} ms",
            f"{startup['bare']:.0f} ms",
            f"{startup['ours'] / startup['bare']:.2f}×",
            "≤ 1.10×",
        ),
        (
            f"tool round trip, stdio, median of {args.calls}",
            f"{ours_rt['median']:.2f} ms",
            f"{bare_rt['median']:.2f} ms",
            f"{ours_rt['median'] / bare_rt['median']:.2f}×",
            "≤ 2 ms (ours)",
        ),
        (
            f"tool round trip, stdio, p90 of {args.calls}",
            f"{ours_rt['p90']:.2f} ms",
            f"{bare_rt['p90']:.2f} ms",
            f"{ours_rt['p90'] / bare_rt['p90']:.2f}×",
            "",
        ),
        (
            f"refused proposal (no upstream call), median of {args.calls}",
            f"{refused_rt['median']:.2f} ms",
            f"{bare_rt['median']:.2f} ms",
            f"{refused_rt['median'] / bare_rt['median']:.2f}×",
            "",
        ),
        (
            "validation per proposal (median of 3 shapes)",
            f"{validation['check_update']:.0f} µs",
            f"{validation['jsonschema']:.0f} µs (jsonschema)",
            f"{validation['check_update'] / validation['jsonschema']:.2f}×",
            "",
        ),
        (
            "server peak RSS",
            f"{ours_rt['rss']:.0f} MiB",
            f"{bare_rt['rss']:.0f} MiB",
            f"{ours_rt['rss'] / bare_rt['rss']:.2f}×",
            "",
        ),
        (
            "update_assistant definition, o200k tokens",
            str(update_tokens),
            str(tokens["(bare trivial tool)"]),
            "",
            "≤ 1,000",
        ),
        (f"whole tools/list ({len(tokens) - 1} tools), o200k tokens", str(all_tokens), "", "", "≤ 2,500"),
    ]
    print("| measure | sondos-mcp | bare SDK server | ratio | target |")
    print("| --- | --- | --- | --- | --- |")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print(f"\nper tool: {json.dumps(tokens)}")
    print(
        f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}; the round trip of sondos-mcp includes a "
        "real HTTP PUT to the sandbox API in another process on 127.0.0.1"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
