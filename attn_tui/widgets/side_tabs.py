"""The narrow layout's tab strip: which pane sits beside the grid (`t` steps through them, a click picks one)."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import events
from textual.message import Message
from textual.widgets import Static

SIDES: tuple[tuple[str, str], ...] = (
    ("inspector", "Inspector"),
    ("tokens", "Token ids"),
    ("embeddings", "Embeddings"),
    ("settings", "Settings"),
    ("vocab", "Vocab map"),
    ("predictions", "Next token"),
)
"""(name, label) of each side pane, in the order `t` steps through them."""
SIDE_NAMES = tuple(name for name, _ in SIDES)
ALWAYS = tuple(name for name in SIDE_NAMES if name != "predictions")
"""The side panes every source has (a decoder adds its next-token predictions)."""


class SideTabs(Static):
    """` t  Inspector · Token ids · Embeddings · Settings · Vocab map`, the current one reversed."""

    @dataclass
    class Chosen(Message):
        """A tab was clicked."""

        side: str

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__("", id=id, markup=False)
        self._spans: list[tuple[int, int, str]] = []
        self.current = SIDE_NAMES[0]
        self.available: tuple[str, ...] = ALWAYS
        """The tabs shown: the side panes of what the explorer shows now."""

    def show(self, current: str) -> None:
        self.current = current
        text = self._strip(current, " · ")
        room = self.content_region.width
        if room and text.cell_len > room:  # six tabs in 80 columns: closer together
            text = self._strip(current, " ")
        self.update(text)

    def _strip(self, current: str, separator: str) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(" t ", "bold reverse")
        text.append(" ")
        self._spans = []
        for index, (name, label) in enumerate((name, label) for name, label in SIDES if name in self.available):
            if index:
                text.append(separator)
            start = text.cell_len
            text.append(f" {label} ", "bold reverse" if name == current else "")
            self._spans.append((start, text.cell_len, name))
        return text

    def on_resize(self, event: events.Resize) -> None:
        self.show(self.current)

    def on_click(self, event: events.Click) -> None:
        for start, end, name in self._spans:
            if start <= event.x < end:
                self.post_message(self.Chosen(name))
                return
