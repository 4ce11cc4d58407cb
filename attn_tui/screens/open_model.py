"""The "open model…" dialog: a checkpoint's path (a Hugging Face folder or a .gguf file), checked as typed."""

from __future__ import annotations

from pathlib import Path

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from attn_tui.text import printable
from attn_tui.widgets.safe_input import SafeInput


def path_problem(text: str) -> str | None:
    """Why `text` cannot be a checkpoint (no such path, a file that is not .gguf), or None."""
    if not text.strip():
        return "type the path of a Hugging Face folder or a .gguf file"
    path = Path(text.strip()).expanduser()
    if not path.exists():
        return f"{printable(str(path))} does not exist"
    if path.is_file() and path.suffix.lower() != ".gguf":
        return "a single file must be a .gguf; for a Hugging Face model give its folder"
    return None


class OpenModelScreen(ModalScreen[str | None]):
    """Enter opens the path (the loading shows in the explorer); escape closes."""

    DEFAULT_CSS = """
    OpenModelScreen {
        align: center middle;
    }
    OpenModelScreen > Vertical {
        width: 80;
        max-width: 95%;
        min-width: 24;
        height: auto;
        border: round $accent;
        border-title-color: $accent;
        background: $panel;
        padding: 0 1;
    }
    OpenModelScreen #open-model-problem {
        color: $text-error;
        height: auto;
    }
    OpenModelScreen #open-model-hint {
        color: $text-muted;
        margin-top: 1;
    }
    """

    BINDINGS = [Binding("escape", "close", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = "Open model"
            yield Label("path of a Hugging Face folder (config.json, *.safetensors, tokenizer.json) or a .gguf file:")
            yield SafeInput("", id="open-model-path", compact=True, select_on_focus=False,
                            placeholder="~/models/my-finetune")
            yield Static("", id="open-model-problem", markup=False)
            yield Static("enter: open · escape: close · nothing in the files is ever run (no pickle, no remote "
                         "code)", id="open-model-hint", markup=False)

    def on_mount(self) -> None:
        box = self.query_one("#open-model-path", Input)
        box.cursor_blink = False
        box.focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        if not self.is_active:
            return
        problem = path_problem(event.value)
        if problem:
            self.query_one("#open-model-problem", Static).update(problem)
            return
        self.dismiss(str(Path(event.value.strip()).expanduser()))

    def action_close(self) -> None:
        if self.is_active:
            self.dismiss(None)
