"""The bundle's entry point: Claude Desktop runs it with `uv run` (manifest.json's mcp_config), in the
environment uv builds from the bundle's pyproject.toml and uv.lock; the settings come from the
user's answers to the manifest's user_config, as SONDOS_* variables."""

from sondos_mcp.cli import main

raise SystemExit(main())
