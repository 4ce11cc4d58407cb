"""CI runs exactly the README's test line."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_ci_runs_the_readme_test_line():
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    lines = [line for line in quick.strip().splitlines() if line.strip()]
    assert len(lines) == 2, "Quick start is two command lines"
    test_line = lines[1]
    assert "pytest" in test_line and "torch==2.13.0" in test_line
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_line in ci
    assert "attn-tui" in lines[0] and "torch==2.13.0" in lines[0]
