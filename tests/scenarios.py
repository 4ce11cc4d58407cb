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
]
SCENARIO_BY_NAME = {s.name: s for s in SCENARIOS}
