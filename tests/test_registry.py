"""server.json, this server's entry for the official MCP Registry, against the registry's published schema
(schemas/, copied verbatim with its source named in schemas/README.md) and against the package it names."""

from __future__ import annotations

import copy
import json
import re
import tomllib
import typing
from typing import Any

import pytest
from jsonschema import Draft7Validator, FormatChecker

import sondos_mcp
from sondos_mcp.config import SECRET_FIELDS, Settings, env_name
from tests.conftest import REPO

SERVER = json.loads((REPO / "server.json").read_text("utf-8"))


def published_schema(uri: str) -> dict[str, Any]:
    """The schema file in schemas/ whose $id is `uri` (the one server.json's $schema names)."""
    for path in (REPO / "schemas").glob("*.json"):
        schema = json.loads(path.read_text("utf-8"))
        if schema.get("$id") == uri:
            return schema
    raise AssertionError(f"no schema in schemas/ has $id {uri}")


def errors(document: dict[str, Any]) -> list[str]:
    schema = published_schema(SERVER["$schema"])
    Draft7Validator.check_schema(schema)
    validator = Draft7Validator(schema, format_checker=FormatChecker())
    return sorted(f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document))


def test_server_json_is_valid_under_the_registrys_published_schema():
    """server.json passes the registry's published JSON schema, the version its $schema names."""
    assert SERVER["$schema"].startswith("https://static.modelcontextprotocol.io/schemas/")
    assert errors(SERVER) == []


def mutate(path: list[Any], value: Any) -> dict[str, Any]:
    document = copy.deepcopy(SERVER)
    target = document
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    return document


@pytest.mark.parametrize(
    ("path", "value"),
    [
        pytest.param(["name"], "sondos-mcp", id="name-without-namespace"),
        pytest.param(["description"], "x" * 101, id="description-too-long"),
        pytest.param(["packages", 0, "version"], "latest", id="package-version-latest"),
        pytest.param(["packages", 0, "transport"], {"type": "pipe"}, id="unknown-transport"),
        pytest.param(["packages", 0, "environmentVariables", 0, "format"], "secret", id="unknown-format"),
    ],
)
def test_the_schema_check_refuses_what_the_registry_refuses(path: list[Any], value: Any):
    """The same check fails a server.json the registry would refuse, so its passing above means something."""
    assert errors(mutate(path, value)) != []


def test_server_json_describes_this_package_and_its_settings():
    """The PyPI package and version are this one's; each environment variable is a real setting, with its real
    default and choices, secret exactly when the setting is; the README carries the registry's ownership proof."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))["project"]
    (package,) = SERVER["packages"]
    assert SERVER["version"] == package["version"] == sondos_mcp.__version__ == project["version"]
    assert (package["registryType"], package["identifier"]) == ("pypi", project["name"])
    fields = {env_name(field): field for field in Settings.model_fields}
    assert {"SONDOS_API_KEY", "SONDOS_BASE_URL", "SONDOS_SANDBOX"} <= {
        v["name"] for v in package["environmentVariables"]
    }
    for variable in package["environmentVariables"]:
        field = fields[variable["name"]]
        info = Settings.model_fields[field]
        assert (
            variable["isSecret"] is (field in SECRET_FIELDS) if "isSecret" in variable else field not in SECRET_FIELDS
        )
        assert variable["description"]
        if "default" in variable:
            expected = str(info.default).lower() if isinstance(info.default, bool) else str(info.default)
            assert variable["default"] == expected, variable["name"]
        if "choices" in variable:
            assert variable["choices"] == list(typing.get_args(info.annotation)), variable["name"]
    # The registry proves a PyPI package is ours by this line in its description (the README).
    assert re.search(rf"mcp-name: {re.escape(SERVER['name'])}(\s|-->)", (REPO / "README.md").read_text("utf-8"))
