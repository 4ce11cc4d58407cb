"""The pty byte harness (benchmarks/pty_bytes.py) counts what the app really writes.

One smoke run of the real app on a pseudo-terminal: if the harness counted no bytes (a broken
reader, a quiet window that ends before the frame, a child that never drew), these fail. And the
escape-code accounting it uses for "where the bytes go", on bytes made up here.
"""

from __future__ import annotations

import sys

import pytest

from benchmarks import pty_bytes
from benchmarks.pty_bytes import KEYS, Sample, analyse, tokenise

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="pty and Textual's Linux driver")


def test_tokenise_counts_every_byte_by_kind():
    data = b"\x1b[?2026h\x1b[2;3H\x1b[38;5;1mab\x1b[0m\x1b[1;38;5;2m\xe2\x94\x80\x1b[0m\r\n\x1b[?2026l"
    cells, segments, kinds = tokenise(data)
    assert [(c.y, c.x) for c in cells] == [(1, 2), (1, 3), (1, 4)]
    assert kinds["cursor"] == len(b"\x1b[2;3H")
    assert kinds["sgr"] == len(b"\x1b[38;5;1m") + len(b"\x1b[1;38;5;2m")
    assert kinds["reset"] == 2 * len(b"\x1b[0m")
    assert kinds["text"] == 2 + 3  # "ab" and one 3-byte box-drawing character
    assert kinds["newline"] == 2
    assert [len(s.cells) for s in segments] == [2, 1]
    frame = len(data) - len(b"\x1b[?2026h") - len(b"\x1b[?2026l")
    accounted = sum(c.total for c in cells) + kinds["cursor_tail"]
    assert accounted == pytest.approx(frame), "every byte of the frame belongs to a cell"


def test_analyse_tells_changed_cells_from_resent_ones():
    import pyte

    screen = pyte.Screen(10, 3)
    stream = pyte.ByteStream(screen)
    stream.feed(b"\x1b[1;1Hhello")

    def snapshot():
        return [[screen.buffer[y][x] for x in range(10)] for y in range(3)]

    before = snapshot()
    data = b"\x1b[1;1Hhellp"  # four cells sent again unchanged, one changed
    stream.feed(data)
    result = analyse(Sample(data, 0.0, [], before, snapshot()), rows=3)
    assert result["cells_written"] == 5 and result["cells_changed"] == 1
    assert result["unchanged_bytes"] == pytest.approx(4 + len(b"\x1b[1;1H"))  # the CUP goes to the first cell
    assert result["encoder_changed_cells_bytes"] == len(b"\x1b[1;5H") + 1  # to the changed cell, and "p"


@linux
def test_the_harness_counts_the_bytes_of_a_real_terminal():
    app, start = pty_bytes.launch(pty_bytes.prompt_args(10))
    try:
        assert start.nbytes > 5_000, "the first screens are many kilobytes"
        assert start.frames >= 1 and any(f["whole_screen"] for f in start.frame_list)
        assert 0 < start.first_frame_s <= start.result_s
        assert pty_bytes.check_launch_screen(app, 10) == []  # pyte shows the prompt, the panes, "current"

        typed = pty_bytes.measure(app, lambda: app.send(KEYS["letter"]), 0.25, keep_screens=True)
        assert typed.nbytes > 0 and typed.frames >= 1, "typing a letter writes something"
        assert any("am an attention seeker I love attentiona" in line for line in app.feed_screen().display)
        pty_bytes.settle(app, KEYS["backspace"], 0.25)

        pty_bytes.settle(app, KEYS["escape"], 0.25)
        moved = pty_bytes.measure(app, lambda: app.send(KEYS["right"]), 0.25, keep_screens=True)
        assert moved.nbytes > 0
        where = analyse(moved)
        assert where["bytes"] == moved.nbytes
        assert where["cells_changed"] > 0, "the cursor moved: some cell changed"
        assert "Stage: grid" in where["regions"] and "Inspector" in where["regions"]
    finally:
        assert app.quit() == 0
