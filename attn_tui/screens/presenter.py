"""Result → panes: pushes one frozen result and the view state into every pane. Renders; computes nothing.

Reads results only through `attn_tui.result.Result`, so the toy pipeline and every model are drawn by
the same code.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from attn_tui.stages import STAGES, Matrix, embedding_matrix, stage_matrix
from attn_tui.widgets.heads import HeadsOverview
from attn_tui.widgets.inspector import Inspector
from attn_tui.widgets.legend import Legend
from attn_tui.widgets.matrix import MatrixView
from attn_tui.widgets.model_view import ModelOverview
from attn_tui.widgets.settings import SettingsPanel
from attn_tui.widgets.tokens import TokenIds, VocabMap

if TYPE_CHECKING:
    from textual.screen import Screen

    from attn_tui.result import Result


def facts_lines(result: Result) -> list[str]:
    """A real model's facts for the settings pane (the toy's settings are its facts: nothing more)."""
    facts = getattr(result, "facts", None)
    if facts is None:
        return []
    groups = f" ({facts.n_kv_heads} key/value)" if facts.n_kv_heads != facts.n_heads else ""
    return [
        facts.title,
        f"{facts.architecture} · {'causal' if facts.causal else 'bidirectional'}",
        f"{facts.n_layers} layers × {facts.n_heads} heads{groups}",
        f"hidden {facts.hidden} · head {facts.head_dim} · vocab {facts.vocab_size:,}",
        f"weights {facts.dtype} · on {facts.device}",
        f"at most {facts.max_tokens:,} tokens",
        facts.path,
    ]


@dataclass(frozen=True)
class ViewState:
    """What the explorer shows of a result (the screen's reactives, taken together)."""

    stage: str
    layer: int
    head: int
    overview: bool
    hide_special: bool
    dark: bool


class Presenter:
    """Knows the panes of one explorer screen and draws a result into them."""

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self.grid = screen.query_one("#attention-grid", MatrixView)
        self.embeddings = screen.query_one("#embeddings", MatrixView)
        self.legend = screen.query_one("#legend", Legend)
        self.token_ids = screen.query_one("#token-ids", TokenIds)
        self.vocab = screen.query_one("#vocab-map", VocabMap)
        self.inspector = screen.query_one(Inspector)
        self.heads = screen.query_one("#heads-overview", HeadsOverview)
        self.walls = screen.query_one("#model-view", ModelOverview)
        self.stage_bar = screen.query_one("#stage-bar", Static)
        self.inspector_line = screen.query_one("#inspector-line", Static)
        self.settings = screen.query_one(SettingsPanel)

    def waiting(self, message: str) -> None:
        """No result to show yet: every pane says `message`."""
        self.settings.show_facts([])
        self.token_ids.show((), (), message)
        self.vocab.show({}, message)
        self.embeddings.set_matrix(None, message=message)
        self.grid.set_matrix(None, message=message)
        self.legend.show(None)

    def show(self, result: Result, view: ViewState, prepared: Matrix | None = None) -> None:
        """Every pane, from scratch."""
        self.token_ids.show(result.tokens, result.token_ids)
        self.vocab.show(result.vocab, gaps=result.vocab_gaps)
        self.settings.show_facts(facts_lines(result))
        self.show_embeddings(result, view)
        self.show_stage(result, view, prepared)
        self.show_stage_bar(result, view)

    def show_embeddings(self, result: Result, view: ViewState) -> None:
        matrix = embedding_matrix(result)
        self.set_title("#embeddings-box", f"Embeddings {matrix.title}")
        self.embeddings.set_matrix(matrix, dark=view.dark)

    def show_stage(self, result: Result, view: ViewState, prepared: Matrix | None = None) -> None:
        """The grid (the prepared matrix when it is for this view), its legend, the overview, the inspector."""
        matrix = prepared or stage_matrix(result, view.stage, view.head, layer=view.layer,
                                          hide_special=view.hide_special)
        self.set_title("#stage-box", matrix.title)
        self.grid.set_matrix(matrix, dark=view.dark)
        self.legend.show(matrix, dark=view.dark, note=f"z {self.grid.zoom_text}")
        if view.overview:
            if result.n_layers == 1:
                self.heads.show(result.all_weights()[0].numpy(), view.head, dark=view.dark)
            else:
                self.walls.show(result.all_weights().numpy(), (view.layer, view.head), dark=view.dark)
        self.show_inspector(result, view)

    def show_stage_bar(self, result: Result | None, view: ViewState) -> None:
        """The stage keys (the current one reversed) and, with several layers, where in the model we are."""
        bar = Text(no_wrap=True, overflow="ellipsis")
        if result is not None and result.n_layers > 1:
            bar.append(", .", "bold")
            bar.append(f" layer {view.layer + 1}/{result.n_layers}  ")
            bar.append("[ ]", "bold")
            bar.append(f" head {view.head + 1}/{result.n_heads}  ")
            if any(result.special):
                bar.append("x", "bold")
                bar.append(" special " + ("hidden" if view.hide_special else "shown") + "  ")
        for stage in STAGES:
            if result is not None and stage.name not in result.stages:
                continue
            current = stage.name == view.stage
            bar.append(stage.key, "bold" if not current else "bold reverse")
            bar.append(stage.short, "reverse" if current else "")
            bar.append(" ")
        if self.stage_bar.content != bar:  # unchanged on every edit: no repaint then
            self.stage_bar.update(bar, layout=False)  # height 1: no layout needed

    def show_inspector(self, result: Result, view: ViewState) -> None:
        """The inspector explains the cell under the grid's cursor; the query token lights up elsewhere."""
        from attn_tui.explain import explain, explain_line

        matrix = self.grid.matrix
        if matrix is None:
            return
        row, col = self.grid.cursor
        row = min(row, matrix.shape[0] - 1)
        col = min(col, matrix.shape[1] - 1)
        self.inspector.show(explain(result, view.stage, view.head, row, col, layer=view.layer,
                                    kept=matrix.rows_index))
        if self.screen.has_class("-tight"):  # the one-line inspector is on screen only in a tight terminal
            line = explain_line(result, view.stage, view.head, row, col, layer=view.layer, kept=matrix.rows_index)
            self.inspector_line.update(line)
        query = matrix.token_at(row) if matrix.rows_are_tokens else None
        self.token_ids.set_highlight(query)
        # Issue 17: the embeddings scroll only when the query's row is out of view (set_highlight does
        # it); re-centring on every cursor move scrolled, and so repainted, the whole pane each time.
        self.embeddings.set_highlight(query)
        self.vocab.set_highlight(result.token_ids[query] if query is not None else None)

    def set_title(self, selector: str, title: str) -> None:
        """Set a pane's title only when it changes: every assignment repaints the whole pane."""
        box = self.screen.query_one(selector)
        if box.border_title != title:
            box.border_title = title
