"""An Input that shows control characters as visible stand-ins instead of sending them to the terminal."""

from __future__ import annotations

from rich.cells import cell_len, get_character_cell_size
from rich.text import Text
from textual.expand_tabs import expand_tabs_inline
from textual.widgets import Input

from attn_tui.display import stand_ins


class SafeInput(Input):
    """Textual's Input draws its value as is, so a pasted `\\x1b[2J` would reach the terminal as an
    escape sequence. This one draws `␛[2J`: the same value, one visible character per character,
    so the cursor and mouse positions still line up."""

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
