"""Start-up as users meet it: every bad setting is one clear line and exit 2; messages fit the mode."""

from __future__ import annotations

import gc
import json
import logging
import os
import re
import socket
import subprocess
import sys
import weakref
from collections.abc import Callable
from pathlib import Path

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from pydantic import SecretStr

from sondos_mcp.cli import load_settings, parse_args
from sondos_mcp.config import Settings, env_name
from sondos_mcp.sandbox import SandboxServer
from sondos_mcp.server import build_server
from tests.conftest import make_settings, server_command, stdio_exchange, wait_until_healthy
from tests.postgres_cluster import Cluster, pg_cluster  # noqa: F401 - the fixture

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
    pytest.param(
        [],
        {"SONDOS_BASE_URL": "https://ops:pw-canary@api.example.com"},
        "SONDOS_BASE_URL",
        "SONDOS_API_KEY",
        id="base-url-with-a-password",
    ),
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


@pytest.mark.parametrize(
    "env",
    [{"SONDOS_HTTP_TOKENS": CANARY, "SONDOS_TIMEOUT": "0"}, {"SONDOS_BASE_URL": f"https://ops:{CANARY}@example.com"}],
    ids=["token", "password-in-base-url"],
)
def test_a_bad_secret_is_named_but_never_echoed(env: dict[str, str]):
    """A refused setting's message does not repeat a secret's value."""
    proc = start(**env)
    assert proc.returncode == 2
    assert next(name for name in env if name != "SONDOS_HTTP_TOKENS") in proc.stderr
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


# --- the journal's setting: one that cannot work stops start-up --------------------------------

PASSWORD = "canary-pw-2b8e"  # in every journal URL below that carries one


def _cluster(request: pytest.FixtureRequest) -> Cluster:
    pytest.importorskip("psycopg")
    return request.getfixturevalue("pg_cluster")


def _unwritable_dir(tmp_path: Path) -> Path:
    """A directory this process cannot write in: a read-only one, or, as root, one of the kernel's."""
    if os.geteuid() != 0:
        locked = tmp_path / "locked"
        locked.mkdir(mode=0o555)
        return locked
    if os.access("/proc/sys", os.W_OK):
        pytest.skip("no directory here is unwritable for root")
    return Path("/proc/sys")


def _under_a_file(tmp_path: Path) -> Path:
    (tmp_path / "a-file").write_text("x")
    return tmp_path / "a-file" / "journal.sqlite3"


JournalEnv = Callable[[pytest.FixtureRequest, Path], dict[str, str]]

# (the journal's environment, the variable the one line must name, words it must carry)
JOURNALS_THAT_CANNOT_WORK = [
    pytest.param(
        lambda r, t: {"SONDOS_JOURNAL_URL": f"mysql://sondos:{PASSWORD}@db.example.com/journal"},
        "SONDOS_JOURNAL_URL",
        ["postgresql://"],
        id="mysql-url",
    ),
    pytest.param(
        lambda r, t: {"SONDOS_JOURNAL_URL": f"postgresql://sondos:{PASSWORD}@[bad"},
        "SONDOS_JOURNAL_URL",
        ["postgresql://"],
        id="malformed-url",
    ),
    pytest.param(
        lambda r, t: {"SONDOS_JOURNAL_URL": f"postgresql://sondos:{PASSWORD}@/journal"},
        "SONDOS_JOURNAL_URL",
        ["host"],
        id="url-without-host",
    ),
    pytest.param(
        lambda r, t: {"SONDOS_JOURNAL_URL": f"postgres://sondos:{PASSWORD}@db.example.com:70000/journal"},
        "SONDOS_JOURNAL_URL",
        ["port"],
        id="url-port-out-of-range",
    ),
    pytest.param(
        lambda r, t: {"SONDOS_JOURNAL_URL": _cluster(r).password_url(PASSWORD)},
        "SONDOS_JOURNAL_URL",
        ["refused the password"],
        id="wrong-password",
    ),
    pytest.param(
        lambda r, t: {"SONDOS_JOURNAL_URL": f"postgresql://sondos:{PASSWORD}@127.0.0.1:1/journal"},
        "SONDOS_JOURNAL_URL",
        ["refused the connection"],
        id="refused-port",
    ),
    pytest.param(
        lambda r, t: {"SONDOS_JOURNAL_URL": _cluster(r).url("no_such_db").replace("postgres@", f"x:{PASSWORD}@")},
        "SONDOS_JOURNAL_URL",
        ["does not exist"],
        id="missing-database",
    ),
    pytest.param(
        lambda r, t: {"SONDOS_JOURNAL": str(_under_a_file(t))},
        "SONDOS_JOURNAL",
        ["not a directory"],
        id="sqlite-under-a-file",
    ),
    pytest.param(
        lambda r, t: {"SONDOS_JOURNAL": str(t)}, "SONDOS_JOURNAL", ["is a directory"], id="sqlite-path-is-a-directory"
    ),
    pytest.param(
        lambda r, t: {"SONDOS_JOURNAL": str(_unwritable_dir(t) / "journal.sqlite3")},
        "SONDOS_JOURNAL",
        ["not writable"],
        id="sqlite-unwritable-directory",
    ),
    pytest.param(
        lambda r, t: {"SONDOS_JOURNAL": str(_unwritable_dir(t) / "sondos" / "journal.sqlite3")},
        "SONDOS_JOURNAL",
        ["not writable"],
        id="sqlite-directory-cannot-be-created",
    ),
]


@pytest.mark.parametrize(("make_env", "name", "words"), JOURNALS_THAT_CANNOT_WORK)
def test_a_journal_that_cannot_work_stops_start_up_with_one_line(
    make_env: JournalEnv, name: str, words: list[str], request: pytest.FixtureRequest, tmp_path: Path
):
    """A foreign or broken URL, a refused login or connection, a missing database, an unusable SQLite path:
    exit 2 with one line naming the variable, and never the URL's password."""
    env = make_env(request, tmp_path)
    proc = start(**env, timeout=30)
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"sondos-mcp: {name}: "), lines[0]
    for word in words:
        assert word in lines[0]
    assert PASSWORD not in proc.stderr
    assert "Traceback" not in proc.stderr
    assert proc.stdout == ""


# The journal's environment for a start-up that must go ahead; `{tmp}` is a fresh directory.
JOURNALS_THAT_CAN_WORK = [
    pytest.param(lambda r, t: {"SONDOS_JOURNAL": "off"}, id="off"),
    pytest.param(lambda r, t: {"SONDOS_JOURNAL": "OFF", "SONDOS_JOURNAL_URL": " "}, id="off-with-an-empty-url"),
    pytest.param(lambda r, t: {"SONDOS_JOURNAL": str(t / "new" / "journal.sqlite3")}, id="new-sqlite-file"),
    pytest.param(lambda r, t: {"SONDOS_JOURNAL_URL": _cluster(r).url()}, id="postgres-on-a-socket"),
]


@pytest.mark.parametrize("make_env", JOURNALS_THAT_CAN_WORK)
def test_a_journal_that_can_work_starts_without_opening_it(
    make_env: JournalEnv, request: pytest.FixtureRequest, tmp_path: Path
):
    """`off` is never checked; a good SQLite path is checked but not created (start-up stays cheap);
    a PostgreSQL URL that answers (here with its host in `?host=`) starts."""
    proc = start(**make_env(request, tmp_path), SONDOS_API_KEY=CANARY, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert not (tmp_path / "new").exists()


@pytest.mark.anyio
@pytest.mark.parametrize("server", ["refused", "silent"])
async def test_a_journal_that_cannot_connect_is_blamed_not_the_api(
    server: str, sandbox: SandboxServer, request: pytest.FixtureRequest, caplog: pytest.LogCaptureFixture
):
    """Under a call deadline shorter than the journal's open, a change is refused as journal_unavailable,
    naming SONDOS_JOURNAL_URL: never as the Sondos API being slow, never with the password."""
    pytest.importorskip("psycopg")
    port = 1 if server == "refused" else request.getfixturevalue("silent_port")
    url = f"postgresql://sondos:{PASSWORD}@127.0.0.1:{port}/journal?connect_timeout=2"
    settings = make_settings(sandbox.base_url, journal_url=SecretStr(url), call_deadline=0.5)
    caplog.set_level(logging.DEBUG)
    async with Client(build_server(settings)) as client:
        for _ in range(2):
            result = await client.call_tool("update_assistant", {"id": 12, "max_call_duration": 300})
            assert result.is_error
            error = result.structured_content["error"]
            assert error["kind"] == "journal_unavailable", error
            text = str(result.structured_content) + " ".join(b.text for b in result.content if b.type == "text")
            assert "SONDOS_JOURNAL_URL" in text
            assert "Sondos API" not in text
            assert PASSWORD not in text
    assert PASSWORD not in caplog.text
    assert sandbox.state.updates() == []


def test_the_journal_url_is_redacted_from_every_log_line(tmp_path: Path):
    """The driver's own log lines (psycopg, psycopg.pool) never show the journal URL or its password."""
    url = f"postgresql://sondos:{PASSWORD}@db.example.com/journal"
    script = (
        "import logging\n"
        "from sondos_mcp.config import Settings\n"
        "from sondos_mcp.logs import configure_logging\n"
        "configure_logging(Settings())\n"
        f"logging.getLogger('psycopg.pool').warning('error connecting in pool-1: %s', {url!r})\n"
        f"logging.getLogger('psycopg').warning('password %s', {PASSWORD!r})\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        env=clean_env(SONDOS_JOURNAL_URL=url),
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("[redacted]") == 2, proc.stderr
    assert PASSWORD not in proc.stderr


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}},
}
TOOLS_LIST = [
    {"jsonrpc": "2.0", "method": "notifications/initialized"},
    {"jsonrpc": "2.0", "id": 2, "method": "tools/list"},
]
# Never needed to answer initialize; the tool stack (handlers, tools, model, checking, trust) is
# needed from the first request after it on.
TOOL_STACK = ("handlers", "tools", "model", "checking", "references", "trust", "policy", "domain")
NEVER_OVER_STDIO = ("sandbox", "oauth", "enrol", "vault", "http", "observability", "metrics")
ON_THEIR_OWN_USE = ("resources", "prompts", "completions")


@pytest.mark.parametrize(
    ("requests", "loaded", "not_loaded"),
    [
        pytest.param([INITIALIZE], (), TOOL_STACK + NEVER_OVER_STDIO + ON_THEIR_OWN_USE, id="initialize"),
        pytest.param([INITIALIZE, *TOOLS_LIST], TOOL_STACK, NEVER_OVER_STDIO + ON_THEIR_OWN_USE, id="tools-list"),
    ],
)
def test_initialize_is_answered_before_the_tool_stack_loads(
    tmp_path: Path, requests: list[dict[str, object]], loaded: tuple[str, ...], not_loaded: tuple[str, ...]
):
    """Desktop clients spawn the server on every launch and wait for initialize: answering it loads the
    command, its settings and the server's wiring only. The tool table, the contract's models, checking
    and trust load with the first request after it; resources, prompts and completions on their own
    first use; the sandbox, OAuth and metrics/tracing modules never, over stdio without them configured."""
    script = (
        "import sys\n"
        "from sondos_mcp.cli import main\n"
        "assert main([]) == 0\n"
        "print(sorted({m.split('.')[1] for m in sys.modules if m.startswith('sondos_mcp.')}))\n"
    )
    env = clean_env(SONDOS_API_KEY=CANARY, SONDOS_JOURNAL=str(tmp_path / "journal.sqlite3"))
    env = {k: v for k, v in env.items() if not k.startswith(("OTEL_", "PROMETHEUS_"))}
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    try:
        answers = stdio_exchange(proc, *requests)
    finally:
        proc.stdin.close()
    modules = proc.stdout.read().strip()
    assert proc.wait(timeout=60) == 0, proc.stderr.read() if proc.stderr else ""
    assert [a["id"] for a in answers] == [r["id"] for r in requests if "id" in r]
    assert all("result" in a for a in answers), answers
    assert "serverInfo" in answers[0]["result"]
    loaded_now = set(json.loads(modules.replace("'", '"')))
    assert set(loaded) <= loaded_now
    assert not loaded_now & set(not_loaded)


@pytest.mark.anyio
@pytest.mark.parametrize(("eager", "built_at_start"), [(False, False), (True, True)])
async def test_an_http_server_builds_its_handlers_when_it_starts_stdio_on_first_use(
    tmp_path: Path, eager: bool, built_at_start: bool
):
    """Over HTTP (`eager`) no caller waits for the tool stack's build, and a failure in it stops start-up;
    over stdio it waits for the first request after initialize."""
    server = build_server(make_settings("http://127.0.0.1:9", journal=str(tmp_path / "j.sqlite3")), eager=eager)
    async with server.lifespan(server) as deferred:
        assert (deferred.built is not None) is built_at_start
        deferred.handlers()
        assert deferred.built is not None


def test_the_policy_checked_at_start_up_is_the_policy_enforced(tmp_path: Path):
    """Over stdio the handlers are built after initialize, but with the policy file as start-up read
    and checked it: a file changed, or broken, in between changes nothing."""
    policy = tmp_path / "policy.toml"
    policy.write_text("read_only = true\n", encoding="utf-8")
    env = clean_env(SONDOS_API_KEY=CANARY, SONDOS_JOURNAL="off", SONDOS_POLICY=str(policy))
    proc = subprocess.Popen(
        server_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdin is not None
    try:
        [initialized] = stdio_exchange(proc, INITIALIZE)
        assert "serverInfo" in initialized["result"]
        policy.write_text("read_only = [this is not TOML\n", encoding="utf-8")
        [listing] = stdio_exchange(proc, *TOOLS_LIST)
        listed = [tool["name"] for tool in listing["result"]["tools"]]
    finally:
        proc.stdin.close()
        proc.wait(timeout=30)
    assert "list_assistants" in listed
    assert not {"update_assistant", "update_assistants", "undo_change"} & set(listed)  # read_only, as started


@pytest.mark.anyio
async def test_a_server_built_in_process_is_freed_once_dropped(still: SandboxServer):
    """Only the commands freeze the heap they built (`settle`): a server a test or a library builds
    and drops is collected like anything else, its handlers with it."""
    server = build_server(make_settings(still.base_url, journal="off"))
    async with Client(server) as client:
        assert not (await client.call_tool("list_assistants", {})).is_error
    freed = weakref.ref(server)
    del server, client
    gc.collect()
    assert freed() is None
