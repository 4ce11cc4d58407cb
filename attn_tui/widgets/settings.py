"""Settings: every config field, editable from the keyboard, each marked when the backend refuses it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Grid, Vertical
from textual.widgets import Checkbox, Input, Label, Select, Static

from attn_tui.config import DEFAULTS, VOCAB_MODES, field_text
from attn_tui.sources import SOURCE_NAMES
from attn_tui.widgets.safe_input import SafeInput

# (field, widget id, label, tooltip)
NUMBER_FIELDS = (
    ("seed", "seed", "seed", "seeds every random number"),
    ("vocab_size", "vocab-size", "vocab size", "rows of the embedding table"),
    ("d_model", "d-model", "d_model", "embedding width d"),
    ("d_k", "d-k", "d_k = d_q", "query/key width"),
    ("d_v", "d-v", "d_v", "value width"),
    ("heads", "heads", "heads", "must divide d_k and d_v"),
    ("temperature", "temperature", "temperature", "τ: divides the scaled scores"),
)
FIELD_IDS = {field: wid for field, wid, _, _ in NUMBER_FIELDS} | {"causal": "causal", "vocab_mode": "vocab-mode",
                                                                  "prompt": "prompt"}
ID_FIELDS = {wid: field for field, wid in FIELD_IDS.items()}


class SettingsPanel(Vertical):
    """The config fields as compact inputs, a causal checkbox, a vocab-mode select, and the errors."""

    DEFAULT_CSS = """
    SettingsPanel {
        height: auto;
    }
    SettingsPanel Grid {
        grid-size: 2;
        grid-columns: 13 1fr;
        grid-rows: 1;
        height: auto;
    }
    SettingsPanel Label {
        color: $text-muted;
        width: 100%;
    }
    SettingsPanel Input.-bad {
        background: $error 30%;
    }
    SettingsPanel Input.-textual-compact.-bad:focus {
        background: $error 45%;
    }
    SettingsPanel #model-facts {
        color: $text-muted;
        height: auto;
        margin-top: 1;
    }
    SettingsPanel #settings-errors {
        color: $text-error;
        height: auto;
        display: none;
    }
    SettingsPanel.-has-errors #settings-errors {
        display: block;
    }
    SettingsPanel Checkbox {
        width: 100%;
    }
    """

    def compose(self) -> ComposeResult:
        with Grid():
            yield Label("model")
            yield Select([(name, name) for name in SOURCE_NAMES], value="toy", id="model",
                         allow_blank=False, compact=True)
            for field, wid, label, tip in NUMBER_FIELDS:
                yield Label(label, id=f"label-{wid}")
                box = SafeInput(field_text(field, getattr(DEFAULTS, field)), id=wid, compact=True,
                            select_on_focus=False)
                box.tooltip = Text(tip)  # user text is never markup
                yield box
            yield Label("causal", id="label-causal")
            yield Checkbox("j > i", DEFAULTS.causal, id="causal", compact=True)
            yield Label("vocab mode", id="label-vocab-mode")
            yield Select([(mode, mode) for mode in VOCAB_MODES], value=DEFAULTS.vocab_mode, id="vocab-mode",
                         allow_blank=False, compact=True)
        yield Static("", id="settings-errors", markup=False)
        yield Static("", id="model-facts", markup=False)

    def on_mount(self) -> None:
        for box in self.query(Input):
            box.cursor_blink = False
        self.query_one("#model-facts").display = False

    def show_settings(self, settings: tuple[str, ...]) -> None:
        """Show the fields the current source reads; hide the rest so nobody expects them to act."""
        for field, wid in FIELD_IDS.items():
            if field != "prompt":
                shown = field in settings
                self.query_one(f"#{wid}").display = shown
                self.query_one(f"#label-{wid}").display = shown

    def show_facts(self, lines: list[str]) -> None:
        """What a real model is (architecture, layers × heads, where it came from); nothing for the toy."""
        facts = self.query_one("#model-facts", Static)
        text = "\n".join(lines)
        if str(facts.content) != text:  # the same facts on every result: an update is a screen layout
            facts.update(text)
        facts.display = bool(lines)

    def show_errors(self, errors: dict[str, str]) -> None:
        """Mark the fields in `errors` (field → message) and list the messages under the form."""
        for field, wid in FIELD_IDS.items():
            if field == "prompt":
                continue
            widget = self.query_one(f"#{wid}")
            widget.set_class(field in errors, "-bad")
            if isinstance(widget, Input):
                # The message quotes what was typed (`[/]`): a Text, never parsed as markup.
                widget.tooltip = Text(errors.get(field) or next(t for f, _, _, t in NUMBER_FIELDS if f == field))
        shown = {f: m for f, m in errors.items() if f != "prompt"}
        self.set_class(bool(shown), "-has-errors")
        self.query_one("#settings-errors", Static).update("\n".join(f"✗ {m}" for m in shown.values()))
