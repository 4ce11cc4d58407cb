"""App states shared by the snapshot tests and the pilot tests that prove each one runs.

snap_compare swallows app exceptions (a crashed app snapshots as a blank screen), so every
scenario here is also run by `test_app.py::test_scenario_runs`, which fails on any crash and checks
the state the picture is meant to show.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from textual.pilot import Pilot
from textual.widgets import Input

from attn_tui.app import AttnApp


async def settle(pilot: Pilot) -> None:
    """Wait until the newest request has been computed and drawn, with no cursor blinking.

    Works for the toy pipeline and for real models (whose first load takes seconds).
    """
    app = pilot.app
    assert isinstance(app, AttnApp)
    for _ in range(3000):
        await pilot.pause(0.01)
        if app.result is not None and not app.computing:
            break
        if app.model != "toy" and app.errors:
            raise AssertionError(f"the model failed: {app.errors}")
    else:
        raise AssertionError("the app never showed a result")
    await app.workers.wait_for_complete()
    for box in app.screen.query(Input):
        box.cursor_blink = False
    await pilot.pause()


settle_model = settle


async def keys(pilot: Pilot, *presses: str) -> None:
    await settle(pilot)
    await pilot.press(*presses)
    await settle(pilot)


@dataclass(frozen=True)
class Scenario:
    name: str
    size: tuple[int, int] = (120, 40)
    config: dict[str, Any] = field(default_factory=dict)
    setup: Callable[[Pilot], Awaitable[None]] = settle
    env: dict[str, str] = field(default_factory=dict)
    model: str | None = None
    """A real model the scenario needs installed (attn-tui[models] and the model packages)."""
    check: Callable[[AttnApp], None] | None = None
    """What the picture must show, checked by test_app.py::test_scenario_runs (instead of its generic checks)."""

    def app(self) -> AttnApp:
        app = AttnApp(**self.config)
        app.show_timing = False  # timings differ run to run; pictures must not
        return app

    def skip_reason(self) -> str | None:
        """Why this scenario cannot run here (its model package is missing), or None."""
        if self.model is None:
            return None
        from attn_tui import models

        if models.available(self.model):
            return None
        return f"{self.model} is not installed: {models.INSTALL_LINE}"


async def _stage(pilot: Pilot, key: str) -> None:
    await keys(pilot, "escape", key)


def _stage_setup(key: str) -> Callable[[Pilot], Awaitable[None]]:
    async def setup(pilot: Pilot) -> None:
        await _stage(pilot, key)

    return setup


async def _inspector(pilot: Pilot) -> None:
    await keys(pilot, "escape", "down", "down", "down", "right", "right", "right", "right", "right")


async def _overview(pilot: Pilot) -> None:
    await keys(pilot, "escape", "right_square_bracket", "o")


async def _invalid(pilot: Pilot) -> None:
    await settle(pilot)
    box = pilot.app.query_one("#d-k", Input)
    box.focus()
    box.value = "2x4"
    await settle_stale(pilot)


async def settle_stale(pilot: Pilot) -> None:
    for _ in range(100):
        await pilot.pause(0.01)
        if pilot.app.stale:
            break
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    await pilot.pause()


async def _help(pilot: Pilot) -> None:
    await keys(pilot, "f1")


async def _palette(pilot: Pilot) -> None:
    await settle(pilot)
    await pilot.press("ctrl+p")
    await pilot.pause(0.1)
    await pilot.press(*"stage")
    await pilot.pause(0.3)
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    await pilot.pause(0.1)


async def _light(pilot: Pilot) -> None:
    pilot.app.theme = "textual-light"
    await keys(pilot, "escape", "down", "right")


async def _causal(pilot: Pilot) -> None:
    await keys(pilot, "escape", "down", "down", "right", "right", "right", "right")


async def _model_cell(pilot: Pilot) -> None:
    await settle_model(pilot)
    await pilot.press("escape", "down", "down", "right", "full_stop", "right_square_bracket")
    await pilot.pause()


async def _model_hidden(pilot: Pilot) -> None:
    await _model_cell(pilot)
    await pilot.press("x")
    await pilot.pause()


async def _model_view(pilot: Pilot) -> None:
    await settle_model(pilot)
    await pilot.press("escape", "o", "down", "right")
    await pilot.pause()


async def _export_dialog(pilot: Pilot) -> None:
    await keys(pilot, "escape", "e")
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    await pilot.pause()


async def _narrow_settings(pilot: Pilot) -> None:
    await keys(pilot, "escape", "t", "t", "t")


async def _tight_cell(pilot: Pilot) -> None:
    await keys(pilot, "escape", "down", "right", "right")


async def _wide_cell(pilot: Pilot) -> None:
    await keys(pilot, "escape", "down", "down", "right")


async def _table_sorted(pilot: Pilot, presses: tuple[str, ...]) -> None:
    await keys(pilot, "escape", "H")
    await wait_for_table(pilot)
    await pilot.press(*presses)
    await pilot.pause(0.1)


async def wait_for_table(pilot: Pilot, note: str = "") -> None:
    """Until the head table has its statistics (computed on a worker), and `note` is in its title."""
    for _ in range(3000):
        await pilot.pause(0.01)
        table = pilot.app.query_one("#head-table")
        if table.data is not None and note in str(pilot.app.query_one("#stage-box").border_title):
            return
    raise AssertionError("the head table never showed its statistics")


async def _table_induction(pilot: Pilot) -> None:
    await keys(pilot, "escape", "H")
    await wait_for_table(pilot)
    await pilot.press("i")
    await wait_for_table(pilot, "induction: on")
    await pilot.press("right", "right", "right", "right", "s")  # from sink to induction; largest first
    await pilot.pause(0.1)


async def _compare(pilot: Pilot) -> None:
    await keys(pilot, "escape", "b", "b")


REPEATED = "the cat sat on the mat the cat sat on the mat"

MODEL_PROMPT = "The cat sat on the mat because it was tired."


# ── issue 16: generation, next-token predictions, the derived stages, the word view ──────────────

GENERATE_PROMPT = "Alice gave Bob the keys, then Bob gave"
"""SmolLM2 goes on with " the keys to the next person.": layer 26, head 2 copies "keys" (an induction head)."""
WORDS_PROMPT = "Transformers tokenize unbelievably long words into subword pieces."


async def _wait(pilot: Pilot, ready: Callable[[], bool], what: str) -> None:
    for _ in range(6000):
        await pilot.pause(0.01)
        if ready():
            return
    raise AssertionError(f"never {what}")


async def _predicted(pilot: Pilot) -> None:
    """Until the next-token pane shows the predictions for the grid's query (its worker is done)."""
    from attn_tui.widgets.matrix import MatrixView
    from attn_tui.widgets.predictions import PredictionsView

    app = pilot.app
    grid = app.query_one("#attention-grid", MatrixView)
    view = app.query_one(PredictionsView)

    def shown() -> bool:
        p = view.predictions
        return (p is not None and grid.matrix is not None and p.position == grid.matrix.token_at(grid.cursor[0])
                and (p.lens is not None) == view.lens)

    await _wait(pilot, shown, "showed the predictions")
    await app.workers.wait_for_complete()
    await pilot.pause()


def _view(pilot: Pilot, layer: int, head: int) -> None:
    """Layer and head (from 1, as the screen numbers them)."""
    explorer = pilot.app.explorer  # type: ignore[attr-defined]
    explorer.model_layer, explorer.head = layer - 1, head - 1


async def _generating(pilot: Pilot) -> None:
    """SmolLM2 half-way through a generation: held after its 2nd token (of 8), the query on the 1st, ⁺▁the,
    in the induction head (layer 26, head 2) that looks at the token after the earlier "the"."""
    import threading

    await settle(pilot)
    app = pilot.app
    service = app.explorer.service  # type: ignore[attr-defined]
    service.partial_every = 0.0  # every token's partial result, so that the hold is at the 2nd exactly
    release, held = threading.Event(), threading.Event()
    deliver, close = service._deliver, service.close

    def hold(outcome: Any) -> None:
        deliver(outcome)
        if getattr(outcome, "progress", None) is not None and outcome.result.n_generated == 2:
            held.set()
            release.wait(60)  # the worker waits here (holding the model) until the app closes

    def close_and_release() -> None:
        release.set()
        close()

    service._deliver, service.close = hold, close_and_release
    _view(pilot, 26, 2)
    await pilot.press("escape", "n")
    await _wait(pilot, lambda: held.is_set() and getattr(app.result, "n_generated", 0) == 2, "held at token 2")
    await pilot.press("less_than_sign", *["right"] * 4)  # query 9 (⁺▁the), key 4 (▁keys)
    await _predicted(pilot)


def _check_generating(app: AttnApp) -> None:
    from attn_tui.stages import GENERATED_MARK
    from attn_tui.widgets.matrix import MatrixView
    from attn_tui.widgets.predictions import PredictionsView

    result = app.result
    grid = app.query_one("#attention-grid", MatrixView)
    assert result.n_generated == 2 and result.continuation == " the keys"  # type: ignore[union-attr]
    assert app.explorer.generating and "generating 2/8" in str(app.query_one("#status").content)  # type: ignore[attr-defined]
    assert grid.cursor == (9, 4) and grid.matrix.row_labels[9] == GENERATED_MARK + "▁the"
    assert float(grid.matrix.values[9, 4]) > 0.95  # the induction head: "the" → the token after the earlier "the"
    predictions = app.query_one(PredictionsView).predictions
    assert predictions.top[0].token == "▁keys" and predictions.actual.rank == 1
    assert "⁺ generated: token 1 of 2" in app.query_one("#inspector").text


async def _predictions(pilot: Pilot, lens: bool = False) -> None:
    await settle(pilot)
    await pilot.press("escape", *["down"] * 8)  # query 8: ▁gave
    if lens:
        await pilot.press("p")
    await settle(pilot)
    await _predicted(pilot)


async def _lens(pilot: Pilot) -> None:
    await _predictions(pilot, lens=True)


async def _narrow_lens(pilot: Pilot) -> None:
    await settle(pilot)
    await pilot.press("escape", *["t"] * 5, *["down"] * 8, "p")  # the sixth side pane: Next token
    await settle(pilot)
    await _predicted(pilot)


def _check_predictions(app: AttnApp) -> None:
    from attn_tui import models
    from attn_tui.widgets.predictions import PredictionsView

    view = app.query_one(PredictionsView)
    want = models.load("smollm2").predictions(app.result, 8, lens=view.lens)  # type: ignore[arg-type]
    assert view.predictions.position == 8 and view.predictions.top == want.top
    assert view.predictions.lens == want.lens and app.query_one("#predictions-box").display


async def _model_stage(pilot: Pilot, key: str, layer: int, head: int, *moves: str) -> None:
    await settle(pilot)
    _view(pilot, layer, head)
    await pilot.press("escape", key, *moves)
    await settle(pilot)
    await _predicted(pilot)


async def _model_value_weighted(pilot: Pilot) -> None:
    # Layer 24, head 4 puts most of its weight on the first token, whose value is small.
    await _model_stage(pilot, "minus", 24, 4, *["down"] * 7)


async def _model_rollout(pilot: Pilot) -> None:
    await _model_stage(pilot, "equals_sign", 4, 1, *["down"] * 7, "right", "right")


def _check_model_stage(stage: str, layer: int, head: int) -> Callable[[AttnApp], None]:
    def check(app: AttnApp) -> None:
        from attn_tui import report
        from attn_tui.widgets.matrix import MatrixView

        grid = app.query_one("#attention-grid", MatrixView)
        assert (app.stage, app.layer, app.head) == (stage, layer - 1, head - 1)
        full = (report.value_weighted_of(app.result)[layer - 1, head - 1] if stage == "value_weighted"  # type: ignore[arg-type]
                else report.rollout_of(app.result)[layer - 1])  # type: ignore[arg-type]
        assert abs(float(grid.matrix.values[7, 0]) - float(full[7, 0])) < 1e-6

    return check


async def _model_words(pilot: Pilot) -> None:
    await _model_stage(pilot, "w", 2, 2, *["down"] * 2)


def _check_words(app: AttnApp) -> None:
    from attn_tui.widgets.matrix import MatrixView

    grid = app.query_one("#attention-grid", MatrixView)
    assert app.explorer.words and grid.matrix.row_labels[:3] == ("Transformers", "tokenize", "unbelievably")  # type: ignore[attr-defined]
    assert abs(float(grid.matrix.values.sum(axis=1)[2]) - 1.0) < 1e-5
    assert app.command().endswith("--words")


THINKING_SCENARIOS = [
    Scenario("stage_value_weighted", setup=_stage_setup("minus")),
    Scenario("stage_rollout", setup=_stage_setup("equals_sign")),
    Scenario("smollm2_generating", config={"model": "smollm2", "prompt": GENERATE_PROMPT}, setup=_generating,
             model="smollm2", check=_check_generating),
    Scenario("smollm2_predictions", config={"model": "smollm2", "prompt": GENERATE_PROMPT}, setup=_predictions,
             model="smollm2", check=_check_predictions),
    Scenario("smollm2_lens", config={"model": "smollm2", "prompt": GENERATE_PROMPT}, setup=_lens,
             model="smollm2", check=_check_predictions),
    Scenario("smollm2_lens_80x24", size=(80, 24), config={"model": "smollm2", "prompt": GENERATE_PROMPT},
             setup=_narrow_lens, model="smollm2", check=_check_predictions),
    Scenario("smollm2_value_weighted", config={"model": "smollm2", "prompt": MODEL_PROMPT},
             setup=_model_value_weighted, model="smollm2", check=_check_model_stage("value_weighted", 24, 4)),
    Scenario("smollm2_rollout", config={"model": "smollm2", "prompt": MODEL_PROMPT}, setup=_model_rollout,
             model="smollm2", check=_check_model_stage("rollout", 4, 1)),
    Scenario("smollm2_words", config={"model": "smollm2", "prompt": WORDS_PROMPT}, setup=_model_words,
             model="smollm2", check=_check_words),
]
"""Issue 16's pictures (each also a pilot test through `check`)."""

SCENARIOS = [
    Scenario("default_120x40"),
    Scenario("default_80x24", size=(80, 24)),
    Scenario("narrow_80x24_settings", size=(80, 24), setup=_narrow_settings),
    Scenario("tight_60x20", size=(60, 20), setup=_tight_cell),
    Scenario("wide_200x60", size=(200, 60), setup=_wide_cell),
    Scenario("small_40x12", size=(40, 12)),
    Scenario("too_small_30x10", size=(30, 10)),
    *(Scenario(f"stage_{name}", setup=_stage_setup(key)) for key, name in [
        ("1", "w_query"), ("2", "w_key"), ("3", "w_value"), ("4", "query"), ("5", "key"), ("6", "value"),
        ("7", "scores"), ("8", "scaled"), ("9", "weights"), ("0", "context")]),
    Scenario("heads2_overview", config={"heads": 2}, setup=_overview),
    Scenario("causal", config={"causal": True}, setup=_causal),
    Scenario("invalid_setting", setup=_invalid),
    Scenario("inspector", setup=_inspector),
    Scenario("help", setup=_help),
    Scenario("palette", setup=_palette),
    Scenario("light_theme", setup=_light),
    Scenario("no_color", env={"NO_COLOR": "1"}, setup=_inspector),
    Scenario("export_dialog", setup=_export_dialog),
    Scenario("head_table_sorted_down", config={"heads": 4, "prompt": REPEATED},
             setup=lambda pilot: _table_sorted(pilot, ("right", "s"))),
    Scenario("head_table_sorted_up", config={"heads": 4, "prompt": REPEATED},
             setup=lambda pilot: _table_sorted(pilot, ("right", "right", "right", "s", "s"))),
    Scenario("compare_a_minus_b", config={"heads": 2, "prompt": REPEATED,
                                          "compare": "the dog sat on the mat the cat sat on the mat"},
             setup=_compare),
    Scenario("model_minilm", config={"model": "minilm", "prompt": MODEL_PROMPT}, setup=_model_cell,
             model="minilm"),
    Scenario("model_minilm_hide_special", config={"model": "minilm", "prompt": MODEL_PROMPT},
             setup=_model_hidden, model="minilm"),
    Scenario("model_minilm_view", config={"model": "minilm", "prompt": MODEL_PROMPT}, setup=_model_view,
             model="minilm"),
    Scenario("model_smollm2", config={"model": "smollm2", "prompt": MODEL_PROMPT}, setup=_model_cell,
             model="smollm2"),
    Scenario("model_smollm2_view", config={"model": "smollm2", "prompt": MODEL_PROMPT}, setup=_model_view,
             model="smollm2"),
    Scenario("model_smollm2_induction", config={"model": "smollm2", "prompt": MODEL_PROMPT},
             setup=_table_induction, model="smollm2"),
    *THINKING_SCENARIOS,
]
SCENARIO_BY_NAME = {s.name: s for s in SCENARIOS}
