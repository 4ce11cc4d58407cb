"""How a MatrixView draws one line (the Line API): the header of column labels, or one row's label and
its visible cells. Only whole cells are drawn, labels stay in view, and drawn lines are cached by what
they depend on. MatrixView (matrix.py) keeps the state, the layout, the cursor and the repaints.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual.cache import LRUCache
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from attn_tui.colors import Scale
from attn_tui.display import fit, fmt
from attn_tui.stages import Matrix
from attn_tui.widgets.frame_style import FrameStyle


class MatrixLines(FrameStyle, ScrollView):
    """The drawing half of MatrixView; MatrixView sets every attribute below."""

    cursor: reactive[tuple[int, int]] = reactive((0, 0), always_update=False, repaint=False)
    """(row, col) of the cell under the cursor."""
    matrix: Matrix | None
    message: str
    """Shown instead of cells while there is no matrix."""
    show_cursor: bool
    highlight_row: int | None
    """A row to emphasise (the inspector's query) when this view has no cursor of its own."""
    _scale: Scale | None
    _spec: str
    _num_width: int
    _label_width: int
    _digits: int
    _cell_width: int
    _compact_now: bool
    _cache: LRUCache[tuple, Strip]

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.base_style
        if self.matrix is None:
            if y == 0 and self.message:
                style = self.component_style("matrix--message")
                return Strip([Segment(fit(self.message, width), style)], width)
            return Strip.blank(width, base)
        scroll_x, scroll_y = int(self.scroll_x), int(self.scroll_y)
        row = None if y == 0 else y - 1 + scroll_y
        cursor = self.cursor if self.show_cursor else None
        cursor_row, cursor_col = cursor if cursor else (self.highlight_row, None)
        on_cursor_row = row is not None and row == cursor_row
        key = (y == 0, row, scroll_x, width, cursor_col if (y == 0 or on_cursor_row) else None,
               on_cursor_row, cursor_col if y == 0 else None)
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        if y == 0:
            strip = self._header(width, scroll_x, cursor_col, base)
        elif row is not None and row < self.matrix.shape[0]:
            strip = self._row(row, width, scroll_x, cursor_col if on_cursor_row else None, on_cursor_row,
                              base)
        else:
            strip = Strip.blank(width, base)
        self._cache.set(key, strip)
        return strip

    def _visible_columns(self, width: int, scroll_x: int) -> tuple[int, int, int]:
        """(first, last, lead): the whole cells in view (a cell is never drawn in part), and the blank
        columns before the first when the view is scrolled to the middle of a cell (the mouse wheel)."""
        cw = self._cell_width
        first = -(-scroll_x // cw)
        lead = first * cw - scroll_x
        cols = self.matrix.shape[1] if self.matrix is not None else 0
        count = max(width - self._label_width - lead, 0) // cw
        return first, min(first + count, cols), lead

    def _header(self, width: int, scroll_x: int, cursor_col: int | None, base: Style) -> Strip:
        """Column labels over whole cells; `‹` and `›` at the ends when there are more columns that way."""
        assert self.matrix is not None
        header = self.component_style("matrix--header")
        focus = self.component_style("matrix--label-cursor")
        first, last, lead = self._visible_columns(width, scroll_x)
        cw = self._cell_width
        more_left = first > 0
        more_right = last < self.matrix.shape[1]
        corner = " " * (self._label_width - 1) + ("‹" if more_left else " ")
        segments = [Segment(corner, header), Segment(" " * lead, header)] if lead else [Segment(corner, header)]
        for col in range(first, last):
            label = self.matrix.col_labels[col] if not self._compact_now else ""
            text = fit(label, cw - 1, align="right") + " " if cw > 1 else " "
            segments.append(Segment(text, focus if col == cursor_col else header))
        used = self._label_width + lead + (last - first) * cw
        if used < width:
            segments.append(Segment(" " * (width - used), header if more_right else base))
        strip = Strip(segments).crop(0, width)
        if more_right and width > self._label_width:
            strip = Strip.join([strip.crop(0, width - 1), Strip([Segment("›", header)], 1)])
        return strip

    def _row(self, row: int, width: int, scroll_x: int, cursor_col: int | None, emphasised: bool,
             base: Style) -> Strip:
        """One row: its label, then the visible cells, cut to the view.

        Cells are single-width text (numbers, shade glyphs, the mask's text), so the cut at either
        edge is a slice of a string; the whole line is one pass, with no Strip crops and joins.
        """
        assert self.matrix is not None and self._scale is not None
        m = self.matrix
        digits = self._digits  # measured once in set_matrix, not once a row (O(T) each)
        label_style = self.component_style("matrix--label-cursor" if emphasised else "matrix--label")
        label = f"{m.token_at(row):>{digits}} " + fit(m.row_labels[row], self._label_width - digits - 2) + " "
        room = width - self._label_width
        if room <= 0:
            return Strip([Segment(label, label_style)]).crop(0, width)
        first, last, lead = self._visible_columns(width, scroll_x)
        values = m.values[row, first:last]
        scale = self._scale
        styles = scale.styles
        buckets = scale.buckets(values)
        masked = m.masked[row, first:last].tolist() if m.masked is not None else None
        compact, nw = self._compact_now, self._num_width
        shades = self.app.no_color and compact
        floats: list[float] = values.tolist() if shades or not compact else []
        segments = [Segment(label, label_style)]
        # Neighbouring pieces of one style become one segment (at 2,048 words most weights share
        # the bottom colour): fewer segments for Textual to cut and encode.
        run_text, run_style, used = " " * lead, base, lead
        for offset, bucket in enumerate(buckets):
            if masked is not None and masked[offset]:
                text = (m.mask_text if not compact else "·").center(2 if compact else nw)
                style = MASKED_STYLE
            elif compact:
                text = scale.shade(floats[offset]) * 2 if shades else "  "
                style = styles[bucket]
            else:
                text = fmt(floats[offset], self._spec).rjust(nw)
                style = styles[bucket]
            if first + offset == cursor_col:
                style = style + _CURSOR
            for piece, piece_style in ((text, style),) if compact else ((text, style), (" ", base)):
                if piece_style is run_style or piece_style == run_style:
                    run_text += piece
                else:
                    if run_text:
                        segments.append(Segment(run_text, run_style))
                    run_text, run_style = piece, piece_style
                used += len(piece)
        if used < room:
            if run_style is base:
                run_text += " " * (room - used)
            else:
                segments.append(Segment(run_text, run_style))
                run_text, run_style = " " * (room - used), base
        if run_text:
            segments.append(Segment(run_text, run_style))
        return Strip(segments, width)


_CURSOR = Style(reverse=True, bold=True)
MASKED_STYLE = Style(dim=True, italic=True)
"""Masked cells: not a value, so no colour of the scale."""
