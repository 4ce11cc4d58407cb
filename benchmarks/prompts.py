"""Deterministic prompts of any length, made of ordinary English words (repeats included)."""

from __future__ import annotations

from attn_tui.config import NOTEBOOK_PROMPT

_TEXT = (  # noqa: SIM905 — prose, kept readable
    "people paste paragraphs not ten words so the explorer must stay instant from the notebook "
    "to long passages and prove it with a harness kept in the repository attention lets every word "
    "look at every other word and decide how much of each to take the query asks the key answers "
    "and the value is what gets handed on softmax turns the scaled scores into weights that sum to "
    "one each row is a distribution over the keys and the context is their weighted average"
).split()


def prompt_of(words: int) -> str:
    """The notebook's prompt for 10 words; otherwise `words` words cycling through a paragraph.

    Every 7th word gets a number so that the vocabulary keeps growing with the length, as it does
    in real text (a prompt of 2,048 words has several hundred distinct words).
    """
    if words == 10:
        return NOTEBOOK_PROMPT
    out = []
    for i in range(words):
        word = _TEXT[i % len(_TEXT)]
        out.append(f"{word}{i // 7}" if i % 7 == 3 else word)
    return " ".join(out)
