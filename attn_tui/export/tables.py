"""One stage of a result as a labelled table (what CSV and SVG exports hold), named for its file.

Reads results through `attn_tui.result.Result` and the stage registry; the embeddings count as a
stage here (the JSON's first matrix). Standard library and numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from attn_tui.stages import STAGE_BY_NAME, STAGES

if TYPE_CHECKING:
    import numpy as np

    from attn_tui.result import Result

CSV_STAGES = (*(stage.name for stage in STAGES), "embeddings")
"""The stages `export_csv` and `export_svg_grid` accept (the result's tensor names)."""

PER_HEAD = frozenset(stage.name for stage in STAGES if stage.square)
"""Stages shaped (heads, T, T) in a toy result: `head` picks one, and names the file."""


@dataclass(frozen=True, eq=False)
class Table:
    """One 2-D matrix with its labels, its file stem and what it is."""

    values: np.ndarray
    rows: list[str]
    cols: list[str]
    corner: str
    """The top-left header cell: what the rows and the columns are (`query \\ key`)."""
    stem: str
    title: str
    kind: str
    """`sequential` (weights, 0 up) or `diverging` (signed)."""


def positioned(words: Sequence[str]) -> list[str]:
    """`3:attention`: a word with its position, so repeated words stay distinct labels."""
    return [f"{i}:{w}" for i, w in enumerate(words)]


def index(name: str, value: int, count: int) -> int:
    """`value` checked against `count` (negative counts from the end)."""
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be a whole number, not {value!r}")
    if value < 0:
        value += count
    if not 0 <= value < count:
        raise ValueError(f"{name} {value} is out of range: 0 to {count - 1}")
    return value


def tables(result: Result, stage: str, head: int | None, layer: int = 0) -> list[Table]:
    """The matrices of one stage: one, or one per head when `head` is None for a per-head stage."""
    if stage == "embeddings":
        values = result.embeddings.numpy()
        return [Table(values, positioned(result.tokens), [f"d{j}" for j in range(values.shape[1])],
                      "token \\ dim", f"{result.file_prefix}-embeddings", "E = table[ids]", "diverging")]
    if stage not in CSV_STAGES:
        raise ValueError(f"unknown stage {stage!r}: use one of {', '.join(CSV_STAGES)}")
    if stage not in result.stages:
        raise ValueError(f"a {result.source} result has no stage {stage!r}: it has {', '.join(sorted(result.stages))}")
    spec = STAGE_BY_NAME[stage]
    layer = index("layer", layer, result.n_layers)
    several = spec.per_head and (result.n_heads > 1 or stage in PER_HEAD)
    heads = range(result.n_heads) if head is None and several else [index("head", head or 0, result.n_heads)]
    words = positioned(result.tokens)
    out = []
    for h in heads:
        values = result.stage_tensor(stage, layer, h).numpy()
        n_rows, n_cols = values.shape
        dims = [f"d{j}" for j in range(n_cols)]
        if spec.square:
            rows, cols, corner = words, words, "query \\ key"
        elif spec.rows == "model":
            width = "d_v" if stage == "w_value" else "d_k"
            rows, cols, corner = [f"d{i}" for i in range(n_rows)], dims, f"d_model \\ {width}"
        else:
            rows, cols, corner = words, dims, "token \\ dim"
        stem = f"{result.file_prefix}-{stage}"
        title = spec.formula
        if result.n_layers > 1:  # numbered from 1, as the screen numbers them
            stem += f"-layer{layer + 1}"
            title += f", layer {layer + 1}"
        if several:
            stem += f"-head{h + 1}"
            title += f", head {h + 1}"
        out.append(Table(values, rows, cols, corner, stem, title, spec.kind))
    return out
