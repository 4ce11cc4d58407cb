"""The compute service: one thread for the app's life that runs the newest request, and says how it went.

No textual: the app hands it immutable requests and a `deliver` callback (which posts a message);
it never reads the app's state. Latest wins: a request still waiting when a newer one arrives is
dropped, never queued. Every failure is delivered, including the service's own (torch not loading):
nothing is ever left saying "computing…".
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from attn_tui.config import AttentionConfig, ConfigError
from attn_tui.sources import SourceFailure, source_spec

if TYPE_CHECKING:
    from attn_tui.result import Result
    from attn_tui.sources import Source
    from attn_tui.stages import Matrix


@dataclass(frozen=True)
class View:
    """What the grid will show when the result arrives, so its matrix can be made off the UI thread."""

    stage: str
    layer: int = 0
    head: int = 0
    hide_special: bool = False
    words: bool = False
    """The word view: subword tokens merged into the prompt's words (stages that add up)."""


@dataclass(frozen=True)
class Request:
    """One computation: which source, with which settings, for which request of the session."""

    generation: int
    """The session's request counter; results of older requests are not shown."""
    source: str
    config: AttentionConfig
    view: View
    compare: str | None = None
    """Prompt B: run too, with the same source and settings, for the comparison views."""
    generate: int = 0
    """Tokens to generate after the prompt (a decoder's greedy `Model.generate`); 0: a plain run."""


@dataclass(frozen=True)
class Computed:
    """A request's result, with the grid's matrix for the request's view (None if the stage is absent)."""

    request: Request
    result: Result
    seconds: float
    grid: Matrix | None
    compare: Result | None = None
    """Prompt B's result, when the request had one."""
    progress: tuple[float, str] | None = None
    """A generation still running: (fraction done, what it did last) after the tokens in `result`; None: done."""
    stopped: str = ""
    """Why a generation ended early (cancelled: `result` holds the tokens made before), or ""."""
    cpu_seconds: float | None = None
    """The compute thread's own processor time for it (`seconds` also counts waiting for the interpreter
    lock while the UI thread draws); None when not measured."""


@dataclass(frozen=True)
class Failed:
    """A request the source refused (`field` says what to change), or the service itself failing."""

    request: Request | None
    """None: the service cannot compute at all (torch did not load); every later request fails too."""
    field: str | None
    message: str


@dataclass(frozen=True)
class Loading:
    """A source is loading: how far, and what it is doing."""

    source: str
    fraction: float
    label: str


Outcome = Computed | Failed | Loading

PARTIAL_EVERY = 0.2
"""A running generation shows its tokens so far at most this often (s): each is a redraw of every pane, and the
UI thread drawing holds the interpreter lock the generating thread needs between torch's operations."""


class ComputeService:
    """Runs requests on one worker thread, newest first; `deliver(outcome)` is called from that thread."""

    def __init__(self, deliver: Callable[[Outcome], None], device: str = "cpu") -> None:
        self._deliver = deliver
        self.device = device
        """Where models compute (cpu, cuda, mps); the toy always computes on the CPU."""
        self._loading: str | None = None
        """The source being loaded now, if any."""
        self._cancel = threading.Event()
        """Set to stop the load in progress (between tensors)."""
        self._wake = threading.Condition()
        """Guards _pending, _busy and _closing; the worker waits on it for the next request."""
        self._pending: Request | None = None
        self._busy = False
        self._closing = False
        self._thread: threading.Thread | None = None
        self._broken: str | None = None
        """Why the service cannot compute (torch failed to load), once it is known."""
        self._sources: dict[str, Source] = {}
        self.partial_every = PARTIAL_EVERY
        """A running generation shows its tokens so far at most this often (s)."""
        self._predict_wake = threading.Condition()
        """Guards the predictions' pending slot; their thread waits on it."""
        self._predict_pending: tuple[tuple[Result, int, bool], Callable[..., None]] | None = None
        self._predict_busy = False
        self._predict_thread: threading.Thread | None = None
        self._stop_generating: threading.Event | None = None
        """Set to stop the generation in progress (between tokens): by the user, or by a newer request; None
        when no generation runs."""
        self._newest_generation = 0
        """The number of the newest generation request submitted."""
        self._cancelled = 0
        """The number of the generation request the user cancelled (perhaps before it started)."""

    @property
    def busy(self) -> bool:
        """A request is waiting or being computed."""
        return self._busy

    def submit(self, request: Request) -> None:
        """Compute `request` next, replacing any request still waiting (the latest wins)."""
        if self._broken is not None:
            self._deliver(Failed(None, None, self._broken))
            return
        with self._wake:
            self._pending = request
            self._busy = True
            if self._loading is not None and self._loading != request.source:
                self._cancel.set()  # the user moved on: stop loading what nobody waits for any more
            if self._stop_generating is not None:
                self._stop_generating.set()  # an edit (or anything newer) drops the generation in progress
            if request.generate:
                self._newest_generation = request.generation
            self._wake.notify()
        self.start()

    def start(self) -> None:
        """Start the compute thread, if not yet: its first act is importing torch (the app calls this once its
        first frame is written, before the first request; a request starts it too)."""
        with self._wake:
            if self._thread is not None or self._closing:
                return
            self._thread = threading.Thread(target=self._loop, name="attn-tui compute", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the worker after the computation in progress (if any)."""
        with self._wake:
            self._closing = True
            if self._stop_generating is not None:
                self._stop_generating.set()
            self._wake.notify()
        with self._predict_wake:
            self._predict_wake.notify()

    def _loop(self) -> None:
        """A thread of its own rather than a Textual worker per request: it is already waiting when a key
        arrives, so the computation starts at once and runs on the other core while the UI thread draws."""
        from attn_tui import runtime

        try:
            runtime.load_torch_library()  # without the interpreter lock: the UI thread keeps drawing
            runtime.configure_torch()
            from attn_tui import stages  # noqa: F401 — numpy, before the first result is timed
        except Exception as error:  # noqa: BLE001 — a broken torch install is said, not raised in a thread
            self._broken = f"could not load torch: {error}"
            with self._wake:
                self._closing, self._busy, self._pending = True, False, None
            self._deliver(Failed(None, None, self._broken))
            return
        finally:
            runtime.resume_gc()  # start-up is over: torch, Textual and the panes are loaded (cli.run_app)
        while True:
            with self._wake:
                while self._pending is None and not self._closing:
                    self._busy = False
                    self._wake.wait()
                if self._closing:
                    self._busy = False
                    return
                request, self._pending = self._pending, None
            assert request is not None
            self._deliver(self._run(request))

    def cancel_loading(self) -> None:
        """Stop the load in progress, if any; its request fails with 'cancelled'."""
        self._cancel.set()

    def cancel_generation(self) -> None:
        """Stop the generation in progress, if any, after its current token; the tokens made so far are shown."""
        with self._wake:
            self._cancelled = self._newest_generation
            if self._stop_generating is not None:
                self._stop_generating.set()

    @property
    def generating(self) -> bool:
        """A generation is running on the worker."""
        return self._stop_generating is not None

    @property
    def predicting(self) -> bool:
        """A next-token prediction is waiting or being computed."""
        return self._predict_busy

    def predict(self, result: Result, position: int, lens: bool,
                deliver: Callable[[tuple[Result, int, bool], Any, str], None]) -> None:
        """Next-token predictions after `position` of `result` (issue 16), on a thread of their own that is already
        waiting, so they start at once and run while the UI thread draws the cursor's move; the latest request
        wins. `deliver(key, predictions, error)` is called from that thread (predictions None when `error` says
        why)."""
        with self._predict_wake:
            self._predict_pending = ((result, position, lens), deliver)
            self._predict_busy = True
            self._predict_wake.notify()
        if self._predict_thread is None:
            self._predict_thread = threading.Thread(target=self._predict_loop, name="attn-tui predictions",
                                                    daemon=True)
            self._predict_thread.start()

    def _predict_loop(self) -> None:
        while True:
            with self._predict_wake:
                while self._predict_pending is None and not self._closing:
                    self._predict_busy = False
                    self._predict_wake.wait()
                if self._closing:
                    self._predict_busy = False
                    return
                pending, self._predict_pending = self._predict_pending, None
            assert pending is not None
            key, deliver = pending
            result, position, lens = key
            try:
                deliver(key, self.predictions(result, position, lens=lens), "")
            except SourceFailure as error:
                deliver(key, None, str(error))
            except Exception as error:  # noqa: BLE001 — the thread outlives any failure and says what it was
                deliver(key, None, f"could not predict: {error}")

    def predictions(self, result: Result, position: int, *, lens: bool = False, k: int = 5) -> Any:
        """`models.Predictions` after `position` of `result`, from the model that made it; SourceFailure if that
        model is not loaded or cannot predict. Runs on the caller's thread (the explorer's predictions worker,
        never the UI thread): the model's lock keeps it from running a pass at the same time as this service."""
        from attn_tui.sources import can_generate

        source = self._sources.get(result.source)
        why = can_generate(result)
        if why is None and source is None:
            why = f"{result.source} is not loaded"
        if why is not None or source is None:
            raise SourceFailure("generate", why or "")
        return source.predictions(result, position, lens=lens, k=k)  # type: ignore[attr-defined]

    def _open(self, name: str) -> Source:
        source = self._sources.get(name)
        if source is None:
            def progress(fraction: float, label: str) -> None:
                self._deliver(Loading(name, fraction, label))

            self._cancel.clear()
            self._loading = name
            try:
                source = self._sources[name] = source_spec(name).open(progress, self._cancel, self.device)
            finally:
                self._loading = None
        return source

    def _run(self, request: Request) -> Computed | Failed:
        started, cpu_started = time.perf_counter(), time.thread_time()
        try:
            source = self._open(request.source)
            if request.generate:
                return self._generate(source, request, started)
            result = source.run(request.config)
            compare = self._compare(source, request)
            grid = self._grid(result, request.view)
            return Computed(request, result, time.perf_counter() - started, grid, compare,
                            cpu_seconds=time.thread_time() - cpu_started)
        except (ConfigError, SourceFailure) as error:  # validated already; kept so that nothing can escape
            return Failed(request, error.field, str(error))
        except Exception as error:  # noqa: BLE001 — the worker outlives any failure and says what it was
            return Failed(request, None, f"could not compute: {error}")

    @staticmethod
    def _compare(source: Source, request: Request) -> Result | None:
        """Prompt B's result, with the same source and settings, when the request has one."""
        return source.run(request.config.replace(prompt=request.compare)) if request.compare else None

    @staticmethod
    def _grid(result: Result, view: View) -> Matrix | None:
        """The grid's matrix (its colour range is two passes over T² cells), made here too, off the UI thread, for
        the view asked for; if the view changes meanwhile, the UI makes its own."""
        from attn_tui.stages import stage_matrix

        if view.stage not in result.stages:
            return None
        words = None
        if view.words:
            from attn_tui.report import word_axis

            words = word_axis(result)
        return stage_matrix(result, view.stage, view.head, layer=view.layer, hide_special=view.hide_special,
                            words=words)

    def _generate(self, source: Source, request: Request, started: float) -> Computed | Failed:
        """A generation (issue 16): its tokens so far delivered as they come (at most every PARTIAL_EVERY s), then
        the whole. Stopped by `cancel_generation` (the tokens so far are the result) or by a newer request (nothing
        is delivered: the newer one is what the user wants)."""
        from attn_tui.models import GenerationCancelled

        generate = getattr(source, "generate", None)
        if generate is None:
            raise SourceFailure("generate", "the toy has no language-model head: nothing to generate with")
        last: tuple[float, str] = (0.0, "reading the prompt")
        shown = 0.0

        def progress(fraction: float, label: str) -> None:
            nonlocal last
            last = (fraction, label)

        def partial(result: Result) -> None:
            nonlocal shown
            now = time.perf_counter()
            if now - shown < self.partial_every:
                return
            shown = now
            self._deliver(Computed(request, result, now - started, self._grid(result, request.view), compare,
                                   progress=last))

        compare = self._compare(source, request)  # prompt B is not generated from: the views compare the prompts
        stop = threading.Event()
        with self._wake:
            if self._cancelled == request.generation or self._pending is not None:
                stop.set()  # cancelled, or already replaced, before it started
            self._stop_generating = stop
        try:
            result = generate(request.config, request.generate, progress, stop, partial)
            stopped = ""
        except GenerationCancelled as error:
            with self._wake:
                superseded = self._pending is not None or self._closing
            if superseded:
                return Failed(request, None, "generation stopped: a newer request came")
            result = error.partial if error.partial is not None else source.run(request.config)
            stopped = str(error)
        finally:
            with self._wake:
                self._stop_generating = None
        return Computed(request, result, time.perf_counter() - started, self._grid(result, request.view), compare,
                        stopped=stopped)
