"""The `sondos-mcp` command: read the configuration once, then serve over stdio."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr, ValidationError

from sondos_mcp import __version__, telemetry
from sondos_mcp.config import Settings, describe, env_name, setting_errors
from sondos_mcp.logs import configure_logging

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


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="sondos-mcp",
        description="MCP server that checks and applies changes to Sondos AI voice assistants. "
        "Every setting can come from its environment variable; a flag wins over it.",
    )
    parser.add_argument("--version", action="version", version=f"sondos-mcp {__version__}")
    for field, flag in FLAGS.items():
        extra = "; prefer the environment, since flags show in process lists" if field == "api_key" else ""
        parser.add_argument(flag, dest=field, metavar=field.upper(), help=describe(field) + extra)
    parser.add_argument(
        "--transport", choices=["stdio", "http"], default="stdio", help="stdio for desktop clients (default: stdio)"
    )
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="serve against the built-in stand-in of the Sondos API with demo data; no account needed",
    )
    return parser.parse_args(argv)


def load_settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {field: getattr(args, field) for field in FLAGS}
    if overrides["api_key"] is not None:
        overrides["api_key"] = SecretStr(overrides["api_key"])
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

    if settings.policy is not None:  # a policy that cannot be read stops start-up, naming the line
        from sondos_mcp.policy import PolicyError, load_policies

        try:
            load_policies(settings.policy)
        except PolicyError as exc:
            print(f"sondos-mcp: SONDOS_POLICY: {exc}", file=sys.stderr)
            return 2

    sandbox = None
    if args.sandbox:
        from sondos_mcp.sandbox import DEMO_KEY, SandboxServer

        sandbox = SandboxServer().start()
        settings = settings.model_copy(update={"base_url": sandbox.base_url, "api_key": SecretStr(DEMO_KEY)})
    configure_logging(settings)
    if settings.api_key is None and not (args.transport == "http" and settings.auth_mode == "per_user"):
        log.warning(
            "SONDOS_API_KEY is not set: proposals are still checked, but nothing can be applied. Set it in the "
            "MCP client's server configuration (env), or start with --sandbox to try the demo account."
        )
    try:
        return serve_http(settings) if args.transport == "http" else serve_stdio(settings)
    except KeyboardInterrupt:
        return 130
    finally:
        if sandbox is not None:
            sandbox.stop()


def serve_stdio(settings: Settings) -> int:
    import anyio
    from mcp.server.stdio import stdio_server

    from sondos_mcp.server import build_server, settle_heap

    server = build_server(settings)
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


def serve_http(settings: Settings) -> int:
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
    print(
        f"sondos-mcp: MCP over streamable HTTP at http://{settings.host}:{settings.port}/mcp "
        f"(auth: {settings.auth_mode}, workers: {settings.workers})",
        file=sys.stderr,
    )
    from sondos_mcp.guard import raise_open_files_limit, uvicorn_options

    raise_open_files_limit(settings.http_max_connections + 256)
    options = uvicorn_options(settings)
    if settings.workers == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, **options)
        return 0
    # Worker processes rebuild the app from the environment: hand them what flags decided.
    for name, value in settings.model_dump(include=set(FLAGS) - {"api_key"}).items():
        os.environ[env_name(name)] = str(value)
    if settings.api_key is not None:
        os.environ["SONDOS_API_KEY"] = settings.api_key.get_secret_value()
    # Each worker counts into files of one directory, and a scrape of any worker reads them all.
    with multiprocess_metrics(settings):
        uvicorn.run(
            "sondos_mcp.http:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            **options,
        )
    return 0
