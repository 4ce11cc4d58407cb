"""The word-level view (issue 16): subword tokens grouped into the prompt's words, and weights merged.

A word is a maximal run of non-whitespace characters of the prompt, as the toy's prompt pane splits
words. A token belongs to the word holding the first non-whitespace character of its span, so:

- a leading space inside the span (byte-level BPE's "Ġcat", offsets (3, 7)) does not matter;
- punctuation touching a word is part of it: "sat." "Don't" "(stop)" are one word each, whatever
  the tokenizer split off; punctuation between spaces (" — ") is a word of its own;
- pieces of one character (a byte-level emoji split in three, all with the same offsets) stay together.

Tokens with no text of their own stay single: special tokens without offsets ([CLS], [SEP]: offsets
None or empty like (0, 0)), tokens flagged `special` (control tokens typed in the prompt, such as
<|im_start|>, which do have offsets and separate words as a space does), and whitespace-only
tokens ("Ġ" of a double space, "Ċ" newlines). A decoder often attends hard to those; folding them
into a neighbour would hide it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from attn_tui.analysis._tensors import like_input, square_last, to_tensor

__all__ = ["WordGroup", "merge_words", "word_spans"]


@dataclass(frozen=True)
class WordGroup:
    """One row / column of the word-level view: the token positions merged into it."""

    positions: tuple[int, ...]
    """Token positions in the group, ascending."""
    kind: Literal["word", "special", "space"]
    """"word": a word of the prompt; "special": a token with no text of its own; "space": whitespace only."""
    span: tuple[int, int] | None
    """(start, end) character offsets in the prompt: the whole word for "word" groups, the token's
    own span for "space", None for "special" (its offsets, if any, say nothing about words)."""
    text: str | None
    """The label: the word as written in the prompt, the whitespace for "space", None for "special"
    (label those with the token's own string)."""


def _word_owner(prompt: str, breaks: set[int]) -> list[int]:
    """For each character: the index of the word it is in, −1 for whitespace and the `breaks` positions."""
    owner, word, inside = [], -1, False
    for c, ch in enumerate(prompt):
        if ch.isspace() or c in breaks:
            inside = False
            owner.append(-1)
        else:
            if not inside:
                word += 1
                inside = True
            owner.append(word)
    return owner


def word_spans(
    offsets: Sequence[tuple[int, int] | None], prompt: str, *, special: Sequence[bool] | None = None
) -> list[WordGroup]:
    """The word groups of a tokenised prompt, in order of their first token; they partition range(T).

    `offsets[k]` is token k's (start, end) character span in `prompt` (a tokenizer's
    `Encoding.offsets`), None or empty for a token with no text. `special[k]` True keeps token k
    single even though it has offsets; pass only control tokens here, not a sink flag (SmolLM2's
    `ModelResult.special` also marks position 0, an ordinary word).
    """
    if special is not None and len(special) != len(offsets):
        raise ValueError(f"special: {len(special)} flags for {len(offsets)} tokens")
    # A control token typed in the prompt ("<|im_start|>user") separates words as a space would.
    breaks = {c for k, span in enumerate(offsets) if special is not None and special[k] and span is not None
              for c in range(int(span[0]), int(span[1]))}
    owner = _word_owner(prompt, breaks)
    starts: dict[int, int] = {}
    ends: dict[int, int] = {}
    for ch, word in enumerate(owner):
        if word >= 0:
            starts.setdefault(word, ch)
            ends[word] = ch + 1
    groups: list[list[int]] = []
    meta: list[tuple[Literal["word", "special", "space"], tuple[int, int] | None, str | None]] = []
    group_of_word: dict[int, int] = {}
    for k, span in enumerate(offsets):
        if span is None or (special is not None and special[k]) or int(span[0]) >= int(span[1]):
            groups.append([k])
            meta.append(("special", None, None))
            continue
        start, end = int(span[0]), int(span[1])
        if not (0 <= start < end <= len(prompt)):
            raise ValueError(f"offsets[{k}]: {span} is outside the prompt's {len(prompt)} characters")
        word = next((owner[c] for c in range(start, end) if owner[c] >= 0), -1)
        if word < 0:
            groups.append([k])
            meta.append(("space", (start, end), prompt[start:end]))
        elif word in group_of_word:
            groups[group_of_word[word]].append(k)
        else:
            group_of_word[word] = len(groups)
            groups.append([k])
            meta.append(("word", (starts[word], ends[word]), prompt[starts[word] : ends[word]]))
    return [WordGroup(tuple(g), kind, span, text) for g, (kind, span, text) in zip(groups, meta, strict=True)]


def merge_words(weights: Any, groups: Sequence[WordGroup | Sequence[int]]) -> Any:
    """(..., G, G) word-level weights from (..., T, T): weight(u → w) = mean_{i ∈ u} Σ_{j ∈ w} A_ij.

    The groups (WordGroups or plain position lists) must partition range(T); then every row that
    summed to 1 still does. Numpy or torch in, the same kind out.
    """
    import torch

    a, was_array = to_tensor(weights)
    t = square_last(a, "weights")
    members = [tuple(g.positions) if isinstance(g, WordGroup) else tuple(int(p) for p in g) for g in groups]
    seen = sorted(p for g in members for p in g)
    if seen != list(range(t)) or any(not g for g in members):
        raise ValueError(f"groups: must split the {t} token positions into non-empty groups, each position once")
    member = torch.zeros(t, len(members), dtype=a.dtype)  # (T, G): 1 where token i is in group u
    for u, g in enumerate(members):
        member[list(g), u] = 1.0
    mean = (member / member.sum(dim=0)).T  # (G, T): row u averages u's tokens
    return like_input(mean @ (a @ member), was_array)  # (..., G, G)
