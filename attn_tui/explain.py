"""What the inspector says about one cell of one stage: the arithmetic behind the number.

Pure: takes the frozen result, returns lines of text. The inspector widget only styles them.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from attn_tui.display import fit

if TYPE_CHECKING:
    from attn_tui.attention import AttentionResult

TERMS_SHOWN = 3


def _word(result: AttentionResult, i: int) -> str:
    return f"{i}:{fit(result.words[i], 14).rstrip()}"


def _dot_terms(a: list[float], b: list[float], shown: int = 2) -> str:
    terms = [f"{x:.2f}×{y:.2f}" for x, y in zip(a[:shown], b[:shown], strict=False)]
    return " + ".join(terms) + (" + …" if len(a) > shown else "")


def _vector(values: list[float], shown: int = 4) -> str:
    head = ", ".join(f"{v:.2f}" for v in values[:shown])
    return f"[{head}{', …' if len(values) > shown else ''}]"


def explain(result: AttentionResult, stage: str, head: int, row: int, col: int) -> list[str]:
    """Lines explaining cell (row, col) of `stage` (head `head` for per-head stages)."""
    c = result.config
    H = c.heads
    hk, hv = c.d_k // H, c.d_v // H
    if stage in ("scores", "scaled", "weights"):
        return _explain_attention(result, stage, head, row, col, hk, hv)
    if stage in ("query", "key", "value"):
        w = {"query": result.w_query, "key": result.w_key, "value": result.w_value}[stage]
        letter = {"query": "Q", "key": "K", "value": "V"}[stage]
        e = result.embeddings[row].tolist()
        wc = w[:, col].tolist()
        val = float(getattr(result, stage)[row, col])
        width = hk if stage != "value" else hv
        return [
            f"{letter}[{row},{col}]  word {_word(result, row)}",
            f"column {col}, in head {col // width + 1}",
            "",
            f"= E[{row}] · W_{stage}[:, {col}]",
            f"  Σ of {len(e)} products",
            f"  {_dot_terms(e, wc)}",
            f"  = {val:.4f}",
            "",
            f"E[{row}] = {_vector(e, 3)}",
            f"(row {result.token_ids[row]} of the table:",
            f" the id of {_word(result, row)})",
        ]
    if stage.startswith("w_"):
        val = float(getattr(result, stage)[row, col])
        return [
            f"{stage.replace('w_', 'W_')}[{row},{col}] = {val:.4f}",
            "",
            "drawn uniform in [0, 1)",
            f"by the generator seeded {c.seed},",
            "in the notebook's order:",
            "table, W_query, W_key, W_value",
        ]
    if stage == "embeddings":
        val = float(result.embeddings[row, col])
        return [
            f"E[{row},{col}] = {val:.4f}",
            f"word {_word(result, row)}",
            f"= table[{result.token_ids[row]}, {col}]",
            f"(standard normal, seed {c.seed})",
        ]
    # context
    h = col // hv
    weights = result.weights[h, row].tolist()
    v = result.value[:, col].tolist()
    parts = sorted(((w * x, j) for j, (w, x) in enumerate(zip(weights, v, strict=True))), key=lambda p: -abs(p[0]))
    lines = [
        f"context[{row},{col}]  word {_word(result, row)}",
        f"column {col}, from head {h + 1}",
        "",
        f"= Σ_j weights[{row},j]·V[j,{col}]",
        f"  ({len(weights)} terms)",
        f"  = {float(result.context[row, col]):.4f}",
        "",
        "largest terms:",
    ]
    for part, j in parts[:TERMS_SHOWN]:
        lines.append(f" {weights[j]:.3f}×{v[j]:.3f} = {part:.4f}")
        lines.append(f"   from {_word(result, j)}")
    return lines


def _explain_attention(result: AttentionResult, stage: str, head: int, i: int, j: int, hk: int,
                       hv: int) -> list[str]:
    c = result.config
    h = head
    q = result.query[i, h * hk:(h + 1) * hk].tolist()
    k = result.key[j, h * hk:(h + 1) * hk].tolist()
    dot = float(result.scores[h, i, j])
    scale = math.sqrt(hk) * c.temperature
    lines = [
        f"query {_word(result, i)}",
        f"key   {_word(result, j)}" + (f"   head {h + 1}/{c.heads}" if c.heads > 1 else ""),
        "",
        f"q_{i}·k_{j} = Σ of {hk} products",
        f"  {_dot_terms(q, k)}",
        f"  = {dot:.4f}",
        f"÷ √{hk}·τ  (τ = {c.temperature:g})",
        f"  = ÷ {scale:.4f}",
    ]
    if stage != "weights":
        lines.insert(2, f"(grid: {stage}; this is its path to the weight)")
    if c.causal and j > i:
        return lines + [
            "  = −∞  masked (causal):",
            f"  key {j} comes after query {i}",
            "weight = 0: no word sees",
            "  the words after it",
        ]
    scaled = float(result.scaled[h, i, j])
    row = result.scaled[h, i]
    visible = row[: i + 1] if c.causal else row
    top = float(visible.max())
    total = float((visible - top).exp().sum())
    weight = float(result.weights[h, i, j])
    v = result.value[j, h * hv:(h + 1) * hv]
    ctx = result.context[i, h * hv:(h + 1) * hv]
    norm = float(ctx.norm())
    share = float((weight * v).norm()) / norm if norm > 0 else 0.0
    return lines + [
        f"  = {scaled:.4f}  (scaled)",
        "",
        f"softmax of row {i}:",
        f"  max {top:.4f}",
        f"  Σ exp(x − max) = {total:.4f}",
        "weight = exp(x − max) / Σ",
        f"  = exp({scaled - top:.4f}) / {total:.4f}",
        f"  = {weight:.4f}",
        "",
        f"context_{i} += {weight:.4f} · v_{j}",
        f"  v_{j} = {_vector(v.tolist(), 3)}",
        f"  that term is {share:.1%} of ‖context_{i}‖",
    ]


def explain_model(result, layer: int, head: int, i: int, j: int, hide_special: bool = False) -> list[str]:
    """Lines for cell (i, j) of a real model's head; i, j index the tokens shown (see kept_tokens)."""
    from attn_tui.stages import kept_tokens

    kept = kept_tokens(result.special, hide_special)
    qi, kj = int(kept[i]), int(kept[j])
    q = result.queries[layer, head, qi]
    k = result.keys[layer, head, kj]
    dot = float(q @ k)
    lines = [
        f"query {qi}:{fit(result.tokens[qi], 14).rstrip()}",
        f"key   {kj}:{fit(result.tokens[kj], 14).rstrip()}",
        f"{result.model} layer {layer + 1} head {head + 1}",
        "",
        f"q·k = Σ of {q.numel()} products",
        f"  {_dot_terms(q.tolist(), k.tolist())}",
        f"  = {dot:.4f}",
        f"× 1/√{q.numel()} = × {result.scale:.4f}",
    ]
    if result.causal and kj > qi:
        return lines + ["  = −∞  masked (causal)", "weight = 0"]
    scaled = dot * result.scale
    row = (result.queries[layer, head, qi] @ result.keys[layer, head].T) * result.scale
    if result.causal:
        row = row[: qi + 1]
    top = float(row.max())
    total = float((row - top).exp().sum())
    weight = float(result.attentions[layer, head, qi, kj])
    lines += [
        f"  = {scaled:.4f}  (scaled)",
        "",
        f"softmax of row {qi}:",
        f"  max {top:.4f}",
        f"  Σ exp(x − max) = {total:.4f}",
        "weight = exp(x − max) / Σ",
        f"  = {weight:.4f}",
    ]
    if hide_special:
        shown = float(result.attentions[layer, head, qi, kept].sum())
        lines += [f"  ÷ {shown:.4f} (visible share)", f"  = {weight / shown if shown else 0.0:.4f} shown"]
    return lines
