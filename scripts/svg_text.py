"""Print the screen of a Textual snapshot SVG as text, one line per terminal row.

    python scripts/svg_text.py 'tests/__snapshots__/test_snapshots/test_snapshot[default_120x40].svg'

For reviewing a changed snapshot in a terminal; the picture itself is the reference.
"""

from __future__ import annotations

import html
import re
import sys
from pathlib import Path

CELL = 12.2
"""Width of one terminal cell in Rich's SVG export."""
TEXT = re.compile(r'<text class="[^"]*" x="([\d.]+)" y="([\d.]+)" textLength="[\d.]+"[^>]*>(.*?)</text>', re.S)


def screen_lines(svg: str, width: int = 300) -> list[str]:
    rows: dict[float, dict[int, str]] = {}
    for match in TEXT.finditer(svg):
        text = html.unescape(match.group(3)).replace("\xa0", " ")
        if text != "\n":
            rows.setdefault(float(match.group(2)), {})[round(float(match.group(1)) / CELL)] = text
    lines = []
    for y in sorted(rows):
        line = [" "] * width
        for col, text in rows[y].items():
            for i, ch in enumerate(text[: max(width - col, 0)]):
                line[col + i] = ch
        lines.append("".join(line).rstrip())
    return lines


if __name__ == "__main__":
    print("\n".join(screen_lines(Path(sys.argv[1]).read_text(encoding="utf-8"))))
