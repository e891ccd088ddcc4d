"""Start-up across revisions: what a desktop client waits for after spawning the server over stdio,
for the package as it was at each git revision, beside the bare SDK server, interleaved in one run
(the machine's drift falls on all alike).

Three moments per spawn: the initialize answer, the first tools/list answer, and the first
tools/call answered (`update_assistant` as a dry run against the sandbox API, a process of its own;
the bare server's trivial tool). Work moved from before initialize to the first listing or call
shows in the later columns. Besides wall-clock, the CPU time the server had used by initialize and
by the call: the work done, which the other engineers' benchmarks on this machine do not inflate.

Each revision's `sondos_mcp` is taken with `git archive` into a temporary directory, byte-compiled
as `pip install` does (without that, and with PYTHONDONTWRITEBYTECODE set, every spawn would
compile our modules from source, which no installed copy does), and put first on PYTHONPATH; the
dependencies are this environment's. Each revision has a journal of its own (SQLite, on, as
shipped). Medians, and ratios against the bare server.

Run: `python bench/bench_startup.py [--spawns 9] [--source] [REV ...]` (default revisions: HEAD;
`--source`: leave the archived trees uncompiled).
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_core import BARE_SERVER, sandbox_api, server_env, spawn_timeline

REPO = Path(__file__).resolve().parent.parent
WALL = ("initialize", "tools/list", "tools/call")
CPU = ("cpu initialize", "cpu tools/call")


def checkout(rev: str, into: Path, compile_: bool) -> Path:
    """`rev`'s package alone, in a directory of its own."""
    target = into / rev.replace("/", "_")
    target.mkdir()
    archive = subprocess.run(["git", "archive", rev, "sondos_mcp"], cwd=REPO, check=True, capture_output=True).stdout
    archive_path = into / f"{target.name}.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(target, filter="data")
    if compile_:
        compileall.compile_dir(target, quiet=1)
    return target


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spawns", type=int, default=9)
    parser.add_argument("--source", action="store_true", help="do not byte-compile the archived trees")
    parser.add_argument("revs", nargs="*", default=["HEAD"])
    args = parser.parse_args()
    times: dict[str, list[dict[str, float]]] = {rev: [] for rev in args.revs} | {"bare SDK server": []}
    call = {"id": 12, "speech_speed": 0.9, "dry_run": True}
    with tempfile.TemporaryDirectory() as tmp, sandbox_api() as base_url:
        env = server_env(base_url)
        trees = {rev: checkout(rev, Path(tmp), not args.source) for rev in args.revs}
        for _ in range(args.spawns):
            for rev, tree in trees.items():
                journal = str(tree / "journal.sqlite3")
                rev_env = env | {"PYTHONPATH": str(tree), "SONDOS_JOURNAL": journal}
                # `-m` puts the working directory first on sys.path: run in the tree, or every revision
                # would be whichever checkout the benchmark was started from.
                command = [sys.executable, "-m", "sondos_mcp"]
                times[rev].append(spawn_timeline(command, rev_env, "update_assistant", call, cwd=tree))
            bare = [sys.executable, str(BARE_SERVER)]
            times["bare SDK server"].append(spawn_timeline(bare, env, "echo", {"text": "hello"}))
    medians = {name: {k: statistics.median(s[k] for s in spawns) for k in WALL + CPU} for name, spawns in times.items()}
    base = medians["bare SDK server"]
    print(f"spawn → answer over stdio, medians of {args.spawns} spawns ({os.cpu_count()} cores)\n")
    print(
        "| revision | " + " | ".join(f"→ {k}" for k in WALL) + " | " + " | ".join(f"CPU by {k[4:]}" for k in CPU) + " |"
    )
    print("| --- " * (1 + len(WALL) + len(CPU)) + "|")
    for name, m in medians.items():
        cells = [f"{m[k] * 1000:.0f} ms ({m[k] / base[k]:.2f}×)" for k in WALL + CPU]
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
