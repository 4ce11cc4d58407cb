"""Every place attn-tui reaches into Textual's private API, each saying what it works around. Two other modules
do, each listing its own PRIVATE_NAMES: attn_tui.frame_diff (the frame encoder) and attn_tui.terminal_io
(terminal input, bracketed paste, the terminal drawn on).

Checked on Textual `CHECKED_FROM` up to (not including) `CHECKED_BELOW`; `tests/test_compat.py`
fails when the installed version leaves that range or a private name these patches use is gone,
so an upgrade breaks here, loudly, and nowhere else.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len, get_character_cell_size
from rich.text import Text
from textual import events, on
from textual._callback import invoke
from textual.command import CommandList, CommandPalette
from textual.css.query import NoMatches
from textual.expand_tabs import expand_tabs_inline
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.widget import Widget
from textual.widgets import Button, Input, OptionList

from attn_tui.text import stand_ins

if TYPE_CHECKING:
    from textual.app import App

CHECKED_FROM = (8, 2, 0)
CHECKED_BELOW = (8, 3, 0)

PRIVATE_NAMES = (
    ("textual.app:App", "_begin_batch"),
    ("textual.app:App", "_screen_stack"),
    ("textual.app:App", "_unnotify"),
    ("textual.app:App", "_end_batch"),
    ("textual.widget:Widget", "_scroll_update"),
    ("textual.widget:Widget", "_size_updated"),
    ("textual.widget:Widget()", "_size"),
    ("textual.widget:Widget()", "_container_size"),
    ("textual.widgets:Input", "_watch_value"),
    ("textual.widgets:Input", "_value"),
    ("textual.widgets:Input", "_position_to_cell"),
    ("textual.widgets:Input", "_cell_offset_to_index"),
    ("textual.command:CommandPalette", "_watch__list_visible"),
    ("textual.command:CommandPalette", "_watch__show_busy"),
    ("textual.command:CommandPalette", "_action_escape"),
    ("textual.command:CommandPalette", "_action_command_list"),
    ("textual.widgets:OptionList()", "_index_to_line"),
    ("textual.message_pump:MessagePump", "_on_message"),
    ("textual._callback", "invoke"),
)
"""(module[:class], attribute) for every private name used below; the compat test checks each exists
(`Class()`: an attribute of an instance; `Class.__init__`: an attribute that method assigns)."""


# -- shutting down -----------------------------------------------------------------------------


class InputAfterClose:
    """Mixin for the App: input that arrives after its screens are gone is dropped, not a traceback.

    Keys still queued when the app shuts down (a held key, a paste, ctrl+q in a burst) reached
    App.on_event / App._check_bindings, which read `App.screen` and raised ScreenStackError("No screens
    on stack") once the stack was empty (App._screen_stack).
    """

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseEvent)) and not self._screen_stack:  # type: ignore[attr-defined]
            return
        await super().on_event(event)  # type: ignore[misc]


# -- notifications ------------------------------------------------------------------------------


class RepaintAfterToast:
    """App mixin: the screen is repainted once an expired toast has been removed.

    Textual 8.2 removes an expired toast's holder (Toast._expire → App._unnotify, then remove()); when the
    layout refresh that follows takes the scroll-only path (Screen._refresh_layout → Compositor.reflow_visible,
    taken when a scroll refresh is pending and no widget asked for a layout) nothing marks the holder's old region
    dirty, and the toast's text stays on the terminal until something else repaints those cells (seen at 80 × 24
    once the panes stopped repainting the screen on every view change). A repaint of the whole screen after the
    removal costs one frame of composition; attn_tui.frame_diff sends only the cells that differ (the toast's).
    """

    def _unnotify(self, notification: Any, refresh: bool = True) -> None:
        super()._unnotify(notification, refresh)  # type: ignore[misc]
        app: App[Any] = self  # type: ignore[assignment]
        app.set_timer(TOAST_REMOVED, self._repaint)

    def _repaint(self) -> None:
        app: App[Any] = self  # type: ignore[assignment]
        if app._screen_stack:  # not while shutting down
            app.screen.refresh()


TOAST_REMOVED = 0.1
"""Seconds after a notification goes by which its toast's removal has run (a message or two)."""


# -- frames -------------------------------------------------------------------------------------


class FrameHold:
    """Holds an app's frames for at most `seconds`, so an edit's echo and its result show in one frame.

    Uses App._begin_batch / _end_batch (the mechanism of the public `App.batch_update`, which is a
    context manager and cannot stay open across the event loop's turns until a result arrives).
    """

    def __init__(self, app: App[Any]) -> None:
        self._app = app
        self._timer: asyncio.TimerHandle | None = None

    @property
    def held(self) -> bool:
        return self._timer is not None

    def hold(self, seconds: float) -> None:
        if self._timer is not None:
            return
        self._app._begin_batch()
        # A plain event-loop timer (cheaper than a Textual timer), cancelled when the result comes first.
        self._timer = asyncio.get_running_loop().call_later(seconds, self.release)

    def release(self) -> None:
        timer, self._timer = self._timer, None
        if timer is None:
            return
        timer.cancel()
        self._app._end_batch()
        self._app.screen.check_idle()  # the widgets refreshed during the hold: draw them now


def set_virtual_size(widget: Widget, size: Size) -> None:
    """Set a widget's virtual size without laying out the screen (the caller repaints).

    Assigning `virtual_size` always lays out the whole screen; the size of a Line-API pane with a
    fixed height never depends on it. This is what Widget._size_updated does, without the layout:
    the reactive set quietly, then scroll bars (their own layout) and the scroll position clamped.
    """
    if size == widget.virtual_size:
        return
    widget.set_reactive(Widget.virtual_size, size)
    widget._scroll_update(size)


class SteadyScrollbars:
    """Mixin for ScrollView panes: a screen layout that changes nothing of the pane leaves its scroll bars alone.

    After every layout Textual calls ScrollView._size_updated on each scroll view, with the viewport as
    `virtual_size`; it differs from the view's own virtual size whenever a scroll bar shows, so every
    layout re-set and repainted the scroll bars of every pane that had one: an extra frame or two per
    layout (a focus change, a key that changes the footer), re-sending the same scroll bars.
    """

    _steady: tuple[Any, ...] | None = None
    """(size, container size, virtual size) at the last update that went through."""

    def _size_updated(self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True) -> bool:
        key = (size, container_size, self.virtual_size)  # type: ignore[attr-defined]
        if (isinstance(self, ScrollView) and key == self._steady and size == self._size  # type: ignore[attr-defined]
                and self._container_size == container_size):  # type: ignore[attr-defined]
            return False  # what ScrollView._size_updated returns when nothing changed
        changed: bool = super()._size_updated(size, virtual_size, container_size, layout)  # type: ignore[misc]
        self._steady = (size, container_size, self.virtual_size)  # type: ignore[attr-defined]
        return changed


# -- inputs -------------------------------------------------------------------------------------


class StandInInput(Input):
    """Textual's Input draws its value as is, so a pasted `\\x1b[2J` would reach the terminal as an escape
    sequence. This one draws `␛[2J`: the same value, one visible character per character, so the
    cursor and mouse positions still line up (Input._value, _position_to_cell, _cell_offset_to_index)."""

    def _watch_value(self, value: str) -> None:
        # Input sets its virtual size on every change, and a virtual size change lays out the whole
        # screen (a third of an edit's frame). The width of a fixed-size input never depends on its
        # value, so set it quietly first; the inherited watcher then finds it unchanged.
        if not self.styles.auto_dimensions:
            self.set_reactive(Widget.virtual_size, Size(self.content_width, 1))
        super()._watch_value(value)

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


# -- the command palette ------------------------------------------------------------------------


class SafePalette(CommandPalette):
    """Textual's CommandPalette, safe against typed-ahead keys (pasted, scripted, or fast fingers).

    - Page up/down before the command list has been laid out (ctrl+p, pgup within a few ms) raise
      KeyError in OptionList._move_page: those keys now wait until the list has a size.
    - A second enter queued behind the one that chose a command dismissed the palette again,
      popping the screen under it (ScreenStackError) and running the command twice: once the
      palette is no longer the active screen it ignores selections.
    - Its command search runs in a worker; closing the palette while a search was still gathering
      left the worker setting flags whose watchers query the removed command list (NoMatches,
      which killed the app): those watchers now do nothing once the list is gone.
    - Its handlers and its "no matches" timer query the command list too: once the palette is being
      dismissed (ctrl+p, a letter and escape in one burst), a NoMatches from any of them means only
      that the list is gone, and is dropped (MessagePump._on_message; set_timer's callback).
    """

    async def _on_message(self, message: Message) -> None:
        try:
            await super()._on_message(message)
        except NoMatches:
            if not self._list_gone():
                raise

    def set_timer(self, delay: float, callback: Any = None, *args: Any, **kwargs: Any) -> Any:
        if callback is None:
            return super().set_timer(delay, callback, *args, **kwargs)

        async def guarded() -> None:
            try:
                await invoke(callback)
            except NoMatches:
                if not self._list_gone():
                    raise

        return super().set_timer(delay, guarded, *args, **kwargs)

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
