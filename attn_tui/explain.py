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
            kept: tuple[int, ...] | None = None, groups: tuple[tuple[int, ...], ...] | None = None) -> list[str]:
    """Lines explaining cell (row, col) of `stage` for one head of one layer.

    `kept`: the token position of each shown row and column when some tokens are hidden. `groups`: the token
    positions of each row and column in the word view.
    """
    issue16 = explain_issue16(result, stage, head, row, col, layer=layer, kept=kept, groups=groups)
    if issue16 is not None:
        return issue16
    lines = _explain_pipeline(result, stage, head, row, col, layer=layer, kept=kept)
    if stage.startswith("w_"):
        return lines
    return lines + _generated_note(result, kept[row] if kept is not None else row)


def _explain_pipeline(result: Result, stage: str, head: int, row: int, col: int, *, layer: int = 0,
                      kept: tuple[int, ...] | None = None) -> list[str]:
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
                 kept: tuple[int, ...] | None = None, groups: tuple[tuple[int, ...], ...] | None = None) -> str:
    """The inspector in one line, for terminals too narrow for the pane: the cell, and how it is made."""
    issue16 = explain_line_issue16(result, stage, head, row, col, layer=layer, kept=kept, groups=groups)
    if issue16 is not None:
        return issue16
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


# ── issue 16: the derived stages (value-weighted, rollout) and the word view ─────────────────────


def _generated_note(result: Result, i: int) -> list[str]:
    """A line saying that token i was generated, and which step made it; nothing for a prompt token."""
    generated = result.generated
    if not generated[i]:
        return []
    step = sum(generated[: i + 1])
    return ["", f"⁺ generated: token {step} of {sum(generated)},", "  the top next token of the step before"]


def _shown_share(row: Any, kept: tuple[int, ...] | None) -> float:
    """The part of a row the view shows (1 when nothing is hidden)."""
    return float(row[list(kept)].sum()) if kept is not None else 1.0


def _explain_value_weighted(result: Result, layer: int, h: int, i: int, j: int,
                            kept: tuple[int, ...] | None) -> list[str]:
    weights = result.stage_tensor("weights", layer, h)[i]
    row = result.stage_tensor("value_weighted", layer, h)[i]
    alpha, value = float(weights[j]), float(row[j])
    norms = getattr(result, "value_norms", None)
    size = float(norms[layer, h, j]) if norms is not None else float(result.stage_tensor("value", layer, h)[j].norm())
    through = "‖v_j W_O^h‖, through the output" if norms is not None else "‖v_j‖ (the toy has no W_O)"
    where = _where(result, layer, h)
    lines = [
        f"query {_word(result, i)}",
        f"key   {_word(result, j)}",
        *([where] if where else []),
        "",
        "value-weighted = α_ij · ‖f_h(x_j)‖",
        f"  α_{i},{j} = {alpha:.4f}  (weight)",
        f"  ‖f_h(x_{j})‖ = {size:.4f}",
        f"    = {through}",
        f"  = {value:.4f}",
    ]
    if result.causal and j > i:
        return lines + ["  masked (causal): key after query"]
    total = float(row.sum())
    share = value / total if total > 0 else 0.0
    lines += ["", f"row {i}: Σ_j = {total:.4f}", f"  this key: {share:.1%} of what is added",
              f"  (its weight: {alpha:.1%})"]
    if alpha >= 0.3 and share < alpha / 2:
        lines += ["  large weight, small value: a sink", "  that adds little to the output"]
    if kept is not None:
        lines += [f"  (special tokens hidden: {_shown_share(weights, kept):.1%}", "  of the weight is shown)"]
    return lines


def _explain_rollout(result: Result, layer: int, i: int, j: int, kept: tuple[int, ...] | None) -> list[str]:
    weights = result.all_weights()[layer]  # (H, T, T)
    mixed = weights[:, i].mean(0) * 0.5  # (T,): ½ · mean_h A_l[i]
    mixed[i] += 0.5
    mixed = mixed / mixed.sum()
    below = result.stage_tensor("rollout", layer - 1, 0)[:, j] if layer > 0 else None
    value = float(result.stage_tensor("rollout", layer, 0)[i, j])
    lines = [
        f"from {_word(result, j)}",
        f"to   {_word(result, i)}",
        f"after layer {layer + 1}/{result.n_layers}" + (", heads averaged" if result.n_heads > 1 else ""),
        "",
        "R_l = Ā_l · R_(l−1),  R_0 = I",
        "Ā_l = ½·mean_h A_l + ½·I",
    ]
    if below is None:
        lines += [f"R_1[{i},{j}] = Ā_1[{i},{j}]", f"  = {value:.4f}"]
    else:
        terms = sorted(((float(mixed[k]) * float(below[k]), k) for k in range(len(mixed))), key=lambda t: -t[0])
        lines += [f"R[{i},{j}] = Σ_k Ā[{i},k]·R_prev[k,{j}]", f"  = {value:.4f}", "", "largest paths, through k:"]
        for part, k in terms[:TERMS_SHOWN]:
            if part <= 0:
                break
            lines += [f" {float(mixed[k]):.3f}×{float(below[k]):.3f} = {part:.4f}", f"   via {_word(result, k)}"]
    lines += ["", f"{value:.1%} of what reaches {i}", f"  after this layer came from {j}"]
    if result.causal and j == 0 and value > 0.5:
        lines += ["(in a decoder the first token keeps", " all of its own row, so rollout drifts",
                  " to it layer after layer)"]
    if kept is not None:
        row = result.stage_tensor("rollout", layer, 0)[i]
        shown = _shown_share(row, kept)
        lines += [f"  ÷ {shown:.4f} (visible share)", f"  = {value / shown if shown else 0.0:.4f} shown"]
    return lines


def _explain_words(result: Result, stage: str, layer: int, h: int, u: tuple[int, ...], w: tuple[int, ...],
                   groups: tuple[tuple[int, ...], ...]) -> list[str]:
    from attn_tui.stages import STAGE_BY_NAME

    spec = STAGE_BY_NAME[stage]
    tensor = result.stage_tensor(stage, layer, h)  # (T, T)
    shown = sorted(p for group in groups for p in group)
    hidden = len(shown) < result.n_tokens
    where = _where(result, layer, h) if spec.per_head else (
        f"layer {layer + 1}/{result.n_layers}" if result.n_layers > 1 else "")
    sums = []
    for i in u:
        row = tensor[i]
        total = float(row[list(w)].sum())
        if hidden and spec.distribution:
            visible = float(row[shown].sum())
            total = total / visible if visible > 0 else 0.0
        sums.append((i, total))
    mean = sum(s for _, s in sums) / len(sums)
    lines = [
        f"word  {_word(result, u[-1]) if len(u) == 1 else _span(result, u)}",
        f"→     {_word(result, w[-1]) if len(w) == 1 else _span(result, w)}",
        spec.label + (f" · {where}" if where else ""),
        "",
        f"mean over its {len(u)} token{'s' if len(u) > 1 else ''}",
        f"  of Σ over the {len(w)} token{'s' if len(w) > 1 else ''} of →:",
    ]
    for i, total in sums[:6]:
        lines.append(f"  {_word(result, i)}: {total:.4f}")
    if len(sums) > 6:
        lines.append(f"  … {len(sums) - 6} more")
    lines += [f"  = {mean:.4f}"]
    if spec.distribution:
        lines += ["", "each word's row still sums to 1"]
    if hidden:
        lines += ["(special tokens hidden: rows", " renormalised before merging)"]
    return lines


def _span(result: Result, positions: tuple[int, ...]) -> str:
    """`2–3:▁s|at`: a word's tokens, by position."""
    return f"{positions[0]}–{positions[-1]}:" + fit("|".join(token_labels(result)[p] for p in positions), 20).rstrip()


def explain_issue16(result: Result, stage: str, head: int, row: int, col: int, *, layer: int = 0,
                    kept: tuple[int, ...] | None = None,
                    groups: tuple[tuple[int, ...], ...] | None = None) -> list[str] | None:
    """Lines for a cell of a derived stage or of the word view, or None when `explain` has its own."""
    if groups is not None:
        u, w = groups[row], groups[col]
        return _explain_words(result, stage, layer, head, u, w, groups) + _generated_note(result, u[-1])
    if stage not in ("value_weighted", "rollout"):
        return None
    i, j = (kept[row], kept[col]) if kept is not None else (row, col)
    if stage == "value_weighted":
        return _explain_value_weighted(result, layer, head, i, j, kept) + _generated_note(result, i)
    return _explain_rollout(result, layer, i, j, kept) + _generated_note(result, i)


def explain_line_issue16(result: Result, stage: str, head: int, row: int, col: int, *, layer: int = 0,
                         kept: tuple[int, ...] | None = None,
                         groups: tuple[tuple[int, ...], ...] | None = None) -> str | None:
    """The one-line inspector for those cells, or None."""
    lines = explain_issue16(result, stage, head, row, col, layer=layer, kept=kept, groups=groups)
    if lines is None:
        return None
    result_line = next((line.strip() for line in lines if line.strip().startswith("= ")), "")
    return f"{lines[0].strip()} {lines[1].strip()}  {stage} {result_line}"
