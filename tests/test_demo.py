"""The README's demo command runs end to end."""

from __future__ import annotations

import subprocess
import sys


def test_demo_conversation_refuses_then_applies():
    """`python -m sondos_mcp.demo` drives a real stdio session: a refusal with fixes, then an applied update."""
    proc = subprocess.run(
        [sys.executable, "-m", "sondos_mcp.demo"], capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL
    )
    assert proc.returncode == 0, proc.stderr
    assert "isError=True" in proc.stdout
    assert "suggested_arguments" in proc.stdout
    assert "isError=False" in proc.stdout
    assert "Updated assistant 12" in proc.stdout
