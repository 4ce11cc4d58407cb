"""attn-tui's App: the explorer screen, the export flow, help and the palette; the work is in the screen.

Torch is imported by the compute service's thread, never here, so the first frame comes before it loads.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.notifications import SeverityLevel

from attn_tui.commands import ExplorerCommands
from attn_tui.compat import InputAfterClose, RepaintAfterToast
from attn_tui.config import DEFAULTS, AttentionConfig
from attn_tui.frame_diff import FrameDiff
from attn_tui.screens.explorer import ExplorerScreen
from attn_tui.screens.export import ExportFlow, ExportRequest, Snapshot
from attn_tui.text import printable, printable_lines

if TYPE_CHECKING:
    from textual.screen import Screen

    from attn_tui.result import Result
    from attn_tui.session import Session


class AttnApp(InputAfterClose, RepaintAfterToast, App[int]):
    """attn-tui: watch self-attention being computed, step by step."""

    CSS_PATH = "app.tcss"
    TITLE = "attn-tui"
    COMMANDS = App.COMMANDS | {ExplorerCommands}
    show_timing = True
    """Show the last computation's time in the status bar (snapshot tests turn it off: it varies)."""
    _drawn = False
    """A frame has been written (the first one starts the compute thread)."""

    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f1", "help", "Help", priority=True),
        Binding("ctrl+r", "reset", "Reset", priority=True),
        Binding("question_mark", "help", "Help", show=False),
    ]

    def __init__(self, config: AttentionConfig | None = None, model: str = "toy",
                 export_dir: str | Path = ".", device: str = "cpu", compare: str = "", *, words: bool = False,
                 generate: int = 0, **fields: Any) -> None:
        from attn_tui import runtime

        runtime.configure_malloc()  # before any worker thread exists
        super().__init__()
        self.start_config = (config or DEFAULTS).replace(**fields)
        """The state the app opened with (flags or keyword arguments)."""
        self.explorer = ExplorerScreen(self.start_config, model, device=device, compare=compare, words=words,
                                       generate=generate)
        """The explorer: the app's default screen."""
        self.export_flow = ExportFlow(self, Path(export_dir))
        self.frame_diff = FrameDiff()
        """What the terminal shows: each frame sends only the cells that differ (issue 17: bytes over SSH)."""

    def _display(self, screen: Screen[Any], renderable: Any) -> None:
        # App._display writes a frame (headless apps write nothing; then nothing is encoded either).
        super()._display(screen, self.frame_diff.wrap(screen, renderable))
        if not self._drawn and renderable is not None and not self._batch_count:
            # The first frame is out: torch starts loading now, while the layout settles (the resizes
            # that follow mount), rather than after it (issue 17: 0.1-0.2 s sooner to the result).
            self._drawn = True
            self.call_next(self.explorer.service.start)

    def on_mount(self) -> None:
        # Whatever ran while the app was suspended (ctrl+z, an editor) drew on the terminal.
        for signal in (self.app_suspend_signal, self.app_resume_signal):
            signal.subscribe(self, lambda _: self.frame_diff.invalidate(), immediate=True)

    def on_resize(self, event: events.Resize) -> None:
        self.frame_diff.invalidate()  # a terminal may reflow or clear what it showed

    def get_default_screen(self) -> ExplorerScreen:
        return self.explorer

    def notify(self, message: str, *, title: str = "", severity: SeverityLevel = "information",
               timeout: float | None = None, markup: bool = True) -> None:
        """Every notification, whoever sends it: paths and model names in it are shown, never obeyed."""
        super().notify(printable_lines(message), title=printable(title), severity=severity, timeout=timeout,
                       markup=markup)

    # -- what the explorer shows (read-only views for tests, benchmarks and scripts) ---------------

    @property
    def result(self) -> Result | None:
        return self.explorer.result

    @property
    def model(self) -> str:
        return self.explorer.source

    @property
    def stage(self) -> str:
        return self.explorer.stage

    @property
    def head(self) -> int:
        return self.explorer.head

    @property
    def layer(self) -> int:
        return self.explorer.model_layer

    @property
    def overview(self) -> bool:
        return self.explorer.overview

    @property
    def stale(self) -> bool:
        return self.explorer.stale

    @property
    def session(self) -> Session:
        return self.explorer.session

    @property
    def errors(self) -> dict[str, str]:
        """Field → why its value is refused (empty when the explorer shows what the fields say)."""
        return self.explorer.session.errors

    @property
    def computing(self) -> bool:
        """A request has not been answered yet, or the compute service is still busy."""
        service = self.explorer.service
        return self.explorer.session.pending or service.busy or service.predicting

    @property
    def export_dir(self) -> Path:
        return self.export_flow.directory

    # -- actions --------------------------------------------------------------------------------

    def action_help(self) -> None:
        from attn_tui.widgets.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_command_palette(self) -> None:
        """Open the palette unless one is open already: under the help screen (ctrl+p, f1, ctrl+p)
        Textual's own check sees only the top screen and a second palette crashes on its id."""
        from textual.command import CommandPalette

        from attn_tui.compat import SafePalette

        if self.use_command_palette and not any(isinstance(s, CommandPalette) for s in self.screen_stack):
            self.push_screen(SafePalette(id="--command-palette"))

    def action_reset(self) -> None:
        self.explorer.action_reset()

    def watch_theme(self) -> None:
        self.explorer.redraw()

    def command(self) -> str:
        """The `attn-tui …` command that reopens what the explorer shows."""
        from attn_tui.argv import command_line

        explorer = self.explorer
        words = explorer.words  # issue 16: the word view, and the tokens generated after the prompt
        generate = getattr(explorer.result, "n_generated", 0) if not explorer.stale else 0
        if explorer.source != "toy":
            return command_line(DEFAULTS.replace(prompt=str(explorer.session.texts["prompt"])), explorer.source,
                                words=words, generate=generate)
        config = getattr(explorer.result, "config", None) or self.start_config
        return command_line(config, words=words)

    def _snapshot(self) -> Snapshot | None:
        from attn_tui.export.formats import Selection

        result = self.explorer.result
        if result is None:
            self.notify("Nothing to export yet.", severity="warning")
            return None
        selection = Selection(self.explorer.stage, self.explorer.model_layer, self.explorer.head,
                              words=self.explorer.words)
        return Snapshot(result, selection, self.command())

    def action_export(self) -> None:
        snapshot = self._snapshot()
        if snapshot is not None:
            self.export_flow.open(snapshot)

    def action_export_as(self, kind: str) -> None:
        snapshot = self._snapshot()
        if snapshot is not None:
            self.export_flow.chosen(snapshot, ExportRequest(kind, self.export_flow.directory))

    def action_show_command(self) -> None:
        command = self.command()
        self.copy_to_clipboard(command)
        self.notify(command, title="Command line (copied)", timeout=10, markup=False)
