"""Regenerate screenshots/ from the real app (never drawn by hand): `python scripts/screenshots.py`.

Each picture is a state from tests/scenarios.py, saved as SVG by Textual's own screenshot.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.scenarios import SCENARIO_BY_NAME  # noqa: E402

PICTURES = {
    "default": "default_120x40",
    "inspector": "inspector",
    "heads-overview": "heads2_overview",
    "causal": "causal",
    "narrow-80x24": "default_80x24",
    "wide-200x60": "wide_200x60",
    "smollm2": "model_smollm2",
    "light-theme": "light_theme",
}


async def shoot(name: str, scenario_name: str, out: Path) -> Path:
    scenario = SCENARIO_BY_NAME[scenario_name]
    app = scenario.app()
    async with app.run_test(size=scenario.size) as pilot:
        await scenario.setup(pilot)
        path = out / f"{name}.svg"
        app.save_screenshot(filename=path.name, path=str(out))
    return path


async def main() -> None:
    out = ROOT / "screenshots"
    out.mkdir(exist_ok=True)
    for name, scenario in PICTURES.items():
        print(await shoot(name, scenario, out))


if __name__ == "__main__":
    asyncio.run(main())
