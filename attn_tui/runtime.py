"""Process-wide torch settings, applied once by the command and the app (never by the backend)."""

from __future__ import annotations

_configured = False


def configure_torch(threads: int = 2) -> None:
    """Set torch's intra-op threads on purpose (see BENCHMARKS.md for the measurements)."""
    global _configured
    if _configured:
        return
    import torch

    torch.set_num_threads(threads)
    _configured = True
