"""Getting a state out of attn-tui: JSON, CSV, NumPy, an SVG figure, a script, a command line.

Torch, numpy and the standard library only (no textual, no rich), so the CLI and tests use it
without a screen. Every writer takes a directory, names its file(s) after what they hold, and
refuses to replace an existing file unless `overwrite=True` (raising `ExportExists`).

File names, for a toy result (model results put the model in front: `attn-minilm-…`):

    attn-result.json           the `attn-tui --json` object
    attn-result.npz            every matrix, named as in the JSON, plus words, token_ids, vocab
    attn-weights-head0.csv     one stage's matrix (one head of a per-head stage)
    attn-weights-head0.svg     the same matrix as a figure
    attn-script.py             a standalone script that recomputes the state

CSV cells: numbers are the shortest text that reads back as the same float32; a masked cell of
`scaled` (−∞) is written `-inf`, which Python's `float`, numpy and pandas all read back.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
import os
import shlex
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attn_tui.config import DEFAULTS, FIELD_NAMES, AttentionConfig
from attn_tui.script import script_source

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "CSV_STAGES",
    "MAX_SVG_CELLS",
    "ExportExists",
    "command_flags",
    "command_line",
    "export_csv",
    "export_json",
    "export_npz",
    "export_script",
    "export_svg_grid",
    "script_source",
    "write_script_cli",
]

CSV_STAGES = (
    "w_query", "w_key", "w_value", "query", "key", "value", "scores", "scaled", "weights", "context",
    "embeddings",
)
"""The stages `export_csv` and `export_svg_grid` accept (the result's tensor names)."""

PER_HEAD = frozenset({"scores", "scaled", "weights"})
"""Stages shaped (heads, T, T): `head` picks one."""

MAX_SVG_CELLS = 250_000
"""A figure with more cells than this (500 × 500) is refused: no viewer would draw it usefully."""


class ExportExists(FileExistsError):
    """The target file exists and `overwrite` was not asked for; the message names the path."""

    def __init__(self, path: Path) -> None:
        super().__init__(f"{path} exists; not overwriting")
        self.path = path
        """The file that is already there."""

    def __str__(self) -> str:
        return f"{self.path} exists; not overwriting"


# ── The command line ────────────────────────────────────────────────────────────────────────


def _flag(field: str) -> str:
    return "--" + field.replace("_", "-")


def command_flags(config: AttentionConfig, model: str = "toy") -> list[str]:
    """The `attn-tui` arguments (unquoted) that set `config`: only fields that differ from the defaults.

    A value starting with `-` is joined to its flag (`--prompt=-x`) so argparse never reads it as
    an option.
    """
    args: list[str] = []
    if model != "toy":
        args += ["--model", model]
    for field in FIELD_NAMES:
        value = getattr(config, field)
        default = getattr(DEFAULTS, field)
        if value == default:
            continue
        flag = _flag(field)
        if field == "causal":
            args.append(flag if value else f"--no-{field}")
            continue
        text = repr(float(value)) if field == "temperature" else str(value)
        if text.startswith("-"):
            args.append(f"{flag}={text}")
        else:
            args += [flag, text]
    return args


def command_line(config: AttentionConfig, model: str = "toy") -> str:
    """The shell command that reopens exactly this state: `attn-tui --prompt 'a b' --heads 2 --causal`."""
    return shlex.join(["attn-tui", *command_flags(config, model)])


# ── Writing files without clobbering ────────────────────────────────────────────────────────


def _target(directory: Path | str, name: str, overwrite: bool) -> Path:
    directory = Path(directory).expanduser()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    if not overwrite and (path.exists() or path.is_symlink()):
        raise ExportExists(path)
    return path


def _write(path: Path, overwrite: bool, write: Callable[[Any], None], *, binary: bool = False) -> Path:
    """Write through `write(file)`; a failed write leaves neither a half file nor a lost old one.

    Without `overwrite` the file is opened with "x", so one that appears in the meantime is still
    never replaced. With it, the text goes to a temporary file that then replaces the old one.
    """
    target = path.with_name(f".{path.name}.{os.getpid()}.tmp") if overwrite else path
    mode = ("w" if overwrite else "x") + ("b" if binary else "")
    try:
        # Closed by the `with` below, after the mode has decided whether we may write at all.
        handle = open(target, mode) if binary else open(target, mode, encoding="utf-8", newline="")  # noqa: SIM115
    except FileExistsError:
        raise ExportExists(path) from None
    try:
        with handle:
            write(handle)
        if overwrite:
            os.replace(target, path)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return path


def _is_model(result: Any) -> bool:
    return hasattr(result, "attentions")


def _prefix(result: Any) -> str:
    return f"attn-{result.model}" if _is_model(result) else "attn"


# ── JSON and NumPy ──────────────────────────────────────────────────────────────────────────


def result_dict(result: Any) -> dict[str, Any]:
    """The `--json` object of a toy result, or the models' schema for a real-model result."""
    if _is_model(result):
        from attn_tui.models import result_to_dict as model_to_dict

        return model_to_dict(result)
    from attn_tui.serialize import result_to_dict

    return result_to_dict(result)


def export_json(result: Any, directory: Path | str, *, overwrite: bool = False) -> Path:
    """Write the result in the `attn-tui --json` schema to `attn-result.json`."""
    from attn_tui.serialize import dumps

    text = dumps(result_dict(result)) + "\n"
    path = _target(directory, f"{_prefix(result)}-result.json", overwrite)
    return _write(path, overwrite, lambda f: f.write(text))


def npz_arrays(result: Any) -> dict[str, np.ndarray]:
    """Every array `export_npz` writes: the JSON's matrices by the JSON's names, and the text as arrays.

    Masked entries of `scaled` stay −∞ (NumPy keeps them; JSON cannot). Strings are unicode
    arrays, so `numpy.load` needs no pickle.
    """
    import numpy as np

    if _is_model(result):
        arrays = {
            "model": np.array(result.model),
            "tokens": np.array(list(result.tokens), dtype=np.str_),
            "token_ids": np.asarray(list(result.token_ids), dtype=np.int64),
            "attentions": _numpy(result.attentions),
        }
        # The rest of a model result, when it has it: the tensors the attentions came from.
        for name in ("prompt", "special", "embeddings", "queries", "keys", "scale", "causal"):
            if hasattr(result, name):
                value = getattr(result, name)
                arrays[name] = _numpy(value) if hasattr(value, "detach") else np.array(value)
        return arrays
    from attn_tui.serialize import MATRICES

    config = result.config
    arrays: dict[str, np.ndarray] = {
        "prompt": np.array(config.prompt, dtype=np.str_),
        "config": np.array(json.dumps(_config_dict(config), ensure_ascii=False)),
        "words": np.array(list(result.words), dtype=np.str_),
        "token_ids": np.asarray(result.token_ids, dtype=np.int64),
        "vocab_words": np.array(list(result.vocab.keys()), dtype=np.str_),
        "vocab_ids": np.asarray(list(result.vocab.values()), dtype=np.int64),
    }
    for name in MATRICES:
        arrays[name] = _numpy(getattr(result, name))
    return arrays


def export_npz(result: Any, directory: Path | str, *, overwrite: bool = False) -> Path:
    """Write every matrix of the result (named as in the JSON) to `attn-result.npz`.

    Also `words`, `token_ids`, `vocab_words`/`vocab_ids`, `prompt` and `config` (a JSON string);
    for a real model: `model`, `tokens`, `token_ids`, `attentions` (layers, heads, T, T), and
    `prompt`, `special`, `embeddings`, `queries`, `keys`, `scale`, `causal`.
    """
    import numpy as np

    arrays = npz_arrays(result)
    path = _target(directory, f"{_prefix(result)}-result.npz", overwrite)
    return _write(path, overwrite, lambda f: np.savez_compressed(f, **arrays), binary=True)


def _config_dict(config: AttentionConfig) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(config)


def _numpy(tensor: Any) -> np.ndarray:
    import numpy as np

    if hasattr(tensor, "detach"):
        return tensor.detach().cpu().numpy().copy()
    return np.asarray(tensor)


# ── One stage as a labelled table ───────────────────────────────────────────────────────────


class _Table:
    """One 2-D matrix with its labels, its file stem and what it is."""

    def __init__(self, values: np.ndarray, rows: Sequence[str], cols: Sequence[str], corner: str,
                 stem: str, title: str, kind: str) -> None:
        self.values = values
        self.rows = list(rows)
        self.cols = list(cols)
        self.corner = corner
        """The top-left header cell: what the rows and the columns are (`query \\ key`)."""
        self.stem = stem
        self.title = title
        self.kind = kind
        """`sequential` (weights, 0 up) or `diverging` (signed)."""


_FORMULAS = {
    "w_query": "W_query", "w_key": "W_key", "w_value": "W_value", "embeddings": "E = table[ids]",
    "query": "Q = E · W_query", "key": "K = E · W_key", "value": "V = E · W_value",
    "scores": "scores = Q_h · K_hᵀ", "scaled": "scaled = scores / (√d_head · τ)",
    "weights": "weights = softmax(scaled)", "context": "context = weights · V",
}


def _positioned(words: Sequence[str]) -> list[str]:
    """`3:attention`: a word with its position, so repeated words stay distinct labels."""
    return [f"{i}:{w}" for i, w in enumerate(words)]


def _tables(result: Any, stage: str, head: int | None, layer: int) -> list[_Table]:
    """The matrices of one stage: one, or one per head when `head` is None for a per-head stage."""
    if _is_model(result):
        if stage != "weights":
            raise ValueError(f"a {result.model} result has attention weights only, not {stage!r}")
        attentions = _numpy(result.attentions)  # (layers, heads, T, T)
        n_layers, n_heads = attentions.shape[:2]
        layer = _index("layer", layer, n_layers)
        heads = range(n_heads) if head is None else [_index("head", head, n_heads)]
        labels = _positioned(list(result.tokens))
        return [_Table(attentions[layer, h], labels, labels, "query \\ key",
                       f"attn-{result.model}-layer{layer}-head{h}",
                       f"{result.model} layer {layer} head {h}: attention weights", "sequential")
                for h in heads]

    if stage not in CSV_STAGES:
        raise ValueError(f"unknown stage {stage!r}: use one of {', '.join(CSV_STAGES)}")
    c = result.config
    values = _numpy(getattr(result, stage))
    words = _positioned(result.words)
    kind = "sequential" if stage == "weights" else "diverging"
    if stage in PER_HEAD:
        heads = range(c.heads) if head is None else [_index("head", head, c.heads)]
        return [_Table(values[h], words, words, "query \\ key", f"attn-{stage}-head{h}",
                       f"{_FORMULAS[stage]}, head {h}", kind) for h in heads]
    n_rows, n_cols = values.shape
    dims = [f"d{j}" for j in range(n_cols)]
    if stage.startswith("w_"):
        width = "d_v" if stage == "w_value" else "d_k"
        rows, corner = [f"d{i}" for i in range(n_rows)], f"d_model \\ {width}"
    else:
        rows, corner = words, "token \\ dim"
    return [_Table(values, rows, dims, corner, f"attn-{stage}", _FORMULAS[stage], kind)]


def _index(name: str, value: int, count: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    if value < 0:
        value += count
    if not 0 <= value < count:
        raise ValueError(f"{name} {value} is out of range: 0 to {count - 1}")
    return value


def _cell(value: float) -> str:
    """The shortest text that reads back as the same float32 (`-inf` for a masked cell)."""
    import numpy as np

    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return str(np.float32(value))  # numpy's shortest round-trip text for a float32: 0.3374, 1e-05


def export_csv(result: Any, stage: str, head: int | None, directory: Path | str, *,
               overwrite: bool = False, layer: int = 0) -> list[Path]:
    """Write the matrix of `stage` (one head of a per-head stage; every head when `head` is None).

    The first row holds the column labels, the first column the row labels: words with their
    position (`3:attention`) for tokens, `d0…` for feature dimensions and for the d_model rows
    of the W matrices. A masked cell of `scaled` is `-inf`. For a real-model result the stage is
    `weights` and `layer` picks the layer.
    """
    tables = _tables(result, stage, head, layer)
    paths = [_target(directory, f"{t.stem}.csv", overwrite) for t in tables]
    written = []
    for table, path in zip(tables, paths, strict=True):
        def write(f: Any, table: _Table = table) -> None:
            out = csv.writer(f, lineterminator="\n")
            out.writerow([table.corner, *table.cols])
            # numpy's own float32 → text is the shortest round-trip form, like _cell, 3× faster.
            for label, row in zip(table.rows, table.values.astype(str).tolist(), strict=True):
                out.writerow([label, *row])

        written.append(_write(path, overwrite, write))
    return written


# ── The grid as an SVG figure ───────────────────────────────────────────────────────────────

# Light, print-friendly scales (white paper): the app's light-theme colours.
_DIVERGING = ((38, 92, 204), (247, 247, 247), (204, 52, 40))
_SEQUENTIAL = ((250, 250, 252), (190, 215, 240), (90, 150, 210), (40, 80, 170), (20, 30, 100))


def _lerp(stops: Sequence[tuple[int, int, int]], t: float) -> tuple[int, int, int]:
    t = min(max(t, 0.0), 1.0)
    pos = t * (len(stops) - 1)
    i = min(int(pos), len(stops) - 2)
    f = pos - i
    a, b = stops[i], stops[i + 1]
    return (round(a[0] + (b[0] - a[0]) * f), round(a[1] + (b[1] - a[1]) * f), round(a[2] + (b[2] - a[2]) * f))


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#{:02x}{:02x}{:02x}".format(*rgb)


def _ink(rgb: tuple[int, int, int]) -> str:
    r, g, b = rgb
    return "#111111" if 0.2126 * r + 0.7152 * g + 0.0722 * b > 140 else "#f5f5f5"


def _xml_text(text: str) -> str:
    """Text safe inside SVG: escaped, and characters XML 1.0 forbids (controls) shown as `�`."""
    clean = "".join(
        ch if (ch in "\t\n" or 0x20 <= ord(ch) < 0xD800 or 0xE000 <= ord(ch) <= 0xFFFD or ord(ch) >= 0x10000)
        else "\ufffd"
        for ch in text
    )
    return html.escape(clean, quote=True)


def _text_width(text: str, size: float) -> float:
    """A generous estimate of a label's width in a sans-serif font (no font metrics here)."""
    return sum(size * (1.0 if ord(ch) > 0x2E80 else 0.62) for ch in text)


def _short(text: str, limit: int = 18) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _g(value: float) -> str:
    return _number(value, 4)


def svg_grid(result: Any, stage: str, head: int = 0, *, layer: int = 0) -> str:
    """The matrix of `stage` (one head) as a standalone SVG document.

    Cells coloured by value (sequential for weights, diverging about 0 for signed stages), row
    and column labels, a colour bar with its range, masked cells hatched. Each cell has a
    `<title>` (row label, column label, exact value), which viewers show as a tooltip.
    """
    table = _tables(result, stage, head, layer)[0]
    values = table.values
    n_rows, n_cols = values.shape
    if n_rows * n_cols > MAX_SVG_CELLS:
        raise ValueError(f"{n_rows} × {n_cols} cells is too many for a figure (at most {MAX_SVG_CELLS:,})")
    flat = [v for row in values.tolist() for v in row]
    masked = [math.isinf(v) and v < 0 for v in flat]
    causal = bool(getattr(result, "causal", False)) if _is_model(result) else result.config.causal
    if stage == "weights" and causal:
        # Softmax turned −∞ into exact zeros; show them as masked, not as small weights.
        masked = [j > i for i in range(n_rows) for j in range(n_cols)]
    finite = [v for v, m in zip(flat, masked, strict=True) if not m and math.isfinite(v)]
    low, high = (min(finite), max(finite)) if finite else (0.0, 0.0)
    if table.kind == "sequential":
        low, stops = 0.0, _SEQUENTIAL
    else:
        top = max(abs(low), abs(high))
        low, high, stops = -top, top, _DIVERGING

    def colour(v: float) -> tuple[int, int, int]:
        span = high - low
        return _lerp(stops, (v - low) / span if span > 0 else (0.5 if table.kind == "diverging" else 0.0))

    font = 11.0
    cell = 26.0 if max(n_rows, n_cols) <= 40 else max(4.0, 1040.0 / max(n_rows, n_cols))
    show_numbers = cell >= 26.0 and n_cols <= 24
    show_labels = cell >= 8.0
    row_labels = [_short(s) for s in table.rows]
    col_labels = [_short(s) for s in table.cols]
    pad = 12.0
    label_w = (max(_text_width(s, font) for s in row_labels) + 8.0) if show_labels else 0.0
    col_h = (max(_text_width(s, font) for s in col_labels) * 0.72 + 12.0) if show_labels else 0.0
    title_h = 22.0
    grid_x, grid_y = pad + label_w, pad + title_h + col_h
    grid_w, grid_h = n_cols * cell, n_rows * cell
    bar_x, bar_w = grid_x + grid_w + 18.0, 14.0
    bar_h = max(grid_h, 120.0)
    ticks = (high, (low + high) / 2, low)
    width = bar_x + bar_w + 10.0 + max(_text_width(_g(t), font) for t in ticks) + pad
    height = grid_y + bar_h + pad + (bar_w + 8.0 if any(masked) else 0.0)

    out = io.StringIO()
    w = out.write
    w('<?xml version="1.0" encoding="UTF-8"?>\n')
    w(f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
      f'viewBox="0 0 {width:.1f} {height:.1f}" font-family="Helvetica, Arial, sans-serif" '
      f'font-size="{font:g}">\n')
    w(f"<title>{_xml_text(table.title)}</title>\n")
    w('<defs><pattern id="masked" width="6" height="6" patternUnits="userSpaceOnUse" '
      'patternTransform="rotate(45)"><rect width="6" height="6" fill="#ffffff"/>'
      '<line x1="0" y1="0" x2="0" y2="6" stroke="#b0b0b0" stroke-width="2"/></pattern>\n')
    w('<linearGradient id="scale" x1="0" y1="1" x2="0" y2="0">')
    for i in range(11):
        w(f'<stop offset="{i / 10:g}" stop-color="{_hex(_lerp(stops, i / 10))}"/>')
    w("</linearGradient></defs>\n")
    w('<rect width="100%" height="100%" fill="#ffffff"/>\n')
    w(f'<text x="{pad:g}" y="{pad + 14:g}" font-size="13" font-weight="bold">{_xml_text(table.title)}'
      f' ({n_rows}×{n_cols})</text>\n')

    if show_labels:
        w('<g class="row-labels" text-anchor="end" dominant-baseline="central">\n')
        for i, label in enumerate(row_labels):
            w(f'<text x="{grid_x - 6:.1f}" y="{grid_y + (i + 0.5) * cell:.1f}">{_xml_text(label)}</text>\n')
        w("</g>\n")
        w('<g class="col-labels" text-anchor="start">\n')
        for j, label in enumerate(col_labels):
            x, y = grid_x + (j + 0.5) * cell, grid_y - 6
            w(f'<text x="{x:.1f}" y="{y:.1f}" transform="rotate(-45 {x:.1f} {y:.1f})">'
              f"{_xml_text(label)}</text>\n")
        w("</g>\n")

    w('<g class="cells">\n')
    number_size = min(font, cell / 3.2)
    for i in range(n_rows):
        for j in range(n_cols):
            v = flat[i * n_cols + j]
            x, y = grid_x + j * cell, grid_y + i * cell
            tip = f"{table.rows[i]} → {table.cols[j]}: "
            if masked[i * n_cols + j]:
                w(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" '
                  f'fill="url(#masked)" data-value="{_cell(v)}" data-masked="true">'
                  f"<title>{_xml_text(tip)}masked</title></rect>\n")
                continue
            rgb = colour(v)
            w(f'<rect x="{x:.1f}" y="{y:.1f}" width="{cell:.1f}" height="{cell:.1f}" fill="{_hex(rgb)}" '
              f'data-value="{_cell(v)}"><title>{_xml_text(tip + _cell(v))}</title></rect>\n')
            if show_numbers:
                w(f'<text x="{x + cell / 2:.1f}" y="{y + cell / 2:.1f}" text-anchor="middle" '
                  f'dominant-baseline="central" font-size="{number_size:.1f}" fill="{_ink(rgb)}" '
                  f'pointer-events="none">{_number(v)}</text>\n')
    w("</g>\n")
    w(f'<rect x="{grid_x:.1f}" y="{grid_y:.1f}" width="{grid_w:.1f}" height="{grid_h:.1f}" fill="none" '
      f'stroke="#444444" stroke-width="0.8"/>\n')

    # The colour bar, with its ends and middle labelled.
    w('<g class="legend">\n')
    w(f'<rect x="{bar_x:.1f}" y="{grid_y:.1f}" width="{bar_w:g}" height="{bar_h:.1f}" fill="url(#scale)" '
      f'stroke="#444444" stroke-width="0.6"/>\n')
    for frac, value in zip((0.0, 0.5, 1.0), ticks, strict=True):
        y = grid_y + frac * bar_h
        w(f'<line x1="{bar_x + bar_w:.1f}" y1="{y:.1f}" x2="{bar_x + bar_w + 4:.1f}" y2="{y:.1f}" '
          f'stroke="#444444" stroke-width="0.6"/>')
        w(f'<text x="{bar_x + bar_w + 6:.1f}" y="{y:.1f}" dominant-baseline="central">{_g(value)}</text>\n')
    if any(masked):
        y = grid_y + bar_h + 4
        w(f'<rect x="{bar_x:.1f}" y="{y:.1f}" width="{bar_w:g}" height="{bar_w:g}" fill="url(#masked)" '
          f'stroke="#444444" stroke-width="0.6"/><text x="{bar_x + bar_w + 6:.1f}" y="{y + bar_w / 2:.1f}" '
          f'dominant-baseline="central">masked</text>\n')
    w("</g>\n</svg>\n")
    return out.getvalue()


def _number(v: float, digits: int = 0) -> str:
    """A cell's or a tick's number as printed: two decimals (or `digits` significant), a real minus."""
    text = f"{v:.{digits}g}" if digits else f"{v:.2f}"
    if text in ("-0", "-0.00"):
        text = text[1:]
    return "−" + text[1:] if text.startswith("-") else text


def export_svg_grid(result: Any, stage: str, head: int, directory: Path | str, *,
                    overwrite: bool = False, layer: int = 0) -> Path:
    """Write one stage's grid (one head) as a standalone SVG figure, `attn-weights-head0.svg`."""
    text = svg_grid(result, stage, head, layer=layer)
    table_stem = _tables(result, stage, head, layer)[0].stem
    path = _target(directory, f"{table_stem}.svg", overwrite)
    return _write(path, overwrite, lambda f: f.write(text))


# ── The reproducible script ─────────────────────────────────────────────────────────────────


def export_script(config: AttentionConfig, directory: Path | str, *, overwrite: bool = False) -> Path:
    """Write `attn-script.py`: a standalone torch script that recomputes `config` and prints its JSON."""
    text = script_source(config)
    path = _target(directory, "attn-script.py", overwrite)
    return _write(path, overwrite, lambda f: f.write(text))


def write_script_cli(config: AttentionConfig, path: str) -> int:
    """`attn-tui --export-script FILE`: write the script, say so on stderr, return 0.

    An existing FILE or one that cannot be written: one `error: …` line and exit 2.
    """
    from attn_tui.cli import fail

    target = Path(path).expanduser()
    if target.exists() or target.is_symlink():
        fail(f"{path} exists; not overwriting")
    text = script_source(config)
    try:
        _write(target, False, lambda f: f.write(text))
    except ExportExists:
        fail(f"{path} exists; not overwriting")
    except OSError as error:
        fail(f"cannot write {path}: {error.strerror or error}")
    sys.stderr.write(f"wrote {path}\n")
    return 0
