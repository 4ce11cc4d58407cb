"""`attn-tui --serve`, for real: a server subprocess on a free loopback port, the page, the websocket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from attn_tui.cli import build_parser, config_from_args
from attn_tui.config import DEFAULTS, AttentionConfig
from attn_tui.serve import app_command

try:
    import aiohttp
    import textual_serve  # noqa: F401
except ImportError:  # the web extra is optional; the tests that need it say so in the summary
    aiohttp = None

ROOT = Path(__file__).resolve().parents[1]
needs_web = pytest.mark.skipif(aiohttp is None, reason="textual-serve (the web extra) is not installed")
START_FLAGS = ["--prompt", "served in a browser", "--heads", "2", "--causal"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), out.get("PYTHONPATH")]))
    out.pop("NO_COLOR", None)
    return out


def run_cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "attn_tui", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env())


# ── Without a server ─────────────────────────────────────────────────────────────────────────


def test_app_command_is_this_python_and_the_state_flags():
    config = DEFAULTS.replace(prompt="it's -a test", heads=2, causal=True, seed=-3)
    argv = shlex.split(app_command(config, "toy"))
    assert argv[:3] == [sys.executable, "-m", "attn_tui"]
    assert config_from_args(build_parser().parse_args(argv[3:])) == config
    assert shlex.split(app_command(DEFAULTS)) == [sys.executable, "-m", "attn_tui"]
    assert shlex.split(app_command(DEFAULTS, "minilm"))[3:] == ["--model", "minilm"]


def test_missing_textual_serve_is_one_line_and_exit_2():
    code = ("import sys; sys.modules['textual_serve'] = None; sys.modules['textual_serve.server'] = None; "
            "from attn_tui.cli import main; sys.exit(main(['--serve', '--port', '1']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env=env())
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("error: ")
    assert "pip install 'attn-tui[web]'" in out.stderr


@needs_web
def test_port_in_use_is_one_line_and_exit_2():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = run_cli("--serve", "--port", str(port))
    assert out.returncode == 2
    assert f"error: cannot serve on 127.0.0.1:{port}" in out.stderr
    assert "Traceback" not in out.stderr + out.stdout


# ── A real server ────────────────────────────────────────────────────────────────────────────


class Served:
    """A running `attn-tui --serve` subprocess and what it printed."""

    def __init__(self, port: int, process: subprocess.Popen[bytes], log: Path) -> None:
        self.port = port
        self.process = process
        self.log = log
        self.url = f"http://127.0.0.1:{port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("serve") / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "attn_tui", "--serve", "--port", str(port), *START_FLAGS],
            stdout=sink, stderr=subprocess.STDOUT, cwd=ROOT, env={**env(), "COLUMNS": "200"},
            start_new_session=True,  # its own process group, so the apps it starts go with it
        )
    server = Served(port, process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                pytest.fail(f"the server exited with {process.returncode}:\n{server.output()}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail(f"the server did not listen within 60 s:\n{server.output()}")
                time.sleep(0.2)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)  # textual-serve's graceful exit: apps get "quit"
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # the group this fixture started, and only it
        process.wait(timeout=15)


@needs_web
async def test_the_page_points_the_browser_at_the_websocket(served):
    async with aiohttp.ClientSession() as session, session.get(served.url + "/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    assert f"ws://127.0.0.1:{served.port}/ws" in page
    assert "textual.js" in page
    assert "-m attn_tui --prompt 'served in a browser' --heads 2 --causal" in served.output()


async def screen_bytes(served: Served, *, want: tuple[bytes, ...], seconds: float = 60.0) -> bytes:
    """Connect like the page does and collect the app's terminal output until `want` all appear.

    Gives up early when the server reports that the app failed to start (textual-serve keeps
    the websocket open even then).
    """
    url = served.url
    got = bytearray()
    failures = served.output().count("Application failed to start")
    async with aiohttp.ClientSession() as session, session.ws_connect(
        url.replace("http", "ws") + "/ws?width=120&height=40", headers={"Origin": url}
    ) as ws:
        await ws.send_str(json.dumps(["resize", {"width": 120, "height": 40}]))
        deadline = asyncio.get_running_loop().time() + seconds
        while not all(w in got for w in want):
            if asyncio.get_running_loop().time() > deadline:
                break
            if not got and served.output().count("Application failed to start") > failures:
                break
            try:
                message = await asyncio.wait_for(ws.receive(), 1.0)
            except asyncio.TimeoutError:
                continue
            if message.type == aiohttp.WSMsgType.BINARY:
                got += message.data
            elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                break
    return bytes(got)


@needs_web
async def test_a_websocket_client_receives_the_apps_screen(served):
    # Not skipped on failure: an app that crashes under the web driver must fail this test.
    want = (b"attn-tui", b"Prompt")
    got = await screen_bytes(served, want=want)
    missing = [w.decode() for w in want if w not in got]
    assert not missing, (
        f"the app's screen never showed {missing} ({len(got)} bytes received); server output:\n"
        + served.output()[-4000:]
    )
    assert b"\x1b[" in got  # terminal drawing, not an error page


@needs_web
async def test_each_connection_runs_its_own_app(served):
    want = (b"attn-tui", b"Prompt")
    first, second = await asyncio.gather(screen_bytes(served, want=want), screen_bytes(served, want=want))
    assert all(w in first for w in want) and all(w in second for w in want), served.output()[-4000:]


@needs_web
async def test_a_page_from_another_site_cannot_open_the_websocket(served):
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(served.url.replace("http", "ws") + "/ws",
                                     headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403


@needs_web
async def test_a_rebound_host_name_is_refused(served):
    async with aiohttp.ClientSession() as session, session.get(
        served.url + "/", headers={"Host": f"evil.example:{served.port}"}
    ) as response:
        assert response.status == 403


def test_default_bind_is_loopback():
    parser = build_parser()
    args = parser.parse_args(["--serve"])
    assert args.host == "127.0.0.1"
    config = config_from_args(args)
    assert isinstance(config, AttentionConfig)
