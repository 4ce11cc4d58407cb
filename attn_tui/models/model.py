"""A loaded model: its tokenizer and weights; `run(prompt)` gives a ModelResult (cached per prompt)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from attn_tui.models.base import Progress, PromptTooLong
from attn_tui.models.result import Generation, ModelFacts, ModelResult, Predictions, Tokens, Trace

if TYPE_CHECKING:
    import torch

    from attn_tui.models.tokenizer import TextTokenizer


class Model:
    """A loaded model: tokenizer plus float32 weights. `run(prompt)` gives a ModelResult, cached per prompt.

    Subclasses (one per architecture) implement `forward(ids, residuals=False) -> Trace` and, for
    decoders, `logits(hidden)`, and `forward(ids, trace=, start=, cache=)` (a pass over the next
    positions, attending to cached keys), on which `generate` and `predictions` are built.
    """

    cache_size: int = 4
    """Prompts whose results are kept (least recently used dropped first)."""

    def __init__(self, facts: ModelFacts, tokenizer: TextTokenizer) -> None:
        self.facts = facts
        self.tokenizer = tokenizer
        self._lock = threading.Lock()
        # functools.lru_cache is the stdlib's LRU; one per model, so that models do not evict each other.
        self._cached_run = functools.lru_cache(maxsize=self.cache_size)(self._run_uncached)
        self._residuals: dict[tuple[int, ...], torch.Tensor] = {}
        """The residual streams of the last two sequences `predictions` read (ids → (L + 1, T, hidden))."""

    # The pre-facts attribute names, kept for callers written against the two bundled models.
    @property
    def name(self) -> str:
        return self.facts.name

    @property
    def max_tokens(self) -> int:
        return self.facts.max_tokens

    @property
    def causal(self) -> bool:
        return self.facts.causal

    def tokenize(self, prompt: str) -> Tokens:
        """The prompt's tokens, special tokens included (no length check)."""
        return self.tokenizer.encode(_replace_surrogates(prompt), causal=self.facts.causal)

    def forward(self, ids: torch.Tensor, residuals: bool = False) -> Trace:
        """One pass over `ids` ((T,) long): every layer's attention, queries, keys, values."""
        raise NotImplementedError

    def trace(self, ids: Sequence[int], residuals: bool = False) -> Trace:
        """`forward` over token ids as the tokenizer gives them, one pass at a time (the model's lock), no autograd:
        what a caller outside the model package uses (the induction test, the predictions)."""
        import torch

        with self._lock, torch.inference_mode():
            return self.forward(torch.tensor(list(ids), dtype=torch.long), residuals=residuals)

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(…, hidden) residual-stream vectors → (…, vocab) next-token logits (final norm, then the LM head)."""
        raise ValueError(f"{self.facts.title} has no language-model head ({self.facts.architecture} encoder)")

    def clear_cache(self) -> None:
        """Forget every cached result (benchmarks time the uncached path)."""
        self._cached_run.cache_clear()
        self._residuals = {}

    def generate(self, prompt: str | Sequence[int], n: int, *, progress: Progress | None = None,
                 cancel: threading.Event | None = None,
                 partial: Callable[[Generation], None] | None = None) -> Generation:
        """`prompt` (text, or token ids) followed by n tokens chosen greedily, with every layer's attention over
        the whole sequence; a key/value cache makes each step one token's pass. See models.generation.generate."""
        from attn_tui.models.generation import generate

        return generate(self, prompt, n, progress=progress, cancel=cancel, partial=partial)

    def predictions(self, source: ModelResult | Sequence[int], position: int, *, k: int = 5,
                    lens: bool = False) -> Predictions:
        """The top k next tokens after `position` of a result (or ids), and with `lens` the same read after every
        layer (the logit lens). See models.generation.predictions."""
        from attn_tui.models.generation import predictions

        return predictions(self, source, position, k=k, lens=lens)

    def run(self, prompt: str) -> ModelResult:
        """Tokenise and run `prompt`; ValueError if it is empty or has no token, PromptTooLong past max_tokens."""
        return self._cached_run(prompt)

    def _run_uncached(self, prompt: str) -> ModelResult:
        if not prompt.strip():
            raise ValueError("the prompt is empty")
        tokens = self.tokenize(prompt)
        if not any(offset is not None for offset in tokens.offsets):
            # Tokenizers drop some input (BERT's control characters and U+FFFD, bytes a byte-level
            # vocabulary lacks): nothing of the prompt left means nothing to show.
            raise ValueError(f"the prompt has no token {self.facts.name} can read "
                             "(its tokenizer drops these characters)")
        if len(tokens.ids) > self.facts.max_tokens:
            raise PromptTooLong(self.facts.name, len(tokens.ids), self.facts.max_tokens, self.facts.limit_reason)
        import torch

        with self._lock, torch.inference_mode():
            trace = self.forward(torch.tensor(tokens.ids, dtype=torch.long))
        return ModelResult(
            model=self.facts.name,
            prompt=prompt,
            tokens=tokens.tokens,
            token_ids=tokens.ids,
            special=tokens.special,
            offsets=tokens.offsets,
            embeddings=trace.embeddings,
            attentions=trace.attentions,
            queries=trace.queries,
            keys=trace.keys,
            values=trace.values,
            value_norms=trace.value_norms,
            scale=float(getattr(self, "scale", self.facts.head_dim**-0.5)),
            causal=self.facts.causal,
            facts=self.facts,
            control=tuple(i in self.tokenizer.special_ids for i in tokens.ids),
        )


def _replace_surrogates(prompt: str) -> str:
    # A lone surrogate (an undecodable byte from the command line) is not text a tokenizer can take:
    # it is read as U+FFFD, the replacement character, as a UTF-8 decoder would.
    return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in prompt)
