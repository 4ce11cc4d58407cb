"""`python -m benchmarks`: measure every target of issue 4 (and the backend of issue 2), print tables.

    python -m benchmarks            # the full run (a few minutes)
    python -m benchmarks --quick    # fewer samples, 100 edits for the memory figure
    python -m benchmarks --tiny     # a smoke run on tiny prompts (what the test suite runs)
    python -m benchmarks --bytes    # also bytes per keystroke in a real pty (benchmarks/pty_bytes.py)
    python -m benchmarks --cold 3   # also 3 cold launches, the page cache dropped before each (root)

Each in-app figure is measured in a fresh process (so memory and torch's thread count are that
case's own), headless at 120 × 40, from the input event to the end of the first frame showing its
effect. Each is printed next to its baselines, measured in the same process: a bare frame of the
same app (a cursor move in the prompt) and the backend alone.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EDIT_TARGETS_MS = (16.0, 33.0, 100.0)
"""Prompt edit → frame, for the first, second and third size (10, 512, 2,048 words)."""
SCROLL_TARGET_MS = 16.0
D_MODEL_TARGET_MS = 100.0
FIRST_FRAME_TARGET_S = 0.8
COLD_FIRST_FRAME_TARGET_S = 1.0
RESULT_TARGET_RATIO = 1.3
RSS_TARGET_MB = 400.0
RSS_GROWTH_TARGET_MB = 10.0
"""'Flat over 1,000 edits', as a number: growth after the warm-up edits stays under this."""


@dataclass
class Row:
    """One line of a table."""

    what: str
    median: str
    p90: str = ""
    target: str = ""
    bare: str = ""
    backend: str = ""
    ratio: str = ""
    verdict: str = ""


def _env(threads: int | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("NO_COLOR", None)
    return env


IN_PROCESS = False
"""Run the cases in this process (the smoke test's speed-up; memory figures then are not the case's own)."""


def run_child(case: str, threads: int | None = None, **kwargs) -> dict:
    """Run one case of `benchmarks.cases` (or the backend) in a fresh interpreter."""
    if IN_PROCESS:
        from benchmarks.child import run_case

        return run_case(case, kwargs, threads)
    argv = [sys.executable, "-m", "benchmarks.child", case, json.dumps(kwargs)]
    if threads is not None:
        argv += ["--threads", str(threads)]
    done = subprocess.run(argv, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=3600)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line.removeprefix("RESULT "))
    raise RuntimeError(f"benchmark case {case} {kwargs} failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")


def time_import_torch() -> float:
    """Seconds from spawning `python -c "import torch"` to the end of the import (stamped inside)."""
    code = "import torch, time; print(time.time())"
    started = time.time()
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True, text=True,
                          check=True)
    return float(done.stdout.split()[-1]) - started


def time_launch() -> tuple[float, float]:
    """Seconds from spawning the app to its first frame, and to the notebook's result on screen."""
    started = time.time()
    done = subprocess.run([sys.executable, "-m", "benchmarks.launch_child"], cwd=ROOT, env=_env(),
                          capture_output=True, text=True, timeout=120)
    stamps = dict(line.split() for line in done.stdout.splitlines() if line.startswith("first_"))
    if "first_result" not in stamps:
        raise RuntimeError(f"launch failed:\n{done.stdout[-2000:]}\n{done.stderr[-4000:]}")
    return float(stamps["first_frame"]) - started, float(stamps["first_result"]) - started


def compile_bytecode() -> None:
    """Write the bytecode of attn_tui (and of the harness) as installing it does (pip compiles at install).

    A source tree run with PYTHONDONTWRITEBYTECODE set (this machine sets it) compiled all ~80 modules at
    every launch: 0.1 s of the first frame no installed copy spends, while `import torch` had its bytecode."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "attn_tui", "benchmarks"], cwd=ROOT, env=_env(),
                   capture_output=True, check=True)


DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def drop_page_cache() -> bool:
    """Empty the page cache, as after a reboot (needs root); whether it could."""
    os.sync()
    try:
        DROP_CACHES.write_text("3\n")
    except OSError:
        return False
    return True


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def verdict(ok: bool) -> str:
    return "pass" if ok else "FAIL"


def words_label(n: int) -> str:
    return f"{n:,} words"


def print_table(title: str, header: Row, rows: list[Row]) -> None:
    fields = list(vars(header))
    widths = {f: max(len(getattr(r, f)) for r in [header, *rows]) for f in fields}
    widths = {f: w for f, w in widths.items() if w}
    print(f"\n{title}\n")
    line = " | ".join(getattr(header, f).ljust(widths[f]) for f in widths)
    print(line)
    print("-+-".join("-" * widths[f] for f in widths))
    for row in rows:
        print(" | ".join(getattr(row, f).ljust(widths[f]) for f in widths))
    sys.stdout.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and 100 edits for memory")
    parser.add_argument("--tiny", action="store_true", help="smoke run: tiny prompts, 2 samples (for tests)")
    parser.add_argument("--sizes", default=None, help="prompt sizes in words, comma-separated (default 10,512,2048)")
    parser.add_argument("--samples", type=int, default=None, help="samples per timing (default 30, quick 10)")
    parser.add_argument("--edits", type=int, default=None, help="edits for the memory figure (default 1000)")
    parser.add_argument("--launches", type=int, default=None, help="launches timed (default 5, quick 3)")
    parser.add_argument("--cold", type=int, default=0, metavar="N",
                        help="also N cold launches: the page cache dropped before each (needs root)")
    parser.add_argument("--no-threads", action="store_true", help="skip the 1-vs-2 torch threads comparison")
    parser.add_argument("--json", metavar="FILE", help="also write every figure as JSON")
    parser.add_argument("--bytes", action="store_true",
                        help="also bytes per action in a real pseudo-terminal (issue 17; benchmarks.pty_bytes)")
    parser.add_argument("--in-process", action="store_true",
                        help="run the in-app cases in this process (faster; memory figures are shared)")
    args = parser.parse_args(argv)

    sizes = [10, 512, 2048]
    samples, edits, launches, burst_keys = 30, 1000, 9, 30
    if args.quick:
        samples, edits, launches = 10, 100, 5
    if args.tiny:
        sizes, samples, edits, launches, burst_keys = [10, 20, 40], 2, 4, 1, 4
        args.in_process = True
    global IN_PROCESS
    IN_PROCESS = args.in_process
    if args.sizes:
        sizes = [int(s) for s in args.sizes.split(",")]
    samples = args.samples or samples
    edits = args.edits or edits
    launches = args.launches or launches
    big = sizes[-1]
    figures: dict[str, object] = {"sizes": sizes, "samples": samples, "edits": edits}

    load = os.getloadavg()
    print(f"attn-tui benchmarks · {os.cpu_count()} CPUs · load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} · "
          f"Python {sys.version.split()[0]} · {samples} samples per figure, medians", flush=True)

    # -- the backend alone (issue 2) -----------------------------------------------------------
    backend = {n: run_child("backend", words=n, samples=samples) for n in sizes}
    backend_d_model = run_child("backend_d_model", samples=samples)["seconds"]
    figures["backend"] = backend

    # -- launch ----------------------------------------------------------------------------------
    torch_times, frame_times, result_times = [], [], []
    compile_bytecode()
    if not args.tiny:
        time_import_torch()  # warm the page cache: every figure below is a warm start
        time_launch()
    for _ in range(launches):
        torch_times.append(time_import_torch())
        first_frame, first_result = time_launch()
        frame_times.append(first_frame)
        result_times.append(first_result)
    torch_s = statistics.median(torch_times)
    frame_s, result_s = statistics.median(frame_times), statistics.median(result_times)
    figures["launch"] = {"import_torch": torch_times, "first_frame": frame_times, "first_result": result_times}
    cold: dict[str, list[float]] = {"import_torch": [], "first_frame": [], "first_result": []}
    for _ in range(args.cold):
        if not drop_page_cache():
            print(f"--cold: cannot write {DROP_CACHES} (needs root): no cold figures", flush=True)
            break
        cold["import_torch"].append(time_import_torch())
        drop_page_cache()
        first_frame, first_result = time_launch()
        cold["first_frame"].append(first_frame)
        cold["first_result"].append(first_result)
    if cold["first_frame"]:
        figures["cold"] = cold

    # -- in the app --------------------------------------------------------------------------------
    edits_by_size = {n: run_child("edits", words=n, samples=samples) for n in sizes}
    scroll = run_child("scroll", words=big, samples=samples)
    d_model = run_child("d_model", samples=samples)
    memory = run_child("memory", words=big, edits=edits)
    burst = run_child("burst", words=big, keys=burst_keys, interval=0.02)
    figures.update(edits=edits_by_size, scroll=scroll, d_model=d_model, memory=memory, burst=burst)

    rows = []
    for i, n in enumerate(sizes):
        e = edits_by_size[n]
        target = EDIT_TARGETS_MS[min(i, len(EDIT_TARGETS_MS) - 1)] / 1000
        rows.append(Row(f"prompt edit → frame, {words_label(n)}", ms(e["edit"]["median"]), ms(e["edit"]["p90"]),
                        f"≤ {ms(target)}", ms(e["bare"]["median"]), ms(backend[n]["warm"]),
                        f"{e['edit']['median'] / e['bare']['median']:.1f}× bare",
                        verdict(e["edit"]["median"] <= target)))
    rows.append(Row(f"scroll a page, {words_label(big)} grid", ms(scroll["scroll"]["median"]),
                    ms(scroll["scroll"]["p90"]), f"≤ {ms(SCROLL_TARGET_MS / 1000)}", ms(scroll["bare"]["median"]),
                    f"{scroll['scrolled']}/{scroll['scroll']['n']} scrolled",
                    f"{scroll['scroll']['median'] / scroll['bare']['median']:.1f}× bare",
                    verdict(scroll["scroll"]["median"] * 1000 <= SCROLL_TARGET_MS)))
    rows.append(Row("change d_model (vocab 50,000) → frame", ms(d_model["d_model"]["median"]),
                    ms(d_model["d_model"]["p90"]), f"≤ {ms(D_MODEL_TARGET_MS / 1000)}",
                    ms(d_model["bare"]["median"]), ms(backend_d_model),
                    f"{d_model['d_model']['median'] / d_model['bare']['median']:.1f}× bare",
                    verdict(d_model["d_model"]["median"] * 1000 <= D_MODEL_TARGET_MS)))
    rows.append(Row("launch → first frame", f"{frame_s:.2f} s", f"{max(frame_times):.2f} s max",
                    f"≤ {FIRST_FRAME_TARGET_S} s", "", f"import torch {torch_s:.2f} s",
                    f"{frame_s / torch_s:.2f}× torch", verdict(frame_s <= FIRST_FRAME_TARGET_S)))
    rows.append(Row("launch → notebook's result on screen", f"{result_s:.2f} s", f"{max(result_times):.2f} s max",
                    f"≤ {RESULT_TARGET_RATIO}× import torch", "", f"import torch {torch_s:.2f} s",
                    f"{result_s / torch_s:.2f}× torch", verdict(result_s <= RESULT_TARGET_RATIO * torch_s)))
    if cold["first_frame"]:
        cold_torch = statistics.median(cold["import_torch"])
        cold_frame, cold_result = statistics.median(cold["first_frame"]), statistics.median(cold["first_result"])
        rows.append(Row("cold launch → first frame", f"{cold_frame:.2f} s", f"{max(cold['first_frame']):.2f} s max",
                        f"≤ {COLD_FIRST_FRAME_TARGET_S} s", "", f"cold import torch {cold_torch:.2f} s",
                        f"{len(cold['first_frame'])} launches", verdict(cold_frame <= COLD_FIRST_FRAME_TARGET_S)))
        rows.append(Row("cold launch → notebook's result", f"{cold_result:.2f} s",
                        f"{max(cold['first_result']):.2f} s max", "reported", "",
                        f"cold import torch {cold_torch:.2f} s", f"{cold_result / cold_torch:.2f}× torch", ""))
    rows.append(Row(f"memory at {words_label(big)} (RSS)", f"{max(memory['start'], memory['end']):.0f} MB",
                    f"{memory['peak']:.0f} MB peak", f"≤ {RSS_TARGET_MB:.0f} MB", "", "",
                    f"{memory['start']:.0f} MB at the first result",
                    verdict(max(memory["start"], memory["end"]) <= RSS_TARGET_MB)))
    growth = memory["end"] - memory["warm"]
    rows.append(Row(f"memory growth over {memory['edits']:,} edits", f"{growth:+.1f} MB",
                    f"{memory['warm']:.0f} → {memory['end']:.0f} MB", f"flat (≤ {RSS_GROWTH_TARGET_MB:.0f} MB)",
                    "", "", f"after {memory['warm_edits']} warm-up edits", verdict(growth <= RSS_GROWTH_TARGET_MB)))
    rows.append(Row(f"typing burst at {words_label(big)}", f"{burst['computations']} computations",
                    f"{burst['keys']} keys", "1 at a time, stale dropped", "", "",
                    f"{burst['concurrent']} concurrent", verdict(burst["concurrent"] == 1 and burst["current"]
                                                                  and burst["computations"] <= burst["keys"])))
    header = Row("figure", "median", "p90", "target", "bare frame", "backend alone", "ratio", "verdict")
    print_table("Targets (issue 4) — headless 120 × 40, input event → end of the frame showing it", header, rows)

    backend_rows = [Row(words_label(n), ms(backend[n]["warm"]), ms(backend[n]["cold"]),
                        ms(edits_by_size[n]["backend_in_app"]["median"])) for n in sizes]
    print_table("The backend alone (issue 2): compute(config), medians",
                Row("prompt", "edit, warm tables", "config change, cold tables", "in the app's worker"),
                backend_rows)

    floor_rows = [Row(words_label(n), ms(edits_by_size[n]["edit"]["median"]),
                      ms(edits_by_size[n]["repaint"]["median"]), ms(edits_by_size[n]["bare"]["median"]),
                      ms(edits_by_size[n]["backend_in_app"]["median"])) for n in sizes]
    print_table("Where an edit's time goes: the same app, same run, medians",
                Row("prompt", "edit → frame", "the same panes repainted, nothing new", "bare frame",
                    "backend in the app"), floor_rows)

    if not args.no_threads:
        thread_rows = []
        figures["threads"] = {}
        for n in sizes[1:] or sizes:
            for threads in (1, 2):
                alone = run_child("backend", threads=threads, words=n, samples=samples)
                app = run_child("edits", threads=threads, words=n, samples=samples)
                figures["threads"][f"{n}/{threads}"] = {"backend": alone, "edits": app}
                thread_rows.append(Row(words_label(n), str(threads), ms(alone["warm"]),
                                       ms(app["backend_in_app"]["median"]), ms(app["edit"]["median"])))
        print_table("torch threads: 1 vs 2 (runtime.configure_torch)",
                    Row("prompt", "threads", "backend alone", "backend in the app", "edit → frame"), thread_rows)

    print("\nframes per edit (median): " + ", ".join(
        f"{words_label(n)} {edits_by_size[n]['frames_per_edit']:g}" for n in sizes))
    print(f"torch threads in the app: {edits_by_size[sizes[0]]['threads']}")
    if args.bytes:
        from benchmarks import pty_bytes

        print("\nBytes per action — real pty 120 × 40, xterm-256color, medians (python -m benchmarks.pty_bytes)\n")
        figures["bytes"] = pty_bytes.run(sizes[:1] if args.tiny else sizes,
                                         repeats=1 if args.tiny else 3 if args.quick else 8)
        pty_bytes.print_table(figures["bytes"])
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
