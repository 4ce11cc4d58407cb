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
from typing import TYPE_CHECKING

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


@dataclass(frozen=True)
class Computed:
    """A request's result, with the grid's matrix for the request's view (None if the stage is absent)."""

    request: Request
    result: Result
    seconds: float
    grid: Matrix | None
    compare: Result | None = None
    """Prompt B's result, when the request had one."""


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
            self._wake.notify()
        if self._thread is None:
            # Started with the first request, after the first frame: its first act is importing torch.
            self._thread = threading.Thread(target=self._loop, name="attn-tui compute", daemon=True)
            self._thread.start()

    def close(self) -> None:
        """Stop the worker after the computation in progress (if any)."""
        with self._wake:
            self._closing = True
            self._wake.notify()

    def _loop(self) -> None:
        """A thread of its own rather than a Textual worker per request: it is already waiting when a key
        arrives, so the computation starts at once and runs on the other core while the UI thread draws."""
        from attn_tui import runtime

        try:
            runtime.configure_torch()
            from attn_tui import stages  # noqa: F401 — numpy, before the first result is timed
        except Exception as error:  # noqa: BLE001 — a broken torch install is said, not raised in a thread
            self._broken = f"could not load torch: {error}"
            with self._wake:
                self._closing, self._busy, self._pending = True, False, None
            self._deliver(Failed(None, None, self._broken))
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
            assert request is not None
            self._deliver(self._run(request))

    def cancel_loading(self) -> None:
        """Stop the load in progress, if any; its request fails with 'cancelled'."""
        self._cancel.set()

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
        from attn_tui.stages import stage_matrix

        started = time.perf_counter()
        try:
            source = self._open(request.source)
            result = source.run(request.config)
            compare = source.run(request.config.replace(prompt=request.compare)) if request.compare else None
            seconds = time.perf_counter() - started
            # The grid's matrix (its colour range is two passes over T² cells) is made here too, off the
            # UI thread, for the view asked for; if the view changes meanwhile, the UI makes its own.
            view = request.view
            grid = (stage_matrix(result, view.stage, view.head, layer=view.layer, hide_special=view.hide_special)
                    if view.stage in result.stages else None)
        except (ConfigError, SourceFailure) as error:  # validated already; kept so that nothing can escape
            return Failed(request, error.field, str(error))
        except Exception as error:  # noqa: BLE001 — the worker outlives any failure and says what it was
            return Failed(request, None, f"could not compute: {error}")
        return Computed(request, result, seconds, grid, compare)
