"""Value → colour, as pure functions: a diverging scale for signed values, a sequential one for weights.

Cells carry their own background, so a scale reads the same on dark and light themes; the
numbers (or shade glyphs, when cells are too narrow for numbers) carry the meaning where colour
cannot: 16-colour terminals and NO_COLOR. The screen and the SVG export share these stops (the
export draws with the light ones, for paper). Standard library only at import; the Rich styles
of a scale are made the first time a screen asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.style import Style

RGB = tuple[int, int, int]

STEPS = 33
"""Buckets per scale (odd, so a diverging scale has an exact middle for 0)."""

SHADES = " ░▒▓█"
"""Glyphs by magnitude, for cells too narrow for a number."""

# Colour stops as (r, g, b). Diverging: blue for negative, a neutral middle, red for positive.
DIVERGING_DARK: tuple[RGB, ...] = ((49, 104, 217), (44, 48, 56), (214, 72, 58))
DIVERGING_LIGHT: tuple[RGB, ...] = ((38, 92, 204), (238, 238, 238), (204, 52, 40))
# Sequential: dark → bright on dark themes (magma-like), pale → deep on light ones.
SEQUENTIAL_DARK: tuple[RGB, ...] = ((28, 22, 48), (110, 38, 120), (222, 84, 80), (252, 200, 90), (252, 253, 191))
SEQUENTIAL_LIGHT: tuple[RGB, ...] = ((246, 246, 250), (190, 215, 240), (90, 150, 210), (40, 80, 170), (20, 30, 100))


def stops(kind: str, *, dark: bool) -> tuple[RGB, ...]:
    """The colour stops of a `diverging` or `sequential` scale on a dark or light background."""
    if kind == "diverging":
        return DIVERGING_DARK if dark else DIVERGING_LIGHT
    return SEQUENTIAL_DARK if dark else SEQUENTIAL_LIGHT


def lerp(stops: tuple[RGB, ...], t: float) -> RGB:
    """The colour at `t` in [0, 1] along `stops` (clamped), linearly between neighbouring stops."""
    t = min(max(t, 0.0), 1.0)
    pos = t * (len(stops) - 1)
    i = min(int(pos), len(stops) - 2)
    f = pos - i
    a, b = stops[i], stops[i + 1]
    return (round(a[0] + (b[0] - a[0]) * f), round(a[1] + (b[1] - a[1]) * f), round(a[2] + (b[2] - a[2]) * f))


def ink(rgb: RGB) -> RGB:
    """A readable text colour on a background of `rgb`: near black on light, near white on dark."""
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
    dark: bool
    """Drawn on a dark background (the stops differ)."""

    @property
    def colors(self) -> tuple[RGB, ...]:
        """One colour per bucket."""
        return _palette(self.kind, self.dark)

    @property
    def styles(self) -> tuple[Style, ...]:
        """One Rich style per bucket: the bucket's background and a readable foreground."""
        return _styles(self.kind, self.dark)

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
def _palette(kind: str, dark: bool) -> tuple[RGB, ...]:
    scale = stops(kind, dark=dark)
    return tuple(lerp(scale, (i + 0.5) / STEPS) for i in range(STEPS))


@lru_cache(maxsize=8)
def _styles(kind: str, dark: bool) -> tuple[Style, ...]:
    from rich.color import Color
    from rich.style import Style

    return tuple(Style(bgcolor=Color.from_rgb(*rgb), color=Color.from_rgb(*ink(rgb)))
                 for rgb in _palette(kind, dark))


def make_scale(kind: str, low: float, high: float, *, dark: bool = True) -> Scale:
    """A scale for values in [low, high]; diverging scales are made symmetric about 0."""
    if kind == "diverging":
        top = max(abs(low), abs(high))
        low, high = -top, top
    return Scale(kind, float(low), float(high), dark)
