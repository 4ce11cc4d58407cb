"""Result → panes: pushes one frozen result and the view state into every pane. Renders; computes nothing.

Reads results only through `attn_tui.result.Result`, so the toy pipeline and every model are drawn by
the same code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.text import Text
from textual.widgets import Static

from attn_tui.sources import is_checkpoint_path
from attn_tui.stages import (
    GENERATED_MARK,
    STAGE_BY_NAME,
    STAGES,
    Matrix,
    Stage,
    compare_matrix,
    embedding_matrix,
    stage_matrix,
    token_labels,
)
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
    from attn_tui.stages import WordAxis


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
        # A checkpoint: its path as given; a bundled model: where it comes from (no machine's own path).
        facts.name if is_checkpoint_path(facts.name) else "bundled with its pip package",
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
    ab: str = "A"
    """With prompt B set: the grid shows `A`, `B`, or `A−B`."""
    words: bool = False
    """The word view (issue 16): stages that add up are merged into the prompt's words."""


def marked_vocab(result: Result) -> Mapping[str, int]:
    """The vocabulary rows, a token only the model generated marked as the token labels mark it."""
    generated = result.generated
    if True not in generated:
        return result.vocab
    typed = {i for i, new in zip(result.token_ids, generated, strict=True) if not new}
    return {(token if i in typed else GENERATED_MARK + token): i for token, i in result.vocab.items()}


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
        self.on_query: Callable[[Result, int | None], None] = lambda result, query: None
        """Called with the grid's query token (None: rows are not tokens) whenever the inspector is drawn: the
        explorer's next-token predictions follow it (issue 16)."""

    def waiting(self, message: str) -> None:
        """No result to show yet: every pane says `message`."""
        self.settings.show_facts([])
        self.token_ids.show((), (), message)
        self.vocab.show({}, message)
        self.embeddings.set_matrix(None, message=message)
        self.grid.set_matrix(None, message=message)
        self.legend.show(None)

    compare: Result | None = None
    """Prompt B's result, when there is one (set by the screen with each result)."""

    def shown_result(self, result: Result, view: ViewState) -> Result:
        """The result the grid and the inspector show: prompt B's when the view is B."""
        return self.compare if view.ab == "B" and self.compare is not None else result

    def show(self, result: Result, view: ViewState, prepared: Matrix | None = None) -> None:
        """Every pane, from scratch."""
        self.token_ids.show(token_labels(result), result.token_ids)
        self.vocab.show(marked_vocab(result), gaps=result.vocab_gaps)
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
        if self.compare is not None and view.ab != "A" and view.stage in self.compare.stages:
            prepared = None
            if view.ab == "B":
                result = self.compare
            else:
                prepared = compare_matrix(result, self.compare, view.stage, view.head, layer=view.layer)
        matrix = prepared or stage_matrix(result, view.stage, view.head, layer=view.layer,
                                          hide_special=view.hide_special, words=_words(result, view))
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
            if STAGE_BY_NAME[view.stage].per_head:  # rollout is one per layer: no head to choose
                bar.append("[ ]", "bold")
                bar.append(f" head {view.head + 1}/{result.n_heads}  ")
            if any(result.special):
                bar.append("x", "bold")
                bar.append(" special " + ("hidden" if view.hide_special else "shown") + "  ")
        if result is not None and view.words:
            bar.append("w", "bold")
            bar.append(" words  ")
        stages = [stage for stage in STAGES if result is None or stage.name in result.stages]
        named = _named_stages(stages, view.stage, self.stage_bar.size.width - bar.cell_len)
        for stage in stages:
            current = stage.name == view.stage
            bar.append(stage.key, "bold" if not current else "bold reverse")
            if stage.name in named:
                bar.append(stage.short, "reverse" if current else "")
            bar.append(" ")
        bar.rstrip()
        if self.stage_bar.content != bar:  # unchanged on every edit: no repaint then
            self.stage_bar.update(bar, layout=False)  # height 1: no layout needed

    def show_inspector(self, result: Result, view: ViewState) -> None:
        """The inspector explains the cell under the grid's cursor; the query token lights up elsewhere."""
        from attn_tui.explain import explain, explain_line
        from attn_tui.explain_flow import explain_cell, explain_cell_line, generated_note

        matrix = self.grid.matrix
        if matrix is None:
            return
        row, col = self.grid.cursor
        row = min(row, matrix.shape[0] - 1)
        col = min(col, matrix.shape[1] - 1)
        result = self.shown_result(result, view)
        if not matrix.rows_are_tokens and view.ab == "A−B":  # A and B side by side: no one cell to explain
            self.inspector.show(["A and B side by side:", "their token counts differ,", "so no A − B.",
                                 "", "b shows A, then B, alone."])
            return
        query = matrix.token_at(row) if matrix.rows_are_tokens else None
        cell = (result, view.stage, view.head, row, col)
        # Issue 16's cells (derived stages, the word view) first; a generated query says so under any stage.
        lines = explain_cell(*cell, layer=view.layer, kept=matrix.rows_index, groups=matrix.groups)
        if lines is None:
            lines = explain(*cell, layer=view.layer, kept=matrix.rows_index)
            lines += generated_note(result, query) if query is not None else []
        self.inspector.show(lines)
        if self.screen.has_class("-tight"):  # the one-line inspector is on screen only in a tight terminal
            line = explain_cell_line(*cell, layer=view.layer, kept=matrix.rows_index, groups=matrix.groups)
            self.inspector_line.update(line or explain_line(*cell, layer=view.layer, kept=matrix.rows_index))
        if view.overview:  # a generation's query, stepped through with < >, is marked beside every map
            self.walls.set_query(query if True in result.generated else None, result.n_tokens)
        self.token_ids.set_highlight(query)
        # Issue 17: the embeddings scroll only when the query's row is out of view (set_highlight does
        # it); re-centring on every cursor move scrolled, and so repainted, the whole pane each time.
        self.embeddings.set_highlight(query)
        self.vocab.set_highlight(result.token_ids[query] if query is not None else None)
        self.on_query(result, query)

    def set_title(self, selector: str, title: str) -> None:
        """Set a pane's title only when it changes: every assignment repaints the whole pane."""
        box = self.screen.query_one(selector)
        if box.border_title != title:
            box.border_title = title


def _words(result: Result, view: ViewState) -> WordAxis | None:
    """The word view's axis when it is on (attn_tui.report.word_axis), else None."""
    if not view.words:
        return None
    from attn_tui.report import word_axis

    return word_axis(result)


def _named_stages(stages: list[Stage], current: str, room: int) -> set[str]:
    """The stages the bar names (`9weights`) in `room` cells; the others show their key only (issue 16 made the bar
    longer than a 120-column screen's grid): the derived stages first, then the pipeline's from its start, lose
    their names, never the current one. When even keys alone do not fit, every stage keeps its name (cut, as before).
    """
    named = {stage.name for stage in stages}
    width = sum(len(stage.key) + len(stage.short) + 1 for stage in stages) - 1
    if room <= 0 or width <= room:
        return named
    order = [s for s in stages if s.derived] + [s for s in stages if not s.derived]
    for stage in order:
        if stage.name == current:
            continue
        named.discard(stage.name)
        width -= len(stage.short)
        if width <= room:
            return named
    return {stage.name for stage in stages}
