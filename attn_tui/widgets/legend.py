"""The legend under the grid: the colour scale of a matrix, its ends, and what a masked cell looks like."""

from __future__ import annotations

from rich.segment import Segment
from textual.strip import Strip
from textual.widget import Widget

from attn_tui.colors import make_scale
from attn_tui.display import fmt, number_format
from attn_tui.stages import Matrix
from attn_tui.widgets.frame_style import FrameStyle
from attn_tui.widgets.matrix_lines import MASKED_STYLE


class Legend(FrameStyle, Widget):
    """One line: the colour scale of a matrix, its ends, and what a masked cell looks like."""

    DEFAULT_CSS = """
    Legend {
        height: 1;
        background: $surface;
        color: $text-muted;
    }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._matrix: Matrix | None = None
        self._dark = True
        self._strip: tuple[tuple, Strip] | None = None
        self._note = ""

    def show(self, matrix: Matrix | None, *, dark: bool = True, note: str = "") -> None:
        """The scale of `matrix`, and `note` at the right end (how the grid draws its cells: `z auto: numbers`)."""
        if matrix is not None and self._matrix is not None and dark == self._dark and note == self._note and (
                matrix.kind, matrix.low, matrix.high, matrix.masked is None, matrix.mask_text, matrix.unit) == (
                self._matrix.kind, self._matrix.low, self._matrix.high, self._matrix.masked is None,
                self._matrix.mask_text, self._matrix.unit):
            self._matrix = matrix  # the same legend: no repaint
            return
        self._matrix = matrix
        self._dark = dark
        self._note = note
        self.refresh()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strip = None

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        base = self.base_style
        m = self._matrix
        if y != 0 or m is None:
            return Strip.blank(width, base)
        key = (id(m), width, self._dark, self.app.no_color, base, self._note)
        if self._strip is not None and self._strip[0] == key:
            return self._strip[1]
        scale = make_scale(m.kind, m.low, m.high, dark=self._dark)
        _, spec = number_format(m.low, m.high, sequential=m.kind == "sequential")
        glyphs = self.app.no_color  # without colour, shade glyphs carry the scale
        low, high = fmt(scale.low, spec) + " ", " " + fmt(scale.high, spec)
        kind = "  " + (m.unit or ("blue < 0 < red" if m.kind == "diverging" else "weight"))
        masked = f"  {m.mask_text} masked" if m.masked is not None else ""
        note = f"  {self._note}" if self._note else ""
        steps = len(scale.styles)
        fixed = len(low) + len(high) + len(kind) + len(masked)
        bar = min((steps + 1) // 2, max(width - fixed - len(note), 5))  # the bar gives way to the words
        segments = [Segment(low, base)]
        for i in range(bar):
            bucket = min(i * steps // bar, steps - 1)
            mid = scale.low + (scale.high - scale.low) * (bucket + 0.5) / steps
            segments.append(Segment(scale.shade(mid) if glyphs else " ", scale.styles[bucket]))
        segments.append(Segment(high + kind, base))
        if masked:
            segments += [Segment("  ", base), Segment(m.mask_text, MASKED_STYLE), Segment(" masked", base)]
        strip = Strip(segments)
        if note and strip.cell_length + len(note) <= width:
            strip = Strip.join([strip.extend_cell_length(width - len(note), base), Strip([Segment(note, base)])])
        strip = strip.extend_cell_length(width, base).crop(0, width)
        self._strip = (key, strip)
        return strip
