"""The Sondos REST API client: one shared HTTP connection pool, typed failures, careful retries."""

from __future__ import annotations

import base64
import functools
import hashlib
import json as jsonlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from sondos_mcp import __version__, telemetry
from sondos_mcp.config import Settings
from sondos_mcp.errors import (
    READ_BACK_HINT,
    ConfigurationError,
    UpstreamError,
    UpstreamTimeout,
    UpstreamTooLarge,
    UpstreamUnavailable,
    error_from_response,
)

if TYPE_CHECKING:
    import httpx

# httpx, tenacity and the TLS context load on the first upstream call, not at start-up: desktop
# clients spawn this server on every launch and wait for its initialize answer.

log = logging.getLogger(__name__)

KeySource = Callable[[], SecretStr | None]
"""Where the key for the current call comes from: the configured key, or (over HTTP) the caller's."""


WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
GATEWAY_LOST = frozenset({502, 504})


@dataclass
class CallRecord:
    """What one tool call has done upstream: whether a write may have reached the API.

    The server starts one per call; when the call's deadline cuts it short, this is how it
    knows to say "unknown" rather than "not applied".
    """

    write_sent: bool = False


CALL_RECORD: ContextVar[CallRecord | None] = ContextVar("sondos_call_record", default=None)


MAX_KEY_LENGTH = 512
"""Longer than any key the Sondos API issues (`<id>|<40 characters>`), short enough to cost nothing."""


def valid_key(value: str) -> bool:
    """A per-user key header: printable ASCII without spaces, of a sane length.

    Anything else could not be a key, and forwarding it would fail deep in the HTTP client
    (non-ASCII cannot go into a header) instead of here, with a clear refusal.
    """
    return 0 < len(value) <= MAX_KEY_LENGTH and all("!" <= ch <= "~" for ch in value)


def fingerprint(key: str) -> str:
    """An account's name in caches and the journal: tells keys apart, cannot give the key back."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


# Base64 forms shorter than this are left alone: a short run could match ordinary text.
MIN_BASE64_FORM = 16
_URLSAFE = str.maketrans("+/", "-_")


def _base64_forms(secret: bytes) -> set[str]:
    """`secret` in base64 as an echo may carry it: alone (padded or not), and inside a longer base64 string.

    Inside a longer string the secret may start at any byte offset; for offsets 0, 1 and 2 (mod 3)
    the characters that depend on its bytes alone are a fixed run, whatever surrounds it. Each in the
    standard and the URL-safe alphabet.
    """
    forms = set()
    alone = base64.b64encode(secret).decode("ascii")
    forms |= {alone, alone.rstrip("=")}
    bits = 8 * len(secret)
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + secret).decode("ascii")
        # Character j carries bits 6j..6j+5 of the stream; the secret holds bits 8·offset ..8·offset+bits-1.
        first = -(-8 * offset // 6)
        end = (8 * offset + bits) // 6
        forms.add(encoded[first:end])
    forms |= {form.translate(_URLSAFE) for form in forms}
    return {form for form in forms if len(form) >= MIN_BASE64_FORM}


@functools.lru_cache(maxsize=256)
def secret_forms(key: str) -> tuple[str, ...]:
    """The strings an echo of `key` may contain, longest first: the key, the token after a Sanctum
    `id|` prefix, and each of them in base64 (`_base64_forms`). Computed once per key."""
    parts = {key}
    if "|" in key and len(key.split("|", 1)[1]) >= 8:
        parts.add(key.split("|", 1)[1])
    forms = set(parts)
    for part in parts:
        forms |= _base64_forms(part.encode())
    return tuple(sorted(forms, key=lambda form: (-len(form), form)))


def scrub(value: Any, secrets: Sequence[str]) -> Any:
    """`value` (decoded JSON) with every secret replaced in every string, keys included.

    Scrubbing runs after decoding, so an echo hidden behind JSON escapes (`\\/`, `\\u007c`) is caught.
    Strings shorter than the shortest secret (most of an answer: names, enums, numbers as text) are
    passed over without a search.
    """
    if not secrets:
        return value
    shortest = min(map(len, secrets))

    def walk(value: Any) -> Any:
        if isinstance(value, str):
            if len(value) >= shortest:
                for secret in secrets:
                    if secret in value:
                        value = value.replace(secret, "[redacted]")
            return value
        if isinstance(value, dict):
            return {walk(k): walk(v) for k, v in value.items()}
        if isinstance(value, list):
            return [walk(v) for v in value]
        return value

    return walk(value)


class _BodyTooLarge(Exception):
    pass


class _NotSent(UpstreamUnavailable):
    """The connection failed before the request left: safe to retry any method."""


def _retryable(idempotent: bool) -> Callable[[BaseException], bool]:
    def check(exc: BaseException) -> bool:
        if isinstance(exc, _NotSent):
            return True
        # A read may be repeated after a gateway failure; a write is repeated only if never sent.
        return idempotent and isinstance(exc, UpstreamUnavailable) and exc.status in (502, 503, 504)

    return check


def build_http_client(settings: Settings) -> httpx.AsyncClient:
    import httpx

    timeout = httpx.Timeout(settings.timeout, connect=settings.connect_timeout)
    limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30)
    return httpx.AsyncClient(
        timeout=timeout,
        limits=limits,
        # identity: a compressed body would be inflated by httpx in one piece, past the size cap.
        headers={
            "Accept": "application/json",
            "Accept-Encoding": "identity",
            "User-Agent": f"sondos-mcp/{__version__}",
        },
        follow_redirects=False,
        trust_env=False,
    )


class SondosApi:
    """Calls the Sondos API; every failure comes out as an `UpstreamError` or `ConfigurationError`."""

    def __init__(
        self, settings: Settings, http: httpx.AsyncClient | None = None, key_source: KeySource | None = None
    ) -> None:
        self.base_url = settings.api_base
        self._settings = settings
        self._http = http
        self._key_source: KeySource = key_source or (lambda: settings.api_key)
        self._last_fingerprint: tuple[SecretStr | None, str] = (None, "")
        self._attempts = settings.retries + 1
        self._host = urlsplit(self.base_url).netloc or self.base_url

    def __repr__(self) -> str:
        return f"SondosApi(base_url={self.base_url!r})"

    def key_fingerprint(self) -> str:
        """Tells keys apart (for per-key caches) without holding the key itself."""
        key = self._key_source()
        if key is None:
            return ""
        # Asked several times per call: hash each key object once (the settings' key lives as long as the server).
        last_key, last_print = self._last_fingerprint
        if key is not last_key:
            last_print = fingerprint(key.get_secret_value())
            self._last_fingerprint = (key, last_print)
        return last_print

    @property
    def http(self) -> httpx.AsyncClient:
        """The shared connection pool, created on first use."""
        if self._http is None:
            self._http = build_http_client(self._settings)
        return self._http

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()

    async def update_assistant(self, assistant_id: int, body: Mapping[str, Any]) -> Any:
        return await self.request("PUT", f"/user/assistant/{assistant_id}", json=dict(body), resource="Assistant")

    async def list_assistants(self, page: int = 1, per_page: int = 20) -> Any:
        return await self.request("GET", "/user/assistants/get", params={"page": page, "per_page": per_page})

    async def list_voices(self, mode: str | None = None) -> Any:
        return await self.request("GET", "/user/assistants/voices", params={"mode": mode} if mode else None)

    async def list_languages(self) -> Any:
        return await self.request("GET", "/user/assistants/languages")

    async def list_models(self) -> Any:
        return await self.request("GET", "/user/assistants/models")

    async def list_phone_numbers(self, type_: str | None = None) -> Any:
        return await self.request("GET", "/user/assistants/phone-numbers", params={"type": type_} if type_ else None)

    async def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        resource: str = "Resource",
    ) -> Any:
        key = self._key_source()
        if key is None or not key.get_secret_value().strip():
            raise ConfigurationError(
                "No Sondos API key is configured",
                hint="Set SONDOS_API_KEY in the MCP client's server configuration (env), then restart it; "
                "or start the server with --sandbox to try it against the demo account.",
            )
        from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

        headers = {"Authorization": f"Bearer {key.get_secret_value().strip()}"}
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._attempts),
            wait=wait_exponential(multiplier=0.2, max=2),
            retry=retry_if_exception(_retryable(method in ("GET", "PUT", "DELETE"))),
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(method, path, params, json, headers, resource)
        raise AssertionError("unreachable: tenacity reraises")  # pragma: no cover

    async def _once(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        json: Any,
        headers: Mapping[str, str],
        resource: str,
    ) -> Any:
        import httpx

        writes = method in WRITE_METHODS
        record = CALL_RECORD.get()
        sent_before = record.write_sent if record is not None else False
        if writes and record is not None:
            record.write_sent = True  # from here on the API may have it, until a connect error says otherwise
        request = self.http.build_request(method, self.base_url + path, params=params, json=json, headers=headers)
        unknown_hint = READ_BACK_HINT if writes else None
        span = telemetry.spans.upstream(method, self.base_url, path)
        if span is not None:
            request.headers.update(span.headers)
        started, status = time.perf_counter(), "error"
        try:
            response = await self.http.send(request, stream=True)
            status = str(response.status_code)
            try:
                content = await self._read_capped(response, writes)
            finally:
                await response.aclose()
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            status = "connect_error"
            if record is not None:
                record.write_sent = sent_before
            raise _NotSent(
                f"Could not connect to the Sondos API at {self._host}",
                hint=f"Check SONDOS_BASE_URL (now {self.base_url}) and this machine's network or proxy.",
            ) from exc
        except httpx.TimeoutException as exc:
            status = "timeout"
            raise UpstreamTimeout(
                f"The Sondos API did not answer in time ({type(exc).__name__})",
                hint=unknown_hint or "Nothing was changed; the same call may succeed later.",
                outcome="unknown" if writes else "not_applied",
            ) from exc
        except _BodyTooLarge:
            raise UpstreamTooLarge(
                f"The Sondos API's answer exceeded {self._settings.max_response_bytes} bytes and was not read",
                status=response.status_code,
                hint=unknown_hint
                or "Narrow the request (a smaller per_page, a filter) or raise SONDOS_MAX_RESPONSE_BYTES.",
                outcome="unknown" if writes else "not_applied",
            ) from None
        except httpx.HTTPError as exc:
            # Reset after sending, a body cut short, a protocol error: the request may have been acted on.
            raise UpstreamUnavailable(
                f"The connection to the Sondos API failed ({type(exc).__name__})",
                hint=unknown_hint,
                outcome="unknown" if writes else "not_applied",
            ) from exc
        finally:
            try:
                if span is not None:
                    span.end(status)
            finally:
                telemetry.hooks.upstream(method, path, status, time.perf_counter() - started)
        log.info("%s %s -> %s", method, path, response.status_code)
        try:
            body = jsonlib.loads(content) if content.strip() else None
        except (ValueError, RecursionError):
            body = _NOT_JSON
        if body is not _NOT_JSON:
            # An upstream that echoes the key back (in a message, a debug page) must not leak it onward,
            # in whatever escaping it chose on the wire: so the decoded strings are scrubbed.
            body = scrub(body, secret_forms(headers["Authorization"][7:]))
        if response.is_success:
            if body is _NOT_JSON:
                raise UpstreamUnavailable(
                    f"The Sondos API answered HTTP {response.status_code} with a body that is not JSON",
                    status=response.status_code,
                    hint=unknown_hint,
                    outcome="unknown" if writes else "not_applied",
                )
            return body
        if body is _NOT_JSON and response.status_code not in (401, 403, 404, 429):
            # A 422 or 5xx that is not JSON is a proxy or an outage page, not the API speaking.
            error: UpstreamError = UpstreamUnavailable(
                f"The Sondos API answered HTTP {response.status_code} with a body that is not JSON",
                status=response.status_code,
            )
        else:
            error = error_from_response(response.status_code, body, response.headers, resource=resource)
        if writes and response.status_code in GATEWAY_LOST:
            # A gateway that lost or timed out on the API cannot say whether the API acted on the write.
            error.outcome = "unknown"
            error.hint = READ_BACK_HINT
        raise error

    async def _read_capped(self, response: httpx.Response, writes: bool) -> bytes:
        """The body, refused as soon as it passes the cap: never buffered beyond it."""
        limit = self._settings.max_response_bytes
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise _BodyTooLarge
        encoding = response.headers.get("content-encoding", "identity").strip().lower()
        if encoding not in ("", "identity"):
            # Asked for identity: a compressed body would be inflated in one piece, past any cap.
            raise UpstreamUnavailable(
                f"The Sondos API answered with a {encoding[:20]!r}-encoded body it was not asked for",
                status=response.status_code,
                hint=READ_BACK_HINT if writes else None,
                outcome="unknown" if writes else "not_applied",
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > limit:
                raise _BodyTooLarge
            chunks.append(chunk)
        return b"".join(chunks)


_NOT_JSON = object()
