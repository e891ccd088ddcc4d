"""Start-up as users meet it: every bad setting is one clear line and exit 2; messages fit the mode."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from pydantic import SecretStr

from sondos_mcp.cli import load_settings, parse_args
from sondos_mcp.config import Settings, env_name
from sondos_mcp.server import build_server
from tests.conftest import server_command, wait_until_healthy

CANARY = "5|startup-canary-key-0b1c"


def clean_env(**env: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")} | env


def start(*args: str, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*server_command(), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=clean_env(**env),
        stdin=subprocess.DEVNULL,
    )


# (flag arguments, environment, the name the message must carry, a word of what is accepted)
BAD_SETTINGS = [
    pytest.param(["--log-level", "LOUD"], {}, "SONDOS_LOG_LEVEL", "WARNING", id="log-level-flag"),
    pytest.param([], {"SONDOS_LOG_LEVEL": "verbose"}, "SONDOS_LOG_LEVEL", "DEBUG", id="log-level-env"),
    pytest.param(["--base-url", "app.sondos-ai.com/api"], {}, "SONDOS_BASE_URL", "http", id="base-url-no-scheme"),
    pytest.param([], {"SONDOS_BASE_URL": "https://"}, "SONDOS_BASE_URL", "http", id="base-url-no-host"),
    pytest.param([], {"SONDOS_BASE_URL": "ftp://example.com"}, "SONDOS_BASE_URL", "http", id="base-url-ftp"),
    pytest.param(["--timeout", "-3"], {}, "SONDOS_TIMEOUT", "> 0", id="timeout-negative"),
    pytest.param([], {"SONDOS_TIMEOUT": "soon"}, "SONDOS_TIMEOUT", "number", id="timeout-not-a-number"),
    pytest.param([], {"SONDOS_RETRIES": "-1"}, "SONDOS_RETRIES", "≥ 0", id="retries-negative"),
    pytest.param(["--port", "x"], {}, "SONDOS_PORT", "integer", id="port-not-a-number"),
    pytest.param(["--workers", "0"], {}, "SONDOS_WORKERS", "≥ 1", id="workers-zero"),
    pytest.param([], {"SONDOS_HTTP_AUTH": "maybe"}, "SONDOS_HTTP_AUTH", "per_user", id="http-auth"),
    pytest.param(
        [], {"SONDOS_HTTP_TOKENS_FILE": "/nonexistent/tokens"}, "SONDOS_HTTP_TOKENS_FILE", "cannot read", id="tokens"
    ),
]


@pytest.mark.parametrize(("args", "env", "name", "accepted"), BAD_SETTINGS)
def test_bad_setting_exits_2_with_one_line_naming_the_variable(
    args: list[str], env: dict[str, str], name: str, accepted: str
):
    """Each bad setting stops start-up with exit 2 and one stderr line naming it and what it accepts."""
    proc = start(*args, **env)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert name in lines[0]
    assert accepted in lines[0]
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


def test_a_bad_secret_is_named_but_never_echoed():
    """A refused setting's message does not repeat a secret's value."""
    proc = start(SONDOS_HTTP_TOKENS=CANARY, SONDOS_TIMEOUT="0")
    assert proc.returncode == 2
    assert "SONDOS_TIMEOUT" in proc.stderr
    assert CANARY not in proc.stderr


def test_help_shows_defaults_and_environment_names():
    """--help lists each setting's environment variable and default."""
    proc = start("--help")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    for expected in ("SONDOS_BASE_URL", "default https://app.sondos-ai.com/api", "SONDOS_TIMEOUT, default 15.0"):
        assert expected in text
    assert "--sandbox" in text


def test_help_lists_every_setting_with_its_meaning():
    """--help names every setting the server reads, those without a flag too, each with its description."""
    proc = start("--help", COLUMNS="100")
    assert proc.returncode == 0
    text = " ".join(proc.stdout.split())
    for field, info in Settings.model_fields.items():
        assert info.description, f"{field} has no description for --help"
        assert env_name(field) in text, f"{env_name(field)} missing from --help"
        assert " ".join(info.description.split()) in text, f"the meaning of {env_name(field)} is missing from --help"
    assert max(len(line) for line in proc.stdout.splitlines()) <= 100


def test_per_user_http_mode_does_not_warn_about_a_missing_key():
    """In per-user-key HTTP mode each caller brings a key, so no 'key not set' warning is printed; with --port 0
    the system picks the port, and the banner names the one bound, where the server answers."""
    proc = subprocess.Popen(
        [*server_command(), "--transport", "http", "--port", "0"],
        env=clean_env(SONDOS_HTTP_AUTH="per_user"),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    try:
        banner = proc.stderr.readline()
        found = re.search(r"http://127\.0\.0\.1:(\d+)/mcp", banner)
        assert found is not None, banner
        wait_until_healthy(f"http://127.0.0.1:{found.group(1)}", proc)
    finally:
        proc.terminate()
        rest = proc.communicate(timeout=30)[1]
    assert "auth: per_user" in banner
    assert "SONDOS_API_KEY is not set" not in banner + rest


@pytest.mark.parametrize("env", [pytest.param({}, id="unset"), pytest.param({"SONDOS_API_KEY": ""}, id="empty")])
def test_missing_key_warning_points_at_the_sandbox(env: dict[str, str]):
    """Without a key (stdio), unset or empty alike, the warning says how to set one and that --sandbox needs none."""
    proc = subprocess.run(
        [*server_command()], input="", capture_output=True, text=True, timeout=60, env=clean_env(**env)
    )
    assert proc.returncode == 0, proc.stderr
    assert "SONDOS_API_KEY is not set" in proc.stderr
    assert "--sandbox" in proc.stderr


@pytest.mark.parametrize(
    ("args", "env"),
    [
        pytest.param([], {"SONDOS_API_KEY": ""}, id="empty"),
        pytest.param([], {"SONDOS_API_KEY": " \t "}, id="blank"),
        pytest.param(["--api-key", ""], {}, id="empty-flag"),
        pytest.param(["--api-key", "  "], {"SONDOS_API_KEY": CANARY}, id="blank-flag-over-a-key"),
    ],
)
def test_an_empty_key_is_no_key(args: list[str], env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    """The command's settings treat an empty or blank key, from the environment or a flag, as no key at all
    (the case the warning above covers), never as a key to send."""
    monkeypatch.delenv("SONDOS_API_KEY", raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert load_settings(parse_args(args)).api_key is None


def test_a_port_in_use_is_one_line_before_any_claim_to_serve():
    """A taken port stops start-up with one line naming the address and how to choose another; nothing says
    it is serving first."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = start("--transport", "http", "--port", str(port), SONDOS_LOG_LEVEL="INFO")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert f"127.0.0.1:{port}" in lines[0]
    assert "in use" in lines[0]
    assert "SONDOS_PORT" in lines[0]
    assert "streamable HTTP at" not in proc.stderr


@pytest.mark.anyio
async def test_connection_failure_names_the_base_url_setting():
    """An unreachable API is reported with a hint to check SONDOS_BASE_URL."""
    settings = Settings(base_url="http://127.0.0.1:9", api_key=SecretStr(CANARY), retries=0, timeout=5)
    async with Client(build_server(settings)) as client:
        result = await client.call_tool("list_voices", {})
    assert result.is_error
    assert "SONDOS_BASE_URL" in result.structured_content["error"]["hint"]
    assert "http://127.0.0.1:9" in result.structured_content["error"]["hint"]


def test_http_worker_processes_redact_secrets_in_their_logs(tmp_path: Path):
    """A worker built from the environment (`--workers N`, `uvicorn --factory`) scrubs the key from its logs."""
    script = (
        "import logging\n"
        "from sondos_mcp.http import create_app\n"
        "create_app()\n"
        f"logging.getLogger('sondos_mcp.test').warning('echoed key %s', {CANARY!r})\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=clean_env(SONDOS_API_KEY=CANARY),
    )
    assert proc.returncode == 0, proc.stderr
    assert "echoed key [redacted]" in proc.stderr
    assert CANARY not in proc.stderr


def test_subprocesses_run_the_package_the_tests_import():
    """A child `python -m` started from the checkout imports the same installed sondos_mcp as the tests."""
    import sondos_mcp

    proc = subprocess.run(
        [sys.executable, "-c", "import sondos_mcp; print(sondos_mcp.__file__)"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert Path(proc.stdout.strip()) == Path(sondos_mcp.__file__)


@pytest.mark.anyio
async def test_sandbox_journals_apart_from_the_users_journal(tmp_path: Path):
    """--sandbox serves the demo account and journals its changes (list_changes shows them) in a file of its
    own, never in the user's data directory: the sandbox's data is new on every start, and so is its journal.
    (SONDOS_SANDBOX=true, as the desktop bundle sets it, is the same setting: tests/interop/test_bundle.py.)"""
    home, data = tmp_path / "home", tmp_path / "data"
    home.mkdir()
    data.mkdir()
    command, *args = server_command()
    params = StdioServerParameters(
        command=command, args=[*args, "--sandbox"], env=clean_env(HOME=str(home), XDG_DATA_HOME=str(data))
    )
    async with Client(params) as client:
        applied = await client.call_tool("update_assistant", {"id": 12, "speech_speed": 0.9})
        changes = await client.call_tool("list_changes", {})
    assert applied.is_error is False
    assert [c["id"] for c in changes.structured_content["changes"]] == [applied.structured_content["change_id"]]
    assert [p for p in (*home.rglob("*"), *data.rglob("*")) if "sondos" in str(p).lower()] == []
