"""Issue 17: what an edit at 10 words waits for besides its computation (its p90 was 52-67 ms)."""

from __future__ import annotations

from attn_tui.app import AttnApp
from tests.scenarios import settle


async def test_typing_a_longer_word_lays_out_nothing(monkeypatch):
    """A word one letter longer made the embeddings' row labels one cell wider than their pane (30 cells at
    120 × 40): a horizontal scroll bar came and went with every letter, and each time the whole screen was
    laid out again (35 ms; issue 17's slowest tenth of edits). Labels give way to the cells instead."""
    from textual.screen import Screen

    from tests.test_frames import TerminalApp, press, quiet

    app = TerminalApp((120, 40))
    async with app.run_test(size=(120, 40)):
        await quiet(app)
        layouts = []
        original = Screen._refresh_layout

        def refresh_layout(self, *args, **kwargs):
            layouts.append(self)
            return original(self, *args, **kwargs)

        app.explorer.action_focus_prompt()
        app.query_one("#prompt").action_end()
        for key in ("x", "backspace"):  # the inspector's text outgrows its pane once: its scroll bar comes, to stay
            press(app, key)
            await quiet(app)
        monkeypatch.setattr(Screen, "_refresh_layout", refresh_layout)
        embeddings = app.query_one("#embeddings")
        for key in ("x", "backspace", "x", "backspace", "x"):
            press(app, key)
            await quiet(app)
            assert not embeddings.show_horizontal_scrollbar
            assert embeddings.virtual_size.width <= embeddings.scrollable_content_region.width
        assert app.explorer.result.prompt.endswith("attentionx")
        assert layouts == []
        row = app.terminal.display[app.query_one("#embeddings").region.y + 11]
        assert "attention" in row or "attent…" in row, row


async def test_an_echo_waits_for_a_result_quick_on_the_processor():
    """The hold decision looks at the last computation's own processor time: its wall time also counts the
    interpreter lock the UI thread held while drawing, and one slowed computation left the next echo
    unheld, paying Textual's frame pacing (50-60 ms), which slowed the next computation in turn."""
    app = AttnApp()
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        explorer = app.explorer
        explorer.session.last_seconds, explorer.session.last_cpu_seconds = 0.050, 0.001
        explorer._hold_frame()
        assert explorer._hold.held
        explorer._release_frame()
        explorer.session.last_seconds, explorer.session.last_cpu_seconds = 0.050, 0.050  # truly slow
        explorer._hold_frame()
        assert not explorer._hold.held
        await pilot.press("x")
        await settle(pilot)
        assert 0 < explorer.session.last_cpu_seconds < 0.05  # measured for the edit, not the values set above
        assert explorer.result.prompt.endswith("x")
