"""Interop: a real Prometheus (Debian's `prometheus` package) scrapes `sondos-mcp --transport http --workers 2`.

.ci/run installs the package and sets SONDOS_INTEROP=1, under which a missing Prometheus is a
failure; without SONDOS_INTEROP the test is skipped. Prometheus is started here with a scrape
configuration pointing at the spawned server, on loopback ports, its data in a temporary
directory; the test asks Prometheus' own query API (not the server) for the series after real
tool calls.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from sondos_mcp.sandbox import DEMO_KEY, SandboxServer
from sondos_mcp.sandbox.data import seed_assistants
from tests.conftest import free_port, start_http_server

REQUIRED = os.environ.get("SONDOS_INTEROP") == "1"
TOKEN = "prom-interop-token"
APPLIED = 6  # update_assistant calls that are applied
REFUSED = 3  # update_assistant calls refused with a fix

pytestmark = pytest.mark.interop


def prometheus_binary() -> str:
    if not REQUIRED:
        # A dozen seconds of scraping: it belongs to .ci/run's interop step, not the main run.
        pytest.skip("a real Prometheus runs in the interop step (SONDOS_INTEROP=1, as .ci/run sets)")
    found = shutil.which("prometheus")
    if found is None:
        pytest.fail("prometheus is not installed (SONDOS_INTEROP=1 requires it: apt-get install prometheus)")
    return found


def query(base: str, promql: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{base}/api/v1/query", params={"query": promql}, timeout=10).json()
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def scalar(base: str, promql: str) -> float | None:
    result = query(base, promql)
    return float(result[0]["value"][1]) if result else None


Call = tuple[str, dict[str, Any], bool]
CALLS: list[Call] = [("update_assistant", {"id": 12, "max_call_duration": 310 + i}, False) for i in range(APPLIED)]
CALLS += [("update_assistant", {"id": 14, "speech_speed": "0.9x"}, True)] * REFUSED


async def make_calls(base: str, calls: list[Call]) -> None:
    """Each call on a connection of its own, so that both workers serve some."""
    for tool, arguments, refused in calls:
        async with (
            httpx2.AsyncClient(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30) as http,
            Client(streamable_http_client(f"{base}/mcp", http_client=http)) as client,
        ):
            result = await client.call_tool(tool, arguments)
            assert result.is_error is refused, result.content


def test_prometheus_scrapes_the_series_of_all_workers(sandbox: SandboxServer, tmp_path: Path):
    """Prometheus scrapes /metrics of a two-worker server from an allowed address: its targets are up,
    and after real calls its queries return the calls by tool and outcome (all workers' together),
    refusals by code, repairs, upstream latency by endpoint template, journal writes and enrolled
    people; no label value carries an id, a key, a token or an assistant's name."""
    binary = prometheus_binary()
    multiproc = tmp_path / "metrics"
    proc, base = start_http_server(
        {
            "SONDOS_BASE_URL": sandbox.base_url,
            "SONDOS_API_KEY": DEMO_KEY,
            "SONDOS_HTTP_TOKENS": TOKEN,
            "SONDOS_RETRIES": "0",
            "SONDOS_JOURNAL": str(tmp_path / "journal.sqlite3"),
            "SONDOS_METRICS": "1",
            "SONDOS_METRICS_ALLOW": "127.0.0.1",
            # The operator's own directory: the test can then see which workers wrote to it.
            "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        },
        "--workers",
        "2",
    )
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    target = base.removeprefix("http://")
    config.write_text(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
        f"scrape_configs:\n  - job_name: sondos\n    metrics_path: /metrics\n"
        f"    static_configs:\n      - targets: ['{target}']\n"
    )
    prom = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{prom_port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(tmp_path / "prometheus.log").open("w"),
    )
    prom_base = f"http://127.0.0.1:{prom_port}"
    try:
        anyio.run(make_calls, base, CALLS)
        for _ in range(10):  # the kernel hands connections to either worker; reads until both have served
            if len(writers(multiproc)) == 2:
                break
            anyio.run(make_calls, base, [("list_assistants", {}, False)] * 4)
        assert len(writers(multiproc)) == 2, "the calls reached one worker only; the two-worker check needs both"
        # Whichever worker answers, a scrape reads every worker's values: all scrapes agree.
        direct = [httpx.get(f"{base}/metrics", timeout=10).text for _ in range(6)]
        assert {_total_ok(text) for text in direct} == {APPLIED}

        ok = 'sum(sondos_tool_calls_total{tool="update_assistant",outcome="ok"})'
        deadline = time.monotonic() + 60
        while scalar(prom_base, ok) != APPLIED:
            assert prom.poll() is None, (tmp_path / "prometheus.log").read_text()[-2000:]
            assert time.monotonic() < deadline, f"Prometheus never saw {APPLIED} applied calls: {query(prom_base, ok)}"
            time.sleep(0.5)
        assert scalar(prom_base, 'up{job="sondos"}') == 1
        refused = 'sum(sondos_tool_calls_total{tool="update_assistant",outcome="invalid_arguments"})'
        assert scalar(prom_base, refused) == REFUSED
        assert scalar(prom_base, 'sum(sondos_refusals_total{code="wrong_type"})') == REFUSED
        assert scalar(prom_base, 'sum(sondos_repairs_offered_total{kind="fix"})') == REFUSED
        put = 'sum(sondos_upstream_request_seconds_count{method="PUT",endpoint="/user/assistant/{id}",status="200"})'
        assert scalar(prom_base, put) == APPLIED
        quantile = (
            "histogram_quantile(0.5, sum by (le) "
            '(sondos_upstream_request_seconds_bucket{endpoint="/user/assistant/{id}"}))'
        )
        median = scalar(prom_base, quantile)
        assert median is not None
        assert 0 < median < 5
        assert scalar(prom_base, 'sum(sondos_journal_write_seconds_count{operation="begin"})') == APPLIED
        assert scalar(prom_base, "sondos_enrolled_people") == 0

        series = httpx.get(f"{prom_base}/api/v1/series", params={"match[]": '{__name__=~"sondos_.*"}'}).json()
        labels = json.dumps(series["data"])
        assert not any(ch.isdigit() for row in series["data"] for ch in row.get("endpoint", ""))
        for secret in (DEMO_KEY, TOKEN, *{row["name"] for row in seed_assistants().values()}):
            assert secret not in labels
    finally:
        prom.terminate()
        proc.terminate()
        prom.wait(timeout=20)
        proc.wait(timeout=30)


def writers(directory: Path) -> set[str]:
    """The worker processes that have counted something (multiprocess files are named by pid)."""
    return {path.stem.rsplit("_", 1)[-1] for path in directory.glob("counter_*.db")}


def _total_ok(text: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    return sum(
        s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == "sondos_tool_calls_total" and s.labels == {"tool": "update_assistant", "outcome": "ok"}
    )
