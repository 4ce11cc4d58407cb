"""Issue 16 in the app: a generation from the key to its last token on screen, and the next-token pane after a
cursor move, headless at 120 × 40 with SmolLM2 (needs its package).

    PYTHONPATH=. python -m benchmarks.thinking [--threads N] [--samples 5]

- generation: `n` with 16 tokens asked, after a 32-token prompt (the first 32 tokens of
  benchmarks.generate's prompt): from the key to the first frame showing the 16th token in the grid;
  also to the first frame showing the first generated token, and how many frames showed tokens in
  between. Next to it, `Model.generate(prompt, 16)` alone in the same process (the backend's cost).
- predictions: a cursor move (`down`) to the first frame whose next-token pane shows the new query's
  predictions; over a generation (its residual stream is in the result: the LM head only), over a plain
  result (the first move runs one pass keeping the residual stream, later ones read it), with the lens on
  (the LM head on every layer's row: 31 × 49,152 logits).

Each figure is "median (min–max)" ms over the samples; the load average is printed before and after, since
this machine's two cores are shared.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time

from benchmarks.probe import ProbeApp, first_result, quiet

SIZE = (120, 40)
TIMEOUT = 600.0
PROMPT = ("The cat sat on the mat because it was tired. The dog sat on the log because it was cold, and the bird "
          "sat on the branch because it was wet.")
"""benchmarks.generate's prompt and a few words more; its first 32 SmolLM2 tokens (whole words) are the prompt."""


def prompt_of_32_tokens() -> str:
    """The text of the first 32 tokens of PROMPT (whole words, so that the app's tokenizer gives the same 32)."""
    from attn_tui import models

    model = models.load("smollm2")
    words = PROMPT.split(" ")
    for n in range(len(words), 0, -1):
        text = " ".join(words[:n])
        if len(model.tokenize(text).ids) == 32:
            return text
    raise ValueError("no prefix of exactly 32 tokens")


def figure(ms: list[float]) -> str:
    return f"{statistics.median(ms):.0f} ({min(ms):.0f}–{max(ms):.0f}) ms"


async def _timed(app: ProbeApp, key: str, condition) -> float:
    await quiet(app)
    future = app.next_frame(condition)
    started = time.perf_counter()
    app.press(key)
    return (await asyncio.wait_for(future, TIMEOUT) - started) * 1000


async def generation(samples: int) -> dict[str, list[float]]:
    from attn_tui.widgets.matrix import MatrixView

    prompt = prompt_of_32_tokens()
    out: dict[str, list[float]] = {"last": [], "first": [], "frames": [], "backend": []}
    app = ProbeApp(model="smollm2", prompt=prompt)
    async with app.run_test(size=SIZE):
        await first_result(app, timeout=TIMEOUT)
        assert app.result is not None and app.result.n_tokens == 32, "the prompt is not 32 tokens"
        app.explorer.action_focus_grid()
        app.explorer.generate_count = 16
        grid = app.query_one("#attention-grid", MatrixView)

        def shown(n: int):
            return lambda: (getattr(app.result, "n_generated", 0) >= n and grid.matrix is not None
                            and grid.matrix.shape[0] >= 32 + n)

        for _ in range(samples):
            app.explorer.request()  # back to the plain prompt, so that n makes 16 from it
            await quiet(app)
            await quiet(app, 0.2)
            frames = app.frames
            first = app.next_frame(shown(1))
            started = time.perf_counter()
            last = await _timed_after(app, started, shown(16))
            out["first"].append((first.result() - started) * 1000)
            out["last"].append(last)
            out["frames"].append(float(app.frames - frames))
        model = app.explorer.service._sources["smollm2"].model  # type: ignore[attr-defined]
        for _ in range(samples):
            started = time.perf_counter()
            model.generate(prompt, 16)
            out["backend"].append((time.perf_counter() - started) * 1000)
    return out


async def _timed_after(app: ProbeApp, started: float, condition) -> float:
    future = app.next_frame(condition)
    app.press("n")
    return (await asyncio.wait_for(future, TIMEOUT) - started) * 1000


async def predictions(samples: int) -> dict[str, list[float]]:
    from attn_tui.widgets.matrix import MatrixView
    from attn_tui.widgets.predictions import PredictionsView

    out: dict[str, list[float]] = {"generation": [], "plain first": [], "plain": [], "lens": []}
    app = ProbeApp(model="smollm2", prompt=prompt_of_32_tokens())
    async with app.run_test(size=SIZE):
        await first_result(app, timeout=TIMEOUT)
        app.explorer.action_focus_grid()
        grid = app.query_one("#attention-grid", MatrixView)
        view = app.query_one(PredictionsView)

        def at(row: int, lens: bool = False):
            return lambda: (view.predictions is not None and view.predictions.position == row
                            and (view.predictions.lens is not None) == lens)

        async def moves(name: str, count: int, lens: bool = False) -> None:
            for _ in range(count):
                row = grid.cursor[0] + 1 if grid.cursor[0] + 1 < grid.matrix.shape[0] else 0
                key = "down" if row else "home"
                if not row:
                    grid.move_cursor(0, 0)
                    await quiet(app)
                    row = 1
                    key = "down"
                out[name].append(await _timed(app, key, at(row, lens)))

        # A plain result: the first move runs a pass for the residual stream, the next ones read it.
        app.explorer.service._sources["smollm2"].model._residuals.clear()  # type: ignore[attr-defined]
        await moves("plain first", 1)
        await moves("plain", samples)
        app.explorer.generate_count = 8
        app.press("n")
        await asyncio.sleep(0.5)
        while app.computing:
            await asyncio.sleep(0.05)
        await quiet(app)
        grid.move_cursor(1, 0)
        await moves("generation", samples)
        app.press("p")
        await quiet(app, 0.3)
        await moves("lens", samples, lens=True)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: the app's own, 2)")
    parser.add_argument("--samples", type=int, default=5)
    args = parser.parse_args()
    from attn_tui import runtime

    if args.threads is None:
        runtime.configure_torch()
    else:
        runtime.configure_torch(args.threads)
    import torch

    print(f"load average {os.getloadavg()[0]:.2f}, torch threads {torch.get_num_threads()}")
    gen = asyncio.run(generation(args.samples))
    print(f"generation, 16 tokens after 32 (SmolLM2): key → 16th token on screen {figure(gen['last'])}; "
          f"→ 1st token {figure(gen['first'])}; frames between {statistics.median(gen['frames']):.0f}; "
          f"Model.generate alone {figure(gen['backend'])}")
    pred = asyncio.run(predictions(args.samples))
    for name, ms in pred.items():
        print(f"predictions after a cursor move, {name}: {figure(ms)}")
    print(f"load average {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
