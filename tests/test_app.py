"""Pilot tests: the explorer's state after real key presses, not only its pixels."""

from __future__ import annotations

import pytest
import torch
from textual.widgets import Checkbox, Input, Select

from attn_tui.app import AttnApp
from attn_tui.attention import AttentionConfig, compute
from attn_tui.widgets.help import HelpScreen
from attn_tui.widgets.inspector import Inspector
from attn_tui.widgets.matrix import MatrixView
from attn_tui.widgets.tokens import TokenIds, VocabMap
from tests.scenarios import SCENARIOS, Scenario, settle, settle_stale


def inspector_text(app: AttnApp) -> str:
    return app.query_one(Inspector).text


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
async def test_scenario_runs(scenario: Scenario, monkeypatch):
    """Every snapshot's state, run for real: no crash, and the state the picture should show."""
    if scenario.skip_reason():
        pytest.skip(scenario.skip_reason())
    for key, value in scenario.env.items():
        monkeypatch.setenv(key, value)
    app = scenario.app()
    async with app.run_test(size=scenario.size) as pilot:
        await scenario.setup(pilot)
        assert app.is_running
        if scenario.check is not None:
            scenario.check(app)
            return
        if scenario.model is not None:
            real = app.result
            assert real is not None and real.model == scenario.model
            assert app.query_one("#attention-grid", MatrixView).matrix is not None
            if "induction" in scenario.name:
                table = app.query_one("#head-table")
                assert app.explorer.table and table.sort == ("induction", True)
                assert "induction: on 50 random tokens" in str(app.query_one("#stage-box").border_title)
                return
            if "view" in scenario.name:
                assert app.overview and app.query_one("#model-view").display
                assert app.query_one("#model-view").selected == (1, 1)
            else:
                assert (app.layer, app.head) == (1, 1)
                assert f"layer 2/{real.n_layers} head 2/{real.n_heads}" in inspector_text(app)
            if "hide_special" in scenario.name:
                grid = app.query_one("#attention-grid", MatrixView)
                assert grid.matrix.shape[0] == real.n_tokens - sum(real.special)
                assert abs(float(grid.matrix.values.sum(axis=1)[0]) - 1.0) < 1e-4
            return
        assert app.result is not None
        if scenario.name.startswith("stage_"):
            assert app.stage == scenario.name.removeprefix("stage_")
            grid = app.query_one("#attention-grid", MatrixView)
            assert grid.matrix is not None
            assert grid.matrix.values.shape == tuple(app.result.stage_tensor(app.stage, 0, app.head).shape)
        if scenario.name == "heads2_overview":
            assert app.result.config.heads == 2 and app.overview and app.head == 1
            assert app.query_one("#heads-overview").display
        if scenario.name == "invalid_setting":
            assert app.stale and app.query_one("#d-k").has_class("-bad")
        if scenario.name == "export_dialog":
            from attn_tui.screens.export import ExportScreen

            assert isinstance(app.screen, ExportScreen)
            assert app.screen.command == "attn-tui"
        if scenario.name == "help":
            assert isinstance(app.screen, HelpScreen)
        if scenario.name == "narrow_80x24_settings":
            assert app.explorer.side == "settings" and app.query_one("#settings-box").display
            assert not app.query_one("#inspector-box").region.area
        if scenario.name == "tight_60x20":
            assert app.screen.has_class("-tight") and "→" in str(app.query_one("#inspector-line").render())
        if scenario.name == "wide_200x60":
            assert app.query_one("#inspector-box").region.width > 40, "the inspector gets room"
            assert app.query_one("#attention-grid", MatrixView)._spec == "w4", "weights with 4 decimals"
        if scenario.name == "too_small_30x10":
            assert app.screen.has_class("-too-small")
        if scenario.name == "no_color":
            assert app.no_color
        if scenario.name == "light_theme":
            assert not app.current_theme.dark
    assert app.return_value is None or app.return_value == 0


async def test_start_shows_the_notebook_and_prompt_has_focus():
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        assert app.focused is app.query_one("#prompt", Input)
        await settle(pilot)
        want = compute()
        assert app.result.token_ids == (0, 3, 2, 4, 5, 7, 9, 2, 8, 7)
        assert torch.equal(app.result.weights, want.weights)
        assert not app.stale
        grid = app.query_one("#attention-grid", MatrixView)
        assert grid.matrix.values.shape == (10, 10)
        assert app.query_one("#token-ids", TokenIds).words[0] == "Hello"
        assert list(app.query_one("#vocab-map", VocabMap).items)[1] == ("i", 2)


async def test_typing_recomputes():
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("end", "space", *"again")
        await settle(pilot)
        assert app.result.words[-1] == "again"
        assert app.result.n_tokens == 11
        assert torch.equal(app.result.context, compute(AttentionConfig(prompt=app.result.prompt)).context)


async def test_flags_set_the_starting_state():
    app = AttnApp(prompt="one two three", heads=2, causal=True, d_k=8, d_v=6, vocab_mode="dense")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        c = app.result.config
        assert (c.prompt, c.heads, c.causal, c.d_k, c.d_v, c.vocab_mode) == (
            "one two three", 2, True, 8, 6, "dense")
        assert app.query_one("#heads", Input).value == "2"
        assert app.query_one("#causal", Checkbox).value is True
        assert app.query_one("#vocab-mode", Select).value == "dense"


async def test_invalid_setting_keeps_result_marks_field_and_recovers():
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        before = app.result
        box = app.query_one("#heads", Input)
        box.focus()
        box.value = "5"
        await settle_stale(pilot)
        assert app.result is before, "the last good result stays"
        assert app.stale
        assert box.has_class("-bad")
        assert "does not divide d_k = 24" in str(box.tooltip)
        assert app.query_one("#stage-box").has_class("-stale")
        box.value = "4"
        await settle(pilot)
        assert not app.stale and not box.has_class("-bad")
        assert app.result.config.heads == 4 and app.result.weights.shape == (4, 10, 10)


async def test_letters_in_a_number_field():
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.click("#d-v")
        await pilot.press("end", "x")
        await settle_stale(pilot)
        assert app.query_one("#d-v", Input).value == "28x"
        assert app.stale and app.result.config.d_v == 28
        assert "not a whole number" in app.errors["d_v"]


async def test_cursor_moves_inspector_and_highlights_query():
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "j", "j", "j", "l", "l", "l", "l", "l")
        await pilot.pause()
        grid = app.query_one("#attention-grid", MatrixView)
        assert grid.cursor == (3, 5)
        text = inspector_text(app)
        assert "query 3:am" in text and "key   5:attention" in text
        assert f"{float(app.result.weights[0, 3, 5]):.4f}" in text
        assert f"{float(app.result.scores[0, 3, 5]):.4f}" in text
        assert app.query_one("#token-ids", TokenIds).highlight == 3
        assert app.query_one("#embeddings", MatrixView).highlight_row == 3
        await pilot.press("up", "left")
        assert grid.cursor == (2, 4)


async def test_stage_keys_and_cycle():
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "4")
        assert app.stage == "query"
        grid = app.query_one("#attention-grid", MatrixView)
        assert grid.matrix.values.shape == (10, 24)
        assert "Q = E · W_query" in str(app.query_one("#stage-box").border_title)
        await pilot.press("s")
        assert app.stage == "key"
        await pilot.press("S", "S")
        assert app.stage == "w_value"
        await pilot.press("0")
        assert app.stage == "context"


async def test_heads_keys_and_overview():
    app = AttnApp(heads=4)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "right_square_bracket", "right_square_bracket")
        assert app.head == 2
        grid = app.query_one("#attention-grid", MatrixView)
        assert torch.equal(torch.from_numpy(grid.matrix.values), app.result.weights[2])
        await pilot.press("left_square_bracket", "left_square_bracket", "left_square_bracket")
        assert app.head == 3
        await pilot.press("o")
        assert app.overview and app.query_one("#heads-overview").display


async def test_causal_key_and_reset_restores_the_notebook():
    app = AttnApp(seed=7, d_model=5)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "c")
        await settle(pilot)
        assert app.result.config.causal
        assert float(app.result.weights[0, 0, 1]) == 0.0
        await pilot.press("ctrl+r")
        await settle(pilot)
        assert app.result.config == AttentionConfig()
        assert torch.equal(app.result.context, compute().context)
        assert app.query_one("#seed", Input).value == "123"
        assert app.query_one("#causal", Checkbox).value is False


async def test_reset_from_the_prompt_with_ctrl_r_and_action_name():
    app = AttnApp(prompt="x y")
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await app.run_action("screen.reset_all")
        await settle(pilot)
        assert app.result.token_ids == (0, 3, 2, 4, 5, 7, 9, 2, 8, 7)


async def test_reset_keeps_the_prompt_and_undo_brings_everything_back():
    """Issue 13 (10), issue 12 (8): reset restores the settings, not the typed prompt, and `u` undoes it."""
    app = AttnApp(prompt="my own words here", heads=2, d_k=8, d_v=6, causal=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "8")
        box = app.query_one("#d-model", Input)
        box.value = "7x"  # a field left invalid is restored as typed, too
        await settle_stale(pilot)
        await pilot.press("escape", "r")
        await settle(pilot)
        assert app.result.config == AttentionConfig(prompt="my own words here")
        assert app.query_one("#prompt", Input).value == "my own words here"
        assert app.stage == "weights" and not app.errors
        await pilot.press("u")
        await settle_stale(pilot)
        assert app.query_one("#d-model", Input).value == "7x" and app.stale
        assert app.query_one("#heads", Input).value == "2" and app.query_one("#causal", Checkbox).value
        assert app.stage == "scaled"
        box.value = "3"
        await settle(pilot)
        assert app.result.config == AttentionConfig(prompt="my own words here", heads=2, d_k=8, d_v=6, causal=True)
        await pilot.press("escape", "u")  # nothing left to undo: the key does nothing
        await pilot.pause()
        assert app.result.config.heads == 2


async def test_help_opens_and_closes():
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("f1")
        assert isinstance(app.screen, HelpScreen)
        await pilot.press("escape")
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("escape", "question_mark")
        assert isinstance(app.screen, HelpScreen)


async def test_palette_offers_every_action():
    app = AttnApp(heads=2)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        from attn_tui.commands import explorer_commands

        titles = {command.title for command in app.get_system_commands(app.screen)}
        titles |= {name for name, _, _ in explorer_commands(app.explorer)}
        for want in ("Stage: weights", "Stage: W_query", "Head 2", "Toggle causal mask", "Vocab mode: dense",
                     "Reset to the notebook", "Quit", "Theme", "Help", "Toggle heads overview"):
            assert any(t.startswith(want) for t in titles), want


async def test_vocab_mode_toggle():
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "v")
        await settle(pilot)
        assert app.result.config.vocab_mode == "dense"
        assert sorted(app.result.vocab.values()) == list(range(8))


async def test_letters_typed_in_the_prompt_are_not_shortcuts():
    app = AttnApp(prompt="")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press(*"cosrv")
        await settle(pilot)
        assert app.result.words == ("cosrv",)
        assert app.stage == "weights" and not app.result.config.causal


async def test_empty_prompt_is_refused_with_a_message():
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.query_one("#prompt", Input).value = "   "
        await settle_stale(pilot)
        assert app.stale and "empty" in app.errors["prompt"]
        assert app.query_one("#prompt").has_class("-bad")


async def test_theme_switch_redraws():
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.theme = "textual-light"
        await pilot.pause()
        assert not app.current_theme.dark
        assert app.query_one("#attention-grid", MatrixView)._scale.styles[0].bgcolor.triplet[0] > 200


async def test_zoom_cycles_auto_numbers_blocks_and_says_which():
    """Issue 13 (6): `z` cycles auto / numbers / blocks, the legend says which is on, and auto keeps numbers
    on a small matrix (W_query is 3 × 24: numbers, scrolled sideways, not colour blocks)."""
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        grid = app.query_one("#attention-grid", MatrixView)
        legend = app.query_one("#legend")
        assert grid.zoom == "auto" and not grid._compact_now
        await pilot.press("escape", "1")
        await pilot.pause()
        assert app.stage == "w_query" and not grid._compact_now, "24 columns: numbers"
        assert "z auto: numbers" in legend.render_line(0).text
        await pilot.press("z")
        await pilot.pause()
        assert grid.zoom == "numbers" and "z numbers" in legend.render_line(0).text
        await pilot.press("z")
        await pilot.pause()
        assert grid.zoom == "blocks" and grid._compact_now and grid._cell_width == 2
        assert "z blocks" in legend.render_line(0).text
        await pilot.press("z")
        await pilot.pause()
        assert grid.zoom == "auto" and not grid._compact_now


async def test_auto_zoom_shows_blocks_for_a_long_prompt_and_numbers_never_in_part():
    """A 60-word prompt's weights do not fit as numbers: blocks. Numbers scrolled sideways are never cut
    mid-number at the pane's edge (issue 13, 13), and `›` says there are more columns."""
    app = AttnApp(prompt=" ".join(f"w{i}" for i in range(60)))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        grid = app.query_one("#attention-grid", MatrixView)
        assert grid._compact_now
        await pilot.press("escape", "z")  # numbers
        await pilot.pause()
        header = grid.render_line(0).text
        assert header.rstrip().endswith("›")
        for _ in range(25):
            await pilot.press("right")
        await pilot.pause()
        for y in range(1, 6):
            cells = grid.render_line(y).text[grid._label_width:]
            numbers = [c for c in cells.split(" ") if c]
            assert all(len(n) == grid._num_width or n == "·" for n in numbers), numbers
        assert grid.render_line(0).text[grid._label_width - 1] == "‹"


async def test_inspector_explains_every_stage():
    app = AttnApp(heads=2)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "down", "right")
        for key, fragment in [("1", "W_query[1,1]"), ("4", "Q[1,1]"), ("0", "context[1,1]"),
                              ("7", "q_1·k_1"), ("8", "(scaled)")]:
            await pilot.press(key)
            assert fragment in inspector_text(app), (key, inspector_text(app))
        assert isinstance(app.query_one("#inspector"), Inspector)


async def test_missing_model_gives_the_install_line_and_toy_still_works(monkeypatch):
    from attn_tui import models

    def unavailable(name, progress=None, cancel=None, device="cpu"):
        raise models.ModelUnavailable(f"{name} needs its package: {models.INSTALL_LINE}")

    monkeypatch.setattr(models, "load", unavailable)
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.query_one("#model", Select).value = "minilm"
        for _ in range(200):
            await pilot.pause(0.01)
            if app.errors:
                break
        assert "pip install" in app.errors["model"]
        assert "pip install" in str(app.query_one("#status").render())
        # Issue 13 (4): the panes say so too, not "loading minilm…" for ever, and no toy title stays.
        await pilot.pause()
        assert "pip install" in app.query_one("#attention-grid", MatrixView).message
        assert "loading" not in app.query_one("#attention-grid", MatrixView).message
        assert "head" not in str(app.query_one("#stage-box").border_title)
        app.query_one("#model", Select).value = "toy"
        await wait_for(pilot, lambda: app.model == "toy")  # Select.Changed is a message: settle reads app.model
        await settle(pilot)
        assert app.model == "toy" and not app.errors
        await pilot.press("end", "space", "x")
        await settle(pilot)
        assert app.result.words[-1] == "x"


async def wait_for(pilot, predicate, tries: int = 300) -> None:
    for _ in range(tries):
        await pilot.pause(0.01)
        if predicate():
            return
    raise AssertionError("condition never became true")


async def test_export_dialog_writes_and_asks_before_overwriting(tmp_path):
    import json

    from attn_tui.screens.export import ConfirmOverwrite

    app = AttnApp(export_dir=tmp_path, heads=2)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "e", "j")
        target = tmp_path / "attn-result.json"
        await wait_for(pilot, target.exists)
        assert json.loads(target.read_text())["config"]["heads"] == 2
        target.write_text("old")
        await pilot.press("e", "j")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmOverwrite))
        await pilot.press("n")
        await pilot.pause()
        assert target.read_text() == "old"
        await pilot.press("e", "j")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmOverwrite))
        await pilot.press("y")
        await wait_for(pilot, lambda: target.read_text() != "old")
        assert json.loads(target.read_text())["token_ids"] == [0, 3, 2, 4, 5, 7, 9, 2, 8, 7]
        await pilot.press("e", "c")
        await wait_for(pilot, lambda: any(tmp_path.glob("attn-weights-*.csv")))
        await pilot.press("e", "s")
        await wait_for(pilot, (tmp_path / "attn-screen.svg").exists)
        picture = (tmp_path / "attn-screen.svg").read_text()
        assert "Token&#160;ids" in picture, "the explorer's screen"
        assert "reopens&#160;this&#160;state" not in picture, "not the dialog over it"


async def test_export_dialog_folder_and_command_line(tmp_path):
    app = AttnApp(prompt="a b c", causal=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("escape", "e")
        assert app.screen.command == "attn-tui --prompt 'a b c' --causal"
        folder = app.screen.query_one("#export-folder")
        folder.value = str(tmp_path / "new")
        await pilot.press("p")
        await wait_for(pilot, (tmp_path / "new" / "attn-script.py").exists)
        assert app.export_dir == tmp_path / "new"
