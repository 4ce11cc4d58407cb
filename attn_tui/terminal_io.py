"""The terminal side of Textual's Linux driver: input decoded leniently, a bracketed paste read as text
whatever it holds, and the terminal the UI is drawn on (never a redirected stdout or stderr).

Like attn_tui.compat these reach into Textual's private API: `PRIVATE_NAMES` lists every name used, and
`tests/test_compat.py` checks each exists in the Textual installed (in compat's CHECKED range).
"""

from __future__ import annotations

import codecs
import contextlib
import functools
import os
import sys
from typing import IO, Any

PRIVATE_NAMES = (
    ("textual.drivers.linux_driver", "getincrementaldecoder"),
    ("textual._xterm_parser:XTermParser", "parse"),
    ("textual._xterm_parser", "BRACKETED_PASTE_START"),
    ("textual._xterm_parser", "BRACKETED_PASTE_END"),
    ("textual._parser", "Read1"),
    ("textual._parser", "ParseError"),
    ("textual._parser", "ParseTimeout"),
    ("textual.drivers.linux_driver:LinuxDriver", "_get_terminal_size"),
    ("textual.drivers.linux_driver:LinuxDriver.__init__", "_file"),
    ("textual.drivers.linux_driver:LinuxDriver.__init__", "fileno"),
    ("textual.drivers.linux_driver:LinuxDriver.__init__", "input_tty"),
)
"""(module[:class], attribute) for every private name used here, as in attn_tui.compat."""


# -- terminal input -----------------------------------------------------------------------------


def lenient_input() -> None:
    """Decode terminal input with errors="replace" (idempotent).

    Textual's Linux driver decodes stdin as strict UTF-8, so one stray byte (a Latin-1 terminal, an
    8-bit meta key, a raw 0x9b CSI, pasted binary) killed its input thread and with it the app.
    """
    try:
        from textual.drivers import linux_driver
    except ImportError:  # not on a POSIX terminal: nothing to do
        return
    if getattr(linux_driver.getincrementaldecoder, "lenient", False):
        return

    def getincrementaldecoder(encoding: str) -> Any:
        return functools.partial(codecs.getincrementaldecoder(encoding), errors="replace")

    getincrementaldecoder.lenient = True  # type: ignore[attr-defined]
    linux_driver.getincrementaldecoder = getincrementaldecoder  # type: ignore[attr-defined]


def patch_terminal_input() -> None:
    """Every terminal-input patch, once: lenient decoding, and a bracketed paste read as text."""
    lenient_input()
    paste_as_text()


MAX_PASTE = 1_000_000
"""Characters of one paste kept; the rest is read to the paste's end and dropped (no field holds more)."""


def paste_as_text() -> None:
    """Read everything between `ESC[200~` and `ESC[201~` as one Paste event, whatever it holds (idempotent).

    Textual's XTermParser (textual/_xterm_parser.py) keeps parsing escape sequences inside a bracketed
    paste, and one it cannot match is reissued as keys: pasting `" x\\x1b\\x12 y"` pressed ctrl+r (reset
    everything), `" x\\x1b\\x11"` ctrl+q (quit). This wraps its `parse` generator: characters go to
    Textual's parser as before until it has taken `ESC[200~` (it is then waiting for the paste's first
    character); from there this reads the paste itself, up to `ESC[201~`, emits one Paste with the text
    (NULs removed, as Textual does), and hands Textual the end marker so its own state leaves paste mode
    (the empty Paste it then reports is dropped). Also used by textual-serve's web driver.
    """
    from textual import _xterm_parser, events
    from textual._parser import ParseError, ParseTimeout, Read1

    parser_class = _xterm_parser.XTermParser
    if getattr(parser_class.parse, "paste_as_text", False):
        return
    original = parser_class.parse
    start, end = _xterm_parser.BRACKETED_PASTE_START, _xterm_parser.BRACKETED_PASTE_END

    def parse(self: Any, token_callback: Any) -> Any:
        resyncing = False

        def callback(token: Any) -> None:
            if not (resyncing and isinstance(token, events.Paste)):
                token_callback(token)

        inner = original(self, callback)
        awaiting = next(inner)
        recent = ""  # the last characters Textual's parser took, to see it take the paste's start
        while True:
            try:
                character = yield awaiting
            except ParseTimeout as timeout:  # a lone escape: Textual's parser decides; nothing is pending
                recent = ""
                try:
                    awaiting = inner.throw(timeout)
                except StopIteration:
                    return
                continue
            except ParseError as error:  # the end of input
                with contextlib.suppress(StopIteration):
                    inner.throw(error)
                return
            try:
                awaiting = inner.send(character)
            except StopIteration:
                return
            recent = (recent + character)[-len(start):]
            if recent != start:
                continue
            recent = ""
            kept: list[str] = []
            tail = ""
            size = 0
            while True:
                try:
                    character = yield Read1()
                except ParseError:  # input ended inside the paste: what came is the paste
                    token_callback(events.Paste("".join(kept).replace("\x00", "")))
                    return
                tail = (tail + character)[-len(end):]
                if tail == end:
                    break
                if size < MAX_PASTE + len(end):
                    kept.append(character)
                    size += 1
            text = "".join(kept)
            text = text[: len(text) - (len(end) - 1)][:MAX_PASTE]  # the end marker's first characters were kept
            resyncing = True
            try:
                for character in end:
                    awaiting = inner.send(character)
            except StopIteration:
                return
            finally:
                resyncing = False
            token_callback(events.Paste(text.replace("\x00", "")))

    parse.paste_as_text = True  # type: ignore[attr-defined]
    parser_class.parse = parse  # type: ignore[method-assign]


# -- the terminal the UI is drawn on -------------------------------------------------------------


def terminal_driver(fd: int, out: Any) -> type:
    """Textual's Linux driver, reading keys from `fd` and drawing on `out` (a text file on a terminal).

    Textual reads `sys.__stdin__` and draws on `sys.__stderr__`, and sizes itself from stdout: with
    `2>err.log` the whole UI went into the log, with `>out` it guessed 80 × 24. The CLI passes the
    terminal it found (stdin and stderr, or /dev/tty); this driver uses it for keys, frames and size.
    """
    import os

    from textual.drivers.linux_driver import LinuxDriver

    class TerminalDriver(LinuxDriver):
        def __init__(self, app: Any, **kwargs: Any) -> None:
            super().__init__(app, **kwargs)
            self._file = out
            self.fileno = fd
            self.input_tty = os.isatty(fd)

        def _get_terminal_size(self) -> tuple[int, int]:
            try:
                width, height = os.get_terminal_size(out.fileno())
            except (OSError, ValueError):
                return super()._get_terminal_size()
            return width or 80, height or 25

    return TerminalDriver


def is_terminal(stream: object) -> bool:
    """A terminal? A closed stream (`<&-` makes sys.stdin None) is not one."""
    return stream is not None and stream.isatty()  # type: ignore[attr-defined]


def find_terminal() -> tuple[int, IO[str]] | None:
    """The terminal to draw the UI on: stdin and stderr when both are one, else /dev/tty; None if there is none.

    Textual draws on stderr, so `attn-tui 2>err.log` drew the whole UI into the log (and `>out` left it
    sized 80 × 24). Like less and fzf, attn-tui then talks to the controlling terminal itself.
    """
    if is_terminal(sys.stdin) and is_terminal(sys.stderr) and is_terminal(sys.stdout):
        return sys.stdin.fileno(), sys.__stderr__  # type: ignore[return-value]
    try:
        fd = os.open("/dev/tty", os.O_RDWR | getattr(os, "O_NOCTTY", 0))
    except OSError:
        return None
    if not os.isatty(fd):
        os.close(fd)
        return None
    return fd, open(os.dup(fd), "w", encoding="utf-8", errors="replace", closefd=True)  # noqa: SIM115
