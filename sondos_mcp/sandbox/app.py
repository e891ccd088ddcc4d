"""A stand-in of the Sondos API, for demos and tests, served over real HTTP on loopback.

It answers in the documented shapes (200, 401, 404, 422 with per-field messages, Laravel
pagination) from seeded demo data, records every request it receives, and can be told to
fail the next request (429, 5xx, a body that is not JSON, a slow answer) or behave like a
hostile upstream (a body dripped a byte at a time, an endless one, the same fault on every request).

It judges update bodies with `jsonschema` against the contract's JSON Schema, not with the
pydantic model (see `judge`), so it is an independent check of what the server forwards.
Everything it needs ships in the package, so `sondos-mcp --sandbox` works from the wheel.
It is stricter than the real API in one way, on purpose: an unknown field is a 422 here
(Laravel would drop it silently), so a forwarding bug cannot hide.
"""

from __future__ import annotations

import asyncio
import json
import threading
import zoneinfo
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from sondos_mcp.sandbox.data import (
    DEMO_KEY,
    LANGUAGES,
    LIST_FIELDS,
    MODELS,
    OTHER_KEY,
    PHONE_NUMBERS,
    STORED_FLAGS,
    STORED_NAME,
    STORED_VALUES,
    VOICES,
    seed_assistants,
)
from sondos_mcp.sandbox.judge import body_schema, contract_schema, contract_validator, laravel_errors
from sondos_mcp.sandbox.loopback import ThreadedServer


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, str]
    authorization: str | None
    body: Any
    # For an applied update: what each field of the body held just before it (update vocabulary),
    # so tests can hold every journaled before-value to the value the API really replaced.
    prior: dict[str, Any] | None = None


@dataclass
class Fault:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: str | None = None  # a body that is not JSON
    delay: float = 0.0
    method: str | None = None  # only requests with this method; None: any
    path: str | None = None  # only requests for this path; None: any
    drip: float = 0.0  # send the body one byte at a time, this many seconds apart
    size: int = 0  # stream a JSON body this many bytes long (chunked), however large
    repeat: bool = False  # answer every matching request this way, not just the next one


class SandboxState:
    def __init__(self) -> None:
        self.keys = {DEMO_KEY: 1, OTHER_KEY: 2}
        self.assistants = seed_assistants()
        self.received: list[Received] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self.body_validator = contract_validator(body_schema(contract_schema()))
        self.timezones = zoneinfo.available_timezones()

    def fail_next(self, status: int, body: Any = None, **kwargs: Any) -> None:
        """Make the next request (of `method=`, else any) fail this way."""
        with self._lock:
            self.faults.append(Fault(status, body, **kwargs))

    def take_fault(self, method: str, path: str = "") -> Fault | None:
        with self._lock:
            for i, fault in enumerate(self.faults):
                if fault.method in (None, method) and fault.path in (None, path):
                    return fault if fault.repeat else self.faults.pop(i)
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
        received = Received(request.method, request.url.path, dict(request.query_params), auth, body)
        request.state.received = received
        state.received.append(received)
        fault = state.take_fault(request.method, request.url.path)
        if fault is not None:
            if fault.delay:
                await asyncio.sleep(fault.delay)
            if fault.drip or fault.size:
                return None, body, _hostile_stream(fault)
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
        fields: dict[str, Any] = body  # a JSON object: its keys are strings
        request.state.received.prior = {name: _as_set(name, record.get(STORED_NAME.get(name, name))) for name in fields}
        for name, value in fields.items():
            if name in STORED_VALUES:
                value = next(stored for stored, update in STORED_VALUES[name].items() if update == value)
            elif name in STORED_FLAGS:
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


def _as_set(name: str, stored: Any) -> Any:
    """A stored value as the update body would set it (the reverse of what `update` stores)."""
    if name in STORED_VALUES and stored is not None:
        return STORED_VALUES[name].get(stored, stored)
    if name in STORED_FLAGS and stored is not None:
        return bool(stored)
    return stored


def _business_rules(
    state: SandboxState, user: int | None, body: Mapping[str, Any], errors: Mapping[str, list[str]]
) -> dict[str, list[str]]:
    """The rules the public material lists beyond the field contract, checked where the field itself is valid."""
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


def _hostile_stream(fault: Fault) -> Response:
    """A body dripped a byte at a time, or a JSON body of `fault.size` bytes sent as fast as it goes."""

    async def drip() -> AsyncIterator[bytes]:
        text = fault.raw if fault.raw is not None else json.dumps(fault.body)
        for byte in text.encode():
            yield bytes([byte])
            await asyncio.sleep(fault.drip)

    async def endless() -> AsyncIterator[bytes]:
        chunk = b"x" * (1024 * 1024)
        yield b'{"message": "'
        for sent in range(0, fault.size, len(chunk)):
            yield chunk[: fault.size - sent]
        yield b'"}'

    return StreamingResponse(
        drip() if fault.drip else endless(), fault.status, headers=fault.headers, media_type="application/json"
    )


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
