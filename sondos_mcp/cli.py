"""The `sondos-mcp` command: read the configuration once, then serve over stdio."""

from __future__ import annotations

import argparse
import errno
import logging
import shutil
import socket
import sys
import tempfile
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import SecretStr, ValidationError

from sondos_mcp import __version__, telemetry
from sondos_mcp.config import Settings, describe, env_name, setting_errors
from sondos_mcp.logs import configure_logging

if TYPE_CHECKING:
    from sondos_mcp.policy import Policies

log = logging.getLogger("sondos_mcp")


# Flags that override a setting, by setting name. Values stay strings here: the settings model
# parses and judges them, so a bad flag and a bad environment variable get the same message.
FLAGS = {
    "base_url": "--base-url",
    "api_key": "--api-key",
    "timeout": "--timeout",
    "log_level": "--log-level",
    "host": "--host",
    "port": "--port",
    "workers": "--workers",
}


def settings_without_a_flag(width: int) -> str:
    """Every setting only the environment sets, read from the settings model so --help cannot drift from it."""
    lines = ["settings without a flag (environment variables):"]
    for field, info in Settings.model_fields.items():
        if field in FLAGS or field == "sandbox":
            continue
        default = info.default if info.default_factory is None else None
        shown = "" if default in (None, []) else f" (default {default})"
        lines += textwrap.wrap(
            f"{env_name(field)}: {info.description or field}{shown}",
            width=width,
            initial_indent="  ",
            subsequent_indent="      ",
        )
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    width = max(shutil.get_terminal_size().columns - 2, 40)
    parser = argparse.ArgumentParser(
        prog="sondos-mcp",
        description=textwrap.fill(
            "MCP server that checks and applies changes to Sondos AI voice assistants. Every setting can come from "
            "its environment variable; a flag wins over it. An empty variable counts as unset.",
            width=width,
        ),
        epilog=settings_without_a_flag(width),
        formatter_class=lambda prog: argparse.RawDescriptionHelpFormatter(prog, width=width),
    )
    parser.add_argument("--version", action="version", version=f"sondos-mcp {__version__}")
    for field, flag in FLAGS.items():
        extra = "; prefer the environment, since flags show in process lists" if field == "api_key" else ""
        parser.add_argument(flag, dest=field, metavar=field.upper(), help=describe(field) + extra)
    parser.add_argument(
        "--transport", choices=["stdio", "http"], default="stdio", help="stdio for desktop clients (default: stdio)"
    )
    parser.add_argument("--sandbox", action="store_true", default=None, help=describe("sandbox"))
    return parser.parse_args(argv)


def load_settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {field: getattr(args, field) for field in FLAGS}
    if overrides["api_key"] is not None:
        overrides["api_key"] = SecretStr(overrides["api_key"])
    overrides["sandbox"] = getattr(args, "sandbox", None)
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(args)
    except ValidationError as exc:
        given = {field: flag for field, flag in FLAGS.items() if getattr(args, field) is not None}
        for line in setting_errors(exc, given):
            print(f"sondos-mcp: {line}", file=sys.stderr)
        return 2

    policies = None
    if settings.policy is not None:  # a policy that cannot be read stops start-up, naming the line
        from sondos_mcp.policy import PolicyError, load_policies

        try:
            policies = load_policies(settings.policy)  # read once: the policy checked is the policy enforced
        except PolicyError as exc:
            print(f"sondos-mcp: SONDOS_POLICY: {exc}", file=sys.stderr)
            return 2

    # A journal that cannot work stops start-up, naming its variable (SONDOS_JOURNAL=off is never checked).
    from sondos_mcp.journal import check_setting

    problem = check_setting(settings)
    if problem is not None:
        print(f"sondos-mcp: {problem}", file=sys.stderr)
        return 2

    sandbox, scratch = None, None
    if settings.sandbox:
        from sondos_mcp.sandbox import DEMO_KEY, SandboxServer

        sandbox = SandboxServer().start()
        update: dict[str, Any] = {"base_url": sandbox.base_url, "api_key": SecretStr(DEMO_KEY)}
        if settings.journal == "default" and settings.journal_url is None:
            # The sandbox's data is new on every start; so is its journal, never the user's real one.
            scratch = tempfile.TemporaryDirectory(prefix="sondos-sandbox-")
            update["journal"] = str(Path(scratch.name) / "journal.sqlite3")
        settings = settings.model_copy(update=update)
    configure_logging(settings)
    try:
        return serve_http(settings, policies) if args.transport == "http" else serve_stdio(settings, policies)
    except KeyboardInterrupt:
        return 130
    finally:
        if sandbox is not None:
            sandbox.stop()
        if scratch is not None:
            scratch.cleanup()


def warn_without_key(settings: Settings, transport: str) -> None:
    if settings.api_key is None and not (transport == "http" and settings.auth_mode in ("per_user", "oauth")):
        log.warning(
            "SONDOS_API_KEY is not set: proposals are still checked, but nothing can be applied. Set it in the "
            "MCP client's server configuration (env), or start with --sandbox to try the demo account."
        )


def serve_stdio(settings: Settings, policies: Policies | None = None) -> int:
    import anyio
    from mcp.server.stdio import stdio_server

    from sondos_mcp.server import build_server, settle_heap

    warn_without_key(settings, "stdio")
    server = build_server(settings, policies=policies, settle=True)
    if telemetry.tracing_requested():  # OTEL_EXPORTER_OTLP_ENDPOINT; otherwise nothing more is imported
        from sondos_mcp.observability import ObservabilityUnavailable, trace_server

        try:
            trace_server(server)
        except ObservabilityUnavailable as exc:
            print(f"sondos-mcp: {exc}", file=sys.stderr)
            return 2
    settle_heap()

    async def run() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(run)
    return 0


def listen(settings: Settings) -> socket.socket:
    """The HTTP socket, bound as uvicorn binds it, before anything says it is serving."""
    family = socket.AF_INET6 if ":" in settings.host else socket.AF_INET
    sock = socket.socket(family)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((settings.host.strip("[]"), settings.port))
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def listen_failure(settings: Settings, exc: OSError) -> str:
    where = f"[{settings.host}]" if ":" in settings.host else settings.host
    reason = (exc.strerror or str(exc)).lower()
    if exc.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {where}:{settings.port}: the port is in use by another program; stop it or choose "
            "another port (--port or SONDOS_PORT)"
        )
    return f"cannot listen on {where}:{settings.port}: {reason} (check --host/SONDOS_HOST and --port/SONDOS_PORT)"


def serve_http(settings: Settings, policies: Policies | None = None) -> int:
    import os

    import uvicorn

    from sondos_mcp.http import UnsafeConfiguration, check_safety, create_app
    from sondos_mcp.observability import ObservabilityUnavailable, check_available, multiprocess_metrics

    try:
        check_safety(settings)
        check_available(settings)
    except (UnsafeConfiguration, ObservabilityUnavailable) as exc:
        print(f"sondos-mcp: {exc}", file=sys.stderr)
        return 2
    try:
        sock = listen(settings)
    except OSError as exc:
        print(f"sondos-mcp: {listen_failure(settings, exc)}", file=sys.stderr)
        return 2
    where = f"[{settings.host}]" if ":" in settings.host else settings.host
    # Only a server that will serve says what is missing for its callers; a refusal above is the one line.
    warn_without_key(settings, "http")
    port = sock.getsockname()[1]
    print(
        f"sondos-mcp: MCP over streamable HTTP at http://{where}:{port}/mcp "
        f"(auth: {settings.auth_mode}, workers: {settings.workers})",
        file=sys.stderr,
    )
    from sondos_mcp.guard import raise_open_files_limit, uvicorn_options

    raise_open_files_limit(settings.http_max_connections + 256)
    options = uvicorn_options(settings)
    with sock:
        # uvicorn serves the socket bound above (its `fd`), so the port cannot be lost between the check and
        # the start, and worker processes inherit it.
        if settings.workers == 1:
            uvicorn.run(create_app(settings, policies), fd=sock.fileno(), **options)
            return 0
        # Worker processes rebuild the app from the environment: hand them what flags decided.
        for name, value in settings.model_dump(include=(set(FLAGS) - {"api_key"}) | {"journal"}).items():
            os.environ[env_name(name)] = str(value)
        if settings.api_key is not None:
            os.environ["SONDOS_API_KEY"] = settings.api_key.get_secret_value()
        # Each worker counts into files of one directory, and a scrape of any worker reads them all.
        with multiprocess_metrics(settings):
            uvicorn.run(
                "sondos_mcp.http:create_app", factory=True, fd=sock.fileno(), workers=settings.workers, **options
            )
    return 0
