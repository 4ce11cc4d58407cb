"""Pictures of every screen and state (pytest-textual-snapshot). Each scenario is also run as a
pilot test in test_app.py, so a crash cannot pass here as a blank picture."""

from __future__ import annotations

import pytest

from tests.scenarios import SCENARIOS, Scenario


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.name)
def test_snapshot(scenario: Scenario, snap_compare, monkeypatch):
    if scenario.skip_reason():
        pytest.skip(scenario.skip_reason())
    for key, value in scenario.env.items():
        monkeypatch.setenv(key, value)
    assert snap_compare(scenario.app(), terminal_size=scenario.size, run_before=scenario.setup)


def test_no_snapshot_holds_this_machines_paths():
    """A picture that shows where this clone lives (a bundled model's site-packages path) fails on CI's."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    for svg in (root / "tests" / "__snapshots__").rglob("*.svg"):
        text = svg.read_text(encoding="utf-8")
        assert str(root) not in text and "site-packages" not in text, svg.name
