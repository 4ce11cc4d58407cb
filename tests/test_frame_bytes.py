"""Issue 17: what a key sends to the terminal, and what it makes the panes draw again.

Headless at 120 × 40 with 256 colours (TERM=xterm-256color and no COLORTERM: what plain ssh gives),
each frame encoded as the app writes it (frame_diff.FrameDiff) and fed to a terminal emulator. Bytes
per key stay under issue 17's bounds, and the panes draw again only the lines that change
(counted by wrapping each pane's render_line), so that the bytes stay low for the right reason.
"""

from __future__ import annotations

from collections import Counter

import pytest
from textual._compositor import ChopsUpdate, LayoutUpdate

from attn_tui.widgets.matrix import MatrixView
from attn_tui.widgets.tokens import TokenIds, VocabMap
from tests.test_frames import TerminalApp, compare, press, quiet


class CountingApp(TerminalApp):
    """TerminalApp that also counts the bytes it writes, the rows each frame covers and the lines each pane draws."""

    def __init__(self, size: tuple[int, int], **fields) -> None:
        super().__init__(size, **fields)
        self.sent = 0
        self.rows: set[int] = set()
        self.spans: list[tuple[int, int, int]] = []
        self.lines: Counter[str] = Counter()

    def _display(self, screen, renderable) -> None:
        if isinstance(renderable, (ChopsUpdate, LayoutUpdate)) and not self._batch_count:
            if isinstance(renderable, LayoutUpdate):
                region = renderable.region
                self.spans += [(y, region.x, region.right) for y in range(region.y, region.bottom)]
            else:
                self.spans += renderable.spans
            self.rows |= {y for y, _, _ in self.spans}
            frame = self.frame_diff.wrap(screen, renderable).render_segments(self.console)
            self.sent += len(frame.encode())
            self._stream.feed(frame)
            self.frames += 1
        super(TerminalApp, self)._display(screen, renderable)  # headless: writes nothing

    def reset(self) -> None:
        self.sent, self.rows, self.spans, self.lines = 0, set(), [], Counter()

    def drew_over(self, selector: str) -> bool:
        """Whether any frame since the last reset covered part of the widget `selector`."""
        region = self.query_one(selector).region
        return any(region.y <= y < region.bottom and x1 < region.right and x2 > region.x for y, x1, x2 in self.spans)


@pytest.fixture
def ssh_colours(monkeypatch):
    monkeypatch.setenv("TERM", "xterm-256color")
    monkeypatch.delenv("COLORTERM", raising=False)
    monkeypatch.delenv("NO_COLOR", raising=False)


def count_lines(monkeypatch, app: CountingApp) -> None:
    for cls in (MatrixView, TokenIds, VocabMap):
        original = cls.render_line

        def render_line(self, y, original=original):
            app.lines[self.id] += 1
            return original(self, y)

        monkeypatch.setattr(cls, "render_line", render_line)


async def key(app: CountingApp, name: str) -> int:
    """Press `name`, wait until the app is quiet; the bytes it sent."""
    await quiet(app)
    app.reset()
    press(app, name)
    await quiet(app)
    return app.sent


async def test_keys_send_only_what_changes(ssh_colours, monkeypatch):
    app = CountingApp((120, 40))
    async with app.run_test(size=(120, 40)):
        await quiet(app, 0.3)
        assert app.console.color_system == "256"
        await key(app, "escape")
        assert app.sent < 3000, app.sent
        # A focus change repaints the boxes whose borders change, not the whole screen.
        assert not app.drew_over("#vocab-box") and not app.drew_over("#settings-box")
        count_lines(monkeypatch, app)
        for name in ("right", "down", "left", "up"):
            sent = await key(app, name)
            assert sent <= 3000, f"{name}: {sent} bytes (issue 17: a cursor move ≤ 3 KB)"
            # The grid draws its header and the two rows the cursor left and entered; the panes that
            # highlight the query draw the lines that lose and gain the highlight.
            assert app.lines["attention-grid"] <= 3, (name, app.lines)
            assert app.lines["embeddings"] <= 2 and app.lines["vocab-map"] <= 2, (name, app.lines)
            assert app.lines["token-ids"] <= 4, (name, app.lines)
        assert await compare(app) == []


async def test_a_stage_switch_repaints_its_panes_not_the_screen(ssh_colours):
    app = CountingApp((120, 40))
    async with app.run_test(size=(120, 40)):
        await quiet(app, 0.3)
        await key(app, "escape")
        for _ in range(10):
            sent = await key(app, "s")
            # Not the whole screen (the stage reactive repainted it): the panes that do not change are
            # not drawn again.
            assert not app.drew_over("#prompt-box") and not app.drew_over("#settings-box"), sorted(app.rows)
            assert sent < 6000, sent
        assert await compare(app) == []


async def test_the_embeddings_scroll_only_when_the_query_leaves_the_view(ssh_colours):
    app = CountingApp((120, 40), prompt=" ".join(f"w{i}" for i in range(40)))
    async with app.run_test(size=(120, 40)):
        await quiet(app, 0.3)
        await key(app, "escape")
        embeddings = app.query_one("#embeddings", MatrixView)
        seen = embeddings.size.height - 1
        scrolls = []
        for _ in range(seen + 3):
            await key(app, "down")
            scrolls.append(int(embeddings.scroll_y))
        # No re-centring: the view stays put until the query's row reaches its bottom, then follows it.
        assert scrolls[:seen - 1] == [0] * (seen - 1), scrolls
        assert scrolls[-1] == 3 + 1, scrolls
        assert await compare(app) == []


async def test_a_new_colour_range_repaints_the_rows_whose_colours_change():
    """Nearly every edit moves the grid's colour range; only the rows whose numbers or colours change
    are drawn again (at 2,048 words, usually none)."""
    import numpy as np
    from textual.app import App

    from attn_tui.stages import Matrix

    def matrix(values: np.ndarray, high: float) -> Matrix:
        labels = tuple(f"w{i}" for i in range(max(values.shape)))
        return Matrix("m", values, labels[:values.shape[0]], labels[:values.shape[1]], "sequential", 0.0, high)

    values = np.zeros((8, 4), dtype=np.float32)
    values[2, 1] = values[5, 3] = 0.5
    drawn: list[int] = []

    class One(App[None]):
        def compose(self):
            yield MatrixView(id="m")

    app = One()
    async with app.run_test(size=(60, 12)) as pilot:
        view = app.query_one(MatrixView)
        view.set_matrix(matrix(values, 0.6))
        await pilot.pause()
        original = view.render_line
        view.render_line = lambda y: drawn.append(y) or original(y)  # type: ignore[method-assign]
        view.set_matrix(matrix(values.copy(), 0.9))  # the same numbers; 0.5 takes another colour
        await pilot.pause()
        assert sorted(set(drawn)) == [3, 6]  # rows 2 and 5 (line 0 is the header)
        drawn.clear()
        view.set_matrix(matrix(values + np.float32(1e-6), 0.9))  # moved, but prints and colours the same
        await pilot.pause()
        assert drawn == []


async def test_typing_into_a_long_prompt_leaves_the_grid_alone(ssh_colours, monkeypatch):
    """At 2,048 words one more letter in the last word moves the weights by less than their last digit
    and their colour range a little: no line of the grid changes, so none is drawn or sent."""
    from benchmarks.prompts import prompt_of

    app = CountingApp((120, 40), prompt=prompt_of(2048))
    async with app.run_test(size=(120, 40)):
        await quiet(app, 0.5)
        count_lines(monkeypatch, app)
        await key(app, "end")
        sent = await key(app, "s")  # a letter, typed into the prompt
        assert app.lines["attention-grid"] == 0, app.lines
        assert sent < 1000, sent
        assert await compare(app) == []
