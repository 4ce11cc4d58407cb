"""The next-token pane's side of the explorer (issue 16): predictions for the grid's query, computed off the UI
thread (the compute service's second one, latest wins), cached; the logit lens toggle; the narrow layout's extra
side pane.

A layer of ExplorerScreen, between the head table's (`HeadTableFlow`) and generation's (`ThinkingActions`).
The presenter calls `update_predictions(result, query)` whenever it draws the inspector.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on
from textual.message import Message
from textual.reactive import reactive

from attn_tui.screens.heads_flow import HeadTableFlow
from attn_tui.sources import can_generate
from attn_tui.stages import token_labels
from attn_tui.widgets.predictions import PredictionsView
from attn_tui.widgets.side_tabs import SIDE_NAMES, SideTabs

if TYPE_CHECKING:
    from attn_tui.result import Result

CACHED_PREDICTIONS = 64
"""Predictions kept (result, position, lens): moving back over the same tokens costs nothing."""


@dataclass
class PredictionsReady(Message):
    """The predictions worker has the next tokens after one position (or says why it has none)."""

    key: tuple[Any, int, bool]
    """(result, position, lens) they were asked for."""
    predictions: Any
    """models.Predictions, or None when `error` says why there are none."""
    error: str = ""


class PredictionsFlow(HeadTableFlow):
    """The next tokens after the grid's query, and the logit lens."""

    lens: reactive[bool] = reactive(False, init=False, repaint=False)
    """The logit lens under the next-token predictions: every layer's top tokens."""
    _predicted: tuple[Any, int, bool] | None = None
    """(result, position, lens) whose predictions the pane shows or is waiting for."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._cache: OrderedDict[tuple[Any, int, bool], Any] = OrderedDict()
        """Predictions by (result, position, lens), least recently shown first."""

    def action_toggle_lens(self) -> None:
        self.lens = not self.lens

    def watch_lens(self, lens: bool) -> None:
        self.set_class(lens, "-lens")
        if self._predicted is not None:
            result, position, _ = self._predicted
            self.update_predictions(result, position)

    def predictions_wait(self) -> str:
        """Why the pane waits instead of predicting now ("" when it does not): a generation's own."""
        return ""

    def update_predictions(self, result: Result, query: int | None) -> None:
        """The next tokens after the grid's query: from the cache at once, else from the predictions thread."""
        why = can_generate(result)
        self.set_class(why is None, "-predicts")
        self._side_tabs()
        if why is not None:
            self._predicted = None
            return
        view = self.query_one(PredictionsView)
        box = self.query_one("#predictions-box")
        if query is None:
            self._predicted = None
            view.show(None, message="the grid's rows are not tokens: choose a stage with a row per token")
            return
        key = (result, query, self.lens)
        if key == self._predicted:
            return
        self._predicted = key
        label = f"{query}:{token_labels(result)[query]}"
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            box.border_subtitle = ""
            view.show(cached, label, lens=self.lens)
            return
        wait = self.predictions_wait()
        if wait:
            box.border_subtitle = ""
            view.show(None, message=wait)
            return
        box.border_subtitle = "computing…"
        self._start_worker()

    def _start_worker(self) -> None:
        """The compute service's predictions thread, latest wins: a held arrow key or a running generation never
        piles up work, and the computation starts while this frame is drawn."""
        if self._predicted is None:
            return
        result, position, lens = self._predicted
        self.service.predict(result, position, lens, self._delivered)

    def _delivered(self, key: tuple[Any, int, bool], predictions: Any, error: str) -> None:
        """From the predictions thread: to this screen as a message (post_message is thread-safe)."""
        self.post_message(PredictionsReady(key, predictions, error))

    @on(PredictionsReady)
    def _predictions_ready(self, event: PredictionsReady) -> None:
        if event.predictions is not None:
            self._cache[event.key] = event.predictions
            while len(self._cache) > CACHED_PREDICTIONS:
                self._cache.popitem(last=False)
        if event.key != self._predicted:  # the cursor moved on meanwhile: its own are coming
            return
        result, position, lens = event.key
        self.query_one("#predictions-box").border_subtitle = ""
        view = self.query_one(PredictionsView)
        if event.predictions is None:
            view.show(None, message=event.error)
        else:
            view.show(event.predictions, f"{position}:{token_labels(result)[position]}", lens=lens)

    # -- the narrow layout's side panes ----------------------------------------------------------

    def _sides(self) -> tuple[str, ...]:
        return SIDE_NAMES if self.has_class("-predicts") else tuple(n for n in SIDE_NAMES if n != "predictions")

    def _side_tabs(self) -> None:
        tabs = self.query_one(SideTabs)
        sides = self._sides()
        if tabs.available != sides:
            tabs.available = sides
            tabs.show(self.side)
        if self.side not in sides:
            self.side = "inspector"

    def action_cycle_side(self, step: int) -> None:
        sides = self._sides()
        index = sides.index(self.side) if self.side in sides else 0
        self.side = sides[(index + step) % len(sides)]
