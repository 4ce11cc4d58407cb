"""An input that shows control characters as visible stand-ins and reports each edit at once."""

from __future__ import annotations

from collections.abc import Callable

from attn_tui.compat import StandInInput


class SafeInput(StandInInput):
    """A compact field whose text is never sent raw to the terminal (see `compat.StandInInput`)."""

    on_edit: Callable[[SafeInput], None] | None = None
    """Called with this input at once when its value changes, before `Changed` is handled (the screen
    starts the edit's computation there, and holds the frame that would show the echo alone)."""

    def watch_value(self) -> None:
        if self.on_edit is not None:
            self.on_edit(self)
