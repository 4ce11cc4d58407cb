"""One stage's grid as a standalone SVG figure: the screen's light colour scale, labels, a colour bar.

Standard library only (the colour stops come from attn_tui.colors, shared with the screen).
"""

from __future__ import annotations

import html
import io
import math
from typing import TYPE_CHECKING

from attn_tui.colors import ink, lerp
from attn_tui.colors import stops as colour_stops
from attn_tui.export.tables import tables
from attn_tui.text import printable

if TYPE_CHECKING:
    from attn_tui.result import Result

MAX_SVG_CELLS = 250_000
"""A figure with more cells than this (500 × 500) is refused: no viewer would draw it usefully."""


def _cell(value: float) -> str:
    """The shortest text that reads back as the same float32 (`-inf` for a masked cell)."""
    import numpy as np

    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return str(np.float32(value))  # numpy's shortest round-trip text for a float32: 0.3374, 1e-05


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _ink(rgb: tuple[int, int, int]) -> str:
    return _hex(ink(rgb))


def _xml_text(text: str) -> str:
    """Text safe inside SVG: printable (controls, bidi controls and undecodable bytes shown, as on screen:
    attn_tui.text), then escaped; what is left is all allowed in XML 1.0."""
    return html.escape(printable(text), quote=True)


def _text_width(text: str, size: float) -> float:
    """A generous estimate of a label's width in a sans-serif font (no font metrics here)."""
    return sum(size * (1.0 if ord(ch) > 0x2E80 else 0.62) for ch in text)


def _short(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _g(value: float) -> str:
    return _number(value, 4)


def svg_grid(result: Result, stage: str, head: int = 0, *, layer: int = 0, words: bool = False) -> str:
    """The matrix of `stage` (one head) as a standalone SVG document.

    Cells coloured by value (sequential for weights, diverging about 0 for signed stages), row
    and column labels, a colour bar with its range, masked cells hatched. Each cell has a
    `<title>` (row label, column label, exact value), which viewers show as a tooltip.
    """
    table = tables(result, stage, head, layer, words=words)[0]
    values = table.values
    n_rows, n_cols = values.shape
    if n_rows * n_cols > MAX_SVG_CELLS:
        raise ValueError(f"{n_rows} × {n_cols} cells is too many for a figure (at most {MAX_SVG_CELLS:,})")
    flat = [v for row in values.tolist() for v in row]
    masked = [math.isinf(v) and v < 0 for v in flat]
    if stage in ("weights", "value_weighted", "rollout") and result.causal:
        # Softmax turned −∞ into exact zeros; show them as masked, not as small weights. A word is masked for a
        # query word when every token of it comes after every token of the query word.
        if table.groups is None:
            masked = [j > i for i in range(n_rows) for j in range(n_cols)]
        else:
            masked = [w[0] > u[-1] for u in table.groups for w in table.groups]
    finite = [v for v, m in zip(flat, masked, strict=True) if not m and math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)
    stops = colour_stops(table.kind, dark=False)  # the light theme's scale: for paper
    if table.kind == "sequential":
        low = 0.0
    else:
        top = max(abs(low), abs(high))
        low, high = -top, top

    def colour(v: float) -> tuple[int, int, int]:
        span = high - low
        return lerp(stops, (v - low) / span if span > 0 else (0.5 if table.kind == "diverging" else 0.0))

    font = 11.0
    cell = 26.0 if max(n_rows, n_cols) <= 40 else max(4.0, 1040.0 / max(n_rows, n_cols))
    show_numbers = cell >= 26.0 and n_cols <= 24
    show_labels = cell >= 8.0
    row_labels = [_short(s) for s in table.rows]
    col_labels = [_short(s) for s in table.cols]
    pad = 12.0
    label_w = (max(_text_width(s, font) for s in row_labels) + 8.0) if show_labels else 0.0
    col_h = (max(_text_width(s, font) for s in col_labels) * 0.72 + 12.0) if show_labels else 0.0
    title_h = 22.0
    grid_x, grid_y = pad + label_w, pad + title_h + col_h
    grid_w, grid_h = n_cols * cell, n_rows * cell
    bar_x, bar_w = grid_x + grid_w + 18.0, 14.0
    bar_h = max(grid_h, 120.0)
    ticks = (high, (low + high) / 2, low)
    width = bar_x + bar_w + 10.0 + max(_text_width(_g(t), font) for t in ticks) + pad
    height = grid_y + bar_h + pad + (bar_w + 8.0 if any(masked) else 0.0)

    out = io.StringIO()
    w = out.write
    w('<?xml version="1.0" encoding="UTF-8"?>\n')
    w(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
      f'viewBox="0 0 {width:.1f} {height:.1f}" font-family="Helvetica, Arial, sans-serif" '
      f'font-size="{font:g}">\n')
    w(f"<title>{_xml_text(table.title)}</title>\n")
    w('<defs><pattern id="masked" width="6" height="6" patternUnits="userSpaceOnUse" '
      'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
      '<line x1="0" y1="0" x2="0" y2="6" stroke="#b0b0b0" stroke-width="2"/></pattern>\n')
    w('<linearGradient id="scale" x1="0" y1="1" x2="0" y2="0">')
    for i in range(11):
        w(f'<stop offset="{i / 10:g}" stop-color="{_hex(lerp(stops, i / 10))}"/>')
    w("</linearGradient></defs>\n")
    w('<rect width="100%" height="100%" fill="#ffffff"/>\n')
    w(f'<text x="{pad:g}" y="{pad + 14:g}" font-size="13" font-weight="bold">{_xml_text(table.title)}'
      f' ({n_rows}×{n_cols})</text>\n')

    if show_labels:
        w('<g class="row-labels" text-anchor="end" dominant-baseline="central">\n')
        for i, label in enumerate(row_labels):
            w(f'<text x="{grid_x - 6:.1f}" y="{grid_y + (i + 0.5) * cell:.1f}">{_xml_text(label)}</text>\n')
        w("</g>\n")
        w('<g class="col-labels" text-anchor="start">\n')
        for j, label in enumerate(col_labels):
            x, y = grid_x + (j + 0.5) * cell, grid_y - 6
            w(f'<text x="{x:.1f}" y="{y:.1f}" transform="rotate(-45 {x:.1f} {y:.1f})">'
              f"{_xml_text(label)}</text>\n")
        w("</g>\n")

    w('<g class="cells">\n')
    number_size = min(font, cell / 3.2)
    for i in range(n_rows):
        for j in range(n_cols):
            v = flat[i * n_cols + j]
            x, y = grid_x + j * cell, grid_y + i * cell
            tip = f"{table.rows[i]} → {table.cols[j]}: "
            if masked[i * n_cols + j]:
                w(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" '
                  f'fill="url(#masked)" data-value="{_cell(v)}" data-masked="true">'
                  f"<title>{_xml_text(tip)}masked</title></rect>\n")
                continue
            rgb = colour(v)
            w(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" fill="{_hex(rgb)}" '
              f'data-value="{_cell(v)}"><title>{_xml_text(tip + _cell(v))}</title></rect>\n')
            if show_numbers:
                w(f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2:.1f}" text-anchor="middle" '
                  f'dominant-baseline="central" font-size="{number_size:.1f}" fill="{_ink(rgb)}" '
                  f'pointer-events="none">{_number(v)}</text>\n')
    w("</g>\n")
    w(f'<rect x="{grid_x:.1f}" y="{grid_y:.1f}" width="{grid_w:.1f}" height="{grid_h:.1f}" fill="none" '
      f'stroke="#444444" stroke-width="0.8"/>\n')

    # The colour bar, with its ends and middle labelled.
    w('<g class="legend">\n')
    w(f'<rect x="{bar_x:.1f}" y="{grid_y:.1f}" width="{bar_w:g}" height="{bar_h:.1f}" fill="url(#scale)" '
      f'stroke="#444444" stroke-width="0.6"/>\n')
    for frac, value in zip((0.0, 0.5, 1.0), ticks, strict=True):
        y = grid_y + frac * bar_h
        w(f'<line x1="{bar_x + bar_w:.1f}" y1="{y:.1f}" x2="{bar_x + bar_w + 4:.1f}" y2="{y:.1f}" '
          f'stroke="#444444" stroke-width="0.6"/>')
        w(f'<text x="{bar_x + bar_w + 6:.1f}" y="{y:.1f}" dominant-baseline="central">{_g(value)}</text>\n')
    if any(masked):
        y = grid_y + bar_h + 4
        w(f'<rect x="{bar_x:.1f}" y="{y:.1f}" width="{bar_w:g}" height="{bar_w:g}" fill="url(#masked)" '
          f'stroke="#444444" stroke-width="0.6"/><text x="{bar_x + bar_w + 6:.1f}" y="{y + bar_w / 2:.1f}" '
          f'dominant-baseline="central">masked</text>\n')
    w("</g>\n</svg>\n")
    return out.getvalue()


def _number(v: float, digits: int = 0) -> str:
    """A cell's or a tick's number as printed: two decimals (or `digits` significant), a real minus."""
    text = f"{v:.{digits}g}" if digits else f"{v:.2f}"
    if text in ("-0", "-0.00"):
        text = text[1:]
    return "−" + text[1:] if text.startswith("-") else text
