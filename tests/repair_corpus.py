"""Runs corpus proposals through a real MCP session against the sandbox and scores the answers.

Shared by `tests/test_repair_corpus.py` (which holds the figures) and `bench/bench_repair.py`
(which prints them). Each case is sent as an agent would send it; a repair case then adopts
`suggested_arguments` verbatim, as an agent that trusts the server would, and sends it again.
Changes go out with `force`, which is not part of any body: a proposal to set the value an
assistant already holds is otherwise, rightly, not sent, and the figures measure what checking
forwards, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mcp import Client

from sondos_mcp.model import TOOL_ONLY
from sondos_mcp.sandbox import SandboxServer
from sondos_mcp.sandbox.data import seed_assistants

CORPUS_DIR = Path(__file__).resolve().parent / "corpus"


def load(name: str) -> list[dict[str, Any]]:
    with (CORPUS_DIR / name).open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def same(a: Any, b: Any) -> bool:
    """JSON equality that tells true from 1 (Python's == does not)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


@dataclass
class Score:
    total: dict[str, int] = field(default_factory=dict)
    passed: dict[str, int] = field(default_factory=dict)
    invalid: int = 0
    refused_unsent: int = 0
    wrong_suggestions: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def count(self, category: str, ok: bool, why: str, case: dict[str, Any]) -> None:
        self.total[category] = self.total.get(category, 0) + 1
        self.passed[category] = self.passed.get(category, 0) + ok
        if not ok:
            self.failures.append(f"#{case['case']} {category} {json.dumps(case['args'], ensure_ascii=False)}: {why}")

    def rate(self, category: str) -> float:
        return self.passed.get(category, 0) / self.total[category] if self.total.get(category) else 1.0


async def _call(client: Client, arguments: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
    result = await client.call_tool("update_assistant", arguments | {"force": True})
    return bool(result.is_error), result.structured_content or {}


def _body(arguments: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in arguments.items() if k not in TOOL_ONLY}


def _sent_exactly(sent: list[Any], arguments: dict[str, Any]) -> bool:
    """One PUT whose body is exactly the proposal's fields (none for a preview)."""
    if arguments.get("dry_run") is True:
        return sent == []
    return len(sent) == 1 and same(sent[0].body, _body(arguments))


async def run(client: Client, sandbox: SandboxServer, cases: Iterable[dict[str, Any]]) -> Score:
    score = Score()
    for case in cases:
        category, args = case["category"], case["args"]
        sandbox.state.reset_log()
        is_error, out = await _call(client, args)
        sent = sandbox.state.updates()
        suggested = out.get("suggested_arguments")
        if isinstance(suggested, dict):
            suggested = {k: v for k, v in suggested.items() if k != "force"}  # the harness's own flag
        if category != "valid":
            score.invalid += 1
            score.refused_unsent += is_error and not sent
        if category == "valid":
            ok = not is_error and _sent_exactly(sent, args)
            score.count(category, ok, f"error={is_error} sent={[p.body for p in sent]} {out.get('problems')}", case)
        elif category == "repair":
            ok = is_error and not sent and suggested is not None and same(suggested, case["suggested"])
            if suggested is not None and not same(suggested, case["suggested"]):
                score.wrong_suggestions.append(f"#{case['case']} {args} → {suggested}, wanted {case['suggested']}")
            if ok:
                sandbox.state.reset_log()
                again_error, again = await _call(client, suggested)
                resent = sandbox.state.updates()
                ok = not again_error and _sent_exactly(resent, suggested)
                if not ok:
                    score.wrong_suggestions.append(f"#{case['case']} suggestion refused when adopted: {again}")
            score.count(category, ok, f"suggested={suggested} problems={out.get('problems')}", case)
        elif category == "ambiguous":
            problems = out.get("problems", [])
            offered = [c["value"] for p in problems if p["field"] == case["field"] for c in p.get("candidates", [])]
            has_all = all(any(same(v, o) for o in offered) for v in case.get("includes", []))
            ok = is_error and not sent and suggested is None and bool(offered) and has_all
            if suggested is not None:
                score.wrong_suggestions.append(f"#{case['case']} ambiguous {args} → {suggested}")
            score.count(category, ok, f"candidates={offered} suggested={suggested} problems={problems}", case)
        else:
            ok = is_error and not sent and suggested is None
            if suggested is not None:
                score.wrong_suggestions.append(f"#{case['case']} unrepairable {args} → {suggested}")
            score.count(category, ok, f"error={is_error} suggested={suggested}", case)
        # Applied cases change the demo data; every case starts from the seeded account.
        sandbox.state.assistants = seed_assistants()
    return score


def table(name: str, score: Score) -> str:
    def pct(n: int, d: int) -> str:
        return f"{n}/{d} ({100 * n / d:.1f}%)" if d else "0/0"

    t, p = score.total, score.passed
    rows = [
        ("valid proposals forwarded exactly", pct(p.get("valid", 0), t.get("valid", 0))),
        ("invalid proposals refused, nothing sent", pct(score.refused_unsent, score.invalid)),
        ("single-reading mistakes repaired in one round", pct(p.get("repair", 0), t.get("repair", 0))),
        ("ambiguous answered with candidates, no suggestion", pct(p.get("ambiguous", 0), t.get("ambiguous", 0))),
        ("unrepairable refused without a suggestion", pct(p.get("refuse", 0), t.get("refuse", 0))),
        ("wrong suggestions", str(len(score.wrong_suggestions))),
    ]
    lines = [f"| {name} ({sum(t.values())} proposals) | |", "| --- | --- |"]
    lines += [f"| {a} | {b} |" for a, b in rows]
    return "\n".join(lines)
