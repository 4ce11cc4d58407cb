"""`attn-tui --serve`: the explorer in a web browser, through textual-serve (the `web` extra).

Every browser connection starts its own app process with the starting state's flags, so visitors
never share or disturb each other's state. What a visitor can reach, and how it is bounded
(SECURITY.md says the same for users):

- **Where it listens.** Loopback unless `allow_remote` (the CLI's `--allow-remote`) says otherwise;
  there is no authentication, so a non-loopback bind is refused without it.
- **Who may talk to it.** On a loopback bind every request must name the server by a literal
  loopback address or `localhost` in its Host header, so a web page that re-points its own name
  at 127.0.0.1 (DNS rebinding) is refused; the websocket accepts only pages the server served
  itself (its Origin must be the Host), since websockets ignore the same-origin rule.
- **How much.** At most `max_sessions` apps at once (the next connection is told the server is
  busy), terminal sizes clamped to `MAX_WIDTH` × `MAX_HEIGHT` wherever the browser gives one, and
  each app's memory capped by the kernel (`RLIMIT_DATA`), which also forbids it to write files
  (`RLIMIT_FSIZE` 0): in the browser, exports are downloads (`screens/export.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import ipaddress
import logging
import os
import re
import runpy
import shlex
import socket
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TextIO

from attn_tui.argv import command_flags
from attn_tui.config import AttentionConfig
from attn_tui.text import printable

log = logging.getLogger("attn-tui.serve")

MAX_WIDTH, MAX_HEIGHT = 500, 200
"""The largest terminal an app is given, in cells: a 4K screen at a 7-pixel font is about 550 × 155.
A 100,000 × 20,000 resize once pushed one app past 3 GB."""
DEFAULT_MAX_SESSIONS = 4
"""Apps at once, by default: each is a Python process with torch, about 250 MB idle (SECURITY.md)."""
MAX_SESSIONS_CEILING = 64
DEFAULT_SESSION_MEMORY_MIB = 3072
"""Each app's data (heap, stacks, tensors) is capped at this many MiB. The largest legitimate
sessions measured 1.5 GB (SmolLM2 at 250 tokens, its JSON export rendered for download) and 1.35 GB
(the toy at 2,048 words × 8 heads with both models loaded); SECURITY.md has the table. Beyond the
cap an allocation fails: the app says "could not compute" (or ends), the server lives on."""
STOP_SECONDS = 10.0
"""How long an app has to exit after the server asks it to, before it is killed."""
FORGET_SECONDS = 30.0
"""How long after an app has ended its unfetched downloads are dropped (textual-serve's own wait for a
chunk is 4 s)."""
BUSY = "attn-tui: this server already runs {n} sessions, its limit; close one or try again later."


class ServeError(RuntimeError):
    """The server cannot start; the message says why and what to do."""


# -- names: which hosts and origins are this server on loopback ---------------------------------

_REG_NAME = re.compile(r"[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9_-]*[a-z0-9])?)*")
"""A host name: labels of letters, digits, `-` and `_`, no empty label, no trailing dot."""


def split_host(value: str | None) -> tuple[str, int | None] | None:
    """A Host header (or an origin's authority) → (lower-cased host, port or None); None if malformed.

    Strict on purpose: no user info (`a@b`), no unbracketed IPv6, no empty or non-numeric port, no
    trailing dot, nothing but the host and port. IPv6 addresses come back without brackets.
    """
    if not value or value != value.strip():
        return None
    value = value.lower()
    if value.startswith("["):
        end = value.find("]")
        if end < 0:
            return None
        name, rest = value[1:end], value[end + 1:]
        try:
            ipaddress.IPv6Address(name)
        except ValueError:
            return None
    else:
        name, colon, port_text = value.partition(":")
        rest = colon + port_text
        if not _REG_NAME.fullmatch(name):
            return None
    if not rest:
        return name, None
    if not re.fullmatch(r":[0-9]{1,5}", rest) or not 0 < int(rest[1:]) < 65536:
        return None
    return name, int(rest[1:])


def is_loopback_name(host: str) -> bool:
    """`localhost`, or a literal loopback address (IPv4 127/8, IPv6 ::1, IPv4-mapped ::ffff:127.x).

    Never a name that merely starts with `127.`: `127.evil.example` is whatever its owner's DNS says.
    """
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # Python < 3.13 calls ::ffff:127.0.0.1 not loopback
    return address.is_loopback


def host_allowed(header: str | None, *, loopback_only: bool) -> bool:
    """May a request with this Host header reach the server? A well-formed one always must be given;
    on a loopback bind it must also be a loopback name (a rebound name is not)."""
    parts = split_host(header)
    return parts is not None and (not loopback_only or is_loopback_name(parts[0]))


def same_origin(origin: str, host_header: str) -> bool:
    """Is `origin` (a websocket's Origin header) the page this server served at `host_header`?

    Scheme `http` or `https`, then exactly the Host's name and port (a missing port is the
    scheme's default, as browsers send both); `null`, user info, paths and other schemes are not.
    """
    scheme, sep, authority = origin.partition("://")
    if not sep or scheme.lower() not in ("http", "https"):
        return False
    default = 443 if scheme.lower() == "https" else 80
    mine, theirs = split_host(host_header), split_host(authority)
    if mine is None or theirs is None:
        return False
    return (theirs[0], theirs[1] or default) == (mine[0], mine[1] or default)


def bind_is_loopback(host: str) -> bool:
    """Does binding to `host` listen on loopback only? Every address it resolves to must be loopback
    (`localhost`, `127.0.0.2`, `::1` are; `0.0.0.0`, `::`, a LAN address and `""`, every interface,
    are not). ServeError if the name does not resolve."""
    if not host:
        return False
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise ServeError(f"--host {host}: cannot resolve it: {getattr(error, 'strerror', None) or error}") from None
    return all(is_loopback_name(str(info[4][0]).split("%")[0]) for info in infos)


def clamp_size(width: object, height: object, default: tuple[int, int] = (80, 24)) -> tuple[int, int]:
    """A terminal size from the browser → one an app may have: whole numbers, 1…MAX_WIDTH × 1…MAX_HEIGHT.

    Anything that is not a whole number (text, a float, a bool, null) counts as the default.
    """
    def whole(value: object, fallback: int) -> int:
        if isinstance(value, str) and re.fullmatch(r"\s*[+-]?[0-9]{1,12}\s*", value):
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return fallback

    return (min(max(whole(width, default[0]), 1), MAX_WIDTH),
            min(max(whole(height, default[1]), 1), MAX_HEIGHT))


# -- the app each connection runs ----------------------------------------------------------------


def app_command(config: AttentionConfig, model: str = "toy", memory_mib: int | None = None) -> str:
    """The shell command textual-serve runs for each connection: `python -m attn_tui.serve --memory MIB --`
    and the starting state's flags, which is `python -m attn_tui FLAGS` bounded (see `limit_this_process`)."""
    argv = [sys.executable, "-m", "attn_tui.serve", "--memory", str(memory_mib or 0), "--",
            *command_flags(config, model)]
    # textual-serve runs it with `sh -c`: `exec` makes the app the process it started (dash would
    # otherwise keep a shell in between, and killing that would leave the app running).
    return ("exec " if os.name == "posix" else "") + shlex.join(argv)


def limit_this_process(memory_mib: int | None) -> None:
    """Forbid this process to write files and cap its data at `memory_mib` MiB (None or 0: no cap).

    POSIX only (no-op elsewhere). RLIMIT_FSIZE 0 makes writing any byte to a regular file fail
    (EFBIG; SIGXFSZ ignored so it is an error, not a kill): a served app hands files to the browser
    and has no business on this disk. RLIMIT_DATA (heap, anonymous maps, thread stacks) rather than
    RLIMIT_AS: torch, glibc and the shared libraries map address space that holds no data (an idle
    app maps 850 MB for 270 MB of data), which RLIMIT_AS would count.
    """
    try:
        import resource
        import signal
    except ImportError:
        return
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (0, 0))
    if memory_mib:
        data = memory_mib << 20
        resource.setrlimit(resource.RLIMIT_DATA, (data, data))


def _child(argv: list[str]) -> None:
    """`python -m attn_tui.serve --memory MIB -- FLAGS`: `python -m attn_tui FLAGS`, bounded (0: files only)."""
    if len(argv) < 3 or argv[0] != "--memory" or argv[2] != "--" or not argv[1].isdigit():
        raise ServeError("usage: python -m attn_tui.serve --memory MIB -- [attn-tui flags]")
    limit_this_process(int(argv[1]))
    sys.argv = [sys.argv[0], *argv[3:]]
    runpy.run_module("attn_tui", run_name="__main__", alter_sys=True)  # the command; it exits


# -- the server ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Limits:
    """How much one server may hand out."""

    max_sessions: int = DEFAULT_MAX_SESSIONS
    """Apps running at once; the next connection is refused until one ends."""
    memory_mib: int | None = DEFAULT_SESSION_MEMORY_MIB
    """Each app's data cap in MiB (None: no cap)."""


def make_server(host: str, port: int, config: AttentionConfig, model: str = "toy", *,
                allow_remote: bool = False, limits: Limits | None = None) -> Any:
    """A textual-serve `Server` for the explorer (raises ImportError without textual-serve)."""
    from aiohttp import web
    from textual_serve.app_service import AppService
    from textual_serve.server import Server

    bounds = limits or Limits()
    loopback_only = not allow_remote or bind_is_loopback(host)

    class AttnServer(Server):
        """textual-serve's server, guarded (Host, Origin), bounded (sessions, sizes) and its URLs
        taken from the request."""

        sessions = 0
        """Apps running now (counted from before the process starts until after it has ended)."""

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            # The page tells the browser where the websocket is. Build it from the address the
            # browser used (the guard has checked it), so `--host 0.0.0.0` works from another
            # machine (textual-serve would write ws://0.0.0.0:…). No await before the template
            # reads it: no other request can see this value.
            self.public_url = f"{request.scheme}://{request.headers['Host']}"
            return await super().handle_index(request)

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(_guard)
            return app

        async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
            """textual-serve's handler (1.1.3), with the session cap, clamped sizes and strict messages."""
            websocket = web.WebSocketResponse(heartbeat=15)
            if self.sessions >= bounds.max_sessions:
                await websocket.prepare(request)
                # Shown in the browser's terminal, then a "try again later" close.
                await websocket.send_bytes(f"\r\n  {BUSY.format(n=bounds.max_sessions)}\r\n".encode())
                await websocket.close(code=1013, message=b"busy: too many sessions")
                log.warning("refused a session: %d running, the limit", self.sessions)
                return websocket
            self.sessions += 1  # no await since the check: two connections cannot both take the last slot
            try:
                await self._run_session(request, websocket)
            finally:
                self.sessions -= 1
            return websocket

        async def _run_session(self, request: web.Request, websocket: web.WebSocketResponse) -> None:
            width, height = clamp_size(request.query.get("width"), request.query.get("height"))
            service: AppService | None = None
            try:
                await websocket.prepare(request)

                async def close() -> None:
                    await websocket.close()

                service = AppService(self.command, write_bytes=websocket.send_bytes, write_str=websocket.send_str,
                                     close=close, download_manager=self.download_manager, debug=self.debug)
                await service.start(width, height)
                await relay(websocket, service)
            except asyncio.CancelledError:
                await websocket.close()
            except Exception as error:
                log.exception(error)
            finally:
                if service is not None:
                    await _stop(service)
                    # Later, when any download under way has seen the app go and ended on its own.
                    asyncio.get_running_loop().call_later(FORGET_SECONDS, _forget_downloads,
                                                          self.download_manager, service)

    @web.middleware
    async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
        if not host_allowed(request.headers.get("Host"), loopback_only=loopback_only):
            # On loopback: a page on another site that re-points its own name at 127.0.0.1 (DNS
            # rebinding). Anywhere: a Host that is not a host name and port.
            raise web.HTTPForbidden(text=(
                "attn-tui answers on loopback names only: http://127.0.0.1:PORT/, http://localhost:PORT/\n"
                if loopback_only else "attn-tui needs a Host header naming a host (and a port)\n"))
        if request.path == "/ws":
            origin = request.headers.get("Origin")
            # Browsers always send an Origin with a websocket; a program that sends none is not a
            # page another site can aim at this server.
            if origin is not None and not same_origin(origin, request.headers["Host"]):
                raise web.HTTPForbidden(text="websocket refused: the page is from another site\n")
        return await handler(request)

    command = app_command(config, model, bounds.memory_mib)
    return AttnServer(command, host=host, port=port, title="attn-tui", public_url=_url(host, port))


async def relay(websocket: Any, service: Any) -> None:
    """The browser's messages (`["stdin", text]`, `["resize", {width, height}]`, `["ping", x]`,
    `["focus"]`, `["blur"]`) to the app, sizes clamped; anything else or malformed is dropped, where
    textual-serve's own loop would end the session on it."""
    from aiohttp import WSMsgType

    actions: dict[str, Callable[[Any], Awaitable[object]]] = {
        "stdin": lambda data: service.send_bytes(data.encode("utf-8", "replace")) if isinstance(data, str)
        else _nothing(),
        "resize": lambda data: service.set_terminal_size(*clamp_size(data.get("width"), data.get("height")))
        if isinstance(data, dict) else _nothing(),
        "ping": lambda data: websocket.send_json(["pong", data]),
        "blur": lambda data: service.blur(),
        "focus": lambda data: service.focus(),
    }
    async for message in websocket:
        if message.type != WSMsgType.TEXT:
            continue
        try:
            envelope = message.json()
        except ValueError:
            continue
        if isinstance(envelope, list) and 1 <= len(envelope) <= 2 and isinstance(envelope[0], str):
            action = actions.get(envelope[0])
            if action is not None:
                await action(envelope[1] if len(envelope) == 2 else None)


async def _nothing() -> None:
    return None


async def _stop(service: Any) -> None:
    """Ask the app to quit; kill it if it has not ended within STOP_SECONDS, so its slot is free.

    Private: `AppService._process` (textual-serve 1.1.3), the asyncio subprocess it started.
    """
    try:
        await asyncio.wait_for(service.stop(), STOP_SECONDS)
    except asyncio.TimeoutError:
        process = getattr(service, "_process", None)
        if process is not None and process.returncode is None:
            log.warning("an app did not quit within %g s: killed", STOP_SECONDS)
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


def _forget_downloads(manager: Any, service: Any) -> None:
    """Drop the downloads an ended app offered and nobody fetched (textual-serve keeps them, and with
    them the app's service and websocket, for the server's life).

    Private: `DownloadManager._active_downloads` (textual-serve 1.1.3), key → Download(app_service, …).
    """
    downloads = getattr(manager, "_active_downloads", None)
    if isinstance(downloads, dict):
        for key in [k for k, d in downloads.items() if getattr(d, "app_service", None) is service]:
            del downloads[key]


def _url(host: str, port: int) -> str:
    """The address to print: `http://127.0.0.1:8000`, `http://[::1]:8000`."""
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    return f"http://{host or '0.0.0.0'}:{port}"


def remote_warning(host: str, port: int, limits: Limits) -> str:
    """What `--allow-remote` prints on stderr before serving: what anyone who reaches the port gets."""
    import getpass

    try:
        user = getpass.getuser()
    except (OSError, KeyError):
        user = "this server's user"
    memory = f"each up to {limits.memory_mib} MiB" if limits.memory_mib else "their memory not capped"
    return (f"warning: --allow-remote: serving on {host or 'every address'} port {port} over plain HTTP with NO "
            f"authentication: anyone who can reach this port gets an attn-tui app running on this machine as "
            f"{user} (up to {limits.max_sessions} at once, {memory}) and can take every session, keeping "
            "others out. Exports are browser downloads; nothing is written here. Serve only on a network you "
            "trust (see SECURITY.md).\n")


def serve(host: str, port: int, config: AttentionConfig, model: str = "toy", *, allow_remote: bool = False,
          limits: Limits | None = None, warn: Callable[[str], object] = sys.stderr.write) -> int:
    """Serve the explorer on http://HOST:PORT until Ctrl+C; each connection runs its own app."""
    limits = limits or Limits()
    if not 0 < port < 65536:
        raise ServeError(f"--port {port} is out of range: 1 to 65535")
    if not 1 <= limits.max_sessions <= MAX_SESSIONS_CEILING:
        raise ServeError(f"--max-sessions {limits.max_sessions} is out of range: 1 to {MAX_SESSIONS_CEILING}")
    if limits.memory_mib is not None and limits.memory_mib < 256:
        raise ServeError(f"--session-memory {limits.memory_mib} is too small: at least 256 (MiB), "
                         "or 0 for no cap")
    loopback = bind_is_loopback(host)
    if not loopback and not allow_remote:
        raise ServeError(f"--host {host or repr(host)} is not a loopback address, and the server has no "
                         "authentication: anyone who reaches it would run apps on this machine; add "
                         "--allow-remote to serve it anyway")
    try:
        server = make_server(host, port, config, model, allow_remote=allow_remote, limits=limits)
    except ImportError:
        raise ServeError("--serve needs textual-serve: pip install 'attn-tui[web]'") from None
    if not loopback:
        warn(remote_warning(host, port, limits))
    stdout, sys.stdout = sys.stdout, _Shown(sys.stdout)
    try:
        server.serve()
    except OSError as error:
        # Port taken, address not on this machine, no permission for a low port.
        raise ServeError(f"cannot serve on {host}:{port}: {error.strerror or error}") from None
    finally:
        sys.stdout = stdout
    return 0


class _Shown(io.TextIOBase):
    """The server's stdout while it serves, with every control, C1 and bidi character made visible.

    What it prints is not all the operator's: the access log quotes each request's User-Agent and
    Referer, and textual-serve copies each app's stderr (a traceback can quote a visitor's prompt)
    here. An escape sequence or U+202E in those is shown (`␛`, `⟨202e⟩`), never obeyed by the
    operator's terminal. Not a terminal itself, so Rich writes no colours of its own.
    """

    def __init__(self, out: TextIO) -> None:
        self.out = out

    def write(self, text: str) -> int:
        self.out.write("\n".join(printable(line) for line in text.split("\n")))
        return len(text)

    def flush(self) -> None:
        self.out.flush()

    def isatty(self) -> bool:
        return False


if __name__ == "__main__":
    _child(sys.argv[1:])
