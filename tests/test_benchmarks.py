"""Smoke test of the benchmark harness: it runs on tiny prompts and prints every figure's row.

No timing is asserted: timings are flaky on a shared machine, and benchmarks are not tests.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

ROWS = (
    "prompt edit → frame, 10 words",
    "prompt edit → frame, 20 words",
    "prompt edit → frame, 40 words",
    "scroll a page, 40 words grid",
    "change d_model (vocab 50,000) → frame",
    "launch → first frame",
    "launch → notebook's result on screen",
    "memory at 40 words (RSS)",
    "memory growth over 4 edits",
    "typing burst at 40 words",
)


@pytest.mark.slow
def test_harness_prints_every_row(tmp_path):
    figures = tmp_path / "figures.json"
    done = subprocess.run([sys.executable, "-m", "benchmarks", "--tiny", "--json", str(figures)], cwd=ROOT,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.splitlines()
    for row in ROWS:
        assert any(line.startswith(row + " ") for line in lines), f"no row {row!r} in:\n{done.stdout}"
    for verdict_line in (line for line in lines if line.startswith(ROWS)):
        assert verdict_line.rstrip().endswith(("pass", "FAIL"))
    assert "The backend alone (issue 2)" in done.stdout
    for words in ("10 words |", "20 words |", "40 words |"):
        assert any(line.startswith(words) for line in lines)
    assert "torch threads: 1 vs 2" in done.stdout
    assert figures.exists()


def test_typing_burst_never_runs_two_computations_at_once(monkeypatch):
    """The app keeps one pending slot: a burst of keys runs one computation at a time, drops stale ones.

    Each computation is made to take 30 ms (as at 2,048 words), so that keys arrive while one runs.
    """
    import asyncio
    import time

    import attn_tui.attention as attention
    from benchmarks.cases import case_burst

    compute = attention.compute

    def slow(config):
        time.sleep(0.03)
        return compute(config)

    monkeypatch.setattr(attention, "compute", slow)
    burst = asyncio.run(case_burst(words=300, keys=12, interval=0.005))
    assert burst["concurrent"] == 1
    assert burst["computations"] < burst["keys"]
    assert burst["current"]
