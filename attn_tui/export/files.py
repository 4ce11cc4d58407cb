"""The one way attn-tui writes a file: complete or not at all, never over anything unasked, never through a link.

Each file is written to a fresh temporary file made exclusively, with a random name, in the target's
folder (`tempfile.mkstemp`), flushed to disk, then put in place in one step:

- without `overwrite`, hard-linked to the name (`os.link` fails if anything is there, a file or a
  link, so nothing is ever replaced, and a link planted at the name is never followed);
- with `overwrite`, renamed over the name (`os.replace` replaces a link itself, not its target).

A kill at any moment leaves the old file (or none), never a truncated file under the real name. The
temporary file is removed on any exception, including the SystemExit the CLI makes of SIGTERM, SIGHUP
and SIGQUIT (`runtime.exit_on_signals`), and by `remove_in_flight` when the app must end at once; only
SIGKILL can leave a `.NAME.*.tmp` beside the target. Standard library only.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO, Any

_UMASK = os.umask(0)
os.umask(_UMASK)
"""The process's umask, read once at import (the main thread), for the permissions of new files."""


class ExportExists(FileExistsError):
    """The target file exists and `overwrite` was not asked for; the message names the path."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} exists; not overwriting")
        self.path = path
        """The file that is already there."""

    def __str__(self) -> str:
        return f"{self.path} exists; not overwriting"


def folder(directory: Path | str) -> Path:
    """The export folder, `~` expanded, made if it is missing."""
    path = Path(directory).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


def check_free(paths: Iterable[Path], overwrite: bool = False) -> None:
    """Raise ExportExists for the first path that is taken (a file, a folder, a link), unless overwriting.

    Called for every target of a request before any is written, so a refusal touches nothing.
    """
    if overwrite:
        return
    for path in paths:
        if path.exists() or path.is_symlink():
            raise ExportExists(path)


_IN_FLIGHT: set[str] = set()
"""Temporary files being written now (by any thread)."""


def remove_in_flight() -> None:
    """Remove every temporary file still being written: for a process about to end without unwinding."""
    for temp in list(_IN_FLIGHT):
        with contextlib.suppress(OSError):
            os.unlink(temp)


def write_file(path: Path, write: Callable[[IO[Any]], object], *, binary: bool = False,
               overwrite: bool = False) -> Path:
    """Write `path` through `write(file)` (a text file in UTF-8, or binary); see the module's rules."""
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    _IN_FLIGHT.add(temp)
    try:
        with (os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")) as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o666 & ~_UMASK)  # mkstemp makes it private; an export is an ordinary file
        if overwrite:
            os.replace(temp, path)
        else:
            _link_new(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    finally:
        _IN_FLIGHT.discard(temp)
    return path


def _link_new(temp: str, path: Path) -> None:
    """Give `temp`'s contents the name `path`, which must not exist; `temp` is gone afterwards."""
    try:
        os.link(temp, path, follow_symlinks=False)
    except FileExistsError:
        raise ExportExists(path) from None
    except OSError as error:
        if error.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK):
            raise
        # A file system without hard links: create the name exclusively (O_EXCL does not follow a
        # link at the name either) and copy.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o666)
        except FileExistsError:
            raise ExportExists(path) from None
        try:
            with os.fdopen(fd, "wb") as out, open(temp, "rb") as source:
                shutil.copyfileobj(source, out)
                out.flush()
                os.fsync(out.fileno())
        except BaseException:
            path.unlink(missing_ok=True)
            raise
    finally:
        Path(temp).unlink(missing_ok=True)
