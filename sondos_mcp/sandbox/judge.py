"""The sandbox's judge of update bodies: `jsonschema` against the contract's JSON Schema.

It judges with the published JSON Schema (generated from the model, and identical to the reviewed
snapshot in `tool_schemas/`, which a test holds) through `jsonschema`, not through pydantic, so
it is a second, independent implementation of the contract checking what the server forwards.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterator, Mapping
from typing import Any

from sondos_mcp.model import TOOL_ONLY


def _ecma_pattern(pattern: str) -> str:
    r"""JSON Schema patterns are ECMA-262: `$` matches only at the very end, where Python's `$`
    also matches before a final newline. Rewrite each unescaped `$` outside a class as `\Z`."""
    out, in_class, i = [], False, 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        out.append("\\Z" if ch == "$" and not in_class else ch)
        i += 1
    return "".join(out)


def contract_schema() -> dict[str, Any]:
    """The `update_assistant` input schema as published: generated from the model, never narrowed by a policy."""
    from sondos_mcp.model import UpdateAssistantArgs
    from sondos_mcp.schema import model_schema

    return model_schema(UpdateAssistantArgs, first=("id",))


def contract_validator(schema: Mapping[str, Any]) -> Any:
    """A Draft 2020-12 validator for `schema` whose `pattern` keyword follows ECMA-262."""
    from jsonschema import Draft202012Validator, validators
    from jsonschema.exceptions import ValidationError

    def pattern(validator: Any, patrn: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
        if validator.is_type(instance, "string") and not re.search(_ecma_pattern(patrn), instance):
            yield ValidationError(f"{instance!r} does not match {patrn!r}")

    cls = validators.extend(Draft202012Validator, {"pattern": pattern})
    return cls(schema)


def body_schema(input_schema: Mapping[str, Any]) -> dict[str, Any]:
    """The request-body schema: the tool's input schema without the path parameter `id` and the
    tool-only flags (none is ever part of a request body)."""
    schema = copy.deepcopy(dict(input_schema))
    for name in TOOL_ONLY:
        schema["properties"].pop(name, None)
    schema["required"] = [r for r in schema.get("required", []) if r not in TOOL_ONLY]
    if not schema["required"]:
        del schema["required"]
    schema["minProperties"] = max(1, schema.get("minProperties", 1) - 1)
    return schema


def _words(name: str) -> str:
    return name.rsplit(".", 1)[-1].replace("_", " ")


def laravel_errors(validator: Any, body: Any) -> dict[str, list[str]]:
    """Schema violations as Laravel's `{field: [messages]}`, dotted paths for nested fields."""
    errors: dict[str, list[str]] = {}
    for err in validator.iter_errors(body):
        path = ".".join(str(p) for p in err.absolute_path)
        kind, value, sub = err.validator, err.validator_value, err.schema
        if kind == "additionalProperties":
            for extra in sorted(set(err.instance) - set(sub.get("properties", {}))):
                key = f"{path}.{extra}" if path else extra
                errors.setdefault(key, []).append(f"The {key} field is not allowed.")
            continue
        if kind == "required":
            for missing in value:
                if missing not in err.instance:
                    key = f"{path}.{missing}" if path else missing
                    errors.setdefault(key, []).append(f"The {key} field is required.")
            continue
        if kind == "minProperties":
            errors.setdefault("body", []).append("At least one field to update is required.")
            continue
        words = _words(path) if path else "body"
        if kind in ("minimum", "maximum"):
            msg = f"The {words} field must be between {sub.get('minimum')} and {sub.get('maximum')}."
        elif kind == "type":
            msg = f"The {words} field must be {_laravel_type(value)}."
        elif kind == "enum":
            msg = f"The selected {words} is invalid."
        elif kind == "maxLength":
            msg = f"The {words} field must not be greater than {value} characters."
        elif kind == "minLength":
            msg = f"The {words} field is required."
        elif kind == "pattern":
            msg = (
                f"The {words} field must be a valid URL." if "url" in path else f"The {words} field format is invalid."
            )
        else:
            msg = f"The {words} field is invalid."
        errors.setdefault(path or "body", []).append(msg)
    return errors


def _laravel_type(value: Any) -> str:
    names = {"integer": "an integer", "number": "a number", "boolean": "true or false", "string": "a string"}
    names |= {"array": "an array", "object": "an object", "null": "null"}
    types: list[str] = value if isinstance(value, list) else [value]
    return " or ".join(names.get(t, t) for t in types if t != "null")
