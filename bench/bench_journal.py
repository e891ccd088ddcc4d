"""Journal benchmark: update_assistant's round trip over stdio with the journal off, on SQLite (and PostgreSQL).

Two flows: the one the server's instructions prescribe (a dry run, untimed, then the timed
apply: the assistant's stored state is then already in the read cache), and back-to-back applies
with no read in between (the before-value read is a fresh list request each time).
Target: the journal adds at most 10% to the median.

One sandbox API process; one stdio server per configuration; the configurations take turns in
rounds (off, sqlite, [postgres], off, sqlite, …) so that machine noise falls on all of them
alike. Reports the median and p90 of all calls per configuration and the ratio to "off".

The journaled path costs: a read of the assistant's stored state (one list page from the API,
shared with the other reads' cache), one read of the journal per field the stored shape does
not carry, and two short transactions (pending, then the outcome).

Run: `python bench/bench_journal.py [--rounds 5] [--calls 100] [--postgres postgresql://…]`.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import free_port, server_env, wait_for_port


async def timed_calls(cmd: list[str], env: dict[str, str], calls: int, args_for: Any, preview: bool) -> list[float]:
    import time

    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    params = StdioServerParameters(command=cmd[0], args=cmd[1:], env=env)
    timings: list[float] = []
    async with Client(params) as client:
        for i in range(10):  # warm-up: imports, connection pool, the journal's first open
            await client.call_tool("update_assistant", args_for(i))
        for i in range(calls):
            if preview:  # untimed: the dry run the server's instructions ask for before applying
                await client.call_tool("update_assistant", args_for(i) | {"dry_run": True})
            start = time.perf_counter()
            result = await client.call_tool("update_assistant", args_for(i))
            timings.append((time.perf_counter() - start) * 1000)
            if result.is_error:
                raise RuntimeError(f"update_assistant failed: {result.content}")
    return timings


def main() -> int:
    import anyio

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--postgres", help="also measure a PostgreSQL journal at this URL")
    parser.add_argument("--journal-dir", help="where the SQLite journal goes (default: a temporary directory)")
    args = parser.parse_args()

    port = free_port()
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "sondos_mcp.sandbox", "--port", str(port)], stdout=subprocess.DEVNULL
    )
    tmp = tempfile.mkdtemp(prefix="bench-journal-", dir=args.journal_dir)
    try:
        wait_for_port(port)
        base = server_env(f"http://127.0.0.1:{port}")
        configs = {
            "off": base | {"SONDOS_JOURNAL": "off"},
            "sqlite": base | {"SONDOS_JOURNAL": str(Path(tmp) / "journal.sqlite3")},
        }
        if args.postgres:
            configs["postgres"] = base | {"SONDOS_JOURNAL_URL": args.postgres}
        cmd = [sys.executable, "-m", "sondos_mcp"]
        # Two shapes: a field the stored shape carries (its before-value is read from the API), and
        # one it does not (read from the journal's own last value).
        shapes = {
            "max_call_duration (stored)": lambda i: {"id": 12, "max_call_duration": 300 + i % 50},
            "speech_speed (journal fallback)": lambda i: {"id": 12, "speech_speed": round(0.7 + (i % 6) * 0.1, 1)},
        }
        flows = {"preview, then apply": True, "back-to-back applies": False}
        results: dict[tuple[str, str, str], list[float]] = {}
        for _ in range(args.rounds):
            for flow, preview in flows.items():
                for shape, args_for in shapes.items():
                    for name, env in configs.items():
                        results.setdefault((flow, shape, name), []).extend(
                            anyio.run(timed_calls, cmd, env, args.calls, args_for, preview)
                        )
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)

    print("| flow | field changed | journal | median | p90 | median vs off |")
    print("| --- | --- | --- | --- | --- | --- |")
    for flow in flows:
        for shape in shapes:
            off = statistics.median(results[(flow, shape, "off")])
            for name in configs:
                timings = sorted(results[(flow, shape, name)])
                median = statistics.median(timings)
                p90 = timings[int(len(timings) * 0.9)]
                print(f"| {flow} | {shape} | {name} | {median:.2f} ms | {p90:.2f} ms | {median / off:.2f}× |")
    print(
        f"\n{args.rounds} rounds × {args.calls} calls per configuration and shape, taking turns; medians of all calls."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
