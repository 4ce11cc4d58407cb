"""An Input that shows control characters as visible stand-ins instead of sending them to the terminal."""

from __future__ import annotations

from collections.abc import Callable

from rich.cells import cell_len, get_character_cell_size
from rich.text import Text
from textual.expand_tabs import expand_tabs_inline
from textual.geometry import Size
from textual.widget import Widget
from textual.widgets import Input

from attn_tui.display import stand_ins


class SafeInput(Input):
    """Textual's Input draws its value as is, so a pasted `\\x1b[2J` would reach the terminal as an
    escape sequence. This one draws `␛[2J`: the same value, one visible character per character,
    so the cursor and mouse positions still line up."""

    on_edit: Callable[[SafeInput], None] | None = None
    """Called with this input at once when its value changes, before `Changed` is handled (the app
    starts the edit's computation there, and holds the frame that would show the echo alone)."""

    def _watch_value(self, value: str) -> None:
        # Input sets its virtual size on every change, and a virtual size change lays out the whole
        # screen (a third of an edit's frame). The width of a fixed-size input never depends on its
        # value, so set it quietly first; the inherited watcher then finds it unchanged.
        if not self.styles.auto_dimensions:
            self.set_reactive(Widget.virtual_size, Size(self.content_width, 1))
        super()._watch_value(value)

    def watch_value(self) -> None:
        if self.on_edit is not None:
            self.on_edit(self)

    @property
    def _value(self) -> Text:
        if self.password:
            return super()._value
        text = Text(stand_ins(self.value), no_wrap=True, overflow="ignore", end="")
        if self.highlighter is not None:
            text = self.highlighter(text)
        return text

    def _position_to_cell(self, position: int) -> int:
        return cell_len(expand_tabs_inline(stand_ins(self.value[:position]), 4))

    def _cell_offset_to_index(self, offset: int) -> int:
        cell_offset = 0
        scroll_x, _ = self.scroll_offset
        offset += scroll_x
        shown = stand_ins(self.value)
        for index, char in enumerate(shown):
            cell_width = get_character_cell_size(char)
            if cell_offset <= offset < cell_offset + cell_width:
                return index
            cell_offset += cell_width
        return min(max(offset, 0), len(self.value))
