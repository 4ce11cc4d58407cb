#!/usr/bin/env python3
"""Screenshot `attn-tui --serve` in headless Chromium: screenshots/browser.png, from the real app.

    python scripts/serve_screenshot.py [--out screenshots/browser.png] [attn-tui state flags…]

Starts the server on a free loopback port, opens the page in headless Chromium (Debian's
`chromium` package), waits through the DevTools protocol until the app's screen is drawn and
its first result is in, then saves a PNG. `--virtual-time-budget` alone is not enough: the app
is a separate process, and virtual time runs ahead of it. Needs the web extra (textual-serve,
which brings aiohttp, used here as the DevTools client).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars",
]


def fail(message: str) -> None:
    sys.stderr.write(f"error: {message}\n")
    raise SystemExit(2)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port: int, process: subprocess.Popen, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while True:
        if process.poll() is not None:
            fail(f"{what} exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                fail(f"{what} did not listen on port {port} within {seconds:.0f} s")
            time.sleep(0.2)


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, ws) -> None:
        self.ws = ws
        self.ids = itertools.count(1)

    async def call(self, method: str, **params):
        call_id = next(self.ids)
        await self.ws.send_str(json.dumps({"id": call_id, "method": method, "params": params}))
        while True:
            message = json.loads((await self.ws.receive()).data)
            if message.get("id") == call_id:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def evaluate(self, expression: str):
        result = await self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        return result.get("result", {}).get("value")


# Is the app drawn, and is its first result in? The terminal's DOM rows (xterm's DOM renderer)
# or, failing that, the page's first-byte class that textual.js sets on the first frame.
SCREEN_TEXT = """(() => {
  const rows = document.querySelector('.xterm-rows, .xterm-accessibility-tree');
  return JSON.stringify({
    firstByte: document.body.classList.contains('-first-byte'),
    closed: document.body.classList.contains('-closed'),
    text: rows ? rows.innerText : null,
  });
})()"""


async def capture(url: str, chromium: str, width: int, height: int, out: Path, settle: float) -> None:
    import aiohttp

    profile = tempfile.mkdtemp(prefix="attn-chromium-")
    browser = subprocess.Popen(
        [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--window-size={width},{height}",
         "--remote-debugging-port=0", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        active = Path(profile) / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not active.exists() or not active.read_text().strip():
            if browser.poll() is not None or time.monotonic() > deadline:
                fail("chromium did not start its DevTools endpoint")
            time.sleep(0.1)
        devtools_port = int(active.read_text().split()[0])
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{devtools_port}/json/list") as response:
                pages = [t for t in await response.json() if t.get("type") == "page"]
            async with session.ws_connect(pages[0]["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                tools = DevTools(ws)
                await tools.call("Emulation.setDeviceMetricsOverride", width=width, height=height,
                                 deviceScaleFactor=1, mobile=False)
                await tools.call("Page.enable")
                await tools.call("Page.navigate", url=url)
                state: dict = {}
                deadline = time.monotonic() + 90
                while time.monotonic() < deadline:
                    state = json.loads(await tools.evaluate(SCREEN_TEXT) or "{}")
                    text = state.get("text") or ""
                    if state.get("closed"):
                        fail("the app's session ended before the screenshot (see the server output)")
                    drawn = not state.get("text") or ("Prompt" in text and "loading" not in text)
                    if state.get("firstByte") and drawn:
                        break
                    await asyncio.sleep(0.5)
                else:
                    fail(f"the app never drew its screen in the browser: {state}")
                await asyncio.sleep(settle)  # the first result replaces the loading state; fonts settle
                shot = await tools.call("Page.captureScreenshot", format="png")
                out.parent.mkdir(parents=True, exist_ok=True)
                out.write_bytes(base64.b64decode(shot["data"]))
                with contextlib.suppress(Exception):  # the browser may close the socket first
                    await tools.call("Browser.close")
    finally:
        if browser.poll() is None:
            os.killpg(browser.pid, signal.SIGTERM)
        try:
            browser.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(browser.pid, signal.SIGKILL)
        shutil.rmtree(profile, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "screenshots" / "browser.png")
    parser.add_argument("--width", type=int, default=1400)
    parser.add_argument("--height", type=int, default=900)
    parser.add_argument("--settle", type=float, default=6.0,
                        help="seconds to wait after the first frame (default: 6)")
    args, state_flags = parser.parse_known_args(argv)

    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if chromium is None:
        fail("chromium not found: apt-get install -y chromium")
    try:
        import aiohttp  # noqa: F401
    except ImportError:
        fail("needs the web extra: pip install -e '.[web]'")

    port = free_port()
    paths = [str(ROOT), os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, paths))}
    log = Path(tempfile.mkdtemp(prefix="attn-serve-")) / "server.log"
    with log.open("wb") as sink:
        server = subprocess.Popen(
            [sys.executable, "-m", "attn_tui", "--serve", "--port", str(port), *state_flags],
            stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT, env=env, start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_listening(port, server, 60, "attn-tui --serve")
        asyncio.run(capture(url, chromium, args.width, args.height, args.out, args.settle))
    except SystemExit:
        sys.stderr.write(log.read_text(errors="replace")[-3000:])
        raise
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                server.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)  # the group started here: the server and its apps
        shutil.rmtree(log.parent, ignore_errors=True)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
