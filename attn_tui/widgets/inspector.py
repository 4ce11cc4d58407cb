"""The inspector: the arithmetic behind the cell under the grid's cursor."""

from __future__ import annotations

from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static


class Inspector(VerticalScroll, can_focus=False):
    """Explains one cell; the lines come from `attn_tui.explain` (pure), this only styles them."""

    DEFAULT_CSS = """
    Inspector {
        background: $surface;
        scrollbar-size: 1 1;
        padding: 0 1;
    }
    Inspector > Static {
        width: 100%;
    }
    """

    def compose(self):
        yield Static("computing…", id="inspector-text")

    def show(self, lines: list[str]) -> None:
        text = Text(no_wrap=False)
        for index, line in enumerate(lines):
            # The heading and the results of each step stand out; the working does not.
            strong = index == 0 or line.lstrip().startswith(("= ", "weight ="))
            text.append(line + "\n", style="bold" if strong else "")
        self.query_one("#inspector-text", Static).update(text)
