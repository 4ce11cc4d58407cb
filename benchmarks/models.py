"""Real-model timings: cold load and warm forward passes of MiniLM and SmolLM2.

Run as `python -m benchmarks.models`; prints a Markdown table.

- threads: torch intra-op threads, 2 by default as in the app (attn_tui.runtime.configure_torch).
  Run on an idle machine: with another busy process on the 2 cores, OpenMP's spinning threads
  make 2-thread passes several times slower (see docs/models.md).
- load: `attn_tui.models.load()` in a fresh process, torch already imported, files in the OS cache.
- N tokens: wall time of `Model.run` on a prompt of exactly N tokens, the result cache cleared
  before each call (so tokenising is included), after two warm-up runs.
- Each cell is "median (best)": the best run shows what the machine can do when nothing else
  competes for the cores; a median far above it means it was busy.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

from attn_tui import runtime
from attn_tui.models import MODEL_NAMES, MODEL_SPECS, available, load

LOAD_CODE = """
import time, torch
torch.set_num_threads({threads})
from attn_tui.models import load
t = time.perf_counter()
load({name!r})
print(time.perf_counter() - t)
"""


def cold_load(name: str, repeats: int, threads: int) -> tuple[float, float]:
    """(median, best) seconds for load() in a fresh interpreter."""
    code = LOAD_CODE.format(name=name, threads=threads)
    times = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
        times.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(times), min(times)


def prompt_of(model, n: int) -> str:
    """A prompt of exactly n tokens, special tokens included ("hello" and " hello" are one token each)."""
    words = n - 2 if model.name == "minilm" else n  # MiniLM adds [CLS] and [SEP]; SmolLM2 adds nothing
    prompt = " ".join(["hello"] * words)
    got = len(model.tokenize(prompt)[0])
    if got != n:
        raise AssertionError(f"{model.name}: built {got} tokens, wanted {n}")
    return prompt


def forward_ms(model, n: int, repeats: int) -> tuple[float, float]:
    """(median, best) milliseconds of an uncached run() on n tokens."""
    prompt = prompt_of(model, n)
    times = []
    for i in range(repeats + 2):
        model.clear_cache()
        t = time.perf_counter()
        model.run(prompt)
        if i >= 2:
            times.append(time.perf_counter() - t)
    return 1000 * statistics.median(times), 1000 * min(times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default 2)")
    parser.add_argument("--repeats", type=int, default=10, help="timed passes per size (default 10)")
    parser.add_argument("--load-repeats", type=int, default=3, help="fresh processes per load (default 3)")
    args = parser.parse_args()
    runtime.configure_torch(args.threads)
    import torch

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads\n")
    print("median (best) of each\n")
    print("| model | load (cold process) | 16 tokens | 128 tokens | at the limit |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in MODEL_NAMES:
        if not available(name):
            print(f"| {name} | not installed | | | |")
            continue
        median, best = cold_load(name, args.load_repeats, args.threads)
        cells = [f"{median:.2f} s ({best:.2f})"]
        model = load(name)
        limit = MODEL_SPECS[name].max_tokens
        for n, repeats in ((16, args.repeats), (128, args.repeats), (limit, max(3, args.repeats // 3))):
            median, best = forward_ms(model, n, repeats)
            cells.append(f"{median:.0f} ms ({best:.0f})")
        cells[-1] += f" at {limit}"
        print(f"| {name} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
