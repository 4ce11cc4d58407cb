"""A stopwatch inside the app: the time each frame is written, and which result it showed.

`ProbeApp` is `AttnApp` plus a hook on `App._display`, the call that hands a compositor update to
the driver at the end of every screen refresh. The headless driver writes nothing, so the hook
also encodes the update to terminal escape codes, as a real terminal driver would, before it
stops the clock: a frame's cost includes the bytes it would have sent.

The attention grid's `render_line` and `set_matrix` are wrapped too, so a frame counts as "showing the
new result" only once the grid has drawn a line of the new result's matrix or been given it before that
frame (not merely once `app.result` was assigned: a refresh that lands between the two would show the
old picture). The grid repaints only the lines that change (issue 17), so an edit that changes none of
the visible cells draws no line of the grid at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from textual import events
from textual._compositor import CompositorUpdate

import attn_tui.app
from attn_tui.app import AttnApp
from attn_tui.widgets.matrix import MatrixView


class ProbeApp(AttnApp):
    """AttnApp that timestamps every frame and can be awaited for the first frame meeting a condition."""

    CSS_PATH = str(Path(attn_tui.app.__file__).with_name(AttnApp.CSS_PATH))  # relative paths follow the module

    def __init__(self, *args: Any, encode: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.encode = encode
        """Render each update to escape codes (what a terminal driver does) before stopping the clock."""
        self.frames = 0
        """Frames written so far."""
        self.frame_times: list[float] = []
        """perf_counter() at the end of each frame (bounded: the newest 10,000)."""
        self.drawn_matrix: object | None = None
        """The matrix the attention grid last drew a line of."""
        self.drawn_scroll: tuple[int, int] = (0, 0)
        """The grid's scroll offset when it last drew a line."""
        self.drawn_cursor: tuple[int, int] = (0, 0)
        """The grid's cursor when it last drew a line."""
        self.first_frame_at: float | None = None
        self.first_result_frame_at: float | None = None
        self._waiters: list[tuple[Callable[[], bool], asyncio.Future[float]]] = []
        self._matrix_set = False
        """The grid was given a matrix since the last frame: the next frame shows it, even when none of its
        visible lines changed (the grid then repaints none: issue 17)."""
        self.on_first_frame: Callable[[float], None] | None = None
        self.on_first_result: Callable[[float], None] | None = None

    def on_mount(self) -> None:
        # The explorer screen composes after the app mounts: wrap its grid once it is there.
        self.call_after_refresh(self._probe_grid)

    def _probe_grid(self) -> None:
        grid = self.explorer.query_one("#attention-grid", MatrixView)
        render_line = grid.render_line

        def probed_render_line(y: int):
            self.drawn_matrix = grid.matrix
            self.drawn_scroll = (int(grid.scroll_x), int(grid.scroll_y))
            self.drawn_cursor = grid.cursor
            return render_line(y)

        grid.render_line = probed_render_line  # type: ignore[method-assign]
        set_matrix = grid.set_matrix

        def probed_set_matrix(matrix: Any, **kwargs: Any) -> None:
            set_matrix(matrix, **kwargs)
            self._matrix_set = True

        grid.set_matrix = probed_set_matrix  # type: ignore[method-assign]

    def shows_result(self) -> bool:
        """The grid has drawn the matrix of the current result (so the frame shows it)."""
        if self.result is None:
            return False
        grid = self.query_one("#attention-grid", MatrixView)
        return grid.matrix is not None and self.drawn_matrix is grid.matrix

    def _display(self, screen, renderable) -> None:
        super()._display(screen, renderable)
        if renderable is None or self._batch_count:
            return
        if self.encode and self.is_headless and isinstance(renderable, CompositorUpdate):
            # What the terminal driver writes: the frame through the app's FrameDiff (attn_tui.frame_diff).
            self.frame_diff.wrap(screen, renderable).render_segments(self.console)
        if self._matrix_set:
            self._matrix_set = False
            self.drawn_matrix = self.explorer.query_one("#attention-grid", MatrixView).matrix
        now = time.perf_counter()
        self.frames += 1
        self.frame_times.append(now)
        if len(self.frame_times) > 10_000:
            del self.frame_times[:5_000]
        if self.first_frame_at is None:
            self.first_frame_at = now
            if self.on_first_frame is not None:
                self.on_first_frame(now)
        if self.first_result_frame_at is None and self.shows_result():
            self.first_result_frame_at = now
            if self.on_first_result is not None:
                self.on_first_result(now)
        if self._waiters:
            still = []
            for condition, future in self._waiters:
                if future.done():
                    continue
                if condition():
                    future.set_result(now)
                else:
                    still.append((condition, future))
            self._waiters = still

    def next_frame(self, condition: Callable[[], bool] = lambda: True) -> asyncio.Future[float]:
        """A future holding the end time of the first frame, from now on, for which `condition()` holds."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters.append((condition, future))
        return future

    def press(self, key: str) -> None:
        """Post one key press, as the driver would (the pilot's way, without its waits)."""
        char = key if len(key) == 1 else None
        event = events.Key(key, char)
        event.set_sender(self)
        self.post_message(event)


async def quiet(app: ProbeApp, seconds: float = 0.05, timeout: float = 30.0) -> None:
    """Wait until the app has written no frame and computed nothing for `seconds`."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        frames = app.frames
        await asyncio.sleep(seconds)
        if app.frames == frames and not app.computing:
            return


async def first_result(app: ProbeApp, timeout: float = 60.0) -> None:
    """Wait for the first frame showing a result."""
    deadline = time.perf_counter() + timeout
    while app.first_result_frame_at is None:
        if time.perf_counter() > deadline:
            raise TimeoutError("no result on screen")
        await asyncio.sleep(0.01)
    await quiet(app)
