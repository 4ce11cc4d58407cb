"""The explorer's actions (its keys and palette commands), and which of them apply to what is shown."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from textual import events
from textual.reactive import Reactive, reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Checkbox, Input, Select

from attn_tui.sources import is_checkpoint_path, source_names, source_spec
from attn_tui.stages import DEFAULT_STAGE, STAGE_BY_NAME, STAGES
from attn_tui.widgets.head_table import HeadTable
from attn_tui.widgets.heads import HeadsOverview
from attn_tui.widgets.legend import Legend
from attn_tui.widgets.matrix import MatrixView
from attn_tui.widgets.model_view import ModelOverview
from attn_tui.widgets.side_tabs import SIDE_NAMES

if TYPE_CHECKING:
    from attn_tui.compute import ComputeService
    from attn_tui.config import AttentionConfig
    from attn_tui.result import Result
    from attn_tui.session import Session


class ExplorerActions(Screen[None]):
    """The explorer's view state (reactives) and the actions that change it; ExplorerScreen adds the panes."""

    # View state: every watcher below pushes what changed into the panes, which repaint themselves, so
    # none of these repaints the screen (repaint=True drew every pane again, a whole-screen frame per
    # key: issue 17).
    source: reactive[str] = reactive("toy", init=False, repaint=False)
    """Which source the panes show: `toy` (the notebook) or a real model."""
    result: reactive[Result | None] = reactive(None, init=False, repaint=False, always_update=True)
    """The current source's latest result; None until it has run."""
    stage: reactive[str] = reactive(DEFAULT_STAGE, init=False, repaint=False)
    """The stage the big grid shows."""
    model_layer: reactive[int] = reactive(0, init=False, repaint=False)
    """The layer shown (0-based; not `layer`, which every widget has: its CSS layer)."""
    head: reactive[int] = reactive(0, init=False, repaint=False)
    """The head shown (0-based)."""
    overview: reactive[bool] = reactive(False, init=False, repaint=False)
    """Every head side by side instead of one head's grid."""
    hide_special: reactive[bool] = reactive(False, init=False, repaint=False)
    """Hide special/first tokens and renormalise the rows."""
    ab: reactive[str] = reactive("A", init=False, repaint=False)
    """With prompt B set, what the grid shows: `A`, `B` or `A−B` (`b` steps through them)."""
    table: reactive[bool] = reactive(False, init=False, repaint=False)
    """The head table (every layer × head, with statistics) instead of one head's grid."""
    side: reactive[str] = reactive("inspector", init=False, repaint=False)
    """In a narrow terminal, the pane beside the grid (inspector, tokens, embeddings, settings, vocab)."""
    stale: reactive[bool] = reactive(False, init=False, repaint=False)
    """The shown result is not the one the current settings describe."""
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)
    """Screen.focused, without its repaint of the whole screen on every focus change: the widgets whose
    :focus styles change repaint themselves (set it with `set_focus`, as Screen.focused says)."""

    session: Session
    """The fields, their errors and the requests (ExplorerScreen makes it)."""
    service: ComputeService
    """The compute thread (ExplorerScreen makes it)."""
    _undo: tuple[dict[str, Any], str, str, int, int] | None = None
    """What the last reset replaced: (field texts, source, stage, layer, head); None once undone."""

    _restyle_held = False
    """Inside `one_restyle()`: the screen's class changes wait for one style update at its end."""
    _restyle_wanted = False
    """A class changed inside `one_restyle()`: its end restyles the screen (else nothing changed, no restyle)."""

    @contextmanager
    def one_restyle(self) -> Iterator[None]:
        """Change several of the screen's classes (layout, side pane, source) with one style update of the
        screen's tree, not one per class: each is a full restyle (about 10 ms at start-up, 145 ms with every
        pane mounted). None when no class changed: a resize to a size of the same layout restyles nothing."""
        if self._restyle_held:
            yield
            return
        self._restyle_held, self._restyle_wanted = True, False
        try:
            yield
        finally:
            self._restyle_held = False
            if self._restyle_wanted:
                self._restyle_wanted = False
                super().update_node_styles()

    def update_node_styles(self, animate: bool = True) -> None:
        if self._restyle_held:
            self._restyle_wanted = True
        else:
            super().update_node_styles(animate)

    def request(self, generate: int = 0) -> bool:
        """Ask for the result the fields describe (ExplorerScreen validates and submits); `generate`: tokens to
        generate after the prompt (issue 16)."""
        raise NotImplementedError

    def _sync_widgets(self, config: AttentionConfig) -> None:
        """Put `config` into the fields without a request each (ExplorerScreen knows the fields)."""
        raise NotImplementedError

    def _show_texts(self, texts: dict[str, Any]) -> None:
        """Put field texts, valid or not, into the fields without a request each."""
        raise NotImplementedError

    def why_not(self, action: str, parameters: tuple[object, ...]) -> str | None:
        """Why `action` does nothing for what is shown now (its key is dimmed), or None when it applies."""
        result = self.result
        settings = source_spec(self.source).settings
        what = "the toy" if self.source == "toy" else self.source
        if action == "cycle_layer" and (result is None or result.n_layers < 2):
            return f"{what} has one layer: , and . step through a real model's layers (m or --model)"
        if action == "toggle_special" and (result is None or not any(result.special)):
            return f"{what} has no special tokens to hide ([CLS], [SEP], a decoder's first token)"
        if action == "stage" and result is not None and parameters[0] not in result.stages:
            stage = STAGE_BY_NAME[str(parameters[0])]
            return f"{what} has no {stage.label} stage: a real model has no random W matrices to show"
        if action in ("toggle_causal", "toggle_vocab_mode"):
            field = "causal" if action == "toggle_causal" else "vocab_mode"
            if field not in settings:
                return f"{what} reads only the prompt: {field.replace('_', ' ')} is a setting of the toy"
        heads = result.n_heads if result is not None else 1
        if action == "cycle_head" and heads < 2:
            return "one head: set heads above 1 (Settings) to have several"
        if action == "toggle_overview" and heads * (result.n_layers if result is not None else 1) < 2:
            return "one head: set heads above 1 (Settings) to see several side by side"
        return None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Dim what does not apply to what is shown (`why_not` says why when its key is pressed)."""
        if action == "cycle_side":
            return self.has_class("-narrow")
        if action == "undo_reset":
            return self._undo is not None
        return None if self.why_not(action, parameters) else True

    def on_key(self, event: events.Key) -> None:
        """A key whose action does not apply here says why, instead of nothing happening."""
        for binding in self._bindings.key_to_bindings.get(event.key, ()):
            action = binding.action
            name, _, args = action.partition("(")
            parameters = tuple(part.strip(" '\")") for part in args.split(",")) if args else ()
            reason = self.why_not(name, parameters)
            if reason:
                self.notify(reason[0].upper() + reason[1:], timeout=4, markup=False)
                return

    def action_compare(self) -> None:
        """Open prompt B's field; once B is set, step the grid through A, B and A − B."""
        box = self.query_one("#compare", Input)
        if not self.has_class("-compare-open"):
            self.add_class("-compare-open")
            box.focus()
            return
        if not box.value.strip():
            box.focus()
            return
        modes = ("A", "B", "A−B")
        self.ab = modes[(modes.index(self.ab) + 1) % len(modes)]

    def action_stop_comparing(self) -> None:
        """Forget prompt B and hide its field."""
        self.query_one("#compare", Input).value = ""
        self.remove_class("-compare-open")
        self.ab = "A"
        self.action_focus_grid()

    def action_toggle_table(self) -> None:
        """The head table instead of the grid, and back; focus goes with it."""
        self.table = not self.table
        if self.table:
            self.overview = False
            self.query_one("#head-table", HeadTable).focus()
        else:
            self.action_focus_grid()

    def action_cycle_side(self, step: int) -> None:
        """The next pane beside the grid (narrow terminals)."""
        self.side = SIDE_NAMES[(SIDE_NAMES.index(self.side) + step) % len(SIDE_NAMES)]

    def action_focus_grid(self) -> None:
        self.query_one("#attention-grid", MatrixView).focus()

    def action_focus_prompt(self) -> None:
        self.query_one("#prompt", Input).focus()

    def _stages(self) -> list[str]:
        return [s.name for s in STAGES if self.result is None or s.name in self.result.stages]

    def action_stage(self, name: str) -> None:
        if name in STAGE_BY_NAME and name in self._stages():
            self.stage = name

    def action_cycle_stage(self, step: int) -> None:
        names = self._stages()
        index = names.index(self.stage) if self.stage in names else 0
        self.stage = names[(index + step) % len(names)]

    def _heads(self) -> int:
        return self.result.n_heads if self.result is not None else 1

    def action_cycle_head(self, step: int) -> None:
        self.head = (self.head + step) % self._heads()

    def action_set_head(self, head: int) -> None:
        self.head = min(max(head, 0), self._heads() - 1)

    def action_cycle_layer(self, step: int) -> None:
        if self.result is not None:
            self.model_layer = (self.model_layer + step) % self.result.n_layers

    def action_toggle_special(self) -> None:
        self.hide_special = not self.hide_special

    def action_set_source(self, name: str) -> None:
        if name in source_names() or is_checkpoint_path(name):
            self.source = name

    def action_cycle_source(self) -> None:
        names = source_names()
        self.source = names[(names.index(self.source) + 1) % len(names)] if self.source in names else names[0]

    def action_open_model(self) -> None:
        """Ask for a checkpoint's path (a Hugging Face folder or a .gguf file) and show it."""
        from attn_tui.screens.open_model import OpenModelScreen

        def chosen(path: str | None) -> None:
            if path:
                self.action_set_source(path)

        self.app.push_screen(OpenModelScreen(), chosen)

    def action_cancel_loading(self) -> None:
        """Stop loading a model (the toy comes back)."""
        self.service.cancel_loading()
        self.source = "toy"

    def action_toggle_overview(self) -> None:
        """Every head side by side, and back; focus goes with what is shown (never lost to a hidden grid)."""
        self.table = False
        self.overview = not self.overview
        if not self.overview:
            self.action_focus_grid()
        elif self.result is not None and self.result.n_layers > 1:
            self.query_one("#model-view", ModelOverview).focus()
        else:
            self.query_one("#heads-overview", HeadsOverview).focus()

    def action_toggle_causal(self) -> None:
        box = self.query_one("#causal", Checkbox)
        box.value = not box.value

    def action_toggle_vocab_mode(self) -> None:
        select = self.query_one("#vocab-mode", Select)
        select.value = "dense" if select.value == "seed" else "seed"

    def action_set_vocab_mode(self, mode: str) -> None:
        self.query_one("#vocab-mode", Select).value = mode

    def action_cycle_zoom(self) -> None:
        """auto → numbers → colour blocks → auto; the legend says which is on."""
        grid = self.query_one("#attention-grid", MatrixView)
        grid.cycle_zoom()
        self.query_one(Legend).show(grid.matrix, dark=self.app.current_theme.dark, note=f"z {grid.zoom_text}")

    def _reset(self, *, prompt: bool) -> None:
        """Restore the notebook's settings (and its prompt, if asked); remember what was there for undo."""
        from attn_tui.config import DEFAULTS

        self._undo = (dict(self.session.texts), self.source, self.stage, self.model_layer, self.head)
        kept = str(self.session.texts["prompt"])
        self._sync_widgets(DEFAULTS if prompt else DEFAULTS.replace(prompt=kept))
        self.source = "toy"  # the notebook is the toy pipeline; a real model is a setting too
        self.stage = DEFAULT_STAGE
        self.head = 0
        self.overview = False
        self.query_one("#attention-grid", MatrixView).zoom = "auto"
        self.request()
        what = "Settings and prompt" if prompt else "Settings (not the prompt)"
        self.notify(f"{what} reset to the notebook's. u undoes it.", timeout=4, markup=False)
        self.refresh_bindings()

    def action_reset(self) -> None:
        """Restore the notebook's settings; the prompt stays as typed."""
        self._reset(prompt=False)

    def action_reset_all(self) -> None:
        """Restore the notebook's settings and its prompt."""
        self._reset(prompt=True)

    def action_undo_reset(self) -> None:
        """Put back what the last reset replaced: every field as it was typed, the source and the view."""
        if self._undo is None:
            return
        texts, source, stage, layer, head = self._undo
        self._undo = None
        self._show_texts(texts)
        self.source = source
        self.stage, self.model_layer, self.head = stage, layer, head
        self.request()
        self.notify("Reset undone.", timeout=2, markup=False)
        self.refresh_bindings()
