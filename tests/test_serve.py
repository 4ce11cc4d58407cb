"""`attn-tui --serve`, for real: server subprocesses on free loopback ports, the page, the websocket,
and every way a visitor or another web site could push it: forged Host and Origin headers (DNS
rebinding), non-loopback binds, too many sessions, huge terminals, malformed messages, files
written on the server."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from attn_tui import serve as serve_module
from attn_tui.cli import build_parser, config_from_args
from attn_tui.config import DEFAULTS, AttentionConfig
from attn_tui.serve import (
    MAX_HEIGHT,
    MAX_WIDTH,
    app_command,
    bind_is_loopback,
    clamp_size,
    host_allowed,
    same_origin,
)

try:
    import aiohttp
    import textual_serve  # noqa: F401
except ImportError:  # the web extra is optional; the tests that need it say so in the summary
    aiohttp = None

ROOT = Path(__file__).resolve().parents[1]
needs_web = pytest.mark.skipif(aiohttp is None, reason="textual-serve (the web extra) is not installed")
START_FLAGS = ["--prompt", "served in a browser", "--heads", "2", "--causal"]
SCREEN = (b"attn-tui", b"Prompt")
"""Bytes every drawn explorer screen contains."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env() -> dict[str, str]:
    out = dict(os.environ)
    out["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), out.get("PYTHONPATH")]))
    out.pop("NO_COLOR", None)
    return out


def run_cli(*args: str, timeout: float = 60, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "attn_tui", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=cwd, env=env())


def files_under(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.name != "server.log")


# ── Without a server ─────────────────────────────────────────────────────────────────────────


def test_app_command_is_this_python_and_the_state_flags():
    config = DEFAULTS.replace(prompt="it's -a test", heads=2, causal=True, seed=-3)
    # exec: no shell left between; attn_tui.serve: the app, bounded (memory 0: files only).
    start = ["exec", sys.executable, "-m", "attn_tui.serve", "--memory"]
    argv = shlex.split(app_command(config, "toy", memory_mib=3072))
    assert argv[:7] == [*start, "3072", "--"]
    assert config_from_args(build_parser().parse_args(argv[7:])) == config
    assert shlex.split(app_command(DEFAULTS)) == [*start, "0", "--"]
    assert shlex.split(app_command(DEFAULTS, "minilm", None))[7:] == ["--model", "minilm"]


def test_missing_textual_serve_is_one_line_and_exit_2():
    code = ("import sys; sys.modules['textual_serve'] = None; sys.modules['textual_serve.server'] = None; "
            "from attn_tui.cli import main; sys.exit(main(['--serve', '--port', '1']))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=ROOT,
                         env=env())
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("error: ")
    assert "pip install 'attn-tui[web]'" in out.stderr


def test_default_bind_is_loopback_and_the_limits_are_small():
    args = build_parser().parse_args(["--serve"])
    assert args.host == "127.0.0.1" and not args.allow_remote
    assert args.max_sessions == serve_module.DEFAULT_MAX_SESSIONS == 4
    assert args.session_memory == serve_module.DEFAULT_SESSION_MEMORY_MIB
    assert isinstance(config_from_args(args), AttentionConfig)


ACCEPTED_HOSTS = ["127.0.0.1:8000", "127.0.0.1", "localhost:8000", "LOCALHOST:8000", "127.0.0.2:8000",
                  "127.255.255.254", "[::1]:8000", "[::1]", "[::ffff:127.0.0.1]:8000", "[::ffff:7f00:1]:8000"]
REFUSED_HOSTS = [
    "127.evil.example:8000",  # issue 12: any name starting "127." counted as loopback
    "127.0.0.1.evil.example",
    "localhost.evil.example",
    "evil.example:8000",
    "localhost.:8000",  # a trailing dot is a different name to DNS
    "127.0.0.1.:8000",
    "0x7f.1:8000", "127.1:8000", "2130706433:8000", "0177.0.0.1:8000", "127.000.000.001",  # not literal
    "user@127.0.0.1:8000", "127.0.0.1:8000@evil.example", "evil.example#@127.0.0.1",
    "::1", "::1:8000", "[::1", "[127.0.0.1]:8000", "[evil.example]:8000",  # malformed IPv6
    "[::ffff:10.0.0.1]:8000", "10.0.0.1:8000", "0.0.0.0:8000", "[::]:8000",
    "127.0.0.1:", "127.0.0.1:http", "127.0.0.1:99999", "127.0.0.1:0", "127.0.0.1:8000:8000",
    "127.0.0.1 :8000", " 127.0.0.1", "127.0.0.1/x", "", None,
]


@pytest.mark.parametrize("host", ACCEPTED_HOSTS)
def test_loopback_host_headers_are_accepted(host):
    assert host_allowed(host, loopback_only=True)


@pytest.mark.parametrize("host", REFUSED_HOSTS)
def test_other_host_headers_are_refused_on_loopback(host):
    assert not host_allowed(host, loopback_only=True)


def test_a_remote_server_accepts_any_well_formed_host_only():
    assert host_allowed("attn.example:8000", loopback_only=False)
    assert host_allowed("192.0.2.7", loopback_only=False)
    for host in ("", None, "user@attn.example", "a b", "attn.example:x", "::1"):
        assert not host_allowed(host, loopback_only=False), host


@pytest.mark.parametrize(("origin", "host", "same"), [
    ("http://127.0.0.1:8000", "127.0.0.1:8000", True),
    ("http://LOCALHOST:8000", "localhost:8000", True),
    ("http://[::1]:8000", "[::1]:8000", True),
    ("http://attn.example", "attn.example", True),
    ("http://attn.example:80", "attn.example", True),
    ("https://attn.example", "attn.example", True),  # behind a TLS proxy: the page's own origin
    ("https://evil.example", "127.0.0.1:8000", False),
    ("http://127.evil.example:8000", "127.evil.example:8000", True),  # same site; the Host check refuses it
    ("http://localhost:8000", "127.0.0.1:8000", False),
    ("http://127.0.0.1:8001", "127.0.0.1:8000", False),
    ("http://127.0.0.1:8000@evil.example", "127.0.0.1:8000", False),
    ("http://evil.example@127.0.0.1:8000", "127.0.0.1:8000", False),
    ("http://127.0.0.1:8000/", "127.0.0.1:8000", False),
    ("null", "127.0.0.1:8000", False),
    ("file://", "127.0.0.1:8000", False),
    ("chrome-extension://abc", "127.0.0.1:8000", False),
    ("ws://127.0.0.1:8000", "127.0.0.1:8000", False),
    ("", "127.0.0.1:8000", False),
])
def test_origin_must_be_the_page_the_server_served(origin, host, same):
    assert same_origin(origin, host) is same


def test_which_binds_are_loopback():
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1"):
        assert bind_is_loopback(host), host
    for host in ("0.0.0.0", "::", ""):
        assert not bind_is_loopback(host), host
    lan = _lan_address()
    if lan:
        assert not bind_is_loopback(lan)
    with pytest.raises(serve_module.ServeError, match="cannot resolve"):
        bind_is_loopback("no-such-host.invalid")


def _lan_address() -> str | None:
    """This machine's address on its network (no packet is sent), or None."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))
        except OSError:
            return None
        address = s.getsockname()[0]
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_sizes_from_the_browser_are_clamped():
    assert clamp_size(120, 40) == (120, 40)
    assert clamp_size("120", "40") == (120, 40)
    assert clamp_size(100_000, 20_000) == (MAX_WIDTH, MAX_HEIGHT) == (500, 200)
    assert clamp_size("100000000000000000000", "9" * 400) == (80, 24)  # not a plausible number: the default
    assert clamp_size(-5, 0) == (1, 1)
    assert clamp_size(None, None) == (80, 24)
    assert clamp_size("x", 1.5) == (80, 24)
    assert clamp_size(True, [3]) == (80, 24)


async def test_the_browsers_messages_reach_the_app_clamped_and_junk_is_dropped():
    from aiohttp import WSMsgType

    class Message:
        def __init__(self, data: str, kind: WSMsgType = WSMsgType.TEXT) -> None:
            self.type, self.data = kind, data

        def json(self) -> object:
            return json.loads(self.data)

    class Socket:
        def __init__(self, *texts: str) -> None:
            self.messages = [Message(t) for t in texts] + [Message("x", WSMsgType.BINARY)]
            self.sent: list[object] = []

        def __aiter__(self):
            return self._each()

        async def _each(self):
            for message in self.messages:
                yield message

        async def send_json(self, data: object) -> None:
            self.sent.append(data)

    calls: list[tuple[object, ...]] = []

    class Service:
        async def send_bytes(self, data: bytes) -> None:
            calls.append(("stdin", data))

        async def set_terminal_size(self, width: int, height: int) -> None:
            calls.append(("resize", width, height))

        async def focus(self) -> None:
            calls.append(("focus",))

        async def blur(self) -> None:
            calls.append(("blur",))

    junk = ["not json", "{}", "[]", '[["stdin"], "x"]', '[{"a": 1}]', '["stdin", 5]', '["resize", "x"]',
            '["resize", [1, 2]]', '["quit"]', '["stdin", "a", "b"]', "null", '"stdin"']
    ws = Socket('["stdin", "a\\ud800b"]', *junk, '["resize", {"width": 100000, "height": 20000}]',
                '["resize", {"width": "abc", "height": null}]', '["focus"]', '["blur"]', '["ping", "7"]')
    await serve_module.relay(ws, Service())
    assert calls == [("stdin", b"a?b"), ("resize", 500, 200), ("resize", 80, 24), ("focus",), ("blur",)]
    assert ws.sent == [["pong", "7"]]


def test_a_served_app_has_its_memory_capped_and_cannot_write_files(tmp_path):
    """The command textual-serve runs: `python -m attn_tui.serve --memory MIB -- FLAGS` is the app
    with RLIMIT_DATA set and RLIMIT_FSIZE 0, so even a write that slipped past the export flow fails."""
    def child(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "attn_tui.serve", "--memory", "1024", "--", *args],
                              capture_output=True, text=True, timeout=120, cwd=tmp_path, env=env())

    out = child("--json", "--prompt", "a b c")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["words"] == ["a", "b", "c"]
    out = child("--export", "json", "--prompt", "a b c")
    assert out.returncode == 2 and "File too large" in out.stderr
    assert not (tmp_path / "attn-result.json").exists()
    code = ("import resource; from attn_tui.serve import limit_this_process; limit_this_process(700); "
            "print(resource.getrlimit(resource.RLIMIT_DATA)[0] >> 20, resource.getrlimit(resource.RLIMIT_FSIZE)[0])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env())
    assert out.stdout.split() == ["700", "0"]
    # --session-memory 0: no data cap, files still barred.
    code = code.replace("limit_this_process(700)", "limit_this_process(None)").replace(
        "resource.getrlimit(resource.RLIMIT_DATA)[0] >> 20", "resource.getrlimit(resource.RLIMIT_DATA)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env())
    import resource

    assert out.stdout.strip() == f"{resource.getrlimit(resource.RLIMIT_DATA)} 0"


# ── Refusals before serving ──────────────────────────────────────────────────────────────────


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


@needs_web
@pytest.mark.parametrize("host", ["0.0.0.0", "::", "", "lan"])
def test_a_non_loopback_bind_needs_allow_remote(host, tmp_path):
    if host == "lan":
        host = _lan_address() or pytest.skip("no network address on this machine")
    out = run_cli("--serve", "--host", host, "--port", str(free_port()), timeout=30, cwd=tmp_path)
    assert out.returncode == 2, out.stdout + out.stderr
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("error: --host ")
    assert "not a loopback address" in out.stderr and "--allow-remote" in out.stderr
    assert out.stdout == ""


@needs_web
@pytest.mark.parametrize(("flags", "message"), [
    (["--max-sessions", "0"], "--max-sessions 0 is out of range"),
    (["--max-sessions", "1000"], "--max-sessions 1000 is out of range"),
    (["--session-memory", "10"], "--session-memory 10 is too small"),
    (["--port", "70000"], "--port 70000 is out of range"),
])
def test_bad_limits_are_one_line_and_exit_2(flags, message):
    out = run_cli("--serve", *flags, timeout=30)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and message in out.stderr


# ── A real server ────────────────────────────────────────────────────────────────────────────


class Served:
    """A running `attn-tui --serve` subprocess and what it printed."""

    def __init__(self, port: int, process: subprocess.Popen[bytes], log: Path, cwd: Path) -> None:
        self.port = port
        self.process = process
        self.log = log
        self.cwd = cwd
        """The server's working folder: nothing may appear in it."""
        self.url = f"http://127.0.0.1:{port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def apps(self) -> list[int]:
        """The pids of the app processes the server runs now."""
        out = []
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                with contextlib.suppress(OSError):
                    stat = (entry / "stat").read_text()
                    if int(stat.rsplit(")", 1)[1].split()[1]) == self.process.pid:
                        out.append(int(entry.name))
        return out


@contextlib.contextmanager
def start_server(cwd: Path, *flags: str, host: str = "127.0.0.1") -> Iterator[Served]:
    """`attn-tui --serve` in `cwd` on a free port, until the block ends (then it and its apps are gone)."""
    port = free_port()
    log = cwd / "server.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "attn_tui", "--serve", "--host", host, "--port", str(port), *flags],
            stdout=sink, stderr=subprocess.STDOUT, cwd=cwd, env={**env(), "COLUMNS": "200"},
            start_new_session=True,  # its own process group, so the apps it starts go with it
        )
    server = Served(port, process, log, cwd)
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
            os.killpg(process.pid, signal.SIGKILL)  # the group this helper started, and only it
        process.wait(timeout=15)


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    with start_server(tmp_path_factory.mktemp("serve"), *START_FLAGS) as server:
        yield server


def raw_request(port: int, request: bytes) -> tuple[int, bytes]:
    """Send one raw HTTP request; (status, whole response). Nothing about it is left to a client library."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and not data.startswith(b"HTTP/1.1 200"):
                break
    match = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    assert match, data[:200]
    return int(match.group(1)), data


def get(port: int, path: str, headers: dict[str, str]) -> int:
    lines = [f"GET {path} HTTP/1.1", *(f"{k}: {v}" for k, v in headers.items()), "Connection: close", "", ""]
    return raw_request(port, "\r\n".join(lines).encode("latin-1"))[0]


WS_HEADERS = {"Upgrade": "websocket", "Connection": "Upgrade", "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


@needs_web
async def test_the_page_points_the_browser_at_the_websocket(served):
    async with aiohttp.ClientSession() as session, session.get(served.url + "/") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    assert f"ws://127.0.0.1:{served.port}/ws" in page
    assert "textual.js" in page
    assert "-m attn_tui.serve --memory 3072 -- --prompt 'served in a browser' --heads 2 --causal" in served.output()


async def screen_bytes(served: Served, *, want: tuple[bytes, ...] = SCREEN, seconds: float = 60.0,
                       query: str = "width=120&height=40", send: list[object] | None = None) -> bytes:
    """Connect like the page does and collect the app's terminal output until `want` all appear.

    Gives up early when the server reports that the app failed to start (textual-serve keeps
    the websocket open even then).
    """
    async with aiohttp.ClientSession() as session, session.ws_connect(
        served.url.replace("http", "ws") + "/ws?" + query, headers={"Origin": served.url}
    ) as ws:
        for message in send or [["resize", {"width": 120, "height": 40}]]:
            await (ws.send_str(message) if isinstance(message, str) else ws.send_str(json.dumps(message)))
        return await collect(served, ws, want, seconds)


async def collect(served: Served, ws: aiohttp.ClientWebSocketResponse, want: tuple[bytes, ...],
                  seconds: float, texts: list[object] | None = None) -> bytes:
    """The app's output on `ws` until every `want` has appeared (or `seconds` pass, or it closes);
    text messages (deliveries) go to `texts`."""
    got = bytearray()
    failures = served.output().count("Application failed to start")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not all(w in got for w in want) and loop.time() < deadline:
        if not got and served.output().count("Application failed to start") > failures:
            break
        try:
            message = await asyncio.wait_for(ws.receive(), 1.0)
        except asyncio.TimeoutError:
            continue
        if message.type == aiohttp.WSMsgType.BINARY:
            got += message.data
        elif message.type == aiohttp.WSMsgType.TEXT and texts is not None:
            texts.append(json.loads(message.data))
        elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
            break
    return bytes(got)


@needs_web
async def test_a_websocket_client_receives_the_apps_screen(served):
    # Not skipped on failure: an app that crashes under the web driver must fail this test.
    got = await screen_bytes(served)
    missing = [w.decode() for w in SCREEN if w not in got]
    assert not missing, (
        f"the app's screen never showed {missing} ({len(got)} bytes received); server output:\n"
        + served.output()[-4000:]
    )
    assert b"\x1b[" in got  # terminal drawing, not an error page


@needs_web
async def test_each_connection_runs_its_own_app(served):
    first, second = await asyncio.gather(screen_bytes(served), screen_bytes(served))
    assert all(w in first for w in SCREEN) and all(w in second for w in SCREEN), served.output()[-4000:]


# -- issue 12, item 1: DNS rebinding, forged Host and Origin ----------------------------------


@needs_web
@pytest.mark.parametrize("path", ["/", "/ws", "/static/js/textual.js", "/download/0123"])
@pytest.mark.parametrize("host", ["127.evil.example", "evil.example", "localhost.", "127.0.0.1.", "0x7f.1",
                                  "user@127.0.0.1"])
def test_a_rebound_or_forged_host_is_refused_everywhere(served, path, host):
    headers = {"Host": f"{host}:{served.port}", **(WS_HEADERS if path == "/ws" else {})}
    if path == "/ws":
        headers["Origin"] = f"http://{host}:{served.port}"  # the rebinding page's own origin
    assert get(served.port, path, headers) == 403


@needs_web
def test_a_request_without_host_is_refused(served):
    status, _ = raw_request(served.port, b"GET / HTTP/1.0\r\n\r\n")
    assert status == 403


@needs_web
@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]"])
def test_loopback_names_reach_the_page(served, host):
    assert get(served.port, "/", {"Host": f"{host}:{served.port}"}) == 200


@needs_web
@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:{port}@evil.example",
                                    "http://evil.example@127.0.0.1:{port}", "http://localhost:{port}",
                                    "http://127.0.0.1:1"])
def test_a_page_from_another_site_cannot_open_the_websocket(served, origin):
    headers = {"Host": f"127.0.0.1:{served.port}", "Origin": origin.format(port=served.port), **WS_HEADERS}
    assert get(served.port, "/ws", headers) == 403


@needs_web
async def test_a_websocket_from_another_site_is_refused_by_a_real_client(served):
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await session.ws_connect(served.url.replace("http", "ws") + "/ws",
                                     headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403


@needs_web
def test_a_visitors_text_in_the_servers_log_is_shown_not_obeyed(served):
    """The access log quotes User-Agent and Referer: a C1 CSI (U+009B) or a bidi override there must
    not reach the operator's terminal (issue 12's item 6, on the server's side)."""
    request = (f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{served.port}\r\nReferer: a\u202eb\r\n"
               "User-Agent: x\u009b2Jy\r\nConnection: close\r\n\r\n").encode()
    assert raw_request(served.port, request)[0] == 200
    deadline = time.monotonic() + 10
    while "x⟨009b⟩2Jy" not in served.output() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = served.output()
    assert "x⟨009b⟩2Jy" in log and "a⟨202e⟩b" in log
    assert "\u009b" not in log and "\u202e" not in log and "\x1b" not in log


def test_unfetched_downloads_of_an_ended_app_are_forgotten():
    class Download:
        def __init__(self, service: object) -> None:
            self.app_service = service

    class Manager:
        def __init__(self) -> None:
            self._active_downloads = {"a": Download("gone"), "b": Download("alive"), "c": Download("gone")}

    manager = Manager()
    serve_module._forget_downloads(manager, "gone")
    assert list(manager._active_downloads) == ["b"]


# -- issue 12, item 2: exports are downloads, never files on the server -----------------------


async def deliveries(served: Served, keys: list[str], count: int, seconds: float = 90) -> list[tuple[str, bytes]]:
    """Open a session, wait for the screen, type `keys` (one websocket message each), and fetch the
    first `count` files the app delivers: [(file name, contents)]."""
    texts: list[object] = []
    out = []
    async with aiohttp.ClientSession() as session, session.ws_connect(
        served.url.replace("http", "ws") + "/ws?width=120&height=40", headers={"Origin": served.url}
    ) as ws:
        # The inspector's arithmetic: the first result is on screen, so there is something to export.
        screen = await collect(served, ws, (*SCREEN, b"softmax of row"), 90)
        assert b"softmax of row" in screen, served.output()[-3000:]
        for key in keys:
            await ws.send_str(json.dumps(["stdin", key]))
            await asyncio.sleep(0.4)  # a lone escape is a key only after a pause
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        while len(out) < count and loop.time() < deadline:
            await collect(served, ws, (b"\x00never",), 1, texts)
            while texts:
                kind, key = texts.pop(0)  # type: ignore[misc]
                assert kind == "deliver_file_start"
                async with session.get(f"{served.url}/download/{key}") as response:
                    assert response.status == 200
                    name = re.search(r'filename="?([^";]+)', response.headers["Content-Disposition"])
                    out.append((name.group(1) if name else "", await response.read()))
    return out


@needs_web
async def test_a_served_export_is_a_download_and_writes_nothing_on_the_server(served):
    # escape: to the grid; e: the dialog; j: JSON.
    (name, body), = await deliveries(served, ["\x1b", "e", "j"], 1)
    assert name == "attn-result.json"
    state = json.loads(body)
    assert state["prompt"] == "served in a browser" and state["config"]["heads"] == 2
    assert files_under(served.cwd) == []


@needs_web
async def test_the_screen_svg_and_the_palettes_exports_are_downloads_too(served):
    # e s: the screen as SVG; then the palette's direct command (ctrl+p, its name, enter).
    files = await deliveries(served, ["\x1b", "e", "s", "\x10", "Export: NumPy", "\r"], 2)
    by_name = dict(files)
    assert set(by_name) == {"attn-screen.svg", "attn-result.npz"}, list(by_name)
    assert by_name["attn-screen.svg"].startswith(b"<svg")
    import numpy as np

    arrays = np.load(io.BytesIO(by_name["attn-result.npz"]))
    assert arrays["weights"].shape == (2, 4, 4)
    assert files_under(served.cwd) == []


async def test_the_export_flow_delivers_in_memory_when_served(tmp_path, monkeypatch):
    """The flow itself, without a server: with `is_web` every kind goes to `deliver_binary`, the dialog
    names the browser instead of a folder, and nothing is written to the working folder."""
    from textual.app import App
    from textual.widgets import Label

    from attn_tui.app import AttnApp
    from attn_tui.screens import export as export_screen

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(App, "is_web", property(lambda self: True))
    delivered: list[tuple[str, bytes]] = []
    notes: list[str] = []
    notify = App.notify
    monkeypatch.setattr(App, "notify", lambda self, message, **kw: (notes.append(str(message)),
                                                                   notify(self, message, **kw))[1])
    monkeypatch.setattr(App, "deliver_binary",
                        lambda self, file, save_filename=None, **kw: delivered.append((save_filename, file.read())))
    app = AttnApp(prompt="the cat sat", heads=2)
    async with app.run_test(size=(120, 40)) as pilot:
        while app.result is None or app.computing:
            await pilot.pause(0.05)
        app.action_export()
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, export_screen.ExportScreen) and dialog.downloads
        assert "browser" in str(dialog.query_one("#export-folder", Label).render())
        await pilot.press("c")
        for kind in ("json", "grid", "script", "screen"):
            app.action_export_as(kind)
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        names = [name for name, _ in delivered]
        assert sorted(names) == ["attn-result.json", "attn-screen.svg", "attn-script.py",
                                 "attn-weights-head1.csv", "attn-weights-head1.svg"]
        assert dict(delivered)["attn-weights-head1.csv"].startswith(b"query \\ key,0:the,1:cat,2:sat\n")
        monkeypatch.setattr(export_screen, "MAX_DOWNLOAD_BYTES", 1000)
        delivered.clear()
        app.action_export_as("json")
        await app.workers.wait_for_complete()
        await pilot.pause(0.2)
        assert delivered == []
        assert any("too large to send" in note for note in notes), notes
    assert list(tmp_path.iterdir()) == []


# -- issue 12, item 2: a non-loopback bind, only when asked for, with a warning -----------------


@needs_web
async def test_allow_remote_serves_with_a_warning_and_still_checks_origins(tmp_path):
    with start_server(tmp_path, "--allow-remote", host="0.0.0.0") as server:
        deadline = time.monotonic() + 10
        while "warning:" not in server.output() and time.monotonic() < deadline:
            time.sleep(0.1)
        warning = server.output()
        assert "warning: --allow-remote" in warning and "NO authentication" in warning
        assert "anyone who can reach this port" in warning
        # Any name may reach it now (that is what remote means), but no other site's page may drive it.
        assert get(server.port, "/", {"Host": f"attn.example:{server.port}"}) == 200
        headers = {"Host": f"attn.example:{server.port}", "Origin": "https://evil.example", **WS_HEADERS}
        assert get(server.port, "/ws", headers) == 403


# -- issue 12, item 3: sessions, sizes and memory are bounded ---------------------------------


def vm_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(field)


def rows_drawn(screen: bytes) -> int:
    """The lowest row the app moved the cursor to (1-based): how tall it thinks its terminal is."""
    return max((int(m.group(1)) for m in re.finditer(rb"\x1b\[(\d+);\d+H", screen)), default=0)


@needs_web
async def test_sessions_are_capped_and_huge_terminals_are_clamped(tmp_path):
    with start_server(tmp_path, "--max-sessions", "1", *START_FLAGS) as server:
        ws_url = server.url.replace("http", "ws") + "/ws"
        async with aiohttp.ClientSession() as session:
            huge = "width=100000&height=20000"
            async with session.ws_connect(f"{ws_url}?{huge}", headers={"Origin": server.url},
                                          max_msg_size=0) as first:
                for message in ("not json", json.dumps(["stdin", 5]), json.dumps(["resize", "x"]),
                                json.dumps(["resize", {"width": "abc", "height": None}]), json.dumps([]),
                                json.dumps(["resize", {"width": 100_000, "height": 20_000}])):
                    await first.send_str(message)
                screen = await collect(server, first, SCREEN, 60)
                assert all(w in screen for w in SCREEN), server.output()[-3000:]
                await asyncio.sleep(2)
                screen += await collect(server, first, (b"\x00never",), 3)
                assert rows_drawn(screen) == MAX_HEIGHT  # clamped to 500 × 200, not 20,000 rows
                (app,) = server.apps()
                assert vm_kib(app, "VmHWM") < 700 * 1024  # a normal session: about 250 MB
                limits = Path(f"/proc/{app}/limits").read_text()
                assert re.search(rf"Max data size\s+{3072 << 20}\s", limits)
                assert re.search(r"Max file size\s+0\s", limits)

                # The second visitor is told, in the terminal, and the socket closes "try again later".
                async with session.ws_connect(ws_url, headers={"Origin": server.url}) as second:
                    refusal = await collect(server, second, (b"\x00never",), 10)
                    assert b"already runs 1 sessions, its limit" in refusal
                    assert second.close_code == 1013
                assert server.apps() == [app]
            # The first has gone: its app ends and its place is free again.
            deadline = time.monotonic() + 20
            while server.apps() and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
            assert server.apps() == []
            third = await screen_bytes(server)
            assert all(w in third for w in SCREEN)


def test_security_md_and_the_readme_state_the_bounds_the_code_has():
    from attn_tui.screens.export import MAX_DOWNLOAD_BYTES

    security = (ROOT / "SECURITY.md").read_text(encoding="utf-8")
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for text in (security, readme):
        assert f"{MAX_WIDTH} × {MAX_HEIGHT}" in text
        assert "--allow-remote" in text and "--max-sessions" in text and "--session-memory" in text
    assert f"--max-sessions {serve_module.DEFAULT_MAX_SESSIONS}" in readme
    assert f"--session-memory {serve_module.DEFAULT_SESSION_MEMORY_MIB}` MiB" in readme
    assert f"`RLIMIT_DATA` of {serve_module.DEFAULT_SESSION_MEMORY_MIB} MiB" in security
    assert f"| apps running at once | {serve_module.DEFAULT_MAX_SESSIONS};" in security
    assert f"| one download | {MAX_DOWNLOAD_BYTES >> 20} MiB" in security
    assert f"killed {serve_module.STOP_SECONDS:g} s after" in security
    assert serve_module.remote_warning("0.0.0.0", 8000, serve_module.Limits()).startswith(
        "warning: --allow-remote: serving on 0.0.0.0 port 8000 over plain HTTP with NO authentication")
    assert "warning: --allow-remote: serving on 0.0.0.0 port 8000 over plain HTTP with NO authentication:" in security
