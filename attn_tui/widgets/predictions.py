"""Next-token predictions for the grid's query: the top tokens after the last layer, and the logit lens.

`prediction_lines` (pure) turns a `models.Predictions` into lines of text; `PredictionsView` only
styles and draws them (Line API, like the inspector). The predictions themselves are computed off
the UI thread (the explorer's predictions worker); this pane never computes anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from rich.segment import Segment
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from attn_tui.display import fit, printable, wrap
from attn_tui.widgets.frame_style import FrameStyle

if TYPE_CHECKING:
    from attn_tui.models.result import Guess, Predictions

Kind = Literal["text", "strong", "muted", "bar"]
Line = list[tuple[str, Kind]]
"""One line: pieces of text, each with what it is (the widget styles each kind)."""

TOKEN = 10
"""Cells a predicted token gets in the top list."""
LENS_TOKEN = 9
"""Cells a token gets in the lens strip."""
BAR = 6
"""Cells of the longest probability bar."""
_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(p: float, cells: int = BAR) -> str:
    """A bar `p` (0…1) of `cells` cells long, in eighths of a cell: `███▍`."""
    eighths = round(max(0.0, min(p, 1.0)) * cells * 8)
    full, part = divmod(eighths, 8)
    return "█" * full + (_EIGHTHS[part] if part else "")


def percent(p: float) -> str:
    """`62.1%`, `0.42%`, `<0.01%`: readable at every size a probability takes."""
    if p >= 0.0995:
        return f"{p:.1%}"
    if p >= 0.0001:
        return f"{p:.2%}"
    return "<0.01%"


def short(p: float) -> str:
    """`.62`, `1.0`, `.00`: a probability in four cells, as the grid shows weights."""
    return "1.0" if p >= 0.995 else f"{p:.2f}".lstrip("0")


def prediction_lines(predictions: Predictions, query: str, *, width: int, lens: bool) -> list[Line]:
    """What the pane says about `predictions` (made for the token labelled `query`), for a pane `width` cells wide.

    The top tokens with their probabilities and bars, the token that does come next (its rank), and with
    `lens` one line per layer, the last layer first, down to the embeddings: its top tokens, as many as fit,
    with their probabilities, and the probability it gives the final top token.
    """
    lines: list[Line] = [[("after ", "muted"), (printable(query), "strong"), (" comes…", "muted")]]
    for guess in predictions.top:
        lines.append([(f"{guess.rank} ", "muted"), (fit(guess.token, TOKEN), "text"),
                      (f" {percent(guess.probability):>6} ", "text"), (bar(guess.probability), "bar")])
    actual = predictions.actual
    if actual is not None:
        lines.append([("next is ", "muted"), (printable(actual.token), "strong"),
                      (f" {percent(actual.probability)}, rank {actual.rank:,}", "muted")])
    else:
        lines.append([("last token: n generates", "muted")])
    if not lens:
        lines.append([("p", "strong"), (" logit lens (per layer)", "muted")])
        return lines
    if predictions.lens is None:
        lines.append([("logit lens: computing…", "muted")])
        return lines
    final = predictions.top[0] if predictions.top else None
    room = max((width - 4 - 4) // (LENS_TOKEN + 5), 1)  # guesses a line holds, after the layer and p(final)
    head: Line = [("p", "strong"), (" lens", "muted")]
    if final is not None and predictions.lens_top is not None:  # over the last column: p of the final top token
        head.append((" " * (4 + (LENS_TOKEN + 5) * room - 6), "muted"))
        head.append((fit(final.token, 4, align="right"), "strong"))
    lines.append(head)
    for layer, guesses in reversed(list(enumerate(predictions.lens))):  # the last layer first, under the top 5
        line: Line = [(f"{'emb' if layer == 0 else layer:>3} ", "muted")]
        line += _lens_cells(guesses[:room], final.token_id if final is not None else None)
        if predictions.lens_top is not None:
            line.append((f"{short(predictions.lens_top[layer]):>4}", "muted"))
        lines.append(line)
    return lines


def _lens_cells(guesses: tuple[Guess, ...], final: int | None) -> Line:
    cells: Line = []
    for guess in guesses:
        kind: Kind = "strong" if guess.token_id == final else "text"
        cells.append((fit(guess.token, LENS_TOKEN), kind))
        cells.append((f"{short(guess.probability):>4} ", "muted"))
    return cells


class PredictionsView(FrameStyle, ScrollView, can_focus=False):
    """The next tokens after the grid's query; scrolls when the lens has more layers than fit."""

    DEFAULT_CSS = """
    PredictionsView {
        background: $surface;
        scrollbar-size: 1 1;
        padding: 0 1;
    }
    PredictionsView > .predictions--strong {
        text-style: bold;
    }
    PredictionsView > .predictions--muted {
        color: $text-muted;
    }
    PredictionsView > .predictions--bar {
        color: $accent;
    }
    """

    COMPONENT_CLASSES = {"predictions--strong", "predictions--muted", "predictions--bar"}

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.predictions: Predictions | None = None
        self.query_label = ""
        self.lens = False
        self.message = "computing…"
        self._lines: list[Line] = []

    @property
    def text(self) -> str:
        """What the pane says, one line per line (tests read it)."""
        return "\n".join("".join(text for text, _ in line) for line in self._lines)

    def show(self, predictions: Predictions | None, query: str = "", *, lens: bool = False, message: str = "") -> None:
        """Show `predictions` for the token labelled `query`, or `message` when there is nothing to show."""
        self.predictions, self.query_label, self.lens, self.message = predictions, query, lens, message
        self._lay_out()
        self.refresh()

    def _lay_out(self) -> None:
        width = max(self.scrollable_content_region.width, 8)
        if self.predictions is None:
            self._lines = [[(piece, "muted")] for piece in wrap(self.message, width)] if self.message else []
        else:
            self._lines = prediction_lines(self.predictions, self.query_label, width=width, lens=self.lens)
        self.set_virtual_size(Size(width, len(self._lines)))

    def on_resize(self, event: events.Resize) -> None:
        self._lay_out()

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.base_style
        index = y + int(self.scroll_y)
        if index >= len(self._lines):
            return Strip.blank(width, base)
        styles = {"text": base, "strong": base + self.component_style("predictions--strong"),
                  "muted": base + self.component_style("predictions--muted"),
                  "bar": base + self.component_style("predictions--bar")}
        segments = [Segment(text, styles[kind]) for text, kind in self._lines[index]]
        return Strip(segments).extend_cell_length(width, base).crop(0, width)
