"""The export flow: the dialog (where, what, the command line that reopens this state), the overwrite
question, and the writing itself on a worker thread, from a snapshot taken when asked."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.option_list import Option

from attn_tui.export.formats import EXPORTS, Selection
from attn_tui.widgets.safe_input import SafeInput

if TYPE_CHECKING:
    from textual.app import App

    from attn_tui.result import Result


@dataclass(frozen=True)
class ExportRequest:
    """What the dialog asks the app to write."""

    kind: str
    """json, csv, npz, screen, grid, script."""
    directory: Path
    overwrite: bool = False


KINDS = (
    *((f.kind, f.key, f.label) for f in EXPORTS[:4]),
    ("screen", "s", "SVG — this screen, as you see it"),
    *((f.kind, f.key, f.label) for f in EXPORTS[4:]),
)
"""The dialog's choices: every export format, and the screen as an SVG (which only the app can draw)."""


class ExportScreen(ModalScreen[ExportRequest | None]):
    """Choose a format (Enter or its letter); the folder is editable; escape closes."""

    DEFAULT_CSS = """
    ExportScreen {
        align: center middle;
    }
    ExportScreen > Vertical {
        width: 80;
        max-width: 95%;
        min-width: 24;  /* a terminal a few columns wide must not wrap the options to width 0 */
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
        min-width: 16;
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

    def __init__(self, directory: Path, command: str, *, unavailable: dict[str, str] | None = None) -> None:
        super().__init__()
        self.directory = directory
        self.command = command
        self.unavailable = unavailable or {}
        """kind → why it cannot be written for this result."""

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Export"
            with Horizontal():
                yield Label("folder", id="export-folder-label")
                yield SafeInput(str(self.directory), id="export-folder", compact=True, select_on_focus=False)
            options = [Option(f"{key}  {label}", id=kind, disabled=kind in self.unavailable)
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
        if kind in self.unavailable:
            self.notify(self.unavailable[kind].capitalize() + ".", severity="warning", markup=False)
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


@dataclass(frozen=True)
class Snapshot:
    """What an export writes, taken at once on the UI thread: a later switch cannot mix two states."""

    result: Result
    selection: Selection
    command: str


class ExportFlow:
    """Dialog → (question) → a worker that writes; every outcome is a notification, user text not markup."""

    def __init__(self, app: App[Any], directory: Path) -> None:
        self.app = app
        self.directory = directory
        """Where exports go; the dialog can change it."""

    def open(self, snapshot: Snapshot) -> None:
        if isinstance(self.app.screen, ExportScreen):
            return
        unavailable = {f.kind: why for f in EXPORTS if (why := f.missing(snapshot.result))}
        self.app.push_screen(ExportScreen(self.directory, snapshot.command, unavailable=unavailable),
                             lambda request: self.chosen(snapshot, request))

    def chosen(self, snapshot: Snapshot, request: ExportRequest | None) -> None:
        if request is None:
            return
        self.directory = request.directory
        if request.kind == "screen":
            # After the dialog has gone, so the picture is of the explorer.
            self.app.call_after_refresh(self._screen, snapshot, request)
            return
        self.app.run_worker(lambda: self._write(snapshot, request), thread=True, group="export",
                            exit_on_error=False)

    def _say(self, text: str, **kwargs: Any) -> None:
        self.app.call_from_thread(self.app.notify, text, markup=False, **kwargs)

    def _write(self, snapshot: Snapshot, request: ExportRequest) -> None:
        """On a worker thread: a 4,096-word CSV takes seconds."""
        from attn_tui import export

        try:
            paths = export.export(snapshot.result, [request.kind], snapshot.selection, request.directory,
                                  overwrite=request.overwrite)
        except export.ExportExists as error:
            self.app.call_from_thread(self.confirm, snapshot, request, error.path)
            return
        except (OSError, ValueError) as error:
            self._say(f"could not export: {error}", severity="error", timeout=8)
            return
        self._say(f"wrote {', '.join(str(p) for p in paths)}", title="Exported", timeout=6)

    def _screen(self, snapshot: Snapshot, request: ExportRequest) -> None:
        from attn_tui import export

        path = Path(request.directory).expanduser() / "attn-screen.svg"
        svg = self.app.export_screenshot()
        try:
            export.check_free([path], request.overwrite)
            export.folder(request.directory)
            export.write_file(path, lambda f: f.write(svg), overwrite=request.overwrite)
        except export.ExportExists:
            self.confirm(snapshot, request, path)
            return
        except OSError as error:
            self.app.notify(f"could not write {path}: {error.strerror or error}", severity="error", markup=False)
            return
        self.app.notify(f"wrote {path}", title="Exported", timeout=6, markup=False)

    def confirm(self, snapshot: Snapshot, request: ExportRequest, path: Path) -> None:
        def answered(yes: bool | None) -> None:
            if yes:
                self.chosen(snapshot, replace(request, overwrite=True))
            else:
                self.app.notify(f"kept {path}", timeout=3, markup=False)

        self.app.push_screen(ConfirmOverwrite(path), answered)
