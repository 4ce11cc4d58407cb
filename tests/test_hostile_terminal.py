"""The real command in a real pseudo-terminal: hostile bytes on its input, escapes in its prompt.

Pilot tests use Textual's headless driver; these run `python -m attn_tui` on a pty, so the Linux
driver's input thread and the bytes written to the terminal are the real ones.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import sys
import termios
import time

import pytest

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pty and Textual's Linux driver")


class Terminal:
    """attn-tui on a pty: everything it writes is kept in `output`."""

    def __init__(self, *args: str, env: dict[str, str] | None = None, size: tuple[int, int] = (120, 40),
                 redirect: dict[int, str] | None = None) -> None:
        import pty

        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: size its terminal, then become attn-tui
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
            for fd, path in (redirect or {}).items():  # `attn-tui 2>err.log`, `>out`, `</dev/null`
                target = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
                os.dup2(target, fd)
            # The pty's size, not the test runner's COLUMNS and LINES; a real driver, not a test one.
            child_env = {k: v for k, v in os.environ.items()
                         if k not in ("TEXTUAL_DRIVER", "COLUMNS", "LINES") and not k.startswith("PYTEST")}
            child_env.update({"TERM": "xterm-256color", **(env or {})})
            os.execve(sys.executable, [sys.executable, "-m", "attn_tui", *args], child_env)
        self.output = b""
        self.status: int | None = None

    def read(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            ready, _, _ = select.select([self.fd], [], [], 0.05)
            if ready:
                try:
                    chunk = os.read(self.fd, 65536)
                except OSError:  # the child closed the terminal
                    return
                if not chunk:
                    return
                self.output += chunk

    def wait_for(self, text: bytes, seconds: float = 60) -> None:
        end = time.monotonic() + seconds
        while text not in self.output and time.monotonic() < end and self.alive():
            self.read(0.2)
        assert text in self.output, f"{text!r} never appeared; last output {self.output[-400:]!r}"

    def alive(self) -> bool:
        if self.status is not None:
            return False
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self.status = os.waitstatus_to_exitcode(status)
        return False

    def resize(self, width: int, height: int) -> None:
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", height, width, 0, 0))
        os.kill(self.pid, signal.SIGWINCH)

    def write(self, data: bytes) -> None:
        os.write(self.fd, data)

    def quit(self, seconds: float = 20) -> int:
        self.write(b"\x11")  # ctrl+q
        end = time.monotonic() + seconds
        while self.alive() and time.monotonic() < end:
            self.read(0.1)
        if self.alive():
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
            raise AssertionError("ctrl+q did not quit")
        os.close(self.fd)
        assert self.status is not None
        return self.status


@pytest.fixture
def terminal():
    started: list[Terminal] = []

    def start(*args: str, **kwargs) -> Terminal:
        term = Terminal(*args, **kwargs)
        started.append(term)
        return term

    yield start
    for term in started:
        if term.alive():
            os.kill(term.pid, signal.SIGKILL)
            os.waitpid(term.pid, 0)


def test_stray_bytes_on_the_terminal_do_not_kill_the_app(terminal):
    term = terminal("--prompt", "a b")
    term.wait_for(b"current")
    # Invalid UTF-8 (a Latin-1 terminal, an 8-bit meta key, a raw C1 CSI, binary pasted in).
    term.write(b"\x9b\xff\xfe\xc3 x\x80")
    term.read(2)
    assert term.alive(), term.output[-2000:].decode("utf-8", "replace")
    assert b"Traceback" not in term.output and b"UnicodeDecodeError" not in term.output
    assert term.quit() == 0


def test_escape_sequences_in_the_prompt_never_reach_the_terminal(terminal):
    term = terminal("--prompt", "title \x1b]0;pwned\x07 clear \x1b[2J csi \x9b31m rlo \u202eabc")
    term.wait_for(b"current")
    term.read(1)
    assert b"pwned" in term.output, "the words are on screen"
    assert b"\x1b]0;pwned" not in term.output, "the title escape is shown, not obeyed"
    assert "␛]0;pwned␇".encode() in term.output
    assert "\x9b".encode() not in term.output and "\u202e".encode() not in term.output
    assert term.quit() == 0


def test_a_pasted_escape_sequence_is_shown_not_obeyed(terminal):
    term = terminal("--prompt", "x")
    term.wait_for(b"current")
    before = len(term.output)
    term.write(b"\x1b[200~ \x1b]0;pwned\x07 \xc2\x9b2J\x1b[201~")  # a bracketed paste
    term.wait_for(b"pwned")
    term.read(1)
    assert b"\x1b]0;pwned" not in term.output[before:]
    assert term.alive()
    assert term.quit() == 0


@pytest.mark.parametrize("env", [{"TERM": "linux"}, {"NO_COLOR": "1"}])
def test_terminal_kinds_start_draw_and_quit(terminal, env):
    term = terminal("--heads", "2", env=env, size=(80, 24))
    term.wait_for(b"current")
    term.write(b"\x1b")  # escape: to the grid
    term.read(0.3)
    term.write(b"oz9")
    term.read(1)
    assert term.alive() and b"Traceback" not in term.output
    if env.get("NO_COLOR"):
        assert b"\x1b[38;2" not in term.output and b"\x1b[48;2" not in term.output, "no truecolor under NO_COLOR"
    if env.get("TERM") == "linux":
        assert b"\x1b[38;2" not in term.output and b"\x1b[48;5" not in term.output, "16 colours only"
    assert term.quit() == 0


def test_shrinking_to_a_tiny_terminal_shows_the_notice(terminal):
    term = terminal()
    term.wait_for(b"current")
    term.resize(30, 10)
    term.wait_for(b"small")  # "Terminal too small." (the words are separate segments on the wire)
    assert b"Terminal" in term.output and b"Traceback" not in term.output
    assert term.quit() == 0


# ── Escapes in the prompt, shown by the export dialog and the "command line" notification (item 6) ──

TITLE_PROMPT = "hi \x1b]2;PWNED\x07 x \x1b]52;c;aGk=\x07 \u202eabc"


_CSI = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]")
# Textual's own: the pointer shape (OSC 22), and a copy to the clipboard (OSC 52), base64 so no user text is raw.
_TEXTUAL_OSC = re.compile(rb"\x1b\]22;[a-z-]*\x07|\x1b\]52;c;[A-Za-z0-9+/=]*\x07")


def assert_obeys_nothing(output: bytes) -> None:
    """Nothing but Textual's own sequences reached the terminal: once its CSI sequences and its OSC 22 are
    taken out, no ESC is left (an OSC 2 title, an OSC 52 clipboard write, even one cut by a cursor move),
    no C1 control and no bidi override."""
    rest = _TEXTUAL_OSC.sub(b"", _CSI.sub(b"", output))
    where = rest.find(b"\x1b")
    assert where < 0, f"an escape sequence from user text reached the terminal: {rest[where - 60:where + 60]!r}"
    text = rest.decode("utf-8", "replace")
    assert not any(0x80 <= ord(c) <= 0x9F for c in text), "a C1 control reached the terminal"
    assert not any(c in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069" for c in text), \
        "a bidi override reached the terminal"


def test_the_export_dialog_shows_the_command_line_without_obeying_it(terminal):
    term = terminal("--prompt", TITLE_PROMPT)
    term.wait_for(b"current")
    term.write(b"\x1b")  # to the grid
    term.read(0.5)
    term.write(b"e")  # the export dialog, which shows the command line that reopens this state
    term.wait_for(b"reopens")
    term.read(1)
    assert_obeys_nothing(term.output)
    assert b"\\x1b]2;PWNED\\x07" in term.output, "the command line is shown, escapes spelled out"
    assert term.quit() == 0


def test_the_command_line_notification_obeys_nothing(terminal):
    term = terminal("--prompt", TITLE_PROMPT)
    term.wait_for(b"current")
    term.write(b"\x10")  # ctrl+p: the palette
    term.read(0.8)
    term.write(b"command line")
    term.read(1)
    term.write(b"\r")
    term.wait_for(b"PWNED")
    term.read(1)
    assert_obeys_nothing(term.output)
    assert term.quit() == 0


# ── A bracketed paste is text (item 7) ──────────────────────────────────────────────────────────


def test_a_pasted_ctrl_key_after_escape_is_text(terminal):
    term = terminal("--prompt", "a b", "--heads", "2", "--d-k", "4", "--d-v", "4")
    term.wait_for(b"current")
    term.read(0.5)
    mark = len(term.output)
    # The two pastes in one: ctrl+r (reset everything), then ctrl+q (quit), each after an escape.
    term.write(b"\x1b[200~ x\x1b\x12 y\x1b[201~\x1b[200~ x\x1b\x11\x1b[201~")
    term.read(2)
    after = term.output[mark:]
    assert term.alive() and b"\x1b[?1049l" not in after, "the paste quit the app"
    assert b"notebook" not in after, "the paste reset every setting ('Reset to the notebook's defaults')"
    assert term.quit() == 0


# ── Quit signals leave the terminal as it was (item 12) ───────────────────────────────────────────

# What Textual's driver writes when it stops: bracketed paste, mouse reporting, the alternate screen, the cursor.
RESTORED = (b"\x1b[?2004l", b"\x1b[?1000l", b"\x1b[?1003l", b"\x1b[?1006l", b"\x1b[?1049l", b"\x1b[?25h")


def default_termios() -> list:
    """A fresh pty's settings: what the terminal was before attn-tui put it in raw mode."""
    master, slave = os.openpty()
    try:
        return termios.tcgetattr(slave)
    finally:
        os.close(master)
        os.close(slave)


@pytest.mark.parametrize("name", ["SIGTERM", "SIGHUP", "SIGQUIT", "SIGINT"])
def test_a_quit_signal_leaves_the_terminal_clean(terminal, name):
    sig = getattr(signal, name)
    term = terminal("--prompt", "a b")
    term.wait_for(b"current")
    assert termios.tcgetattr(term.fd)[3] & termios.ICANON == 0, "raw mode while running"
    mark = len(term.output)
    os.kill(term.pid, sig)  # `timeout 5 attn-tui`, `kill -HUP`, ctrl+\ from elsewhere, `kill -INT`
    end = time.monotonic() + 20
    while term.alive() and time.monotonic() < end:
        term.read(0.1)
    term.read(0.3)
    assert term.status == 128 + sig, f"exit status {term.status}: killed, not a clean exit"
    written = term.output[mark:]
    for sequence in RESTORED:
        assert sequence in written, f"{sequence!r} not written at exit: {written[-300:]!r}"
    assert written.rindex(b"\x1b[?25h") > written.rindex(b"\x1b[?1049l") - 200, "cursor shown after leaving"
    attrs, default = termios.tcgetattr(term.fd), default_termios()
    assert attrs[3] == default[3] and attrs[0] == default[0], "termios not restored (echo, canonical mode, flags)"
    assert b"Traceback" not in term.output
    os.close(term.fd)


def test_a_hung_up_terminal_ends_the_app(terminal):
    term = terminal("--prompt", "a b")
    term.wait_for(b"current")
    os.close(term.fd)  # the window closed: the kernel sends SIGHUP, the terminal is gone
    end = time.monotonic() + 20
    while term.alive() and time.monotonic() < end:
        time.sleep(0.05)
    assert not term.alive(), "still running with no terminal"


# ── The UI is drawn on the terminal, never into a redirected stream (item 13) ─────────────────────


@pytest.mark.parametrize(("fd", "name"), [(2, "err.log"), (1, "out.log"), (0, None)],
                         ids=["stderr-to-a-file", "stdout-to-a-file", "stdin-from-dev-null"])
def test_redirected_streams_draw_on_the_terminal(terminal, tmp_path, fd, name):
    path = str(tmp_path / name) if name else os.devnull
    term = terminal("--prompt", "a b", redirect={fd: path}, size=(100, 30))
    term.wait_for(b"current")  # drawn on the terminal (/dev/tty) ...
    assert b"\x1b[30;1H" in term.output or b";100H" in term.output or b"\x1b[30;" in term.output, \
        "sized from the terminal (100 x 30), not guessed"
    assert term.quit() == 0  # ... and keys come from it: ctrl+q quits
    if name:
        assert os.path.getsize(path) == 0, "nothing drawn into the redirected file"


def test_an_export_folder_with_escapes_is_shown_not_obeyed(terminal, tmp_path):
    folder = tmp_path / "res\x1b]2;PWNED\x07\u202e"
    term = terminal("--prompt", "a b", "--export-dir", str(folder))
    term.wait_for(b"current")
    term.write(b"\x1b")
    term.read(0.5)
    term.write(b"e")
    term.wait_for(b"reopens")
    term.write(b"j")  # JSON: "wrote …/attn-result.json"
    term.read(2)
    term.write(b"\x1b")  # the dialog again, and JSON again: "… exists. Overwrite it?"
    term.read(0.5)
    term.write(b"e")
    term.read(1)
    term.write(b"j")
    term.read(2)
    assert (folder / "attn-result.json").exists()
    assert_obeys_nothing(term.output)
    assert term.quit() == 0


STUCK_APP = """
import asyncio, sys
from attn_tui import runtime

class Stuck:  # an app whose exit never comes: a frozen event handler, a hung-up terminal
    def exit(self, result=None, return_code=0):
        print("exit asked", flush=True)

async def main():
    with runtime.quit_on_signals(Stuck(), lambda: print("restored", flush=True), grace=float(sys.argv[1])):
        print("running", flush=True)
        await asyncio.sleep(60)

asyncio.run(main())
"""


@pytest.mark.parametrize(("grace", "signals"), [(0.5, 1), (30, 2)], ids=["grace-runs-out", "second-signal"])
def test_an_app_that_cannot_stop_is_ended_with_the_terminal_restored(grace, signals):
    import subprocess

    proc = subprocess.Popen([sys.executable, "-c", STUCK_APP, str(grace)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "running\n"
    started = time.monotonic()
    for _ in range(signals):
        os.kill(proc.pid, signal.SIGTERM)
        time.sleep(0.2)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 128 + signal.SIGTERM
    assert out == "exit asked\nrestored\n"
    assert time.monotonic() - started < 10
