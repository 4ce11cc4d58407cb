"""Fields → session → compute service: how an edit becomes a request, and its echo waits for the result.
A layer of ExplorerScreen, between issue 16's (generation, predictions, words) and the panes'."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from textual import on
from textual.widgets import Checkbox, Input, Select

from attn_tui.compute import View
from attn_tui.messages import ComputeFailed, ResultComputed, SourceLoading
from attn_tui.screens.thinking import ThinkingActions
from attn_tui.sources import source_names
from attn_tui.widgets.settings import FIELD_IDS, ID_FIELDS, SettingsPanel

if TYPE_CHECKING:
    from attn_tui.compat import FrameHold
    from attn_tui.compute import Outcome
    from attn_tui.config import AttentionConfig
    from attn_tui.widgets.safe_input import SafeInput

FRAME_HOLD = 0.016
"""The longest an edit's echo waits for the edit's result, so that both show in one frame (s)."""
HOLD_IF_FASTER = 0.008
"""Hold the echo only when the last computation took less than this (s)."""


class EditingFlow(ThinkingActions):
    """Every field's edits, through the session, to the compute service; outcomes come back as messages."""

    _syncing: bool
    _hold: FrameHold | None

    def _render_status(self) -> None:
        raise NotImplementedError

    def _sync_widgets(self, config: AttentionConfig) -> None:
        """Put `config` into the prompt and settings widgets (without triggering a request each)."""
        self.session.load(config)
        self._show_texts(self.session.texts)

    def _show_texts(self, texts: dict[str, Any]) -> None:
        """Put field texts (valid or not) into the widgets, and into the session, without a request each."""
        self._syncing = True
        try:
            with self.prevent(Checkbox.Changed, Select.Changed):  # the inputs: see _syncing
                for field, wid in FIELD_IDS.items():
                    if field not in ("causal", "vocab_mode"):
                        self.query_one(f"#{wid}", Input).value = str(texts[field])
                self.query_one("#causal", Checkbox).value = bool(texts["causal"])
                self.query_one("#vocab-mode", Select).value = texts["vocab_mode"]
            self.session.texts = dict(texts)
        finally:
            self._syncing = False

    def _field_edited(self, box: SafeInput) -> None:
        """A prompt or settings field changed: take its text and request the result at once.

        Called by the field as its value changes, not when its Changed message arrives a frame
        later: at 2,048 words the computation then runs on the other core while the echo's frame is
        drawn, instead of after it. The one path from a field's text to a request.
        """
        if box.id == "compare":
            if self._syncing or box.value == self.session.compare:
                return
            self.session.compare = box.value
            if not box.value.strip():
                self.compare_result = None
                self.ab = "A"
            self.set_class(bool(box.value.strip()), "-comparing")
            self.request()
            return
        field = ID_FIELDS.get(box.id or "")
        if self._syncing or field is None or not self.session.edit(field, box.value):
            return
        if self.request():  # a computation is coming: hold the echo for it
            self._hold_frame()

    def _hold_frame(self) -> None:
        """Hold the frames while an edit's result is coming, for at most FRAME_HOLD seconds.

        Typing draws its echo at once; the result follows a frame later, and Textual paces frames
        1/60 s apart, so a 1 ms computation showed after 30–50 ms. When the last computation was
        quick, the echo waits for the result instead and both show in one frame. A slow one
        (a long prompt, a real model) never holds: the echo shows at once. Quick is the computation's
        own processor time: its wall time also counts waiting for the UI thread, and one computation
        slowed by drawing an echo made the next echo show unheld, which slowed the next computation
        in turn (a tenth of the edits at 10 words took 50-60 ms instead of 10-20: issue 17).
        """
        if self._hold is not None and self.session.last_cpu_seconds <= HOLD_IF_FASTER and self.source == "toy":
            self._hold.hold(FRAME_HOLD)

    def _release_frame(self) -> None:
        if self._hold is not None:
            self._hold.release()

    @on(Checkbox.Changed, "#causal")
    def _causal_changed(self, event: Checkbox.Changed) -> None:
        if self.session.edit("causal", event.checkbox.value):
            self.request()

    @on(Select.Changed, "#vocab-mode")
    def _vocab_mode_changed(self, event: Select.Changed) -> None:
        if isinstance(event.select.value, str) and self.session.edit("vocab_mode", event.select.value):
            self.request()

    @on(Select.Changed, "#model")
    def _source_chosen(self, event: Select.Changed) -> None:
        value = event.select.value
        if isinstance(value, str) and value in source_names() and value != self.source:
            self.source = value

    def request(self, generate: int = 0) -> bool:
        """Validate what the fields say; if valid, hand it to the compute service (latest wins).

        `generate`: tokens to generate after the prompt (a decoder's `n`, issue 16); any edit asks for a plain
        run, which drops the generation. True when a computation was asked for."""
        errors_before = self.session.errors
        self.requested(generate)
        request = self.session.request(View(self.stage, self.model_layer, self.head, self.hide_special, self.words),
                                       generate)
        errors = self.session.errors
        if errors != errors_before:  # re-marking unchanged fields costs a layout on every keystroke
            self.query_one(SettingsPanel).show_errors(errors)
        self.query_one("#prompt", Input).set_class("prompt" in errors, "-bad")
        if request is None:
            self.stale = self.result is not None
            self._render_status()
            return False
        self.service.submit(request)
        self._render_status()
        return True

    def _deliver(self, outcome: Outcome) -> None:
        """From the compute thread: post the outcome to this screen (post_message is thread-safe)."""
        from attn_tui.compute import Computed, Failed

        if isinstance(outcome, Computed):
            self.post_message(ResultComputed(outcome))
        elif isinstance(outcome, Failed):
            self.post_message(ComputeFailed(outcome))
        else:
            self.post_message(SourceLoading(outcome))

