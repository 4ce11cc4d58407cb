"""`attn-tui --serve`: the explorer in a web browser, through textual-serve (the `web` extra).

Every browser connection starts its own `python -m attn_tui …` process with the starting
state's flags, so visitors never share or disturb each other's state. The server binds to
loopback unless told otherwise, and its websocket only accepts pages it served itself: another
web site open in the same browser cannot drive the app (websockets ignore the same-origin rule).
"""

from __future__ import annotations

import shlex
import sys
from typing import Any
from urllib.parse import urlsplit

from attn_tui.argv import command_flags
from attn_tui.config import AttentionConfig

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def app_command(config: AttentionConfig, model: str = "toy") -> str:
    """The shell command textual-serve runs for each connection: this Python, `-m attn_tui`, the flags."""
    return shlex.join([sys.executable, "-m", "attn_tui", *command_flags(config, model)])


def _host_name(netloc: str) -> str:
    """`127.0.0.1:8000` → `127.0.0.1`; `[::1]:8000` → `::1`."""
    try:
        return (urlsplit(f"//{netloc}").hostname or "").lower()
    except ValueError:
        return ""


def is_loopback(host: str) -> bool:
    return host.lower().strip("[]") in LOOPBACK_NAMES or host.startswith("127.")


def make_server(host: str, port: int, config: AttentionConfig, model: str = "toy") -> Any:
    """A textual-serve `Server` for the explorer (raises ImportError without textual-serve)."""
    from aiohttp import web
    from textual_serve.server import Server

    loopback = is_loopback(host)

    class AttnServer(Server):
        """textual-serve's server, with the page's URLs taken from the request and the websocket guarded."""

        async def handle_index(self, request: web.Request) -> web.StreamResponse:
            # The page tells the browser where the websocket is. Build it from the address the
            # browser used, so `--host 0.0.0.0` works from another machine (textual-serve would
            # write ws://0.0.0.0:…). No await before the template reads it: no other request
            # can see this value.
            self.public_url = f"{request.scheme}://{request.host}"
            return await super().handle_index(request)

        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(_guard)
            return app

    @web.middleware
    async def _guard(request: web.Request, handler: Any) -> web.StreamResponse:
        host_name = _host_name(request.host)
        if loopback and not is_loopback(host_name):
            # A page on another site that re-points its own name at 127.0.0.1 (DNS rebinding).
            raise web.HTTPForbidden(text="attn-tui serves this address on loopback names only\n")
        if request.path == "/ws":
            origin = request.headers.get("Origin")
            if origin is not None and urlsplit(origin).netloc.lower() != request.host.lower():
                raise web.HTTPForbidden(text="websocket refused: the page is from another site\n")
        return await handler(request)

    return AttnServer(app_command(config, model), host=host, port=port, title="attn-tui")


class ServeError(RuntimeError):
    """The server cannot start; the message says why and what to do."""


def serve(host: str, port: int, config: AttentionConfig, model: str = "toy") -> int:
    """Serve the explorer on http://HOST:PORT until Ctrl+C; each connection runs its own app."""
    try:
        server = make_server(host, port, config, model)
    except ImportError:
        raise ServeError("--serve needs textual-serve: pip install 'attn-tui[web]'") from None
    if not 0 < port < 65536:
        raise ServeError(f"--port {port} is out of range: 1 to 65535")
    try:
        server.serve()
    except OSError as error:
        # Port taken, address not on this machine, no permission for a low port.
        raise ServeError(f"cannot serve on {host}:{port}: {error.strerror or error}") from None
    return 0
