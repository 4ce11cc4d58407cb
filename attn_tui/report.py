"""What `--json` adds beyond the result (issues 15 and 16), and the analyses the views read, for any source.

`build(config, source, extras)` computes once everything the flags ask for — the result (or a
generation), the comparison prompt, head statistics, the induction test — and `Report.json_items()`
yields the `--json` object: the result's own keys, then, when asked for, `head_stats`,
`induction_test`, `compare`, `value_weighted`, `rollout` and `word_level`. `write_json` streams it, tensors
a row at a time, nested objects included.

The helpers (`value_norms_of`, `value_weighted_of`, `rollout_of`, `word_groups`, `merge_words_of`,
`head_stats_of`, `induction_test`) take any `Result`: the toy's (one layer, value norms ‖v_j^h‖, no
W_O) or a model's (‖v_j^h W_O^h‖). No textual, no rich; torch is imported when something runs.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from attn_tui.analysis import (
    DEFAULT_N,
    HeadStats,
    WordGroup,
    head_stats,
    induction_scores,
    induction_sequence,
    merge_words,
    rollout,
    uniform_induction_score,
    value_weighted,
    word_spans,
)
from attn_tui.argv import flag as argv_flag
from attn_tui.config import MAX_ATTENTION_CELLS, AttentionConfig, field_problems
from attn_tui.serialize import JSONObject, write_json  # the one streaming writer; nested objects included

if TYPE_CHECKING:
    import numpy as np
    import torch

    from attn_tui.models import Model
    from attn_tui.result import Result
    from attn_tui.stages import WordAxis

__all__ = [
    "DEFAULT_GENERATE",
    "DEFAULT_N",
    "Extras",
    "InductionTest",
    "JSONObject",
    "Refused",
    "Report",
    "build",
    "head_stats_of",
    "induction_test",
    "merge_words_of",
    "rollout_of",
    "toy_weights",
    "value_norms_of",
    "value_weighted_of",
    "word_axis",
    "word_groups",
    "write_json",
]

DEFAULT_GENERATE = 8
"""Tokens `--generate` makes when no N is given (issue 16)."""


class Refused(ValueError):
    """A request the report cannot honour: `flag` names what to change, the message how."""

    def __init__(self, flag: str, message: str) -> None:
        super().__init__(f"{flag}: {message}")
        self.flag = flag
        self.message = message


@dataclass(frozen=True)
class Extras:
    """What `--json` should add beyond the result; every field off by default."""

    head_stats: bool = False
    """`--head-stats`: every layer × head's statistics (the head table)."""
    induction_test: int | None = None
    """`--induction-test [N]`: N random tokens repeated twice (None: not run)."""
    induction_seed: int = 0
    """`--induction-seed`: decides the random tokens of the induction test."""
    compare: str | None = None
    """`--compare TEXT`: a prompt B run by the same source (and generated from, with `generate`)."""
    generate: int | None = None
    """`--generate [N]`: N tokens generated greedily after the prompt (decoders only)."""
    value_weighted: bool = False
    """`--value-weighted`: α_ij · ‖f_h(x_j)‖ for every layer and head."""
    rollout: bool = False
    """`--rollout`: attention rollout after every layer."""
    words: bool = False
    """`--words`: the word groups and the word-level weights."""

    def any(self) -> bool:
        return self != Extras()


# ── the analyses of any result ───────────────────────────────────────────────────────────────────


def value_norms_of(result: Result) -> torch.Tensor:
    """(L, H, T) the size of what each head's value of each token writes: ‖v_j^h W_O^h‖ for a model (its
    `value_norms`), ‖v_j^h‖ for the toy, which has no output projection."""
    import torch

    stored = getattr(result, "value_norms", None)
    if stored is not None:
        return stored
    return torch.stack([torch.stack([result.stage_tensor("value", layer, head).norm(dim=-1)
                                     for head in range(result.n_heads)])
                        for layer in range(result.n_layers)])  # (L, H, T)


def value_weighted_of(result: Result) -> torch.Tensor:
    """(L, H, T, T) α_ij · ‖f_h(x_j)‖ (Kobayashi et al. 2020): the weights, each key's column scaled by its value's
    norm. Rows no longer sum to 1."""
    return value_weighted(result.all_weights(), value_norms_of(result))


def rollout_of(result: Result) -> torch.Tensor:
    """(L, T, T) attention rollout (Abnar & Zuidema 2020) after each layer; rows sum to 1."""
    return rollout(result.all_weights())


def _toy_offsets(prompt: str) -> list[tuple[int, int]]:
    """Each whitespace-separated word's span, as the toy splits words (str.split)."""
    spans, start = [], None
    for c, ch in enumerate(prompt):
        if ch.isspace():
            if start is not None:
                spans.append((start, c))
                start = None
        elif start is None:
            start = c
    if start is not None:
        spans.append((start, len(prompt)))
    return spans


def word_groups(result: Result) -> list[WordGroup]:
    """The result's tokens grouped into the words of its text (tokenizer offsets; the toy's tokens are words).

    For a generation the text is the prompt followed by the generated text. Control tokens stay single
    (the model's `control` flags, not its first-token sink flag).
    """
    offsets = getattr(result, "offsets", None)
    if offsets is None:  # the toy: one token per word
        return word_spans(_toy_offsets(result.prompt), result.prompt)
    text = getattr(result, "text", result.prompt)
    control = getattr(result, "control", None)
    return word_spans(offsets, text, special=control)


def merge_words_of(result: Result, groups: Sequence[WordGroup] | None = None) -> tuple[list[WordGroup], Any]:
    """(groups, (L, H, G, G) word-level weights): weight(u → w) = mean over u's tokens of the sum over w's."""
    groups = list(groups) if groups is not None else word_groups(result)
    return groups, merge_words(result.all_weights(), groups)


def group_label(result: Result, group: WordGroup) -> str:
    """The word as written; for a special or whitespace token, its token string(s)."""
    if group.kind == "word" and group.text is not None:
        return group.text
    return "".join(result.tokens[p] for p in group.positions)


def word_axis(result: Result) -> WordAxis:
    """The word view's rows and columns (`attn_tui.stages.WordAxis`): `word_groups`, labelled by `group_label`,
    a word holding a generated token marked as the token labels mark it."""
    from attn_tui.stages import GENERATED_MARK, WordAxis

    groups = word_groups(result)
    generated = result.generated
    return WordAxis(tuple(g.positions for g in groups),
                    tuple((GENERATED_MARK if any(generated[p] for p in g.positions) else "") + group_label(result, g)
                          for g in groups))


def head_stats_of(result: Result, compare: Result | None = None) -> HeadStats:
    """The head table of a result; with `compare`, the `delta` column (blank where the token counts differ)."""
    return head_stats(result.all_weights(), result.token_ids,
                      compare=compare.all_weights() if compare is not None else None)


# ── the induction test ───────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class InductionTest:
    """The induction test on one source: N random ids repeated twice, each head's score on the repeat."""

    n: int
    seed: int
    ids: tuple[int, ...]
    """The whole sequence run: the tokens the tokenizer adds in front (`offset` of them), the N ids twice,
    and any it adds at the end."""
    offset: int
    scores: np.ndarray
    """(L, H) mean over the N queries of the repeat of the weight on the token after the first occurrence."""
    uniform: float
    """What a head attending uniformly to every visible key scores: the baseline."""

    def rows(self) -> list[dict[str, int | float]]:
        """[{"layer", "head", "score"}], layer and head from 1, in layer, head order."""
        return [{"layer": layer + 1, "head": head + 1, "score": float(self.scores[layer, head])}
                for layer in range(self.scores.shape[0]) for head in range(self.scores.shape[1])]

    def top(self, k: int = 5) -> list[dict[str, int | float]]:
        """The k highest-scoring heads, best first."""
        return sorted(self.rows(), key=lambda row: (-row["score"], row["layer"], row["head"]))[:k]

    def json(self) -> dict[str, Any]:
        return {"n": self.n, "seed": self.seed, "offset": self.offset, "ids": list(self.ids), "scores": self.rows(),
                "uniform": self.uniform}


def toy_weights(config: AttentionConfig, token_ids: Sequence[int]) -> torch.Tensor:
    """(1, H, T, T) the toy pipeline's attention for arbitrary token ids (attn_tui.attention.compute's maths on
    `table[ids]` instead of the prompt's words; a test checks both agree on a prompt's ids)."""
    import math

    import torch
    import torch.nn.functional as F

    from attn_tui.attention import random_tables

    c = config
    tables = random_tables(c.seed, c.vocab_size, c.d_model, c.d_k, c.d_v)
    T, H, hk = len(token_ids), c.heads, c.d_k // c.heads
    with torch.inference_mode():
        e = tables.table[torch.tensor(list(token_ids), dtype=torch.long)]  # (T, d_model)
        q = e @ tables.w_query  # (T, d_k)
        k = e @ tables.w_key  # (T, d_k)
        qh = q.view(T, H, hk).transpose(0, 1)  # (H, T, hk)
        kh = k.view(T, H, hk).transpose(0, 1)  # (H, T, hk)
        scaled = (qh @ kh.transpose(-2, -1)) / (math.sqrt(hk) * c.temperature)  # (H, T, T)
        if c.causal:
            mask = torch.ones(T, T, dtype=torch.bool).triu_(1)  # (T, T), True above the diagonal
            scaled = scaled.masked_fill(mask, float("-inf"))
        return F.softmax(scaled, dim=-1).unsqueeze(0)  # (1, H, T, T)


def induction_test(source: AttentionConfig | Model, n: int = DEFAULT_N, seed: int = 0) -> InductionTest:
    """Run the induction test on the toy (its config) or a model: N distinct random ids (specials and added
    tokens excluded; seeded), twice, with the tokens the model's tokenizer adds around any text.

    Refused (flag `--induction-test`) when N does not fit the vocabulary or the source's length limit.
    """
    from attn_tui.models import Model

    flag = "--induction-test"
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise Refused(flag, f"N is {n!r}: a whole number ≥ 1")
    if not isinstance(source, Model):
        config = source
        if n > config.vocab_size:
            raise Refused(flag, f"{n} distinct ids wanted, the toy's vocabulary has {config.vocab_size}")
        if config.heads * (2 * n) ** 2 > MAX_ATTENTION_CELLS:
            raise Refused(flag, f"{2 * n} tokens × {config.heads} heads pass the toy's {MAX_ATTENTION_CELLS:,} "
                                "attention cells")
        sequence = induction_sequence(n, config.vocab_size, seed=seed)
        weights = toy_weights(config, sequence)
        return InductionTest(n, seed, tuple(sequence), 0, induction_scores(weights, n),
                             uniform_induction_score(n, causal=config.causal))
    model = source
    tokenizer = model.tokenizer
    frame = model.tokenize("a")  # what the tokenizer adds around any text: [CLS] … [SEP], a BOS, nothing
    first = next(k for k, off in enumerate(frame.offsets) if off is not None)
    last = max(k for k, off in enumerate(frame.offsets) if off is not None)
    prefix, suffix = frame.ids[:first], frame.ids[last + 1:]
    total = len(prefix) + 2 * n + len(suffix)
    if total > model.facts.max_tokens:
        raise Refused(flag, f"{2 * n} tokens (+ {len(prefix) + len(suffix)} added) pass {model.facts.name}'s limit "
                            f"of {model.facts.max_tokens}: at most N = {(model.facts.max_tokens - total + 2 * n) // 2}")
    vocab = model.facts.vocab_size
    known = tokenizer.id_to_token
    exclude = {i for i in range(vocab) if i not in known} | set(tokenizer.added_ids) | set(tokenizer.special_ids)
    try:
        half = induction_sequence(n, vocab, exclude=exclude, seed=seed)
    except ValueError as error:
        raise Refused(flag, str(error)) from None
    ids = (*prefix, *half, *suffix)
    trace = model.trace(ids)
    end = len(prefix) + 2 * n
    scores = induction_scores(trace.attentions[..., :end, :end], n, offset=len(prefix))
    uniform = (uniform_induction_score(n, offset=len(prefix)) if model.facts.causal else 1.0 / len(ids))
    return InductionTest(n, seed, ids, len(prefix), scores, uniform)


# ── everything --json asks for ───────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Report:
    """One `--json` computation: the result and what the extras added to it."""

    result: Result
    extras: Extras
    compare: Result | None = None
    head_stats: HeadStats | None = None
    induction: InductionTest | None = None

    def json_items(self) -> Iterator[tuple[str, Any]]:
        """The result's keys, then each extra asked for (tensors stay tensors: `write_json` streams them)."""
        result, extras = self.result, self.extras
        yield from result.json_items()
        if self.head_stats is not None:
            yield "head_stats", self.head_stats.rows()
        if self.induction is not None:
            yield "induction_test", self.induction.json()
        if self.compare is not None:
            b = self.compare
            items: list[tuple[str, Any]] = [("prompt", b.prompt), ("tokens", list(b.tokens)),
                                            ("token_ids", list(b.token_ids))]
            generated = getattr(b, "generated", None)
            if generated is not None:
                items += [("generated", list(generated)), ("continuation", getattr(b, "continuation", ""))]
            items.append(("attentions", b.all_weights()))
            yield "compare", JSONObject(tuple(items))
        if extras.value_weighted:
            yield "value_weighted", value_weighted_of(result)
        if extras.rollout:
            yield "rollout", rollout_of(result)
        if extras.words:
            groups, merged = merge_words_of(result)
            yield "word_level", JSONObject((
                ("groups", [{"label": group_label(result, g), "kind": g.kind, "positions": list(g.positions),
                             "span": list(g.span) if g.span is not None else None, "text": g.text}
                            for g in groups]),
                ("attentions", merged),
            ))


def _model(source: str) -> Model:
    from attn_tui import models

    try:
        return models.load(source)
    except models.ModelUnavailable as error:
        raise Refused("--model", str(error)) from None
    except (ValueError, MemoryError, RuntimeError, OSError) as error:
        raise Refused("--model", f"{source}: {error}") from None


def _run(config: AttentionConfig, source: str, flag: str) -> Result:
    """One prompt through the source; a refusal names `flag` (the prompt's, or --compare's)."""
    if source == "toy":
        from attn_tui.attention import compute

        problems = field_problems(config)
        if problems:
            bad = problems[0]
            raise Refused(flag if bad.field == "prompt" else argv_flag(bad.field), str(bad))
        return compute(config)
    from attn_tui import models

    model = _model(source)
    try:
        return model.run(config.prompt)
    except (models.PromptTooLong, ValueError) as error:
        raise Refused(flag, str(error)) from None


def _generate(source: str, prompt: str, n: int, flag: str) -> Result:
    from attn_tui import models

    if source == "toy":
        raise Refused("--generate", "the toy pipeline has no language-model head, so nothing to generate with; "
                                    "choose a decoder: --model smollm2 (or a GPT-2 / Llama-family checkpoint)")
    model = _model(source)
    try:
        return model.generate(prompt, n)
    except (models.CannotGenerate, models.GenerationTooLong) as error:
        raise Refused("--generate", str(error)) from None
    except (models.PromptTooLong, ValueError) as error:
        raise Refused(flag, str(error)) from None


def build(config: AttentionConfig, source: str, extras: Extras, result: Result | None = None) -> Report:
    """Compute everything `extras` asks for on `source` ("toy", a bundled model's name, or a checkpoint path).

    `result` is the prompt's result if the caller has it already (ignored with `generate`, which makes
    its own). Raises Refused naming the flag to change.
    """
    if extras.generate is not None:
        result = _generate(source, config.prompt, extras.generate, "--prompt")
    elif result is None:
        result = _run(config, source, "--prompt")
    compare = None
    if extras.compare is not None:
        if not extras.compare.strip():
            raise Refused("--compare", "the comparison prompt is empty")
        if extras.generate is not None:
            compare = _generate(source, extras.compare, extras.generate, "--compare")
        else:
            compare = _run(config.replace(prompt=extras.compare), source, "--compare")
    stats = head_stats_of(result, compare) if extras.head_stats else None
    induction = None
    if extras.induction_test is not None:
        induction = induction_test(config if source == "toy" else _model(source), extras.induction_test,
                                   extras.induction_seed)
    return Report(result, extras, compare, stats, induction)
