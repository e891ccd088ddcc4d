"""The sandbox: a stand-in of the Sondos API on loopback, for `--sandbox`, the demo and the tests."""

from sondos_mcp.sandbox.app import Fault, Received, SandboxServer, SandboxState, build_app
from sondos_mcp.sandbox.data import DEMO_KEY, LANGUAGES, MODELS, OTHER_KEY, PHONE_NUMBERS, VOICES
from sondos_mcp.sandbox.judge import body_schema, contract_schema, contract_validator, laravel_errors

__all__ = [
    "DEMO_KEY",
    "LANGUAGES",
    "MODELS",
    "OTHER_KEY",
    "PHONE_NUMBERS",
    "VOICES",
    "Fault",
    "Received",
    "SandboxServer",
    "SandboxState",
    "body_schema",
    "build_app",
    "contract_schema",
    "contract_validator",
    "laravel_errors",
]
