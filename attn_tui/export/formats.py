"""Every export format: one row of `EXPORTS` each (kind, dialog key, label, file names, writer).

The dialog, the palette and `--export KINDS` read the table; a new format is one row plus its writer.
Every file goes through `files.write_file`; every target of a request is checked before any is
written. Writers stream (a row at a time), so an export costs little more memory than the result.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from attn_tui.export.files import check_free, folder, write_file
from attn_tui.export.svg import svg_grid
from attn_tui.export.tables import tables
from attn_tui.text import printable

if TYPE_CHECKING:
    from attn_tui.result import Result


@dataclass(frozen=True)
class Selection:
    """What of the result a stage export takes: the grid's stage, layer and head (0-based)."""

    stage: str = "weights"
    layer: int = 0
    head: int | None = 0
    """None: every head of a per-head stage, one file each."""
    words: bool = False
    """The word view (issue 16): CSV and SVG merge the stages that add up into words; JSON adds `word_level`."""


@dataclass(frozen=True)
class ExportFormat:
    """One export format."""

    kind: str
    """Its name in `--export KINDS` and the palette (`json`)."""
    key: str
    """Its key in the export dialog."""
    label: str
    """What it writes, for the dialog."""
    names: Callable[[Result, Selection], list[str]]
    """The file names it would write for this result and selection."""
    write: Callable[[Result, Selection, str, IO[Any]], None]
    """write(result, selection, name, file): one file's contents."""
    binary: bool = False
    missing: Callable[[Result], str | None] = lambda result: None
    """Why this format cannot be written for a result (the script has no model to recompute), or None."""


def _write_json(result: Result, selection: Selection, name: str, out: IO[Any]) -> None:
    """The `--json` object; with the flags the view stands for (`--value-weighted` or `--rollout` when the grid
    shows that stage, `--words` in the word view), the same object `attn-tui --json … FLAGS` prints."""
    from attn_tui.report import Extras, Report
    from attn_tui.report import write_json as write_report
    from attn_tui.serialize import write_json

    extras = Extras(value_weighted=selection.stage == "value_weighted", rollout=selection.stage == "rollout",
                    words=selection.words)
    if extras.any():
        write_report(Report(result, extras).json_items(), out)
    else:
        write_json(result.json_items(), out)
    out.write("\n")


def _write_npz(result: Result, selection: Selection, name: str, out: IO[Any]) -> None:
    """As `numpy.savez_compressed` writes it, an array at a time, and a `Chunks` array a slice at a time: the
    export holds one T × T slice of a derived stage, never all of them (and never a copy of the result)."""
    import zipfile

    import numpy as np

    from attn_tui.result import Chunks

    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
        for key, value in result.npz_arrays().items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                if not isinstance(value, Chunks):
                    np.lib.format.write_array(member, np.asanyarray(value), allow_pickle=False)
                    continue
                dtype = np.dtype(np.float32)
                header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": value.shape}
                np.lib.format.write_array_header_1_0(member, header)
                written = 0
                for part in value.parts():
                    data = np.ascontiguousarray(part, dtype=dtype).tobytes()
                    member.write(data)
                    written += len(data)
                if written != dtype.itemsize * math.prod(value.shape):
                    raise ValueError(f"{key}: the slices written do not make its shape {value.shape}")


def _stage_names(suffix: str) -> Callable[[Result, Selection], list[str]]:
    def names(result: Result, selection: Selection) -> list[str]:
        return [f"{t.stem}.{suffix}" for t in tables(result, selection.stage, selection.head, selection.layer,
                                                      words=selection.words)]

    return names


def _write_csv(result: Result, selection: Selection, name: str, out: IO[Any]) -> None:
    """The first row holds the column labels, the first column the row labels; −∞ is `-inf`.

    Numbers are numpy's shortest text that reads back as the same float32, a row at a time. Labels are
    words: printable (attn_tui.text), so `cat` on the file obeys no escape a prompt held."""
    table = next(t for t in tables(result, selection.stage, selection.head, selection.layer, words=selection.words)
                 if f"{t.stem}.csv" == name)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([printable(table.corner), *map(printable, table.cols)])
    for label, row in zip(table.rows, table.values, strict=True):
        writer.writerow([printable(label), *row.astype(str).tolist()])


def _write_svg(result: Result, selection: Selection, name: str, out: IO[Any]) -> None:
    table_names = _stage_names("svg")(result, selection)
    head = selection.head if selection.head is not None else 0
    assert name in table_names
    out.write(svg_grid(result, selection.stage, head, layer=selection.layer, words=selection.words))


def _write_script(result: Result, selection: Selection, name: str, out: IO[Any]) -> None:
    from attn_tui.script import script_source

    out.write(script_source(result.config))  # type: ignore[attr-defined]


def _script_missing(result: Result) -> str | None:
    if getattr(result, "config", None) is None:
        return "the script recomputes the toy pipeline; a real model has none"
    return None


EXPORTS: tuple[ExportFormat, ...] = (
    ExportFormat("json", "j", "JSON — the whole state, in the --json schema",
                 lambda r, s: [f"{r.file_prefix}-result.json"], _write_json),
    ExportFormat("csv", "c", "CSV — the grid's matrix, labelled by word", _stage_names("csv"), _write_csv),
    ExportFormat("npz", "n", "NumPy .npz — every matrix of the result",
                 lambda r, s: [f"{r.file_prefix}-result.npz"], _write_npz, binary=True),
    ExportFormat("grid", "g", "SVG — the grid alone, sized for a paper figure",
                 lambda r, s: _stage_names("svg")(r, Selection(s.stage, s.layer, s.head or 0, s.words)), _write_svg),
    ExportFormat("script", "p", "Python script that recomputes this state (toy only)",
                 lambda r, s: ["attn-script.py"], _write_script, missing=_script_missing),
)
EXPORT_BY_KIND = {f.kind: f for f in EXPORTS}
EXPORT_KINDS = tuple(EXPORT_BY_KIND)


def plan(result: Result, kinds: list[str], selection: Selection, directory: Path | str,
         overwrite: bool = False) -> list[tuple[ExportFormat, Path]]:
    """Every (format, path) a request would write, checked before anything is: an unknown or
    impossible kind raises ValueError, a taken name ExportExists (unless overwriting)."""
    targets: list[tuple[ExportFormat, Path]] = []
    base = Path(directory).expanduser()
    for kind in kinds:
        if kind not in EXPORT_BY_KIND:
            raise ValueError(f"{kind} is not a format: use {', '.join(EXPORT_KINDS)}")
        fmt = EXPORT_BY_KIND[kind]
        why = fmt.missing(result)
        if why:
            raise ValueError(why)
        targets += [(fmt, base / name) for name in fmt.names(result, selection)]
    check_free([path for _, path in targets], overwrite)
    return targets


def export(result: Result, kinds: list[str], selection: Selection, directory: Path | str, *,
           overwrite: bool = False) -> list[Path]:
    """Write every file of `kinds`: all of them or none.

    Nothing is written if any target is taken (unless overwriting). If a write fails or is interrupted
    (a full disk, a name taken meanwhile, SIGTERM as SystemExit), the files this request had already
    made are removed again: a new file is ours until the request succeeds. (Files it overwrote are not
    brought back: `overwrite` asked for them to go.)
    """
    targets = plan(result, kinds, selection, directory, overwrite)
    folder(directory)
    written: list[Path] = []
    made: list[Path] = []
    try:
        for fmt, path in targets:
            def write(out: IO[Any], fmt: ExportFormat = fmt, name: str = path.name) -> None:
                fmt.write(result, selection, name, out)

            existed = overwrite and (path.exists() or path.is_symlink())
            written.append(write_file(path, write, binary=fmt.binary, overwrite=overwrite))
            if not existed:
                made.append(path)
    except BaseException:
        for path in made:
            path.unlink(missing_ok=True)
        raise
    return written
