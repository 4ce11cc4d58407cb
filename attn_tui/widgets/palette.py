"""The command palette, minus two crashes of Textual's when keys arrive faster than it draws."""

from __future__ import annotations

from textual import on
from textual.command import CommandList, CommandPalette
from textual.message import Message
from textual.widgets import Button, Input, OptionList


class Palette(CommandPalette):
    """Textual's CommandPalette, safe against typed-ahead keys (pasted, scripted, or fast fingers).

    - Page up/down before the command list has been laid out (ctrl+p, pgup within a few ms) raise
      KeyError in OptionList._move_page: those keys now wait until the list has a size.
    - A second enter queued behind the one that chose a command dismissed the palette again,
      popping the screen under it (ScreenStackError) and running the command twice: once the
      palette is no longer the active screen it ignores selections.
    """

    def _action_command_list(self, action: str) -> None:
        if action in ("page_up", "page_down"):
            commands = self.query_one(CommandList)
            if not commands.scrollable_content_region or commands.highlighted not in commands._index_to_line:
                return
        super()._action_command_list(action)

    @on(Input.Submitted)
    @on(Button.Pressed)
    @on(OptionList.OptionSelected)
    def _only_while_active(self, event: Message) -> None:
        if not self.is_active:
            event.stop()
            event.prevent_default()  # skips CommandPalette's own handlers, which run after these
