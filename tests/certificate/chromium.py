"""Drive headless Chromium over the DevTools protocol on a pipe, with the standard library only.

``--remote-debugging-pipe`` makes Chromium read commands from fd 3 and write replies
and events to fd 4, each message one JSON text ended by NUL. :class:`Browser` opens one
page, collects console errors, uncaught exceptions, log errors and JavaScript dialogs,
and can evaluate, screenshot and print to PDF.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars", "--remote-debugging-pipe")


def find_chromium() -> Optional[str]:
    """Path of the chromium binary, or None."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    return None


class Browser:
    """One headless Chromium with one page; use as a context manager."""

    def __init__(self, binary: str, timeout: float = 60.0) -> None:
        self.timeout = timeout
        self.events: list[dict[str, Any]] = []
        self._profile = tempfile.TemporaryDirectory(prefix="medrobust-chromium-")
        cmd_r, cmd_w = os.pipe()
        out_r, out_w = os.pipe()
        # copies above 10 so that placing them at 3 and 4 in the child cannot clobber each other
        child_r, child_w = fcntl.fcntl(cmd_r, fcntl.F_DUPFD_CLOEXEC, 10), fcntl.fcntl(out_w, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(cmd_r)
        os.close(out_w)

        def place_pipes() -> None:
            os.dup2(child_r, 3)
            os.dup2(child_w, 4)

        self._proc = subprocess.Popen(
            [binary, *FLAGS, f"--user-data-dir={self._profile.name}", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
            preexec_fn=place_pipes, close_fds=False)
        os.close(child_r)
        os.close(child_w)
        self._write, self._read = cmd_w, out_r
        self._buffer = b""
        self._next_id = 0
        self._session: Optional[str] = None
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)["targetId"]
        self._session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True},
                                  session=False)["sessionId"]
        for domain in ("Page", "Runtime", "Log"):
            self.send(f"{domain}.enable")

    def __enter__(self) -> "Browser":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        """Ask Chromium to quit, then make sure it has."""
        try:
            self.send("Browser.close", session=False)
        except Exception:  # already gone
            pass
        try:
            self._proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        for fd in (self._write, self._read):
            try:
                os.close(fd)
            except OSError:
                pass
        if self._proc.stderr:
            self._proc.stderr.close()
        self._profile.cleanup()

    def _message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self._read], [], [], left)[0]:
                raise TimeoutError("Chromium did not answer in time")
            chunk = os.read(self._read, 1 << 20)
            if not chunk:
                raise RuntimeError("Chromium closed the DevTools pipe")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def _note(self, msg: dict[str, Any]) -> None:
        self.events.append(msg)
        if msg.get("method") == "Page.javascriptDialogOpening":  # never leave a dialog blocking the page
            self.send_nowait("Page.handleJavaScriptDialog", {"accept": True})

    def send_nowait(self, method: str, params: Optional[dict[str, Any]] = None) -> int:
        """Send a command on the page session without waiting for its reply."""
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self._session:
            msg["sessionId"] = self._session
        os.write(self._write, json.dumps(msg).encode() + b"\0")
        return self._next_id

    def send(self, method: str, params: Optional[dict[str, Any]] = None, *, session: bool = True) -> dict[str, Any]:
        """Send a command and return its result; events that arrive meanwhile are kept."""
        saved = self._session
        if not session:
            self._session = None
        try:
            wanted = self.send_nowait(method, params)
        finally:
            self._session = saved
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._message(deadline)
            if msg.get("id") == wanted:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            if "method" in msg:
                self._note(msg)

    def wait_for(self, event: str) -> dict[str, Any]:
        """Wait for the next ``event`` (or return one already seen since the last navigation)."""
        for msg in self.events:
            if msg.get("method") == event:
                return msg
        deadline = time.monotonic() + self.timeout
        while True:
            msg = self._message(deadline)
            if "method" in msg:
                self._note(msg)
                if msg["method"] == event:
                    return msg

    def open(self, path: Path, width: int = 1100, height: int = 900) -> None:
        """Load a local file at ``width`` x ``height`` CSS pixels and wait for its load event."""
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False})
        self.events.clear()
        self.send("Page.navigate", {"url": path.resolve().as_uri()})
        self.wait_for("Page.loadEventFired")

    def evaluate(self, expression: str) -> Any:
        """The JSON value of ``expression`` in the page."""
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise RuntimeError(f"evaluation failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions, error log entries and dialogs seen so far."""
        out = []
        for msg in self.events:
            method, params = msg.get("method"), msg.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append(f"console.{params['type']}: {params.get('args')}")
            elif method == "Runtime.exceptionThrown":
                out.append(f"exception: {params.get('exceptionDetails')}")
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                out.append(f"log: {params['entry'].get('text')} ({params['entry'].get('url', '')})")
            elif method == "Page.javascriptDialogOpening":
                out.append(f"dialog {params.get('type')}: {params.get('message')}")
        return out

    def screenshot(self, full_page: bool = True, clip_height: Optional[int] = None) -> bytes:
        """PNG of the page (the whole document when ``full_page``; at most ``clip_height`` px tall)."""
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            size = self.send("Page.getLayoutMetrics")["cssContentSize"]
            height = size["height"] if clip_height is None else min(size["height"], clip_height)
            params.update(captureBeyondViewport=True,
                          clip={"x": 0, "y": 0, "width": size["width"], "height": height, "scale": 1})
        return base64.b64decode(self.send("Page.captureScreenshot", params)["data"])

    def pdf(self) -> bytes:
        """The page printed to PDF with its own @page size and backgrounds."""
        result = self.send("Page.printToPDF", {"preferCSSPageSize": True, "printBackground": True,
                                               "displayHeaderFooter": False})
        return base64.b64decode(result["data"])
