"""`python -m sondos_mcp.sandbox --port 8765`: the sandbox API on its own, until interrupted."""

from __future__ import annotations

import argparse

import uvicorn

from sondos_mcp.sandbox.app import SandboxState, build_app
from sondos_mcp.sandbox.data import DEMO_KEY


def main(argv: list[str] | None = None) -> int:
    """Serve the sandbox API on its own, until interrupted."""
    parser = argparse.ArgumentParser(description="Serve the sandbox stand-in of the Sondos API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    print(f"sandbox API on http://{args.host}:{args.port}  demo key: {DEMO_KEY}", flush=True)
    uvicorn.run(build_app(SandboxState()), host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
