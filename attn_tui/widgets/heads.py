"""Every head's attention weights side by side, as small heatmaps (two rows per character cell)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.color import Color
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.message import Message
from textual.widget import Widget

from attn_tui.colors import make_scale

if TYPE_CHECKING:
    import numpy as np

MAX_SIDE = 32
"""Largest heatmap side in cells; longer prompts are max-pooled down to it."""


def pool(weights: np.ndarray, side: int) -> np.ndarray:
    """Max-pool a (T, T) matrix down to at most (side, side), so a sharp peak is never lost."""
    import numpy as np  # here, not at import: the first frame comes before numpy

    t = weights.shape[0]
    if t <= side:
        return weights
    edges = np.linspace(0, t, side + 1).astype(int)
    rows = np.maximum.reduceat(weights, edges[:-1], axis=0)
    return np.maximum.reduceat(rows, edges[:-1], axis=1)


class HeadsOverview(Widget, can_focus=True):
    """A strip of per-head weight maps; the selected head's title is highlighted. Arrows choose, enter opens."""

    BINDINGS = [
        Binding("left,h,up,k", "step(-1)", "Head left", show=False),
        Binding("right,l,down,j", "step(1)", "Head right", show=False),
        Binding("enter", "choose", "Open head"),
    ]

    @dataclass
    class Stepped(Message):
        """An arrow: the head `step` away from the selected one."""

        step: int

    @dataclass
    class Chosen(Message):
        """Enter: open the selected head's grid."""

    DEFAULT_CSS = """
    HeadsOverview {
        background: $surface;
        height: 1fr;
        overflow: auto;
    }
    """

    COMPONENT_CLASSES = {"heads--title", "heads--selected"}

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._weights: np.ndarray | None = None
        self._selected = 0
        self._dark = True

    def action_step(self, step: int) -> None:
        self.post_message(self.Stepped(step))

    def action_choose(self) -> None:
        self.post_message(self.Chosen())

    def show(self, weights: np.ndarray | None, selected: int, *, dark: bool = True) -> None:
        """`weights`: (heads, T, T)."""
        self._weights, self._selected, self._dark = weights, selected, dark
        self.refresh(layout=True)

    def render(self) -> Text:
        if self._weights is None:
            return Text("computing…")
        heads, t, _ = self._weights.shape
        side = min(t, MAX_SIDE)
        maps = [pool(self._weights[h], side) for h in range(heads)]
        # Small prompts get two columns per key, so a map is not a postage stamp.
        zoom = 2 if side <= MAX_SIDE // 2 else 1
        scale = make_scale("sequential", 0.0, float(self._weights.max()), dark=self._dark)
        gap = "  "
        cell = max(side * zoom, 8)
        per_row = max(1, (self.size.width + len(gap)) // (cell + len(gap))) if self.size.width else heads
        title_style = self.get_component_rich_style("heads--title")
        selected_style = self.get_component_rich_style("heads--selected")
        no_color = self.app.no_color
        text = Text(no_wrap=True, overflow="crop")
        for first in range(0, heads, per_row):
            group = range(first, min(first + per_row, heads))
            for h in group:
                label = f"head {h + 1}" + (" ◀" if h == self._selected else "")
                text.append(label.ljust(cell), selected_style if h == self._selected else title_style)
                text.append(gap)
            text.append("\n")
            for pair in range(0, side, 2):
                for h in group:
                    m = maps[h]
                    for col in range(side):
                        top = float(m[pair, col])
                        bottom = float(m[pair + 1, col]) if pair + 1 < side else None
                        if no_color:
                            text.append(scale.shade(max(top, bottom or 0.0)) * zoom)
                            continue
                        upper = Color.from_rgb(*scale.colors[scale.bucket(top)])
                        lower = Color.from_rgb(*scale.colors[scale.bucket(bottom)]) if bottom is not None else None
                        text.append("▀" * zoom, Style(color=upper, bgcolor=lower))
                    text.append(" " * (cell - side * zoom) + gap)
                text.append("\n")
            text.append("\n")
        text.append(f"rows: queries, columns: keys{' (max-pooled to ' + str(side) + ')' if t > side else ''}"
                    f" · arrows or [ ] choose a head · enter opens it · o back to the grid", title_style)
        return text

    def get_content_height(self, container, viewport, width: int) -> int:
        if self._weights is None:
            return 1
        heads, t, _ = self._weights.shape
        side = min(t, MAX_SIDE)
        zoom = 2 if side <= MAX_SIDE // 2 else 1
        per_row = max(1, (width + 2) // (max(side * zoom, 8) + 2))
        groups = -(-heads // per_row)
        return groups * (1 + -(-side // 2) + 1) + 1
