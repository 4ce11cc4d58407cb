"""The head table: every layer × head as one row of statistics (entropy, sink, self, previous, duplicate,
induction, max, Δ vs B), sortable by any column; Enter opens a head's grid.

Line API: 270 rows (SmolLM2's 30 × 9) draw only what is in view. The numbers come from
`attn_tui.analysis.head_stats` (pure), computed off the UI thread; this only draws and navigates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.segment import Segment
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from attn_tui.widgets.frame_style import FrameStyle

if TYPE_CHECKING:
    from attn_tui.analysis import HeadStats

HEADINGS = {"entropy": "entropy", "sink": "sink", "self": "self", "previous": "prev", "duplicate": "dup",
            "induction": "induct", "max": "max", "delta": "Δ vs B"}
"""Column → its heading (HeadStats' column names are the --json keys)."""
CELL = 8
"""Cells per statistic column."""


@dataclass(frozen=True)
class TableData:
    """What the table shows: the statistics, the key/value heads, and where they were measured."""

    stats: HeadStats
    kv_heads: int
    """Key/value heads per layer (fewer than the query heads with grouped-query attention)."""
    induction_note: str = ""
    """Where the induction column came from when it is not the prompt (the induction test)."""


class HeadTable(FrameStyle, ScrollView, can_focus=True):
    """One row per head; arrows move, ←/→ choose a column, s sorts by it (again: the other way), enter opens."""

    DEFAULT_CSS = """
    HeadTable {
        background: $surface;
        scrollbar-size: 1 1;
    }
    HeadTable > .head-table--header {
        color: $text-muted;
        text-style: bold;
    }
    HeadTable > .head-table--column {
        color: $accent;
        text-style: bold underline;
    }
    HeadTable > .head-table--cursor {
        background: $accent 40%;
        text-style: bold;
    }
    HeadTable > .head-table--current {
        color: $accent;
        text-style: bold;
    }
    HeadTable > .head-table--blank {
        color: $text-disabled;
    }
    """

    COMPONENT_CLASSES = {"head-table--header", "head-table--column", "head-table--cursor", "head-table--current",
                         "head-table--blank"}

    BINDINGS = [
        Binding("up,k", "move(-1)", "Up", show=False),
        Binding("down,j", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home,g", "edge(-1)", "First", show=False),
        Binding("end,G", "edge(1)", "Last", show=False),
        Binding("left,h", "column(-1)", "Column left", show=False),
        Binding("right,l", "column(1)", "Column right", show=False),
        Binding("s", "sort", "Sort"),
        Binding("enter", "open", "Open head"),
        Binding("i", "induction", "Induction test"),
    ]

    row: reactive[int] = reactive(0, repaint=False)
    """The row under the cursor (in the sorted order)."""

    @dataclass
    class Opened(Message):
        """Enter: show this head's grid (layer and head from 0)."""

        layer: int
        head: int

    @dataclass
    class InductionAsked(Message):
        """`i`: run the induction test and fill the induction column from it."""

    @dataclass
    class Sorted(Message):
        """The rows were sorted again (the screen's title says how)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.data: TableData | None = None
        self.message = "computing the statistics…"
        self.column = "sink"
        """The column the cursor is on (sorting acts on it)."""
        self.sort: tuple[str, bool] | None = None
        """(column, descending) the rows are sorted by; None: layer, head order."""
        self.current: tuple[int, int] = (0, 0)
        """The head the grid shows (marked ▶)."""
        self._order: list[tuple[int, int]] = []

    # -- data ---------------------------------------------------------------------------------

    def show(self, data: TableData | None, current: tuple[int, int], message: str = "") -> None:
        self.data, self.current, self.message = data, current, message
        if data is not None and self.column not in data.stats.columns:
            self.column = "sink"
        self._reorder()

    def _reorder(self) -> None:
        data = self.data
        if data is None:
            self._order = []
            self.set_virtual_size(Size(0, 0))
        else:
            stats = data.stats
            if self.sort is None or self.sort[0] not in stats.columns:
                self._order = [(layer, head) for layer in range(stats.layers) for head in range(stats.heads)]
            else:
                column, descending = self.sort
                self._order = [(layer - 1, head - 1) for layer, head in stats.order(column, descending=descending)]
            self.set_virtual_size(Size(self._width(), len(self._order) + 1))
        self.set_reactive(HeadTable.row, min(self.row, max(len(self._order) - 1, 0)))
        self.refresh()

    def _columns(self) -> tuple[str, ...]:
        return self.data.stats.columns if self.data is not None else ()

    def _width(self) -> int:
        return 12 + CELL * len(self._columns())

    # -- navigation ---------------------------------------------------------------------------

    def watch_row(self) -> None:
        top, height = int(self.scroll_y), max(self.size.height - 1, 1)
        if self.row < top:
            self.scroll_to(y=self.row, animate=False, immediate=True)
        elif self.row >= top + height:
            self.scroll_to(y=self.row - height + 1, animate=False, immediate=True)
        self.refresh()

    def action_move(self, step: int) -> None:
        if self._order:
            self.row = min(max(self.row + step, 0), len(self._order) - 1)

    def action_page(self, step: int) -> None:
        self.action_move(step * max(self.size.height - 2, 1))

    def action_edge(self, step: int) -> None:
        if self._order:
            self.row = 0 if step < 0 else len(self._order) - 1

    def action_column(self, step: int) -> None:
        columns = self._columns()
        if columns:
            index = columns.index(self.column) if self.column in columns else 0
            self.column = columns[(index + step) % len(columns)]
            left = 12 + CELL * columns.index(self.column)  # keep the chosen column in view
            width = self.scrollable_content_region.width
            if left < self.scroll_x + 12 or left + CELL > self.scroll_x + width:
                self.scroll_to(x=max(left + CELL - width, 0) if left + CELL > width else 0, animate=False,
                               immediate=True)
            self.refresh()

    def action_sort(self) -> None:
        """Sort by the cursor's column, largest first; again: smallest first; blanks always last."""
        descending = not (self.sort is not None and self.sort[0] == self.column and self.sort[1])
        self.sort = (self.column, descending)
        self._reorder()
        self.post_message(self.Sorted())

    def action_open(self) -> None:
        if self._order:
            self.post_message(self.Opened(*self._order[self.row]))

    def action_induction(self) -> None:
        self.post_message(self.InductionAsked())

    @property
    def sort_text(self) -> str:
        """`sorted by sink ▼`, or how the rows are ordered."""
        if self.sort is None:
            return "layer, head order"
        column, descending = self.sort
        return f"sorted by {HEADINGS[column]} {'▼' if descending else '▲'}"

    # -- drawing ------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.base_style
        data = self.data
        if data is None:
            text = (self.message if y == 0 else "")[:width]
            return Strip([Segment(text.ljust(width), base)], width)
        scroll_x = int(self.scroll_x)
        columns = data.stats.columns
        grouped = data.kv_heads < data.stats.heads
        if y == 0:
            header = self.component_style("head-table--header")
            chosen = self.component_style("head-table--column")
            segments = [Segment(f"  {'L':>3} {'H':>3} {'kv' if grouped else '':>2} ", header)]
            for column in columns:
                mark = ""
                if self.sort is not None and self.sort[0] == column:
                    mark = "▼" if self.sort[1] else "▲"
                segments.append(Segment((HEADINGS[column] + mark).rjust(CELL - 1) + " ",
                                        chosen if column == self.column else header))
        else:
            index = y - 1 + int(self.scroll_y)
            if index >= len(self._order):
                return Strip.blank(width, base)
            layer, head = self._order[index]
            style = base
            if index == self.row:
                style = base + self.component_style("head-table--cursor")
            elif (layer, head) == self.current:
                style = base + self.component_style("head-table--current")
            blank = self.component_style("head-table--blank")
            group = head // (data.stats.heads // data.kv_heads) + 1 if grouped else None
            marker = "▶ " if (layer, head) == self.current else "  "
            segments = [Segment(f"{marker}{layer + 1:>3} {head + 1:>3} {group or '':>2} ", style)]
            for column in columns:
                value = float(data.stats[column][layer, head])
                if math.isnan(value):
                    segments.append(Segment("—".rjust(CELL - 1) + " ", style + blank if index != self.row else style))
                else:
                    segments.append(Segment(f"{value:.3f}".rjust(CELL - 1) + " ", style))
        strip = Strip(segments)
        if scroll_x:
            strip = strip.crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width, base).crop(0, width)
