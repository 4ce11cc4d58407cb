"""One stage of a result as a labelled table (what CSV and SVG exports hold), named for its file.

Reads results through `attn_tui.result.Result` and the stage registry; the embeddings count as a
stage here (the JSON's first matrix). Standard library and numpy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from attn_tui.stages import STAGE_BY_NAME, STAGES, token_labels

if TYPE_CHECKING:
    import numpy as np

    from attn_tui.result import Result

CSV_STAGES = (*(stage.name for stage in STAGES), "embeddings")
"""The stages `export_csv` and `export_svg_grid` accept (the result's tensor names)."""

PER_HEAD = frozenset(stage.name for stage in STAGES if stage.square and stage.per_head)
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
    groups: tuple[tuple[int, ...], ...] | None = None
    """The word view: the token positions merged into each row and column; None when they are tokens."""


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


def tables(result: Result, stage: str, head: int | None, layer: int = 0, *, words: bool = False) -> list[Table]:
    """The matrices of one stage: one, or one per head when `head` is None for a per-head stage.

    `words`: a stage that adds up (weights, value-weighted, rollout) merged into the prompt's words, as the
    word view shows it (`-words` in the file name); other stages stay per token."""
    if stage == "embeddings":
        values = result.embeddings.numpy()
        return [Table(values, positioned(token_labels(result)), [f"d{j}" for j in range(values.shape[1])],
                      "token \\ dim", f"{result.file_prefix}-embeddings", "E = table[ids]", "diverging")]
    if stage not in CSV_STAGES:
        raise ValueError(f"unknown stage {stage!r}: use one of {', '.join(CSV_STAGES)}")
    if stage not in result.stages:
        raise ValueError(f"a {result.source} result has no stage {stage!r}: it has {', '.join(sorted(result.stages))}")
    spec = STAGE_BY_NAME[stage]
    layer = index("layer", layer, result.n_layers)
    several = spec.per_head and (result.n_heads > 1 or stage in PER_HEAD)
    heads = range(result.n_heads) if head is None and several else [index("head", head or 0, result.n_heads)]
    labels = positioned(token_labels(result))
    merge = None
    groups = None
    if words and spec.additive:  # issue 16: the word view
        from attn_tui.report import word_axis

        axis = word_axis(result)
        groups = axis.positions
        merge = [list(group) for group in axis.positions]
        labels = [f"{group[-1]}:{label}" for group, label in zip(axis.positions, axis.labels, strict=True)]
    out = []
    for h in heads:
        values = result.stage_tensor(stage, layer, h).numpy()
        if merge is not None:
            from attn_tui.analysis import merge_words

            values = merge_words(values, merge)
        n_rows, n_cols = values.shape
        dims = [f"d{j}" for j in range(n_cols)]
        if spec.square:
            rows, cols, corner = labels, labels, "query \\ key"
        elif spec.rows == "model":
            width = "d_v" if stage == "w_value" else "d_k"
            rows, cols, corner = [f"d{i}" for i in range(n_rows)], dims, f"d_model \\ {width}"
        else:
            rows, cols, corner = labels, dims, "token \\ dim"
        stem = f"{result.file_prefix}-{stage}" + ("-words" if merge is not None else "")
        title = spec.formula + (", words" if merge is not None else "")
        if result.n_layers > 1:  # numbered from 1, as the screen numbers them
            stem += f"-layer{layer + 1}"
            title += f", layer {layer + 1}"
        if several:
            stem += f"-head{h + 1}"
            title += f", head {h + 1}"
        out.append(Table(values, rows, cols, corner, stem, title, spec.kind, groups))
    return out
