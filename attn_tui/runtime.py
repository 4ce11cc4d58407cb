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
