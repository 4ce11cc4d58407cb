"""Making user text safe and short for the screen: no control characters reach the terminal."""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size

from attn_tui.text import printable, stand_ins

__all__ = ["fit", "fmt", "number_format", "printable", "stand_ins", "width_of", "wrap"]

def fit(text: str, width: int, *, align: str = "left") -> str:
    """`text` made printable and cut or padded to exactly `width` cells, with … where cut."""
    if width <= 0:
        return ""
    text = printable(text)
    if cell_len(text) > width:
        text = set_cell_size(text, width - 1) + "…" if width > 1 else "…"
        return set_cell_size(text, width)
    pad = width - cell_len(text)
    if align == "right":
        return " " * pad + text
    if align == "center":
        return " " * (pad // 2) + text + " " * (pad - pad // 2)
    return text + " " * pad


def width_of(text: str) -> int:
    """Terminal cells `text` takes once made printable."""
    return cell_len(printable(text))


def number_format(low: float, high: float, *, sequential: bool = False, extra: int = 0) -> tuple[int, str]:
    """(width, spec) so that every value in [low, high] prints in `width` cells, readably.

    Enough digits to read a value, as compact as a grid cell needs: weights as `.42` (and `1.0`),
    small signed values as `-.42`, then `-4.21`, `37.2`, `420`, and `4e+03` past 9,999; `extra`
    decimals more where the view has room. The inspector shows every number in full.
    """
    top = max(abs(low), abs(high))
    if sequential and low >= 0 and top <= 1.0:
        spec = f"w{2 + extra}"
    elif top < 0.995:
        spec = f"s{2 + extra}"
    elif top < 9.995:
        spec = f".{2 + extra}f"
    elif top < 99.95:
        spec = f".{1 + extra}f"
    elif top < 9999.5:
        spec = f".{extra}f"
    else:
        spec = f".{extra}e"
    samples = [fmt(v, spec) for v in (low, high, -top if low < 0 else top)]
    return max(len(s) for s in samples), spec


def fmt(value: float, spec: str) -> str:
    """`value` in a `number_format` spec; never `-0`, never a stray sign on a zero."""
    if spec[0] == "w":  # weights in [0, 1]: '.42', '1.0' (or '.423', '1.00' with a decimal more)
        places = int(spec[1:])
        if value >= 1 - 0.5 * 10**-places:
            return "1." + "0" * (places - 1)
        return f"{value:.{places}f}"[1:]
    if spec[0] == "s":  # |x| < 1: '-.42', '.42'
        places = int(spec[1:])
        text = f"{value:.{places}f}"
        if float(text) == 0:
            return "." + "0" * places
        return text.replace("0.", ".", 1)
    text = format(value, spec)
    if spec.endswith("e"):
        mantissa, exponent = text.split("e")
        return f"{mantissa}e{int(exponent)}"
    if text.startswith("-") and float(text) == 0:
        return text[1:]
    return text


def wrap(text: str, width: int) -> list[str]:
    """`text` made printable and broken into lines of at most `width` cells, at spaces where it can.

    A continuation keeps the line's indent plus two cells, so wrapped working stays under its
    step; a word wider than the line is cut. Plain and cheap (no Rich layout), for short lines.
    """
    text = printable(text)
    if width <= 0:
        return [""]
    if cell_len(text) <= width:
        return [text]
    body = text.lstrip(" ")
    first = text[: len(text) - len(body)]
    if len(first) > width // 2:
        first = first[: width // 2]
    indent = first + "  " if len(first) + 2 <= width // 2 else first
    lines: list[str] = []
    line = first
    for word in body.split(" "):
        if not word:
            continue
        sep = " " if line.strip() else ""
        if cell_len(line) + len(sep) + cell_len(word) <= width:
            line += sep + word
            continue
        if line.strip():
            lines.append(line)
            line = indent
        while cell_len(line) + cell_len(word) > width:  # wider than a line: cut it
            head = _cells_prefix(word, width - cell_len(line))
            lines.append(line + head)
            line, word = indent, word[len(head):]
        line += word
    lines.append(line)
    return lines


def _cells_prefix(text: str, cells: int) -> str:
    """The longest start of `text` that fits in `cells` cells (at least one character)."""
    used = 0
    for index, char in enumerate(text):
        used += cell_len(char)
        if used > cells:
            return text[: max(index, 1)]
    return text
