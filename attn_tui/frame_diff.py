"""Frames on the wire (issue 17): each frame sends only the cells the terminal does not already show.

Textual sends every dirty line piece ("chop") whole, each segment as ESC[<every attribute>m text
ESC[0m, whether or not the terminal already shows it (Strip.render, ChopsUpdate.render_segments).
Over SSH that was 10–60 KB a keystroke, three quarters of it colour codes and most of it cells the
terminal already showed. FrameDiff keeps what the terminal shows, cell by cell, and sends only the
cells that differ, with colour codes only where the style changes and only the attributes that change.
`AttnApp._display` goes through it.

Like attn_tui.compat, it reads Textual's private frame types: `PRIVATE_NAMES` lists them and
`tests/test_compat.py` checks each still exists; `tests/test_frame_diff.py` checks the bytes against
Textual's own encoding on random frames, `tests/test_frames.py` on the app's real frames.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from rich.cells import cell_len, get_character_cell_size
from rich.color import ColorSystem
from textual._compositor import ChopsUpdate, CompositorUpdate, LayoutUpdate
from textual.strip import Strip

if TYPE_CHECKING:
    from rich.console import Console
    from textual.screen import Screen

PRIVATE_NAMES = (
    ("textual.app:App", "_display"),
    ("textual._compositor", "ChopsUpdate"),  # .chops, .spans, .chop_ends (tests/test_frame_diff.py builds them)
    ("textual._compositor", "LayoutUpdate"),  # .strips, .region
    ("rich.style:Style()", "_ansi"),  # Textual's cache of a style's SGR parameters (Strip.render_ansi fills it)
    ("rich.console:Console()", "_color_system"),
)
"""(module[:class], attribute) for every private name used here, as in attn_tui.compat."""

UNKNOWN = "\x00"
"""Style id of a cell whose content on the terminal is not known (never equal to a real style's id)."""
MERGE_GAP = 3
"""Unchanged cells between two changed ones are sent again, rather than skipped with a cursor move,
when there are at most this many and they have the style just written (a cursor-forward costs 3–5
bytes, such a cell one)."""
MAX_STYLES = 50_000
"""Style ids kept before the table starts again (with a full repaint): truecolour gradients are bounded,
but nothing else would bound it."""
_FLAG_OFF = {"1": "22", "2": "22", "3": "23", "4": "24", "5": "25", "6": "25", "7": "27", "8": "28", "9": "29",
             "21": "24", "51": "54", "52": "54", "53": "55"}
"""SGR attribute → the code that turns it off (22, 24, 25 and 54 turn off two attributes each)."""
_STYLE_RUNS = re.compile(r"(.)\1*", re.S)


@functools.lru_cache(maxsize=4096)
def _cells(text: str) -> tuple[str, ...] | None:
    """`text` cut into terminal cells ('' for the second half of a wide character); None when its
    characters do not map one by one to cells (zero-width, joiners, variation selectors)."""
    cells: list[str] = []
    for char in text:
        width = get_character_cell_size(char)
        if width == 1:
            cells.append(char)
        elif width == 2:
            cells += [char, ""]
        else:
            return None
    return tuple(cells) if len(cells) == cell_len(text) else None


def _wide(cell: str) -> bool:
    return cell != "" and get_character_cell_size(cell) == 2


def _parse_sgr(ansi: str) -> tuple[str, str, frozenset[str]] | None:
    """Textual's SGR parameters for a style (`1;38;5;12;48;2;1;2;3`) as (fg, bg, flags); None if unknown."""
    fg = bg = ""
    flags: set[str] = set()
    params = ansi.split(";") if ansi else []
    i = 0
    while i < len(params):
        p = params[i]
        if p in ("38", "48"):
            width = 3 if params[i + 1:i + 2] == ["5"] else 5 if params[i + 1:i + 2] == ["2"] else 0
            if not width or i + width > len(params):
                return None
            if p == "38":
                fg = ";".join(params[i:i + width])
            else:
                bg = ";".join(params[i:i + width])
            i += width
            continue
        if p in _FLAG_OFF:
            flags.add(p)
        elif p.isdigit() and (30 <= int(p) <= 37 or 90 <= int(p) <= 97):
            fg = p
        elif p.isdigit() and (40 <= int(p) <= 47 or 100 <= int(p) <= 107):
            bg = p
        elif p == "39":
            fg = ""
        elif p == "49":
            bg = ""
        else:
            return None
        i += 1
    return fg, bg, frozenset(flags)


Attrs = tuple[str, str, frozenset[str]]
"""SGR state: (foreground codes, background codes, attribute codes); '' is the terminal's default colour."""
_DEFAULT_ATTRS: Attrs = ("", "", frozenset())
_SHOWN_ON_BLANK = frozenset({"4", "7", "9", "21", "51", "52", "53"})
"""Attributes a blank cell shows (lines, reverse); a blank shows none of bold, dim, italic, blink, conceal,
nor its foreground colour."""


def _sgr_delta(old: Attrs, new: Attrs) -> str:
    """The shortest SGR that turns the terminal's attributes `old` into `new`."""
    if old == new:
        return ""
    fg, bg, flags = new
    if not (fg or bg or flags):
        return "\x1b[0m"
    codes: list[str] = []
    offs = {_FLAG_OFF[f] for f in old[2] - flags}
    codes += sorted(offs)
    for flag in sorted(flags, key=int):  # an off code shared by two attributes turns both off: set again
        if flag not in old[2] or _FLAG_OFF[flag] in offs:
            codes.append(flag)
    if fg != old[0]:
        codes.append(fg or "39")
    if bg != old[1]:
        codes.append(bg or "49")
    delta = ";".join(codes)
    reset = ";".join(["0", *sorted(flags, key=int), *(code for code in (fg, bg) if code)])
    return f"\x1b[{delta if len(delta) <= len(reset) else reset}m"


class _Style:
    """One style as the terminal sees it: its id in the shadow, its SGR, its link."""

    __slots__ = ("attrs", "blank_any_fg", "close", "full", "id", "open")

    def __init__(self, sid: str, ansi: str, link: str | None) -> None:
        self.id = sid
        self.full = ansi
        self.attrs = _parse_sgr(ansi)
        self.blank_any_fg = self.attrs is not None and not self.attrs[2] & _SHOWN_ON_BLANK and not link
        """Blank cells of this style look the same whatever the foreground and the invisible attributes."""
        self.open = f"\x1b]8;id={link}\x1b\\" if link else ""  # link: "id;url", as Strip.render_style writes it
        self.close = "\x1b]8;;\x1b\\" if link else ""


class FrameDiff:
    """What the terminal shows, cell by cell; turns a Textual frame into the bytes that change it.

    `wrap(screen, update)` goes in App._display: the update it returns renders (when, and only when,
    Textual writes it) to cursor moves and text for the cells that differ from what was last sent.
    Forgets everything (the next frame draws in full) on a resize, a suspend or resume, or anything
    written that is not a compositor update.
    """

    def __init__(self) -> None:
        self.size: tuple[int, int] | None = None
        self.text: list[list[str]] = []
        """Per screen row, the cell contents last sent ('' for the second half of a wide character)."""
        self.style: list[str] = []
        """Per screen row, one style id per cell (UNKNOWN where the content is not known)."""
        self._styles: dict[tuple[str, str | None], _Style] = {}
        self._by_id: dict[str, _Style] = {}
        self._moves: dict[tuple[Attrs | None, str, bool], tuple[str, Attrs | None]] = {}
        """(attributes now, style id, blank text) → (the SGR to send, the attributes after it)."""
        self._attrs: Attrs | None = _DEFAULT_ATTRS
        """The SGR attributes the terminal has now, while a frame is encoded (None: not known)."""

    def invalidate(self) -> None:
        """The terminal may show anything: the next frame draws every cell it covers."""
        self.size = None

    def wrap(self, screen: Screen[Any], renderable: Any) -> Any:
        if isinstance(renderable, (ChopsUpdate, LayoutUpdate)):
            size = screen.outer_size
            return _DiffedUpdate(self, renderable, (size.width, size.height))
        if renderable is not None:
            self.invalidate()  # something else reaches the terminal: what it shows is no longer known
        return renderable

    # -- encoding ----------------------------------------------------------------------------------

    def _style(self, style: Any, color_system: ColorSystem) -> _Style:
        if style is None:
            ansi, link = "", None
        else:
            ansi = style._ansi
            if ansi is None:
                ansi = Strip.render_ansi(style, color_system)
            link = f"{style.link_id};{style.link}" if style.link else None
        known = self._styles.get((ansi, link))
        if known is None:
            sid = chr(0x100 + len(self._styles))  # past the control characters; UNKNOWN is \x00
            known = _Style(sid, ansi, link)
            self._styles[(ansi, link)] = known
            self._by_id[sid] = known
        return known

    def _piece(self, strip: Strip, color_system: ColorSystem) -> tuple[list[str], str] | None:
        """A strip as (cells, style ids); None when it cannot be cut into cells exactly."""
        cells: list[str] = []
        ids: list[str] = []
        for text, style, control in strip:
            if control:
                return None
            if not text:
                continue
            if text.isascii() and text.isprintable():
                cells.extend(text)
                n = len(text)
            else:
                cut = _cells(text) if len(text) < 256 else _cells.__wrapped__(text)
                if cut is None:
                    return None
                cells.extend(cut)
                n = len(cut)
            ids.append(self._style(style, color_system).id * n)
        return cells, "".join(ids)

    def encode(self, update: CompositorUpdate, size: tuple[int, int], console: Console) -> str:
        """The bytes that make the terminal show `update` (and remember that it does)."""
        width, height = size
        if len(self._styles) > MAX_STYLES:
            self._styles.clear()
            self._by_id.clear()
            self.size = None
        if len(self._moves) > MAX_STYLES:
            self._moves.clear()
        if self.size != size:
            self.size = size
            self.text = [[" "] * width for _ in range(height)]
            self.style = [UNKNOWN * width] * height
        color_system = console._color_system or ColorSystem.TRUECOLOR
        rows: dict[int, list[tuple[int, Strip]]] = {}
        for y, x, strip in _pieces(update):
            if 0 <= y < height:
                rows.setdefault(y, []).append((x, strip))
        out: list[str] = []
        self._attrs = _DEFAULT_ATTRS  # every Textual write ends with a reset
        for y in sorted(rows):
            self._row(y, rows[y], width, color_system, console, out)
        if self._attrs != _DEFAULT_ATTRS:
            out.append("\x1b[0m")
        return "".join(out)

    def _row(self, y: int, pieces: list[tuple[int, Strip]], width: int, color_system: ColorSystem,
             console: Console, out: list[str]) -> None:
        old_cells, old_style = self.text[y], self.style[y]
        cells, style = old_cells[:], old_style
        low, high = width, 0
        edges: list[int] = []
        for x, strip in pieces:
            piece = self._piece(strip, color_system) if x >= 0 else None
            if piece is None or len(piece[0]) != strip.cell_length:
                self._raw(y, pieces, console, out)
                return
            piece_cells, piece_style = piece
            n = min(len(piece_cells), width - x)
            if n <= 0:
                continue
            end = x + n
            cells[x:end] = piece_cells[:n]
            style = style[:x] + piece_style[:n] + style[end:]
            low, high = min(low, x), max(high, end)
            edges += (x - 1, x, end - 1, end)
        # Where a piece cut a wide character the terminal showed (or a crop cut a new one), the cell
        # left over shows nothing known: Textual's own output leaves the same there. Mark it unknown.
        for i in edges:
            if 0 <= i < width and ((cells[i] == "" and (i == 0 or not _wide(cells[i - 1])))
                                   or (_wide(cells[i]) and (i + 1 == width or cells[i + 1] != ""))):
                cells[i] = " "
                style = style[:i] + UNKNOWN + style[i + 1:]
        if style == old_style and cells == old_cells:
            return
        self.text[y], self.style[y] = cells, style
        changed = [i for i in range(low, high)
                   if (style[i] != old_style[i] or cells[i] != old_cells[i]) and style[i] != UNKNOWN]
        runs: list[list[int]] = []
        for i in changed:
            # A short gap of the style just written costs its characters only: cheaper than a move over it.
            if runs and i - runs[-1][1] <= MERGE_GAP and style[runs[-1][1] - 1:i].strip(style[runs[-1][1] - 1]) == "":
                runs[-1][1] = i + 1
            else:
                runs.append([i, i + 1])
        cursor: int | None = None
        written = 0
        for start, end in runs:
            # Never start or end inside a wide character, the new one or the one the terminal showed.
            while start > 0 and (cells[start] == "" or old_cells[start] == "") and style[start - 1] != UNKNOWN:
                start -= 1
            while end < width and (cells[end] == "" or old_cells[end] == "") and style[end] != UNKNOWN:
                end += 1
            start = max(start, written)
            if start >= end:
                continue
            if cursor is not None and start > cursor:
                gap = start - cursor
                out.append("\x1b[C" if gap == 1 else f"\x1b[{gap}C")
            elif cursor != start:
                out.append(f"\x1b[{y + 1};{start + 1}H")
            self._write(cells, style, start, end, out)
            written = end
            cursor = end if end < width else None  # at the right margin the next character would wrap

    def _write(self, cells: list[str], style: str, start: int, end: int, out: list[str]) -> None:
        moves = self._moves
        for match in _STYLE_RUNS.finditer(style, start, end):
            sid = match.group(1)
            text = "".join(cells[match.start():match.end()])
            blank = not text.strip(" ")
            key = (self._attrs, sid, blank)
            move = moves.get(key)
            if move is None:
                move = moves[key] = self._move(self._attrs, self._by_id[sid], blank)
            sgr, self._attrs = move
            if sgr:
                out.append(sgr)
            known = self._by_id[sid]
            out.append(f"{known.open}{text}{known.close}" if known.open else text)

    @staticmethod
    def _move(now: Attrs | None, style: _Style, blank: bool) -> tuple[str, Attrs | None]:
        """The SGR that makes the terminal draw `style` (for blank text: look like it), and the state after."""
        want = style.attrs
        if want is None:  # codes this encoder does not know: from a reset, and the state is unknown after
            return (f"\x1b[0;{style.full}m" if style.full else "\x1b[0m"), None
        if now is None:
            fg, bg, flags = want
            return f"\x1b[{';'.join(['0', *sorted(flags, key=int), *(c for c in (fg, bg) if c)])}m", want
        if blank and style.blank_any_fg:
            # A blank shows only its background: keep the foreground and the invisible attributes as
            # they are (a number's colour, then the gap after it, costs one background code each).
            want = (now[0], want[1], now[2] - _SHOWN_ON_BLANK)
        return _sgr_delta(now, want), want

    def _raw(self, y: int, pieces: list[tuple[int, Strip]], console: Console, out: list[str]) -> None:
        """A row this encoder cannot cut into cells: sent as Textual sends it, and forgotten."""
        if self._attrs != _DEFAULT_ATTRS:
            out.append("\x1b[0m")
        for x, strip in pieces:
            out.append(f"\x1b[{y + 1};{x + 1}H")
            out.append(strip.render(console))
        out.append("\x1b[0m")
        self._attrs = _DEFAULT_ATTRS
        width = len(self.style[y])
        self.text[y], self.style[y] = [" "] * width, UNKNOWN * width


class _DiffedUpdate(CompositorUpdate):
    """A compositor update that renders through a FrameDiff (only when Textual writes it)."""

    def __init__(self, diff: FrameDiff, update: CompositorUpdate, size: tuple[int, int]) -> None:
        self.diff = diff
        self.update = update
        self.size = size

    def render_segments(self, console: Console) -> str:
        try:
            return self.diff.encode(self.update, self.size, console)
        except BaseException:
            self.diff.invalidate()
            raise


def _pieces(update: CompositorUpdate) -> Iterator[tuple[int, int, Strip]]:
    """(y, x, strip) for every piece `update` would write, as its own render_segments cuts them."""
    if isinstance(update, LayoutUpdate):
        for y, line in enumerate(update.strips, update.region.y):
            x = update.region.x
            for strip in line:
                yield y, x, strip
                x += strip.cell_length
        return
    assert isinstance(update, ChopsUpdate)
    for y, x1, x2 in update.spans:
        for end, (x, chop) in zip(update.chop_ends[y], update.chops[y].items(), strict=False):
            if chop is None or x > x2 or end <= x1:
                continue
            yield y, x, chop if end <= x2 else chop.crop(0, min(end, x2) - x)
