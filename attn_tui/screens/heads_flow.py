"""The explorer's head table (issue 15): its statistics computed off the UI thread, the induction test,
and opening a head from it. A layer of ExplorerScreen, between its actions and its panes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual import on

from attn_tui.screens.actions import ExplorerActions
from attn_tui.widgets.head_table import HeadTable, TableData
from attn_tui.widgets.matrix import MatrixView

if TYPE_CHECKING:
    from attn_tui.result import Result
    from attn_tui.screens.presenter import Presenter


class HeadTableFlow(ExplorerActions):
    """The head table's side of the explorer: what it shows, and what its keys ask for."""

    compare_result: Result | None
    """Prompt B's result (ExplorerScreen keeps it)."""
    presenter: Presenter | None
    _table_data: tuple[Result, Result | None, TableData] | None
    """The head table's statistics, and the results they were computed from."""

    def _render_stage(self) -> None:
        raise NotImplementedError

    def watch_table(self, table: bool) -> None:
        self.query_one("#stage-box").set_class(table, "-table")
        if table:
            self.refresh_table()
        else:
            self._render_stage()

    def refresh_table(self) -> None:
        """Head statistics of the shown result (and prompt B's Δ), computed off the UI thread."""
        result, compare = self.result, self.compare_result
        table = self.query_one("#head-table", HeadTable)
        if result is None:
            table.show(None, (self.model_layer, self.head), "no result yet")
            return
        cached = self._table_data
        if cached is not None and cached[0] is result and cached[1] is compare:
            self._show_table(cached[2])
            return

        def work() -> None:
            from attn_tui.analysis import head_stats

            weights = result.all_weights()
            other = compare.all_weights() if compare is not None and compare.n_tokens == result.n_tokens else None
            data = TableData(head_stats(weights, result.token_ids, compare=other), result.n_kv_heads)
            self.app.call_from_thread(self._stats_ready, result, compare, data)

        self.run_worker(work, thread=True, exclusive=True, group="head-stats", exit_on_error=False)

    def _stats_ready(self, result: Result, compare: Result | None, data: TableData) -> None:
        if result is not self.result:
            return  # a newer result came meanwhile: its own statistics are coming
        self._table_data = (result, compare, data)
        self._show_table(data)

    def _show_table(self, data: TableData) -> None:
        table = self.query_one("#head-table", HeadTable)
        table.show(data, (self.model_layer, self.head))
        result = self.result
        shape = f"{data.stats.layers} layers × {data.stats.heads} heads" if result is None or result.n_layers > 1 \
            else f"{data.stats.heads} heads"
        note = f" · {data.induction_note}" if data.induction_note else ""
        if self.presenter is not None:
            self.presenter.set_title("#stage-box", f"Heads: {shape} · {table.sort_text}{note}")

    @on(HeadTable.Opened)
    def _table_opened(self, event: HeadTable.Opened) -> None:
        """Enter on a row: that head's weights, the cursor on its strongest cell."""
        self.table = False
        self.stage = "weights"
        self.model_layer, self.head = event.layer, event.head
        self.action_focus_grid()
        if self.result is not None:
            weights = self.result.stage_tensor("weights", event.layer, event.head).clone()
            if weights.shape[0] > 1:
                weights[0] = -1.0  # the first query sees only itself: its 1.0 is no one's strongest cell
            row, col = divmod(int(weights.argmax()), weights.shape[1])
            self.query_one("#attention-grid", MatrixView).move_cursor(row, col)

    @on(HeadTable.Sorted)
    def _table_sorted(self, event: HeadTable.Sorted) -> None:
        if self._table_data is not None:
            self._show_table(self._table_data[2])

    @on(HeadTable.InductionAsked)
    def _induction_asked(self, event: HeadTable.InductionAsked) -> None:
        """The induction test on this source: the induction column measured on a repeated random sequence."""
        cached, source, result = self._table_data, self.source, self.result
        if cached is None or result is None:
            return
        self.notify("Running the induction test: 50 random tokens, twice…", timeout=3, markup=False)

        def work() -> None:
            from attn_tui import report

            try:
                config = getattr(result, "config", None)  # the toy's result carries its settings
                if config is not None:
                    test = report.induction_test(config)
                else:
                    from attn_tui import models

                    test = report.induction_test(models.load(source))
            except (report.Refused, ValueError) as error:
                self.app.call_from_thread(self.notify, f"Induction test: {error}", severity="warning", markup=False)
                return
            stats = cached[2].stats.with_column("induction", test.scores, test.n)
            note = (f"induction: on {test.n} random tokens, repeated (a uniform head scores "
                    f"{test.uniform:.3f})")
            data = TableData(stats, cached[2].kv_heads, note)
            self.app.call_from_thread(self._stats_ready, result, cached[1], data)

        self.run_worker(work, thread=True, exclusive=True, group="induction", exit_on_error=False)

