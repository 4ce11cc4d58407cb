"""The explorer: prompt and settings in, every stage of self-attention on screen, recomputed live.

Torch is imported by the compute worker, never here, so the first frame comes before it loads.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import events, on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Container, Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import Checkbox, Footer, Input, Select, Static

from attn_tui.config import (
    DEFAULTS,
    FIELD_NAMES,
    MAX_PROMPT_CHARS,
    AttentionConfig,
    ConfigError,
    field_problems,
    parse_field,
)
from attn_tui.display import printable
from attn_tui.stages import DEFAULT_STAGE, STAGE_BY_NAME, STAGES, Matrix
from attn_tui.widgets.heads import HeadsOverview
from attn_tui.widgets.help import HelpScreen
from attn_tui.widgets.inspector import Inspector
from attn_tui.widgets.matrix import Legend, MatrixView
from attn_tui.widgets.model_view import ModelOverview
from attn_tui.widgets.safe_input import SafeInput
from attn_tui.widgets.settings import FIELD_IDS, ID_FIELDS, SettingsPanel, field_text
from attn_tui.widgets.tokens import TokenIds, VocabMap

if TYPE_CHECKING:
    from attn_tui.attention import AttentionResult

MIN_WIDTH, MIN_HEIGHT = 40, 12
"""Below this the app shows a 'terminal too small' notice instead of its panes."""
WIDE_WIDTH, WIDE_HEIGHT = 110, 32
"""From this size up every pane is on screen at once; below, the panes stack and scroll."""


MODELS = ("toy", "minilm", "smollm2")
"""`toy`: the notebook pipeline; the others: real pretrained heads (attn_tui.models)."""
FRAME_HOLD = 0.016
"""The longest an edit's echo waits for the edit's result, so that both show in one frame (s)."""
HOLD_IF_FASTER = 0.008
"""Hold the echo only when the last computation took less than this (s)."""


@dataclass(frozen=True)
class _Request:
    generation: int
    config: AttentionConfig
    model: str = "toy"


class ResultComputed(Message):
    """The compute worker finished a request."""

    def __init__(self, generation: int, result: AttentionResult, seconds: float,
                 grid: tuple[str, int, Matrix] | None = None) -> None:
        super().__init__()
        self.generation = generation
        self.result = result
        self.seconds = seconds
        self.grid = grid
        """(stage, head, matrix): the grid's matrix, made in the worker for the stage shown then."""


class ModelComputed(Message):
    """The worker ran the prompt through a real model."""

    def __init__(self, generation: int, result: Any, seconds: float) -> None:
        super().__init__()
        self.generation = generation
        self.result = result
        self.seconds = seconds


class ModelProgress(Message):
    """A model is loading: how far, and what it is doing."""

    def __init__(self, fraction: float, label: str) -> None:
        super().__init__()
        self.fraction = fraction
        self.label = label


class ComputeFailed(Message):
    """The compute worker could not finish a request (the backend refused it, or ran out of memory)."""

    def __init__(self, generation: int, field: str | None, message: str) -> None:
        super().__init__()
        self.generation = generation
        self.field = field
        self.message = message


class AttnApp(App[int]):
    """attn-tui: watch self-attention being computed, step by step."""

    CSS_PATH = "app.tcss"
    TITLE = "attn-tui"
    show_timing = True
    """Show the last computation's time in the status bar (snapshot tests turn it off: it varies)."""

    BINDINGS = [
        Binding("ctrl+q", "quit", "Quit", priority=True),
        Binding("f1", "help", "Help", priority=True),
        Binding("ctrl+r", "reset", "Reset", priority=True),
        Binding("escape", "focus_grid", "To grid", show=False),
        Binding("slash", "focus_prompt", "Prompt", show=False),
        Binding("question_mark", "help", "Help", show=False),
        *(Binding(str((i + 1) % 10), f"stage('{s.name}')", f"Stage {s.label}", show=False)
          for i, s in enumerate(STAGES)),
        Binding("s", "cycle_stage(1)", "Stage"),
        Binding("S", "cycle_stage(-1)", "Previous stage", show=False),
        Binding("left_square_bracket", "cycle_head(-1)", "Head −", show=False),
        Binding("right_square_bracket", "cycle_head(1)", "Head", key_display="[ ]"),
        Binding("o", "toggle_overview", "Overview"),
        Binding("c", "toggle_causal", "Causal"),
        Binding("v", "toggle_vocab_mode", "Vocab mode", show=False),
        Binding("z", "toggle_compact", "Zoom", show=False),
        Binding("comma", "cycle_layer(-1)", "Layer −", show=False),
        Binding("full_stop", "cycle_layer(1)", "Layer", key_display=", ."),
        Binding("x", "toggle_special", "Hide special"),
        Binding("m", "cycle_model", "Model", show=False),
        Binding("e", "export", "Export"),
        Binding("r", "reset", "Reset", show=False),
    ]

    result: reactive[AttentionResult | None] = reactive(None, init=False, repaint=False)
    """The latest result the backend returned; None until the first one."""
    stage: reactive[str] = reactive(DEFAULT_STAGE, init=False)
    """The stage the big grid shows."""
    head: reactive[int] = reactive(0, init=False)
    """The head shown, for per-head stages (0-based)."""
    overview: reactive[bool] = reactive(False, init=False)
    """Show every head side by side instead of one head's grid."""
    stale: reactive[bool] = reactive(False, init=False)
    """The shown result is not the one the current settings describe."""
    model: reactive[str] = reactive("toy", init=False)
    """Which pipeline the panes show: `toy` (the notebook) or a real model."""
    model_result: reactive[Any] = reactive(None, init=False)
    """The latest attn_tui.models.ModelResult; None until a real model has run."""
    layer: reactive[int] = reactive(0, init=False)
    """The real model's layer shown (0-based)."""
    hide_special: reactive[bool] = reactive(False, init=False)
    """Hide special/first tokens of a real model and renormalise the rows."""

    def __init__(self, config: AttentionConfig | None = None, model: str = "toy",
                 export_dir: str | Path = ".", **fields: Any) -> None:
        from attn_tui import runtime

        runtime.configure_malloc()  # before any worker thread exists
        super().__init__()
        self.export_dir = Path(export_dir)
        """Where exports go; the export dialog can change it."""
        start = (config or DEFAULTS).replace(**fields)
        self.start_config = start
        """The state the app opened with (flags or keyword arguments)."""
        self.set_reactive(AttnApp.model, model if model in MODELS else "toy")
        self._texts: dict[str, Any] = {name: getattr(start, name) for name in FIELD_NAMES}
        self._errors: dict[str, str] = {}
        self._generation = 0
        self._shown_generation = 0
        self._pending: _Request | None = None
        self._busy = False
        """A request is waiting or being computed."""
        self._wake = threading.Condition()
        """Guards _pending, _busy and _closing; the worker waits on it for the next request."""
        self._closing = False
        self._worker: threading.Thread | None = None
        self._last_seconds = 0.0
        self._status_note = "loading torch…"
        self._frame_hold: asyncio.TimerHandle | None = None
        self._syncing = False
        self._prepared: tuple[AttentionResult, str, int, Matrix] | None = None
        """(result, stage, head, matrix) from the worker: the grid's next matrix, already made."""

    # -- layout ---------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Static("", id="status", markup=False)
        with Vertical(id="prompt-box"):
            yield SafeInput(self.start_config.prompt, id="prompt", compact=True, select_on_focus=False,
                        placeholder="type a prompt: words separated by spaces")
        with Container(id="main"):
            with Vertical(id="center"):
                with Vertical(id="tokens-box", classes="pane"):
                    yield TokenIds(id="token-ids")
                with Vertical(id="stage-box", classes="pane"):
                    yield Static("", id="stage-bar", markup=False)
                    yield MatrixView(id="attention-grid")
                    yield HeadsOverview(id="heads-overview")
                    yield ModelOverview(id="model-view")
                    yield Legend(id="legend")
            with Vertical(id="right"):
                with Vertical(id="embeddings-box", classes="pane"):
                    yield MatrixView(id="embeddings", show_cursor=False)
                with Vertical(id="inspector-box", classes="pane"):
                    yield Inspector(id="inspector")
            with Vertical(id="left"):
                with Vertical(id="settings-box", classes="pane"):
                    yield SettingsPanel(id="settings")
                with Vertical(id="vocab-box", classes="pane"):
                    yield VocabMap(id="vocab-map")
        yield Static("Terminal too small.", id="too-small", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        titles = {
            "prompt-box": "Prompt",
            "tokens-box": "Token ids",
            "stage-box": "Stage",
            "embeddings-box": "Embeddings",
            "inspector-box": "Inspector",
            "settings-box": "Settings",
            "vocab-box": "Vocab map",
        }
        for wid, title in titles.items():
            self.query_one(f"#{wid}").border_title = title
        prompt = self.query_one("#prompt", Input)
        prompt.cursor_blink = False
        for field in self.query(SafeInput):
            field.on_edit = self._field_edited
        prompt.focus()
        self._sync_widgets(self.start_config)
        with self.prevent(Select.Changed):
            self.query_one("#model", Select).value = self.model
        self._apply_model_class()
        self._update_layout_class()
        self._render_stage_bar()
        self._render_status()
        # Let the first frame reach the terminal before the worker starts importing torch.
        self.call_after_refresh(self._request)

    def on_resize(self, event: events.Resize) -> None:
        # The event's size: this handler runs before App._on_resize stores it, so self.size would
        # still be the previous one and the layout would lag a resize behind (too small at 120 × 40).
        self._update_layout_class(event.size)

    def _update_layout_class(self, size: tuple[int, int] | None = None) -> None:
        width, height = size or self.size
        screen = self.query_one("#main").screen  # not self.screen: help or a dialog may be on top
        too_small = width < MIN_WIDTH or height < MIN_HEIGHT
        if too_small:  # short lines: they must read at 30 columns and less
            self.query_one("#too-small", Static).update(
                f"Terminal too small: {width} × {height}.\nattn-tui needs {MIN_WIDTH} × {MIN_HEIGHT}.\nctrl+q quits.")
        screen.set_class(too_small, "-too-small")
        screen.set_class(width < WIDE_WIDTH or height < WIDE_HEIGHT, "-narrow")

    # -- settings → requests --------------------------------------------------------------------

    def _sync_widgets(self, config: AttentionConfig) -> None:
        """Put `config` into the prompt and settings widgets (without triggering a request each)."""
        self._syncing = True
        with self.prevent(Checkbox.Changed, Select.Changed):  # the inputs: see _syncing
            self.query_one("#prompt", Input).value = config.prompt
            for field, wid in FIELD_IDS.items():
                if field in ("prompt", "causal", "vocab_mode"):
                    continue
                self.query_one(f"#{wid}", Input).value = field_text(field, getattr(config, field))
            self.query_one("#causal", Checkbox).value = config.causal
            self.query_one("#vocab-mode", Select).value = config.vocab_mode
        self._texts = {name: getattr(config, name) for name in FIELD_NAMES}
        for field in FIELD_IDS:
            if field not in ("prompt", "causal", "vocab_mode"):
                self._texts[field] = field_text(field, getattr(config, field))
        self._syncing = False

    def _field_edited(self, box: SafeInput) -> None:
        """A prompt or settings field changed: take its text and request the result at once.

        Called by the field as its value changes, not when its Changed message arrives a frame
        later: at 2,048 words the computation then runs on the other core while the echo's frame is
        drawn, instead of after it. The one path from a field's text to a request.
        """
        field = ID_FIELDS.get(box.id or "")
        if self._syncing or field is None or self._texts.get(field) == box.value:
            return
        self._texts[field] = box.value
        generation = self._generation
        self._request()
        if self._generation != generation:  # a computation is coming: hold the echo for it
            self._hold_frame()

    def _hold_frame(self) -> None:
        """Hold the frames while an edit's result is coming, for at most FRAME_HOLD seconds.

        Typing draws its echo at once; the result follows a frame later, and Textual paces frames
        1/60 s apart, so a 1 ms computation showed after 30–50 ms. When the last computation was
        quick, the echo waits for the result instead and both show in one frame. A slow one
        (a long prompt, a real model) never holds: the echo shows at once.
        """
        if self._frame_hold is not None or self.model != "toy" or self._last_seconds > HOLD_IF_FASTER:
            return
        loop = asyncio.get_running_loop()
        self._begin_batch()  # App.delay_update's mechanism, ended when the result is drawn (or failed)
        # A plain event-loop timer, cancelled when the result comes first.
        self._frame_hold = loop.call_later(FRAME_HOLD, self._release_frame)

    def _release_frame(self) -> None:
        hold, self._frame_hold = self._frame_hold, None
        if hold is None:
            return
        hold.cancel()
        self._end_batch()
        self.screen.check_idle()  # the widgets refreshed during the hold: draw them now

    @on(Checkbox.Changed, "#causal")
    def _causal_changed(self, event: Checkbox.Changed) -> None:
        if self._texts["causal"] != event.checkbox.value:
            self._texts["causal"] = event.checkbox.value
            self._request()

    @on(Select.Changed, "#model")
    def _model_changed(self, event: Select.Changed) -> None:
        value = event.select.value
        if isinstance(value, str) and value in MODELS and value != self.model:
            self.model = value

    def watch_model(self) -> None:
        # Quietly: setting them through their watchers drew the new model with the old one's head
        # (MiniLM's head 2 on the one-head toy: IndexError). _render_all below draws it all once.
        self.set_reactive(AttnApp.layer, 0)
        self.set_reactive(AttnApp.head, 0)
        self.overview = False
        self._apply_model_class()
        self._render_all()
        self._request()

    def _apply_model_class(self) -> None:
        real = self.model != "toy"
        self.screen.set_class(real, "-model")
        self.query_one(SettingsPanel).set_model_mode(real)
        select = self.query_one("#model", Select)
        if select.value != self.model:
            with self.prevent(Select.Changed):
                select.value = self.model

    @on(Select.Changed, "#vocab-mode")
    def _vocab_mode_changed(self, event: Select.Changed) -> None:
        value = event.select.value
        if isinstance(value, str) and self._texts["vocab_mode"] != value:
            self._texts["vocab_mode"] = value
            self._request()

    def current_config(self) -> tuple[AttentionConfig | None, dict[str, str]]:
        """The config the widgets describe, or None and the problems (field → message)."""
        values: dict[str, Any] = {}
        errors: dict[str, str] = {}
        for name in FIELD_NAMES:
            raw = self._texts[name]
            if isinstance(raw, str) and name != "vocab_mode":
                try:
                    values[name] = parse_field(name, raw)
                except ConfigError as error:
                    errors[name] = str(error)
            else:
                values[name] = raw
        if errors:
            return None, errors
        config = DEFAULTS.replace(**values)
        problems = field_problems(config)
        if problems:
            return None, {p.field: str(p) for p in problems}
        return config, {}

    def _request(self) -> None:
        """Validate what the widgets say; if valid, hand it to the compute worker (latest wins)."""
        if self.model != "toy":
            self._request_model()
            return
        config, errors = self.current_config()
        if errors != self._errors:  # re-marking unchanged fields costs a layout on every keystroke
            self.query_one(SettingsPanel).show_errors(errors)
        self._errors = errors
        self.query_one("#prompt", Input).set_class("prompt" in errors, "-bad")
        if config is None:
            self.stale = self.result is not None
            self._render_status()
            return
        self._submit(_Request(self._generation + 1, config))

    def _request_model(self) -> None:
        prompt = str(self._texts["prompt"])
        errors = {}
        if not prompt.strip():
            errors["prompt"] = "prompt is empty: type at least one word"
        elif len(prompt) > MAX_PROMPT_CHARS:
            errors["prompt"] = f"prompt has {len(prompt):,} characters: at most {MAX_PROMPT_CHARS:,} allowed"
        self._errors = errors
        self.query_one(SettingsPanel).show_errors({})
        self.query_one("#prompt", Input).set_class(bool(errors), "-bad")
        if errors:
            self.stale = self.model_result is not None
            self._render_status()
            return
        self._submit(_Request(self._generation + 1, self.start_config.replace(prompt=prompt), self.model))

    def _submit(self, request: _Request) -> None:
        self._generation = request.generation
        with self._wake:
            self._pending = request  # replaces any request still waiting: the latest wins
            self._busy = True
            self._wake.notify()
        if self._worker is None:
            # Started with the first request, after the first frame: its first act is importing torch.
            self._worker = threading.Thread(target=self._compute_loop, name="attn-tui compute", daemon=True)
            self._worker.start()
        self._render_status()

    def on_unmount(self) -> None:
        with self._wake:
            self._closing = True
            self._wake.notify()

    def _compute_loop(self) -> None:
        """The compute worker: one thread for the app's life, computing the newest request each time.

        A thread of its own rather than a Textual worker per request: it is already waiting when a
        key arrives, so the computation starts at once (a new worker started only after the frame
        being drawn, 5–10 ms later), and runs on the other core while the UI thread draws.
        """
        from attn_tui import runtime

        try:
            runtime.configure_torch()
            from attn_tui.attention import compute
            from attn_tui.stages import stage_matrix
        except Exception as error:  # noqa: BLE001 — a broken torch install is said, not raised in a thread
            with self._wake:
                self._closing, self._busy = True, False
            self.post_message(ComputeFailed(self._generation, None, f"could not load torch: {error}"))
            return

        while True:
            with self._wake:
                while self._pending is None and not self._closing:
                    self._busy = False
                    self._wake.wait()
                if self._closing:
                    self._busy = False
                    return
                request, self._pending = self._pending, None
            started = time.perf_counter()
            try:
                if request.model != "toy":
                    self._run_model(request, started)
                    continue
                result = compute(request.config)
                seconds = time.perf_counter() - started
                # The grid's matrix (its colour range is two passes over T² cells) is made here too,
                # off the UI thread, for the stage and head shown now; if they change meanwhile, the UI
                # makes its own.
                stage, head = self.stage, min(self.head, result.config.heads - 1)
                grid = (stage, head, stage_matrix(result, stage, head))
            except ConfigError as error:  # validated already; kept so that nothing can escape
                self.post_message(ComputeFailed(request.generation, error.field, str(error)))
            except Exception as error:  # noqa: BLE001 — the worker outlives any failure and says what it was
                self.post_message(ComputeFailed(request.generation, None, f"could not compute: {error}"))
            else:
                self.post_message(ResultComputed(request.generation, result, seconds, grid))

    def _run_model(self, request: _Request, started: float) -> None:
        """In the worker: load the model (once) and run the prompt; every failure becomes a message."""
        from attn_tui import models

        def progress(fraction: float, label: str) -> None:
            self.post_message(ModelProgress(fraction, label))

        try:
            result = models.load(request.model, progress).run(request.config.prompt)
        except models.ModelUnavailable as error:
            self.post_message(ComputeFailed(request.generation, "model", str(error)))
        except models.PromptTooLong as error:
            self.post_message(ComputeFailed(request.generation, "prompt", str(error)))
        except (ValueError, MemoryError, RuntimeError, OSError) as error:
            self.post_message(ComputeFailed(request.generation, "model", f"{request.model}: {error}"))
        else:
            self.post_message(ModelComputed(request.generation, result, time.perf_counter() - started))

    @on(ModelProgress)
    def _model_progress(self, event: ModelProgress) -> None:
        self._status_note = f"{event.label} {event.fraction:.0%}"
        self._render_status()

    @on(ModelComputed)
    def _model_computed(self, event: ModelComputed) -> None:
        if event.generation < self._shown_generation or self.model != event.result.model:
            return
        self._shown_generation = event.generation
        self._last_seconds = event.seconds
        self._status_note = ""
        self.stale = event.generation != self._generation or bool(self._errors)
        self.model_result = event.result

    def watch_model_result(self) -> None:
        result = self.model_result
        if result is None:
            return
        self.layer = min(self.layer, result.n_layers - 1)
        self.head = min(self.head, result.n_heads - 1)
        self._render_all()

    @on(ResultComputed)
    def _result_computed(self, event: ResultComputed) -> None:
        if event.generation < self._shown_generation:
            return
        self._shown_generation = event.generation
        self._last_seconds = event.seconds
        self._status_note = ""
        self.stale = event.generation != self._generation or bool(self._errors)
        self._prepared = (event.result, *event.grid) if event.grid is not None else None
        self.result = event.result
        if event.generation == self._generation:
            self._release_frame()

    @on(ComputeFailed)
    def _compute_failed(self, event: ComputeFailed) -> None:
        if event.generation == self._generation:
            self._errors = {event.field or "prompt": event.message}
            self._shown_generation = event.generation
            self.query_one(SettingsPanel).show_errors(self._errors)
            self.query_one("#prompt", Input).set_class(event.field == "prompt", "-bad")
            self.stale = self._shown_result() is not None
            self._render_status()
            self._release_frame()
            if event.field == "model":
                self.notify(event.message, title="Model unavailable", severity="error", timeout=8)

    def _shown_result(self) -> Any:
        """The result the panes show: the toy's, or the current model's (None until it has run)."""
        if self.model == "toy":
            return self.result
        real = self.model_result
        return real if real is not None and real.model == self.model else None

    # -- result → panes -------------------------------------------------------------------------

    @property
    def dark(self) -> bool:
        return self.current_theme.dark

    def watch_result(self) -> None:
        result = self.result
        if result is None:
            return
        self.head = min(self.head, result.config.heads - 1)
        if self.model == "toy":
            self._render_all()

    def _render_all(self) -> None:
        """Push the shown result (toy or real model) into every pane."""
        if not self.is_mounted:
            return
        if self.model != "toy":
            result = self._shown_result()
            if result is None:
                message = f"loading {self.model}…"
                self.query_one("#token-ids", TokenIds).show((), (), message)
                self.query_one("#vocab-map", VocabMap).show({}, message)
                self.query_one("#embeddings", MatrixView).set_matrix(None, message=message)
                self.query_one("#attention-grid", MatrixView).set_matrix(None, message=message)
                self.query_one("#legend", Legend).show(None)
                self._render_stage_bar()
                self._render_status()
                return
            vocab = dict(sorted({t: i for t, i in zip(result.tokens, result.token_ids, strict=True)}.items(),
                                key=lambda item: item[1]))
            self.query_one("#token-ids", TokenIds).show(result.tokens, result.token_ids)
            self.query_one("#vocab-map", VocabMap).show(vocab, gaps=False)
        elif self.result is not None:
            self.query_one("#token-ids", TokenIds).show(self.result.words, self.result.token_ids)
            self.query_one("#vocab-map", VocabMap).show(self.result.vocab)
        else:
            return
        self._render_embeddings()
        self._render_stage()
        self._render_stage_bar()
        self._render_status()

    def watch_stale(self, stale: bool) -> None:
        for pane in self.query(".pane"):
            pane.set_class(stale, "-stale")
            if pane.id != "settings-box":
                pane.border_subtitle = "stale" if stale else ""
        self._render_status()

    def watch_stage(self) -> None:
        self._render_stage_bar()
        self._render_stage()

    def watch_head(self) -> None:
        self._render_stage_bar()
        self._render_stage()

    def watch_layer(self) -> None:
        self._render_stage_bar()
        self._render_stage()

    def watch_hide_special(self) -> None:
        self._render_stage_bar()
        self._render_stage()

    def watch_overview(self) -> None:
        self.query_one("#stage-box").set_class(self.overview and self.model == "toy", "-overview")
        self.query_one("#stage-box").set_class(self.overview and self.model != "toy", "-model-overview")
        self._render_stage()

    def watch_theme(self) -> None:
        if self.is_mounted and self._shown_result() is not None:
            self._render_embeddings()
            self._render_stage()

    def _render_embeddings(self) -> None:
        from attn_tui.stages import embedding_matrix, model_embedding_matrix

        if self.model != "toy":
            if self.model_result is None:
                return
            matrix = model_embedding_matrix(self.model_result)
        elif self.result is None:
            return
        else:
            matrix = embedding_matrix(self.result)
        self._set_border_title("#embeddings-box", f"Embeddings {matrix.title}")
        self.query_one("#embeddings", MatrixView).set_matrix(matrix, dark=self.dark)

    def _render_stage(self) -> None:
        if self.model != "toy":
            self._render_model_stage()
            return
        from attn_tui.stages import stage_matrix

        result = self.result
        if result is None:
            return
        grid = self.query_one("#attention-grid", MatrixView)
        prepared = self._prepared
        if prepared is not None and prepared[0] is result and prepared[1:3] == (self.stage, self.head):
            matrix = prepared[3]
        else:
            matrix = stage_matrix(result, self.stage, self.head)
        self._set_border_title("#stage-box", matrix.title)
        grid.set_matrix(matrix, dark=self.dark)
        self.query_one("#legend", Legend).show(matrix, dark=self.dark)
        overview = self.query_one("#heads-overview", HeadsOverview)
        if self.overview:
            overview.show(result.weights.numpy(), self.head, dark=self.dark)
        self._render_inspector()

    def _render_model_stage(self) -> None:
        from attn_tui.stages import model_matrix

        result = self.model_result
        if result is None or result.model != self.model:
            return
        matrix = model_matrix(result, self.layer, self.head, self.hide_special)
        self._set_border_title("#stage-box", matrix.title)
        self.query_one("#attention-grid", MatrixView).set_matrix(matrix, dark=self.dark)
        self.query_one("#legend", Legend).show(matrix, dark=self.dark)
        if self.overview:
            self.query_one("#model-view", ModelOverview).show(
                result.attentions.numpy(), (self.layer, self.head), dark=self.dark)
        self._render_inspector()

    @on(ModelOverview.HeadChosen)
    def _head_chosen(self, event: ModelOverview.HeadChosen) -> None:
        self.layer, self.head = event.layer, event.head
        self.overview = False
        self.action_focus_grid()

    def _set_border_title(self, selector: str, title: str) -> None:
        """Set a pane's title only when it changes: every assignment repaints the whole pane."""
        box = self.query_one(selector)
        if box.border_title != title:
            box.border_title = title

    def _render_stage_bar(self) -> None:
        from rich.text import Text

        bar = Text(no_wrap=True, overflow="ellipsis")
        if self.model != "toy":
            result = self.model_result
            if result is not None and result.model == self.model:
                bar.append(", .", "bold")
                bar.append(f" layer {self.layer + 1}/{result.n_layers}  ")
                bar.append("[ ]", "bold")
                bar.append(f" head {self.head + 1}/{result.n_heads}  ")
                bar.append("o", "bold")
                bar.append(" all heads  ")
                bar.append("x", "bold")
                bar.append(" special " + ("hidden" if self.hide_special else "shown"))
            self.query_one("#stage-bar", Static).update(bar)
            return
        for i, stage in enumerate(STAGES):
            current = stage.name == self.stage
            bar.append(f"{(i + 1) % 10}", "bold" if not current else "bold reverse")
            bar.append(stage.short, "reverse" if current else "")
            bar.append(" ")
        stage_bar = self.query_one("#stage-bar", Static)
        if stage_bar.content != bar:  # unchanged on every edit: no repaint then
            stage_bar.update(bar, layout=False)  # height 1: no layout needed

    @on(MatrixView.CursorMoved, "#attention-grid")
    def _cursor_moved(self, event: MatrixView.CursorMoved) -> None:
        self._render_inspector()

    def _render_inspector(self) -> None:
        from attn_tui.explain import explain

        grid = self.query_one("#attention-grid", MatrixView)
        row, col = grid.cursor
        matrix = grid.matrix
        if matrix is None:
            return
        row = min(row, matrix.shape[0] - 1)
        col = min(col, matrix.shape[1] - 1)
        if self.model != "toy":
            from attn_tui.explain import explain_model
            from attn_tui.stages import kept_tokens

            real = self.model_result
            if real is None:
                return
            self.query_one(Inspector).show(explain_model(real, self.layer, self.head, row, col, self.hide_special))
            query = int(kept_tokens(real.special, self.hide_special)[row])
            self.query_one("#token-ids", TokenIds).set_highlight(query)
            self._highlight_embedding_row(query)
            self.query_one("#vocab-map", VocabMap).set_highlight(real.token_ids[query])
            return
        result = self.result
        if result is None:
            return
        self.query_one(Inspector).show(explain(result, self.stage, self.head, row, col))
        query = row if matrix.rows_are_tokens else None
        self.query_one("#token-ids", TokenIds).set_highlight(query)
        self._highlight_embedding_row(query)
        self.query_one("#vocab-map", VocabMap).set_highlight(
            result.token_ids[query] if query is not None else None)

    def _highlight_embedding_row(self, query: int | None) -> None:
        embeddings = self.query_one("#embeddings", MatrixView)
        if embeddings.set_highlight(query) and query is not None:
            embeddings.scroll_to(y=max(query - embeddings.size.height // 2, 0), animate=False)

    def _render_status(self) -> None:
        result = self._shown_result()
        if self._errors:
            first = printable(next(iter(self._errors.values())))
            state = f"✗ stale · {first}" if result is not None else f"✗ {first}"
        elif self._generation != self._shown_generation or result is None:
            state = "◌ computing…" if result is not None else f"◌ {self._status_note or 'computing…'}"
        else:
            state = "● current"
        parts = [f"attn-tui · {self.model}", state]
        if result is not None:
            if self.model == "toy":
                c = result.config
                summary = (f"T={result.n_tokens} · d_model {c.d_model} · d_k {c.d_k} · d_v {c.d_v} · "
                           f"heads {c.heads}{' · causal' if c.causal else ''}")
            else:
                summary = (f"T={result.n_tokens} tokens · {result.n_layers} layers × {result.n_heads} heads · "
                           f"{'causal' if result.causal else 'bidirectional'}")
            parts.append(summary + (f" · {self._last_seconds * 1000:.1f} ms" if self.show_timing else ""))
        status = self.query_one("#status", Static)
        text = "  ".join(parts)
        if status.content != text:
            status.update(text, layout=False)  # one line, fixed height: a repaint, not a layout
        status.set_class(bool(self._errors), "-error")

    # -- actions --------------------------------------------------------------------------------

    def _heads(self) -> int:
        if self.model != "toy":
            return self.model_result.n_heads if self.model_result is not None else 1
        return self.result.config.heads if self.result is not None else 1

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide what does not apply: toy stages with a real model, layers with the toy, heads with one."""
        real = self.model != "toy"
        if action in ("cycle_layer", "toggle_special"):
            return real
        if real and action in ("stage", "cycle_stage", "toggle_causal", "toggle_vocab_mode", "toggle_compact"):
            return False
        if (action == "cycle_head" or (action == "toggle_overview" and not real)) and self._heads() < 2:
            return None
        return True

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_command_palette(self) -> None:
        """Open the palette unless one is open already: under the help screen (ctrl+p, f1, ctrl+p)
        Textual's own check sees only the top screen and a second palette crashes on its id."""
        from textual.command import CommandPalette

        from attn_tui.widgets.palette import Palette

        if self.use_command_palette and not any(isinstance(s, CommandPalette) for s in self.screen_stack):
            self.push_screen(Palette(id="--command-palette"))

    def action_focus_grid(self) -> None:
        self.query_one("#attention-grid", MatrixView).focus()

    def action_focus_prompt(self) -> None:
        self.query_one("#prompt", Input).focus()

    def action_stage(self, name: str) -> None:
        if name in STAGE_BY_NAME:
            self.stage = name

    def action_cycle_stage(self, step: int) -> None:
        names = [s.name for s in STAGES]
        self.stage = names[(names.index(self.stage) + step) % len(names)]

    def action_cycle_head(self, step: int) -> None:
        self.head = (self.head + step) % self._heads()

    def action_set_head(self, head: int) -> None:
        self.head = min(max(head, 0), self._heads() - 1)

    def action_cycle_layer(self, step: int) -> None:
        if self.model_result is not None:
            self.layer = (self.layer + step) % self.model_result.n_layers

    def action_toggle_special(self) -> None:
        self.hide_special = not self.hide_special

    def action_set_model(self, model: str) -> None:
        if model in MODELS:
            self.model = model

    def action_cycle_model(self) -> None:
        self.model = MODELS[(MODELS.index(self.model) + 1) % len(MODELS)]

    def action_toggle_overview(self) -> None:
        self.overview = not self.overview
        if self.overview and self.model != "toy":
            self.query_one("#model-view", ModelOverview).focus()

    def action_toggle_causal(self) -> None:
        box = self.query_one("#causal", Checkbox)
        box.value = not box.value

    def action_toggle_vocab_mode(self) -> None:
        select = self.query_one("#vocab-mode", Select)
        select.value = "dense" if select.value == "seed" else "seed"

    def action_set_vocab_mode(self, mode: str) -> None:
        self.query_one("#vocab-mode", Select).value = mode

    def action_toggle_compact(self) -> None:
        grid = self.query_one("#attention-grid", MatrixView)
        grid.compact = not grid._compact_now

    # -- export ---------------------------------------------------------------------------------

    def _command(self) -> str:
        from attn_tui.export import command_line

        if self.model != "toy":
            prompt = self.model_result.prompt if self.model_result is not None else str(self._texts["prompt"])
            return command_line(DEFAULTS.replace(prompt=prompt), self.model)
        config = self.result.config if self.result is not None else self.start_config
        return command_line(config)

    def action_export(self) -> None:
        from attn_tui.widgets.export_screen import ExportScreen

        if self._shown_result() is None:
            self.notify("Nothing to export yet.", severity="warning")
            return
        if isinstance(self.screen, ExportScreen):
            return
        self.push_screen(ExportScreen(self.export_dir, self._command(), toy=self.model == "toy"),
                         self._export_chosen)

    def action_export_as(self, kind: str) -> None:
        from attn_tui.widgets.export_screen import ExportRequest

        self._export_chosen(ExportRequest(kind, self.export_dir))

    def _export_chosen(self, request: Any) -> None:
        if request is None:
            return
        self.export_dir = request.directory
        if request.kind == "screen":
            self.call_after_refresh(self._export_screen, request)
            return
        self._export(request)

    def _export_screen(self, request: Any) -> None:
        from attn_tui.export import ExportExists

        path = request.directory / "attn-screen.svg"
        if path.exists() and not request.overwrite:
            self._confirm_overwrite(ExportExists(path), request)
            return
        try:
            request.directory.mkdir(parents=True, exist_ok=True)
            self.save_screenshot(filename=path.name, path=str(request.directory))
        except OSError as error:
            self.notify(f"could not write {path}: {error.strerror or error}", severity="error")
            return
        self.notify(f"wrote {path}", title="Exported", timeout=6)

    @work(thread=True, group="export", exit_on_error=False)
    def _export(self, request: Any) -> None:
        """Write one export off the UI thread (a 4,096-word CSV takes seconds)."""
        from attn_tui import export

        result = self._shown_result()
        head, layer = self.head, self.layer
        stage = self.stage if self.model == "toy" else "weights"
        if request.kind == "script" and self.model != "toy":
            self.call_from_thread(self.notify, "The script recomputes the toy pipeline; a real model has none.",
                                  severity="warning")
            return
        try:
            if request.kind == "json":
                paths = [export.export_json(result, request.directory, overwrite=request.overwrite)]
            elif request.kind == "csv":
                paths = export.export_csv(result, stage, head, request.directory, overwrite=request.overwrite,
                                          layer=layer)
            elif request.kind == "npz":
                paths = [export.export_npz(result, request.directory, overwrite=request.overwrite)]
            elif request.kind == "grid":
                paths = [export.export_svg_grid(result, stage, head, request.directory,
                                                overwrite=request.overwrite, layer=layer)]
            else:
                paths = [export.export_script(result.config, request.directory, overwrite=request.overwrite)]
        except export.ExportExists as error:
            self.call_from_thread(self._confirm_overwrite, error, request)
            return
        except (OSError, ValueError) as error:
            self.call_from_thread(self.notify, f"could not export: {error}", severity="error", timeout=8)
            return
        where = ", ".join(str(p) for p in paths)
        self.call_from_thread(self.notify, f"wrote {where}", title="Exported", timeout=6)

    def _confirm_overwrite(self, error: Any, request: Any) -> None:
        from dataclasses import replace

        from attn_tui.widgets.export_screen import ConfirmOverwrite

        def answered(yes: bool | None) -> None:
            if yes:
                self._export_chosen(replace(request, overwrite=True))
            else:
                self.notify(f"kept {error.path}", timeout=3)

        self.push_screen(ConfirmOverwrite(error.path), answered)

    def action_show_command(self) -> None:
        command = self._command()
        self.copy_to_clipboard(command)
        self.notify(command, title="Command line (copied)", timeout=10)

    def action_reset(self) -> None:
        """Restore the notebook's defaults (every setting and the prompt) and recompute."""
        self._sync_widgets(DEFAULTS)
        self.model = "toy"  # the notebook is the toy pipeline; a real model is a setting too
        self.stage = DEFAULT_STAGE
        self.head = 0
        self.overview = False
        self.query_one("#attention-grid", MatrixView).compact = None
        self._request()
        self.notify("Reset to the notebook's defaults.", timeout=2)

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for stage in STAGES:
            yield SystemCommand(f"Stage: {stage.label}", f"{stage.formula} — {stage.explain}",
                                lambda name=stage.name: self.action_stage(name))
        heads = self.result.config.heads if self.result is not None else 1
        for h in range(heads if heads > 1 else 0):
            yield SystemCommand(f"Head {h + 1}", f"show head {h + 1} of {heads}",
                                lambda h=h: self.action_set_head(h))
        if heads > 1:
            yield SystemCommand("Toggle heads overview", "every head's weights side by side",
                                self.action_toggle_overview)
        for name in MODELS:
            yield SystemCommand(f"Model: {name}", "the notebook pipeline" if name == "toy" else
                                "real pretrained attention heads (needs the models extra)",
                                lambda name=name: self.action_set_model(name))
        if self.model != "toy":
            yield SystemCommand("Toggle special tokens", "hide [CLS]/[SEP]/first tokens and renormalise rows",
                                self.action_toggle_special)
            yield SystemCommand("Next layer", "show the next layer", lambda: self.action_cycle_layer(1))
            yield SystemCommand("Model view: every layer × head", "small maps; Enter opens one",
                                self.action_toggle_overview)
        yield SystemCommand("Toggle causal mask", "mask keys after the query", self.action_toggle_causal)
        yield SystemCommand("Vocab mode: seed", "the notebook's ids (they skip numbers)",
                            lambda: self.action_set_vocab_mode("seed"))
        yield SystemCommand("Vocab mode: dense", "distinct words numbered 0..n-1",
                            lambda: self.action_set_vocab_mode("dense"))
        for kind, label in (("json", "JSON"), ("csv", "CSV of the grid"), ("npz", "NumPy .npz"),
                            ("grid", "SVG of the grid"), ("screen", "SVG of the screen"),
                            ("script", "Python script")):
            yield SystemCommand(f"Export: {label}", f"write it to {self.export_dir}",
                                lambda kind=kind: self.action_export_as(kind))
        yield SystemCommand("Export…", "choose a format and a folder", self.action_export)
        yield SystemCommand("Show the command line", "the attn-tui command that reopens this state (copied)",
                            self.action_show_command)
        yield SystemCommand("Zoom: numbers / colour blocks", "toggle the grid's cell size", self.action_toggle_compact)
        yield SystemCommand("Reset to the notebook", "restore every default setting and the prompt",
                            self.action_reset)
        yield SystemCommand("Focus the prompt", "edit the text", self.action_focus_prompt)
        yield SystemCommand("Focus the grid", "move the cursor over the cells", self.action_focus_grid)
        yield SystemCommand("Help", "every key and pane", self.action_help)
