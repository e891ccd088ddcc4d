"""The Claude Desktop bundle (`.mcpb`): its manifest, generated from the server's tool table, and the packed file.

    python3 bundle/build.py            pack dist/sondos-mcp-<version>.mcpb from the newest wheel in dist/
    python3 bundle/build.py WHEEL      pack from that wheel
    python bundle/build.py manifest    rewrite bundle/manifest.json (run with sondos-mcp installed)

The bundle holds the wheel, a small uv project that depends on it (with uv.lock, resolved when
packing) and `server/main.py`; the host runs that with `uv run`, so the user needs no Python of
their own. Packing needs uv and Node (the official `mcpb` CLI comes from npm through npx, pinned
below): `mcpb validate` checks the manifest and `mcpb pack` writes the file.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MANIFEST = HERE / "manifest.json"
ENTRY_POINT = "server/main.py"
MCPB_CLI = "@anthropic-ai/mcpb@2.1.2"


def manifest() -> dict[str, Any]:
    """The manifest, from the installed package: its version, its tool table and its settings' names."""
    from sondos_mcp import __version__
    from sondos_mcp.config import DEFAULT_BASE_URL, Settings, env_name
    from sondos_mcp.tools import TOOLS

    fields = Settings.model_fields
    return {
        "manifest_version": "0.4",
        "name": "sondos-mcp",
        "display_name": "Sondos AI voice assistants",
        "version": __version__,
        "description": "Inspect and adjust Sondos AI voice assistants; every change is checked before it is sent.",
        "long_description": (
            "Lets Claude find, read and change the voice assistants of a Sondos AI account. Every proposed "
            "change is checked against the documented API contract before anything is sent: a mistake comes "
            "back per field with its fix, and a value with two readings comes back as a question. Changes "
            "are journaled, and an undo puts their before-values back. Turn on the sandbox to try it with demo "
            "assistants and no key."
        ),
        "author": {"name": "sondos-mcp contributors"},
        "license": "MIT",
        "keywords": ["sondos", "voice assistants", "voice ai", "phone calls", "mcp"],
        "server": {
            "type": "uv",
            "entry_point": ENTRY_POINT,
            "mcp_config": {
                "command": "uv",
                "args": ["run", "--frozen", "--quiet", "--directory", "${__dirname}", ENTRY_POINT],
                "env": {
                    env_name("api_key"): "${user_config.api_key}",
                    env_name("base_url"): "${user_config.base_url}",
                    env_name("sandbox"): "${user_config.sandbox}",
                },
            },
        },
        "tools": [{"name": tool.name, "description": tool.description} for tool in TOOLS],
        "compatibility": {"platforms": ["darwin", "win32", "linux"], "runtimes": {"python": ">=3.11"}},
        "user_config": {
            "api_key": {
                "type": "string",
                "title": "Sondos API key",
                "description": "Your Sondos AI API key, kept in the system keychain. Without it, and "
                "without the sandbox, proposals are checked but nothing is applied.",
                "sensitive": True,
                "required": False,
                # Unset, the host would pass the placeholder itself; empty means unset to the server.
                "default": "",
            },
            "base_url": {
                "type": "string",
                "title": "API base URL",
                "description": str(fields["base_url"].description),
                "required": False,
                "default": DEFAULT_BASE_URL,
            },
            "sandbox": {
                "type": "boolean",
                "title": "Sandbox (demo data)",
                "description": str(fields["sandbox"].description),
                "required": False,
                "default": False,
            },
        },
    }


def render(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def wheel_metadata(wheel: Path) -> tuple[str, str, str]:
    """(name, version, requires-python) from the wheel itself."""
    with zipfile.ZipFile(wheel) as archive:
        (path,) = [n for n in archive.namelist() if n.endswith(".dist-info/METADATA")]
        meta = HeaderParser().parsestr(archive.read(path).decode("utf-8"))
    return meta["Name"], meta["Version"], meta.get("Requires-Python") or ">=3.11"


def bundle_project(wheel: Path, version: str, requires_python: str) -> str:
    return (
        "# The bundle's own project: the host runs server/main.py with `uv run`, in an environment holding the\n"
        "# wheel below and its dependencies as pinned in uv.lock when the bundle was packed.\n"
        "[project]\n"
        'name = "sondos-mcp-bundle"\n'
        f'version = "{version}"\n'
        f'requires-python = "{requires_python}"\n'
        'dependencies = ["sondos-mcp"]\n'
        "\n[tool.uv]\n"
        "package = false\n"
        "\n[tool.uv.sources]\n"
        f'sondos-mcp = {{ path = "wheels/{wheel.name}" }}\n'
    )


def find_uv() -> str:
    found = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if found is None:
        raise SystemExit("build.py: packing needs uv on PATH (https://docs.astral.sh/uv/, or `pip install uv`)")
    return found


def mcpb() -> list[str]:
    """The official CLI: $MCPB if set, else the pinned release through npx."""
    if os.environ.get("MCPB"):
        return shlex.split(os.environ["MCPB"])
    if shutil.which("npx") is None:
        raise SystemExit("build.py: packing needs Node's npx on PATH (for the mcpb CLI)")
    return ["npx", "-y", MCPB_CLI]


def stage(wheel: Path, into: Path) -> None:
    """The bundle's directory: manifest, entry point, the wheel and its locked uv project."""
    name, version, requires_python = wheel_metadata(wheel)
    recorded = json.loads(MANIFEST.read_text("utf-8"))
    if name != "sondos-mcp" or recorded["version"] != version:
        raise SystemExit(
            f"build.py: {wheel.name} is {name} {version} but bundle/manifest.json says {recorded['version']}: "
            "run `python bundle/build.py manifest` with this version installed"
        )
    (into / "server").mkdir(parents=True)
    (into / "wheels").mkdir()
    shutil.copy2(MANIFEST, into / "manifest.json")
    shutil.copy2(HERE / ENTRY_POINT, into / ENTRY_POINT)
    shutil.copy2(wheel, into / "wheels" / wheel.name)
    (into / "pyproject.toml").write_text(bundle_project(wheel, version, requires_python), "utf-8")
    subprocess.run([find_uv(), "lock", "--quiet", "--directory", str(into)], check=True)


def pack(wheel: Path, out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"sondos-mcp-{wheel_metadata(wheel)[1]}.mcpb"
    with tempfile.TemporaryDirectory(prefix="sondos-bundle-") as scratch:
        staged = Path(scratch) / "sondos-mcp"
        stage(wheel, staged)
        cli = mcpb()
        subprocess.run([*cli, "validate", str(staged / "manifest.json")], check=True)
        subprocess.run([*cli, "pack", str(staged), str(target)], check=True)
    return target


def newest_wheel() -> Path:
    wheels = sorted((REPO / "dist").glob("sondos_mcp-*.whl"), key=os.path.getmtime)
    if not wheels:
        raise SystemExit("build.py: no wheel in dist/; build one first: python3 -m pip wheel --no-deps -w dist .")
    return wheels[-1]


def main(argv: list[str]) -> int:
    if argv == ["manifest"]:
        MANIFEST.write_text(render(manifest()), "utf-8")
        print(f"wrote {MANIFEST.relative_to(REPO)}")
        return 0
    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print(__doc__, file=sys.stderr)
        return 2
    wheel = Path(argv[0]) if argv else newest_wheel()
    print(f"packed {pack(wheel.resolve(), REPO / 'dist')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
