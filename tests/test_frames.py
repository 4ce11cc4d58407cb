"""What the terminal shows, frame by frame, is what the app would draw from scratch.

The panes repaint only the lines that changed, an edit's echo may wait for its result, and each frame
sends only the cells that differ from what the terminal shows (frame_diff.FrameDiff): each could leave
stale cells on the terminal that no snapshot would see (a snapshot draws the screen anew). Here every
frame the app writes, as it writes it, is fed to a terminal emulator (pyte), and after each burst of
keys, once the app is quiet, that terminal must show exactly what a full redraw shows: the same
characters, colours and attributes in every cell.
"""

from __future__ import annotations

import asyncio
import random
import time
from pathlib import Path

import pyte
import pytest
from textual import events
from textual._compositor import CompositorUpdate

import attn_tui.app
from attn_tui.app import AttnApp

KEYS = [*"ab xyz", "backspace", "space", "escape", "slash", "tab", "pagedown", "pageup", "down", "up", "left",
        "right", "home", "end", "ctrl+home", "ctrl+end", "1", "3", "7", "8", "9", "0", "s", "o", "c", "z",
        "left_square_bracket", "right_square_bracket"]
"""Typing (into the prompt or a field, wherever focus is), moving, and the grid's single keys."""


class TerminalApp(AttnApp):
    """AttnApp whose frames also go to an emulated terminal."""

    CSS_PATH = str(Path(attn_tui.app.__file__).with_name(AttnApp.CSS_PATH))

    def __init__(self, size: tuple[int, int], **fields) -> None:
        super().__init__(**fields)
        self.show_timing = False
        self.terminal = pyte.Screen(*size)
        self._stream = pyte.Stream(self.terminal)
        self.frames = 0

    def _display(self, screen, renderable) -> None:
        super()._display(screen, renderable)  # headless: nothing written, nothing encoded
        if isinstance(renderable, CompositorUpdate) and not self._batch_count:
            # What AttnApp._display writes to a real terminal: the frame through the app's FrameDiff.
            self._stream.feed(self.frame_diff.wrap(screen, renderable).render_segments(self.console))
            self.frames += 1

    def redrawn(self) -> list[str]:
        """The screen drawn from scratch now (Textual's own encoding), as the same emulator shows it."""
        fresh = pyte.Screen(self.terminal.columns, self.terminal.lines)
        update = self.screen._compositor.render_update(full=True)
        pyte.Stream(fresh).feed("".join(update.render_segments(self.console)))
        return rows(fresh)


def rows(terminal: pyte.Screen) -> list[str]:
    """Each line's characters, then the colours and attributes each cell shows, where they change along the line.

    A blank shows its background only (unless reversed, underlined or struck through): its foreground
    and bold or italic are not compared (FrameDiff keeps them from the cell before)."""
    out = []
    for y, line in enumerate(terminal.display):
        cells = [terminal.buffer[y][x] for x in range(terminal.columns)]
        attrs = [(c.fg, c.bg, c.bold, c.italics, c.underscore, c.strikethrough, c.reverse)
                 if c.data.strip(" ") or c.reverse or c.underscore or c.strikethrough else ("", c.bg)
                 for c in cells]
        out.append(line + " | " + " ".join(f"{x}:{a}" for x, a in enumerate(attrs) if x == 0 or a != attrs[x - 1]))
    return out


async def quiet(app: TerminalApp, seconds: float = 0.12, timeout: float = 20.0) -> None:
    """Wait until nothing is computing, no frame is held back (ours or Textual's own batches), and no
    frame has been written for `seconds`. A hold that is never released fails here."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        frames = app.frames
        await asyncio.sleep(seconds)
        if (app.frames == frames and not app.computing
                and not app._batch_count):
            return
    raise AssertionError(f"the app never went quiet (frames held: {app._batch_count})")


async def compare(app: TerminalApp, tries: int = 5) -> list[str]:
    """The lines where the terminal differs from a full redraw, once the app is quiet.

    A full redraw taken while a widget is between two compositions (the footer recomposes its keys
    when the bindings change, a few ms apart under load) shows that widget blank: a difference that
    a moment later is gone, with no frame written. A stale line on the terminal stays; so compare
    again, after a quiet wait, before calling a difference stale.
    """
    for _ in range(tries):
        shown, fresh = rows(app.terminal), app.redrawn()
        stale = [f"line {y}:\n  shown {a!r}\n  fresh {b!r}"
                 for y, (a, b) in enumerate(zip(shown, fresh, strict=True)) if a != b]
        if not stale:
            return []
        await quiet(app, 0.2)
    return stale


def press(app: TerminalApp, key: str) -> None:
    char = " " if key == "space" else key if len(key) == 1 else None
    app.post_message(events.Key(key, char))


@pytest.mark.parametrize(("seed", "size"), [(0, (120, 40)), (1, (120, 40)), (2, (80, 24))])
async def test_the_terminal_shows_what_a_full_redraw_shows(seed, size):
    rng = random.Random(seed)
    app = TerminalApp(size, heads=2)
    async with app.run_test(size=size):
        await quiet(app, 0.3)
        for burst in range(25):
            keys = [rng.choice(KEYS) for _ in range(rng.randint(1, 6))]
            for key in keys:
                press(app, key)
                await asyncio.sleep(rng.choice([0, 0, 0.002, 0.01, 0.03]))
            await quiet(app)
            stale = await compare(app)
            assert not stale, f"burst {burst} {keys}: stale lines on the terminal\n" + "\n".join(stale[:5])


async def test_typing_then_paging_leaves_no_stale_line():
    """The prompt grows past the embeddings pane (it gains a scrollbar), then the cursor goes to the
    last word (the pane scrolls to its row): every line of every pane is the new one."""
    app = TerminalApp((120, 40))
    async with app.run_test(size=(120, 40)):
        await quiet(app, 0.3)
        for char in " and more words":
            press(app, "space" if char == " " else char)
            await asyncio.sleep(0.02)
        await quiet(app)
        press(app, "escape")  # focus moves after the key is handled: the next keys wait for it
        await quiet(app)
        for key in ("pagedown", "down", "right"):
            press(app, key)
        await quiet(app)
        grid, embeddings = app.query_one("#attention-grid"), app.query_one("#embeddings")
        assert grid.cursor == (12, 1) and embeddings.highlight_row == 12, (app.focused, grid.cursor)
        assert embeddings.scroll_y > 0, "the query's row scrolled into view"
        assert await compare(app) == []
