"""What the inspector says about issue 16's cells: the derived stages (value-weighted, rollout), the word view,
and a generated query token. Pure, like attn_tui.explain, whose helpers it shares.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from attn_tui.display import fit
from attn_tui.explain import TERMS_SHOWN, _where, _word
from attn_tui.stages import token_labels

if TYPE_CHECKING:
    from attn_tui.result import Result


def generated_note(result: Result, i: int) -> list[str]:
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


def explain_cell(result: Result, stage: str, head: int, row: int, col: int, *, layer: int = 0,
                    kept: tuple[int, ...] | None = None,
                    groups: tuple[tuple[int, ...], ...] | None = None) -> list[str] | None:
    """Lines for a cell of a derived stage or of the word view, or None when `explain` has its own."""
    if groups is not None:
        u, w = groups[row], groups[col]
        return _explain_words(result, stage, layer, head, u, w, groups) + generated_note(result, u[-1])
    if stage not in ("value_weighted", "rollout"):
        return None
    i, j = (kept[row], kept[col]) if kept is not None else (row, col)
    if stage == "value_weighted":
        return _explain_value_weighted(result, layer, head, i, j, kept) + generated_note(result, i)
    return _explain_rollout(result, layer, i, j, kept) + generated_note(result, i)


def explain_cell_line(result: Result, stage: str, head: int, row: int, col: int, *, layer: int = 0,
                         kept: tuple[int, ...] | None = None,
                         groups: tuple[tuple[int, ...], ...] | None = None) -> str | None:
    """The one-line inspector for those cells, or None."""
    lines = explain_cell(result, stage, head, row, col, layer=layer, kept=kept, groups=groups)
    if lines is None:
        return None
    result_line = next((line.strip() for line in lines if line.strip().startswith("= ")), "")
    return f"{lines[0].strip()} {lines[1].strip()}  {stage} {result_line}"
