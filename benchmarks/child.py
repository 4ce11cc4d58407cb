"""Run one in-app case in this process and print its figures as one JSON line.

    python -m benchmarks.child CASE '{"words": 512, "samples": 20}' [--threads N]
"""

from __future__ import annotations

import asyncio
import json
import sys


def run_case(case: str, kwargs: dict, threads: int | None = None) -> dict:
    """Run one case here and return its figures (with `threads` torch threads, then restore them)."""
    import torch

    from attn_tui import runtime

    runtime.configure_torch()
    saved = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        return _run_case(case, kwargs)
    finally:
        torch.set_num_threads(saved)


def _run_case(case: str, kwargs: dict) -> dict:
    if case == "backend":
        from benchmarks.backend import time_backend

        result = time_backend(**kwargs)
    elif case == "backend_d_model":
        from benchmarks.backend import time_backend_d_model

        result = {"seconds": time_backend_d_model(**kwargs)}
    else:
        from benchmarks.cases import CASES

        result = asyncio.run(CASES[case](**kwargs))
    import torch

    result["threads"] = torch.get_num_threads()
    return result


def main(argv: list[str]) -> int:
    case, kwargs = argv[0], json.loads(argv[1])
    threads = int(argv[3]) if len(argv) > 3 and argv[2] == "--threads" else None
    from attn_tui import runtime

    runtime.pause_gc()  # as `attn-tui` does (cli.run_app): the app's compute thread resumes it
    if threads is None:
        runtime.configure_torch()  # the app's own choice
    else:
        runtime.configure_torch(threads)
    result = _run_case(case, kwargs)

    print("RESULT " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
