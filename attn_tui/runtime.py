"""Process-wide torch settings, applied once by the command and the app (never by the backend)."""

from __future__ import annotations

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
