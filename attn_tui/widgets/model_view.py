"""Every layer × head of a real model as small heatmaps; arrows choose one, Enter opens it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.color import Color
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from attn_tui.colors import make_scale
from attn_tui.widgets.heads import pool

if TYPE_CHECKING:
    import numpy as np

SIDE = 12
"""Largest map side in cells; longer prompts are max-pooled to it."""
GAP = 1


class ModelOverview(ScrollView, can_focus=True):
    """A layers × heads wall of attention maps, each scaled to its own maximum."""

    DEFAULT_CSS = """
    ModelOverview {
        background: $surface;
        scrollbar-size: 1 1;
    }
    """

    COMPONENT_CLASSES = {"model-view--label", "model-view--selected"}

    BINDINGS = [
        Binding("up,k", "move(-1, 0)", "Layer up", show=False),
        Binding("down,j", "move(1, 0)", "Layer down", show=False),
        Binding("left,h", "move(0, -1)", "Head left", show=False),
        Binding("right,l", "move(0, 1)", "Head right", show=False),
        Binding("enter", "choose", "Open head"),
    ]

    selected: reactive[tuple[int, int]] = reactive((0, 0), repaint=False)
    """(layer, head) under the cursor."""

    @dataclass
    class HeadChosen(Message):
        """Enter on a map: show this layer and head in the grid."""

        layer: int
        head: int

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self._maps: np.ndarray | None = None  # (layers, heads, side, side), each map in [0, 1]
        self._dark = True
        self._query_line: int | None = None
        """The line (within a layer's band) of the grid's query row in every map, marked `◂`; None: unmarked."""

    def show(self, attentions: np.ndarray | None, selected: tuple[int, int], *, dark: bool = True) -> None:
        """`attentions`: (layers, heads, T, T)."""
        import numpy as np  # here, not at import: the first frame comes before numpy

        self._dark = dark
        if attentions is None:
            self._maps = None
        else:
            layers, heads, t, _ = attentions.shape
            side = min(t, SIDE)
            maps = np.stack([np.stack([pool(attentions[l_, h], side) for h in range(heads)])
                             for l_ in range(layers)])
            top = maps.max(axis=(2, 3), keepdims=True)
            self._maps = np.divide(maps, top, out=np.zeros_like(maps), where=top > 0)
        self.set_reactive(ModelOverview.selected, selected)
        self._resize()
        self.refresh()

    def set_query(self, query: int | None, n_tokens: int) -> None:
        """Mark the grid's query token (0-based, of n_tokens) beside every map: the maps follow the query."""
        line = None
        if query is not None and self._maps is not None:
            side = self._side
            pooled = query
            if n_tokens > side:  # the pooled row holding the query (`heads.pool`'s edges)
                import numpy as np

                edges = np.linspace(0, n_tokens, side + 1).astype(int)
                pooled = min(int(np.searchsorted(edges, query, side="right")) - 1, side - 1)
            line = 1 + pooled // 2
        if line != self._query_line:
            self._query_line = line
            self.refresh()

    @property
    def _side(self) -> int:
        return self._maps.shape[2] if self._maps is not None else 0

    @property
    def _zoom(self) -> int:
        return 2 if self._side <= SIDE // 2 else 1

    @property
    def _band(self) -> int:
        return 1 + -(-self._side // 2)

    def _resize(self) -> None:
        if self._maps is None:
            self.virtual_size = Size(0, 0)
            return
        layers, heads = self._maps.shape[:2]
        cell = max(self._side * self._zoom, 3) + GAP
        self.virtual_size = Size(4 + heads * cell, layers * self._band)

    def action_move(self, dlayer: int, dhead: int) -> None:
        if self._maps is None:
            return
        layers, heads = self._maps.shape[:2]
        layer, head = self.selected
        self.selected = (min(max(layer + dlayer, 0), layers - 1), min(max(head + dhead, 0), heads - 1))

    def watch_selected(self, selected: tuple[int, int]) -> None:
        layer, head = selected
        cell = max(self._side * self._zoom, 3) + GAP
        self.scroll_to_region(Region(4 + head * cell, layer * self._band, cell, self._band), animate=False,
                              immediate=True)
        self.refresh()

    def action_choose(self) -> None:
        self.post_message(self.HeadChosen(*self.selected))

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if self._maps is None:
            return Strip.blank(width, base)
        scroll_x, scroll_y = int(self.scroll_x), int(self.scroll_y)
        line = y + scroll_y
        layer, within = divmod(line, self._band)
        layers, heads, side, _ = self._maps.shape
        if layer >= layers:
            return Strip.blank(width, base)
        label_style = self.get_component_rich_style("model-view--label")
        selected_style = self.get_component_rich_style("model-view--selected")
        zoom = self._zoom
        cell = max(side * zoom, 3)
        scale = make_scale("sequential", 0.0, 1.0, dark=self._dark)
        no_color = self.app.no_color
        segments = [Segment(f"L{layer + 1:<3}" if within == 0 else "    ", label_style)]
        for head in range(heads):
            chosen = (layer, head) == self.selected
            if within == 0:
                segments.append(Segment(f"h{head + 1}".ljust(cell), selected_style if chosen else label_style))
            else:
                pair = (within - 1) * 2
                for col in range(side):
                    top = float(self._maps[layer, head, pair, col])
                    bottom = float(self._maps[layer, head, pair + 1, col]) if pair + 1 < side else None
                    if no_color:
                        segments.append(Segment(scale.shade(max(top, bottom or 0.0)) * zoom, base))
                        continue
                    upper = Color.from_rgb(*scale.colors[scale.bucket(top)])
                    lower = Color.from_rgb(*scale.colors[scale.bucket(bottom)]) if bottom is not None else None
                    segments.append(Segment("▀" * zoom, Style(color=upper, bgcolor=lower)))
                if cell > side * zoom:
                    segments.append(Segment(" " * (cell - side * zoom), base))
            mark = "◂" if within and within == self._query_line else ("▏" if chosen and within else " " * GAP)
            segments.append(Segment(mark, selected_style if chosen or mark == "◂" else base))
        strip = Strip(segments).crop(scroll_x, scroll_x + width) if scroll_x else Strip(segments)
        return strip.extend_cell_length(width, base).crop(0, width)
