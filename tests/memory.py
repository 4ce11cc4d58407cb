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

LAUNCHER = r"""
import os, sys
fd = int(sys.argv[1])
pid = os.fork()
if pid == 0:
    os.close(fd)
    os.execv(sys.argv[2], sys.argv[2:])
os.write(fd, f"{pid}\n".encode())
_, status, usage = os.wait4(pid, 0)
os.write(fd, f"{usage.ru_maxrss} {status}\n".encode())
"""
"""A small process between the test and the measured one. A process's peak (ru_maxrss) counts, at exec,
the resident set of the process it was forked from: a pytest worker that has loaded a model (1.1 GiB) made
every process it started peak at 1.1 GiB. Forked from this launcher (about 10 MiB) instead, the measured
process's peak is its own; the launcher reports it, and its exit status, on a pipe."""


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
    report_read, report_write = os.pipe()
    proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(report_write), *command], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd, start_new_session=True,
                            pass_fds=(report_write,))
    os.close(report_write)
    report = os.fdopen(report_read, "rb")
    child = int(report.readline() or 0)  # the measured process (the launcher's child)
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
        if done is None and child:
            os.kill(child, signal.SIGKILL)  # the launcher reaps it and reports
        if done is None:
            _, status, usage = os.wait4(proc.pid, 0)
            done = status, usage
    with report:
        measured = report.read().split()  # the measured process's own ru_maxrss and exit status
    if len(measured) != 2:
        raise RuntimeError(f"the launcher did not report (status {done[0]}): {proc.stderr.read()[-500:]!r}")
    maxrss_kib, status = int(measured[0]), int(measured[1])
    proc.returncode = os.waitstatus_to_exitcode(status)
    os.set_blocking(proc.stdout.fileno(), True)
    rest = proc.stdout.read()
    return Peak(maxrss_kib * 1024 / MiB, proc.returncode, time.monotonic() - started, bytes(out + rest),
                proc.stderr.read())

if __name__ == "__main__":
    result = peak(sys.argv[1:])
    print(f"peak {result.mib:.0f} MiB, exit {result.status}, {result.seconds:.1f} s")
    sys.stderr.write(result.stderr.decode(errors="replace")[-500:])
