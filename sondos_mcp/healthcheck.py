"""The container image's health check: `python -m sondos_mcp.healthcheck`.

Docker runs a HEALTHCHECK command inside the container with the image's environment, not with the
server's command line, so a check fixed to one port misses `-e SONDOS_PORT=9000` or `--port 9000`,
and fails a container that serves stdio (there is no HTTP to ask). This check reads the running
server process itself (its arguments and environment, from /proc) and asks its `/healthz` on the
address it was started with; a server started for stdio passes without a request.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from sondos_mcp.config import Settings

PROC = Path("/proc")
TIMEOUT = 2.0


def server_arguments(argv: Sequence[str]) -> list[str] | None:
    """The arguments after the server's own name, if `argv` starts the server (the script or `-m sondos_mcp`)."""
    for i, arg in enumerate(argv[:3]):
        if Path(arg).name == "sondos-mcp":
            return list(argv[i + 1 :])
        if arg == "-m" and argv[i + 1 : i + 2] == ["sondos_mcp"]:
            return list(argv[i + 2 :])
    return None


def health_url(argv: Sequence[str], env: Mapping[str, str]) -> str | None:
    """Where the server started with these arguments and environment answers /healthz; None for stdio."""
    from sondos_mcp.cli import parse_args

    args = parse_args(argv)
    if args.transport != "http":
        return None
    fields = Settings.model_fields
    host = args.host or env.get("SONDOS_HOST") or fields["host"].default
    port = args.port or env.get("SONDOS_PORT") or fields["port"].default
    host = host.strip().strip("[]")
    # A wildcard bind answers on loopback, which the server always accepts as a Host.
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    return f"http://{f'[{host}]' if ':' in host else host}:{int(port)}/healthz"


def find_server() -> tuple[list[str], dict[str, str]] | None:
    """The running server's arguments and environment: the lowest process id that is the server (in a
    container, its entrypoint; worker processes are started differently and do not match)."""
    pids = sorted(int(p.name) for p in PROC.iterdir() if p.name.isdigit() and int(p.name) != os.getpid())
    for pid in pids:
        try:
            argv = [a.decode(errors="replace") for a in (PROC / str(pid) / "cmdline").read_bytes().split(b"\0")[:-1]]
            arguments = server_arguments(argv)
            if arguments is None:
                continue
            raw = (PROC / str(pid) / "environ").read_bytes().split(b"\0")
        except OSError:  # gone, or not ours to read
            continue
        env = dict(item.decode(errors="replace").partition("=")[::2] for item in raw if b"=" in item)
        return arguments, env
    return None


def check(url: str) -> str | None:
    """None if the server answers 200 at `url` in time, else why not."""
    # Straight to the server: a proxy from the environment must not answer for it.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(url, timeout=TIMEOUT) as response:
            return None if response.status == 200 else f"{url} answered {response.status}"
    except urllib.error.HTTPError as exc:
        return f"{url} answered {exc.code}"
    except (OSError, ValueError) as exc:
        return f"{url} did not answer: {getattr(exc, 'reason', exc)}"


def main() -> int:
    found = find_server()
    if found is None:
        print("unhealthy: no sondos-mcp server process is running", file=sys.stderr)
        return 1
    arguments, env = found
    try:
        url = health_url(arguments, env)
    except (SystemExit, ValueError):
        print(f"unhealthy: cannot read the server's command line {arguments}", file=sys.stderr)
        return 1
    if url is None:
        print("ok: the server speaks stdio; there is no HTTP endpoint to check")
        return 0
    problem = check(url)
    if problem is not None:
        print(f"unhealthy: {problem}", file=sys.stderr)
        return 1
    print(f"ok: {url}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
