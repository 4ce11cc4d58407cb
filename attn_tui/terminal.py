"""Terminal input that survives any byte: Textual's Linux driver decodes stdin as strict UTF-8, so
one stray byte (a Latin-1 terminal, an 8-bit meta key, a raw 0x9b CSI, pasted binary) kills its
input thread and with it the app. Decode leniently instead: a bad byte becomes U+FFFD."""

from __future__ import annotations

import codecs
import functools
from typing import Any


def lenient_input() -> None:
    """Make Textual's Linux driver decode terminal input with errors="replace" (idempotent)."""
    try:
        from textual.drivers import linux_driver
    except ImportError:  # not on a POSIX terminal: nothing to do
        return
    if getattr(linux_driver.getincrementaldecoder, "lenient", False):
        return

    def getincrementaldecoder(encoding: str) -> Any:
        return functools.partial(codecs.getincrementaldecoder(encoding), errors="replace")

    getincrementaldecoder.lenient = True  # type: ignore[attr-defined]
    linux_driver.getincrementaldecoder = getincrementaldecoder  # type: ignore[attr-defined]
