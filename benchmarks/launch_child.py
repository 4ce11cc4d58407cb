"""The app as `attn-tui` starts it, headless at 120 × 40, printing wall-clock stamps and exiting.

    python -m benchmarks.launch_child

Prints `first_frame <time.time()>` when the first frame is written and `first_result <time>`
when the frame showing the notebook's result is, then quits. The parent started its clock just
before it spawned this process, so both figures include the interpreter's start-up and imports.
"""

from __future__ import annotations

import time


def main() -> int:
    from attn_tui import runtime

    runtime.pause_gc()  # as `attn-tui` does (cli.run_app)
    from attn_tui.config import DEFAULTS
    from benchmarks.probe import ProbeApp

    app = ProbeApp(config=DEFAULTS)

    def first_frame(_: float) -> None:
        print(f"first_frame {time.time():.6f}", flush=True)

    def first_result(_: float) -> None:
        print(f"first_result {time.time():.6f}", flush=True)
        app.exit()

    app.on_first_frame = first_frame
    app.on_first_result = first_result
    app.run(headless=True, size=(120, 40))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
