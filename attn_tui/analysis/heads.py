"""Head statistics (issue 15): one number per layer × head and column, and prompt A vs prompt B.

Every column is a mean over queries of one head's weights A (T × T, rows = queries, each row summing
to 1 over its visible keys, masked keys exactly 0):

    entropy    −Σ_j A_ij ln A_ij (0 ln 0 = 0), in nats          over all T queries
    sink       A_i0                                             over all T queries
    self       A_ii                                             over all T queries
    previous   A_i,i−1                                          over queries i ≥ 1
    duplicate  Σ A_ij over earlier j < i with token[j] = token[i] over queries that have such a j
    induction  Σ A_ij over 1 ≤ j ≤ i with token[j−1] = token[i] over queries that have such a j
    max        max_j A_ij                                       over all T queries
    delta      mean over all T × T cells of |A − A_B|           only when B has the same T

A column no query qualifies for is blank: NaN in the arrays, None in `rows()` (JSON null), never 0.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

import numpy as np

from attn_tui.analysis._tensors import square_last, to_tensor

if TYPE_CHECKING:
    import torch

__all__ = [
    "COLUMNS",
    "DELTA",
    "HeadStats",
    "delta_map",
    "duplicate_mask",
    "head_stats",
    "induction_mask",
    "mean_abs_delta",
]

COLUMNS = ("entropy", "sink", "self", "previous", "duplicate", "induction", "max")
"""The table's columns, in the order of the issue and of `--json --head-stats`."""
DELTA = "delta"
"""The extra column when a comparison prompt B is set (`Δ vs B` on screen)."""
CHUNK_ELEMENTS = 1 << 20
"""Weights reduced per pass (4 MB of float32): a chunk of heads stays in cache through its passes."""
GATHER_MAX = 0.25
"""Masked cells (duplicate + induction) up to this fraction of T² are summed by gathering them; more
(a prompt repeating one token) by a product with the masks inside the chunk loop. Prose has few:
541 of 65,536 cells for 256 tokens of a 60-word vocabulary, 1.4 ms gathered against 10 ms multiplied."""


def duplicate_mask(token_ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """(T, T) bool: [i, j] is True where j < i and token[j] = token[i] (the cells `duplicate` sums)."""
    ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
    same = ids[:, None] == ids[None, :]  # (T, T)
    return np.tril(same, k=-1)


def induction_mask(token_ids: Sequence[int] | np.ndarray) -> np.ndarray:
    """(T, T) bool: [i, j] is True where 1 ≤ j ≤ i and token[j−1] = token[i] (the cells `induction` sums).

    Key j is the token that followed an earlier occurrence of the query's token: the one an induction
    head attends to, to predict that it comes next again.
    """
    ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
    t = ids.shape[0]
    mask = np.zeros((t, t), dtype=bool)  # (T, T)
    mask[:, 1:] = ids[:, None] == ids[None, :-1]  # [i, j] = token[i] == token[j − 1], for j ≥ 1
    return np.tril(mask)  # j ≤ i


def _dense_reductions(
    a: torch.Tensor, b: torch.Tensor | None, masks: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None, torch.Tensor | None]:
    """Per head of a (N, T, T): (Σ_i Σ_j A ln A, Σ_i max_j A, Σ_ij A·mask per mask (N, M) or None if no
    masks, Σ_ij |A − B| or None if no B).

    The nonlinear and masked sums, a chunk of heads at a time, so each chunk is read from memory once.
    Zeros are raised to the smallest normal float before the log: 0 · ln(tiny) is exactly 0, and
    the log of 0 (or of a subnormal) takes a slow path that costs 6× the whole pass.
    """
    import torch

    n, t, _ = a.shape
    per = max(1, CHUNK_ELEMENTS // (t * t))
    tiny = torch.finfo(a.dtype).tiny
    buf = torch.empty((min(per, n), t, t), dtype=a.dtype)  # (k, T, T) scratch, reused
    plogp = torch.empty(n, dtype=a.dtype)
    top = torch.empty(n, dtype=a.dtype)
    masked = torch.empty((n, masks.shape[0]), dtype=a.dtype) if masks is not None else None
    diff = torch.empty(n, dtype=a.dtype) if b is not None else None
    flat_masks = masks.reshape(masks.shape[0], t * t).T if masks is not None else None  # (T², M)
    for start in range(0, n, per):
        chunk = a[start : start + per]  # (k, T, T)
        k = chunk.shape[0]
        scratch = buf[:k]
        torch.clamp_min(chunk, tiny, out=scratch)
        scratch.log_()
        scratch.mul_(chunk)  # A ln A, 0 where A = 0
        plogp[start : start + k] = scratch.sum(dim=(1, 2))
        top[start : start + k] = chunk.amax(dim=-1).sum(dim=-1)
        if masked is not None and flat_masks is not None:
            masked[start : start + k] = chunk.reshape(k, t * t) @ flat_masks  # (k, M)
        if b is not None and diff is not None:
            torch.sub(chunk, b[start : start + k], out=scratch)
            scratch.abs_()
            diff[start : start + k] = scratch.sum(dim=(1, 2))
    return plogp, top, masked, diff


def _as_weights(weights: Any, what: str) -> torch.Tensor:
    t, _ = to_tensor(weights)
    square_last(t, what, ndim=4)
    return t


def _nan_where_none(sums: np.ndarray, count: int) -> np.ndarray:
    """sums / count, or all NaN (blank) where no query qualifies."""
    if count == 0:
        return np.full(sums.shape, np.nan)
    return sums / count


def head_stats(weights: Any, token_ids: Sequence[int], *, compare: Any = None) -> HeadStats:
    """Every column of the head table for (L, H, T, T) weights (numpy or torch) and the prompt's T ids.

    With `compare`, the (L, H, T_B, T_B) weights of prompt B, the `delta` column is added: the mean
    |A − A_B| per head, blank when T_B ≠ T (prompts of different token counts are not compared cell
    by cell). L and H must match (the same model). Rows are assumed to sum to 1; this is not checked.
    """
    a = _as_weights(weights, "weights")
    n_layers, n_heads, t, _ = a.shape
    ids = np.asarray(token_ids, dtype=np.int64).reshape(-1)
    if ids.shape[0] != t:
        raise ValueError(f"token_ids: {ids.shape[0]} ids for {t} tokens")
    b = None
    if compare is not None:
        b = _as_weights(compare, "compare")
        if tuple(b.shape[:2]) != (n_layers, n_heads):
            raise ValueError(f"compare: {tuple(b.shape[:2])} layers × heads, the weights have {(n_layers, n_heads)}")
        b = b.to(a.dtype).reshape(n_layers * n_heads, *b.shape[2:]) if b.shape[-1] == t else None

    import torch

    dup, ind = duplicate_mask(ids), induction_mask(ids)
    flat = a.reshape(n_layers * n_heads, t, t)  # (N, T, T)
    if dup.sum() + ind.sum() <= GATHER_MAX * t * t:
        plogp, top, _, diff = _dense_reductions(flat, b, None)
        cells = flat.reshape(n_layers * n_heads, t * t)  # (N, T²)
        masked = torch.stack(
            [cells.index_select(1, torch.from_numpy(np.flatnonzero(m))).sum(dim=1) for m in (dup, ind)], dim=1
        )  # (N, 2)
    else:
        masks = torch.from_numpy(np.stack([dup, ind])).to(a.dtype)  # (2, T, T)
        plogp, top, dense_masked, diff = _dense_reductions(flat, b, masks)
        assert dense_masked is not None
        masked = dense_masked

    def grid(x: torch.Tensor) -> np.ndarray:
        return x.double().numpy().reshape(n_layers, n_heads)

    dup_queries, ind_queries = int(dup.any(axis=1).sum()), int(ind.any(axis=1).sum())
    values = {
        # 0.0 − x: an all-one-hot head has entropy +0.0, not −0.0; rounding (rows summing to 1 + ε)
        # must not give a negative entropy either.
        "entropy": np.maximum(0.0 - grid(plogp) / t, 0.0),
        "sink": grid(flat[:, :, 0].sum(dim=-1)) / t,
        "self": grid(flat.diagonal(dim1=1, dim2=2).sum(dim=-1)) / t,
        "previous": _nan_where_none(grid(flat.diagonal(offset=-1, dim1=1, dim2=2).sum(dim=-1)), t - 1),
        "duplicate": _nan_where_none(grid(masked[:, 0]), dup_queries),
        "induction": _nan_where_none(grid(masked[:, 1]), ind_queries),
        "max": grid(top) / t,
    }
    counts = {"entropy": t, "sink": t, "self": t, "previous": t - 1, "duplicate": dup_queries,
              "induction": ind_queries, "max": t}
    if compare is not None:
        values[DELTA] = grid(diff) / (t * t) if diff is not None else np.full((n_layers, n_heads), np.nan)
        counts[DELTA] = t * t if diff is not None else 0
    return HeadStats.of(values, counts, tokens=t)


def delta_map(a: Any, b: Any) -> Any:
    """A − B per cell ((..., T, T), numpy or torch as `a`), or None when the token counts differ.

    The same leading shape (layers, heads) is required: comparing two models is an error, comparing
    two prompts of different lengths is not — there is simply no cell-by-cell difference then.
    """
    from attn_tui.analysis._tensors import like_input

    ta, was_array = to_tensor(a)
    tb, _ = to_tensor(b)
    square_last(ta, "a")
    square_last(tb, "b")
    if ta.shape[:-2] != tb.shape[:-2]:
        raise ValueError(f"a and b: leading shapes {tuple(ta.shape[:-2])} and {tuple(tb.shape[:-2])} differ")
    if ta.shape[-1] != tb.shape[-1]:
        return None
    return like_input(ta - tb.to(ta.dtype), was_array)


def mean_abs_delta(a: Any, b: Any) -> np.ndarray | None:
    """(L, H) mean over all T × T cells of |A − B| (the `delta` column), or None when the token counts differ."""
    ta = _as_weights(a, "a")
    tb = _as_weights(b, "b")
    if ta.shape[:2] != tb.shape[:2]:
        raise ValueError(f"a and b: {tuple(ta.shape[:2])} and {tuple(tb.shape[:2])} layers × heads differ")
    if ta.shape[-1] != tb.shape[-1]:
        return None
    # The plain expression; head_stats fuses the same sum into its one pass over the weights.
    return (ta - tb.to(ta.dtype)).abs().mean(dim=(-2, -1)).double().numpy()  # (L, H)


@dataclass(frozen=True, eq=False)
class HeadStats:
    """The head table: per-(layer, head) values of every column, blanks as NaN; build with `head_stats`."""

    values: Mapping[str, np.ndarray]
    """Column name → read-only (L, H) float64 array, indexed [layer − 1, head − 1]; NaN where blank."""
    counts: Mapping[str, int]
    """Column name → how many queries its mean is over (cells, for delta); 0 means the column is blank."""
    tokens: int
    """T, the prompt's token count."""
    columns: tuple[str, ...] = field(init=False)
    """The columns present, in table order: COLUMNS, then DELTA if a comparison was given."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "columns", tuple(c for c in (*COLUMNS, DELTA) if c in self.values))

    @classmethod
    def of(cls, values: Mapping[str, np.ndarray], counts: Mapping[str, int], *, tokens: int) -> HeadStats:
        """A HeadStats over private, read-only copies of `values`."""
        frozen = {}
        for name, value in values.items():
            array = np.array(value, dtype=np.float64)  # a copy: later edits of `value` do not leak in
            array.flags.writeable = False
            frozen[name] = array
        return cls(MappingProxyType(frozen), MappingProxyType(dict(counts)), tokens)

    @property
    def layers(self) -> int:
        return int(self.values["entropy"].shape[0])

    @property
    def heads(self) -> int:
        return int(self.values["entropy"].shape[1])

    def __getitem__(self, column: str) -> np.ndarray:
        """The (L, H) array of one column."""
        return self.values[column]

    def value(self, layer: int, head: int, column: str) -> float | None:
        """One cell, layer and head numbered from 1 as on screen; None where blank."""
        if not (1 <= layer <= self.layers and 1 <= head <= self.heads):
            raise IndexError(f"layer {layer}, head {head}: the table has {self.layers} × {self.heads}")
        x = float(self.values[column][layer - 1, head - 1])
        return None if math.isnan(x) else x

    def with_column(self, column: str, values: Any, count: int) -> HeadStats:
        """A copy with one column replaced, e.g. `induction` from `induction_scores` (count = N queries)."""
        if column not in self.values:
            raise KeyError(column)
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (self.layers, self.heads):
            raise ValueError(f"{column}: shape {array.shape}, the table is {(self.layers, self.heads)}")
        return HeadStats.of({**self.values, column: array}, {**self.counts, column: count}, tokens=self.tokens)

    def order(self, column: str, *, descending: bool = True) -> list[tuple[int, int]]:
        """(layer, head) pairs, numbered from 1, sorted by `column`; blanks last either way, ties by layer, head."""
        grid = self.values[column]
        keyed = []
        for layer in range(self.layers):
            for head in range(self.heads):
                x = float(grid[layer, head])
                blank = math.isnan(x)
                keyed.append(((blank, 0.0 if blank else (-x if descending else x), layer, head), (layer + 1, head + 1)))
        keyed.sort(key=lambda pair: pair[0])
        return [pair for _, pair in keyed]

    def rows(self, sort: str | None = None, *, descending: bool = True) -> list[dict[str, int | float | None]]:
        """The `--json --head-stats` list: one dict per head, {"layer", "head", *columns} (1-based, None = blank).

        In layer, head order, or sorted by the column `sort` (see `order`).
        """
        pairs = (
            self.order(sort, descending=descending)
            if sort is not None
            else [(layer + 1, head + 1) for layer in range(self.layers) for head in range(self.heads)]
        )
        out: list[dict[str, int | float | None]] = []
        for layer, head in pairs:
            row: dict[str, int | float | None] = {"layer": layer, "head": head}
            for column in self.columns:
                row[column] = self.value(layer, head, column)
            out.append(row)
        return out
