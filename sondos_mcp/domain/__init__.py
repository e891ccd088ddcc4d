"""The domain: checking a proposal, planning and sending a change, undo and change sets.

Plain async functions over a `Session` (the upstream client, the lookups, trust, the caller): no
MCP here, so each is tested directly against the sandbox app in-process."""
