"""What the inspector says about one cell of one stage: the arithmetic behind the number.

Pure: reads the frozen result through the `Result` interface (any source), returns lines of text.
The inspector widget only styles them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attn_tui.display import fit
from attn_tui.stages import token_labels

if TYPE_CHECKING:
    from attn_tui.result import Result

TERMS_SHOWN = 3
_LETTERS = {"query": "Q", "key": "K", "value": "V"}


def _word(result: Result, i: int) -> str:
    return f"{i}:{fit(token_labels(result)[i], 14).rstrip()}"


def _dot_terms(a: list[float], b: list[float], shown: int = 2) -> str:
    terms = [f"{x:.2f}×{y:.2f}" for x, y in zip(a[:shown], b[:shown], strict=False)]
    return " + ".join(terms) + (" + …" if len(a) > shown else "")


def _vector(values: list[float], shown: int = 4) -> str:
    head = ", ".join(f"{v:.2f}" for v in values[:shown])
    return f"[{head}{', …' if len(values) > shown else ''}]"


def _where(result: Result, layer: int, head: int) -> str:
    """`layer 2/6 head 3/12`, leaving out what there is only one of."""
    parts = []
    if result.n_layers > 1:
        parts.append(f"layer {layer + 1}/{result.n_layers}")
    if result.n_heads > 1:
        parts.append(f"head {head + 1}/{result.n_heads}")
    return " ".join(parts)


def explain(result: Result, stage: str, head: int, row: int, col: int, *, layer: int = 0,
            kept: tuple[int, ...] | None = None) -> list[str]:
    """Lines explaining cell (row, col) of `stage` for one head of one layer (attn_tui.explain_flow explains the
    derived stages and the word view).

    `kept`: the token position of each shown row and column when some tokens are hidden.
    """
    if stage in ("scores", "scaled", "weights"):
        i, j = (kept[row], kept[col]) if kept is not None else (row, col)
        return _explain_attention(result, stage, layer, head, i, j, kept)
    if kept is not None and stage in ("query", "key", "value", "context"):
        row = kept[row]
    if stage in ("query", "key", "value"):
        return _explain_projection(result, stage, layer, head, row, col)
    if stage == "context":
        return _explain_context(result, layer, head, row, col)
    config = getattr(result, "config", None)
    if stage.startswith("w_"):
        val = float(result.stage_tensor(stage, layer, head)[row, col])
        return [
            f"{stage.replace('w_', 'W_')}[{row},{col}] = {val:.4f}",
            "",
            "drawn uniform in [0, 1)",
            f"by the generator seeded {config.seed if config else '?'},",
            "in the notebook's order:",
            "table, W_query, W_key, W_value",
        ]
    # embeddings
    val = float(result.embeddings[row, col])
    lines = [f"E[{row},{col}] = {val:.4f}", f"word {_word(result, row)}"]
    if config is not None:
        lines += [f"= table[{result.token_ids[row]}, {col}]", f"(standard normal, seed {config.seed})"]
    return lines


def _explain_projection(result: Result, stage: str, layer: int, head: int, row: int, col: int) -> list[str]:
    letter = _LETTERS[stage]
    width = result.stage_width(stage)
    column = head * width + col  # in the matrix of every head side by side
    val = float(result.stage_tensor(stage, layer, head)[row, col])
    weights_name = f"w_{stage}"
    if weights_name not in result.stages:  # a real model: the vector comes out of a whole layer
        where = _where(result, layer, head)
        return [
            f"{letter}[{row},{col}]  token {_word(result, row)}",
            f"column {col} of {where or 'the head'}",
            "",
            f"  = {val:.4f}",
            "",
            f"the {stage} of token {row}: the layer's",
            "input, normalised, times its",
            f"W_{stage[0]} (rotated by position where",
            "the model uses RoPE)",
        ]
    e = result.embeddings[row].tolist()
    wc = result.stage_tensor(weights_name, layer, head)[:, column].tolist()
    return [
        f"{letter}[{row},{column}]  word {_word(result, row)}",
        f"column {column}, in head {head + 1}",
        "",
        f"= E[{row}] · W_{stage}[:, {column}]",
        f"  Σ of {len(e)} products",
        f"  {_dot_terms(e, wc)}",
        f"  = {val:.4f}",
        "",
        f"E[{row}] = {_vector(e, 3)}",
        f"(row {result.token_ids[row]} of the table:",
        f" the id of {_word(result, row)})",
    ]


def _explain_context(result: Result, layer: int, head: int, row: int, col: int) -> list[str]:
    width = result.stage_width("context")
    column = head * width + col
    weights = result.stage_tensor("weights", layer, head)[row].tolist()
    v = result.stage_tensor("value", layer, head)[:, col].tolist()
    total = float(result.stage_tensor("context", layer, head)[row, col])
    parts = sorted(((w * x, j) for j, (w, x) in enumerate(zip(weights, v, strict=True))), key=lambda p: -abs(p[0]))
    lines = [
        f"context[{row},{column}]  word {_word(result, row)}",
        f"column {column}, from head {head + 1}",
        "",
        f"= Σ_j weights[{row},j]·V[j,{column}]",
        f"  ({len(weights)} terms)",
        f"  = {total:.4f}",
        "",
        "largest terms:",
    ]
    for part, j in parts[:TERMS_SHOWN]:
        lines.append(f" {weights[j]:.3f}×{v[j]:.3f} = {part:.4f}")
        lines.append(f"   from {_word(result, j)}")
    return lines


SATURATED = 0.99
"""A row whose largest weight is above this is as good as one-hot: the inspector says so."""


def _saturation(result: Result, row: Any, i: int) -> list[str]:
    """A note when row i's softmax is saturated (one key takes nearly all the weight), and what to try."""
    top = float(row.max())
    if top <= SATURATED:
        return []
    key = int(row.argmax())
    lines = ["", f"row {i} is saturated: key {_word(result, key)}", f"  takes {top:.1%} of the weight"]
    if getattr(result, "config", None) is not None:  # the toy: its settings can flatten it
        return lines + ["  (the scaled scores are far apart;", "  try τ above 1, or a larger d_k:",
                        "  √d_k divides the scores)"]
    return lines + ["  (real heads often do this, most on", "  the first token: an attention sink;", "  x hides it)"]


def _explain_attention(result: Result, stage: str, layer: int, h: int, i: int, j: int,
                       kept: tuple[int, ...] | None) -> list[str]:
    q = result.stage_tensor("query", layer, h)[i].tolist()
    k = result.stage_tensor("key", layer, h)[j].tolist()
    scores = result.stage_tensor("scores", layer, h)
    dot = float(scores[i, j])
    d = len(q)
    where = _where(result, layer, h)
    lines = [
        f"query {_word(result, i)}",
        f"key   {_word(result, j)}",
        *([where] if where else []),
        "",
        f"q_{i}·k_{j} = Σ of {d} products",
        f"  {_dot_terms(q, k)}",
        f"  = {dot:.4f}",
        f"÷ √{d}·τ  (τ = {result.temperature:g})",
        f"  = ÷ {result.divisor:.4f}",
    ]
    if stage != "weights":
        lines.insert(2, f"(grid: {stage}; this is its path to the weight)")
    if result.causal and j > i:
        return lines + [
            "  = −∞  masked (causal):",
            f"  key {j} comes after query {i}",
            "weight = 0: no word sees",
            "  the words after it",
        ]
    scaled_row = result.stage_tensor("scaled", layer, h)[i]
    scaled = float(scaled_row[j])
    visible = scaled_row[: i + 1] if result.causal else scaled_row
    top = float(visible.max())
    total = float((visible - top).exp().sum())
    weights = result.stage_tensor("weights", layer, h)
    weight = float(weights[i, j])
    lines += [
        f"  = {scaled:.4f}  (scaled)",
        "",
        f"softmax of row {i}:",
        f"  max {top:.4f}",
        f"  Σ exp(x − max) = {total:.4f}",
        "weight = exp(x − max) / Σ",
        f"  = exp({scaled - top:.4f}) / {total:.4f}",
        f"  = {weight:.4f}",
    ]
    if kept is not None:
        shown = float(weights[i, list(kept)].sum())
        lines += [f"  ÷ {shown:.4f} (visible share)", f"  = {weight / shown if shown else 0.0:.4f} shown"]
    lines += _saturation(result, weights[i], i)
    if "value" not in result.stages:
        return lines
    v = result.stage_tensor("value", layer, h)[j]
    ctx = result.stage_tensor("context", layer, h)[i]
    norm = float(ctx.norm())
    share = float((weight * v).norm()) / norm if norm > 0 else 0.0
    return lines + [
        "",
        f"context_{i} += {weight:.4f} · v_{j}",
        f"  v_{j} = {_vector(v.tolist(), 3)}",
        f"  that term is {share:.1%} of ‖context_{i}‖",
    ]


def explain_line(result: Result, stage: str, head: int, row: int, col: int, *, layer: int = 0,
                 kept: tuple[int, ...] | None = None) -> str:
    """The inspector in one line, for terminals too narrow for the pane: the cell, and how it is made."""
    if stage in ("scores", "scaled", "weights"):
        i, j = (kept[row], kept[col]) if kept is not None else (row, col)
        head_part = f" h{head + 1}" if result.n_heads > 1 else ""
        labels = token_labels(result)
        where = f"{i}:{fit(labels[i], 10).rstrip()} → {j}:{fit(labels[j], 10).rstrip()}{head_part}"
        if result.causal and j > i:
            return f"{where}  masked: key after query · weight 0"
        dot = float(result.stage_tensor("scores", layer, head)[i, j])
        weight = float(result.stage_tensor("weights", layer, head)[i, j])
        return f"{where}  q·k {dot:.3f} ÷ {result.divisor:.3f} = {dot / result.divisor:.3f} → weight {weight:.4f}"
    if kept is not None and stage not in ("w_query", "w_key", "w_value"):
        row = kept[row]
    value = float(result.stage_tensor(stage, layer, head)[row, col])
    name = {"query": "Q", "key": "K", "value": "V"}.get(stage, stage.replace("w_", "W_"))
    label = f" {row}:{fit(token_labels(result)[row], 10).rstrip()}" if not stage.startswith("w_") else ""
    return f"{name}[{row},{col}]{label} = {value:.4f}"
