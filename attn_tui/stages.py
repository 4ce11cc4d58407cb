"""The stage registry, and each stage of a result as a displayable matrix: labels, values, colour range.

One table, `STAGES`, is read by the keys, the stage bar, help, the palette, export, `--json`, the
script and the inspector: a new stage is one row here plus its computation in the sources.
Numpy views of the frozen result's tensors; nothing here recomputes attention.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np

    from attn_tui.result import Result

Axis = Literal["tokens", "dims", "model"]
"""What a matrix axis runs over: the prompt's tokens, a head's feature dimensions, or d_model."""


@dataclass(frozen=True)
class Stage:
    """One step of the pipeline the big grid can show."""

    name: str
    """The result's name for it, and its key in `--json` and `.npz` (`weights`)."""
    key: str
    """The key that shows it (`9`)."""
    label: str
    """Short name for the palette and help (`W_query`)."""
    short: str
    """Shortest name, for the stage bar (`Wq`)."""
    formula: str
    """How it is made, as the title shows it."""
    explain: str
    """One sentence for the help screen."""
    signed: bool = True
    """Values of both signs (a diverging colour scale); False: weights, 0 up (a sequential one)."""
    per_head: bool = False
    """One head is shown at a time (`[ ]` changes it)."""
    rows: Axis = "tokens"
    cols: Axis = "dims"
    derived: bool = False
    """Computed from the weights after the pipeline (an analysis, not a step of it): `--json` and `.npz` name
    it by its own flag (`--value-weighted`, `--rollout`), not among the pipeline's matrices."""
    distribution: bool = False
    """Each row sums to 1: when special tokens are hidden, the rows are renormalised."""
    additive: bool = False
    """Its values are shares of what reaches the query, so they add up over a word's tokens: the word view
    (`w`) merges it. Scores and scaled scores are logits, not shares: the word view leaves them alone."""
    unit: str = ""
    """What the legend calls the values ("" for the default: `weight`, or `blue < 0 < red`)."""

    @property
    def binding(self) -> str:
        """The key as Textual names it (`minus` for `-`)."""
        return KEY_NAMES.get(self.key, self.key)

    @property
    def kind(self) -> str:
        """`diverging` or `sequential`: the colour scale."""
        return "diverging" if self.signed else "sequential"

    @property
    def square(self) -> bool:
        """Queries × keys (T × T)."""
        return self.cols == "tokens"


KEY_NAMES = {"-": "minus", "=": "equals_sign"}
"""Textual's names for the stage keys that are not letters or digits."""

STAGES: tuple[Stage, ...] = (
    Stage("w_query", "1", "W_query", "Wq", "W_query ~ U[0,1)", "the random query projection, d_model × d_k",
          rows="model"),
    Stage("w_key", "2", "W_key", "Wk", "W_key ~ U[0,1)", "the random key projection, d_model × d_k", rows="model"),
    Stage("w_value", "3", "W_value", "Wv", "W_value ~ U[0,1)", "the random value projection, d_model × d_v",
          rows="model"),
    Stage("query", "4", "Q", "Q", "Q = E · W_query", "each word's query: what it looks for", per_head=True),
    Stage("key", "5", "K", "K", "K = E · W_key", "each word's key: what it offers to be found by", per_head=True),
    Stage("value", "6", "V", "V", "V = E · W_value", "each word's value: what it hands on", per_head=True),
    Stage("scores", "7", "scores", "scores", "scores = Q_h · K_hᵀ", "every query dotted with every key",
          per_head=True, cols="tokens"),
    Stage("scaled", "8", "scaled", "scaled", "scaled = scores / (√d_head · τ)",
          "scores divided by √(d_k/heads) and the temperature τ; −∞ where masked", per_head=True, cols="tokens"),
    Stage("weights", "9", "weights", "weights", "weights = softmax(scaled)",
          "each row a probability distribution over the keys", signed=False, per_head=True, cols="tokens",
          distribution=True, additive=True),
    Stage("context", "0", "context", "context", "context = weights · V",
          "each word's new vector: the weighted average of the values", per_head=True),
    # Attention beyond the raw weights (issue 16): analyses of the weights, after the pipeline.
    Stage("value_weighted", "-", "value-weighted", "‖αf‖", "value-weighted = α_ij · ‖f_h(x_j)‖",
          "how much each key adds to the query: its weight times the size of its value through the output "
          "projection (‖v_j‖ for the toy, which has none); a sink with a tiny value adds little",
          signed=False, per_head=True, cols="tokens", derived=True, additive=True, unit="‖α·f(x)‖"),
    Stage("rollout", "=", "rollout", "rollout", "rollout = Ā_l ⋯ Ā_1, heads averaged",
          "how much of each input token reaches each position after this layer, through every layer below: "
          "per layer, not per head (Ā_l = ½ · mean over heads of A_l + ½ · I, the I for the residual stream)",
          signed=False, cols="tokens", derived=True, distribution=True, additive=True, unit="share"),
)
STAGE_BY_NAME = {stage.name: stage for stage in STAGES}
PIPELINE = tuple(stage.name for stage in STAGES if not stage.derived)
"""The pipeline's stages, in order: what `--json` and `.npz` hold by default (the derived ones have flags)."""
GENERATED_MARK = "⁺"
"""Before the label of a token the model generated (a `Generation`), in every pane."""
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
    """Rows are the prompt's tokens (the cursor row is a query and highlights elsewhere)."""
    rows_index: tuple[int, ...] | None = None
    """The token position of each row, when some tokens are hidden; None: row i is token i. In the word view,
    each word's last token (the one whose next token the model predicts)."""
    groups: tuple[tuple[int, ...], ...] | None = None
    """The word view: the token positions merged into each row (and column); None when rows are tokens."""
    unit: str = ""
    """What the legend calls the values ("": `weight` or `blue < 0 < red`, by kind)."""

    @property
    def shape(self) -> tuple[int, int]:
        return self.values.shape  # type: ignore[return-value]

    def token_at(self, row: int) -> int:
        """The token position shown in row `row`."""
        return self.rows_index[row] if self.rows_index is not None else row


@lru_cache(maxsize=2)
def causal_mask(n: int) -> np.ndarray:
    """(n, n) bool, True above the diagonal (the keys after each query); shared, read-only."""
    import numpy as np

    mask = np.triu(np.ones((n, n), dtype=bool), 1)
    mask.flags.writeable = False
    return mask


def value_range(values: np.ndarray, masked: np.ndarray | None) -> tuple[float, float]:
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


def kept_tokens(special: tuple[bool, ...], hide_special: bool) -> np.ndarray:
    """Indices of the tokens shown: all, or all but the special ones (never none)."""
    import numpy as np  # here, not at import: the first frame comes before numpy

    every = np.arange(len(special))
    if not hide_special or not any(special):
        return every
    kept = np.array([i for i, s in enumerate(special) if not s], dtype=int)
    return kept if kept.size else every


def _dims(n: int, prefix: str = "") -> tuple[str, ...]:
    return tuple(f"{prefix}{i}" for i in range(n))


def token_labels(result: Result) -> tuple[str, ...]:
    """The result's tokens as every pane labels them: a token the model generated starts with GENERATED_MARK."""
    generated = getattr(result, "generated", ())
    if True not in generated:
        return tuple(result.tokens)
    return tuple(GENERATED_MARK + token if new else token
                 for token, new in zip(result.tokens, generated, strict=True))


@dataclass(frozen=True)
class WordAxis:
    """The word view's rows and columns: which token positions each word merges, and its label.

    Made by `attn_tui.report.word_axis` (the one place that knows how words are found); the groups
    partition the token positions.
    """

    positions: tuple[tuple[int, ...], ...]
    labels: tuple[str, ...]


def stage_title(result: Result, stage: Stage, shape: tuple[int, int], layer: int, head: int) -> str:
    """`weights = softmax(scaled)  (4×10×10)  head 2/4 ([ ])`, with the layer when there are several."""
    rows, cols = shape
    size = f"{result.n_heads}×{rows}×{cols}" if stage.square and stage.per_head else f"{rows}×{cols}"
    title = f"{stage.formula}  ({size})"
    if result.n_layers > 1:
        title += f"  layer {layer + 1}/{result.n_layers}"
    if stage.per_head and result.n_heads > 1:
        title += f"  head {head + 1}/{result.n_heads} ([ ])"
    return title


def _merge_words(values: np.ndarray, kept: np.ndarray | None, words: WordAxis
                 ) -> tuple[np.ndarray, tuple[tuple[int, ...], ...], tuple[str, ...]]:
    """(G, G) word-level values of a (shown) token matrix: weight(u → w) = mean over u's tokens of the sum
    over w's (attn_tui.analysis.merge_words), for the words that keep a shown token; their positions, labels."""
    from attn_tui.analysis import merge_words

    if kept is None:
        positions, labels = words.positions, words.labels
        local = [list(group) for group in positions]
    else:
        where = {int(p): i for i, p in enumerate(kept)}
        chosen = [(tuple(p for p in group if p in where), label)
                  for group, label in zip(words.positions, words.labels, strict=True)]
        chosen = [(group, label) for group, label in chosen if group]
        positions = tuple(group for group, _ in chosen)
        labels = tuple(label for _, label in chosen)
        local = [[where[p] for p in group] for group in positions]
    return merge_words(values, local), positions, labels


def stage_matrix(result: Result, stage_name: str, head: int = 0, *, layer: int = 0,
                 hide_special: bool = False, words: WordAxis | None = None) -> Matrix:
    """The matrix of one stage (one head of one layer for per-head stages), labelled for display.

    With `hide_special`, special tokens leave the token axes; rows that are distributions are renormalised.
    With `words`, a stage whose values add up (`Stage.additive`) is merged into the prompt's words.
    """
    import numpy as np

    stage = STAGE_BY_NAME[stage_name]
    layer = min(max(layer, 0), result.n_layers - 1)
    head = min(max(head, 0), result.n_heads - 1)
    values = result.stage_tensor(stage.name, layer, head).numpy()
    kept = kept_tokens(result.special, hide_special) if stage.rows == "tokens" else None
    hidden = kept is not None and kept.size < result.n_tokens
    note = ""
    if hidden:
        assert kept is not None
        values = values[np.ix_(kept, kept)] if stage.square else values[kept]
        if stage.distribution:
            sums = values.sum(axis=1, keepdims=True)
            values = np.divide(values, sums, out=np.zeros_like(values), where=sums > 0)
            note = "  special tokens hidden, rows renormalised"
        else:
            note = "  special tokens hidden"
    labels = token_labels(result)
    tokens = labels if kept is None or not hidden else tuple(labels[i] for i in kept)
    rows_index = tuple(int(i) for i in kept) if hidden and kept is not None else None
    groups = None
    if words is not None and stage.additive:
        values, groups, tokens = _merge_words(values, kept if hidden else None, words)
        rows_index = tuple(group[-1] for group in groups)
        note += "  words (w)"
    elif words is not None and stage.square:
        note += "  words: weights, value-weighted, rollout only"
    rows, cols = values.shape
    masked = None
    mask_text = "masked"
    if stage.square and result.causal and rows > 1:
        if groups is None:
            masked = causal_mask(rows)
        else:  # a word whose every token comes after every token of the query word
            first = np.array([group[0] for group in groups])
            last = np.array([group[-1] for group in groups])
            masked = first[None, :] > last[:, None]
            masked = masked if masked.any() else None
        mask_text = "−∞" if stage.name == "scaled" else "·"
    row_labels = tokens if stage.rows == "tokens" else _dims(rows, "d")
    col_labels = tokens if stage.square else _dims(cols)
    low, high = value_range(values, masked)
    if not stage.signed:
        low = 0.0
    title = stage_title(result, stage, (rows, cols), layer, head) + note
    return Matrix(title, values, row_labels, col_labels, stage.kind, low, high, masked, mask_text,
                  rows_are_tokens=stage.rows == "tokens", rows_index=rows_index, groups=groups, unit=stage.unit)


def embedding_matrix(result: Result) -> Matrix:
    """E, (T × d): each token's input to the first layer."""
    values = result.embeddings.numpy()
    low, high = value_range(values, None)
    return Matrix(f"E ({values.shape[0]}×{values.shape[1]})", values, token_labels(result),
                  _dims(values.shape[1]), "diverging", low, high)


def compare_matrix(a: Result, b: Result, stage_name: str, head: int = 0, *, layer: int = 0) -> Matrix:
    """Prompt A against prompt B for one stage: A − B on a diverging scale centred on 0 when the two have
    the same shape; otherwise A and B side by side (B's columns after a masked gap column)."""
    import numpy as np

    ma = stage_matrix(a, stage_name, head, layer=layer)
    mb = stage_matrix(b, stage_name, head, layer=layer)
    stage = STAGE_BY_NAME[stage_name]
    if ma.shape == mb.shape:
        values = ma.values - mb.values
        masked = ma.masked
        if masked is not None:
            values = np.where(masked, 0.0, values)
        elif stage_name == "scaled":  # −∞ − −∞: masked in both
            values = np.nan_to_num(values, nan=0.0, posinf=0.0, neginf=0.0)
        low, high = value_range(values, masked)
        labels = tuple(f"{x}|{y}" if x != y else x for x, y in zip(ma.row_labels, mb.row_labels, strict=True))
        heads = tuple(f"{x}|{y}" if x != y else x for x, y in zip(ma.col_labels, mb.col_labels, strict=True))
        title = ma.title.replace(stage.formula, f"A − B: {stage.formula}", 1)
        return Matrix(title, values.astype(np.float32), labels, heads, "diverging", low, high, masked, ma.mask_text,
                      rows_are_tokens=ma.rows_are_tokens)
    rows = max(ma.shape[0], mb.shape[0])
    width = ma.shape[1] + 1 + mb.shape[1]
    values = np.zeros((rows, width), dtype=np.float32)
    absent = np.ones((rows, width), dtype=np.bool_)
    values[: ma.shape[0], : ma.shape[1]] = np.nan_to_num(ma.values, neginf=0.0)
    values[: mb.shape[0], ma.shape[1] + 1:] = np.nan_to_num(mb.values, neginf=0.0)
    absent[: ma.shape[0], : ma.shape[1]] = ma.masked if ma.masked is not None else False
    absent[: mb.shape[0], ma.shape[1] + 1:] = mb.masked if mb.masked is not None else False
    row_labels = tuple(
        " | ".join(x for x in (ma.row_labels[i] if i < ma.shape[0] else "", mb.row_labels[i] if i < mb.shape[0] else "")
                   if x) for i in range(rows))
    col_labels = (*(f"A {c}" for c in ma.col_labels), "│", *(f"B {c}" for c in mb.col_labels))
    low, high = value_range(values, absent)
    if not stage.signed:
        low = 0.0
    title = (f"A | B: {stage.formula}  ({ma.shape[0]}×{ma.shape[1]} | {mb.shape[0]}×{mb.shape[1]}): "
             "different token counts, so side by side")
    return Matrix(title, values, row_labels, col_labels, ma.kind, low, high, absent, "", rows_are_tokens=False)
