"""The explorer screen: the panes, the view state, the keys; edits go to the session, results come back.

    keystroke ─► Session (field texts → config, request) ─► ComputeService (thread) ─► Source ─► Result
        ▲                                                                                     │
        └──────────── Presenter (result + view → panes) ◄── ResultComputed ◄──────────────────┘
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.widget import Widget
from textual.widgets import Footer, Input, Select, Static

from attn_tui.compat import FrameHold
from attn_tui.compute import Computed, ComputeService, View
from attn_tui.messages import ComputeFailed, ResultComputed, SourceLoading
from attn_tui.screens.editing import EditingFlow
from attn_tui.screens.presenter import Presenter, ViewState
from attn_tui.screens.thinking import BINDINGS as THINKING_BINDINGS
from attn_tui.session import Session
from attn_tui.sources import SOURCE_NAMES, is_checkpoint_path, source_names, source_spec
from attn_tui.stages import DEFAULT_STAGE, STAGES, Matrix
from attn_tui.widgets.head_table import HeadTable, TableData
from attn_tui.widgets.heads import HeadsOverview
from attn_tui.widgets.inspector import Inspector
from attn_tui.widgets.legend import Legend
from attn_tui.widgets.matrix import MatrixView
from attn_tui.widgets.model_view import ModelOverview
from attn_tui.widgets.predictions import PredictionsView
from attn_tui.widgets.safe_input import SafeInput
from attn_tui.widgets.settings import SettingsPanel
from attn_tui.widgets.side_tabs import SIDE_NAMES, SideTabs
from attn_tui.widgets.tokens import TokenIds, VocabMap

if TYPE_CHECKING:
    from attn_tui.config import AttentionConfig  # noqa: TC004
    from attn_tui.result import Result

MIN_WIDTH, MIN_HEIGHT = 40, 12
"""Below this the screen shows a 'terminal too small' notice instead of its panes."""
WIDE_WIDTH, WIDE_HEIGHT = 110, 32
"""From this size up every pane is on screen at once; below, the grid and one side pane (`t` chooses)."""
TIGHT_WIDTH = 72
"""Below this width the side pane takes the grid's place, and a one-line inspector sits under the grid."""

PANE_TITLES = {
    "prompt-box": "Prompt",
    "tokens-box": "Token ids",
    "stage-box": "Stage",
    "embeddings-box": "Embeddings",
    "inspector-box": "Inspector",
    "settings-box": "Settings",
    "vocab-box": "Vocab map",
    "predictions-box": "Next token",
}


def loading_text(label: str, fraction: float) -> str:
    """`loading SmolLM2… ██████░░░░░░ 45% · m or the palette cancels`: what the panes say while a model loads."""
    done = round(fraction * 12)
    return f"{label} {'█' * done}{'░' * (12 - done)} {fraction:.0%} · m or the palette's Cancel loading stops it"


class ExplorerScreen(EditingFlow):
    """Prompt and settings in, every stage of self-attention on screen, recomputed on every edit."""

    BINDINGS = [
        # The app's own keys, repeated here so the footer lists them first (they work on every screen).
        Binding("ctrl+q", "app.quit", "Quit", priority=True),
        Binding("f1", "app.help", "Help", priority=True),
        Binding("ctrl+r", "app.reset", "Reset", priority=True),
        Binding("escape", "focus_grid", "To grid", show=False),
        Binding("slash", "focus_prompt", "Prompt", show=False),
        *(Binding(s.binding, f"stage('{s.name}')", f"Stage {s.label}", key_display=s.key, show=False)
          for s in STAGES),
        Binding("s", "cycle_stage(1)", "Stage"),
        Binding("S", "cycle_stage(-1)", "Previous stage", show=False),
        Binding("left_square_bracket", "cycle_head(-1)", "Head −", show=False),
        Binding("right_square_bracket", "cycle_head(1)", "Head", key_display="[ ]"),
        Binding("o", "toggle_overview", "Overview"),
        Binding("c", "toggle_causal", "Causal"),
        Binding("v", "toggle_vocab_mode", "Vocab mode", show=False),
        Binding("z", "cycle_zoom", "Zoom", show=False),
        Binding("comma", "cycle_layer(-1)", "Layer −", show=False),
        Binding("full_stop", "cycle_layer(1)", "Layer", key_display=", ."),
        Binding("x", "toggle_special", "Specials"),
        Binding("m", "cycle_source", "Model", show=False),
        Binding("e", "app.export", "Export"),
        Binding("r", "reset", "Reset", show=False),
        Binding("u", "undo_reset", "Undo reset"),
        Binding("t", "cycle_side(1)", "Pane", show=False),
        Binding("H", "toggle_table", "Head table"),
        Binding("b", "compare", "Prompt B", show=False),
        Binding("T", "cycle_side(-1)", "Previous pane", show=False),
        *THINKING_BINDINGS,  # issue 16: n generates, < > step through the generated tokens, w words, p lens
    ]

    def __init__(self, config: AttentionConfig, source: str = "toy", *, device: str = "cpu", compare: str = "",
                 words: bool = False, generate: int = 0) -> None:
        super().__init__()
        self.set_reactive(ExplorerScreen.words, words)  # issue 16: the word view, a generation at start
        self.start_generate = generate
        self.start_config = config
        """The state the explorer opened with (flags or keyword arguments)."""
        self.set_reactive(ExplorerScreen.source, source if source in SOURCE_NAMES or is_checkpoint_path(source)
                          else "toy")
        self.session = Session.start(config, self.source)
        self.session.compare = compare
        self.compare_result: Result | None = None
        """Prompt B's result (the same source and settings), when B is set."""
        self._table_data: tuple[Result, Result | None, TableData] | None = None
        """The head table's statistics, and the results they were computed from."""
        self.results: dict[str, Result] = {}
        """The latest result of each source, so switching back shows it at once."""
        self._prepared: tuple[Result, View, Matrix | None] | None = None
        """(result, view, matrix) from the worker: the grid's next matrix, already made."""
        self._syncing = False
        self.service = ComputeService(self._deliver, device)
        self.presenter: Presenter | None = None
        self._focus_before_too_small: Widget | None = None
        self._hold: FrameHold | None = None

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        # The screen's classes before its widgets mount, so that each is styled once, as it mounts: set in
        # on_mount, they restyled all 87 widgets again before the first frame (issue 17).
        with self.one_restyle():
            self._side_classes(self.side)
            self.set_class(self.source != "toy", "-model")
            if self.session.compare.strip():
                self.add_class("-compare-open", "-comparing")
            self._layout_classes(self.app.size)
        yield Static("", id="status", markup=False)
        with Vertical(id="prompt-box"):
            yield SafeInput(self.start_config.prompt, id="prompt", compact=True, select_on_focus=False,
                            placeholder="type a prompt: words separated by spaces")
            yield SafeInput(self.session.compare, id="compare", compact=True, select_on_focus=False,
                            placeholder="prompt B, to compare with the prompt (empty: no comparison)")
        yield SideTabs(id="side-tabs")
        with Container(id="main"):
            with Vertical(id="center"):
                with Vertical(id="tokens-box", classes="pane"):
                    yield TokenIds(id="token-ids")
                with Vertical(id="stage-box", classes="pane"):
                    yield Static("", id="stage-bar", markup=False)
                    yield MatrixView(id="attention-grid")
                    yield HeadsOverview(id="heads-overview")
                    yield ModelOverview(id="model-view")
                    yield HeadTable(id="head-table")
                    yield Static("", id="inspector-line", markup=False)
                    yield Legend(id="legend")
            with Vertical(id="right"):
                with Vertical(id="embeddings-box", classes="pane"):
                    yield MatrixView(id="embeddings", show_cursor=False)
                with Vertical(id="inspector-box", classes="pane"):
                    yield Inspector(id="inspector")
                with Vertical(id="predictions-box", classes="pane"):
                    yield PredictionsView(id="predictions")
            with Vertical(id="left"):
                with Vertical(id="settings-box", classes="pane"):
                    yield SettingsPanel(id="settings")
                with Vertical(id="vocab-box", classes="pane"):
                    yield VocabMap(id="vocab-map")
        yield Static("Terminal too small.", id="too-small", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        for wid, title in PANE_TITLES.items():
            self.query_one(f"#{wid}").border_title = title
        self.presenter = Presenter(self)
        self.presenter.on_query = self.update_predictions  # issue 16: the next-token pane follows the query
        self._hold = FrameHold(self.app)
        prompt = self.query_one("#prompt", Input)
        prompt.cursor_blink = False
        for field in self.query(SafeInput):
            field.on_edit = self._field_edited
        prompt.focus()
        with self.one_restyle():
            self._sync_widgets(self.start_config)
            self._apply_source()
            self.watch_side(self.side)
            self.query_one("#compare", Input).cursor_blink = False
            self.update_layout(self.app.size)
        self.presenter.show_stage_bar(None, self.view_state())
        self._render_status()
        # After the first frame, which also starts the compute thread (AttnApp._display).
        self.call_after_refresh(self.first_request)

    def on_unmount(self) -> None:
        self.service.close()

    def on_resize(self, event: events.Resize) -> None:
        with self.one_restyle():
            self.update_layout(event.size)

    def update_layout(self, size: tuple[int, int]) -> None:
        """Wide, narrow (one scrolling column) or too small, for a terminal of `size`."""
        width, height = size
        too_small = width < MIN_WIDTH or height < MIN_HEIGHT
        if too_small:  # short lines: they must read at 30 columns and less
            self.query_one("#too-small", Static).update(
                f"Terminal too small: {width} × {height}.\nattn-tui needs {MIN_WIDTH} × {MIN_HEIGHT}.\nctrl+q quits.")
        if too_small and not self.has_class("-too-small"):
            # The panes are about to be hidden, and with them the focused field: remember it, so that
            # focus comes back there (not to the grid, where the next `r` typed would reset everything).
            self._focus_before_too_small = self.focused
        self._layout_classes(size)
        if width < TIGHT_WIDTH and self.result is not None and self.presenter is not None:
            self.presenter.show_inspector(self.result, self.view_state())  # fill the one-line inspector
        if not too_small and self._focus_before_too_small is not None:
            widget, self._focus_before_too_small = self._focus_before_too_small, None
            self.call_after_refresh(widget.focus)

    def _layout_classes(self, size: tuple[int, int]) -> None:
        width, height = size
        self.set_class(width < MIN_WIDTH or height < MIN_HEIGHT, "-too-small")
        self.set_class(width < WIDE_WIDTH or height < WIDE_HEIGHT, "-narrow")
        self.set_class(width < TIGHT_WIDTH, "-tight")

    def view_state(self) -> ViewState:
        return ViewState(self.stage, self.model_layer, self.head, self.overview, self.hide_special,
                         self.app.current_theme.dark, self.ab if self.compare_result is not None else "A", self.words)

    # -- outcomes → panes -----------------------------------------------------------------------

    @on(ResultComputed)
    def _result_computed(self, event: ResultComputed) -> None:
        if not self.generation_outcome(event.outcome):  # issue 16: a generation's tokens so far, once a frame
            self.show_computed(event.outcome)

    def show_computed(self, outcome: Computed) -> bool:
        """Show a computed result if the session takes it (not another source's, not older than the one shown)."""
        if not self.session.accepts(outcome):
            return False
        self.stale = self.session.stale(outcome.result)
        self._prepared = (outcome.result, outcome.request.view, outcome.grid)
        self.compare_result = outcome.compare
        if self.presenter is not None:
            self.presenter.compare = outcome.compare
        self.results[outcome.request.source] = outcome.result
        self.result = outcome.result
        if outcome.request.generation == self.session.generation:
            self._release_frame()
        return True

    @on(ComputeFailed)
    def _compute_failed(self, event: ComputeFailed) -> None:
        outcome = event.outcome
        if not self.session.failed(outcome):
            return
        errors = self.session.errors
        self.query_one(SettingsPanel).show_errors(errors)
        self.query_one("#prompt", Input).set_class(outcome.field == "prompt", "-bad")
        self.stale = self.result is not None
        self._render_status()
        self._release_frame()
        if outcome.field == "model":
            self.notify(outcome.message, title="Model unavailable", severity="error", timeout=8, markup=False)
            if self.result is None and self.presenter is not None:
                # Nothing of this source to show: every pane says why, not "loading…" for ever.
                self.presenter.waiting(f"✗ {outcome.message}")

    @on(SourceLoading)
    def _source_loading(self, event: SourceLoading) -> None:
        outcome = event.outcome
        if outcome.source == self.source:
            self.session.note = f"{outcome.label} {outcome.fraction:.0%}"
            self._render_status()
            if self.result is None and self.presenter is not None:
                self.presenter.waiting(loading_text(outcome.label, outcome.fraction))

    def watch_result(self) -> None:
        result = self.result
        if result is None:
            return
        # Quietly: the watchers would draw the new result with an old layer or head.
        self.set_reactive(ExplorerScreen.model_layer, min(self.model_layer, result.n_layers - 1))
        self.set_reactive(ExplorerScreen.head, min(self.head, result.n_heads - 1))
        if self.stage not in result.stages:
            self.set_reactive(ExplorerScreen.stage, DEFAULT_STAGE)
        self.render_all()
        if self.table:
            self.refresh_table()

    def render_all(self) -> None:
        """Push the shown result into every pane (or say what is coming)."""
        if self.presenter is None:
            return
        result, view = self.result, self.view_state()
        if result is None:
            self.presenter.waiting(loading_text(f"loading {source_spec(self.source).title}…", 0.0)
                                   if self.source != "toy" else "computing…")
            self.presenter.set_title("#stage-box", "Stage")
            self.presenter.set_title("#embeddings-box", "Embeddings")
        else:
            prepared = self._prepared
            matrix = prepared[2] if prepared is not None and prepared[0] is result and prepared[1] == View(
                view.stage, view.layer, view.head, view.hide_special, view.words) else None
            self.presenter.show(result, view, matrix)
        self.presenter.show_stage_bar(result, view)
        self._render_status()

    def _render_stage(self) -> None:
        if self.presenter is None:
            return
        if self.table and self._table_data is not None:  # the current head's row is marked
            self._show_table(self._table_data[2])
            return
        view = self.view_state()
        self.presenter.show_stage_bar(self.result, view)
        if self.result is not None:
            self.presenter.show_stage(self.result, view)

    def _render_status(self) -> None:
        status = self.query_one("#status", Static)
        text = self.session.status(self.result, timing=getattr(self.app, "show_timing", True))
        if status.content != text:
            status.update(text, layout=False)  # one line, fixed height: a repaint, not a layout
        status.set_class(bool(self.session.errors), "-error")

    def watch_stale(self, stale: bool) -> None:
        for pane in self.query(".pane"):
            pane.set_class(stale, "-stale")
            if pane.id != "settings-box":
                pane.border_subtitle = "stale" if stale else ""
        self._render_status()

    def watch_stage(self) -> None:
        self._render_stage()

    def watch_head(self) -> None:
        self._render_stage()

    def watch_model_layer(self) -> None:
        self._render_stage()

    def watch_hide_special(self) -> None:
        self._render_stage()

    def watch_overview(self) -> None:
        one_layer = self.result is None or self.result.n_layers == 1
        box = self.query_one("#stage-box")
        box.set_class(self.overview and one_layer, "-overview")
        box.set_class(self.overview and not one_layer, "-model-overview")
        self._render_stage()

    def watch_source(self) -> None:
        self.set_reactive(ExplorerScreen.model_layer, 0)
        self.set_reactive(ExplorerScreen.head, 0)
        self.set_reactive(ExplorerScreen.result, self.results.get(self.source))
        self.session.source = self.source
        self.session.errors = {}
        self.overview = False
        self._apply_source()
        if self.result is not None and self.stage not in self.result.stages:
            self.set_reactive(ExplorerScreen.stage, DEFAULT_STAGE)
        self.render_all()
        self.request()

    def _apply_source(self) -> None:
        self.set_class(self.source != "toy", "-model")
        self.query_one(SettingsPanel).show_settings(source_spec(self.source).settings)
        select = self.query_one("#model", Select)
        if select.value != self.source:
            with self.prevent(Select.Changed):
                names = source_names()
                if self.source not in names:
                    names = (*names, self.source)
                select.set_options([(source_spec(name).title if name not in SOURCE_NAMES else name, name)
                                    for name in names])
                select.value = self.source

    def redraw(self) -> None:
        """Draw the panes again (a theme changed their colours)."""
        if self.result is not None and self.presenter is not None:
            self.presenter.show_embeddings(self.result, self.view_state())
            self._render_stage()

    @on(MatrixView.CursorMoved, "#attention-grid")
    def _cursor_moved(self, event: MatrixView.CursorMoved) -> None:
        if self.result is not None and self.presenter is not None:
            self.presenter.show_inspector(self.result, self.view_state())

    def watch_ab(self) -> None:
        self._render_stage()

    def watch_side(self, side: str) -> None:
        self._side_classes(side)
        self.query_one(SideTabs).show(side)

    def _side_classes(self, side: str) -> None:
        for name in SIDE_NAMES:
            self.set_class(name == side, f"-side-{name}")

    @on(SideTabs.Chosen)
    def _side_chosen(self, event: SideTabs.Chosen) -> None:
        self.side = event.side

    @on(ModelOverview.HeadChosen)
    def _head_chosen(self, event: ModelOverview.HeadChosen) -> None:
        self.model_layer, self.head = event.layer, event.head
        self.overview = False
        self.action_focus_grid()

    @on(HeadsOverview.Stepped)
    def _head_stepped(self, event: HeadsOverview.Stepped) -> None:
        self.action_cycle_head(event.step)

    @on(HeadsOverview.Chosen)
    def _heads_chosen(self, event: HeadsOverview.Chosen) -> None:
        self.overview = False
        self.action_focus_grid()
