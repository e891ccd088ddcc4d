"""The README as a user follows it: its client blocks parse, quote correctly, and start a working server."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
from mcp import Client
from mcp.client.stdio import StdioServerParameters

import sondos_mcp
from tests.conftest import REPO, server_command

README = (REPO / "README.md").read_text("utf-8")
WHEEL_PLACEHOLDER = f"/path/to/dist/sondos_mcp-{sondos_mcp.__version__}-py3-none-any.whl"
SHELL_OPERATORS = {"|", "||", "&", "&&", ";", ">", ">>", "<", "(", ")"}


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def client_blocks() -> list[dict[str, Any]]:
    """Every `mcpServers` entry the README gives for Claude Desktop and Cursor."""
    return [json.loads(block)["mcpServers"]["sondos"] for block in blocks("json")]


def claude_lines() -> list[str]:
    return [line for block in blocks("bash") for line in block.splitlines() if line.startswith("claude ")]


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
    return {"name": name, "command": server[0], "args": server[1:], "env": env}


def test_readme_is_short_and_every_link_stays_in_the_repository():
    """About 150 lines, and each link is a file of this repository."""
    assert len(README.splitlines()) <= 170
    links = re.findall(r"\]\(([^)]+)\)", README)
    assert links
    for target in links:
        assert not re.match(r"[a-z]+:", target), f"{target} leaves the repository"
        assert (REPO / target.split("#")[0]).resolve().is_relative_to(REPO)
        assert (REPO / target.split("#")[0]).exists(), f"{target} does not exist"


def test_every_client_block_has_a_matching_claude_code_line():
    """Each install's JSON block and its `claude mcp add` line start the same server the same way."""
    parsed = [claude_mcp_add(words(line)) for line in claude_lines()]
    entries = client_blocks()
    assert len(entries) == len(parsed) == 3
    for entry, line in zip(entries, parsed, strict=True):
        assert line["name"] == "sondos"
        assert line["command"] == entry["command"]
        assert line["args"] == entry.get("args", [])
        assert line["env"] == entry["env"]
        assert entry["env"]["SONDOS_API_KEY"] == "1|your-key"


def test_wheel_names_in_the_readme_match_this_version():
    """The README's wheel path is the file `pip wheel` builds for this version."""
    for entry in client_blocks():
        for arg in entry.get("args", []):
            if arg.endswith(".whl"):
                assert arg == WHEEL_PLACEHOLDER


def test_readme_test_command_is_what_ci_runs():
    """The README's test command appears verbatim in .ci/run."""
    ci = (REPO / ".ci" / "run").read_text("utf-8").splitlines()
    commands = [line for block in blocks("bash") for line in block.splitlines()]
    tested = [c for c in commands if "pytest" in c]
    assert tested
    for command in tested:
        words(command.replace("&&", " "))
        assert command in ci


def test_docker_image_takes_the_readme_arguments():
    """The image's entrypoint is the server, so the arguments after the image name reach it."""
    entrypoint = re.search(r"^ENTRYPOINT (.*)$", (REPO / "Dockerfile").read_text("utf-8"), flags=re.M)
    assert entrypoint is not None
    assert json.loads(entrypoint.group(1)) == ["sondos-mcp"]


def built_wheel() -> Path | None:
    wheels = sorted((REPO / "dist").glob(f"sondos_mcp-{sondos_mcp.__version__}-*.whl"), key=os.path.getmtime)
    return wheels[-1] if wheels else None


def runnable(entry: dict[str, Any]) -> list[str]:
    """The block's command line as it runs here: placeholders filled in, docker replaced by its entrypoint."""
    command, args = entry["command"], list(entry.get("args", []))
    if command == "sondos-mcp":
        return [*server_command(), *args]
    if command == "docker":
        # No container engine here: run what the image's entrypoint would run, with the same arguments.
        return [*server_command(), *args[args.index("sondos-mcp") + 1 :]]
    if command == "uvx":
        uvx = shutil.which("uvx", path=str(Path(sys.executable).parent)) or shutil.which("uvx")
        wheel = built_wheel()
        if uvx is None or wheel is None:
            if os.environ.get("SONDOS_TEST_WHEEL") == "1":
                pytest.fail("uvx and a built wheel in dist/ are required when testing the wheel")
            pytest.skip("needs uvx and a wheel built into dist/")
        return [uvx, *[str(wheel) if a == WHEEL_PLACEHOLDER else a for a in args]]
    raise AssertionError(f"unknown command {command!r} in a README block")


@pytest.mark.anyio
@pytest.mark.parametrize("index", range(3), ids=["uvx", "pip", "docker"])
async def test_each_client_block_starts_a_working_server_with_sandbox(index: int, tmp_path: Path):
    """Each block, with --sandbox added as the README says, lists the tools and applies an update."""
    entry = client_blocks()[index]
    command, *args = runnable(entry)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")} | entry["env"]
    params = StdioServerParameters(command=command, args=[*args, "--sandbox"], env=env, cwd=tmp_path)
    async with Client(params) as client:
        tools = {t.name for t in (await client.list_tools()).tools}
        result = await client.call_tool("update_assistant", {"id": 12, "speech_speed": 0.9})
    assert "update_assistant" in tools
    assert result.is_error is False
    assert result.structured_content["applied"] is True


@pytest.mark.interop
def test_readme_inspector_command_runs_one_request():
    """The README's Inspector CLI line, run as written, reaches the server and gets its refusal."""
    import subprocess

    interop = REPO / "tests" / "interop"
    if not (interop / "node_modules" / ".bin" / "mcp-inspector").exists():
        if os.environ.get("SONDOS_INTEROP") == "1":
            pytest.fail("the MCP Inspector is required (npm ci in tests/interop)")
        pytest.skip("the MCP Inspector is not installed (npm ci in tests/interop)")
    (line,) = [c for b in blocks("bash") for c in b.splitlines() if c.startswith("npx") and "--cli" in c]
    path = os.pathsep.join([str(Path(server_command()[0]).parent), os.environ.get("PATH", "")])
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")} | {"PATH": path}
    assert Path(server_command()[0]).name == "sondos-mcp", "the installed sondos-mcp script must be on PATH"
    proc = subprocess.run(
        ["npx", "--no-install", *words(line)[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=interop,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    # The Inspector exits 5 ("tool_is_error") when the tool answers isError, as this refusal must.
    assert proc.returncode == 5, proc.stderr[-2000:]
    answer = json.loads(proc.stdout)
    assert answer["isError"] is True
    assert [p["field"] for p in answer["structuredContent"]["problems"]] == ["speech_speed"]


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
    """The README's `pipx install <wheel>` installs a `sondos-mcp` that starts and answers over stdio."""
    import subprocess

    (line,) = re.findall(r"`(pipx install [^`]+)`", README)
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


@pytest.mark.interop
def test_readme_inspector_ui_command_starts_the_inspector():
    """The README's Inspector UI line starts the Inspector's web UI, configured with the server."""
    import subprocess
    import time

    import httpx

    interop = REPO / "tests" / "interop"
    if not (interop / "node_modules" / ".bin" / "mcp-inspector").exists():
        if os.environ.get("SONDOS_INTEROP") == "1":
            pytest.fail("the MCP Inspector is required (npm ci in tests/interop)")
        pytest.skip("the MCP Inspector is not installed (npm ci in tests/interop)")
    (line,) = [c for b in blocks("bash") for c in b.splitlines() if c.startswith("npx") and "--cli" not in c]
    path = os.pathsep.join([str(Path(server_command()[0]).parent), os.environ.get("PATH", "")])
    env = {k: v for k, v in os.environ.items() if not k.startswith("SONDOS_")}
    env |= {"PATH": path, "MCP_AUTO_OPEN_ENABLED": "false", "MCP_INSPECTOR_SECRET_STORE": "memory"}
    proc = subprocess.Popen(
        ["npx", "--no-install", *words(line)[1:]],
        cwd=interop,
        env=env,
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
