"""Token ids: each word of the prompt above its id, in prompt order, wrapped to the pane's width."""

from __future__ import annotations

from functools import lru_cache

from rich.segment import Segment
from textual import events
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from attn_tui.display import fit, width_of
from attn_tui.widgets.frame_style import FrameStyle

MAX_WORD = 16


@lru_cache(maxsize=8192)
def _cells(word: str) -> int:
    """Cells `word` takes in its column, at most MAX_WORD (memoised: an edit re-measures 2,048 words)."""
    # Plain ASCII words (nearly all) are one cell a character: skip the general measure.
    return min(len(word) if word.isascii() and word.isprintable() else width_of(word), MAX_WORD)


class TokenIds(FrameStyle, ScrollView):
    """Words over ids, two lines per band; the query under the grid's cursor is highlighted."""

    DEFAULT_CSS = """
    TokenIds {
        height: auto;
        background: $surface;
        scrollbar-size: 1 1;
    }
    """

    COMPONENT_CLASSES = {"tokens--word", "tokens--id", "tokens--highlight", "tokens--message"}

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.words: tuple[str, ...] = ()
        self.ids: tuple[int, ...] = ()
        self.message = "computing…"
        self.highlight: int | None = None
        self._bands: list[tuple[int, int]] = []
        self._widths: list[int] = []

    def show(self, words: tuple[str, ...], ids: tuple[int, ...], message: str = "") -> None:
        old_words, old_ids, old_widths, old_bands = self.words, self.ids, self._widths, self._bands
        old_message = self.message
        self.words, self.ids, self.message = tuple(words), tuple(ids), message
        self._widths = [max(_cells(w), len(str(i))) for w, i in zip(words, ids, strict=True)]
        self._wrap()
        if len(self._bands) != len(old_bands) or not words or not old_words or message != old_message:
            # Height is auto (two lines a band): lay out again only when the number of bands changed.
            self.refresh(layout=len(self._bands) != len(old_bands) or not words)
            return
        top = int(self.scroll_y)
        lines = []
        for band in range(top // 2, min((top + self.size.height) // 2 + 1, len(self._bands))):
            start, end = self._bands[band]
            if ((start, end) != old_bands[band] or self.words[start:end] != old_words[start:end]
                    or self.ids[start:end] != old_ids[start:end] or self._widths[start:end] != old_widths[start:end]):
                lines += [2 * band - top, 2 * band + 1 - top]
        self.repaint_lines(y for y in lines if 0 <= y < self.size.height)  # the bands that changed only

    def set_highlight(self, index: int | None) -> None:
        if index == self.highlight:
            return
        old, self.highlight = self.highlight, index
        top = int(self.scroll_y)
        if index is not None:
            for band, (start, end) in enumerate(self._bands):
                if start <= index < end:
                    self.scroll_to_region(self._band_region(band), animate=False, immediate=True)
                    break
        if int(self.scroll_y) != top:
            self.refresh()  # scrolled: every line is new
            return
        lines: set[int] = set()  # the bands of the word that lost the highlight and of the one that gained it
        for band, (start, end) in enumerate(self._bands):
            if any(i is not None and start <= i < end for i in (old, index)):
                lines |= {2 * band - top, 2 * band + 1 - top}
        self.repaint_lines(y for y in lines if 0 <= y < self.size.height)

    def _band_region(self, band: int):
        from textual.geometry import Region

        return Region(0, band * 2, 1, 2)

    def _wrap(self) -> None:
        width = max(self.scrollable_content_region.width, 8)
        self._bands = []
        start, used = 0, 0
        for index, cell in enumerate(self._widths):
            if used and used + cell > width:
                self._bands.append((start, index))
                start, used = index, 0
            used += cell + 1
        if self._widths:
            self._bands.append((start, len(self._widths)))
        self.virtual_size = Size(width, len(self._bands) * 2)

    def on_resize(self, event: events.Resize) -> None:
        self._wrap()

    def get_content_height(self, container, viewport, width: int) -> int:
        return max(len(self._bands) * 2, 1)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.base_style
        band_index, which = divmod(y + int(self.scroll_y), 2)
        if not self.words:
            if y == 0 and self.message:
                return Strip([Segment(fit(self.message, width), self.component_style("tokens--message"))])
            return Strip.blank(width, base)
        if band_index >= len(self._bands):
            return Strip.blank(width, base)
        start, end = self._bands[band_index]
        word_style = self.component_style("tokens--word")
        id_style = self.component_style("tokens--id")
        hl = self.component_style("tokens--highlight")
        segments = []
        for index in range(start, end):
            cell = self._widths[index]
            text = fit(self.words[index], cell) if which == 0 else str(self.ids[index]).ljust(cell)
            style = hl if index == self.highlight else (word_style if which == 0 else id_style)
            segments.append(Segment(text, style))
            segments.append(Segment(" ", base))
        return Strip(segments).extend_cell_length(width, base).crop(0, width)


class VocabMap(FrameStyle, ScrollView):
    """word → id, in id order, so that the ids the notebook skips are visible."""

    DEFAULT_CSS = """
    VocabMap {
        background: $surface;
        scrollbar-size: 1 1;
    }
    """

    COMPONENT_CLASSES = {"vocab--id", "vocab--word", "vocab--gap", "vocab--highlight", "vocab--message"}

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.items: list[tuple[str, int]] = []
        self.message = "computing…"
        self.highlight: int | None = None
        """The id to emphasise (the query word's)."""
        self.gaps = True

    def show(self, vocab, message: str = "", *, gaps: bool = True) -> None:
        """`vocab`: token → id in id order. `gaps`: label the ids it skips (the notebook's seed rule)."""
        old, old_state = self.items, (self.message, self.gaps, self._digits())
        self.items = list(vocab.items())
        self.message = message
        self.gaps = gaps
        self.set_virtual_size(Size(20, len(self.items)))
        if not old or old_state != (self.message, self.gaps, self._digits()):
            self.refresh()
            return
        top = int(self.scroll_y)  # a new word changes the lines from its place on: draw only those
        self.repaint_lines(y for y in range(self.size.height)
                           if self._line_key(old, top + y) != self._line_key(self.items, top + y))

    def _digits(self) -> int:
        return len(str(self.items[-1][1])) if self.items else 0

    @staticmethod
    def _line_key(items: list[tuple[str, int]], line: int) -> tuple | None:
        """What line `line` shows: its word and id, and the id before it (for the gap note)."""
        if line >= len(items):
            return None
        return items[line], items[line - 1][1] if line else -1

    def set_highlight(self, token_id: int | None) -> None:
        if token_id == self.highlight:
            return
        old, self.highlight = self.highlight, token_id
        top = int(self.scroll_y)
        for line, (_, i) in enumerate(self.items):
            if i == token_id:
                from textual.geometry import Region

                self.scroll_to_region(Region(0, line, 1, 1), animate=False, immediate=True)
                break
        if int(self.scroll_y) != top:
            self.refresh()  # scrolled: every line is new
            return
        self.repaint_lines(y for y, (_, i) in enumerate(self.items[top:top + self.size.height])
                           if i is not None and i in (old, token_id))  # the old and the new id's lines

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.base_style
        line = y + int(self.scroll_y)
        if not self.items:
            if y == 0 and self.message:
                return Strip([Segment(fit(self.message, width), self.component_style("vocab--message"))])
            return Strip.blank(width, base)
        if line >= len(self.items):
            return Strip.blank(width, base)
        word, token_id = self.items[line]
        digits = self._digits()
        previous = self.items[line - 1][1] if line else -1
        gap = token_id - previous - 1 if self.gaps else 0
        id_style = self.component_style("vocab--id")
        word_style = self.component_style("vocab--word")
        if token_id == self.highlight:
            id_style = word_style = self.component_style("vocab--highlight")
        if gap == 1:
            note = f"  (no id {previous + 1})"
        elif gap > 1:
            note = f"  (no ids {previous + 1}–{token_id - 1})"
        else:
            note = ""
        segments = [Segment(f"{token_id:>{digits}} ", id_style), Segment("→ ", base)]
        room = max(width - digits - 3 - len(note), 1)
        segments.append(Segment(fit(word, room).rstrip(), word_style))
        if note:
            segments.append(Segment(note, self.component_style("vocab--gap")))
        return Strip(segments).extend_cell_length(width, base).crop(0, width)
