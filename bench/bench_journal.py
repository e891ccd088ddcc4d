"""Journal benchmark: update_assistant's round trip over stdio with the journal off, on SQLite (and PostgreSQL).

Two flows: the one the server's instructions prescribe (a dry run, untimed, then the timed
apply: the assistant's stored state is then already in the read cache), and back-to-back applies
with no read in between (the before-value read is a fresh list request each time).
Target: the journal adds at most 10% to the median.

Paired, interleaved design: in each round one stdio server per configuration runs at the same
time against one sandbox API process, and the calls take turns, call by call (off, sqlite,
[postgres], then rotated), so that the sandbox's and the machine's drift falls on every
configuration alike. Separate sessions per configuration, run one after another, differ by
±10% from session to session on this machine (the API's answer time moves with them), which
drowns the effect being measured. Each configuration changes its own assistant (so no server's
before-values are disturbed by another's writes); which assistant goes to which configuration
rotates between rounds. Reports the median and p90 of all timed calls per configuration and
the ratio to "off".

The journaled path costs: a read of the assistant's stored state (one list page from the API,
shared with the other reads' cache), one read of the journal per field the stored shape does
not carry, and two short transactions (pending, then the outcome).

With `--baseline DIR` (a directory holding another revision's `sondos_mcp`, e.g. from
`git archive <rev> sondos_mcp | tar -x -C DIR`), that code runs as a second off/SQLite pair in the
same rounds, its calls taking turns with this checkout's: a before/after comparison under the same
conditions. Each pair's ratio is to its own "off".

Run: `python bench/bench_journal.py [--rounds 6] [--calls 200] [--postgres postgresql://…] [--baseline DIR]`.
"""

from __future__ import annotations

import argparse
import compileall
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import sandbox_api, server_env

ASSISTANTS = (12, 14, 16, 101)  # pipeline assistants alike in shape; one per configuration, rotated per round
Shape = Callable[[int, int], dict[str, Any]]


async def paired_round(
    servers: dict[str, tuple[list[str], dict[str, str]]], ids: dict[str, int], calls: int, shape: Shape, preview: bool
) -> dict[str, list[float]]:
    """One stdio server per entry (command, environment), all running at once; timed calls take turns."""
    from mcp import Client
    from mcp.client.stdio import StdioServerParameters

    timings: dict[str, list[float]] = {name: [] for name in servers}
    async with AsyncExitStack() as stack:
        clients = {
            name: await stack.enter_async_context(Client(StdioServerParameters(command=cmd[0], args=cmd[1:], env=env)))
            for name, (cmd, env) in servers.items()
        }
        names = list(clients)
        for i in range(10):  # warm-up: imports, connection pool, the journal's first open
            for name in names:
                await clients[name].call_tool("update_assistant", shape(ids[name], i))
        for i in range(calls):
            turn = names[i % len(names) :] + names[: i % len(names)]
            for name in turn:
                client, args = clients[name], shape(ids[name], i)
                if preview:  # untimed: the dry run the server's instructions ask for before applying
                    await client.call_tool("update_assistant", args | {"dry_run": True})
                start = time.perf_counter()
                result = await client.call_tool("update_assistant", args)
                timings[name].append((time.perf_counter() - start) * 1000)
                if result.is_error:
                    raise RuntimeError(f"update_assistant failed ({name}): {result.content}")
    return timings


def main() -> int:
    import anyio

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--postgres", help="also measure a PostgreSQL journal at this URL")
    parser.add_argument("--journal-dir", help="where the SQLite journal goes (default: a temporary directory)")
    parser.add_argument("--baseline", help="also measure the sondos_mcp found in this directory (another revision)")
    args = parser.parse_args()

    tmp = tempfile.mkdtemp(prefix="bench-journal-", dir=args.journal_dir)
    with sandbox_api() as base_url:
        # `python -m` would put the working directory first on sys.path: from the repository's root,
        # every configuration, the baseline's too, would run the checkout. Safe path: PYTHONPATH and the install.
        base = server_env(base_url) | {"PYTHONSAFEPATH": "1"}
        configs = {
            "off": base | {"SONDOS_JOURNAL": "off"},
            "sqlite": base | {"SONDOS_JOURNAL": str(Path(tmp) / "journal.sqlite3")},
        }
        if args.postgres:
            configs["postgres"] = base | {"SONDOS_JOURNAL_URL": args.postgres}
        if args.baseline:
            old = {"PYTHONPATH": str(Path(args.baseline).resolve())}
            compileall.compile_dir(Path(args.baseline), quiet=1)  # as an install would (not from source per spawn)
            configs["off (baseline)"] = configs["off"] | old
            configs["sqlite (baseline)"] = base | old | {"SONDOS_JOURNAL": str(Path(tmp) / "baseline.sqlite3")}
        if len(configs) > len(ASSISTANTS):
            parser.error("too many configurations for the assistants set aside for them")
        spread = max(3, len(configs))
        cmd = [sys.executable, "-m", "sondos_mcp"]
        # Two shapes: a field the stored shape carries (its before-value is read from the API), and
        # one it does not (read from the journal's own last value).
        shapes: dict[str, Shape] = {
            "max_call_duration (stored)": lambda id_, i: {"id": id_, "max_call_duration": 300 + i % 50},
            "speech_speed (journal fallback)": lambda id_, i: {
                "id": id_,
                "speech_speed": round(0.7 + (i % 6) * 0.1, 1),
            },
        }
        flows = {"preview, then apply": True, "back-to-back applies": False}
        results: dict[tuple[str, str, str], list[float]] = {}
        for round_ in range(args.rounds):
            ids = {name: ASSISTANTS[(k + round_) % spread] for k, name in enumerate(configs)}
            for flow, preview in flows.items():
                for shape, make in shapes.items():
                    servers = {name: (cmd, env) for name, env in configs.items()}
                    timings = anyio.run(paired_round, servers, ids, args.calls, make, preview)
                    for name, values in timings.items():
                        results.setdefault((flow, shape, name), []).extend(values)

    print("| flow | field changed | journal | median | p90 | median vs off |")
    print("| --- | --- | --- | --- | --- | --- |")
    for flow in flows:
        for shape in shapes:
            for name in configs:
                off = statistics.median(results[(flow, shape, "off (baseline)" if "baseline" in name else "off")])
                timings = sorted(results[(flow, shape, name)])
                median = statistics.median(timings)
                p90 = timings[int(len(timings) * 0.9)]
                print(f"| {flow} | {shape} | {name} | {median:.2f} ms | {p90:.2f} ms | {median / off:.2f}× |")
    print(
        f"\n{args.rounds} rounds × {args.calls} calls per configuration and shape, interleaved call by call; "
        "medians of all calls."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
