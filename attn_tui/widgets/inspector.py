"""The inspector: the arithmetic behind the cell under the grid's cursor."""

from __future__ import annotations

from rich.segment import Segment
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from attn_tui.display import wrap
from attn_tui.widgets.frame_style import FrameStyle


class Inspector(FrameStyle, ScrollView, can_focus=False):
    """Explains one cell; the lines come from `attn_tui.explain` (pure), this only styles them.

    Line API: a new cell re-wraps about twenty short lines and draws the visible ones; there is
    no Rich layout per update (a `Static` cost a third of the result frame).
    """

    DEFAULT_CSS = """
    Inspector {
        background: $surface;
        scrollbar-size: 1 1;
        padding: 0 1;
    }
    Inspector > .inspector--strong {
        text-style: bold;
    }
    """

    COMPONENT_CLASSES = {"inspector--strong"}

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.lines: list[str] = ["computing…"]
        """The explanation, one step a line, before wrapping."""
        self._wrapped: list[tuple[str, bool]] = []
        self._wrapped_width = -1

    @property
    def text(self) -> str:
        """What the inspector says, unwrapped, one line per step."""
        return "\n".join(self.lines)

    def show(self, lines: list[str]) -> None:
        if lines == self.lines:
            return
        self.lines = list(lines)
        old = self._wrapped
        self._wrapped_width = -1
        self._wrap()
        top = int(self.scroll_y)  # the next cell's working mostly differs in its numbers only
        self.repaint_lines(y for y in range(self.size.height)
                           if _at(old, top + y) != _at(self._wrapped, top + y))

    def _wrap(self) -> None:
        width = max(self.scrollable_content_region.width, 1)
        if width == self._wrapped_width:
            return
        self._wrapped_width = width
        wrapped: list[tuple[str, bool]] = []
        for index, line in enumerate(self.lines):
            # The heading and the results of each step stand out; the working does not.
            strong = index == 0 or line.lstrip().startswith(("= ", "weight ="))
            wrapped.extend((piece, strong) for piece in wrap(line, width))
        self._wrapped = wrapped
        self.set_virtual_size(Size(width, len(wrapped)))

    def on_resize(self, event: events.Resize) -> None:
        self._wrap()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.base_style
        line = y + int(self.scroll_y)
        if line >= len(self._wrapped):
            return Strip.blank(width, base)
        text, strong = self._wrapped[line]
        style = base + self.component_style("inspector--strong") if strong else base
        return Strip([Segment(text, style)]).extend_cell_length(width, base).crop(0, width)


def _at(lines: list[tuple[str, bool]], index: int) -> tuple[str, bool] | None:
    return lines[index] if index < len(lines) else None
