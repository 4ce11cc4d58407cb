"""Process-wide settings, applied by the command and the app (never by the backend): torch's threads,
malloc, and what a quit signal does."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

_configured = False


def configure_torch(threads: int = 2) -> None:
    """Set torch's intra-op threads on purpose (see BENCHMARKS.md for the measurements).

    Two, this machine's cores and torch's own default: results stay bit-identical to an exported
    script run in a fresh interpreter, and to `compute` called from any other thread. One thread
    is no faster on an idle machine; on a saturated one it avoids waiting for the second thread to
    be scheduled (BENCHMARKS.md, "torch threads").
    """
    global _configured
    if _configured:
        return
    import torch

    torch.set_num_threads(threads)
    _configured = True


_gc_paused = False


def pause_gc() -> None:
    """No cyclic garbage collection while the app starts (call first thing; `resume_gc` ends the pause).

    Start-up makes objects that live as long as the process: Textual's and torch's modules, the widgets.
    Collecting finds nothing among them, yet each full collection walks them all: 0.44 s of collections
    from launch to the first result, 0.36 s of it while torch imported, on the interpreter lock the
    import needs (BENCHMARKS.md, issue 17)."""
    global _gc_paused
    import gc

    gc.disable()
    _gc_paused = True


def resume_gc() -> None:
    """End `pause_gc`: what start-up made moves out of the collector's way for good (`gc.freeze`), and
    collection resumes for everything made after. Nothing, if collection was not paused."""
    global _gc_paused
    import gc

    if _gc_paused:
        _gc_paused = False
        gc.freeze()
        gc.enable()


_malloc_configured = False


def configure_malloc() -> None:
    """Give big tensors back to the system when freed, in huge pages (glibc only; call before torch).

    Each computation at 2,048 words allocates four 16 MB T × T tensors. glibc raises its mmap
    threshold after the first such block is freed, so later ones came from the heap and stayed
    there: 300 MB with the first result, 420 MB after a few edits. A fixed 4 MiB threshold maps
    and unmaps them (flat at 304 MB, peak 373 MB); asking torch for transparent huge pages
    (`THP_MEM_ALLOC_ENABLE`) makes mapping them cost 2 MB page faults instead of 4 KB ones
    (BENCHMARKS.md, "memory").
    """
    global _malloc_configured
    if _malloc_configured:
        return
    _malloc_configured = True
    import os
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return
    os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")  # read by torch's CPU allocator
    import ctypes

    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-3, 4 << 20)  # M_MMAP_THRESHOLD: fixed, so no longer raised by frees
    except (OSError, AttributeError):
        pass


def load_torch_library() -> None:
    """Load torch's native library (libtorch_cpu, 430 MB) now, before `import torch`, without the interpreter lock.

    A sixth of `import torch` is the dynamic loader mapping and relocating libtorch_cpu. Python holds the
    interpreter lock while it loads an extension module (and so does `ctypes.CDLL`): the UI thread, which
    lays out and draws the frames that follow the first one, stood still meanwhile. `dlopen` called as a
    foreign function runs without the lock; the compute thread calls this first, then imports torch, which
    finds the library loaded. Loaded as a dependency would be (RTLD_LOCAL), from the `torch` package Python
    would import, without running any of its Python; no torch, or one without the library, is left for that
    import to report. (Started on a thread of its own before Textual's import instead, it slowed the first
    frame by 0.15-0.3 s: BENCHMARKS.md, issue 17.)
    """
    configure_malloc()  # its environment is read when the library loads
    library = _torch_library()
    if library is not None:
        _dlopen(library)


def _torch_library() -> str | None:
    """The path of libtorch_cpu in the `torch` package Python would import, without importing it; None if none."""
    import importlib.util
    from pathlib import Path

    try:
        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    library = Path(next(iter(spec.submodule_search_locations))) / "lib" / "libtorch_cpu.so"
    return str(library) if library.is_file() else None


def _dlopen(path: str) -> None:
    """dlopen(path) without the interpreter lock (ctypes releases it around a foreign call); never raises."""
    import contextlib
    import ctypes
    import os

    for name in (None, "libc.so.6", "libdl.so.2"):  # glibc 2.34+ has dlopen in libc; older ones in libdl
        with contextlib.suppress(OSError, AttributeError):
            dlopen = ctypes.CDLL(name).dlopen
            dlopen.restype, dlopen.argtypes = ctypes.c_void_p, [ctypes.c_char_p, ctypes.c_int]
            dlopen(os.fsencode(path), os.RTLD_NOW | os.RTLD_LOCAL)  # kept loaded: the handle is never closed
            return


# -- signals ------------------------------------------------------------------------------------

QUIT_SIGNALS = ("SIGTERM", "SIGHUP", "SIGQUIT", "SIGINT")
"""What `kill`, `timeout`, a closed terminal window, ctrl+\\ from another terminal and `kill -INT` send."""


def _signals() -> list[Any]:
    import signal

    return [getattr(signal, name) for name in QUIT_SIGNALS if hasattr(signal, name)]


@contextmanager
def exit_on_signals() -> Iterator[None]:
    """For the one-shot modes (`--json`, `--export`): inside, a quit signal raises SystemExit(128 + signal).

    Python's default for SIGTERM, SIGHUP and SIGQUIT is to die on the spot, so a kill during an export
    left its temporary file behind; as an exception it unwinds through `files.write_file`, which
    removes it (and `formats.export` removes the files of the request it had finished). The previous
    handlers come back on the way out. Off the main thread (where handlers cannot be set) it does nothing.
    """
    import signal
    import threading

    def handler(signum: int, frame: object) -> None:
        signal.signal(signum, signal.SIG_DFL)  # a second one kills at once
        raise SystemExit(128 + signum)

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, handler) for sig in _signals()}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


@contextmanager
def quit_on_signals(app: Any, restore: Callable[[], None] | None = None, grace: float = 5.0) -> Iterator[list[int]]:
    """While the app runs, a quit signal makes it exit the normal way, so Textual restores the terminal.

    Without this, `timeout 5 attn-tui` or closing the window killed the process in raw mode, on the
    alternate screen, with mouse reporting on and the cursor hidden. The signal handler runs on the main
    thread, inside the app's event loop, and schedules `app.exit` there (thread- and signal-safe). If the
    app has not gone `grace` seconds later, or a second signal comes, `restore()` puts the terminal back
    by hand and the process ends at once. Yields the signals received (the CLI exits with 128 + the last).
    """
    import asyncio
    import contextlib
    import os
    import signal
    import threading

    received: list[int] = []

    def force(signum: int) -> None:
        from attn_tui.export.files import remove_in_flight

        remove_in_flight()
        if restore is not None:
            with contextlib.suppress(Exception):  # a hung-up terminal (EIO, termios.error): nothing to restore
                restore()
        os._exit(128 + signum)

    def watchdog(signum: int) -> None:
        timer = threading.Timer(grace, force, (signum,))
        timer.daemon = True
        timer.start()

    def handler(signum: int, frame: object) -> None:
        received.append(signum)
        if len(received) > 1:
            force(signum)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # before the app's loop started, or after it ended: nothing drawn yet or any more
            raise SystemExit(128 + signum) from None
        try:
            loop.call_soon_threadsafe(app.exit, None, 128 + signum)
        except RuntimeError:  # the loop is closing
            return
        watchdog(signum)

    previous = {sig: signal.signal(sig, handler) for sig in _signals()}
    try:
        yield received
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


RESET_SEQUENCE = (
    "\x1b[<u"  # kitty keyboard protocol off
    "\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1015l\x1b[?1006l"  # every mouse reporting mode off
    "\x1b[?2004l"  # bracketed paste off
    "\x1b[?1004l"  # focus events off
    "\x1b[?7h"  # line wrap on
    "\x1b[?1049l"  # the main screen
    "\x1b[?25h"  # the cursor shown
)
"""What Textual's driver writes when it stops, written by hand when the app cannot stop itself."""


def terminal_restorer(fd: int) -> Callable[[], None]:
    """A function that puts terminal `fd` back as it is now (termios) and leaves the app's modes; for `force`."""
    import os
    import termios

    try:
        saved = termios.tcgetattr(fd)
    except termios.error:
        saved = None

    def restore() -> None:
        os.write(fd, RESET_SEQUENCE.encode())
        if saved is not None:
            termios.tcsetattr(fd, termios.TCSANOW, saved)

    return restore
