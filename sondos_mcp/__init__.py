"""sondos-mcp: an MCP server that checks changes to Sondos AI voice assistants before applying them."""

__version__ = "0.1.0"
