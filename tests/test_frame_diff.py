"""frame_diff.FrameDiff sends only the cells that change, and the terminal ends up showing what Textual's own
output would have drawn: same characters, same colours and attributes, frame after frame.

Random frames (coloured and plain segments, wide characters, box glyphs, links, pieces cut at random
columns as the compositor cuts them) go to two emulated terminals: one fed Textual's own encoding of
each update, one fed FrameDiff's. After every frame the two screens must agree cell by cell.
"""

from __future__ import annotations

import random

import pyte
import pytest
from pyte.screens import wcwidth
from rich.console import Console
from rich.segment import Segment
from rich.style import Style
from textual._compositor import ChopsUpdate, LayoutUpdate
from textual.geometry import Region
from textual.strip import Strip

from attn_tui.frame_diff import FrameDiff

WIDTH, HEIGHT = 40, 8
TEXTS = ["ab", "0.12", " ", "  ", "─", "│╭", "中", "文字", "é", "x", "−∞", "·", "▓▒"]
STYLES = [
    None,
    Style(color="#dadada", bgcolor="#1c1c1c"),
    Style(color="#ffffff", bgcolor="#a01010"),
    Style(color="#000000", bgcolor="#10a010", bold=True),
    Style(bold=True, reverse=True),
    Style(dim=True, italic=True),
    Style(bold=True),
    Style(bold=True, dim=True, color="#808080"),
    Style(underline=True, color="color(12)"),
    Style(color="red", bgcolor="blue"),
    Style(strike=True, bgcolor="#303030"),
    Style(link="https://example.org", color="#8080ff"),
]


def random_line(rng: random.Random, width: int) -> Strip:
    segments = []
    used = 0
    while used < width:
        text = rng.choice(TEXTS)
        segments.append(Segment(text, rng.choice(STYLES)))
        used += Strip([segments[-1]]).cell_length
    return Strip(segments).crop(0, width).extend_cell_length(width)


def random_update(rng: random.Random) -> LayoutUpdate | ChopsUpdate:
    if rng.random() < 0.2:
        return LayoutUpdate([[random_line(rng, WIDTH)] for _ in range(HEIGHT)], Region(0, 0, WIDTH, HEIGHT))
    chops, chop_ends, spans = [], [], []
    for y in range(HEIGHT):
        cuts = sorted({0, WIDTH, *rng.sample(range(1, WIDTH), rng.randint(0, 4))})
        line = random_line(rng, WIDTH)
        pieces = line.divide(cuts[1:])
        chops.append(dict(zip(cuts[:-1], pieces, strict=True)))
        chop_ends.append(cuts[1:])
        if rng.random() < 0.6:
            x1 = rng.randrange(WIDTH)
            spans.append((y, x1, rng.randint(x1 + 1, WIDTH)))
    if not spans:
        spans.append((0, 0, WIDTH))
    return ChopsUpdate(chops, spans, chop_ends)


class Terminal(pyte.Screen):
    """pyte, plus what real terminals do to a wide character when half of it is written over: the other
    half goes blank (pyte leaves it, which would hide an encoder that cuts a wide character)."""

    def draw(self, data: str) -> None:
        for char in data:
            line, x = self.buffer[self.cursor.y], self.cursor.x
            if x < self.columns:
                if x > 0 and line[x].data == "" and line[x - 1].data not in ("", " "):
                    line[x - 1] = self.default_char
                if x + 1 < self.columns and line[x + 1].data == "" and wcwidth(char) < 2:
                    line[x + 1] = self.default_char
            super().draw(char)


def shown(char) -> tuple:
    """What a cell shows: a blank shows its background only (unless reversed, underlined or struck
    through), so its foreground and bold/italic are free (FrameDiff keeps them from the cell before)."""
    if char.data.strip(" "):
        return tuple(char)
    if char.reverse:
        return char.data, "reverse", char.fg
    return char.data, char.bg, char.underscore, char.strikethrough, (char.underscore or char.strikethrough) and char.fg


def cells(screen: pyte.Screen) -> list[list[tuple]]:
    return [[shown(screen.buffer[y][x]) for x in range(screen.columns)] for y in range(screen.lines)]


@pytest.mark.parametrize("color_system", ["truecolor", "256"])
@pytest.mark.parametrize("seed", range(4))
def test_the_terminal_shows_what_textuals_own_frames_show(seed, color_system):
    rng = random.Random(seed)
    console = Console(color_system=color_system, force_terminal=True, width=WIDTH, height=HEIGHT)
    textual_screen, diff_screen = Terminal(WIDTH, HEIGHT), Terminal(WIDTH, HEIGHT)
    textual_stream, diff_stream = pyte.Stream(textual_screen), pyte.Stream(diff_screen)
    diff = FrameDiff()
    sent = textual_sent = 0
    for frame in range(60):
        update = random_update(rng)
        textual = update.render_segments(console)
        ours = diff.encode(update, (WIDTH, HEIGHT), console)
        textual_stream.feed(textual)
        diff_stream.feed(ours)
        sent, textual_sent = sent + len(ours.encode()), textual_sent + len(textual.encode())
        assert cells(diff_screen) == cells(textual_screen), f"frame {frame}: the screens differ"
    assert sent < textual_sent


def test_an_unchanged_frame_sends_nothing_and_a_changed_cell_little():
    console = Console(color_system="truecolor", force_terminal=True, width=WIDTH, height=HEIGHT)
    rng = random.Random(7)
    lines = [random_line(rng, WIDTH) for _ in range(HEIGHT)]
    full = LayoutUpdate([[line] for line in lines], Region(0, 0, WIDTH, HEIGHT))
    diff = FrameDiff()
    first = diff.encode(full, (WIDTH, HEIGHT), console)
    assert len(first) > WIDTH * HEIGHT
    assert diff.encode(full, (WIDTH, HEIGHT), console) == ""
    style = Style(color="#ffffff", bgcolor="#a01010")
    row = Strip([Segment("ab" * (WIDTH // 2), style)])
    diff.encode(LayoutUpdate([[row]], Region(0, 3, WIDTH, 1)), (WIDTH, HEIGHT), console)
    changed = Strip([Segment("ab" * 5 + "Xb" + "ab" * (WIDTH // 2 - 6), style)])
    one = diff.encode(LayoutUpdate([[changed]], Region(0, 3, WIDTH, 1)), (WIDTH, HEIGHT), console)
    # A move to the cell, its colours (they differ from the reset state) and one character, then a reset.
    assert one == "\x1b[4;11H\x1b[38;2;255;255;255;48;2;160;16;16mX\x1b[0m"
    diff.invalidate()
    assert len(diff.encode(full, (WIDTH, HEIGHT), console)) == len(first)


def test_colour_codes_name_only_what_changes():
    console = Console(color_system="256", force_terminal=True, width=WIDTH, height=1)
    a, b = Style(color="color(12)", bgcolor="color(234)"), Style(color="color(12)", bgcolor="color(23)")
    bold = Style(bold=True, color="color(12)", bgcolor="color(23)")
    strip = Strip([Segment("12", a), Segment(" ", b), Segment("34", a), Segment("56", bold)])
    out = FrameDiff().encode(LayoutUpdate([[strip]], Region(0, 0, 7, 1)), (7, 1), console)
    assert out == "\x1b[1;1H\x1b[94;48;5;234m12\x1b[48;5;23m \x1b[48;5;234m34\x1b[1;48;5;23m56\x1b[0m"
