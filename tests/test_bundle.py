"""The Claude Desktop bundle's manifest (bundle/manifest.json): generated from the server itself, never by hand.

The packed bundle is started as the desktop app starts it in tests/interop/test_bundle.py.
"""

from __future__ import annotations

import importlib.util
import json
import re
from types import ModuleType

import pytest
from mcp import Client

import sondos_mcp
from sondos_mcp.config import DEFAULT_BASE_URL, Settings, env_name
from tests.conftest import REPO

CHECKED_IN = json.loads((REPO / "bundle" / "manifest.json").read_text("utf-8"))


def build_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bundle_build", REPO / "bundle" / "build.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_checked_in_manifest_is_what_the_generator_writes():
    """bundle/manifest.json is the generator's output for this version and tool table
    (`python bundle/build.py manifest` rewrites it)."""
    build = build_script()
    assert (REPO / "bundle" / "manifest.json").read_text("utf-8") == build.render(build.manifest())
    assert CHECKED_IN["version"] == sondos_mcp.__version__


@pytest.mark.anyio
async def test_manifest_tools_are_the_tools_the_server_lists(client: Client):
    """The tools the install dialog shows are the server's own, by name and description, in its order."""
    listed = [(t.name, t.description) for t in (await client.list_tools()).tools]
    assert [(t["name"], t["description"]) for t in CHECKED_IN["tools"]] == listed


def test_user_config_reaches_real_settings_through_the_environment():
    """Each answer the user gives (key, base URL, sandbox) becomes the SONDOS_* variable of a real setting; the
    key is stored as a secret; every answer has a default, so the host never passes an unfilled placeholder."""
    options = CHECKED_IN["user_config"]
    env = CHECKED_IN["server"]["mcp_config"]["env"]
    assert env == {env_name(name): f"${{user_config.{name}}}" for name in options}
    assert set(options) <= set(Settings.model_fields)
    assert options["api_key"]["sensitive"] is True
    assert [name for name, option in options.items() if option.get("sensitive")] == ["api_key"]
    assert options["base_url"]["default"] == DEFAULT_BASE_URL
    assert options["sandbox"]["type"] == "boolean"
    assert all("default" in option and option.get("required") is False for option in options.values())
    # Answers travel in the environment only: an argument would show in process lists, and the host keeps an
    # empty answer's placeholder in an argument as is.
    assert not [a for a in CHECKED_IN["server"]["mcp_config"]["args"] if re.search(r"\$\{user_config", a)]


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        pytest.param({"api_key": "", "sandbox": "false"}, {"api_key": None, "sandbox": False}, id="no-key"),
        pytest.param({"api_key": "1|abc", "sandbox": "true"}, {"api_key": "1|abc", "sandbox": True}, id="key-sandbox"),
    ],
)
def test_answers_as_the_host_passes_them_are_read_as_meant(
    answers: dict[str, str], expected: dict[str, object], monkeypatch: pytest.MonkeyPatch
):
    """The strings the host passes ("" for an unanswered key, "true"/"false" for the switch) read as meant."""
    for name, value in answers.items():
        monkeypatch.setenv(env_name(name), value)
    settings = Settings()
    key = settings.api_key.get_secret_value() if settings.api_key is not None else None
    assert {"api_key": key, "sandbox": settings.sandbox} == expected
