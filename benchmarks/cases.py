"""The in-app measurements, each run headless at 120 × 40 in a process of its own (see `child`).

Every timing runs from the moment an input event is posted to the end of the first frame that
shows its effect (`ProbeApp.next_frame`); between samples the app is left to go quiet, so one
sample's trailing frames never land in the next.
"""

from __future__ import annotations

import asyncio
import statistics
import threading
import time
from typing import Any

from benchmarks.probe import ProbeApp, first_result, quiet
from benchmarks.prompts import prompt_of

SIZE = (120, 40)
TIMEOUT = 30.0


def rss_mb() -> float:
    """This process's resident set size, in MB, from /proc (no psutil)."""
    return _status_kb("VmRSS") / 1024


def peak_rss_mb() -> float:
    return _status_kb("VmHWM") / 1024


def _status_kb(key: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def summary(seconds: list[float]) -> dict[str, float]:
    ordered = sorted(seconds)
    return {
        "median": statistics.median(ordered),
        "p90": ordered[min(int(len(ordered) * 0.9), len(ordered) - 1)],
        "n": len(ordered),
    }


async def _timed(app: ProbeApp, act, condition=lambda: True) -> float:
    await quiet(app)
    future = app.next_frame(condition)
    started = time.perf_counter()
    act()
    return await asyncio.wait_for(future, TIMEOUT) - started


async def bare_frames(app: ProbeApp, samples: int) -> list[float]:
    """A cursor move in the prompt: the cheapest frame this app draws (the baseline)."""
    app.explorer.action_focus_prompt()
    prompt = app.query_one("#prompt")
    prompt.action_end()
    times = []
    for i in range(samples):
        times.append(await _timed(app, lambda i=i: app.press("left" if i % 2 == 0 else "right")))
    return times


EDITED = "#status, #prompt, #token-ids, #attention-grid, #legend, #embeddings, #inspector, #vocab-map"
"""The widgets an edit of the prompt draws anew."""


async def repaint_frames(app: ProbeApp, samples: int) -> list[float]:
    """The widgets an edit changes, drawn again with nothing new: the floor of an edit's frame (the
    frame's cost without the computation, the messages and the panes' own updates)."""

    def repaint() -> None:
        for widget in app.screen.query(EDITED):
            widget.refresh()

    return [await _timed(app, repaint) for _ in range(samples)]


async def edit_frames(app: ProbeApp, samples: int) -> tuple[list[float], list[float], list[int]]:
    """Type a letter at the end of the prompt (or delete it): edit → frame showing the new result."""
    app.explorer.action_focus_prompt()
    app.query_one("#prompt").action_end()
    times, backend, frames = [], [], []
    for i in range(samples):
        generation = app.session.generation
        key = "x" if i % 2 == 0 else "backspace"
        await quiet(app)
        before = app.frames
        future = app.next_frame(lambda g=generation: app.session.shown_generation > g and app.shows_result())
        started = time.perf_counter()
        app.press(key)
        times.append(await asyncio.wait_for(future, TIMEOUT) - started)
        backend.append(app.session.last_seconds)
        frames.append(app.frames - before)
    return times, backend, frames


async def case_edits(words: int, samples: int) -> dict[str, Any]:
    app = ProbeApp(prompt=prompt_of(words))
    async with app.run_test(size=SIZE):
        await first_result(app)
        await edit_frames(app, 2)  # warm-up: first strips, first kernels
        bare = await bare_frames(app, samples)
        repaint = await repaint_frames(app, samples)
        edits, backend, frames = await edit_frames(app, samples)
        assert app.result is not None and app.result.n_tokens == words
    return {"bare": summary(bare), "repaint": summary(repaint), "edit": summary(edits),
            "backend_in_app": summary(backend), "frames_per_edit": statistics.median(frames)}


async def case_scroll(words: int, samples: int) -> dict[str, Any]:
    """PgDn on the focused attention grid: key → the first frame drawn with the page moved.

    From the second page on, PgDn scrolls the view by a page (the first moves the cursor to the
    bottom of the view); at the last row the cursor goes back to the top, untimed.
    """
    from attn_tui.widgets.matrix import MatrixView

    app = ProbeApp(prompt=prompt_of(words))
    async with app.run_test(size=SIZE):
        await first_result(app)
        bare = await bare_frames(app, samples)
        grid = app.query_one("#attention-grid", MatrixView)
        app.explorer.action_focus_grid()
        app.press("pagedown")
        await quiet(app)
        times, scrolled = [], 0
        for _ in range(samples):
            if grid.cursor[0] >= grid.matrix.shape[0] - 1:
                # Back to the top, untimed; the timed PgDn below then always moves something (a small
                # grid's second PgDn from the top would land on the last row again and move nothing).
                app.press("ctrl+home")
                await quiet(app)
            before = (app.drawn_scroll, app.drawn_cursor)
            times.append(await _timed(app, lambda: app.press("pagedown"),
                                      lambda b=before: (app.drawn_scroll, app.drawn_cursor) != b))
            scrolled += app.drawn_scroll != before[0]
    return {"bare": summary(bare), "scroll": summary(times), "scrolled": scrolled}


async def case_d_model(samples: int) -> dict[str, Any]:
    """A new d_model (vocab 50,000) typed into the settings: every table is drawn anew."""
    from textual.widgets import Input

    app = ProbeApp(prompt=prompt_of(10))
    async with app.run_test(size=SIZE):
        await first_result(app)
        bare = await bare_frames(app, samples)
        field = app.query_one("#d-model", Input)
        times = []
        for i in range(samples):
            d_model = 4 + i  # never seen before: the cached tables do not help

            def shown(d=d_model) -> bool:
                return app.result is not None and app.result.config.d_model == d and app.shows_result()

            def change(d=d_model) -> None:
                field.value = str(d)

            times.append(await _timed(app, change, shown))
    return {"bare": summary(bare), "d_model": summary(times)}


async def case_memory(words: int, edits: int) -> dict[str, Any]:
    """RSS with the 2,048-word prompt on screen, then after `edits` edits (each shown before the next)."""
    app = ProbeApp(prompt=prompt_of(words))
    async with app.run_test(size=SIZE):
        await first_result(app)
        start = rss_mb()
        warm_edits = max(min(50, edits // 10), 1)
        await edit_frames(app, warm_edits)
        warm = rss_mb()
        await edit_frames(app, edits - warm_edits)
        end = rss_mb()
    return {"start": start, "warm": warm, "end": end, "peak": peak_rss_mb(), "edits": edits,
            "warm_edits": warm_edits}


async def case_burst(words: int, keys: int, interval: float) -> dict[str, Any]:
    """Type `keys` letters `interval` seconds apart at `words` words; count the computations run."""
    import attn_tui.attention as attention

    original = attention.compute
    running = 0
    most = 0
    runs = 0
    lock = threading.Lock()

    def counted(config):
        nonlocal running, most, runs
        with lock:
            running += 1
            runs += 1
            most = max(most, running)
        try:
            return original(config)
        finally:
            with lock:
                running -= 1

    attention.compute = counted  # the worker imports `compute` from the module at each start
    try:
        app = ProbeApp(prompt=prompt_of(words))
        async with app.run_test(size=SIZE):
            await first_result(app)
            app.explorer.action_focus_prompt()
            app.query_one("#prompt").action_end()
            runs = 0
            for _ in range(keys):
                app.press("x")
                await asyncio.sleep(interval)
            await quiet(app)
            # At 2,048 words the last letter changes no visible cell of the grid, so no frame draws it and the
            # probe cannot tell that the grid shows the last result: have the grid draw itself once (what is
            # on screen does not change), then ask.
            app.query_one("#attention-grid").refresh()
            await quiet(app)
            final_prompt = app.query_one("#prompt").value
            current = app.result is not None and app.result.prompt == final_prompt and app.shows_result()
    finally:
        attention.compute = original
    return {"keys": keys, "computations": runs, "concurrent": most, "current": current, "interval": interval}


CASES = {
    "edits": case_edits,
    "scroll": case_scroll,
    "d_model": case_d_model,
    "memory": case_memory,
    "burst": case_burst,
}
