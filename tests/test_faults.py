"""A hostile upstream and a hostile caller: every call stays within its deadline, memory and size caps."""

from __future__ import annotations

import base64
import json
import logging
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mcp import Client
from pydantic import SecretStr

from sondos_mcp.cache import TTLCache
from sondos_mcp.sandbox import SandboxServer
from sondos_mcp.server import build_server
from tests.conftest import make_settings, stdio_params
from tests.hostile import RawUpstream

pytestmark = pytest.mark.anyio

UPDATE = {"id": 12, "speech_speed": 0.9}
DEADLINE = 2.0


def text_of(result: Any) -> str:
    return "\n".join(block.text for block in result.content if block.type == "text")


def result_bytes(result: Any) -> int:
    structured = json.dumps(result.structured_content, ensure_ascii=False, separators=(",", ":"))
    return len(structured.encode()) + len(text_of(result).encode())


async def timed_call(settings_: Any, tool: str, arguments: dict[str, Any]) -> tuple[Any, float]:
    """One call through a fresh in-memory session; the test itself gives up after 30 s (today's code hangs)."""
    async with Client(build_server(settings_)) as client:
        start = time.monotonic()
        with anyio.fail_after(30):
            result = await client.call_tool(tool, arguments)
        return result, time.monotonic() - start


# --- deadline ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tool", "arguments", "method", "applied"),
    [
        ("update_assistant", UPDATE, "PUT", "unknown"),
        ("get_assistant", {"id": 12}, "GET", None),
        ("list_assistants", {"query": "sales"}, "GET", None),
    ],
)
async def test_dripping_upstream_is_cut_off_at_the_call_deadline(
    sandbox: SandboxServer, tool: str, arguments: dict[str, Any], method: str, applied: str | None
):
    """An answer dripped one byte a second ends the call at its deadline with a structured timeout."""
    body = {"message": "Assistant updated successfully", "data": {"id": 12, "name": "x"}}
    sandbox.state.fail_next(200, body, method=method, drip=1.0)
    # The per-read timeout (3 s) never fires on a drip; only the whole-call deadline can.
    result, elapsed = await timed_call(
        make_settings(sandbox.base_url, timeout=3.0, call_deadline=DEADLINE), tool, arguments
    )
    assert elapsed < DEADLINE + 1
    assert result.is_error
    assert result.structured_content["error"]["kind"] == "timeout"
    assert result.structured_content["error"]["retryable"] is True
    assert result.structured_content.get("applied") == applied
    if applied == "unknown":
        assert "get_assistant" in text_of(result)


async def test_deadline_before_the_write_is_sent_says_not_applied(sandbox: SandboxServer):
    """When the deadline passes during the lookups, before the PUT, the outcome is known: not applied."""
    voices = [{"id": 2, "name": "Sara", "mode": "pipeline"}]
    sandbox.state.fail_next(200, voices, method="GET", path="/user/assistants/voices", drip=1.0)
    result, elapsed = await timed_call(
        make_settings(sandbox.base_url, timeout=3.0, call_deadline=DEADLINE),
        "update_assistant",
        {"id": 12, "voice_id": 2},
    )
    assert elapsed < DEADLINE + 1
    assert result.structured_content["error"]["kind"] == "timeout"
    assert result.structured_content["applied"] is False
    assert sandbox.state.updates() == []


@pytest.mark.parametrize("tool", ["get_assistant", "list_assistants"])
async def test_endless_paging_stops_at_the_page_bound(sandbox: SandboxServer, tool: str):
    """An upstream claiming last_page 100000000 is walked for at most SONDOS_MAX_PAGES pages; a query,
    which needs the whole list, is refused as soon as the first page claims more."""
    page = {"current_page": 1, "data": [{"id": 5, "name": "decoy"}], "per_page": 100, "last_page": 100_000_000}
    sandbox.state.fail_next(200, page, method="GET", path="/user/assistants/get", repeat=True)
    arguments = {"id": 12} if tool == "get_assistant" else {"query": "sales"}
    result, elapsed = await timed_call(make_settings(sandbox.base_url, max_pages=5), tool, arguments)
    assert result.is_error
    assert result.structured_content["error"]["kind"] == "too_many_pages"
    assert "page=" in text_of(result)
    walked = len([r for r in sandbox.state.received if r.path == "/user/assistants/get"])
    assert walked == (5 if tool == "get_assistant" else 1)
    assert elapsed < 5


# --- honest outcomes --------------------------------------------------------------------------


@pytest.mark.parametrize("behaviour", ["reset", "truncate"])
async def test_failure_after_the_write_was_sent_is_unknown_not_unapplied(behaviour: str):
    """A reset after the PUT was sent, or a 200 cut short, is applied: "unknown" with how to check."""
    with RawUpstream(behaviour) as upstream:  # type: ignore[arg-type]
        result, _ = await timed_call(make_settings(upstream.base_url), "update_assistant", UPDATE)
    writes = [r for r in upstream.requests if not r.startswith(b"GET ")]
    assert len(writes) == 1
    assert writes[0].startswith(b"PUT /user/assistant/12")
    assert result.is_error
    assert result.structured_content["applied"] == "unknown"
    assert text_of(result).startswith("Outcome unknown")
    assert "get_assistant" in result.structured_content["error"]["hint"]


async def test_success_status_with_a_body_that_is_not_json_is_unknown(client: Client, sandbox: SandboxServer):
    """A 200 whose body is not JSON may still mean the change landed: applied is "unknown"."""
    sandbox.state.fail_next(200, raw="<html>OK</html>", method="PUT")
    result = await client.call_tool("update_assistant", UPDATE)
    assert result.is_error
    assert result.structured_content["applied"] == "unknown"
    assert "get_assistant" in text_of(result)


@pytest.mark.parametrize(("status", "raw"), [(502, "<html>Bad gateway</html>"), (504, None)])
async def test_gateway_failure_on_a_write_is_unknown(
    client: Client, sandbox: SandboxServer, status: int, raw: str | None
):
    """A 502 or 504 from a gateway in front of the API cannot say whether the write landed: "unknown"."""
    sandbox.state.fail_next(status, {"message": "Gateway Timeout"}, raw=raw, method="PUT")
    result = await client.call_tool("update_assistant", UPDATE)
    assert result.structured_content["error"]["status"] == status
    assert result.structured_content["applied"] == "unknown"
    assert "get_assistant" in text_of(result)


async def test_redirect_to_another_host_is_not_followed(sandbox: SandboxServer):
    """A 302 to another host is refused as it stands: the other host never sees the request or the key."""
    with SandboxServer() as elsewhere:
        location = f"{elsewhere.base_url}/user/assistant/12"
        sandbox.state.fail_next(302, None, headers={"Location": location}, method="PUT")
        result, _ = await timed_call(make_settings(sandbox.base_url), "update_assistant", UPDATE)
        assert elsewhere.state.received == []
    assert result.is_error
    assert result.structured_content["applied"] is False
    assert result.structured_content["error"]["status"] == 302


# --- size caps --------------------------------------------------------------------------------


def _stdio_call(base_url: str, tool: str, arguments: dict[str, Any], **env: str) -> tuple[dict[str, Any], int, float]:
    """Call one tool in the installed server as a stdio subprocess; its result, peak RSS (kB) and seconds."""
    params = stdio_params(base_url, **env)
    proc = subprocess.Popen(
        [params.command, *params.args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=params.env,
    )
    assert proc.stdin is not None
    assert proc.stdout is not None
    init = {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}
    messages = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": init},
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": tool, "arguments": arguments}},
    ]
    try:
        proc.stdin.write("".join(json.dumps(m) + "\n" for m in messages))
        proc.stdin.flush()
        start = time.monotonic()
        answer: dict[str, Any] = {}
        while answer.get("id") != 2:
            line = proc.stdout.readline()
            assert line, "the server exited without answering"
            answer = json.loads(line)
        elapsed = time.monotonic() - start
        status = Path(f"/proc/{proc.pid}/status").read_text()
        peak = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:")))
    finally:
        proc.stdin.close()
        proc.kill()
        proc.wait(timeout=30)
    return answer["result"], peak, elapsed


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads peak RSS from /proc")
def test_300_mb_upstream_body_is_refused_within_150_mb(sandbox: SandboxServer):
    """A 300 MB chunked answer is refused past the body cap: a structured error, peak RSS under 150 MB."""
    sandbox.state.fail_next(200, method="GET", size=300 * 1024 * 1024)
    result, peak_kb, elapsed = _stdio_call(sandbox.base_url, "list_voices", {})
    assert result["isError"] is True
    assert result["structuredContent"]["error"]["kind"] == "upstream_too_large"
    assert peak_kb < 150 * 1024, f"peak RSS {peak_kb} kB"
    assert elapsed < 20


async def test_long_upstream_list_is_cut_to_the_result_cap(sandbox: SandboxServer, monkeypatch: pytest.MonkeyPatch):
    """5,000 voices with long names come back under the result cap, saying how many were left out."""
    voices = [{"id": i, "name": f"voice {i} " + "x" * 200, "mode": "pipeline"} for i in range(5000)]
    sandbox.state.fail_next(200, voices, method="GET", path="/user/assistants/voices")
    cap = 64 * 1024
    result, _ = await timed_call(make_settings(sandbox.base_url, max_result_bytes=cap), "list_voices", {})
    assert not result.is_error
    assert result_bytes(result) <= cap
    kept = len(result.structured_content["items"])
    assert 0 < kept < 5000
    assert {w["code"] for w in result.structured_content["warnings"]} == {"result_cut"}
    notes = " ".join(w["message"] for w in result.structured_content["warnings"])
    assert f"{5000 - kept} of 5000 items left out" in notes
    assert "per_page" in notes
    assert "left out" in text_of(result)


async def test_huge_single_value_is_cut_to_the_result_cap(sandbox: SandboxServer):
    """One assistant whose prompt is 2 MB still comes back under the cap, with the cut stated."""
    sandbox.state.assistants[12]["system_prompt"] = "p" * (2 * 1024 * 1024)
    result, _ = await timed_call(
        make_settings(sandbox.base_url, max_result_bytes=64 * 1024), "get_assistant", {"id": 12}
    )
    assert not result.is_error
    assert result_bytes(result) <= 64 * 1024
    assert any("text cut" in w["message"] for w in result.structured_content["warnings"])


async def test_many_problems_are_listed_up_to_the_limit_then_summarised(client: Client, sandbox: SandboxServer):
    """900 unknown fields give 25 listed problems and one summary line, under the result cap."""
    arguments = {"id": 12, "speech_speed": 0.9} | {f"junk_{i}": i for i in range(900)}
    result = await client.call_tool("update_assistant", arguments)
    assert result.is_error
    assert len(result.structured_content["problems"]) == 25
    (summary,) = result.structured_content["warnings"]
    assert summary["code"] == "more_problems"
    assert summary["message"].startswith("875 more problem(s) not listed")
    assert result_bytes(result) <= 256 * 1024
    assert sandbox.state.updates() == []


@pytest.mark.parametrize(
    ("arguments", "reason"),
    [
        ({"id": 12} | {f"f{i}": i for i in range(20_000)}, "more than 1000 values"),
        ({"id": 12, "post_call_schema": [[[[[[[[[[1]]]]]]]]]]}, "nested deeper than 8 levels"),
        ({"id": 12, "system_prompt": "x" * 300_000}, "more than 262144 bytes"),
        # Under the cap in characters, over it in UTF-8 bytes: 'ع' is 2 bytes, '中' 3, '😀' 4.
        ({"id": 12, "system_prompt": "ع" * 140_000}, "more than 262144 bytes"),
        ({"id": 12, "system_prompt": "中" * 90_000}, "more than 262144 bytes"),
        ({"id": 12, "system_prompt": "😀" * 70_000}, "more than 262144 bytes"),
        ({"id": 12, "system_prompt": "\ud800" * 100_000}, "more than 262144 bytes"),
        ({"id": 12, "speech_speed": 0.9, "ع" * 140_000: 1}, "more than 262144 bytes"),
        ({"id": 12, "post_call_schema": [{"name": "😀" * 20_000} for _ in range(4)]}, "more than 262144 bytes"),
    ],
    ids=[
        "20000-fields",
        "deeply-nested",
        "300-kB-text",
        "arabic-text",
        "cjk-text",
        "emoji-text",
        "lone-surrogates",
        "arabic-key",
        "nested",
    ],
)
async def test_oversized_arguments_are_refused_before_any_work(
    client: Client, sandbox: SandboxServer, arguments: dict[str, Any], reason: str
):
    """Arguments past the size bounds are refused at once, with a short result, and nothing is sent."""
    start = time.monotonic()
    result = await client.call_tool("update_assistant", arguments)
    assert time.monotonic() - start < 2
    assert result.is_error
    (problem,) = result.structured_content["problems"]
    assert problem["code"] == "too_large"
    assert reason in problem["message"]
    assert result_bytes(result) < 2048
    assert sandbox.state.received == []


@pytest.mark.parametrize(
    "arguments",
    [
        {"id": 12, "system_prompt": "hello \ud800 there"},
        {"id": 12, "assistant_name": "\udfff"},
        {"id": 12, "post_call_schema": [{"name": "x\udc00", "type": "string", "description": "d"}]},
    ],
    ids=["in-a-value", "alone", "nested"],
)
async def test_text_that_is_not_unicode_is_refused_as_such_not_an_internal_error(
    client: Client, sandbox: SandboxServer, arguments: dict[str, Any]
):
    """A lone surrogate (JSON can carry one; no text holds one) gets a clear structured refusal."""
    result = await client.call_tool("update_assistant", arguments)
    assert result.is_error
    (problem,) = result.structured_content["problems"]
    assert problem["code"] == "invalid_text"
    assert sandbox.state.updates() == []


@pytest.mark.parametrize(
    "text",
    ["x" * 262_000, "ع" * 131_000, "😀" * 65_500],
    ids=["ascii", "arabic", "emoji"],
)
async def test_text_within_the_cap_in_utf8_bytes_is_not_refused_as_too_large(client: Client, text: str):
    """The cap counts UTF-8 bytes: text just under it is looked at, not refused unread."""
    result = await client.call_tool("update_assistant", {"id": 12, "system_prompt": text, "dry_run": True})
    problems = (result.structured_content or {}).get("problems", [])
    assert all(p["code"] != "too_large" for p in problems), problems


async def test_id_beyond_a_64_bit_key_is_refused_and_not_sent(client: Client, sandbox: SandboxServer):
    """id 2**70 cannot name a row (PHP integers are signed 64-bit): refused, nothing sent."""
    result = await client.call_tool("update_assistant", {"id": 2**70, "speech_speed": 0.9})
    assert result.is_error
    assert result.structured_content["problems"][0]["field"] == "id"
    assert sandbox.state.received == []


# Long strings are built from a drawn length (and a drawn character, some of which JSON escapes as
# six bytes), so that most examples are well over the cap rather than hovering under it.
long_text = st.builds(lambda ch, n: ch * n, st.sampled_from(["x", "é", "\u202e", "\x01", "中"]), st.integers(0, 40_000))
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | long_text,
    lambda inner: st.lists(inner, max_size=300) | st.dictionaries(st.text(max_size=20) | long_text, inner, max_size=30),
    max_leaves=200,
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(
    extra=st.dictionaries(st.sampled_from(["items", "assistant", "data", "warnings", "problems"]), json_values),
    text=st.text(max_size=50) | long_text,
    cap=st.integers(8192, 40_000),
)
def test_no_result_exceeds_the_cap_whatever_its_shape(extra: dict[str, Any], text: str, cap: int):
    """Any structured content and text, however nested or long, is cut to at most the cap, outcome kept."""
    from mcp_types import CallToolResult, TextContent

    from sondos_mcp.bounds import cap_result

    structured = {"ok": True, "message": "m", "applied": "unknown", "id": 12} | extra
    result = cap_result(CallToolResult(content=[TextContent(text=text)], structured_content=structured), cap)
    assert result_bytes(result) <= cap
    for key in ("ok", "message", "applied", "id"):
        assert result.structured_content[key] == structured[key]


# --- small ones -------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["inf", "nan", "1e300", "-inf"])
async def test_unusable_retry_after_is_not_echoed(client: Client, sandbox: SandboxServer, value: str):
    """Retry-After inf, NaN or absurdly large gives no retry_after and no "inf s" in the text."""
    sandbox.state.fail_next(429, {"message": "Too Many Attempts."}, headers={"Retry-After": value}, method="PUT")
    result = await client.call_tool("update_assistant", UPDATE)
    assert result.structured_content["error"]["kind"] == "rate_limited"
    assert "retry_after" not in result.structured_content["error"]
    assert "inf" not in text_of(result).lower()
    assert "nan" not in text_of(result).lower()


async def test_control_and_bidi_characters_from_upstream_are_escaped_in_text(client: Client, sandbox: SandboxServer):
    """An assistant name with a bidi override and terminal escapes reaches the text only as visible escapes."""
    sandbox.state.assistants[12]["name"] = "Sales\u202eredro\u2066 \x1b[31mred\x07\u200f"
    result = await client.call_tool("get_assistant", {"id": 12})
    text = text_of(result)
    for raw, shown in [("\u202e", "\\u202e"), ("\u2066", "\\u2066"), ("\x1b", "\\u001b"), ("\x07", "\\u0007")]:
        assert raw not in text
        assert shown in text
    assert "\u200f" in text  # a plain right-to-left mark is legitimate in Arabic names


def test_cache_evicts_expired_entries_and_keeps_to_its_size():
    """Expired entries go, and the cache never holds more than max_entries, however many keys are asked."""
    now = [0.0]
    cache = TTLCache(ttl=10.0, max_entries=100, clock=lambda: now[0])

    async def fill(keys: range) -> None:
        for key in keys:
            await cache.get(("page", key), lambda key=key: _value(key))

    anyio.run(fill, range(1000))
    assert len(cache) == 100
    now[0] = 11.0
    anyio.run(fill, range(1000, 1001))
    assert len(cache) == 1  # every expired entry went the moment the cache was full again


async def _value(key: int) -> int:
    return key


# --- redaction on decoded data ----------------------------------------------------------------

KEY_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/+=_-"


@st.composite
def api_keys(draw: st.DrawFn) -> str:
    """Keys of the shapes the API issues: Sanctum `<id>|<token>`, tokens with `/`, `+`, `=` (base64)."""
    token = draw(st.text(alphabet=KEY_CHARS, min_size=20, max_size=64))
    prefix = draw(st.one_of(st.integers(1, 10**7).map(lambda n: f"{n}|"), st.just("")))
    return prefix + token


def _escape(ch: str, form: str) -> str:
    if form == "unicode":
        return f"\\u{ord(ch):04x}"
    if form == "slash" and ch == "/":
        return "\\/"
    return json.dumps(ch)[1:-1]


@st.composite
def echoes(draw: st.DrawFn, key: str) -> str:
    """The key as a JSON string body fragment, each character escaped in a form drawn per character."""
    style = draw(st.sampled_from(["plain", "slash", "unicode", "mixed"]))
    forms = [
        draw(st.sampled_from(["plain", "slash", "unicode"])) if style == "mixed" else style for _ in range(len(key))
    ]
    return "".join(_escape(ch, form) for ch, form in zip(key, forms, strict=True))


@pytest.fixture(scope="module")
def echo_live() -> Iterator[tuple[SandboxServer, BlockingPortal, Client, dict[str, str]]]:
    """A server acting with whichever key the current example sets (the per-user path), and a sandbox.

    Without a journal, a change goes straight to the PUT (a journaled one first reads the account's
    list, which refuses these made-up keys before anything is sent), so the echo comes back on it."""
    current = {"key": ""}
    with SandboxServer() as sandbox, start_blocking_portal() as portal:
        settings = make_settings(sandbox.base_url, journal="off")
        server = build_server(settings, request_key=lambda _: SecretStr(current["key"]))
        with portal.wrap_async_context_manager(Client(server)) as session:
            yield sandbox, portal, session, current


def update_capturing_logs(portal: BlockingPortal, session: Client) -> tuple[Any, list[logging.LogRecord]]:
    """update_assistant through the session, with every log record it causes, at DEBUG."""
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append  # type: ignore[method-assign]
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        result = portal.call(session.call_tool, "update_assistant", UPDATE)
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)
    return result, records


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), key=api_keys(), status=st.sampled_from([200, 404, 422, 500]))
def test_key_echoed_in_any_json_escaping_never_reaches_results_or_logs(echo_live, data, key: str, status: int):
    """However the upstream escapes an echoed key (\\/, \\u007c, mixed), results and logs never carry it."""
    sandbox, portal, session, current = echo_live
    current["key"] = key
    echo = data.draw(echoes(key))
    if status == 200:
        raw = f'{{"message": "saved {echo}", "data": {{"id": 12, "name": "{echo}", "{echo}": "{echo}"}}}}'
    else:
        raw = f'{{"message": "bad key {echo}!", "errors": {{"{echo}": ["{echo} is wrong"]}}}}'
    assert json.loads(raw)["message"].endswith((key, key + "!"))  # the echo really decodes to the key
    sandbox.state.fail_next(status, raw=raw, method="PUT")
    result, records = update_capturing_logs(portal, session)
    seen = json.dumps(result.model_dump(mode="json"), ensure_ascii=False) + text_of(result)
    seen += "\n".join(r.getMessage() for r in records)
    token = key.split("|", 1)[1] if "|" in key else key
    assert key not in seen
    assert token not in seen
    assert "[redacted]" in seen


def _b64(data: bytes, alphabet: str) -> str:
    text = base64.b64encode(data).decode()
    return text if alphabet == "standard" else text.translate(str.maketrans("+/", "-_"))


def _run_of(secret: bytes, offset: int, alphabet: str) -> str:
    """The base64 characters that `secret` alone decides when it starts `offset` bytes into a longer blob:
    those that come out the same whatever bytes surround it (all zeros, all ones)."""
    zeros = _b64(b"\x00" * offset + secret + b"\x00" * 3, alphabet).rstrip("=")
    ones = _b64(b"\xff" * offset + secret + b"\xff" * 3, alphabet).rstrip("=")
    return "".join(a for a, b in zip(zeros, ones, strict=True) if a == b)


# Tokens of each length mod 3, so the whole key and the token take every alignment between them;
# '~', '?' and '>' put '+' and '/' in their base64, where the two alphabets differ.
B64_KEYS = [
    pytest.param(f"{n}|" + ("kT9~x+Qz?w_R>A=" * 4)[:length], id=f"token-of-{length}")
    for n, length in ((7, 40), (42, 41), (123, 42))
]


@pytest.mark.parametrize("status", [422, 500])
@pytest.mark.parametrize("alphabet", ["standard", "urlsafe"])
@pytest.mark.parametrize("part", ["key", "token"])
@pytest.mark.parametrize("key", B64_KEYS)
def test_key_echoed_in_base64_never_reaches_results_or_logs(echo_live, key: str, part: str, alphabet: str, status: int):
    """The key or its token, base64'd (either alphabet, padded or not, alone or at any alignment inside a
    longer blob), is scrubbed from the result's text and structured content; nothing logs it either."""
    sandbox, portal, session, current = echo_live
    current["key"] = key
    secret = (key if part == "key" else key.split("|", 1)[1]).encode()
    whole = _b64(secret, alphabet)
    # "Bearer " and 0-2 more bytes before the secret: its three alignments in a longer base64 string.
    blobs = [_b64(b"Bearer " + b"~" * extra + secret + b'","exp":1700000000}', alphabet) for extra in range(3)]
    echoes = [whole, whole.rstrip("="), *blobs]
    # The message reaches the result on every status; the field errors of a 422 too.
    body = {
        "message": f"refused: {' '.join(echoes)} (canary-visible)",
        "errors": {"token": [f"got {echo}" for echo in echoes], blobs[0]: ["x"]},
    }
    sandbox.state.fail_next(status, body=body, method="PUT")
    result, records = update_capturing_logs(portal, session)
    shown = json.dumps(result.structured_content, ensure_ascii=False) + text_of(result)
    logged = "\n".join(r.getMessage() for r in records)
    assert "canary-visible" in shown  # the echo's places do reach the result
    assert "[redacted]" in shown
    forms = {whole, whole.rstrip("="), *(_run_of(secret, offset, alphabet) for offset in range(3))}
    assert all(len(form) >= 16 for form in forms)
    assert any(("+" in f or "/" in f) if alphabet == "standard" else ("-" in f or "_" in f) for f in forms)
    for form in forms | {secret.decode()}:
        assert form not in shown
        assert form not in logged
