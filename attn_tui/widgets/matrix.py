"""A matrix drawn with the Line API: only visible cells cost anything, labels stay in view.

Rows and columns keep their labels (fixed left column, fixed header line) while cells scroll; a
cursor moves over the cells from the keyboard or the mouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from textual import events
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive

from attn_tui.colors import Scale, make_scale
from attn_tui.display import fmt, number_format
from attn_tui.stages import Matrix
from attn_tui.widgets.matrix_lines import MatrixLines

MAX_LABEL = 12
"""Row labels are cut to this many cells, unless the view has room to spare (then up to WIDE_LABEL)."""
WIDE_LABEL = 24
MIN_LABEL = 4
"""When the cells need the room, row labels are cut down to this many cells before a scroll bar shows."""
CACHE_LINES = 512
AUTO_BLOCKS = 32
"""In auto zoom, a matrix with more columns than this shows colour blocks when its numbers do not fit."""
MORE_DIGITS = 2
"""The most extra decimals a cell gets when the view has room for them."""

Zoom = Literal["auto", "numbers", "blocks"]
ZOOMS: tuple[Zoom, ...] = ("auto", "numbers", "blocks")


class MatrixView(MatrixLines, can_focus=True):
    """A labelled, coloured, scrollable matrix with a cell cursor (its lines are drawn by MatrixLines)."""

    DEFAULT_CSS = """
    MatrixView {
        background: $surface;
        scrollbar-size: 1 1;
    }
    """

    COMPONENT_CLASSES = {
        "matrix--label",
        "matrix--label-cursor",
        "matrix--header",
        "matrix--message",
    }

    BINDINGS = [
        Binding("up,k", "move(-1, 0)", "Up", show=False),
        Binding("down,j", "move(1, 0)", "Down", show=False),
        Binding("left,h", "move(0, -1)", "Left", show=False),
        Binding("right,l", "move(0, 1)", "Right", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge('home')", "First column", show=False),
        Binding("end", "edge('end')", "Last column", show=False),
        Binding("ctrl+home,g", "edge('top')", "Top", show=False),
        Binding("ctrl+end,G", "edge('bottom')", "Bottom", show=False),
    ]

    zoom: reactive[Zoom] = reactive("auto", repaint=False)
    """`numbers`, `blocks` (2-cell colour squares), or `auto`: numbers unless the matrix has more than
    AUTO_BLOCKS columns and they do not fit the view (then blocks, which show its shape at a glance)."""

    @dataclass
    class CursorMoved(Message):
        """The cursor now sits on (row, col)."""

        view: MatrixView
        row: int
        col: int

        @property
        def control(self) -> MatrixView:
            return self.view

    def __init__(self, *, show_cursor: bool = True, name: str | None = None, id: str | None = None,
                 classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.show_cursor = show_cursor
        self.matrix = None
        self.message = "computing…"
        self.highlight_row = None
        self._scale = None
        self._spec = ".2f"
        self._num_width = 4
        self._label_width = 4
        self._digits = 1
        self._longest = 1
        self._cell_width = 5
        self._compact_now = False
        self._dark = True
        self._drawn_look: tuple | None = None
        """`_look()` when the matrix was last set: what the lines on screen were drawn with."""
        self._cache = LRUCache(CACHE_LINES)

    # -- data ---------------------------------------------------------------------------------

    def set_matrix(self, matrix: Matrix | None, *, dark: bool = True, message: str = "") -> None:
        """Show `matrix` (None: show `message`), keeping the cursor where it can stay."""
        old, old_look, old_scale = self.matrix, self._drawn_look, self._scale
        self.matrix = matrix
        self.message = message
        self._dark = dark
        self._cache.clear()
        if matrix is None:
            self._drawn_look = None
            self.set_virtual_size(Size(0, 0))
            self.refresh()
            return
        rows, cols = matrix.shape
        self._scale = make_scale(matrix.kind, matrix.low, matrix.high, dark=dark)
        # Row labels carry the token's position in the prompt (kept when special tokens are hidden).
        self._digits = len(str(max(matrix.token_at(rows - 1) if rows else 0, 0)))
        self._longest = max((len(label) for label in matrix.row_labels[:4096]), default=1)
        self._layout()
        row, col = self.cursor
        self.set_reactive(MatrixView.cursor, (min(row, rows - 1), min(col, cols - 1)))
        self._drawn_look = self._look()
        lines = self._changed_lines(old, old_look, old_scale)
        if lines is None:
            self.refresh()
        else:
            self.repaint_lines(lines)

    def set_highlight(self, row: int | None) -> bool:
        """Emphasise `row` (the inspector's query) in a view without a cursor, scrolling only if it is out
        of view (never re-centring: a scroll repaints the pane); True if it changed."""
        if row == self.highlight_row:
            return False
        old, self.highlight_row = self.highlight_row, row
        top = int(self.scroll_y)
        if row is not None and self.matrix is not None and self.size:
            body = max(self.scrollable_content_region.height - 1, 1)
            if not top <= row < top + body:
                self.scroll_to(y=row if row < top else row - body + 1, animate=False, immediate=True)
        look_before, look = self._drawn_look, self._look()
        self._drawn_look = look
        if int(self.scroll_y) != top or look_before is None or look is None or look_before[:-2] != look[:-2]:
            self._cache.clear()
            self.refresh()  # scrolled (or drawn from another matrix): every line is new
        else:  # the two rows whose emphasis changed; the line cache keys on the emphasis already
            self.repaint_lines(r - top + 1 for r in (old, row) if r is not None)
        return True

    def _look(self) -> tuple | None:
        """Everything but the cells themselves that a drawn line depends on."""
        m = self.matrix
        if m is None:
            return None
        # Not the column labels: a new word changes them, and only the visible ones matter (_changed_lines).
        return (m.shape, m.kind, m.low, m.high, m.masked is None, m.mask_text, self._dark, self._num_width,
                self._spec, self._label_width, self._cell_width, self._compact_now,
                self.highlight_row, self.cursor)

    def _changed_lines(self, old: Matrix | None, old_look: tuple | None, old_scale: Scale | None) -> list[int] | None:
        """The visible lines that differ between `old` and the new matrix; None: all of them.

        An edit of the prompt's last word changes one row of the embeddings: one line is drawn
        again, not the pane. When only the colour range moved (nearly every edit), a line is drawn
        again where a value or a cell's colour changed (at 2,048 words, often none).
        """
        import numpy as np

        new, look = self.matrix, self._drawn_look
        if old is None or new is None or old_look is None or look is None or not self.size:
            return None
        same_range = old_look[2:4] == look[2:4]
        if old_look[:2] + old_look[4:] != look[:2] + look[4:] or (not same_range and old_scale is None):
            return None
        top = int(self.scroll_y)
        bottom = min(top + self.size.height - 1, new.shape[0])
        first, last, _ = self._visible_columns(self.scrollable_content_region.width, int(self.scroll_x))
        if bottom <= top:
            return [0] if old.col_labels[first:last] != new.col_labels[first:last] else []
        before, after = old.values[top:bottom, first:last], new.values[top:bottom, first:last]
        moved = np.any(before != after, axis=1)
        if old.masked is not None and new.masked is not None:
            moved |= np.any(old.masked[top:bottom, first:last] != new.masked[top:bottom, first:last], axis=1)
        recoloured = np.zeros(len(moved), dtype=bool)
        if not same_range and before.size:
            assert old_scale is not None and self._scale is not None
            shape = before.shape
            recoloured = np.any(np.asarray(old_scale.buckets(before.ravel())).reshape(shape)
                                != np.asarray(self._scale.buckets(after.ravel())).reshape(shape), axis=1)
        lines = [0] if old.col_labels[first:last] != new.col_labels[first:last] else []
        for i, row in enumerate(range(top, bottom)):
            if recoloured[i] or old.row_labels[row] != new.row_labels[row] or (moved[i] and (
                    self.app.no_color or not self._compact_now  # blocks show a value's colour only
                    and self._texts(old, row, first, last) != self._texts(new, row, first, last))):
                lines.append(i + 1)
        return lines

    def _texts(self, m: Matrix, row: int, first: int, last: int) -> list[str]:
        """The numbers row `row` shows in columns first..last (a value that moved may print the same)."""
        masked = m.masked[row, first:last].tolist() if m.masked is not None else [False] * (last - first)
        return [m.mask_text if hide else fmt(v, self._spec)
                for v, hide in zip(m.values[row, first:last].tolist(), masked, strict=True)]

    def _layout(self) -> None:
        """Numbers or blocks, how many decimals, how wide the labels: from the zoom and the view's width."""
        m = self.matrix
        if m is None:
            return
        rows, cols = m.shape
        # The width the cells get once the vertical scroll bar is there, if the rows will need one: measured
        # before it shows, the cells got a column too many, a horizontal bar came with it, and the first
        # later change of the matrix redrew every row at the right width (issue 17).
        region = self.content_region
        view = region.width
        if rows + 1 > region.height and self.styles.overflow_y != "hidden":
            view -= self.styles.scrollbar_size_vertical
        view = max(view, 0)
        sequential = m.kind == "sequential"

        def number_width(extra: int) -> tuple[int, str]:
            width, spec = number_format(m.low, m.high, sequential=sequential, extra=extra)
            return (max(width, len(m.mask_text)) if m.masked is not None else width), spec

        def label_width(letters: int) -> int:  # the token's position, a space, the word, a space
            return self._digits + 1 + letters + 1

        label = label_width(min(self._longest, MAX_LABEL))
        width, spec = number_width(0)
        if self.zoom == "auto":
            blocks = cols > AUTO_BLOCKS and view > 0 and label + cols * (width + 1) > view
        else:
            blocks = self.zoom == "blocks"
        if not blocks and view > 0:
            for extra in range(MORE_DIGITS, 0, -1):  # more decimals when every column still fits
                wider, wider_spec = number_width(extra)
                if label + cols * (wider + 1) <= view:
                    width, spec = wider, wider_spec
                    break
        if not blocks and view > 0 and m.col_labels:
            # Room to spare: cells as wide as their column labels (whole words over the keys), up to 12.
            longest_col = min(max(len(c) for c in m.col_labels[:4096]), 12)
            room = (view - label) // cols - 1
            width = max(width, min(longest_col, room))
        cell = 2 if blocks else width + 1
        if label + cols * cell > view >= cols * cell + label_width(MIN_LABEL):
            # Every column fits but the labels push them over: the labels give way (cut with …), down to a
            # few letters. Otherwise a word one letter longer showed a scroll bar, and each letter typed laid
            # the whole screen out again as it came and went (issue 17). A matrix that scrolls anyway keeps
            # its labels whole.
            label = view - cols * cell
        spare = view - (label + cols * cell)
        if spare > 0 and self._longest > MAX_LABEL:  # room to spare: longer words
            label += min(spare, WIDE_LABEL - MAX_LABEL, self._longest - MAX_LABEL)
        self._compact_now, self._num_width, self._spec = blocks, width, spec
        self._label_width, self._cell_width = label, cell
        self._cache.clear()
        self.set_virtual_size(Size(label + cols * cell, rows + 1))

    def watch_zoom(self) -> None:
        self._layout()
        self.refresh()

    def cycle_zoom(self) -> Zoom:
        """auto → numbers → blocks → auto; returns the new zoom."""
        self.zoom = ZOOMS[(ZOOMS.index(self.zoom) + 1) % len(ZOOMS)]
        return self.zoom

    @property
    def zoom_text(self) -> str:
        """What the zoom is and what it shows now: `auto: numbers`."""
        shown = "blocks" if self._compact_now else "numbers"
        return f"auto: {shown}" if self.zoom == "auto" else self.zoom

    def on_resize(self, event: events.Resize) -> None:
        self._layout()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cache.clear()

    # -- cursor -------------------------------------------------------------------------------

    def watch_cursor(self, old: tuple[int, int], new: tuple[int, int]) -> None:
        scroll = (self.scroll_x, self.scroll_y)
        self._scroll_to_cursor()
        look_before, look = self._drawn_look, self._look()
        self._drawn_look = look
        scrolled = (self.scroll_x, self.scroll_y) != scroll
        if scrolled or look_before is None or look is None or look_before[:-2] != look[:-2]:
            self._cache.clear()
            self.refresh()  # scrolled: every line is new
        else:
            # The header (its column label) and the rows the cursor left and entered; the line cache
            # keys on the cursor, so the other lines stay as they are.
            top = int(self.scroll_y)
            self.repaint_lines({0, old[0] - top + 1, new[0] - top + 1})
        self.post_message(self.CursorMoved(self, *new))

    def move_cursor(self, row: int, col: int) -> None:
        if self.matrix is None:
            return
        rows, cols = self.matrix.shape
        self.cursor = (min(max(row, 0), rows - 1), min(max(col, 0), cols - 1))

    def action_move(self, drow: int, dcol: int) -> None:
        row, col = self.cursor
        self.move_cursor(row + drow, col + dcol)

    def action_page(self, direction: int) -> None:
        page = max(self.size.height - 2, 1)
        row, col = self.cursor
        self.move_cursor(row + direction * page, col)

    def action_edge(self, where: str) -> None:
        if self.matrix is None:
            return
        rows, cols = self.matrix.shape
        row, col = self.cursor
        target = {"home": (row, 0), "end": (row, cols - 1), "top": (0, col), "bottom": (rows - 1, col)}
        self.move_cursor(*target[where])

    def _scroll_to_cursor(self) -> None:
        """Scroll so that the cursor's cell is whole in view; horizontal scrolling keeps to cell edges."""
        if self.matrix is None or not self.size:
            return
        row, col = self.cursor
        cw = self._cell_width
        whole = max((self.scrollable_content_region.width - self._label_width) // cw, 1)
        body_height = max(self.scrollable_content_region.height - 1, 1)
        first = -(-int(self.scroll_x) // cw)  # the first whole cell in view
        y = self.scroll_y
        if col < first:
            first = col
        elif col >= first + whole:
            first = col - whole + 1
        if row < y:
            y = row
        elif row >= y + body_height:
            y = row - body_height + 1
        self.scroll_to(first * cw, y, animate=False, immediate=True)

    def on_click(self, event: events.Click) -> None:
        if self.matrix is None:
            return
        offset = event.get_content_offset(self)
        if offset is None:
            return
        x, y = offset
        if y < 1 or x < self._label_width:
            return
        col = (x - self._label_width + int(self.scroll_x)) // self._cell_width
        row = y - 1 + int(self.scroll_y)
        self.focus()
        self.move_cursor(row, col)

    # -- drawing ------------------------------------------------------------------------------
