"""Getting a state out of attn-tui: JSON, CSV, NumPy, an SVG figure, a script, a command line.

Torch, numpy and the standard library only (no textual, no rich), so the CLI and tests use it
without a screen. Every writer takes a directory, names its file(s) after what they hold, and
refuses to replace an existing file unless `overwrite=True` (raising `ExportExists`); see
`files` for how a file is written and `formats` for the table of formats.

File names, for a toy result (model results put the model in front: `attn-minilm-…`):

    attn-result.json           the `attn-tui --json` object
    attn-result.npz            every matrix, named as in the JSON, plus words, token_ids, vocab
    attn-weights-head1.csv     one stage's matrix (one head of a per-head stage)
    attn-weights-head1.svg     the same matrix as a figure
    attn-script.py             a standalone script that recomputes the state

CSV cells: numbers are the shortest text that reads back as the same float32; a masked cell of
`scaled` (−∞) is written `-inf`, which Python's `float`, numpy and pandas all read back.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from attn_tui.argv import command_flags, command_line
from attn_tui.export.files import ExportExists, check_free, folder, write_file
from attn_tui.export.formats import EXPORT_BY_KIND, EXPORT_KINDS, EXPORTS, ExportFormat, Selection, export, plan
from attn_tui.export.svg import MAX_SVG_CELLS, svg_grid
from attn_tui.export.tables import CSV_STAGES, PER_HEAD
from attn_tui.script import script_source

if TYPE_CHECKING:
    from attn_tui.config import AttentionConfig
    from attn_tui.result import Result

__all__ = [
    "CSV_STAGES",
    "EXPORTS",
    "EXPORT_BY_KIND",
    "EXPORT_KINDS",
    "MAX_SVG_CELLS",
    "PER_HEAD",
    "ExportExists",
    "ExportFormat",
    "Selection",
    "check_free",
    "command_flags",
    "command_line",
    "export",
    "export_csv",
    "export_json",
    "export_npz",
    "export_script",
    "export_svg_grid",
    "folder",
    "plan",
    "script_source",
    "svg_grid",
    "write_file",
]


def export_json(result: Result, directory: Path | str, *, overwrite: bool = False) -> Path:
    """Write the result in the `attn-tui --json` schema to `attn-result.json`."""
    return export(result, ["json"], Selection(), directory, overwrite=overwrite)[0]


def export_npz(result: Result, directory: Path | str, *, overwrite: bool = False) -> Path:
    """Write every matrix of the result (named as in the JSON) to `attn-result.npz`."""
    return export(result, ["npz"], Selection(), directory, overwrite=overwrite)[0]


def export_csv(result: Result, stage: str, head: int | None, directory: Path | str, *,
               overwrite: bool = False, layer: int = 0) -> list[Path]:
    """Write the matrix of `stage` (one head of a per-head stage; every head when `head` is None)."""
    return export(result, ["csv"], Selection(stage, layer, head), directory, overwrite=overwrite)


def export_svg_grid(result: Result, stage: str, head: int, directory: Path | str, *,
                    overwrite: bool = False, layer: int = 0) -> Path:
    """Write one stage's grid (one head) as a standalone SVG figure, `attn-weights-head1.svg`."""
    return export(result, ["grid"], Selection(stage, layer, head), directory, overwrite=overwrite)[0]


def export_script(config: AttentionConfig, directory: Path | str, *, overwrite: bool = False) -> Path:
    """Write `attn-script.py`: a standalone torch script that recomputes `config` and prints its JSON."""
    path = folder(directory) / "attn-script.py"
    check_free([path], overwrite)
    text = script_source(config)
    return write_file(path, lambda f: f.write(text), overwrite=overwrite)
