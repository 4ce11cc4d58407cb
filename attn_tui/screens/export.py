"""The export flow: the dialog (where, what, the command line that reopens this state), the overwrite
question, and the writing itself on a worker thread, from a snapshot taken when asked; served in a
browser, each file is rendered in memory and downloaded instead (`deliver`)."""

from __future__ import annotations

import io
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

from attn_tui.export.formats import EXPORT_BY_KIND, EXPORTS, ExportFormat, Selection
from attn_tui.text import printable
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

    def __init__(self, directory: Path, command: str, *, unavailable: dict[str, str] | None = None,
                 downloads: bool = False) -> None:
        super().__init__()
        self.directory = directory
        self.command = command
        self.unavailable = unavailable or {}
        """kind → why it cannot be written for this result."""
        self.downloads = downloads
        """Served in a browser: files are downloads, there is no folder to choose."""

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Export"
            with Horizontal():
                yield Label("folder", id="export-folder-label")
                if self.downloads:
                    yield Label("your browser's downloads (nothing is written on the server)", id="export-folder")
                else:
                    yield SafeInput(str(self.directory), id="export-folder", compact=True, select_on_focus=False)
            options = [Option(f"{key}  {label}", id=kind, disabled=kind in self.unavailable)
                       for kind, key, label in KINDS]
            yield OptionList(*options, id="export-kinds")
            yield Label("command line that reopens this state (y copies it):", id="export-command-title")
            yield Static(self.command, id="export-command", markup=False)
            keys = ("enter or a letter: download · escape: close" if self.downloads
                    else "enter or a letter: write · never overwrites without asking · escape: close")
            yield Label(keys, id="export-keys")

    def on_mount(self) -> None:
        if not self.downloads:
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
        if self.downloads:
            self.dismiss(ExportRequest(kind, self.directory))
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
        yield Static(f"{printable(str(self.path))} exists.\n\nOverwrite it?  y yes · n no", markup=False)

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
        self.app.push_screen(ExportScreen(self.directory, snapshot.command, unavailable=unavailable,
                                          downloads=self.app.is_web),
                             lambda request: self.chosen(snapshot, request))

    def chosen(self, snapshot: Snapshot, request: ExportRequest | None) -> None:
        if request is None:
            return
        if self.app.is_web:
            deliver(self.app, snapshot, request.kind)
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


# -- served in a browser: every export is a download --------------------------------------------

MAX_DOWNLOAD_BYTES = 512 << 20
"""The largest export a served app renders for the browser. It is held in the app's memory until the
browser has fetched it; at the largest accepted state the JSON is 1.8 GB (the npz 320 MB), which
the command line (`attn-tui --export`) writes instead."""


class DownloadTooLarge(Exception):
    """An export outgrew MAX_DOWNLOAD_BYTES while being rendered."""


class _CappedBuffer(io.BytesIO):
    """A BytesIO that refuses to grow past MAX_DOWNLOAD_BYTES."""

    def write(self, data: Any) -> int:
        if self.tell() + memoryview(data).nbytes > MAX_DOWNLOAD_BYTES:
            raise DownloadTooLarge
        return super().write(data)


def render(fmt: ExportFormat, snapshot: Snapshot, name: str) -> io.BytesIO:
    """One file of a format, in memory: the bytes `export.export` would write to disk (UTF-8 text,
    no newline translation), ready to be read from the start."""
    buffer = _CappedBuffer()
    if fmt.binary:
        fmt.write(snapshot.result, snapshot.selection, name, buffer)
    else:
        text = io.TextIOWrapper(buffer, encoding="utf-8", newline="")
        fmt.write(snapshot.result, snapshot.selection, name, text)
        text.flush()
        text.detach()  # closing the wrapper would close the buffer
    buffer.seek(0)
    return buffer


def deliver(app: App[Any], snapshot: Snapshot, kind: str) -> None:
    """Served (`app.is_web`): render `kind` in memory and hand each file to the browser as a download
    (Textual's `deliver_binary`, which textual-serve streams to the page); the server's disk is never
    touched. The screen is drawn now, on the UI thread; formats render on a worker thread."""
    if kind == "screen":
        # After the dialog has gone, so the picture is of the explorer.
        def screen() -> None:
            svg = app.export_screenshot().encode("utf-8")
            app.deliver_binary(io.BytesIO(svg), save_filename="attn-screen.svg", mime_type="image/svg+xml")
            app.notify("attn-screen.svg sent to your browser's downloads", title="Exported", timeout=6,
                       markup=False)

        app.call_after_refresh(screen)
        return

    def work() -> None:
        fmt = EXPORT_BY_KIND[kind]
        why = fmt.missing(snapshot.result)
        if why:
            app.call_from_thread(app.notify, why.capitalize() + ".", severity="warning", markup=False)
            return
        names = fmt.names(snapshot.result, snapshot.selection)
        try:
            files = [(name, render(fmt, snapshot, name)) for name in names]
        except DownloadTooLarge:
            app.call_from_thread(
                app.notify, f"{kind} of this state is over {MAX_DOWNLOAD_BYTES >> 20} MiB, too large to send to "
                "a browser; write it with attn-tui --export on the command line", severity="error", timeout=10,
                markup=False)
            return
        except (MemoryError, ValueError) as error:
            app.call_from_thread(app.notify, f"could not export: {error or 'out of memory'}", severity="error",
                                 timeout=8, markup=False)
            return
        for name, buffer in files:
            app.call_from_thread(app.deliver_binary, buffer, save_filename=name)
        app.call_from_thread(app.notify, f"{', '.join(names)} sent to your browser's downloads",
                             title="Exported", timeout=6, markup=False)

    app.run_worker(work, thread=True, group="export", exit_on_error=False)
