"""The pipeline's stages as displayable matrices: name, formula, shape, labels and values.

Numpy views of the frozen result's tensors; nothing here recomputes attention.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

    from attn_tui.attention import AttentionResult


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline the big grid can show."""

    name: str
    """The result attribute (`weights`)."""
    label: str
    """Short name for keys, tabs and the palette (`weights`)."""
    short: str
    """Shortest name, for the stage bar (`Wq`)."""
    formula: str
    """How it is made, as the title shows it."""
    kind: str
    """`diverging` (signed values) or `sequential` (weights)."""
    per_head: bool = False
    """(heads, T, T): one head is shown at a time."""
    explain: str = ""
    """One sentence for the help screen."""


STAGES: tuple[Stage, ...] = (
    Stage("w_query", "W_query", "Wq", "W_query ~ U[0,1)", "diverging",
          explain="the random query projection, d_model × d_k"),
    Stage("w_key", "W_key", "Wk", "W_key ~ U[0,1)", "diverging", explain="the random key projection, d_model × d_k"),
    Stage("w_value", "W_value", "Wv", "W_value ~ U[0,1)", "diverging",
          explain="the random value projection, d_model × d_v"),
    Stage("query", "Q", "Q", "Q = E · W_query", "diverging", explain="each word's query: what it looks for"),
    Stage("key", "K", "K", "K = E · W_key", "diverging", explain="each word's key: what it offers to be found by"),
    Stage("value", "V", "V", "V = E · W_value", "diverging", explain="each word's value: what it hands on"),
    Stage("scores", "scores", "scores", "scores = Q_h · K_hᵀ", "diverging", per_head=True,
          explain="every query dotted with every key"),
    Stage("scaled", "scaled", "scaled", "scaled = scores / (√d_head · τ)", "diverging", per_head=True,
          explain="scores divided by √(d_k/heads) and the temperature τ; −∞ where masked"),
    Stage("weights", "weights", "weights", "weights = softmax(scaled)", "sequential", per_head=True,
          explain="each row a probability distribution over the keys"),
    Stage("context", "context", "context", "context = weights · V", "diverging",
          explain="each word's new vector: the weighted average of the values"),
)
STAGE_BY_NAME = {stage.name: stage for stage in STAGES}
DEFAULT_STAGE = "weights"


@dataclass(frozen=True, eq=False)
class Matrix:
    """A 2-D array ready to draw: values, labels, and which cells are masked."""

    title: str
    values: np.ndarray
    """(rows, cols) float32; masked cells hold anything (see `masked`)."""
    row_labels: tuple[str, ...]
    col_labels: tuple[str, ...]
    kind: str
    low: float
    high: float
    masked: np.ndarray | None = None
    """(rows, cols) bool, True where the causal mask removed the key; None when nothing is."""
    mask_text: str = "masked"
    """What a masked cell shows (`−∞` for scaled scores, `·` for weights)."""
    rows_are_tokens: bool = True
    """Rows are the prompt's words (the cursor row is a query and highlights elsewhere)."""

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape  # type: ignore[return-value]


@lru_cache(maxsize=2)
def causal_mask(n: int) -> np.ndarray:
    """(n, n) bool, True above the diagonal (the keys after each query); shared, read-only."""
    import numpy as np

    mask = np.triu(np.ones((n, n), dtype=bool), 1)
    mask.flags.writeable = False
    return mask


def _range(values: np.ndarray, masked: np.ndarray | None) -> tuple[float, float]:
    """The smallest and largest finite value that is not masked; (0, 0) when there is none."""
    import math

    import numpy as np  # here, not at import: the first frame comes before numpy

    if values.size:  # two passes (4M cells at 2,048 words), no boolean indexing
        if masked is None:
            low, high = float(values.min()), float(values.max())
        else:
            keep = ~masked
            low = float(np.min(values, where=keep, initial=np.inf))
            high = float(np.max(values, where=keep, initial=-np.inf))
        if math.isfinite(low) and math.isfinite(high):
            return low, high
    shown = values.astype(np.float64) if masked is None else np.where(masked, np.nan, values)
    shown[~np.isfinite(shown)] = np.nan
    if np.isnan(shown).all():
        return 0.0, 0.0
    return float(np.nanmin(shown)), float(np.nanmax(shown))


def stage_matrix(result: AttentionResult, stage_name: str, head: int = 0) -> Matrix:
    """The matrix of one stage (one head for per-head stages), labelled for display."""

    stage = STAGE_BY_NAME[stage_name]
    c = result.config
    words = tuple(result.words)
    tensor = getattr(result, stage.name)
    head = min(max(head, 0), c.heads - 1)
    values = tensor[head].numpy() if stage.per_head else tensor.numpy()
    rows, cols = values.shape
    masked = None
    mask_text = "masked"
    if stage.per_head and c.causal and rows > 1:
        masked = causal_mask(rows)
        mask_text = "−∞" if stage.name == "scaled" else "·"
    if stage.name in ("scores", "scaled", "weights"):
        row_labels, col_labels = words, words
    elif stage.name.startswith("w_"):
        row_labels = tuple(f"d{i}" for i in range(rows))
        col_labels = tuple(str(i) for i in range(cols))
    else:
        row_labels, col_labels = words, tuple(str(i) for i in range(cols))
    low, high = _range(values, masked)
    if stage.kind == "sequential":
        low = 0.0
    shape = f"{c.heads}×{rows}×{cols}" if stage.per_head else f"{rows}×{cols}"
    title = f"{stage.formula}  ({shape})"
    if stage.per_head and c.heads > 1:
        title += f"  head {head + 1}/{c.heads} ([ ])"
    return Matrix(title, values, row_labels, col_labels, stage.kind, low, high, masked, mask_text,
                  rows_are_tokens=not stage.name.startswith("w_"))


def embedding_matrix(result: AttentionResult) -> Matrix:
    values = result.embeddings.numpy()
    low, high = _range(values, None)
    return Matrix(f"E ({values.shape[0]}×{values.shape[1]})", values,
                  tuple(result.words), tuple(str(i) for i in range(values.shape[1])),
                  "diverging", low, high)


def kept_tokens(special: tuple[bool, ...], hide_special: bool) -> np.ndarray:
    """Indices of the tokens shown: all, or all but the special ones (never none)."""
    import numpy as np  # here, not at import: the first frame comes before numpy

    every = np.arange(len(special))
    if not hide_special:
        return every
    kept = np.array([i for i, s in enumerate(special) if not s], dtype=int)
    return kept if kept.size else every


def model_matrix(result, layer: int, head: int, hide_special: bool = False) -> Matrix:
    """One real head's attention weights; with `hide_special`, special tokens removed and rows renormalised.

    `result` is an `attn_tui.models.ModelResult`.
    """
    import numpy as np  # here, not at import: the first frame comes before numpy

    weights = result.attentions[layer, head].numpy()  # (T, T)
    kept = kept_tokens(result.special, hide_special)
    values = weights[np.ix_(kept, kept)]
    note = ""
    if hide_special and kept.size < weights.shape[0]:
        sums = values.sum(axis=1, keepdims=True)
        values = np.divide(values, sums, out=np.zeros_like(values), where=sums > 0)
        note = "  special tokens hidden, rows renormalised"
    labels = tuple(result.tokens[i] for i in kept)
    masked = causal_mask(values.shape[0]) if result.causal and values.shape[0] > 1 else None
    low, high = _range(values, masked)
    title = (f"{result.model} layer {layer + 1}/{result.n_layers} head {head + 1}/{result.n_heads}"
             f"  ({values.shape[0]}×{values.shape[1]}){note}")
    return Matrix(title, values, labels, labels, "sequential", 0.0, high, masked, "·")


def model_embedding_matrix(result) -> Matrix:
    values = result.embeddings.numpy()
    low, high = _range(values, None)
    return Matrix(f"({values.shape[0]}×{values.shape[1]})", values, tuple(result.tokens),
                  tuple(str(i) for i in range(values.shape[1])), "diverging", low, high)
