"""Bytes per keystroke in a real pseudo-terminal (issue 17): what an SSH session would carry.

    python -m benchmarks.pty_bytes                      # 10, 512, 2,048 words, 8 repeats, the table
    python -m benchmarks.pty_bytes --repeats 6 --sizes 10,2048 --analyse --json bytes.json
    python -m benchmarks.pty_bytes --no-actions --start 5   # cold and warm start-up, 5 launches each
    python -m benchmarks.pty_bytes --app-root ../other-checkout   # measure another tree's attn_tui
    python -m benchmarks --bytes                        # the table, as a section of the benchmarks

`python -m attn_tui` runs on a pty at 120 × 40 (TERM=xterm-256color, COLORTERM=truecolor; see
COLORTERM below), its own Linux driver writing real escape codes. The harness reads every
byte the app writes. An action is: send the key's bytes, wait for the first byte, count everything
written until the app has been silent for `--quiet` seconds (0.4 by default) and the status line
no longer says "computing". `--calibrate` (quiet 1.5 s) shows the longest silence seen *inside*
an action's output, which must stay well under `--quiet`. Keys that undo an action (backspace
after a letter, left after right, `/` after escape, ...) are sent between the samples but not
counted, so every sample starts from the same screen. `s` is pressed once per stage (10 samples).
At 512 words only typing is measured.

The *full repaint* of a state is one frame that draws every row: Textual draws three of them
after a resize, so the harness resizes to 121 columns and back and takes the last whole-screen
frame; pyte checks that this frame alone, on a blank terminal, draws the screen as it was.

The harness answers Textual's synchronized-output query (DECRQM 2026), as most current terminals
do, so that frames arrive bracketed by ESC[?2026h … ESC[?2026l: that is how frames are counted.
The 16 bytes of markers per frame are *not* counted in the figures (a terminal without the mode
gets no markers; everything else is the same). `--no-sync` leaves the query unanswered.

Every byte is also fed to pyte, a terminal emulator: the launch must show the prompt, the panes
and the result, and `--analyse` splits each action's bytes by frame, by screen region (the panes,
found from their box borders; the stage pane split into bar, grid and legend), by kind (text, SGR
colour codes, the ESC[0m after every segment, cursor movement, line ends), by whether the cells
written changed at all (pyte's screen before and after), and estimates what smarter encoders
would send for the same picture.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import json
import os
import re
import select
import signal
import statistics
import struct
import sys
import termios
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pyte
from wcwidth import wcwidth

ROOT = Path(__file__).resolve().parent.parent
SIZE = (120, 40)
QUIET_S = 0.4
"""Silence that ends an action. Inside one action's output the longest silences seen here were
0.11–0.34 s at a load average of 5 on 2 cores (a stage switch at 2,048 words: its panes, then the
whole-screen frame); an edit's result is waited for anyway (the status line). See --calibrate."""
LAUNCH_QUIET_S = 0.3
RESIZE_QUIET_S = 0.6
"""A resize lays out everything and draws several frames; its gaps reach 0.25 s on a loaded machine."""
FIRST_BYTE_TIMEOUT_S = 5.0
STAGE_PRESSES = 10
"""`s` is pressed once per stage (the stages differ in size), whatever --repeats says."""
TIMEOUT_S = 120.0
APP_ROOT = ROOT
"""Where `attn_tui` is imported from in the app's process (--app-root: measure another checkout)."""
COLORTERM = "truecolor"
"""What the app's COLORTERM says: truecolor (24-bit SGR, 38;2;r;g;b), as local terminals set it and
as issue 17's table was taken (its first screens, 123 and 132 KB, are this harness's 123 and 131).
Plain ssh does not forward COLORTERM (Debian 12's ssh_config sends LANG LC_* only), and Rich then
sends 256-colour codes (38;5;n) for TERM=xterm-256color, a quarter fewer bytes: `--colorterm none`."""

KEYS = {
    "letter": b"a", "backspace": b"\x7f", "escape": b"\x1b", "right": b"\x1b[C", "left": b"\x1b[D",
    "down": b"\x1b[B", "up": b"\x1b[A", "pagedown": b"\x1b[6~", "pageup": b"\x1b[5~", "s": b"s", "slash": b"/",
    "quit": b"\x11",
}
SYNC_QUERY = b"\x1b[?2026$p"
SYNC_REPLY = b"\x1b[?2026;2$y"
"""DECRPM: mode 2026 recognised, currently reset."""
SYNC_START = b"\x1b[?2026h"
SYNC_END = b"\x1b[?2026l"


@dataclass(frozen=True)
class Action:
    """A key measured from one state, and the key (not counted) that brings the state back."""

    name: str
    label: str
    key: bytes
    undo: bytes | None
    grid: bool
    """The grid has focus (after escape); otherwise the prompt has."""


ACTIONS = [
    Action("type", "type one letter in the prompt", KEYS["letter"], KEYS["backspace"], grid=False),
    Action("focus", "escape: focus prompt → grid", KEYS["escape"], KEYS["slash"], grid=False),
    Action("right", "grid cursor right", KEYS["right"], KEYS["left"], grid=True),
    Action("down", "grid cursor down", KEYS["down"], KEYS["up"], grid=True),
    Action("pagedown", "page down in the grid", KEYS["pagedown"], KEYS["pageup"], grid=True),
    Action("stage", "next stage (s)", KEYS["s"], None, grid=True),
]
ACTION_BY_NAME = {a.name: a for a in ACTIONS}


# -- the pseudo-terminal ------------------------------------------------------------------------


class PtyApp:
    """`python -m attn_tui ARGS` on a pty; every byte it writes is kept, with the time it was read."""

    def __init__(self, args: list[str], size: tuple[int, int] = SIZE, env: dict[str, str] | None = None,
                 sync: bool = True, colorterm: str | None = COLORTERM) -> None:
        import pty

        self.size = size
        self.sync = sync
        self.buf = bytearray()
        self.chunks: list[tuple[int, float]] = []
        """(end offset in buf, monotonic time read) of every read."""
        self.lock = threading.Lock()
        self.last_read = 0.0
        self._replied = not sync
        self.screen = pyte.Screen(*size)
        self._stream = pyte.ByteStream(self.screen)
        self._fed = 0
        child_env = {k: v for k, v in os.environ.items()
                     if k not in ("TEXTUAL_DRIVER", "COLUMNS", "LINES", "NO_COLOR", "COLORTERM", "TEXTUAL",
                                  "TEXTUAL_COLOR_SYSTEM") and not k.startswith("PYTEST")}
        child_env["TERM"] = "xterm-256color"
        if colorterm:
            child_env["COLORTERM"] = colorterm
        child_env["PYTHONPATH"] = str(APP_ROOT) + os.pathsep + child_env.get("PYTHONPATH", "")
        child_env.update(env or {})
        argv = [sys.executable, "-m", "attn_tui", *args]
        self.started = time.monotonic()
        self.pid, self.fd = pty.fork()
        if self.pid == 0:  # the child: size its terminal (it is the session's controlling tty), exec
            try:
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", size[1], size[0], 0, 0))
                os.chdir(APP_ROOT)  # `python -m` imports from the working directory first
                os.execve(sys.executable, argv, child_env)
            finally:
                os._exit(127)
        self.status: int | None = None
        self._reader = threading.Thread(target=self._read, name="pty-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while True:
            try:
                ready, _, _ = select.select([self.fd], [], [], 0.2)
            except (OSError, ValueError):
                return
            if not ready:
                if self.status is not None:
                    return
                continue
            try:
                data = os.read(self.fd, 65536)
            except OSError:
                return
            if not data:
                return
            now = time.monotonic()
            with self.lock:
                self.buf += data
                self.chunks.append((len(self.buf), now))
                self.last_read = now
                if not self._replied and SYNC_QUERY in self.buf:
                    self._replied = True
                    os.write(self.fd, SYNC_REPLY)

    # -- input and waiting --

    def send(self, data: bytes) -> float:
        sent = time.monotonic()
        os.write(self.fd, data)
        return sent

    def resize(self, cols: int, rows: int) -> float:
        sent = time.monotonic()
        fcntl.ioctl(self.fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        return sent  # the kernel sends SIGWINCH to the pty's foreground group

    def alive(self) -> bool:
        if self.status is not None:
            return False
        pid, status = os.waitpid(self.pid, os.WNOHANG)
        if pid == 0:
            return True
        self.status = os.waitstatus_to_exitcode(status)
        return False

    def wait_quiet(self, quiet: float, since: float, timeout: float = TIMEOUT_S) -> None:
        """Until nothing has been written for `quiet` seconds, counting from `since` at the earliest."""
        deadline = time.monotonic() + timeout
        while True:
            now = time.monotonic()
            with self.lock:
                last = max(self.last_read, since)
            if now - last >= quiet:
                return
            if now > deadline or not self.alive():
                raise RuntimeError(f"attn-tui never went quiet (alive: {self.alive()}); last output "
                                   f"{bytes(self.buf[-300:])!r}")
            time.sleep(min(0.01, max(0.001, quiet - (now - last))))

    def wait_for(self, needle: bytes, start: int = 0, timeout: float = TIMEOUT_S) -> int:
        """Until `needle` is in the output after offset `start`; its offset."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                found = self.buf.find(needle, start)
            if found >= 0:
                return found
            if time.monotonic() > deadline or not self.alive():
                raise RuntimeError(f"{needle!r} never appeared; last output {bytes(self.buf[-300:])!r}")
            time.sleep(0.01)

    def offset(self) -> int:
        with self.lock:
            return len(self.buf)

    def time_at(self, offset: int) -> float:
        """When the byte at `offset` was read."""
        with self.lock:
            for end, t in self.chunks:
                if end > offset:
                    return t
        return time.monotonic()

    def frame_end(self, offset: int) -> int:
        """Offset of the end of the frame holding `offset` (the next ESC[?2026l; without sync, `offset`)."""
        if not self.sync:
            return offset
        end = self.wait_for(SYNC_END, offset, timeout=10)
        return end + len(SYNC_END) - 1

    # -- the emulator --

    def feed_screen(self) -> pyte.Screen:
        """Bring pyte's screen up to date with everything read so far."""
        with self.lock:
            data = bytes(self.buf[self._fed:])
            self._fed = len(self.buf)
        self._stream.feed(data)
        return self.screen

    def snapshot(self) -> list[list[pyte.screens.Char]]:
        screen = self.feed_screen()
        return [[screen.buffer[y][x] for x in range(screen.columns)] for y in range(screen.lines)]

    def quit(self, timeout: float = 20.0) -> int | None:
        if self.alive():
            with contextlib.suppress(OSError):
                self.send(KEYS["quit"])
            deadline = time.monotonic() + timeout
            while self.alive() and time.monotonic() < deadline:
                time.sleep(0.05)
            if self.alive():
                os.kill(self.pid, signal.SIGKILL)
                os.waitpid(self.pid, 0)
                self.status = -9
        self._reader.join(2)
        with contextlib.suppress(OSError):
            os.close(self.fd)
        return self.status


# -- one measurement --------------------------------------------------------------------------------


@dataclass
class Sample:
    """The bytes written after one input, until quiet."""

    data: bytes
    sent: float
    chunk_times: list[float]
    before: list | None = None
    after: list | None = None
    start: int = 0
    """Offset of `data` in everything the app wrote."""

    @property
    def frames(self) -> int:
        return self.data.count(SYNC_START)

    @property
    def nbytes(self) -> int:
        """Bytes a terminal without synchronized output would get: the frame markers left out."""
        return len(self.data) - len(SYNC_START) * self.data.count(SYNC_START) - len(SYNC_END) * self.data.count(
            SYNC_END)

    @property
    def first_ms(self) -> float:
        return (self.chunk_times[0] - self.sent) * 1000 if self.chunk_times else 0.0

    @property
    def last_ms(self) -> float:
        return (self.chunk_times[-1] - self.sent) * 1000 if self.chunk_times else 0.0

    @property
    def max_gap_ms(self) -> float:
        """Longest silence between the first byte and the last (what --quiet must exceed)."""
        times = self.chunk_times
        return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0) * 1000


def split_frames(data: bytes) -> list[tuple[int, bytes]]:
    """(offset, bytes) of each frame in `data`, markers excluded (needs the synchronized-output reply)."""
    frames = []
    at = data.find(SYNC_START)
    while at >= 0:
        body = at + len(SYNC_START)
        end = data.find(SYNC_END, body)
        end = len(data) if end < 0 else end
        frames.append((body, data[body:end]))
        at = data.find(SYNC_START, end)
    return frames


def rows_touched(frame: bytes) -> set[int]:
    """Screen rows (1-based) a frame moves the cursor to."""
    return {int(m.group(1)) for m in re.finditer(rb"\x1b\[(\d+);\d+H", frame)}


def whole_screen_frames(sample: Sample, rows: int = SIZE[1]) -> list[tuple[int, bytes]]:
    """The frames of `sample` that draw every row (Textual's LayoutUpdate: a full-screen repaint)."""
    return [(offset, frame) for offset, frame in split_frames(sample.data)
            if frame.startswith(b"\x1b[1;1H") and rows_touched(frame) >= set(range(1, rows + 1))]


def computing(app: PtyApp) -> bool:
    """The status line says a result is still coming (an edit's echo was drawn, its result not yet)."""
    return "computing" in app.feed_screen().display[0]


def measure(app: PtyApp, do: Callable[[], float], quiet: float, keep_screens: bool = False,
            expect: bool = True) -> Sample:
    """Run `do` (which sends something and returns when), count what is written until quiet.

    Starts only once the app has been silent for `quiet`. Ends once the first byte has come (when
    `expect`ed: on a loaded machine it can be late), then `quiet` seconds passed without output,
    and the status line no longer says "computing" (at 2,048 words an edit's result can follow
    its echo by more than 0.2 s).
    """
    app.wait_quiet(quiet, since=0.0)
    before = app.snapshot() if keep_screens else None
    start = app.offset()
    sent = do()
    if expect:
        deadline = time.monotonic() + FIRST_BYTE_TIMEOUT_S
        while app.offset() == start and time.monotonic() < deadline:
            time.sleep(0.002)
    app.wait_quiet(quiet, since=sent)
    deadline = time.monotonic() + TIMEOUT_S
    while computing(app) and time.monotonic() < deadline:
        time.sleep(0.01)
        app.wait_quiet(quiet, since=sent)
    with app.lock:
        data = bytes(app.buf[start:])
        times = [t for end, t in app.chunks if end > start]
    after = app.snapshot() if keep_screens else None
    return Sample(data, sent, times, before, after, start)


def settle(app: PtyApp, key: bytes | None, quiet: float) -> None:
    if key is not None:
        measure(app, lambda: app.send(key), quiet)


def full_repaint(app: PtyApp, quiet: float, keep_screens: bool = False) -> Sample:
    """The frames drawn after a resize away and back: every cell of the screen, more than once."""
    cols, rows = app.size
    quiet = max(quiet, RESIZE_QUIET_S)
    measure(app, lambda: app.resize(cols + 1, rows), quiet)
    return measure(app, lambda: app.resize(cols, rows), quiet, keep_screens)


def stale_cells(app: PtyApp, quiet: float) -> int:
    """Cells the terminal shows differently from a full repaint of the same state (0: nothing stale).

    The screen is compared before and after a resize away and back, which repaints everything."""
    before = app.snapshot()
    full_repaint(app, quiet)
    after = app.snapshot()
    return sum(a != b for row_a, row_b in zip(before, after, strict=True) for a, b in zip(row_a, row_b, strict=True))


def emulate(data: bytes, size: tuple[int, int] = SIZE) -> pyte.Screen:
    screen = pyte.Screen(*size)
    pyte.ByteStream(screen).feed(data)
    return screen


def same_cells(a: pyte.Screen, b: pyte.Screen) -> float:
    """Fraction of cells (character and attributes) that two screens show alike."""
    same = sum(a.buffer[y][x] == b.buffer[y][x] for y in range(a.lines) for x in range(a.columns))
    return same / (a.lines * a.columns)


def check_full_frame(app: PtyApp, sample: Sample) -> dict:
    """The last whole-screen frame of a resize: its bytes, and whether, alone on a blank terminal, it
    draws what the terminal showed once it was drawn (and what it shows once quiet)."""
    frames = whole_screen_frames(sample)
    if not frames:
        return {"bytes": None, "frames": sample.frames}
    offset, frame = frames[-1]
    alone = emulate(frame)
    with app.lock:
        upto = bytes(app.buf[:sample.start + offset + len(frame)])
    return {"bytes": len(frame), "resize_bytes": sample.nbytes, "resize_frames": sample.frames,
            "whole_screen_frames": len(frames), "draws_screen_then": same_cells(alone, emulate(upto)),
            "draws_screen_quiet": same_cells(alone, app.feed_screen())}


# -- a session: launch, every action, quit --------------------------------------------------------------


def prompt_args(words: int) -> list[str]:
    from benchmarks.prompts import prompt_of

    return ["--prompt", prompt_of(words)]


@dataclass
class Launch:
    first_frame_s: float
    result_s: float
    quiet_s: float
    nbytes: int
    frames: int
    frame_list: list = field(default_factory=list)
    """Each frame: bytes, whether it drew the whole screen, when (s after the spawn)."""


def launch(args: list[str], sync: bool = True, colorterm: str | None = COLORTERM,
           quiet: float = LAUNCH_QUIET_S) -> tuple[PtyApp, Launch]:
    """Start the app; return it quiet with its result on screen, and the start-up's figures."""
    app = PtyApp(args, sync=sync, colorterm=colorterm)
    try:
        first = app.wait_for(b"\x1b[1;1H")  # a whole-screen frame starts at the top left
        first_end = app.frame_end(first)
        result = app.wait_for(b"current", first)  # the status line: "● current T=…"
        result_end = app.frame_end(result)
        app.wait_quiet(quiet, since=app.time_at(result_end))
    except BaseException:
        app.quit(5)
        raise
    with app.lock:
        data = bytes(app.buf)
        quiet_at = app.last_read
    sample = Sample(data, app.started, [])
    frames = [{"bytes": len(frame), "whole_screen": frame.startswith(b"\x1b[1;1H")
               and rows_touched(frame) >= set(range(1, app.size[1] + 1)),
               "at_s": round(app.time_at(offset) - app.started, 3)} for offset, frame in split_frames(data)]
    return app, Launch(app.time_at(first_end) - app.started, app.time_at(result_end) - app.started,
                       quiet_at - app.started, sample.nbytes, sample.frames, frames)


def check_launch_screen(app: PtyApp, words: int) -> list[str]:
    """What the emulator shows after the launch; problems found (empty: the frame is complete)."""
    from benchmarks.prompts import prompt_of

    display = app.feed_screen().display
    problems = []
    first_words = " ".join(prompt_of(words).split()[:3])
    if not any(first_words in line for line in display):
        problems.append(f"the prompt's first words {first_words!r} are not on screen")
    if "current" not in display[0]:
        problems.append(f"the status line does not say current: {display[0].strip()!r}")
    for title in ("Prompt", "Token ids", "Embeddings", "Inspector", "Settings", "Vocab map"):
        if not any(f"─ {title}" in line for line in display):
            problems.append(f"no {title} pane")
    return problems


def run_session(words: int, actions: list[str], repeats: int, quiet: float = QUIET_S, sync: bool = True,
                colorterm: str | None = COLORTERM, keep_screens: bool = False, full: bool = True,
                check_stale: bool = False) -> dict:
    """One launch at `words`; each action `repeats` times; then full repaints of the state they start from.

    The full repaints come last: after a resize away and back the token-ids pane can be a row
    taller than at start-up, which would shift every pane below it for the actions measured next.
    `check_stale` resizes after each action's samples (see `stale_cells`), with the same caveat."""
    app, start = launch(prompt_args(words), sync=sync, colorterm=colorterm)
    out: dict = {"words": words, "launch": vars(start), "actions": {}, "problems": check_launch_screen(app, words),
                 "stale_cells": {}}
    samples: dict[str, list[Sample]] = {}
    try:
        focus_grid = False
        for name in actions:
            action = ACTION_BY_NAME[name]
            if action.grid and not focus_grid:
                settle(app, KEYS["escape"], quiet)
                focus_grid = True
            runs = []
            for _ in range(STAGE_PRESSES if name == "stage" else repeats):
                runs.append(measure(app, lambda k=action.key: app.send(k), quiet, keep_screens))
                settle(app, action.undo, quiet)
            samples[name] = runs
            if check_stale:
                out["stale_cells"][name] = stale_cells(app, quiet)
        if full:  # the state the last action started from; last, as a resize can change the layout
            samples["full"] = [full_repaint(app, quiet, keep_screens) for _ in range(repeats)]
            out["full_check"] = check_full_frame(app, samples["full"][-1])
        idle = measure(app, time.monotonic, 1.0, expect=False)  # anything written with no input, for 1 s
        out["idle_bytes"] = idle.nbytes
    finally:
        out["exit"] = app.quit()
    for name, runs in samples.items():
        out["actions"][name] = summarise(runs)
    if "full" in samples:  # the figure is one whole-screen frame; the resize's own cost is kept aside
        out["actions"]["resize"] = out["actions"].pop("full")
        frames = [len(f[-1][1]) for f in map(whole_screen_frames, samples["full"]) if f]
        if frames:
            out["actions"]["full"] = {"bytes": statistics.median(frames), "min": min(frames), "max": max(frames),
                                      "all": frames, "frames": 1}
        samples["resize"] = samples.pop("full")
    out["_samples"] = samples
    return out


def summarise(runs: list[Sample]) -> dict:
    sizes = [r.nbytes for r in runs]
    return {
        "bytes": statistics.median(sizes), "min": min(sizes), "max": max(sizes), "all": sizes,
        "frames": statistics.median([r.frames for r in runs]),
        "first_ms": statistics.median([r.first_ms for r in runs]),
        "last_ms": statistics.median([r.last_ms for r in runs]),
        "max_gap_ms": max(r.max_gap_ms for r in runs),
        "max_first_ms": max(r.first_ms for r in runs),
    }


# -- where the bytes go -----------------------------------------------------------------------------

_TOKEN = re.compile(
    rb"\x1b\[(?P<csi_p>[?<>=]?)(?P<params>[0-9;:]*)(?P<inter>[ -/]*)(?P<final>[@-~])"
    rb"|\x1b\].*?(?:\x07|\x1b\\)"
    rb"|\x1b[@-_]"
    rb"|(?P<cr>\r)|(?P<lf>\n)"
    rb"|(?P<text>[^\x1b\r\n]+)",
    re.S,
)


@dataclass
class Segment:
    """Text written in one style: the SGR that opened it, its cells, and the reset that closed it."""

    style: bytes
    sgr: int = 0
    reset: int = 0
    cells: list[int] = field(default_factory=list)


@dataclass
class Cell:
    y: int
    x: int
    text: int
    """UTF-8 bytes of the character."""
    move: int = 0
    """Cursor movement bytes (CUP, CR, LF) spent to get here."""
    style: bytes = b""
    share: float = 0.0
    """This cell's share of its segment's SGR and reset bytes."""

    @property
    def total(self) -> float:
        return self.text + self.move + self.share


def tokenise(data: bytes) -> tuple[list[Cell], list[Segment], Counter]:
    """Replay the escape codes: every cell written, every styled segment, and the bytes by kind."""
    data = data.replace(SYNC_START, b"").replace(SYNC_END, b"")
    cells: list[Cell] = []
    segments: list[Segment] = []
    kinds: Counter = Counter()
    y = x = 0
    style = b""
    seg: Segment | None = None
    pending_move = 0
    for m in _TOKEN.finditer(data):
        raw = m.group(0)
        n = len(raw)
        if m.group("text") is not None:
            kinds["text"] += n
            for ch in raw.decode("utf-8", "replace"):
                width = max(wcwidth(ch), 1)
                cells.append(Cell(y, x, len(ch.encode()), pending_move, style))
                pending_move = 0
                if seg is not None:
                    seg.cells.append(len(cells) - 1)
                x += width
        elif m.group("cr") is not None:
            kinds["newline"] += n
            pending_move += n
            x = 0
        elif m.group("lf") is not None:
            kinds["newline"] += n
            pending_move += n
            y += 1
        elif m.group("final") == b"H" and not m.group("csi_p"):
            kinds["cursor"] += n
            pending_move += n
            parts = m.group("params").split(b";")
            y = int(parts[0] or 1) - 1
            x = int(parts[1] or 1) - 1 if len(parts) > 1 else 0
        elif m.group("final") == b"m" and not m.group("csi_p"):
            params = m.group("params")
            if params in (b"", b"0"):
                kinds["reset"] += n
                if seg is not None and seg.cells:
                    seg.reset += n
                else:
                    kinds["reset_alone"] += n
                seg = None
                style = b""
            else:
                kinds["sgr"] += n
                style = params
                seg = Segment(params, sgr=n)
                segments.append(seg)
        else:
            kinds["other"] += n
    kinds["cursor_tail"] = pending_move  # the cursor parked after the last frame
    for s in segments:
        if s.cells:
            share = (s.sgr + s.reset) / len(s.cells)
            for i in s.cells:
                cells[i].share = share
    return cells, segments, kinds


PANES = ("Prompt", "Token ids", "Embeddings", "Inspector", "Settings", "Vocab map")
"""The boxed panes by title; the stage pane's title is the stage's formula."""


@dataclass(frozen=True)
class Box:
    title: str
    top: int
    left: int
    bottom: int
    right: int


def find_boxes(display: list[str]) -> list[Box]:
    """The panes, from their rounded borders: ╭─ Title ─…╮ down to ╰…╯."""
    boxes = []
    for y, line in enumerate(display):
        for x, ch in enumerate(line):
            if ch != "╭":
                continue
            right = line.find("╮", x + 1)
            if right < 0:
                continue
            bottom = next((yy for yy in range(y + 1, len(display)) if display[yy][x:x + 1] == "╰"), None)
            if bottom is None:
                continue
            inner = line[x + 1:right].strip("─ ")
            title = inner.split("─")[0].strip() or "?"
            title = next((p for p in PANES if title.startswith(p)), "Stage")  # the grid's title is its formula
            boxes.append(Box(title, y, x, bottom, right))
    return boxes


def region_of(y: int, x: int, boxes: list[Box], rows: int) -> tuple[str, bool]:
    """The pane a cell belongs to, and whether it is on the pane's border."""
    if y == 0:
        return "status line", False
    if y == rows - 1:
        return "footer", False
    for b in boxes:
        if b.top <= y <= b.bottom and b.left <= x <= b.right:
            border = y in (b.top, b.bottom) or x in (b.left, b.right)
            if b.title == "Stage" and not border:  # stage bar, grid (header line + rows), legend
                if y == b.top + 1:
                    return "Stage: bar", False
                if y == b.bottom - 1:
                    return "Stage: legend", False
                return "Stage: grid", False
            return b.title, border
    return "(outside panes)", False


def _sgr_len(style: bytes) -> int:
    return len(b"\x1b[" + style + b"m")


_FLAGS = {1: "bold", 2: "dim", 3: "italic", 4: "underline", 5: "blink", 7: "reverse", 8: "conceal", 9: "strike"}
_FLAGS_OFF = {"bold": 22, "dim": 22, "italic": 23, "underline": 24, "blink": 25, "reverse": 27, "conceal": 28,
              "strike": 29}


def parse_sgr(style: bytes) -> dict[str, str]:
    """SGR parameters as attributes: {'fg': '38;5;253', 'bg': '48;5;234', 'bold': '1', ...}."""
    attrs: dict[str, str] = {}
    params = [int(p or 0) for p in style.split(b";")] if style else []
    i = 0
    while i < len(params):
        p = params[i]
        if p in (38, 48, 58):
            width = 3 if i + 1 < len(params) and params[i + 1] == 5 else 5
            attrs["fg" if p == 38 else "bg" if p == 48 else "ul"] = ";".join(map(str, params[i:i + width]))
            i += width
            continue
        if p == 0:
            attrs.clear()
        elif p in _FLAGS:
            attrs[_FLAGS[p]] = str(p)
        elif 30 <= p <= 37 or 90 <= p <= 97:
            attrs["fg"] = str(p)
        elif 40 <= p <= 47 or 100 <= p <= 107:
            attrs["bg"] = str(p)
        i += 1
    return attrs


def sgr_delta_len(old: dict[str, str], new: dict[str, str]) -> int:
    """Bytes of the shortest plain SGR taking the terminal from `old` to `new` (0 if equal)."""
    if old == new:
        return 0
    if not new:
        return 4  # ESC[0m
    codes = []
    for name in sorted(set(old) - set(new)):
        codes.append(str({"fg": 39, "bg": 49, "ul": 59}.get(name) or _FLAGS_OFF[name]))
    turned_off_22 = any(n in ("bold", "dim") for n in set(old) - set(new))
    for name, code in new.items():
        if old.get(name) != code or (turned_off_22 and name in ("bold", "dim")):
            codes.append(code)
    delta = 3 + len(";".join(dict.fromkeys(codes)))
    full = 3 + len(";".join(["0", *new.values()]))
    return min(delta, full)


def _cup_len(y: int, x: int) -> int:
    return len(f"\x1b[{y + 1};{x + 1}H")


def analyse(sample: Sample, rows: int = SIZE[1]) -> dict:
    """Where one action's bytes went: by region, by kind, and on cells that did not change."""
    assert sample.before is not None and sample.after is not None
    cells, segments, kinds = tokenise(sample.data)
    before, after = sample.before, sample.after
    display = ["".join(c.data for c in row) for row in before]
    boxes = find_boxes(display)
    if not boxes:
        boxes = find_boxes(["".join(c.data for c in row) for row in after])

    def changed(c: Cell) -> bool:
        return 0 <= c.y < len(after) and 0 <= c.x < len(after[0]) and before[c.y][c.x] != after[c.y][c.x]

    region: dict[str, dict] = defaultdict(lambda: defaultdict(float))
    lines: dict[tuple[str, int], list[Cell]] = defaultdict(list)
    for c in cells:
        name, border = region_of(c.y, c.x, boxes, rows)
        r = region[name]
        r["bytes"] += c.total
        r["cells"] += 1
        r["border_bytes"] += c.total if border else 0
        r["sgr_reset"] += c.share
        r["move"] += c.move
        if changed(c):
            r["changed_cells"] += 1
        else:
            r["unchanged_bytes"] += c.total
        lines[(name, c.y)].append(c)
    for (name, _y), line_cells in lines.items():
        r = region[name]
        r["lines"] += 1
        if not any(changed(c) for c in line_cells):
            r["lines_unchanged"] += 1
            r["lines_unchanged_bytes"] += sum(c.total for c in line_cells)

    # SGR: how often a segment reopens the style the previous one (its left neighbour) just closed.
    same_as_left = 0
    same_bytes = 0
    prev: Segment | None = None
    for s in segments:
        if prev is not None and s.cells and prev.cells and s.style == prev.style:
            a, b = cells[prev.cells[-1]], cells[s.cells[0]]
            if a.y == b.y and b.move == 0:
                same_as_left += 1
                same_bytes += prev.reset + s.sgr
        prev = s
    one_cell = sum(1 for s in segments if len(s.cells) == 1)

    # What smarter encoders would send for the same picture:
    # (a) the same cells, SGR only when the style changes, no ESC[0m after every segment;
    # (b) only the cells that changed (runs merged across gaps of up to 4 unchanged cells), as (a).
    # (c), (d): as (a), (b) with each SGR only naming the attributes that change (ESC[48;5;234m).
    # Each starts with the terminal's default style (Textual ends every frame with ESC[0m).
    current = b""
    enc_a = enc_c = 0
    attrs: dict[str, str] = {}
    for c in cells:
        enc_a += c.text + c.move
        enc_c += c.text + c.move
        if c.style != current:
            enc_a += _sgr_len(c.style) if c.style else 4
            new = parse_sgr(c.style)
            enc_c += sgr_delta_len(attrs, new)
            attrs, current = new, c.style
    last_write = {(c.y, c.x): c for c in cells}
    enc_b = enc_d = 0
    attrs = {}
    current = b""
    cols = len(after[0])
    for y in range(len(after)):
        xs = [x for x in range(cols) if before[y][x] != after[y][x] and (y, x) in last_write]
        if not xs:
            continue
        runs: list[list[int]] = [[xs[0], xs[0]]]
        for x in xs[1:]:
            if x - runs[-1][1] <= 5:
                runs[-1][1] = x
            else:
                runs.append([x, x])
        for x0, x1 in runs:
            enc_b += _cup_len(y, x0)
            enc_d += _cup_len(y, x0)
            for x in range(x0, x1 + 1):
                c = last_write.get((y, x))
                st = c.style if c else b""
                if st != current:
                    enc_b += _sgr_len(st) if st else 4
                    new = parse_sgr(st)
                    enc_d += sgr_delta_len(attrs, new)
                    attrs, current = new, st
                text = len(after[y][x].data.encode()) if after[y][x].data else 1
                enc_b += text
                enc_d += text

    frames_detail = []
    for _offset, frame in split_frames(sample.data) or [(0, sample.data)]:
        by_region: Counter = Counter()
        for c in tokenise(frame)[0]:
            by_region[region_of(c.y, c.x, boxes, rows)[0]] += c.total
        frames_detail.append({"bytes": len(frame), "regions": {k: round(v) for k, v in by_region.most_common()}})

    total = sample.nbytes
    return {
        "frames_detail": frames_detail,
        "bytes": total,
        "frames": sample.frames,
        "kinds": {k: kinds[k] for k in ("text", "sgr", "reset", "cursor", "newline", "other", "cursor_tail")},
        "cells_written": len(cells),
        "cells_changed": sum(1 for c in cells if changed(c)),
        "distinct_cells_changed": sum(before[y][x] != after[y][x] for y in range(len(after)) for x in range(cols)),
        "cells_changed_colour_only": sum(before[y][x] != after[y][x] and before[y][x].data == after[y][x].data
                                         for y in range(len(after)) for x in range(cols)),
        "segments": len(segments),
        "one_cell_segments": one_cell,
        "segments_reopening_left_style": same_as_left,
        "bytes_reopening_left_style": same_bytes,
        "unchanged_bytes": sum(c.total for c in cells if not changed(c)),
        "encoder_same_cells_bytes": enc_a,
        "encoder_changed_cells_bytes": enc_b,
        "encoder_same_cells_delta_bytes": enc_c,
        "encoder_changed_cells_delta_bytes": enc_d,
        "regions": {k: dict(v) for k, v in sorted(region.items(), key=lambda kv: -kv[1]["bytes"])},
    }


def median_sample(runs: list[Sample]) -> Sample:
    ordered = sorted(runs, key=lambda s: s.nbytes)
    return ordered[(len(ordered) - 1) // 2]


# -- start-up: cold and warm ---------------------------------------------------------------------------


def drop_caches() -> bool:
    """Drop the page cache (as after a reboot). False if not allowed (not root, or a container)."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def time_import_torch() -> float:
    import subprocess

    started = time.time()
    done = subprocess.run([sys.executable, "-c", "import torch, time; print(time.time())"], cwd=ROOT,
                          capture_output=True, text=True, check=True)
    return float(done.stdout.split()[-1]) - started


def startup(runs: int) -> dict:
    """First frame and result, `runs` cold starts (page cache dropped) and `runs` warm, alternating."""
    out: dict = {"cold": [], "warm": [], "torch_cold": [], "torch_warm": [], "dropped": None}
    for _ in range(runs):
        for kind in ("cold", "warm"):
            if kind == "cold":
                out["dropped"] = drop_caches()
                if not out["dropped"]:
                    continue
            else:
                time_import_torch()  # warm the cache
            app, start = launch([])
            app.quit()
            out[kind].append({"first_frame_s": start.first_frame_s, "result_s": start.result_s,
                              "bytes": start.nbytes})
        if out["dropped"]:
            drop_caches()
            out["torch_cold"].append(time_import_torch())
        out["torch_warm"].append(time_import_torch())
    return out


# -- the report ---------------------------------------------------------------------------------------

LABELS = {"launch": "first screens (launch → quiet)", "full": "one full-screen repaint (same state)",
          "resize": "resize away and back (all its frames)",
          **{a.name: a.label for a in ACTIONS}}


def kb(n: float) -> str:
    return f"{n / 1000:.1f} KB"


def print_table(results: list[dict], out=sys.stdout) -> None:
    sizes = [r["words"] for r in results]
    header = ["action", *[f"{n:,} words" for n in sizes]]
    rows = []
    names = ["type", "focus", "right", "down", "pagedown", "stage", "full", "launch"]
    for name in names:
        row = [LABELS[name]]
        for r in results:
            if name == "launch":
                row.append(f"{kb(r['launch']['nbytes'])} ({r['launch']['frames']} frames)")
                continue
            a = r["actions"].get(name)
            if a is None:
                row.append("—")
                continue
            cell = f"{kb(a['bytes'])}"
            full = r["actions"].get("full")
            if full and name != "full":
                cell += f" ({a['bytes'] / full['bytes']:.2f}× full)"
            cell += f", {a['frames']:g} fr"
            row.append(cell)
        rows.append(row)
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), file=out)
    print("-+-".join("-" * w for w in widths), file=out)
    for row in rows:
        print(" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)), file=out)
    for r in results:
        gaps = {k: round(v["max_gap_ms"]) for k, v in r["actions"].items() if "max_gap_ms" in v}
        firsts = {k: round(v["max_first_ms"]) for k, v in r["actions"].items() if "max_first_ms" in v}
        notes = [f"{r['words']:,} words: launch first frame {r['launch']['first_frame_s']:.2f} s, "
                 f"result {r['launch']['result_s']:.2f} s; longest silence inside an action's output (ms) {gaps}, "
                 f"slowest first byte (ms) {firsts}"]
        fc = r.get("full_check")
        if fc and fc.get("bytes"):
            notes.append(f"full repaint = the last whole-screen frame of a resize away and back (the resize: "
                         f"{kb(fc['resize_bytes'])} in {fc['resize_frames']} frames, {fc['whole_screen_frames']} of "
                         f"them whole-screen); that frame alone on a blank terminal draws "
                         f"{fc['draws_screen_then']:.1%} of the screen as shown then, "
                         f"{fc['draws_screen_quiet']:.1%} as shown once quiet")
        stale = {k: v for k, v in r.get("stale_cells", {}).items() if v}
        if stale:
            notes.append(f"STALE cells after (against a full repaint): {stale}")
        if r["idle_bytes"]:
            notes.append(f"{r['idle_bytes']} bytes written in 1 s with no input")
        if r["problems"]:
            notes.append("PROBLEMS: " + "; ".join(r["problems"]))
        print("  " + " · ".join(notes), file=out)
    out.flush()


def print_analysis(results: list[dict], out=sys.stdout) -> None:
    for r in results:
        frames = r["launch"]["frame_list"]
        if frames:
            whole = [f for f in frames if f["whole_screen"]]
            print(f"\n{r['words']:,} words · first screens: {r['launch']['nbytes']:,} B in {len(frames)} frames, "
                  f"{len(whole)} of them whole-screen ({sum(f['bytes'] for f in whole):,} B): " + ", ".join(
                      f"{f['bytes']:,}{'*' if f['whole_screen'] else ''} @{f['at_s']:.2f}s" for f in frames), file=out)
        for name, an in r.get("analysis", {}).items():
            k = an["kinds"]
            print(f"\n{r['words']:,} words · {LABELS[name]}: {an['bytes']:,} B in {an['frames']} frame(s); "
                  f"text {k['text']:,} · SGR {k['sgr']:,} · ESC[0m {k['reset']:,} · "
                  f"cursor {k['cursor'] + k['cursor_tail']:,} · CR/LF {k['newline']:,} · other {k['other']:,}",
                  file=out)
            print(f"  cells written {an['cells_written']:,}, changed {an['cells_changed']:,} "
                  f"(distinct cells changed {an['distinct_cells_changed']:,}, of which in colour/style only "
                  f"{an['cells_changed_colour_only']:,}); bytes on unchanged cells "
                  f"{an['unchanged_bytes']:,.0f} ({an['unchanged_bytes'] / max(an['bytes'], 1):.0%}); segments "
                  f"{an['segments']:,} ({an['one_cell_segments']:,} of one cell, "
                  f"{an['segments_reopening_left_style']:,} reopen the style just closed: "
                  f"{an['bytes_reopening_left_style']:,} B)", file=out)
            print(f"  encoders: same cells, SGR only on change {an['encoder_same_cells_bytes']:,} B "
                  f"(delta SGR {an['encoder_same_cells_delta_bytes']:,} B); only changed cells "
                  f"{an['encoder_changed_cells_bytes']:,} B (delta SGR {an['encoder_changed_cells_delta_bytes']:,} B)",
                  file=out)
            for i, f in enumerate(an["frames_detail"], 1):
                regions = ", ".join(f"{k} {v:,}" for k, v in f["regions"].items())
                print(f"  frame {i}: {f['bytes']:,} B: {regions}", file=out)
            print(f"  {'region':<16} {'bytes':>8} {'cells':>6} {'changed':>7} {'unch. B':>8} {'lines':>5} "
                  f"{'unch. lines':>11} {'SGR+0m':>7} {'border':>7}", file=out)
            for reg, v in an["regions"].items():
                print(f"  {reg:<16} {v.get('bytes', 0):>8,.0f} {v.get('cells', 0):>6,.0f} "
                      f"{v.get('changed_cells', 0):>7,.0f} {v.get('unchanged_bytes', 0):>8,.0f} "
                      f"{v.get('lines', 0):>5,.0f} {v.get('lines_unchanged', 0):>11,.0f} "
                      f"{v.get('sgr_reset', 0):>7,.0f} {v.get('border_bytes', 0):>7,.0f}", file=out)
    out.flush()


def run(sizes: list[int], repeats: int, quiet: float = QUIET_S, sync: bool = True,
        colorterm: str | None = COLORTERM,
        analyse_frames: bool = False, typing_only: tuple[int, ...] = (512,), check_stale: bool = False,
        log=sys.stderr) -> list[dict]:
    results = []
    for n in sizes:
        actions = ["type"] if n in typing_only else [a.name for a in ACTIONS]
        print(f"· {n:,} words: {', '.join(actions)} × {repeats}", file=log, flush=True)
        r = run_session(n, actions, repeats, quiet, sync, colorterm, keep_screens=analyse_frames,
                        check_stale=check_stale)
        samples = r.pop("_samples")
        if analyse_frames:
            r["analysis"] = {name: analyse(median_sample(runs)) for name, runs in samples.items()}
        results.append(r)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.pty_bytes", description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,512,2048", help="prompt sizes in words (512: typing only)")
    parser.add_argument("--repeats", type=int, default=8, help="samples per action (medians)")
    parser.add_argument("--quiet", type=float, default=QUIET_S, help="silence (s) that ends an action")
    parser.add_argument("--no-sync", action="store_true", help="leave the synchronized-output query unanswered")
    parser.add_argument("--colorterm", default=COLORTERM,
                        help=f"COLORTERM for the app (default {COLORTERM}; none: unset, 256 colours, "
                             "what plain ssh gives)")
    parser.add_argument("--analyse", action="store_true", help="where the bytes go, per action and region")
    parser.add_argument("--stale-check", action="store_true",
                        help="after each action's samples, compare the screen with a resize's full repaint")
    parser.add_argument("--calibrate", action="store_true", help="quiet = 1.5 s: the longest silences inside actions")
    parser.add_argument("--start", type=int, default=0, metavar="N", help="also N cold and N warm launches")
    parser.add_argument("--no-actions", action="store_true", help="only --start")
    parser.add_argument("--json", metavar="FILE", help="write every figure as JSON")
    parser.add_argument("--app-root", metavar="DIR", help="import attn_tui from DIR (another checkout) in the app")
    args = parser.parse_args(argv)
    if args.colorterm.lower() in ("", "none", "-"):
        args.colorterm = None
    global APP_ROOT
    if args.app_root:
        APP_ROOT = Path(args.app_root).resolve()
    quiet = 1.5 if args.calibrate else args.quiet
    sizes = [int(s) for s in args.sizes.split(",")]
    figures: dict = {"size": SIZE, "quiet_s": quiet, "sync": not args.no_sync, "colorterm": args.colorterm,
                     "app_root": str(APP_ROOT)}
    load = os.getloadavg()
    print(f"attn-tui bytes per action · pty {SIZE[0]}×{SIZE[1]} TERM=xterm-256color COLORTERM={args.colorterm or '-'}"
          f" · quiet {quiet * 1000:.0f} ms · {args.repeats} repeats, medians · load {load[0]:.2f}", flush=True)
    if not args.no_actions:
        results = run(sizes, args.repeats, quiet, not args.no_sync, args.colorterm, args.analyse,
                      check_stale=args.stale_check)
        figures["results"] = results
        print()
        print_table(results)
        if args.analyse:
            print_analysis(results)
    if args.start:
        s = startup(args.start)
        figures["startup"] = s
        print(f"\nstart-up, {args.start} launches each, medians (max):")
        for kind in ("cold", "warm"):
            runs = s[kind]
            if not runs:
                print(f"  {kind}: page cache could not be dropped (not root?)")
                continue
            ff = [x["first_frame_s"] for x in runs]
            rs = [x["result_s"] for x in runs]
            torch_times = s[f"torch_{kind}"]
            torch_note = f"; import torch alone {statistics.median(torch_times):.2f} s" if torch_times else ""
            print(f"  {kind}: first frame {statistics.median(ff):.2f} s ({max(ff):.2f}), result "
                  f"{statistics.median(rs):.2f} s ({max(rs):.2f}){torch_note}")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
