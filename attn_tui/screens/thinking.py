"""Issue 16 in the explorer: generation step by step and the word view (the next-token pane is predicting.py's).

`ThinkingActions` adds to the explorer's actions the view state (`words`, tokens per `n`) and the actions
of issue 16: a layer of ExplorerScreen, between the predictions' (`PredictionsFlow`) and the editing one
(`EditingFlow`). It is called from three places only: `EditingFlow.request(generate=N)` submits a
generation, `ExplorerScreen._result_computed` leaves a generation's partial results to
`generation_outcome` (shown at most once a frame), and the presenter's `on_query` hook tells
`update_predictions` which token the grid's cursor is on.

    n ─► request(generate=N) ─► ComputeService (Model.generate, tokens so far as they come) ─► partials
                                                                                            ─► the whole
    cursor ─► update_predictions (screens/predicting.py) ─► one thread worker at a time ─► the next-token pane
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.binding import Binding
from textual.reactive import reactive

from attn_tui.messages import ComputeFailed, ResultComputed
from attn_tui.screens.predicting import PredictionsFlow
from attn_tui.sources import can_generate
from attn_tui.stages import STAGE_BY_NAME, Matrix
from attn_tui.widgets.matrix import MatrixView

if TYPE_CHECKING:
    from attn_tui.compute import Computed
    from attn_tui.screens.presenter import ViewState

DEFAULT_TOKENS = 8
"""Tokens `n` generates unless the palette (or `--generate N`) says otherwise (issue 16's default)."""
TOKEN_CHOICES = (1, 4, 8, 16, 32, 64)
"""How many tokens `n` generates: the palette's choices."""

BINDINGS = [
    Binding("n", "generate", "Generate"),
    Binding("less_than_sign", "step_generated(-1)", "Previous generated", key_display="<", show=False),
    Binding("greater_than_sign", "step_generated(1)", "Next generated", key_display=">", show=False),
    Binding("w", "toggle_words", "Words", show=False),
    Binding("p", "toggle_lens", "Lens", show=False),
]
"""Issue 16's keys (ExplorerScreen puts them among its own)."""


def row_of_token(matrix: Matrix | None, position: int) -> int | None:
    """The grid row showing token `position` (the word holding it in the word view); None if no row does."""
    if matrix is None or not matrix.rows_are_tokens:
        return None
    if matrix.groups is not None:
        return next((row for row, group in enumerate(matrix.groups) if position in group), None)
    if matrix.rows_index is not None:
        return matrix.rows_index.index(position) if position in matrix.rows_index else None
    return position if position < matrix.shape[0] else None


class ThinkingActions(PredictionsFlow):
    """Generation and the word view (issue 16), on top of the next-token predictions and the explorer's actions."""

    words: reactive[bool] = reactive(False, init=False, repaint=False)
    """The word view: subword tokens merged into the prompt's words, in the stages that add up."""

    generate_count: int = DEFAULT_TOKENS
    """Tokens `n` generates (more after a generation already shown)."""
    start_generate: int = 0
    """Tokens to generate after the prompt at start (`--generate N`); 0: a plain run."""
    _asked = 0
    """Tokens asked of the generation running; 0 when none runs."""
    _following = False
    """The grid's cursor follows the newest token as a generation's tokens arrive."""
    _partial: Computed | None = None
    """The newest partial result of the running generation, not yet shown."""

    def _render_stage(self) -> None:
        """Draw the grid again for the view state (ExplorerScreen knows the panes)."""
        raise NotImplementedError

    def show_computed(self, outcome: Computed) -> bool:
        """Show a computed result if the session takes it (ExplorerScreen); True when shown."""
        raise NotImplementedError

    def view_state(self) -> ViewState:
        """What the panes show (ExplorerScreen)."""
        raise NotImplementedError

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._follow_row: int | None = None
        """The row the cursor was put on to follow the newest token (its CursorMoved is not the user's)."""

    # -- which keys apply ------------------------------------------------------------------------

    def why_not(self, action: str, parameters: tuple[object, ...]) -> str | None:
        result = self.result
        if action in ("generate", "toggle_lens", "set_generate_count"):
            return can_generate(result)
        if action == "step_generated":
            why = can_generate(result)
            if why is None and result is not None and True not in result.generated:
                why = f"no generated tokens yet: n generates {self.generate_count}"
            return why
        if action == "toggle_words" and not self.words:
            if result is not None and getattr(result, "facts", None) is None:
                return "the toy's tokens are whole words already: the word view is for a model's subword tokens"
            stage = STAGE_BY_NAME[self.stage]
            if not stage.additive:
                return (f"the word view adds up a word's tokens: it merges weights, value-weighted and rollout "
                        f"(9 - =), not {stage.label}")
        return super().why_not(action, parameters)

    # -- generation ------------------------------------------------------------------------------

    def first_request(self) -> None:
        """The explorer's first request: a generation when the command line asked for one (`--generate N`)."""
        if self.start_generate:
            self.generate(self.start_generate)
        else:
            self.request()

    def action_generate(self) -> None:
        """Generate `generate_count` more tokens after what is shown (greedy), or stop the generation running."""
        if self._asked:
            self.action_cancel_generation()
            return
        result = self.result
        if result is None or can_generate(result) is not None:
            return
        facts = getattr(result, "facts", None)
        same_prompt = result.prompt == self.session.texts.get("prompt")
        shown = getattr(result, "n_generated", 0) if same_prompt else 0  # more after those, or from the prompt
        n_prompt = result.n_tokens - shown
        room = (facts.max_tokens if facts is not None else result.n_tokens) - n_prompt
        total = min(shown + self.generate_count, room)
        if total <= shown:
            self.notify(f"{result.source} takes at most {room + n_prompt} tokens: no room to generate more "
                        "(shorten the prompt)", timeout=5, markup=False)
            return
        self.generate(total)

    def generate(self, total: int) -> None:
        """Ask for the prompt and `total` generated tokens; the cursor follows them as they come."""
        self._following = True
        self._follow()  # onto the last token: its next one comes first
        if self.request(generate=total):
            self._asked = total
            self._show_progress(0.0, "reading the prompt")
        self.refresh_bindings()

    def action_cancel_generation(self) -> None:
        """Stop the generation running after its current token; the tokens made so far stay on screen."""
        if self._asked:
            self.service.cancel_generation()

    def action_set_generate_count(self, count: int) -> None:
        self.generate_count = max(int(count), 1)
        self.notify(f"n generates {self.generate_count} token{'s' if self.generate_count > 1 else ''}", timeout=2,
                    markup=False)

    def action_step_generated(self, step: int) -> None:
        """Move the grid's query to the next (or previous) generated token, wrapping around."""
        result = self.result
        grid = self.query_one("#attention-grid", MatrixView)
        matrix = grid.matrix
        if result is None or matrix is None or not matrix.rows_are_tokens:
            return
        made = [i for i, new in enumerate(result.generated) if new]
        if not made:
            return
        here = matrix.token_at(grid.cursor[0])
        after = [i for i in made if (i > here if step > 0 else i < here)]
        target = (after[0] if step > 0 else after[-1]) if after else (made[0] if step > 0 else made[-1])
        row = row_of_token(matrix, target)
        if row is not None:
            self._following = False
            grid.move_cursor(row, grid.cursor[1])

    def generation_outcome(self, outcome: Computed) -> bool:
        """A result of the compute service: True when this took it (a generation's tokens so far, shown at most once
        a frame); False when the explorer shows it as usual."""
        if outcome.progress is None:
            return False
        self._partial = outcome
        self.call_after_refresh(self._show_partial)
        return True

    def _show_partial(self) -> None:
        outcome, self._partial = self._partial, None
        if outcome is None or not self._asked or outcome.request.generation != self.session.generation:
            return
        if self.show_computed(outcome):
            assert outcome.progress is not None
            self._show_progress(*outcome.progress)
            self._follow()

    @on(ResultComputed)
    def _generation_done(self, event: ResultComputed) -> None:
        """After the explorer has shown a result: a generation's last one ends the progress."""
        outcome = event.outcome
        if outcome.progress is not None or not outcome.request.generate:
            return
        if outcome.request.generation != self.session.generation:
            return
        self._follow()
        self._end_generation()
        if outcome.stopped:
            made = getattr(outcome.result, "n_generated", 0)
            self.notify(f"Generation stopped: {made} of {outcome.request.generate} tokens made.", timeout=4,
                        markup=False)

    @on(ComputeFailed)
    def _generation_failed(self, event: ComputeFailed) -> None:
        outcome = event.outcome
        request = outcome.request
        if request is None or request.generate:
            self._end_generation()
        if request is None or outcome.field != "generate" or request.generation != self.session.generation:
            return
        if request.generate:  # the model cannot generate this (an encoder, too long a prompt): why, and the prompt
            self.notify(outcome.message[0].upper() + outcome.message[1:], title="No generation", severity="warning",
                        timeout=8, markup=False)
            self.request()

    def _follow(self) -> None:
        """Put the cursor on the newest token, if it is following them."""
        grid = self.query_one("#attention-grid", MatrixView)
        if self._following and grid.matrix is not None and grid.matrix.rows_are_tokens:
            self._follow_row = grid.matrix.shape[0] - 1
            grid.move_cursor(self._follow_row, grid.cursor[1])

    @on(MatrixView.CursorMoved, "#attention-grid")
    def _cursor_left(self, event: MatrixView.CursorMoved) -> None:
        """The user moving the cursor off the newest token stops it following the generation. Where the cursor is
        now decides, not the message's row: the message of an earlier follow can arrive after the next one."""
        if self._following and event.view.cursor[0] != self._follow_row:
            self._following = False

    @property
    def generating(self) -> bool:
        """A generation asked for is still running."""
        return bool(self._asked)

    def _show_progress(self, fraction: float, label: str) -> None:
        """The generation's progress, as a model's loading shows it: under the grid and in the status line."""
        done = round(fraction * 12)
        made = round(fraction * self._asked)
        text = f"generating {made}/{self._asked} {'█' * done}{'░' * (12 - done)} · {label} · n stops"
        self.session.activity = f"generating {made}/{self._asked} · n stops"
        box = self.query_one("#stage-box")
        box.add_class("-generating")
        box.border_subtitle = text
        self._render_status()

    def predictions_wait(self) -> str:
        """While the cursor follows a generation's newest token, its next token is what comes next on screen: the
        pane waits (the LM head on every partial result would slow the generation it watches)."""
        if self._asked and self._following:
            return "generating: each next token appears in the grid as it comes (< > or an arrow to look back)"
        return ""

    def _end_generation(self) -> None:
        if not self._asked:
            return
        self._asked = 0
        self._predicted = None  # the last result's predictions, now that nothing is generating
        if self.result is not None and self.presenter is not None:
            self.presenter.show_inspector(self.result, self.view_state())
        self.session.activity = ""
        box = self.query_one("#stage-box")
        box.remove_class("-generating")
        box.border_subtitle = "stale" if self.stale else ""
        self._render_status()
        self.refresh_bindings()

    def requested(self, generate: int) -> None:
        """Any request ends the generation shown as running (an edit drops it; the service stops it)."""
        if not generate:
            self._end_generation()
            self._following = False

    def _render_status(self) -> None:
        raise NotImplementedError

    # -- the word view ----------------------------------------------------------------------------

    def action_toggle_words(self) -> None:
        self.words = not self.words

    def watch_words(self) -> None:
        """Words in or out: the cursor stays on the same query (and key) token, in its word or on its own."""
        grid = self.query_one("#attention-grid", MatrixView)
        before = grid.matrix
        row, col = grid.cursor
        query = before.token_at(row) if before is not None and before.rows_are_tokens else None
        key = before.token_at(col) if before is not None and before.col_labels == before.row_labels else None
        self._render_stage()
        after = grid.matrix
        new_row = row_of_token(after, query) if query is not None else None
        square = after is not None and after.col_labels == after.row_labels
        new_col = row_of_token(after, key) if key is not None and square else None
        if new_row is not None:
            grid.move_cursor(new_row, new_col if new_col is not None else col)
