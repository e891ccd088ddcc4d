"""Repair benchmark: the corpus of mistaken proposals through a real MCP session against the sandbox.

For each proposal in `tests/corpus/` (written from the contract, with its intended outcome), it
calls `update_assistant` over an in-memory MCP session to a server pointed at the sandbox API on
127.0.0.1, checks the sandbox's request log, and for repairable cases adopts
`suggested_arguments` verbatim and sends them again. Prints a Markdown table per corpus.

Run: `python bench/bench_repair.py [-v]` (-v lists every case that missed).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import anyio

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def main(verbose: bool) -> None:
    from mcp import Client

    from sondos_mcp.sandbox import SandboxServer
    from sondos_mcp.server import build_server
    from tests.conftest import make_settings
    from tests.repair_corpus import load, run, table

    for name, label in (
        ("repair.jsonl", "tuning corpus"),
        ("held_out.jsonl", "held-out corpus"),
        ("held_out_2.jsonl", "second held-out corpus"),
        ("held_out_3.jsonl", "third held-out corpus"),
        ("held_out_4.jsonl", "fourth held-out corpus (issue 16's kinds)"),
    ):
        if not (ROOT / "tests" / "corpus" / name).exists():
            continue
        with SandboxServer() as sandbox:
            async with Client(build_server(make_settings(sandbox.base_url))) as client:
                score = await run(client, sandbox, load(name))
        print(table(label, score))
        print()
        if verbose:
            for line in score.wrong_suggestions + score.failures:
                print("-", line)
            print()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true")
    anyio.run(main, parser.parse_args().verbose)
