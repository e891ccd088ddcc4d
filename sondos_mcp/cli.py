"""The `sondos-mcp` command: read the configuration once, then serve over stdio."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from typing import Any

from pydantic import SecretStr, ValidationError

from sondos_mcp import __version__
from sondos_mcp.config import Settings

log = logging.getLogger("sondos_mcp")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="sondos-mcp",
        description="MCP server that checks and applies changes to Sondos AI voice assistants. "
        "Every flag has an environment variable (SONDOS_*); a flag wins.",
    )
    parser.add_argument("--version", action="version", version=f"sondos-mcp {__version__}")
    parser.add_argument("--base-url", help="Sondos API base URL (SONDOS_BASE_URL)")
    parser.add_argument(
        "--api-key",
        help="Sondos API key (SONDOS_API_KEY); prefer the environment, since flags show in process lists",
    )
    parser.add_argument("--timeout", type=float, help="seconds to wait for an API answer (SONDOS_TIMEOUT)")
    parser.add_argument("--log-level", help="stderr log level (SONDOS_LOG_LEVEL), default WARNING")
    parser.add_argument("--transport", choices=["stdio", "http"], default="stdio", help="default: stdio")
    parser.add_argument("--host", help="HTTP bind address (SONDOS_HOST), default 127.0.0.1")
    parser.add_argument("--port", type=int, help="HTTP port (SONDOS_PORT), default 8000")
    parser.add_argument("--workers", type=int, help="HTTP worker processes (SONDOS_WORKERS), default 1")
    parser.add_argument(
        "--sandbox",
        action="store_true",
        help="serve against the built-in stand-in of the Sondos API with demo data; no account needed",
    )
    return parser.parse_args(argv)


def load_settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {
        "base_url": args.base_url,
        "api_key": SecretStr(args.api_key) if args.api_key else None,
        "timeout": args.timeout,
        "log_level": args.log_level,
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
    }
    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        settings = load_settings(args)
    except ValidationError as exc:
        for err in exc.errors():
            name = ".".join(str(p) for p in err["loc"])
            print(f"sondos-mcp: invalid setting {name}: {err['msg']}", file=sys.stderr)
        return 2

    if settings.policy is not None:  # a policy that cannot be read stops start-up, naming the line
        from sondos_mcp.policy import PolicyError, load_policies

        try:
            load_policies(settings.policy)
        except PolicyError as exc:
            print(f"sondos-mcp: SONDOS_POLICY: {exc}", file=sys.stderr)
            return 2

    from sondos_mcp.logs import configure_logging

    sandbox = None
    if args.sandbox:
        from sondos_mcp.sandbox import DEMO_KEY, SandboxServer

        sandbox = SandboxServer().start()
        settings = settings.model_copy(update={"base_url": sandbox.base_url, "api_key": SecretStr(DEMO_KEY)})
    secrets = [settings.api_key.get_secret_value()] if settings.api_key else []
    configure_logging(settings.log_level, secrets + settings.bearer_tokens())
    if settings.api_key is None:
        log.warning(
            "SONDOS_API_KEY is not set: proposals are still checked, but nothing can be applied. "
            "Set it in the MCP client's server configuration (env)."
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

    from sondos_mcp.server import build_server

    server = build_server(settings)

    async def run() -> None:
        async with stdio_server() as (read_stream, write_stream):
            await server.run(read_stream, write_stream, server.create_initialization_options())

    anyio.run(run)
    return 0


def serve_http(settings: Settings) -> int:
    import os

    import uvicorn

    from sondos_mcp.http import UnsafeConfiguration, check_safety, create_app

    try:
        check_safety(settings)
    except UnsafeConfiguration as exc:
        print(f"sondos-mcp: {exc}", file=sys.stderr)
        return 2
    print(
        f"sondos-mcp: MCP over streamable HTTP at http://{settings.host}:{settings.port}/mcp "
        f"(auth: {settings.auth_mode}, workers: {settings.workers})",
        file=sys.stderr,
    )
    if settings.workers == 1:
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port, log_config=None, access_log=False)
        return 0
    # Worker processes rebuild the app from the environment: hand them what flags decided.
    for name, value in settings.model_dump(include={"base_url", "host", "port", "log_level", "timeout"}).items():
        os.environ[f"SONDOS_{name.upper()}"] = str(value)
    if settings.api_key is not None:
        os.environ["SONDOS_API_KEY"] = settings.api_key.get_secret_value()
    uvicorn.run(
        "sondos_mcp.http:create_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_config=None,
        access_log=False,
    )
    return 0
