"""The README's demo command runs end to end, in the caller's environment, leaving the user's journal alone."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_conversation_refuses_then_applies_in_the_callers_environment_and_keeps_no_journal(tmp_path: Path):
    """`python -m sondos_mcp.demo` drives a real stdio session (a refusal with fixes, then an applied update);
    the server it starts sees the caller's environment (here its log level), and nothing is written to the
    user's data directory, where the real journal lives."""
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    data.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")}
    env |= {"HOME": str(home), "XDG_DATA_HOME": str(data), "SONDOS_LOG_LEVEL": "DEBUG"}
    proc = subprocess.run(
        [sys.executable, "-m", "sondos_mcp.demo"],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "isError=True" in proc.stdout
    assert "suggested_arguments" in proc.stdout
    assert "isError=False" in proc.stdout
    assert "Updated assistant 12" in proc.stdout
    assert " DEBUG " in proc.stderr, "the server did not get the caller's SONDOS_LOG_LEVEL"
    assert [p for p in (*home.rglob("*"), *data.rglob("*")) if "sondos" in str(p).lower()] == []
