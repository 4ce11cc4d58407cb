"""The induction test (issue 15): N random tokens repeated twice, and how much each head looks ahead.

An induction head, at a token it has seen before, attends to the token that followed it last time
(to predict it comes next again). On `x_1 … x_N x_1 … x_N` the query at position N + k (the second
x_{k+1}, counting from 0) should attend to position k + 1 (the token after the first x_{k+1}):
key = query − N + 1. Random tokens make the sequence unpredictable except by copying, so only
heads that do this score high.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import numpy as np

from attn_tui.analysis._tensors import square_last, to_tensor

__all__ = ["DEFAULT_N", "induction_scores", "induction_sequence", "uniform_induction_score"]

DEFAULT_N = 50
"""Issue 15's default length of the random half."""


def induction_sequence(n: int, vocab_size: int, *, exclude: Iterable[int] = (), seed: int = 0) -> list[int]:
    """2N token ids: N distinct random ids from range(vocab_size) minus `exclude`, then the same N again.

    The N ids are drawn without replacement, so no id repeats within a half: every query of the second
    half then has exactly one earlier occurrence of its token, and `induction_scores` and the
    `induction` column of `head_stats` on this sequence agree. `seed` alone decides the draw
    (a private random.Random; the global random state is neither read nor changed). Pass the
    model's special ids (BOS, EOS, padding, control tokens) in `exclude`; prepend a BOS yourself if
    the model wants one, and give its length as `offset` to `induction_scores`.
    """
    if n < 1:
        raise ValueError(f"n: {n}; at least 1 token is needed")
    excluded = set(exclude)
    allowed = [i for i in range(vocab_size) if i not in excluded]
    if n > len(allowed):
        raise ValueError(f"n: {n} distinct ids wanted, only {len(allowed)} ids are allowed")
    half = random.Random(seed).sample(allowed, n)
    return half + half


def induction_scores(weights: Any, n: int, *, offset: int = 0) -> np.ndarray:
    """(L, H) mean over the N queries of the second half of A[query, query − N + 1].

    `weights` (L, H, T, T) are the attention on `offset` leading tokens (a BOS, say) followed by an
    `induction_sequence(n, …)`, T = offset + 2N. The queries are positions offset + N … offset + 2N − 1
    (the repeat); each is scored by its weight on the key one after its token's first occurrence.
    A perfect induction head scores 1; `uniform_induction_score` is what no preference scores.
    The first half (no query there has seen its token before) is not scored.
    """
    a, _ = to_tensor(weights)
    t = square_last(a, "weights", ndim=4)
    if n < 1 or offset < 0 or t != offset + 2 * n:
        raise ValueError(f"weights: {t} tokens, expected offset + 2N = {offset} + 2 × {n}")
    # Diagonal −(N − 1) of A holds A[i, i − N + 1]; its entries for i ≥ offset + N are the scored ones.
    band = a.diagonal(offset=-(n - 1), dim1=-2, dim2=-1)  # (L, H, T − N + 1), entry m is A[m + N − 1, m]
    scored = band[..., offset + 1 : offset + n + 1]  # (L, H, N): queries offset + N … offset + 2N − 1
    return scored.double().mean(dim=-1).numpy()


def uniform_induction_score(n: int, *, offset: int = 0, causal: bool = True) -> float:
    """What a head attending uniformly to every visible key scores in `induction_scores`: the baseline.

    Causal: query i sees i + 1 keys, so the score is mean over i = offset + N … offset + 2N − 1 of
    1 / (i + 1) (≈ ln 2 / N for large N without offset: 0.0139 at N = 50). Not causal: 1 / (offset + 2N).
    """
    if n < 1 or offset < 0:
        raise ValueError(f"n = {n}, offset = {offset}: need n ≥ 1 and offset ≥ 0")
    if not causal:
        return 1.0 / (offset + 2 * n)
    return sum(1.0 / (i + 1) for i in range(offset + n, offset + 2 * n)) / n
