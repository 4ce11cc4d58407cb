"""A bracketed paste is text, whatever it holds (issue 12, item 7).

Textual's XTermParser kept parsing escape sequences inside `ESC[200~ … ESC[201~` and reissued the ones
it could not match as keys: pasting `" x\\x1b\\x12 y"` pressed ctrl+r (reset every setting and the prompt),
`" x\\x1b\\x11"` pressed ctrl+q (quit). `terminal_io.paste_as_text` reads the paste as text. These tests feed
the real parser the bytes a terminal sends, then the app the events it made.
"""

from __future__ import annotations

import pytest
from textual import events
from textual._xterm_parser import XTermParser

from attn_tui.app import AttnApp
from attn_tui.terminal_io import MAX_PASTE, paste_as_text
from tests.scenarios import settle

START, END = "\x1b[200~", "\x1b[201~"

# (id, what is pasted): the two, and their kin
PASTES = [
    ("ctrl-r-after-escape", " x\x1b\x12 y"),
    ("ctrl-q-after-escape", " x\x1b\x11"),
    ("osc-title-and-c1-csi", " \x1b]0;pwned\x07 \x9b2J"),
    ("escape-at-the-end", "tail\x1b"),
    ("escape-alone", "\x1b"),
    ("alt-keys", "\x1bx\x1b[A\x1b[1;5C\x1bOP"),
    ("a-nested-start", f"a{START}b"),
    ("an-end-cut-short", "a\x1b[201b\x1b[20"),
    ("mouse-report", "\x1b[<0;10;5M\x1b[<0;10;5m"),
    ("kitty-ctrl-r", "\x1b[114;5u"),
    ("focus-events", "\x1b[I\x1b[O"),
    ("newlines-and-tabs", "one\ttwo\r\nthree"),
    ("empty", ""),
    ("unicode", "我 ❤️ \u202eevil"),
]


@pytest.fixture(scope="module", autouse=True)
def patched():
    paste_as_text()


def parse(data: str, *, chunks: int = 1) -> list[events.Event]:
    """What the parser makes of `data` fed in `chunks` pieces (a terminal's reads split anywhere)."""
    parser = XTermParser()
    out: list[events.Event] = []
    size = max(1, -(-len(data) // chunks))
    for i in range(0, len(data), size):
        out += parser.feed(data[i:i + size])
    out += parser.feed("")  # end of input: flushes a pending escape
    return out


@pytest.mark.parametrize("text", [t for _, t in PASTES], ids=[n for n, _ in PASTES])
@pytest.mark.parametrize("chunks", [1, 3, 1000])
def test_a_paste_is_one_paste_event_with_its_text(text, chunks):
    got = parse(f"a{START}{text}{END}b", chunks=chunks)
    keys = [e.key for e in got if isinstance(e, events.Key)]
    pastes = [e.text for e in got if isinstance(e, events.Paste)]
    assert keys == ["a", "b"], f"keys from inside the paste: {keys}"
    assert pastes == [text], pastes


def test_keys_escapes_and_mouse_around_pastes_still_parse():
    got = parse(f"\x1b[A{START}x\x1b{END}\x1b[<0;3;4M{START}{END}\x12q")
    kinds = [(type(e).__name__, getattr(e, "key", getattr(e, "text", None))) for e in got]
    assert kinds == [("Key", "up"), ("Paste", "x\x1b"), ("MouseDown", None), ("Paste", ""), ("Key", "ctrl+r"),
                     ("Key", "q")]


def test_a_lone_escape_key_still_times_out_into_escape():
    parser = XTermParser()
    assert list(parser.feed("\x1b")) == []
    parser._timeout_time = 0  # as if ESCAPE_DELAY had passed
    assert [e.key for e in parser.tick()] == ["escape"]
    got = list(parser.feed(f"{START}\x1b\x12{END}"))
    assert [type(e).__name__ for e in got] == ["Paste"] and got[0].text == "\x1b\x12"


def test_nul_is_dropped_and_a_huge_paste_is_cut_at_the_limit():
    assert [e.text for e in parse(f"{START}a\x00b{END}") if isinstance(e, events.Paste)] == ["ab"]
    huge = "x" * (MAX_PASTE + 50)
    got = [e for e in parse(f"{START}{huge}{END}z", chunks=7) if isinstance(e, (events.Paste, events.Key))]
    assert [len(e.text) if isinstance(e, events.Paste) else e.key for e in got] == [MAX_PASTE, "z"]


def test_input_ending_inside_a_paste_gives_what_came():
    assert [e.text for e in parse(f"{START}abc\x1b\x11") if isinstance(e, events.Paste)] == ["abc\x1b\x11"]


async def feed(app: AttnApp, data: str) -> None:
    """Send `data` through the patched parser to the app, as the Linux driver does."""
    for event in parse(data):
        app.post_message(event)


@pytest.mark.parametrize("text", [" x\x1b\x12 y", " x\x1b\x11", " \x1b\x12\x1b\x11\x1b[200~\x1b\x12"])
async def test_a_pasted_reset_or_quit_neither_resets_nor_quits(text):
    app = AttnApp(prompt="a b c", heads=2, causal=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        prompt = app.explorer.query_one("#prompt")
        assert app.focused is prompt
        prompt.cursor_position = len(prompt.value)
        await feed(app, f"{START}{text}{END}")
        await settle(pilot)
        assert app.is_running, "the paste quit the app"
        assert prompt.value == "a b c" + text.splitlines()[0], "the paste reset the prompt"
        session = app.explorer.session
        assert (session.texts["heads"], session.texts["causal"]) == ("2", True), "the paste reset the settings"
