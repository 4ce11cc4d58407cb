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
    ("ctrl+p", "command palette: every action by name (Open model…, Compare…, Export…)"),
    ("ctrl+r", "reset the settings to the notebook's (the prompt stays); u undoes it"),
    ("tab / shift+tab", "next / previous pane or field"),
    ("escape", "leave the prompt or a field, go to the grid"),
    ("In the grid and other panes", None),
    ("arrows, h j k l", "move the cursor; the inspector explains the cell"),
    ("pgup pgdn home end g G", "by a page, to the row's ends, to the top / bottom"),
    ("1 … 9, 0, - =", "stage: " + ", ".join(f"{s.key} {s.label}" for s in STAGES)),
    ("s / S", "next / previous stage"),
    ("[ / ]", "previous / next head"),
    (", / .", "previous / next layer (real models)"),
    ("o", "every head side by side (a model: every layer × head); arrows choose, enter opens"),
    ("H", "the head table: every head's statistics; ←/→ a column, s sorts, enter opens, i runs the "
          "induction test"),
    ("b", "prompt B: the first press opens its field; then the grid shows A, B, A − B in turn"),
    ("c", "causal mask on / off (the toy)"),
    ("v", "vocab mode seed / dense (the toy)"),
    ("z", "how cells are drawn: auto → numbers → colour blocks"),
    ("x", "hide the special / first tokens and renormalise the rows (real models)"),
    ("w", "word view: subword tokens merged into the prompt's words (weights, value-weighted, rollout)"),
    ("m", "model: toy → minilm → smollm2 → checkpoints opened (also Settings and the palette)"),
    ("t / T", "narrow terminals: the pane beside the grid"),
    ("r / u", "reset the settings / undo the reset"),
    ("e", "export: JSON, CSV, NumPy, SVG, a Python script; the command line"),
    ("/", "back to the prompt"),
    ("?", "help"),
    ("With a decoder (smollm2…)", None),
    ("n", "generate 8 tokens after what is shown (the palette sets how many); n again stops"),
    ("< / >", "the grid's query to the previous / next generated token (marked ⁺)"),
    ("p", "logit lens: the next tokens read after every layer, under the predictions"),
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
    ("Real models", "minilm, smollm2 or your own checkpoint (--model PATH, or the palette's Open model…): "
                    "their own tokens and ids, input embeddings, and every stage of each layer's heads; much "
                    "attention lands on the first / special token (an attention sink)."),
    ("Head table", "one row per head: entropy (nats), sink (weight on the first token), self, previous, "
                   "duplicate (on earlier copies of the token), induction (on the token after an earlier copy), "
                   "max, and Δ vs B. A blank means no query qualifies. The induction test (i) measures the "
                   "induction column on 50 random tokens repeated: induction heads score near 1, a uniform head "
                   "about 1/position; the toy's random weights score near the uniform head."),
    ("Next token", "a decoder's top 5 next tokens after the grid's query, with their probabilities and the token "
                   "that does come next; p adds the logit lens (each layer's top tokens). Generated tokens are "
                   "marked ⁺ in every pane."),
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
