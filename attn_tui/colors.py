"""Value → colour, as pure functions: a diverging scale for signed values, a sequential one for weights.

Cells carry their own background, so a scale reads the same on dark and light themes; the
numbers (or shade glyphs, when cells are too narrow for numbers) carry the meaning where colour
cannot: 16-colour terminals and NO_COLOR.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from rich.color import Color
from rich.style import Style

STEPS = 33
"""Buckets per scale (odd, so a diverging scale has an exact middle for 0)."""

SHADES = " ░▒▓█"
"""Glyphs by magnitude, for cells too narrow for a number."""

# Colour stops as (r, g, b). Diverging: blue for negative, a neutral middle, red for positive.
_DIVERGING_DARK = ((49, 104, 217), (44, 48, 56), (214, 72, 58))
_DIVERGING_LIGHT = ((38, 92, 204), (238, 238, 238), (204, 52, 40))
# Sequential: dark → bright on dark themes (magma-like), pale → deep on light ones.
_SEQUENTIAL_DARK = ((28, 22, 48), (110, 38, 120), (222, 84, 80), (252, 200, 90), (252, 253, 191))
_SEQUENTIAL_LIGHT = ((246, 246, 250), (190, 215, 240), (90, 150, 210), (40, 80, 170), (20, 30, 100))


def _lerp(stops: tuple[tuple[int, int, int], ...], t: float) -> tuple[int, int, int]:
    t = min(max(t, 0.0), 1.0)
    pos = t * (len(stops) - 1)
    i = min(int(pos), len(stops) - 2)
    f = pos - i
    a, b = stops[i], stops[i + 1]
    return tuple(round(a[c] + (b[c] - a[c]) * f) for c in range(3))  # type: ignore[return-value]


def _contrast(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    r, g, b = rgb
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return (16, 16, 16) if luminance > 140 else (240, 240, 240)


@dataclass(frozen=True)
class Scale:
    """A colour scale of STEPS buckets over [low, high]."""

    kind: str
    """`diverging` (symmetric about 0) or `sequential` (0 up)."""
    low: float
    high: float
    styles: tuple[Style, ...]
    """One style per bucket: the bucket's background and a readable foreground."""
    colors: tuple[tuple[int, int, int], ...]

    def bucket(self, value: float) -> int:
        """The bucket of `value`, clamped to the scale."""
        span = self.high - self.low
        if not span > 0:
            return STEPS // 2 if self.kind == "diverging" else 0
        t = (value - self.low) / span
        return min(max(int(t * STEPS), 0), STEPS - 1)

    def buckets(self, values) -> list[int]:
        """`bucket` of each value of a 1-D numpy array, at once (the same arithmetic, in float64)."""
        import numpy as np

        span = self.high - self.low
        if not span > 0:
            return [STEPS // 2 if self.kind == "diverging" else 0] * len(values)
        t = (values.astype(np.float64) - self.low) / span * STEPS
        t = np.nan_to_num(t, nan=0.0, posinf=STEPS - 1, neginf=0.0)
        return np.clip(np.trunc(t), 0, STEPS - 1).astype(np.int64).tolist()

    def shade(self, value: float) -> str:
        """A glyph for the magnitude of `value` relative to the scale (NO_COLOR-safe)."""
        if self.kind == "diverging":
            top = max(abs(self.low), abs(self.high)) or 1.0
            t = abs(value) / top
        else:
            span = (self.high - self.low) or 1.0
            t = (value - self.low) / span
        return SHADES[min(max(int(t * len(SHADES)), 0), len(SHADES) - 1)]


@lru_cache(maxsize=8)
def _palette(kind: str, dark: bool) -> tuple[tuple[Style, ...], tuple[tuple[int, int, int], ...]]:
    if kind == "diverging":
        stops = _DIVERGING_DARK if dark else _DIVERGING_LIGHT
    else:
        stops = _SEQUENTIAL_DARK if dark else _SEQUENTIAL_LIGHT
    colors = tuple(_lerp(stops, (i + 0.5) / STEPS) for i in range(STEPS))
    styles = tuple(
        Style(bgcolor=Color.from_rgb(*rgb), color=Color.from_rgb(*_contrast(rgb))) for rgb in colors
    )
    return styles, colors


def make_scale(kind: str, low: float, high: float, *, dark: bool = True) -> Scale:
    """A scale for values in [low, high]; diverging scales are made symmetric about 0."""
    if kind == "diverging":
        top = max(abs(low), abs(high))
        low, high = -top, top
    styles, colors = _palette(kind, dark)
    return Scale(kind, float(low), float(high), styles, colors)


MASKED_STYLE = Style(dim=True, italic=True)
"""Masked cells: not a value, so no colour of the scale."""
