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
    - Its command search runs in a worker; closing the palette while a search was still gathering
      left the worker setting flags whose watchers query the removed command list (NoMatches,
      which killed the app): those watchers now do nothing once the list is gone.
    """

    def _list_gone(self) -> bool:
        return not self.query(CommandList)

    def _watch__list_visible(self) -> None:
        if not self._list_gone():
            super()._watch__list_visible()

    async def _watch__show_busy(self) -> None:
        if not self._list_gone():
            await super()._watch__show_busy()

    def _action_escape(self) -> None:
        if self.is_active:  # an escape queued behind the enter that closed it would pop the screen under it
            super()._action_escape()

    def _action_command_list(self, action: str) -> None:
        if not self.is_active:
            return
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
