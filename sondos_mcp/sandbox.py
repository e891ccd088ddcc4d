"""A stand-in of the Sondos API, for demos and tests, served over real HTTP on loopback.

It answers in the documented shapes (200, 401, 404, 422 with per-field messages, Laravel
pagination) from seeded demo data, records every request it receives, and can be told to
fail the next request (429, 5xx, a body that is not JSON, a slow answer).

It judges update bodies with `jsonschema` against the checked-in snapshot
`tool_schemas/update_assistant.input.json`, not with the pydantic model, so it is an
independent check of what the server forwards. It is stricter than the real API in one
way, on purpose: an unknown field is a 422 here (Laravel would drop it silently), so a
forwarding bug cannot hide.
"""

from __future__ import annotations

import asyncio
import copy
import json
import re
import threading
import zoneinfo
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sondos_mcp.loopback import ThreadedServer

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "tool_schemas" / "update_assistant.input.json"

DEMO_KEY = "1|sandbox-demo-key"
OTHER_KEY = "2|sandbox-other-team-key"

# Stored-shape names of the update fields that are not stored under their own name.
STORED_NAME = {
    "assistant_name": "name",
    "calls_direction": "type",
    "engine_type": "mode",
    "max_call_duration": "max_duration",
    "record_call": "record",
    "filler_audios": "fillers",
    "re_engagement_interval": "reengagement_interval",
}
LIST_FIELDS = [
    "id",
    "name",
    "status",
    "type",
    "mode",
    "phone_number_id",
    "voice_id",
    "language",
    "variables",
    "post_call_evaluation",
    "fillers",
    "post_call_schema",
    "is_webhook_active",
    "webhook_url",
    "max_duration",
    "record",
    "initial_message",
    "system_prompt",
    "timezone",
    "max_silence_duration",
    "reengagement_interval",
    "created_at",
    "updated_at",
]


# --- the independent judge ---------------------------------------------------------------


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
    tool-only `dry_run` flag (neither is ever part of a request body)."""
    schema = copy.deepcopy(dict(input_schema))
    for name in ("id", "dry_run"):
        schema["properties"].pop(name, None)
    schema["required"] = [r for r in schema.get("required", []) if r not in ("id", "dry_run")]
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
    types = value if isinstance(value, list) else [value]
    return " or ".join(names.get(t, t) for t in types if t != "null")


# --- seeded data ----------------------------------------------------------------------------


def _assistant(id_: int, user: int, name: str, type_: str, mode: str, **extra: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "id": id_,
        "user_id": user,
        "name": name,
        "status": "active",
        "type": type_,
        "mode": mode,
        "phone_number_id": None,
        "voice_id": 1 if mode == "pipeline" else 4,
        "language": "Arabic",
        "llm_model": "GPT-4o-mini",
        "variables": {},
        "post_call_evaluation": 0,
        "fillers": 1,
        "post_call_schema": [],
        "is_webhook_active": 0,
        "webhook_url": None,
        "max_duration": 600,
        "record": 1,
        "initial_message": f"Hello, this is {name}. How can I help?",
        "system_prompt": f"You are {name}, a helpful voice assistant.",
        "timezone": "Asia/Riyadh",
        "max_silence_duration": 30,
        "reengagement_interval": 60,
        "speech_speed": 1.0,
        "allow_interruptions": True,
        "created_at": "2026-01-05T09:00:00.000000Z",
        "updated_at": "2026-01-05T09:00:00.000000Z",
    }
    record.update(extra)
    return record


def seed_assistants() -> dict[int, dict[str, Any]]:
    rows = [
        _assistant(12, 1, "Riyadh Sales", "outbound", "pipeline", phone_number_id=102, voice_id=2),
        _assistant(13, 1, "Jeddah Support", "inbound", "multimodal", phone_number_id=101),
        _assistant(
            14,
            1,
            "Dubai Concierge",
            "inbound",
            "pipeline",
            language="English",
            timezone="Asia/Dubai",
            voice_id=6,
        ),
        _assistant(15, 1, "Cairo Collections", "outbound", "multimodal", timezone="Africa/Cairo", status="inactive"),
        _assistant(
            16,
            1,
            "London Bookings",
            "inbound",
            "pipeline",
            language="English",
            timezone="Europe/London",
            voice_id=6,
            is_webhook_active=1,
            webhook_url="https://hooks.example.com/bookings",
        ),
        _assistant(21, 2, "Other Team Receptionist", "inbound", "pipeline", language="English"),
    ]
    # Enough filler to page through: a list of 40 is what a busy account looks like.
    rows += [
        _assistant(
            100 + i,
            1,
            f"Campaign Agent {i:02d}",
            "outbound" if i % 2 else "inbound",
            "pipeline" if i % 3 else "multimodal",
        )
        for i in range(1, 35)
    ]
    return {row["id"]: row for row in rows}


VOICES = [
    {"id": 1, "name": "Sarah", "mode": "pipeline"},
    {"id": 2, "name": "Layla", "mode": "pipeline"},
    {"id": 3, "name": "Omar", "mode": "pipeline"},
    {"id": 4, "name": "Noura", "mode": "multimodal"},
    {"id": 5, "name": "Khalid", "mode": "multimodal"},
    {"id": 6, "name": "James", "mode": "pipeline"},
    {"id": 7, "name": "Layla Realtime", "mode": "multimodal"},
]
LANGUAGES = [
    {"id": 8, "name": "Arabic", "iso_2": "ar"},
    {"id": 1, "name": "English", "iso_2": "en"},
    {"id": 2, "name": "French", "iso_2": "fr"},
    {"id": 3, "name": "Spanish", "iso_2": "es"},
    {"id": 4, "name": "German", "iso_2": "de"},
    {"id": 5, "name": "Turkish", "iso_2": "tr"},
    {"id": 6, "name": "Urdu", "iso_2": "ur"},
    {"id": 7, "name": "Hindi", "iso_2": "hi"},
]
MODELS = [
    {"id": 1, "name": "GPT-4o-mini"},
    {"id": 2, "name": "GPT-4o"},
    {"id": 3, "name": "GPT-4.1"},
    {"id": 4, "name": "GPT-4.1-mini"},
    {"id": 5, "name": "Gemini 2.0 Flash"},
]
PHONE_NUMBERS = {
    1: [
        {
            "id": 101,
            "phone_number": "+966112345678",
            "country_code": "SA",
            "type_label": "inbound",
            "is_available": False,
        },
        {
            "id": 102,
            "phone_number": "+966501234567",
            "country_code": "SA",
            "type_label": "outbound",
            "is_available": False,
        },
        {
            "id": 103,
            "phone_number": "+97144556677",
            "country_code": "AE",
            "type_label": "inbound",
            "is_available": True,
        },
        {
            "id": 104,
            "phone_number": "+442071234567",
            "country_code": "GB",
            "type_label": "outbound",
            "is_available": True,
        },
    ],
    2: [
        {
            "id": 201,
            "phone_number": "+14155550100",
            "country_code": "US",
            "type_label": "inbound",
            "is_available": True,
        },
    ],
}


# --- state and app --------------------------------------------------------------------------


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    body: Any


@dataclass
class Fault:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None  # a body that is not JSON
    delay: float = 0.0
    method: str | None = None  # only requests with this method; None: any


class SandboxState:
    def __init__(self, schema_file: Path = SCHEMA_FILE) -> None:
        self.keys = {DEMO_KEY: 1, OTHER_KEY: 2}
        self.assistants = seed_assistants()
        self.received: list[Received] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        if not schema_file.exists():
            # The sandbox judges with the checked-in snapshot, so it needs the source tree, not a wheel.
            raise FileNotFoundError(f"the sandbox needs {schema_file} (run it from a source checkout)")
        self.body_validator = contract_validator(body_schema(json.loads(schema_file.read_text("utf-8"))))
        self.timezones = zoneinfo.available_timezones()

    def fail_next(self, status: int, body: Any = None, **kwargs: Any) -> None:
        """Make the next request (of `method=`, else any) fail this way."""
        with self._lock:
            self.faults.append(Fault(status, body, **kwargs))

    def take_fault(self, method: str) -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self.faults):
                if fault.method in (None, method):
                    return self.faults.pop(i)
            return None

    def updates(self) -> list[Received]:
        return [r for r in self.received if r.method == "PUT"]

    def reset_log(self) -> None:
        with self._lock:
            self.received.clear()


def build_app(state: SandboxState) -> Starlette:
    async def guard(request: Request) -> tuple[int | None, Any, Response | None]:
        raw = await request.body()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw.decode("utf-8", "replace")
        auth = request.headers.get("authorization")
        state.received.append(Received(request.method, request.url.path, dict(request.query_params), auth, body))
        fault = state.take_fault(request.method)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.raw is not None:
                return (
                    None,
                    body,
                    Response(fault.raw, fault.status, headers=fault.headers, media_type="text/html"),
                )
            return None, body, JSONResponse(fault.body, fault.status, headers=fault.headers)
        token = auth[7:] if auth and auth.lower().startswith("bearer ") else None
        user = state.keys.get(token or "")
        if user is None:
            return None, body, JSONResponse({"message": "Unauthenticated."}, 401)
        return user, body, None

    async def update(request: Request) -> Response:
        user, body, early = await guard(request)
        if early is not None:
            return early
        try:
            assistant_id = int(request.path_params["id"])
        except ValueError:
            return JSONResponse({"message": "Assistant not found"}, 404)
        record = state.assistants.get(assistant_id)
        if record is None or record["user_id"] != user:
            return JSONResponse({"message": "Assistant not found"}, 404)
        if not isinstance(body, dict):
            return JSONResponse(
                {"message": "Validation failed", "errors": {"body": ["A JSON object is required."]}}, 422
            )
        errors = laravel_errors(state.body_validator, body)
        errors.update(_business_rules(state, user, body, errors))
        if errors:
            return JSONResponse({"message": "Validation failed", "errors": errors}, 422)
        for name, value in body.items():
            if name == "calls_direction":
                value = "inbound" if value == "receive" else "outbound"
            elif name in ("filler_audios", "record_call", "post_call_evaluation", "is_webhook_active"):
                value = int(value)
            record[STORED_NAME.get(name, name)] = value
        record["updated_at"] = "2026-11-24T12:00:00.000000Z"
        data = {k: record[k] for k in ("id", "name", "status", "type", "mode")}
        return JSONResponse({"message": "Assistant updated successfully", "data": data})

    async def list_assistants(request: Request) -> Response:
        user, _, early = await guard(request)
        if early is not None:
            return early
        try:
            page = int(request.query_params.get("page", "1"))
            per_page = int(request.query_params.get("per_page", "15"))
        except ValueError:
            return JSONResponse({"message": "Validation failed", "errors": {"page": ["Must be an integer."]}}, 422)
        if not 1 <= per_page <= 100 or page < 1:
            errors = {"per_page": ["The per page field must be between 1 and 100."]}
            return JSONResponse({"message": "Validation failed", "errors": errors}, 422)
        mine = [a for a in state.assistants.values() if a["user_id"] == user]
        mine.sort(key=lambda a: a["id"])
        chunk = mine[(page - 1) * per_page : page * per_page]
        last = max(1, -(-len(mine) // per_page))
        return JSONResponse(
            {
                "current_page": page,
                "data": [{k: a.get(k) for k in LIST_FIELDS} for a in chunk],
                "per_page": per_page,
                "total": len(mine),
                "last_page": last,
            }
        )

    async def voices(request: Request) -> Response:
        _, _, early = await guard(request)
        mode = request.query_params.get("mode")
        return early or JSONResponse([v for v in VOICES if mode in (None, v["mode"])])

    async def languages(request: Request) -> Response:
        _, _, early = await guard(request)
        return early or JSONResponse(LANGUAGES)

    async def models(request: Request) -> Response:
        _, _, early = await guard(request)
        return early or JSONResponse(MODELS)

    async def phone_numbers(request: Request) -> Response:
        user, _, early = await guard(request)
        if early is not None:
            return early
        type_ = request.query_params.get("type")
        return JSONResponse([p for p in PHONE_NUMBERS.get(user or 0, []) if type_ in (None, p["type_label"])])

    async def me(request: Request) -> Response:
        user, _, early = await guard(request)
        return early or JSONResponse({"id": user, "name": f"Sandbox user {user}", "email": f"user{user}@example.com"})

    return Starlette(
        routes=[
            Route("/user/assistant/{id}", update, methods=["PUT"]),
            Route("/user/assistants/get", list_assistants, methods=["GET"]),
            Route("/user/assistants/voices", voices, methods=["GET"]),
            Route("/user/assistants/languages", languages, methods=["GET"]),
            Route("/user/assistants/models", models, methods=["GET"]),
            Route("/user/assistants/phone-numbers", phone_numbers, methods=["GET"]),
            Route("/user/me", me, methods=["GET"]),
        ]
    )


def _business_rules(
    state: SandboxState, user: int | None, body: Mapping[str, Any], errors: Mapping[str, list[str]]
) -> dict[str, list[str]]:
    """The rules NOTES.md lists beyond the field contract, checked where the field itself is valid."""
    out: dict[str, list[str]] = {}
    if "voice_id" in body and "voice_id" not in errors and body["voice_id"] not in {v["id"] for v in VOICES}:
        out["voice_id"] = ["The selected voice id is invalid."]
    if (
        body.get("phone_number_id") is not None
        and "phone_number_id" not in errors
        and body["phone_number_id"] not in {p["id"] for p in PHONE_NUMBERS.get(user or 0, [])}
    ):
        out["phone_number_id"] = ["The selected phone number id is invalid."]
    if body.get("is_webhook_active") is True and "webhook_url" in body and body["webhook_url"] is None:
        out["webhook_url"] = ["The webhook url field is required when is webhook active is true."]
    tz = body.get("timezone")
    if isinstance(tz, str) and "timezone" not in errors and state.timezones and tz not in state.timezones:
        out["timezone"] = ["The timezone field must be a valid timezone."]
    return out


# --- serving ---------------------------------------------------------------------------------


class SandboxServer(ThreadedServer):
    """The sandbox on a real loopback port, in a background thread: `with SandboxServer() as sb:`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state: SandboxState | None = None) -> None:
        self.state = state or SandboxState()
        super().__init__(build_app(self.state), host=host, port=port)

    def start(self) -> SandboxServer:
        super().start()
        return self

    def __enter__(self) -> SandboxServer:
        return self.start()


def main(argv: list[str] | None = None) -> int:
    """`python -m sondos_mcp.sandbox --port 8765`: the sandbox API on its own, until interrupted."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser(description="Serve the sandbox stand-in of the Sondos API.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args(argv)
    print(f"sandbox API on http://{args.host}:{args.port}  demo key: {DEMO_KEY}", flush=True)
    uvicorn.run(build_app(SandboxState()), host=args.host, port=args.port, log_level="warning", access_log=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
