"""Headless Chromium driven over the DevTools protocol on a pipe (`--remote-debugging-pipe`).

No client library: the browser reads JSON commands from fd 3 and writes answers and events to
fd 4, each message ended by a NUL byte. Enough of the protocol for the Apps view test: open a
page, find the view's frame (in the page's process or its own), evaluate there, screenshot.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--remote-debugging-pipe",
)


def find_chromium() -> str | None:
    return next((p for p in map(shutil.which, ("chromium", "chromium-browser")) if p), None)


class ProtocolError(RuntimeError):
    pass


class Chromium:
    """One browser process with a fresh profile; `page()` opens a tab and returns its session id."""

    def __init__(self, binary: str, profile: Path, log: Path) -> None:
        commands_r, commands_w = os.pipe()
        events_r, events_w = os.pipe()
        self._log = log.open("w")
        # bash (dash takes one-digit fds only) puts the pipe ends on fds 3 and 4, where Chromium expects
        # them, and is replaced by it.
        script = f'exec "$0" "$@" 3<&{commands_r} 4>&{events_w} {commands_r}<&- {events_w}>&-'
        self.proc = subprocess.Popen(
            ["bash", "-c", script, binary, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
            pass_fds=(commands_r, events_w),
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        os.close(commands_r)
        os.close(events_w)
        self._out = commands_w
        self._in = events_r
        self._buffer = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        with contextlib.suppress(ProtocolError, OSError, TimeoutError):
            self.send("Browser.close", timeout=10)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        for fd in (self._out, self._in):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._log.close()

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("Chromium did not answer in time")
            ready, _, _ = select.select([self._in], [], [], left)
            if ready:
                chunk = os.read(self._in, 1 << 20)
                if not chunk:
                    raise ProtocolError(f"Chromium closed the pipe (exit status {self.proc.poll()})")
                self._buffer += chunk
        message, _, self._buffer = self._buffer.partition(b"\0")
        return json.loads(message)

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None, timeout: float = 30
    ) -> Any:
        self._next += 1
        message: dict[str, Any] = {"id": self._next, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            answer = self._read(deadline)
            if answer.get("id") == self._next:
                if "error" in answer:
                    raise ProtocolError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self.events.append(answer)

    def pump(self, seconds: float) -> None:
        """Collect events for a while (frames attach, consoles log)."""
        deadline = time.monotonic() + seconds
        while True:
            try:
                self.events.append(self._read(deadline))
            except TimeoutError:
                return

    def page(self, width: int, height: int, dark: bool) -> str:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for method in ("Page.enable", "Runtime.enable"):
            self.send(method, session=session)
        # Frames in their own process (a sandboxed iframe may be one) attach as targets of their own.
        self.send(
            "Target.setAutoAttach",
            {"autoAttach": True, "waitForDebuggerOnStart": False, "flatten": True},
            session=session,
        )
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=session,
        )
        scheme = "dark" if dark else "light"
        self.send(
            "Emulation.setEmulatedMedia",
            {"features": [{"name": "prefers-color-scheme", "value": scheme}]},
            session=session,
        )
        return session

    def navigate(self, session: str, url: str) -> None:
        self.send("Page.navigate", {"url": url}, session=session)

    def evaluate(self, session: str, expression: str, context: int | None = None) -> Any:
        params: dict[str, Any] = {"expression": expression, "returnByValue": True, "awaitPromise": True}
        if context is not None:
            params["contextId"] = context
        answer = self.send("Runtime.evaluate", params, session=session)
        if "exceptionDetails" in answer:
            raise ProtocolError(f"evaluation failed: {answer['exceptionDetails']}")
        return answer["result"].get("value")

    def child_frame(self, session: str) -> tuple[str, int | None]:
        """Where to evaluate inside the page's one iframe: (session, context id) — the frame's own
        target if it runs in another process, else an isolated world in the page's process."""
        self.pump(0.2)
        for event in self.events:
            if event.get("method") == "Target.attachedToTarget" and event.get("sessionId") == session:
                info = event["params"]["targetInfo"]
                if info["type"] == "iframe":
                    child = event["params"]["sessionId"]
                    self.send("Runtime.enable", session=child)
                    return child, None
        tree = self.send("Page.getFrameTree", session=session)["frameTree"]
        (frame,) = tree.get("childFrames", [])
        world = self.send("Page.createIsolatedWorld", {"frameId": frame["frame"]["id"]}, session=session)
        return session, world["executionContextId"]

    def screenshot(self, session: str, clip: dict[str, float], path: Path) -> None:
        clip = {**clip, "scale": 1}
        shot = self.send(
            "Page.captureScreenshot", {"format": "png", "clip": clip, "captureBeyondViewport": True}, session=session
        )
        path.write_bytes(base64.b64decode(shot["data"]))
