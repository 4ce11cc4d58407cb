"""Peak resident memory of a real `attn-tui` process, for tests/test_memory.py and by hand.

`python -m tests.memory ARGS…` prints the peak of `attn-tui ARGS…` run to the end. The peak is the
kernel's (`wait4`'s ru_maxrss: VmHWM when the process ends), so nothing in the process measures itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

MiB = 1 << 20


@dataclass
class Peak:
    mib: float
    """The process's peak resident set, MiB."""
    status: int
    """Its exit status (negative: the signal that ended it)."""
    seconds: float
    stdout: bytes
    """What it printed, up to where it was stopped."""
    stderr: bytes


def peak(args: list[str], *, stop_after: bytes | None = None, extra: int = 0,
         stop_when: Callable[[], bool] | None = None, timeout: float = 600, code: str | None = None,
         cwd: str | Path | None = None) -> Peak:
    """Run `python -m attn_tui ARGS` (or `python -c CODE ARGS`) and return its peak memory.

    stop_after: kill it (SIGKILL) once its stdout has held this marker and `extra` bytes more;
    stop_when: kill it once this returns True (polled). Killing measures everything up to that point:
    a writer that builds a whole matrix before writing it peaks before its first row goes out.
    """
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", "attn_tui", *args]
    started = time.monotonic()
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            cwd=cwd, start_new_session=True)
    os.set_blocking(proc.stdout.fileno(), False)
    out = bytearray()
    seen_at: int | None = None
    done = None  # (status, usage) once reaped; never proc.poll(), which would reap it and lose its usage
    try:
        while done is None:
            chunk = proc.stdout.read(1 << 20)
            if chunk:
                out += chunk
                if stop_after is not None:
                    if seen_at is None and (found := out.find(stop_after, max(0, len(out) - len(chunk) - 64))) >= 0:
                        seen_at = found
                    if seen_at is not None and len(out) >= seen_at + extra:
                        break
                continue
            if stop_when is not None and stop_when():
                break
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                done = status, usage
                break
            if time.monotonic() > started + timeout:
                raise TimeoutError(f"{args[:3]}… ran past {timeout} s")
            time.sleep(0.01)
    finally:
        if done is None:
            os.kill(proc.pid, signal.SIGKILL)
            _, status, usage = os.wait4(proc.pid, 0)
            done = status, usage
        proc.returncode = os.waitstatus_to_exitcode(done[0])
    os.set_blocking(proc.stdout.fileno(), True)
    rest = proc.stdout.read()
    return Peak(done[1].ru_maxrss * 1024 / MiB, proc.returncode, time.monotonic() - started, bytes(out + rest),
                proc.stderr.read())

if __name__ == "__main__":
    result = peak(sys.argv[1:])
    print(f"peak {result.mib:.0f} MiB, exit {result.status}, {result.seconds:.1f} s")
    sys.stderr.write(result.stderr.decode(errors="replace")[-500:])
