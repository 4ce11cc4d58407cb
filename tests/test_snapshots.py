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
