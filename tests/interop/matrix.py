"""Writes the compatibility matrix in docs/interop.md from the interop run's results (never by hand).

`python -m tests.interop.matrix` after `pytest tests/interop`: one row per client, version,
transport and protocol version, with how many checks passed (or the row's own count, for a
run that summarises itself, such as the conformance suite's scenarios).
"""

from __future__ import annotations

import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "tests" / "interop" / "results" / "matrix.json"
BEGIN, END = "<!-- BEGIN interop-matrix -->", "<!-- END interop-matrix -->"


def table(rows: list[dict]) -> str:
    groups: dict[tuple[str, str, str, str], list[bool]] = defaultdict(list)
    counts: dict[tuple[str, str, str, str], list[str]] = defaultdict(list)
    for r in rows:
        protocol = r.get("negotiated") or ""
        if r.get("offered") and r.get("offered") != protocol:
            protocol = f"{r['offered']} → {protocol}"
        key = (r["client"], r.get("version", ""), r.get("transport", ""), protocol)
        groups[key].append(bool(r["ok"]))
        # A row that summarises a run of its own (the conformance suite's scenarios) says what it counted.
        if r.get("count"):
            counts[key].append(r["count"])
    lines = [
        "| client or library | version | transport | protocol version | result |",
        "| --- | --- | --- | --- | --- |",
    ]
    for key, oks in sorted(groups.items()):
        client, version, transport, protocol = key
        if counts[key]:
            result = f"{'pass' if all(oks) else 'FAIL'} ({'; '.join(counts[key])})"
        else:
            result = f"pass ({len(oks)} checks)" if all(oks) else f"FAIL ({oks.count(False)} of {len(oks)})"
        lines.append(f"| {client} | {version} | {transport} | {protocol or 'n/a'} | {result} |")
    return "\n".join(lines)


def main() -> int:
    rows = json.loads(RESULTS.read_text())
    doc = ROOT / "docs" / "interop.md"
    text = doc.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    doc.write_text(text[:start] + "\n" + table(rows) + "\n" + text[end:])
    print(table(rows))
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
