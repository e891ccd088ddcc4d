"""Tail benchmark: update_assistant's round trip over stdio, as shipped beside the same server
with its start-up heap left to the cyclic collector (`settle_heap` turned into a no-op).

Paired and interleaved like `bench_journal.py` (two servers at once, calls taking turns), back-to-back
applies, journal on. Reports median, p90, p99 and mean: the freeze is for the tails, where a
full collection over the import-time heap lands inside a call every few hundred calls.

Run: `python bench/bench_tails.py [--rounds 4] [--calls 300]`.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import sandbox_api, server_env
from bench_journal import ASSISTANTS, paired_round

# The same server, with the freeze disabled before the CLI imports it.
UNFROZEN = "import gc; gc.freeze = lambda: None; from sondos_mcp.cli import main; raise SystemExit(main())"


def main() -> int:
    import anyio

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-tails-"))
    results: dict[str, list[float]] = {}
    with sandbox_api() as base_url:
        base = server_env(base_url)
        servers = {
            "as shipped": ([sys.executable, "-m", "sondos_mcp"], base | {"SONDOS_JOURNAL": str(tmp / "a.sqlite3")}),
            "heap not frozen": ([sys.executable, "-c", UNFROZEN], base | {"SONDOS_JOURNAL": str(tmp / "b.sqlite3")}),
        }
        for round_ in range(args.rounds):
            ids = {name: ASSISTANTS[(k + round_) % len(ASSISTANTS)] for k, name in enumerate(servers)}
            timings = anyio.run(
                paired_round,
                servers,
                ids,
                args.calls,
                lambda id_, i: {"id": id_, "max_call_duration": 300 + i % 50},
                False,
            )
            for name, values in timings.items():
                results.setdefault(name, []).extend(values)

    print("| server | median | p90 | p99 | mean |")
    print("| --- | --- | --- | --- | --- |")
    for name, values in results.items():
        ordered = sorted(values)
        p90, p99 = (ordered[min(len(ordered) - 1, int(len(ordered) * q))] for q in (0.9, 0.99))
        median, mean = statistics.median(ordered), statistics.mean(ordered)
        print(f"| {name} | {median:.2f} ms | {p90:.2f} ms | {p99:.2f} ms | {mean:.2f} ms |")
    print(f"\n{args.rounds} rounds × {args.calls} calls per server, interleaved call by call.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
