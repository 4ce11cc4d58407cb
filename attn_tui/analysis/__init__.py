"""What the attention does, beyond one head's grid: head statistics and the induction test (issue 15),
value-weighted attention, rollout and the word-level merge (issue 16).

Pure maths on (layers, heads, T, T) weights, numpy or torch: no textual, no rich, and torch is imported
only when a function runs, so importing this package is cheap.
"""

from attn_tui.analysis.flow import rollout, value_norms, value_weighted
from attn_tui.analysis.heads import (
    COLUMNS,
    DELTA,
    HeadStats,
    delta_map,
    duplicate_mask,
    head_stats,
    induction_mask,
    mean_abs_delta,
)
from attn_tui.analysis.induction import DEFAULT_N, induction_scores, induction_sequence, uniform_induction_score
from attn_tui.analysis.words import WordGroup, merge_words, word_spans

__all__ = [
    "COLUMNS",
    "DEFAULT_N",
    "DELTA",
    "HeadStats",
    "WordGroup",
    "delta_map",
    "duplicate_mask",
    "head_stats",
    "induction_mask",
    "induction_scores",
    "induction_sequence",
    "mean_abs_delta",
    "merge_words",
    "rollout",
    "uniform_induction_score",
    "value_norms",
    "value_weighted",
    "word_spans",
]
