"""The README and docs/clients.md as a user follows them: every client block parses, quotes correctly and
starts a working server; every other command they show is one CI runs; the Docker image's entrypoint,
settings and health check behave as docs/deployment.md says, run here without a container engine."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

import sondos_mcp
from sondos_mcp.healthcheck import health_url
from sondos_mcp.sandbox import DEMO_KEY, SandboxServer
from tests.conftest import REPO, free_port, server_command, wait_until_healthy

README = (REPO / "README.md").read_text("utf-8")
CLIENTS = (REPO / "docs" / "clients.md").read_text("utf-8")
DEPLOYMENT = (REPO / "docs" / "deployment.md").read_text("utf-8")
DOCKERFILE = (REPO / "Dockerfile").read_text("utf-8")
CI = (REPO / ".ci" / "run").read_text("utf-8").splitlines()
DOCS = {"README.md": README, "docs/clients.md": CLIENTS}
WHEEL_PLACEHOLDER = f"/path/to/dist/sondos_mcp-{sondos_mcp.__version__}-py3-none-any.whl"
EXAMPLE_KEY = "1|your-key"
SHELL_OPERATORS = {"|", "||", "&", "&&", ";", ">", ">>", "<", "(", ")"}


def blocks(language: str, text: str = README) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.S)


def commands(text: str) -> list[str]:
    return [line for block in blocks("bash", text) for line in block.splitlines() if line.strip()]


def words(line: str) -> list[str]:
    """Split a command line as a POSIX shell would, refusing any operator the shell would act on."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    tokens = list(lexer)
    operators = [t for t in tokens if t in SHELL_OPERATORS]
    assert operators == [], f"unquoted shell operator {operators} in: {line}"
    return tokens


def claude_mcp_add(tokens: list[str]) -> dict[str, Any]:
    """Parse `claude mcp add <name> [--env K=V]... -- <command> [args...]` as Claude Code does."""
    assert tokens[:3] == ["claude", "mcp", "add"]
    split = tokens.index("--")
    options, server = tokens[3:split], tokens[split + 1 :]
    name, env, i = None, {}, 0
    while i < len(options):
        if options[i] in ("--env", "-e"):
            key, sep, value = options[i + 1].partition("=")
            assert sep, f"--env needs KEY=value, got {options[i + 1]!r}"
            env[key] = value
            i += 2
        else:
            assert name is None, f"unexpected argument {options[i]!r}"
            name = options[i]
            i += 1
    assert name == "sondos"
    return {"command": server[0], "args": server[1:], "env": env}


def vscode_launch(config: dict[str, Any]) -> dict[str, Any]:
    """What VS Code starts for a `.vscode/mcp.json`: each `${input:id}` becomes what the person types at that
    input's prompt (here the example key), asked once and kept in VS Code's secret storage."""
    typed = {item["id"]: EXAMPLE_KEY for item in config["inputs"]}
    entry = config["servers"]["sondos"]

    def fill(value: str) -> str:
        return re.sub(r"\$\{input:([^}]+)\}", lambda m: typed[m.group(1)], value)

    return {
        "command": entry["command"],
        "args": [fill(a) for a in entry.get("args", [])],
        "env": {k: fill(v) for k, v in entry.get("env", {}).items()},
    }


def client_blocks() -> list[tuple[str, str, dict[str, Any]]]:
    """(where, kind, what the client starts) for every client block in the README and docs/clients.md."""
    found = []
    for doc, text in DOCS.items():
        for block in blocks("json", text):
            config = json.loads(block)
            if "servers" in config:
                found.append((doc, "vscode", config))
            else:
                found.append((doc, "mcpServers", config))
        found += [(doc, "claude", {"line": line}) for line in commands(text) if line.startswith("claude ")]
    return found


def launch(kind: str, block: dict[str, Any]) -> dict[str, Any]:
    if kind == "vscode":
        return vscode_launch(block)
    if kind == "claude":
        return claude_mcp_add(words(block["line"]))
    entry = block["mcpServers"]["sondos"]
    return {"command": entry["command"], "args": entry.get("args", []), "env": entry.get("env", {})}


def key(started: dict[str, Any]) -> str:
    return json.dumps(started, sort_keys=True)


LAUNCHES = {key(launch(kind, block)): launch(kind, block) for _, kind, block in client_blocks()}


def test_docs_are_short_and_every_link_stays_in_the_repository():
    """The README stays a user's page (170 lines at most), and each link of it and of docs/clients.md is a file
    of this repository."""
    assert len(README.splitlines()) <= 170
    for doc, text in DOCS.items():
        links = re.findall(r"\]\(([^)]+)\)", text)
        assert links
        for target in links:
            assert not re.match(r"[a-z]+:", target), f"{target} leaves the repository"
            path = ((REPO / doc).parent / target.split("#")[0]).resolve()
            assert path.is_relative_to(REPO)
            assert path.exists(), f"{target} in {doc} does not exist"


@pytest.mark.parametrize(
    ("client", "kind"),
    [
        ("Claude Desktop", "mcpServers"),
        ("Claude Code", "claude"),
        ("VS Code", "vscode"),
        ("Cursor", "mcpServers"),
        ("Windsurf", "mcpServers"),
    ],
)
def test_each_client_has_its_own_section_with_a_block(client: str, kind: str):
    """docs/clients.md has a section per client, with the file it reads and a block to paste."""
    section = re.search(rf"^## {client}\n(.*?)(?=^## |\Z)", CLIENTS, flags=re.S | re.M)
    assert section is not None, f"no section for {client}"
    language = "bash" if kind == "claude" else "json"
    assert blocks(language, section.group(1)), f"no {language} block for {client}"


@pytest.mark.parametrize(("doc", "kind", "block"), client_blocks(), ids=lambda v: v if isinstance(v, str) else "")
def test_every_client_block_is_a_valid_configuration_for_its_client(doc: str, kind: str, block: dict[str, Any]):
    """Each block has the shape its client reads, names the server `sondos`, and passes the key in the
    environment: the example key, or for VS Code a password input (so the file holds no secret)."""
    started = launch(kind, block)
    if kind == "mcpServers":
        assert set(block) == {"mcpServers"}
        assert set(block["mcpServers"]) == {"sondos"}
        assert set(block["mcpServers"]["sondos"]) <= {"command", "args", "env"}
    if kind == "vscode":
        assert set(block) == {"inputs", "servers"}
        entry = block["servers"]["sondos"]
        assert entry["type"] == "stdio"
        (prompt,) = block["inputs"]
        assert prompt["type"] == "promptString"
        assert prompt["password"] is True
        assert entry["env"]["SONDOS_API_KEY"] == f"${{input:{prompt['id']}}}"
        referenced = set(re.findall(r"\$\{input:([^}]+)\}", json.dumps(entry)))
        assert referenced == {prompt["id"]}
    assert started["env"] == {"SONDOS_API_KEY": EXAMPLE_KEY}
    assert not [a for a in started["args"] if EXAMPLE_KEY in a], "the key must not be an argument"
    for arg in started["args"]:
        if arg.endswith(".whl"):
            assert arg == WHEEL_PLACEHOLDER


def test_file_names_in_the_docs_are_this_versions():
    """Every wheel and bundle file name the docs mention is the one this version builds."""
    version = re.escape(sondos_mcp.__version__)
    for text in DOCS.values():
        for name in re.findall(r"sondos_mcp-[^/\s`\"*]*?\.whl", text):
            assert re.fullmatch(rf"sondos_mcp-{version}-py3-none-any\.whl", name), name
        for name in re.findall(r"sondos-mcp-[^/\s`\"]*?\.mcpb", text):
            assert name == f"sondos-mcp-{sondos_mcp.__version__}.mcpb", name


def test_every_way_to_run_it_has_a_json_block_and_a_claude_line():
    """Each way of starting the server is shown both as a JSON block and as a `claude mcp add` line, alike."""
    json_launches = {key(launch(k, b)) for _, k, b in client_blocks() if k != "claude"}
    claude_launches = {key(launch(k, b)) for _, k, b in client_blocks() if k == "claude"}
    assert json_launches == claude_launches
    assert len(LAUNCHES) == 3


def built_wheel() -> Path | None:
    wheels = sorted((REPO / "dist").glob(f"sondos_mcp-{sondos_mcp.__version__}-*.whl"), key=os.path.getmtime)
    return wheels[-1] if wheels else None


def runnable(started: dict[str, Any]) -> list[str]:
    """The block's command line as it runs here: placeholders filled in, docker replaced by its entrypoint."""
    command, args = started["command"], list(started["args"])
    if command == "sondos-mcp":
        return [*server_command(), *args]
    if command == "docker":
        # No container engine here: run what the image's entrypoint would run, with the same arguments.
        assert image_entrypoint() == ["sondos-mcp"]
        return [*server_command(), *args[args.index("sondos-mcp") + 1 :]]
    if command == "uvx":
        uvx = shutil.which("uvx", path=str(Path(sys.executable).parent)) or shutil.which("uvx")
        wheel = built_wheel()
        if uvx is None or wheel is None:
            if os.environ.get("SONDOS_TEST_WHEEL") == "1":
                pytest.fail("uvx and a built wheel in dist/ are required when testing the wheel")
            pytest.skip("needs uvx and a wheel built into dist/")
        return [uvx, *[str(wheel) if a == WHEEL_PLACEHOLDER else a for a in args]]
    raise AssertionError(f"unknown command {command!r} in a client block")


@pytest.mark.anyio
@pytest.mark.parametrize("launch_key", sorted(LAUNCHES), ids=lambda k: json.loads(k)["command"])
async def test_each_client_block_starts_a_working_server_with_sandbox(launch_key: str, tmp_path: Path):
    """Every distinct server the blocks start (all blocks of the README and docs/clients.md, VS Code's with
    the key typed at its prompt), with --sandbox added as the docs say, lists the tools and applies an update."""
    started = LAUNCHES[launch_key]
    command, *args = runnable(started)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")} | started["env"]
    params = StdioServerParameters(command=command, args=[*args, "--sandbox"], env=env, cwd=tmp_path)
    async with Client(params) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool("update_assistant", {"id": 12, "speech_speed": 0.9})
    assert "update_assistant" in tools
    assert result.is_error is False
    assert result.structured_content["applied"] is True


def test_every_other_command_shown_is_one_ci_runs():
    """Each command the README and docs/clients.md show, besides the client lines and the Inspector (run by the
    tests above and below), appears verbatim in .ci/run; the wheel is built there as the docs say."""
    others = [c for text in DOCS.values() for c in commands(text) if not c.startswith(("claude ", "npx "))]
    assert len(others) >= 3
    for command in others:
        words(command.replace("&&", " "))
        assert [line for line in CI if command in line], f"not run by .ci/run: {command}"
    for text in DOCS.values():
        for built in re.findall(r"`(python3 -m pip wheel [^`]+)`", text):
            ci = [line for line in CI if "python3 -m pip wheel" in line]
            assert ci
            assert [w for w in words(ci[0].split("&&")[0]) if w != "-q"] == words(built)


@pytest.mark.anyio
async def test_readme_refusal_example_is_what_the_server_answers(client: Client):
    """The README's opening example is the server's own answer to the proposal it shows, word for word."""
    (example,) = blocks("text")
    first, *expected = example.strip().splitlines()
    arguments = json.loads(first.removeprefix("→ update_assistant "))
    result = await client.call_tool("update_assistant", arguments)
    assert result.is_error
    assert result.content[0].text.splitlines() == expected


def test_readme_pipx_install_gives_a_working_sondos_mcp(tmp_path: Path):
    """The `pipx install <wheel>` of docs/clients.md installs a `sondos-mcp` that starts."""
    (line,) = re.findall(r"`(pipx install [^`]+)`", CLIENTS)
    pipx = shutil.which("pipx", path=str(Path(sys.executable).parent))
    wheel = built_wheel()
    if pipx is None or wheel is None:
        if os.environ.get("SONDOS_TEST_WHEEL") == "1":
            pytest.fail("pipx and a built wheel in dist/ are required when testing the wheel")
        pytest.skip("needs pipx and a wheel built into dist/")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SONDOS_", "PIPX_"))}
    env |= {"PIPX_HOME": str(tmp_path / "pipx"), "PIPX_BIN_DIR": str(tmp_path / "bin")}
    args = [str(wheel) if w == WHEEL_PLACEHOLDER else w for w in words(line)]
    proc = subprocess.run([pipx, *args[1:]], capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    installed = tmp_path / "bin" / "sondos-mcp"
    version = subprocess.run([str(installed), "--version"], capture_output=True, text=True, timeout=60, env=env)
    assert version.stdout.strip() == f"sondos-mcp {sondos_mcp.__version__}"


# --- The Docker image, without a container engine: its entrypoint, environment and health check. ---


def image_entrypoint() -> list[str]:
    found = re.search(r"^ENTRYPOINT (.*)$", DOCKERFILE, flags=re.M)
    assert found is not None
    return json.loads(found.group(1))


def image_command() -> list[str]:
    found = re.search(r"^CMD (.*)$", DOCKERFILE, flags=re.M)
    assert found is not None
    return json.loads(found.group(1))


def image_environment() -> dict[str, str]:
    env: dict[str, str] = {}
    for line in re.findall(r"^ENV (.*)$", DOCKERFILE, flags=re.M):
        env |= dict(item.split("=", 1) for item in shlex.split(line))
    return env


def docker_run(line: str) -> tuple[dict[str, str], list[str]]:
    """The `-e` settings of a `docker run … sondos-mcp [args]` line, and the arguments after the image."""
    tokens = words(line)
    assert tokens[:2] == ["docker", "run"]
    env, i = {}, 2
    while tokens[i] != "sondos-mcp":
        if tokens[i] in ("-e", "--env"):
            name, sep, value = tokens[i + 1].partition("=")
            env[name] = value if sep else os.environ.get(name, "")
            i += 2
        elif tokens[i] in ("-p", "-v", "--name"):
            i += 2
        else:
            i += 1
    return env, tokens[i + 1 :]


def container(env: dict[str, str], args: list[str]) -> list[str]:
    """The image's entrypoint and arguments as this machine runs them (the installed `sondos-mcp`)."""
    assert image_entrypoint() == ["sondos-mcp"]
    return [*server_command(), *(args or image_command())]


def clean(**env: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")} | env


def test_bare_docker_run_stops_naming_exactly_the_settings_the_docs_give():
    """`docker run sondos-mcp` with the image's environment alone stops with one line naming the missing
    authentication; with that alone, it names the allowed hosts: the two settings docs/deployment.md sets."""
    (line,) = [c for c in commands(DEPLOYMENT) if c.startswith("docker run")]
    documented, args = docker_run(line)
    assert set(documented) == {"SONDOS_HTTP_AUTH", "SONDOS_HTTP_ALLOWED_HOSTS"}
    image = image_environment() | {"SONDOS_PORT": str(free_port())}
    for given, named in [({}, "SONDOS_HTTP_AUTH"), ({"SONDOS_HTTP_AUTH": "per_user"}, "SONDOS_HTTP_ALLOWED_HOSTS")]:
        proc = subprocess.run(
            container(image, args),
            capture_output=True,
            text=True,
            timeout=60,
            env=clean(**(image | given)),
            stdin=subprocess.DEVNULL,
        )
        assert proc.returncode == 2
        (message,) = proc.stderr.strip().splitlines()
        assert named in message
        assert "streamable HTTP at" not in message


@pytest.fixture
def documented_docker_server(sandbox: SandboxServer) -> Iterator[str]:
    """docs/deployment.md's `docker run` line as the image runs it; yields its base URL. The port and the API it
    talks to are the only changes: this machine's free port and the sandbox."""
    (line,) = [c for c in commands(DEPLOYMENT) if c.startswith("docker run")]
    documented, args = docker_run(line)
    port = free_port()
    env = clean(**(image_environment() | documented | {"SONDOS_PORT": str(port), "SONDOS_BASE_URL": sandbox.base_url}))
    # One worker keeps this quick; several workers on the bound socket are tested in tests/test_http.py.
    env["SONDOS_WORKERS"] = "1"
    proc = subprocess.Popen(
        container(env, args), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_healthy(base, proc)
        yield base
    finally:
        proc.terminate()
        proc.communicate(timeout=30)


@pytest.mark.anyio
async def test_documented_docker_run_serves_mcp_over_http(documented_docker_server: str):
    """docs/deployment.md's `docker run` line, with the image's environment, serves MCP over HTTP on all
    interfaces: a caller sending its own key lists assistants."""
    async with (
        httpx2.AsyncClient(headers={"X-Sondos-Api-Key": DEMO_KEY}, timeout=30) as http,
        Client(streamable_http_client(f"{documented_docker_server}/mcp", http_client=http)) as client,
    ):
        listed = await client.call_tool("list_assistants", {})
    assert listed.is_error is False
    assert listed.structured_content["assistants"]


HEALTH_CASES = [
    pytest.param(["--transport", "http"], {}, "http://127.0.0.1:8000/healthz", id="image-default"),
    pytest.param(["--transport", "http"], {"SONDOS_PORT": "9100"}, "http://127.0.0.1:9100/healthz", id="env-port"),
    pytest.param(
        ["--transport", "http", "--port", "9200"], {"SONDOS_PORT": "9100"}, "http://127.0.0.1:9200/healthz", id="flag"
    ),
    pytest.param(["--transport", "http", "--host", "::"], {}, "http://[::1]:8000/healthz", id="ipv6-any"),
    pytest.param(["--transport", "http"], {"SONDOS_HOST": "10.1.2.3"}, "http://10.1.2.3:8000/healthz", id="bound-host"),
    pytest.param(["--transport", "stdio"], {"SONDOS_PORT": "9100"}, None, id="stdio"),
    pytest.param([], {}, None, id="no-arguments-is-stdio"),
]


@pytest.mark.parametrize(("args", "env", "expected"), HEALTH_CASES)
def test_health_check_asks_where_the_server_was_started_to_listen(
    args: list[str], env: dict[str, str], expected: str | None
):
    """The health check's address comes from the server's own arguments and environment: a flag wins over its
    variable, a wildcard bind is asked on loopback, and a stdio server is not asked at all."""
    assert health_url(args, image_environment() | env) == expected


def healthcheck_command() -> list[str]:
    found = re.search(r"^HEALTHCHECK .*CMD (\[.*\])$", DOCKERFILE, flags=re.M)
    assert found is not None
    command = json.loads(found.group(1))
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


class Container:
    """The image's entrypoint as a container runs it: PID 1 of a PID namespace of its own (`unshare`), with
    the image's environment, on this machine's network; `health()` runs the image's HEALTHCHECK command
    inside that namespace (`nsenter`), as Docker runs it inside the container. Needing util-linux's tools and
    root, these tests run in .ci/run's interop step."""

    def __init__(self, env: dict[str, str], args: list[str], log: Path):
        if os.environ.get("SONDOS_INTEROP") != "1":
            pytest.skip("runs in .ci/run's interop step (SONDOS_INTEROP=1): a PID namespace needs root")
        unshare, nsenter = shutil.which("unshare"), shutil.which("nsenter")
        if unshare is None or nsenter is None:
            self.unavailable("unshare and nsenter (util-linux)")
        self.nsenter = str(nsenter)
        self.env = env
        self.log = log.open("w")
        self.proc = subprocess.Popen(
            [str(unshare), "--pid", "--fork", "--mount-proc", *container(env, args)],
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self.log,
        )
        self.pid = self.first_child()

    def unavailable(self, what: str) -> None:
        pytest.fail(f"{what} required: the image's health check is tested in a PID namespace")

    def first_child(self) -> int:
        children = Path(f"/proc/{self.proc.pid}/task/{self.proc.pid}/children")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self.log.flush()
                self.unavailable(f"a PID namespace (unshare said: {self.log.name})")
            found = children.read_text().split() if children.exists() else []
            if found:
                return int(found[0])
            time.sleep(0.02)
        raise AssertionError("the server did not start in its namespace")

    def health(self) -> subprocess.CompletedProcess[str]:
        command = [self.nsenter, "--target", str(self.pid), "--pid", "--mount", "--", *healthcheck_command()]
        return subprocess.run(command, capture_output=True, text=True, timeout=30, env=self.env)

    def stop(self) -> None:
        os.kill(self.pid, signal.SIGCONT)
        os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        self.log.close()


@pytest.mark.interop
def test_image_health_check_follows_the_port_and_sees_a_hung_server(tmp_path: Path):
    """Started with `-e SONDOS_PORT=<not 8000>`, the image's health check passes while the server answers and
    fails once it hangs (stopped: connections wait, nothing answers)."""
    port = free_port()
    env = clean(**image_environment()) | {"SONDOS_HTTP_AUTH": "per_user", "SONDOS_HTTP_ALLOWED_HOSTS": "localhost"}
    env |= {"SONDOS_PORT": str(port), "SONDOS_WORKERS": "1"}
    box = Container(env, [], tmp_path / "server.log")
    try:
        wait_until_healthy(f"http://127.0.0.1:{port}", box.proc)
        healthy = box.health()
        os.kill(box.pid, signal.SIGSTOP)
        hung = box.health()
    finally:
        box.stop()
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    assert f"127.0.0.1:{port}/healthz" in healthy.stdout
    assert hung.returncode == 1
    assert f"127.0.0.1:{port}/healthz did not answer" in hung.stderr


@pytest.mark.interop
def test_image_health_check_passes_a_container_serving_stdio(tmp_path: Path):
    """`docker run -i … sondos-mcp --transport stdio` (docs/clients.md) has no HTTP to ask: the check passes
    without asking, rather than marking the desktop client's container unhealthy."""
    (block,) = [b for b in blocks("json", CLIENTS) if '"docker"' in b]
    args = json.loads(block)["mcpServers"]["sondos"]["args"]
    box = Container(clean(**image_environment()), args[args.index("sondos-mcp") + 1 :], tmp_path / "server.log")
    try:
        result = box.health()
    finally:
        box.stop()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "stdio" in result.stdout


# --- The MCP Inspector lines, run as written (they need the Inspector, so they run in the interop step). ---


def inspector_line(cli: bool) -> list[str]:
    (line,) = [c for c in commands(README) if c.startswith("npx") and ("--cli" in c) is cli]
    tokens = words(line)
    interop = json.loads((REPO / "tests" / "interop" / "package.json").read_text("utf-8"))["dependencies"]
    # -y: npx installs without asking, so the line also runs where no terminal can answer its question.
    assert tokens[:3] == ["npx", "-y", f"@modelcontextprotocol/inspector@{interop['@modelcontextprotocol/inspector']}"]
    interop_dir = REPO / "tests" / "interop"
    if not (interop_dir / "node_modules" / ".bin" / "mcp-inspector").exists():
        if os.environ.get("SONDOS_INTEROP") == "1":
            pytest.fail("the MCP Inspector is required (npm ci in tests/interop)")
        pytest.skip("the MCP Inspector is not installed (npm ci in tests/interop)")
    assert Path(server_command()[0]).name == "sondos-mcp", "the installed sondos-mcp script must be on PATH"
    return tokens


def inspector_env() -> dict[str, str]:
    path = os.pathsep.join([str(Path(server_command()[0]).parent), os.environ.get("PATH", "")])
    return clean(PATH=path)


@pytest.mark.interop
def test_readme_inspector_command_runs_one_request():
    """The README's Inspector CLI line, run exactly as written without a terminal, reaches the server and gets
    its refusal (in tests/interop, npx finds the pinned Inspector there instead of downloading it)."""
    proc = subprocess.run(
        inspector_line(cli=True),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO / "tests" / "interop",
        env=inspector_env(),
        stdin=subprocess.DEVNULL,
    )
    # The Inspector exits 5 ("tool_is_error") when the tool answers isError, as this refusal must.
    assert proc.returncode == 5, proc.stderr[-2000:]
    answer = json.loads(proc.stdout)
    assert answer["isError"] is True
    assert [p["field"] for p in answer["structuredContent"]["problems"]] == ["speech_speed"]


@pytest.mark.interop
def test_readme_inspector_ui_command_starts_the_inspector():
    """The README's Inspector UI line, run exactly as written without a terminal, starts the web UI."""
    import httpx

    proc = subprocess.Popen(
        inspector_line(cli=False),
        cwd=REPO / "tests" / "interop",
        env=inspector_env() | {"MCP_AUTO_OPEN_ENABLED": "false"},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    assert proc.stdout is not None
    try:
        deadline, url = time.monotonic() + 90, None
        while url is None and time.monotonic() < deadline:
            text = proc.stdout.readline()
            assert text or proc.poll() is None, "the Inspector exited"
            found = re.search(r"(http://127\.0\.0\.1:\d+\S*)", text)
            url = found.group(1) if found and "up and running" not in text else url
        assert url is not None, "the Inspector did not say where it runs"
        assert httpx.get(url, timeout=10).status_code == 200
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)
