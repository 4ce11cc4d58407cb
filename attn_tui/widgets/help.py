"""The help screen: every key, and what each pane shows."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from attn_tui.stages import STAGES

KEYS = (
    ("Anywhere", None),
    ("ctrl+q", "quit"),
    ("f1", "this help (also ? outside the prompt)"),
    ("ctrl+p", "command palette: every action, stages, heads, theme"),
    ("ctrl+r", "reset every setting to the notebook's defaults"),
    ("tab / shift+tab", "next / previous pane or field"),
    ("escape", "leave the prompt or a field, go to the grid"),
    ("In the grid and other panes", None),
    ("arrows, h j k l", "move the cursor; the inspector explains the cell"),
    ("pgup pgdn home end g G", "by a page, to the row's ends, to the top / bottom"),
    ("1 … 9, 0", "stage: " + ", ".join(f"{(i + 1) % 10} {s.label}" for i, s in enumerate(STAGES))),
    ("s / S", "next / previous stage"),
    ("[ / ]", "previous / next head"),
    ("o", "overview of every head (heads > 1)"),
    ("c", "causal mask on / off"),
    ("v", "vocab mode seed / dense"),
    ("z", "zoom: numbers / colour blocks"),
    ("r", "reset"),
    ("e", "export: JSON, CSV, NumPy, SVG, a Python script; the command line"),
    ("m", "model: toy → minilm → smollm2 (also in Settings and the palette)"),
    ("/", "back to the prompt"),
    ("?", "help"),
    ("With a real model", None),
    (", / .", "previous / next layer"),
    ("[ / ]", "previous / next head"),
    ("o", "every layer × head as small maps; arrows choose, enter opens"),
    ("x", "hide the special / first tokens and renormalise the rows"),
)

PANES = (
    ("Prompt", "the text; every keystroke recomputes everything."),
    ("Settings", "seed, vocab size, d_model, d_k, d_v, heads, temperature τ, causal mask, vocab mode. "
                 "A refused value is marked in red with the reason; the last good result stays, marked stale."),
    ("Vocab map", "word → id in id order. In seed mode (the notebook's rule) ids skip numbers: "
                  "a repeated word keeps its last sorted index."),
    ("Token ids", "each word of the prompt above its id; the cursor's query word is highlighted."),
    ("Embeddings", "E = table[ids], T × d_model: each word's row of the seeded random table."),
    ("Grid", "the chosen stage of the pipeline; for T × T stages rows are queries and columns keys. "
             "Colour: blue < 0 < red for signed values, dark → bright for weights; numbers where they fit."),
    ("Inspector", "the arithmetic behind the cell under the cursor: q·k, the scale, the row's softmax, "
                  "the weight and its share of the context."),
    ("Real models", "minilm and smollm2 (Settings → model): their own tokens and ids, input embeddings, and "
                    "each layer's heads; much attention lands on the first / special token (an attention sink)."),
)


class HelpScreen(ModalScreen[None]):
    """Keys and panes, over the app; any of escape, q, ? or f1 closes it."""

    DEFAULT_CSS = """
    HelpScreen {
        align: center middle;
    }
    HelpScreen > VerticalScroll {
        width: 90%;
        max-width: 100;
        height: 90%;
        border: round $accent;
        border-title-color: $accent;
        background: $panel;
        padding: 0 1;
    }
    """

    BINDINGS = [
        Binding("escape,q,question_mark,f1", "dismiss", "Close"),
    ]

    def compose(self) -> ComposeResult:
        keys = Table.grid(padding=(0, 2))
        keys.add_column(style="bold", no_wrap=True)
        keys.add_column()
        for key, what in KEYS:
            if what is None:
                keys.add_row(Text(key, style="underline"), "")
            else:
                keys.add_row(Text(key), Text(what))
        panes = Table.grid(padding=(0, 2))
        panes.add_column(style="bold", no_wrap=True)
        panes.add_column()
        for pane, what in PANES:
            panes.add_row(Text(pane), Text(what))
        stages = Table.grid(padding=(0, 2))
        stages.add_column(style="bold", no_wrap=True)
        stages.add_column()
        for stage in STAGES:
            stages.add_row(Text(stage.formula), Text(stage.explain))
        with VerticalScroll() as scroll:
            scroll.border_title = "attn-tui help · escape to close"
            yield Static(Text("Keys", style="bold reverse"))
            yield Static(keys)
            yield Static(Text("\nPanes", style="bold reverse"))
            yield Static(panes)
            yield Static(Text("\nStages", style="bold reverse"))
            yield Static(stages)

    def action_dismiss(self) -> None:  # type: ignore[override]
        self.dismiss(None)
