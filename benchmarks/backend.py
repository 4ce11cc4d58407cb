"""The backend alone (issue 2): a prompt edit with warm tables, and a cold config change."""

from __future__ import annotations

import statistics
import time

from attn_tui.config import DEFAULTS


def time_backend(words: int, samples: int) -> dict[str, float]:
    """Median seconds of `compute` for a prompt of `words` words: warm tables, and cold (new seed)."""
    from attn_tui.attention import compute, random_tables
    from benchmarks.prompts import prompt_of

    prompt = prompt_of(words)
    config = DEFAULTS.replace(prompt=prompt)
    compute(config)  # warm the tables and torch's kernels
    warm = []
    for i in range(samples):
        edited = config.replace(prompt=prompt + ("x" if i % 2 == 0 else "xy"))  # an edit of the last word
        started = time.perf_counter()
        compute(edited)
        warm.append(time.perf_counter() - started)
    cold = []
    for i in range(samples):
        changed = config.replace(seed=1000 + i)  # new tables: a config change pays for drawing them
        random_tables.cache_clear()
        started = time.perf_counter()
        compute(changed)
        cold.append(time.perf_counter() - started)
    return {"warm": statistics.median(warm), "cold": statistics.median(cold)}


def time_backend_d_model(samples: int) -> float:
    """Median seconds of `compute` after a d_model change at vocab 50,000 (tables drawn anew)."""
    from attn_tui.attention import compute, random_tables

    compute(DEFAULTS)
    times = []
    for i in range(samples):
        config = DEFAULTS.replace(d_model=4 + i)
        random_tables.cache_clear()
        started = time.perf_counter()
        compute(config)
        times.append(time.perf_counter() - started)
    return statistics.median(times)
