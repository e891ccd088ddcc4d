"""The MCP Apps change view in a real browser: headless Chromium loads it in a small host page that
speaks the Apps messages (ui/initialize, tool-input, tool-result, size-changed), fed real tool
results from a real session with the installed `sondos-mcp --sandbox` over streamable HTTP.

The checks read the rendered rows inside the view's sandboxed frame over the DevTools protocol;
one screenshot per view goes to docs/apps/. .ci/run's interop step installs Debian's `chromium`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.client import advertise
from mcp.server.apps import APP_MIME_TYPE, EXTENSION_ID

from sondos_mcp.ui import VIEW_URI
from tests.interop.chromium import Chromium, ProtocolError, find_chromium
from tests.interop.test_interop import REQUIRED, installed_http_server, need, record

# A browser run takes seconds: it runs in .ci/run's interop step, not in every `pytest`.
pytestmark = [
    pytest.mark.interop,
    pytest.mark.skipif(not REQUIRED, reason="renders in headless Chromium: set SONDOS_INTEROP=1 (.ci/run does)"),
]

HERE = Path(__file__).resolve().parent
SHOTS = HERE.parent.parent / "docs" / "apps"
WIDTH = 752  # the host's 720-pixel frame and its margins

# Read inside the view: what it rendered, as data.
RENDERED = """(() => {
  const text = (node) => (node ? node.textContent.trim() : null);
  const view = document.getElementById("view");
  const body = getComputedStyle(document.body);
  return {
    state: view.dataset.state || null,
    kind: view.firstElementChild && view.firstElementChild.dataset.kind,
    outcomes: [...document.querySelectorAll("[data-outcome]")].map((b) => b.dataset.outcome),
    rows: [...document.querySelectorAll("tr[data-field]")].map((tr) => ({
      assistant: tr.closest("[data-assistant]") && tr.closest("[data-assistant]").dataset.assistant,
      field: tr.dataset.field,
      before: text(tr.querySelector(".before")),
      after: text(tr.querySelector(".after")),
    })),
    problems: [...document.querySelectorAll(".problem")].map((li) => ({
      field: li.dataset.field, fix: text(li.querySelector(".fix")), question: text(li.querySelector(".question")),
    })),
    changeIds: [...document.querySelectorAll(".change-id, .change-set")].map(text),
    background: body.backgroundColor,
    color: body.color,
  };
})()"""


FRAME_BOX = (
    "(() => { const r = document.querySelector('iframe').getBoundingClientRect(); "
    "return [r.x, r.y, r.width, r.height]; })()"
)


def call_wire(result: Any) -> dict[str, Any]:
    return result.model_dump(mode="json", by_alias=True, exclude_none=True)


async def session_results(url: str) -> dict[str, Any]:
    """Real calls, in the order a person would make them, as an Apps host's session sees them."""
    async with Client(url, extensions=[advertise(EXTENSION_ID, {"mimeTypes": [APP_MIME_TYPE]})]) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        (content,) = (await client.read_resource(VIEW_URI)).contents
        calls = {
            "preview": ("update_assistant", {"id": 12, "max_call_duration": 450, "speech_speed": 0.9, "dry_run": True}),
            "refusal": ("update_assistant", {"id": 12, "voice_id": "Omar", "language": "Arabic, English"}),
            "applied": ("update_assistant", {"id": 12, "max_call_duration": 450, "speech_speed": 0.9}),
            "already-so": ("update_assistant", {"id": 12, "max_call_duration": 450}),
            "change-set": ("update_assistants", {"ids": [14, 16], "changes": {"max_call_duration": 480}}),
            "journal": ("list_changes", {"limit": 3}),
        }
        results = {}
        for view, (tool, arguments) in calls.items():
            result = await client.call_tool(tool, arguments)
            results[view] = {
                "tool": call_wire(tools[tool]),
                "arguments": arguments,
                "result": call_wire(result),
            }
        return {"html": content.text, "tools": tools, "results": results}  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def feeds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    log = tmp_path_factory.mktemp("server") / "server.log"
    with installed_http_server(log) as url:
        return anyio.run(session_results, url)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    binary = find_chromium()
    need(binary is not None, "chromium (Debian's package)")
    assert binary is not None
    root = tmp_path_factory.mktemp("chromium")
    chromium = Chromium(binary, root / "profile", root / "chromium.log")
    try:
        yield chromium
    finally:
        chromium.close()


def render(browser: Chromium, feeds: dict[str, Any], view: str, theme: str, tmp: Path) -> tuple[dict[str, Any], list]:
    """Load the host page fed with one call; wait for the view to render; return what it shows and
    the messages it sent; keep a screenshot of it."""
    feed = {"html": feeds["html"], "theme": theme, **feeds["results"][view]}
    data = json.dumps(feed).replace("<", "\\u003c")
    page = (
        (HERE / "apps_host.html")
        .read_text()
        .replace("<!-- FEED -->", f'<script type="application/json" id="feed">{data}</script>')
    )
    host = tmp / f"{view}-{theme}.html"
    host.write_text(page)
    session = browser.page(WIDTH, 600, dark=theme == "dark")
    browser.navigate(session, host.as_uri())
    rendered: dict[str, Any] = {}
    for _ in range(100):
        time.sleep(0.1)
        try:
            frame, context = browser.child_frame(session)
            rendered = browser.evaluate(frame, RENDERED, context) or {}
        except (ValueError, KeyError, ProtocolError):
            continue  # the frame is not there yet, or not yet loaded
        if rendered.get("state") == "rendered":
            break
    assert rendered.get("state") == "rendered", rendered
    log = browser.evaluate(session, "window.__log")
    browser.evaluate(session, "new Promise((done) => setTimeout(done, 100))")  # the size-changed round trip
    x, y, width, height = browser.evaluate(session, FRAME_BOX)
    box = {"x": x - 8, "y": y - 8, "width": width + 16, "height": height + 16}
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser.screenshot(session, box, SHOTS / f"{view}{'-dark' if theme == 'dark' else ''}.png")
    return rendered, log


def passed(browser: Chromium, view: str) -> None:
    """Recorded in the interop matrix once the view's checks held."""
    product = browser.send("Browser.getVersion")["product"]
    row = {"client": "Chromium, MCP Apps host page", "version": product.split("/")[-1], "transport": "http"}
    record([{**row, "offered": "", "negotiated": "", "check": f"change view: {view}", "ok": True}])


def luminance(css: str) -> float:
    r, g, b = (int(v) / 255 for v in css[css.index("(") + 1 : css.index(")")].split(",")[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def test_the_change_tools_name_the_view_a_host_would_load(feeds: dict[str, Any]):
    """The session's tools/list binds the three change tools to the view the session can read."""
    bound = {n: (t.meta or {}).get("ui", {}).get("resourceUri") for n, t in feeds["tools"].items() if t.meta}
    assert bound == dict.fromkeys(("update_assistant", "update_assistants", "list_changes"), VIEW_URI)
    assert feeds["html"].startswith("<!DOCTYPE html>")


def test_view_renders_a_preview_as_before_and_after_rows(browser: Chromium, feeds: dict[str, Any], tmp_path: Path):
    """A dry run renders one row per field, before → after, marked as a preview; the view did the
    handshake (ui/initialize, initialized) and reported its size."""
    shown, log = render(browser, feeds, "preview", "light", tmp_path)
    assert shown["kind"] == "update_assistant"
    assert shown["outcomes"] == ["preview"]
    assert shown["rows"] == [
        {"assistant": "12", "field": "max_call_duration", "before": "600", "after": "450"},
        {"assistant": "12", "field": "speech_speed", "before": "unknown", "after": "0.9"},
    ]
    methods = [m.get("method") for m in log]
    assert methods[:2] == ["ui/initialize", "ui/notifications/initialized"]
    assert log[0]["params"]["protocolVersion"] == "2026-01-26"
    assert "ui/notifications/size-changed" in methods
    passed(browser, "preview")


def test_view_renders_a_refusal_with_its_fix_and_its_question(browser: Chromium, feeds: dict[str, Any], tmp_path: Path):
    """A refused change shows each problem: a voice given by name with its fix, two languages as a question."""
    shown, _ = render(browser, feeds, "refusal", "light", tmp_path)
    assert shown["outcomes"] == ["not applied"]
    problems = {p["field"]: p for p in shown["problems"]}
    assert set(problems) == {"voice_id", "language"}
    assert problems["voice_id"] == {
        "field": "voice_id",
        "fix": "Fix: voice_id = 3 (the voice named Omar is id 3 (pipeline))",
        "question": None,
    }
    assert problems["language"] == {
        "field": "language",
        "fix": None,
        "question": 'Which one? language = "Arabic" (only Arabic; the current value) or '
        'language = "English" (only English)',
    }
    passed(browser, "refusal")


def test_view_renders_an_applied_change_with_its_change_id(browser: Chromium, feeds: dict[str, Any], tmp_path: Path):
    """An applied change shows what each field held before, what it holds now, and its change id."""
    shown, _ = render(browser, feeds, "applied", "light", tmp_path)
    result = feeds["results"]["applied"]["result"]["structuredContent"]
    assert shown["outcomes"] == ["applied"]
    assert shown["rows"][0] == {"assistant": "12", "field": "max_call_duration", "before": "600", "after": "450"}
    assert shown["changeIds"] == [result["change_id"]]
    passed(browser, "applied")


def test_view_renders_a_change_not_sent_because_it_is_already_so(
    browser: Chromium, feeds: dict[str, Any], tmp_path: Path
):
    """A change the API shows as made already is not sent: the view says so, field by field."""
    shown, _ = render(browser, feeds, "already-so", "light", tmp_path)
    assert feeds["results"]["already-so"]["result"]["structuredContent"]["unchanged_fields"] == ["max_call_duration"]
    assert shown["outcomes"] == ["not_sent"]
    assert shown["rows"] == [
        {"assistant": "12", "field": "max_call_duration", "before": "450", "after": "450 (already so)"}
    ]
    assert shown["changeIds"] == []
    passed(browser, "already so")


def test_view_renders_a_change_set_per_assistant(browser: Chromium, feeds: dict[str, Any], tmp_path: Path):
    """A change set shows each member's outcome, change id and before → after, and the set's id."""
    shown, _ = render(browser, feeds, "change-set", "light", tmp_path)
    result = feeds["results"]["change-set"]["result"]["structuredContent"]
    assert shown["kind"] == "update_assistants"
    assert shown["outcomes"] == ["applied", "applied"]
    assert shown["rows"] == [
        {"assistant": "14", "field": "max_call_duration", "before": "600", "after": "480"},
        {"assistant": "16", "field": "max_call_duration", "before": "600", "after": "480"},
    ]
    members = [m["change_id"] for m in result["assistants"]]
    assert shown["changeIds"] == [*members, result["change_set"]]
    passed(browser, "change-set")


def test_view_renders_the_journal_newest_first(browser: Chromium, feeds: dict[str, Any], tmp_path: Path):
    """list_changes renders each entry with its id, outcome and rows, newest first."""
    shown, _ = render(browser, feeds, "journal", "light", tmp_path)
    changes = feeds["results"]["journal"]["result"]["structuredContent"]["changes"]
    assert shown["kind"] == "list_changes"
    assert shown["changeIds"] == [c["id"] for c in changes]
    assert shown["outcomes"] == ["applied"] * 3
    assert [(r["assistant"], r["after"]) for r in shown["rows"]] == [
        ("16", "480"),
        ("14", "480"),
        ("12", "450"),
        ("12", "0.9"),
    ]
    passed(browser, "journal")


def test_view_is_readable_in_light_and_dark(browser: Chromium, feeds: dict[str, Any], tmp_path: Path):
    """The host's theme sets the view's: dark text on a light ground, light text on a dark one."""
    light, _ = render(browser, feeds, "preview", "light", tmp_path)
    dark, _ = render(browser, feeds, "preview", "dark", tmp_path)
    assert luminance(light["background"]) > 0.9 > 0.2 > luminance(light["color"])
    assert luminance(dark["background"]) < 0.1 < 0.8 < luminance(dark["color"])
    assert dark["rows"] == light["rows"]
    passed(browser, "light and dark")
