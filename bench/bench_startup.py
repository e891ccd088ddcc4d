"""Start-up across revisions: spawn → initialize over stdio for the package as it was at each git
revision, beside the bare SDK server, interleaved in one run (the machine's drift falls on all alike).

Each revision's `sondos_mcp` is taken with `git archive` into a temporary directory and put first on
PYTHONPATH; the dependencies are this environment's. Medians, and ratios against the bare server.

Run: `python bench/bench_startup.py [--spawns 9] [REV ...]` (default revisions: HEAD).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import BARE_SERVER, spawn_to_initialize

REPO = Path(__file__).resolve().parent.parent


def checkout(rev: str, into: Path) -> Path:
    """`rev`'s package alone, in a directory of its own."""
    target = into / rev.replace("/", "_")
    target.mkdir()
    archive = subprocess.run(["git", "archive", rev, "sondos_mcp"], cwd=REPO, check=True, capture_output=True).stdout
    archive_path = into / f"{target.name}.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(target, filter="data")
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spawns", type=int, default=9)
    parser.add_argument("revs", nargs="*", default=["HEAD"])
    args = parser.parse_args()
    # Nothing reached: start-up does not call the API, and no journal is opened before initialize.
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")}
    env |= {"SONDOS_API_KEY": "1|bench", "SONDOS_BASE_URL": "http://127.0.0.1:9", "SONDOS_JOURNAL": "off"}
    times: dict[str, list[float]] = {rev: [] for rev in args.revs} | {"bare SDK server": []}
    with tempfile.TemporaryDirectory() as tmp:
        trees = {rev: checkout(rev, Path(tmp)) for rev in args.revs}
        for _ in range(args.spawns):
            for rev, tree in trees.items():
                command = [sys.executable, "-m", "sondos_mcp"]
                times[rev].append(spawn_to_initialize(command, env | {"PYTHONPATH": str(tree)}))
            times["bare SDK server"].append(spawn_to_initialize([sys.executable, str(BARE_SERVER)], env))
    bare = statistics.median(times["bare SDK server"])
    print(f"| revision | spawn → initialize, median of {args.spawns} | vs bare |")
    print("| --- | --- | --- |")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median * 1000:.0f} ms | {median / bare:.2f}× |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
