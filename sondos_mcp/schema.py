"""Tool schemas generated from the pydantic models.

Clients differ in how much JSON Schema they understand, so the generated schema is made
self-contained and plain: `$ref`s are inlined, titles and defaults dropped, and a nullable
field is written `"type": ["integer", "null"]` rather than an `anyOf`.

The reviewed snapshots of these schemas live in the repository's `tool_schemas/`; the tests
compare them (`UPDATE_TOOL_SCHEMAS=1 pytest tests/test_tool_schemas.py` rewrites them).
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import GenerateJsonSchema, NoDefault
from pydantic_core import core_schema

_DROP = frozenset({"title", "default"})


class _WithoutDefaults(GenerateJsonSchema):
    """Defaults are dropped (`_DROP`), so none is encoded to begin with: pydantic builds a
    TypeAdapter for each, about a fifth of the schema work done by the first tools/list."""

    def get_default_value(self, schema: core_schema.WithDefaultSchema) -> Any:
        return NoDefault


def model_schema(model: type[BaseModel], first: tuple[str, ...] = (), *, shallow: bool = False) -> dict[str, Any]:
    """A self-contained JSON Schema for `model`, with the properties named in `first` leading.

    `shallow` (for output schemas) keeps nested values to their type, and
    drops `null` from types since results omit unset fields: the envelope is what clients
    check, and every property costs tokens in every conversation.
    """
    raw = model.model_json_schema(schema_generator=_WithoutDefaults)
    defs = raw.pop("$defs", {})
    schema = _simplify(raw, defs)
    if shallow:
        schema["properties"] = {k: _outline(v) for k, v in schema.get("properties", {}).items()}
        schema.pop("additionalProperties", None)
    props = schema.get("properties", {})
    schema["properties"] = {k: props[k] for k in first if k in props} | {
        k: v for k, v in props.items() if k not in first
    }
    # The tool's own description says what it does; the model's docstring is for developers.
    return {"type": "object", **{k: v for k, v in schema.items() if k not in ("type", "description")}}


def _simplify(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, list):
        return [_simplify(item, defs) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        # A nested model's docstring is for developers; the property's own description, if any, speaks.
        target = {k: v for k, v in defs[node["$ref"].rsplit("/", 1)[-1]].items() if k != "description"}
        merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return _simplify(merged, defs)
    out = {k: _simplify(v, defs) for k, v in node.items() if k not in _DROP}
    if out.get("additionalProperties") in ({}, True):
        # "anything" is JSON Schema's default already, and OpenAI's strict mode refuses it spelled out.
        del out["additionalProperties"]
    variants = out.get("anyOf")
    if isinstance(variants, list) and len(variants) == 2 and {"type": "null"} in variants:
        (other,) = [v for v in variants if v != {"type": "null"}]
        if isinstance(other.get("type"), str):
            out.pop("anyOf")
            out = {**other, **out, "type": [other["type"], "null"]}
    return out


def _outline(node: dict[str, Any]) -> dict[str, Any]:
    if "type" not in node and isinstance(node.get("anyOf"), list):
        # A union (e.g. `applied`: true | false | "unknown") is outlined as the types it may take.
        types = [
            t for v in node["anyOf"] for t in ([v["type"]] if isinstance(v.get("type"), str) else v.get("type", []))
        ]
        node = {**node, "type": list(dict.fromkeys(types))}
    out = {k: node[k] for k in ("type",) if k in node}
    if isinstance(out.get("type"), list):
        # Results leave unset fields out rather than sending null (`exclude_none`).
        types = [t for t in out["type"] if t != "null"]
        out["type"] = types[0] if len(types) == 1 else types
    if "items" in node:
        out["items"] = _outline(node["items"])
    return out


@functools.cache
def input_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A tool's input schema, generated once; `id`, where there is one, leads. Shared: never modify it."""
    return model_schema(model, first=("id",))


def update_input_schema() -> dict[str, Any]:
    """update_assistant's advertised input schema, as the contract (the model) generates it."""
    from sondos_mcp.model import UpdateAssistantArgs

    return input_schema(UpdateAssistantArgs)
