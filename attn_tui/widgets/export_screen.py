"""The export dialog: where to write, what to write, and the command line that reopens this state."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from attn_tui.widgets.safe_input import SafeInput


@dataclass(frozen=True)
class ExportRequest:
    """What the dialog asks the app to write."""

    kind: str
    """json, csv, npz, screen, grid, script."""
    directory: Path
    overwrite: bool = False


KINDS = (
    ("json", "j", "JSON — the whole state, in the --json schema"),
    ("csv", "c", "CSV — the grid's matrix, labelled by word"),
    ("npz", "n", "NumPy .npz — every matrix of the result"),
    ("grid", "g", "SVG — the grid alone, sized for a paper figure"),
    ("screen", "s", "SVG — this screen, as you see it"),
    ("script", "p", "Python script that recomputes this state (toy only)"),
)


class ExportScreen(ModalScreen[ExportRequest | None]):
    """Choose a format (Enter or its letter); the folder is editable; escape closes."""

    DEFAULT_CSS = """
    ExportScreen {
        align: center middle;
    }
    ExportScreen > Vertical {
        width: 80;
        max-width: 95%;
        height: auto;
        max-height: 95%;
        border: round $accent;
        border-title-color: $accent;
        background: $panel;
        padding: 0 1;
    }
    ExportScreen Horizontal {
        height: 1;
    }
    ExportScreen #export-folder-label {
        width: 8;
        color: $text-muted;
    }
    ExportScreen #export-folder {
        width: 1fr;
    }
    ExportScreen OptionList {
        height: auto;
        max-height: 8;
        margin: 1 0;
        border: none;
        background: $panel;
    }
    ExportScreen #export-command-title {
        color: $text-muted;
    }
    ExportScreen #export-command {
        height: auto;
        max-height: 4;
        background: $surface;
        padding: 0 1;
    }
    ExportScreen #export-keys {
        color: $text-muted;
        margin-top: 1;
    }
    """

    BINDINGS = [
        Binding("escape", "close", "Close"),
        *(Binding(key, f"choose('{kind}')", label.split(" — ")[0], show=False) for kind, key, label in KINDS),
        Binding("y", "copy_command", "Copy command line"),
    ]

    def __init__(self, directory: Path, command: str, *, toy: bool = True) -> None:
        super().__init__()
        self.directory = directory
        self.command = command
        self.toy = toy

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Export"
            with Horizontal():
                yield Label("folder", id="export-folder-label")
                yield SafeInput(str(self.directory), id="export-folder", compact=True, select_on_focus=False)
            options = [Option(f"{key}  {label}", id=kind, disabled=kind == "script" and not self.toy)
                       for kind, key, label in KINDS]
            yield OptionList(*options, id="export-kinds")
            yield Label("command line that reopens this state (y copies it):", id="export-command-title")
            yield Static(self.command, id="export-command", markup=False)
            yield Label("enter or a letter: write · never overwrites without asking · escape: close",
                        id="export-keys")

    def on_mount(self) -> None:
        self.query_one("#export-folder", Input).cursor_blink = False
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.action_choose(event.option.id)

    def action_choose(self, kind: str) -> None:
        if not self.is_active:  # a second enter, queued behind the first, must not dismiss twice
            return
        if kind == "script" and not self.toy:
            self.notify("The script recomputes the toy pipeline; a real model has no script.", severity="warning")
            return
        folder = self.query_one("#export-folder", Input).value.strip() or "."
        self.dismiss(ExportRequest(kind, Path(folder).expanduser()))

    def action_copy_command(self) -> None:
        self.app.copy_to_clipboard(self.command)
        self.notify("Command line copied (OSC 52: your terminal must allow it).", timeout=3)

    def action_close(self) -> None:
        if self.is_active:
            self.dismiss(None)


class ConfirmOverwrite(ModalScreen[bool]):
    """`path` exists: y overwrites, n or escape keeps it."""

    DEFAULT_CSS = """
    ConfirmOverwrite {
        align: center middle;
    }
    ConfirmOverwrite > Static {
        width: auto;
        max-width: 90%;
        border: round $warning;
        background: $panel;
        padding: 1 2;
    }
    """

    BINDINGS = [
        Binding("y", "answer(True)", "Overwrite"),
        Binding("n,escape", "answer(False)", "Keep"),
    ]

    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path

    def compose(self) -> ComposeResult:
        yield Static(f"{self.path} exists.\n\nOverwrite it?  y yes · n no", markup=False)

    def action_answer(self, answer: bool) -> None:
        if self.is_active:
            self.dismiss(answer)
