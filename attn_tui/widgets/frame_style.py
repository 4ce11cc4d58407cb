"""A mixin for Line-API panes: styles looked up once a frame, quiet virtual sizes, repaints of single lines."""

from __future__ import annotations

from collections.abc import Iterable

from rich.style import Style
from textual.geometry import Region, Size

from attn_tui.compat import SteadyScrollbars, set_virtual_size


class FrameStyle(SteadyScrollbars):
    """Mixin for Line-API widgets: styles looked up once a frame, not once a line; scroll bars repainted
    only when they change (compat.SteadyScrollbars).

    `rich_style` walks every ancestor's styles, and a component class's style is resolved from
    CSS on each call; per line, the two were half of a frame's cost.
    """

    _frame_style: Style | None = None
    _frame_components: dict[str, Style] | None = None

    def render_lines(self, crop):
        self._frame_style = self.rich_style  # type: ignore[attr-defined]
        self._frame_components = {}
        try:
            return super().render_lines(crop)  # type: ignore[misc]
        finally:
            self._frame_style = None
            self._frame_components = None

    @property
    def base_style(self) -> Style:
        return self._frame_style or self.rich_style  # type: ignore[attr-defined]

    def set_virtual_size(self, size: Size) -> None:
        """Set the virtual size; a screen layout only if a scrollbar comes or goes. The caller repaints."""
        set_virtual_size(self, size)  # type: ignore[arg-type]

    def repaint_lines(self, lines: Iterable[int]) -> None:
        """Repaint only these lines of the view (0 = the top visible line)."""
        width = self.size.width  # type: ignore[attr-defined]
        regions = [Region(0, y, width, 1) for y in lines]
        if regions:
            self.refresh(*regions)  # type: ignore[attr-defined]

    def component_style(self, name: str) -> Style:
        """`get_component_rich_style(name)`, once a frame."""
        cache = self._frame_components
        if cache is None:
            return self.get_component_rich_style(name)  # type: ignore[attr-defined]
        style = cache.get(name)
        if style is None:
            style = cache[name] = self.get_component_rich_style(name)  # type: ignore[attr-defined]
        return style
