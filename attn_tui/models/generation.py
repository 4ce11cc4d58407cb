"""Generation step by step and next-token predictions (issue 16): greedy decoding with a key/value cache,
the top next tokens after any position, and the logit lens.

`generate(model, prompt, n)` runs the prompt once (a prefill: the same pass `Model.run` makes, its keys
and values kept in a `KVCache`), then each new token alone, attending to the cached keys: every step
costs one token's pass, not the whole sequence's. Each step writes its token's rows (attention,
queries, keys, values, value norms, residual stream) into one trace sized for the final sequence, so
the result is a ModelResult over prompt + generated tokens, as a full pass over it would give.

The next token is the argmax of the logits after the last position (greedy, as transformers'
`generate(do_sample=False)`); ties go to the lowest id, as torch.argmax gives them. An end-of-text
token does not stop it: n tokens are generated, as `min_new_tokens=n` asks transformers to.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import torch

from attn_tui.models.base import CannotGenerate, GenerationCancelled, GenerationTooLong, Progress, PromptTooLong
from attn_tui.models.result import Generation, Guess, ModelResult, Predictions, Trace

if TYPE_CHECKING:
    from attn_tui.models.result import ModelFacts, Tokens
    from attn_tui.models.tokenizer import TextTokenizer


class Model(Protocol):
    """What generation needs of a loaded model (attn_tui.models.model.Model; named here, not imported,
    so that the model module can call this one without an import circle)."""

    facts: ModelFacts
    tokenizer: TextTokenizer
    _lock: threading.Lock
    _residuals: dict[tuple[int, ...], torch.Tensor]

    def tokenize(self, prompt: str) -> Tokens: ...

    def trace(self, ids: Sequence[int], residuals: bool = False) -> Trace: ...

    def logits(self, hidden: torch.Tensor) -> torch.Tensor: ...


DEFAULT_TOKENS = 8
"""Issue 16's default number of tokens to generate."""
TOP_K = 5
"""Next tokens shown by default."""


def check_can_generate(model: Model) -> None:
    """CannotGenerate, saying why, unless the model has a language-model head."""
    facts = model.facts
    if not facts.causal:
        raise CannotGenerate(f"{facts.title} is an encoder ({facts.architecture}): it reads the whole text at once "
                             "and has no language-model head, so it cannot predict or generate tokens; "
                             "choose a decoder (smollm2, or a GPT-2 / Llama-family checkpoint)")
    if not facts.can_generate:
        raise CannotGenerate(f"{facts.title} has no language-model head (no lm_head.weight, none tied to its "
                             "embeddings): it cannot predict or generate tokens")


# ── the text of generated tokens ─────────────────────────────────────────────────────────────────


def decode_pieces(pieces: Sequence[bytes], base: int = 0) -> tuple[str, list[tuple[int, int] | None]]:
    """The text of consecutive tokens' bytes, and each token's (start, end) span in it, offset by `base`.

    A character cut across tokens (an emoji in three byte-level pieces) belongs to every token that
    holds a byte of it: they share its span, as a tokenizer's offsets give them. A token whose bytes
    complete no character by the end gets None. Invalid UTF-8 reads as U+FFFD.
    """
    decoder = codecs.getincrementaldecoder("utf-8")("replace")
    text: list[str] = []
    spans: list[tuple[int, int] | None] = []
    length = 0
    pending: list[int] = []  # tokens whose bytes have not yet completed a character
    for k, piece in enumerate(pieces):
        out = decoder.decode(piece)
        spans.append(None)
        if not piece:
            continue
        pending.append(k)
        if out:
            # Every pending token shares the characters that completed now (from where the first
            # started); this token owns them to the end.
            start = length
            text.append(out)
            length += len(out)
            for p in pending:
                spans[p] = (base + start, base + length)
            pending = []
    tail = decoder.decode(b"", final=True)
    if tail:
        for p in pending:
            spans[p] = (base + length, base + length + len(tail))
        text.append(tail)
    return "".join(text), spans


# ── generation ───────────────────────────────────────────────────────────────────────────────────


def _prompt_tokens(model: Model, prompt: str | Sequence[int]) -> tuple[str, tuple[int, ...], tuple[str, ...],
                                                                        tuple[bool, ...],
                                                                        tuple[tuple[int, int] | None, ...]]:
    """(prompt text, ids, readable tokens, special flags, offsets) of a prompt given as text or ids."""
    tokenizer = model.tokenizer
    if isinstance(prompt, str):
        if not prompt.strip():
            raise ValueError("the prompt is empty")
        tokens = model.tokenize(prompt)
        if not any(offset is not None for offset in tokens.offsets):
            raise ValueError(f"the prompt has no token {model.facts.name} can read "
                             "(its tokenizer drops these characters)")
        return prompt, tokens.ids, tokens.tokens, tokens.special, tokens.offsets
    ids = tuple(prompt)
    if not ids:
        raise ValueError("no token ids given")
    vocab = model.facts.vocab_size
    for i in ids:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < vocab:
            raise ValueError(f"token id {i!r} is not in the vocabulary (0 … {vocab - 1})")
    text, offsets = decode_pieces([tokenizer.token_bytes(i) for i in ids])
    special = tuple(i in tokenizer.special_ids or n == 0 for n, i in enumerate(ids))
    return text, ids, tuple(tokenizer.readable_token(i) for i in ids), special, tuple(offsets)


def generate(model: Model, prompt: str | Sequence[int], n: int, *, progress: Progress | None = None,
             cancel: threading.Event | None = None,
             partial: Callable[[Generation], None] | None = None) -> Generation:
    """Greedy decoding: `prompt` (text, or token ids as the model's tokenizer gives them) and n new tokens.

    Raises CannotGenerate (an encoder, no LM head), ValueError (an empty prompt, n < 0, an id outside
    the vocabulary), GenerationTooLong (prompt + n past max_tokens, before anything runs),
    GenerationCancelled (set `cancel`; checked before each step; `.partial` holds the steps done).
    `progress(fraction, label)` is called after the prompt's pass and after each token; `partial(generation)`,
    if given, after each token but the last, with the tokens so far (the explorer shows them as they come).
    """
    check_can_generate(model)
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n is {n!r}: the number of tokens to generate is a whole number ≥ 0")
    facts = model.facts
    text, ids, tokens, special, offsets = _prompt_tokens(model, prompt)
    n_prompt = len(ids)
    if n_prompt > facts.max_tokens:
        raise PromptTooLong(facts.name, n_prompt, facts.max_tokens, facts.limit_reason)
    if n_prompt + n > facts.max_tokens:
        raise GenerationTooLong(facts.name, n_prompt, n, facts.max_tokens, facts.limit_reason)
    report: Progress = progress or (lambda fraction, label: None)
    transformer: Any = model  # a core.Transformer: forward takes trace, start and cache
    tokenizer = model.tokenizer
    new_ids: list[int] = []

    def result(trace: Trace, length: int) -> Generation:
        all_ids = (*ids, *new_ids)[:length]
        made = new_ids[: length - n_prompt]
        continuation, spans = decode_pieces([tokenizer.token_bytes(i) for i in made], base=len(text))
        cut = trace if length == trace.attentions.shape[-1] else _cut(trace, length)
        return Generation(
            model=facts.name,
            prompt=text,
            tokens=(*tokens, *(tokenizer.readable_token(i) for i in made)),
            token_ids=all_ids,
            special=(*special, *(i in tokenizer.special_ids for i in made)),
            offsets=(*offsets, *spans),
            embeddings=cut.embeddings,
            attentions=cut.attentions,
            queries=cut.queries,
            keys=cut.keys,
            values=cut.values,
            value_norms=cut.value_norms,
            scale=float(getattr(model, "scale", facts.head_dim**-0.5)),
            causal=facts.causal,
            facts=facts,
            control=tuple(i in tokenizer.special_ids for i in all_ids),
            generated=(False,) * n_prompt + (True,) * len(made),
            continuation=continuation,
            residuals=cut.residuals,
        )

    with model._lock, torch.inference_mode():
        if cancel is not None and cancel.is_set():
            raise GenerationCancelled("generation was cancelled before it started")
        total = n_prompt + n
        trace = transformer.empty_trace(total, residuals=True)
        cache = transformer.new_cache(total)
        report(0.0, f"reading the prompt ({n_prompt} tokens)")
        transformer.forward(torch.tensor(ids, dtype=torch.long), trace=trace, start=0, cache=cache)
        assert trace.residuals is not None
        for step in range(n):
            position = n_prompt + step  # where the new token goes
            if cancel is not None and cancel.is_set():
                raise GenerationCancelled(f"generation was cancelled after {step} of {n} tokens",
                                          result(trace, position))
            logits = model.logits(trace.residuals[-1, position - 1])  # (vocab,)
            token = int(torch.argmax(logits))
            new_ids.append(token)
            transformer.forward(torch.tensor([token], dtype=torch.long), trace=trace, start=position, cache=cache)
            report((step + 1) / n, f"token {step + 1} of {n}: {tokenizer.readable_token(token)}")
            if partial is not None and step + 1 < n:
                partial(result(trace, position + 1))
        if n == 0:
            report(1.0, "no token asked for")
        return result(trace, total)


def _cut(trace: Trace, length: int) -> Trace:
    """The first `length` positions of a trace (a cancelled generation's steps so far), as copies."""
    t = slice(0, length)
    return Trace(
        embeddings=trace.embeddings[t].clone(),
        attentions=trace.attentions[:, :, t, t].clone(),
        queries=trace.queries[:, :, t].clone(),
        keys=trace.keys[:, :, t].clone(),
        values=trace.values[:, :, t].clone(),
        value_norms=trace.value_norms[:, :, t].clone(),
        residuals=None if trace.residuals is None else trace.residuals[:, t].clone(),
    )


# ── next-token predictions and the logit lens ────────────────────────────────────────────────────


def residual_stream(model: Model, ids: Sequence[int]) -> torch.Tensor:
    """(L + 1, T, hidden) the residual stream of a pass over `ids` (the last two sequences are kept)."""
    key = tuple(int(i) for i in ids)
    cached = model._residuals.get(key)
    if cached is not None:
        return cached
    trace = model.trace(key, residuals=True)
    assert trace.residuals is not None
    model._residuals = {**dict(list(model._residuals.items())[-1:]), key: trace.residuals}
    return trace.residuals


def _guesses(model: Model, probs: torch.Tensor, logits: torch.Tensor, k: int) -> tuple[Guess, ...]:
    top = torch.topk(probs, k)
    return tuple(Guess(int(i), model.tokenizer.readable_token(int(i)), float(p), float(logits[int(i)]), rank)
                 for rank, (p, i) in enumerate(zip(top.values, top.indices, strict=True), start=1))


def predictions(model: Model, source: ModelResult | Sequence[int], position: int, *, k: int = TOP_K,
                lens: bool = False) -> Predictions:
    """The top k next tokens after `position` (0-based) of a result or a sequence of ids, from the last layer;
    with `lens`, also after every layer (the logit lens), read through the final norm and the LM head.

    One position at a time: L + 1 rows of vocabulary-sized logits at most (SmolLM2: 31 × 49,152 floats,
    6 MB), never every position's. A Generation carries its residual stream; any other source costs
    one pass over its tokens with the residual stream kept (cached for the last two sequences).
    """
    check_can_generate(model)
    if isinstance(source, ModelResult):
        if source.facts is not model.facts:
            raise ValueError(f"the result comes from {source.model}, not from {model.facts.name}")
        ids: Sequence[int] = source.token_ids
    else:
        ids = tuple(source)
    if not ids:
        raise ValueError("no tokens to predict from")
    if isinstance(position, bool) or not isinstance(position, int) or not 0 <= position < len(ids):
        raise ValueError(f"position {position!r} is outside the sequence: 0 … {len(ids) - 1}")
    vocab = model.facts.vocab_size
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= vocab:
        raise ValueError(f"k is {k!r}: between 1 and the vocabulary's {vocab} tokens")
    stored = getattr(source, "residuals", None)
    residuals = stored if stored is not None else residual_stream(model, ids)
    with torch.inference_mode():
        # The last layer's row on its own, whether the lens is on or not, so that toggling the lens never
        # changes the top tokens' numbers (a product of many rows may round differently from one).
        final_logits = model.logits(residuals[-1:, position]).float()[0]  # (vocab,)
        final_probs = torch.softmax(final_logits, dim=-1)  # (vocab,)
    top = _guesses(model, final_probs, final_logits, k)
    actual = None
    if position + 1 < len(ids):
        nxt = int(ids[position + 1])
        p = final_probs[nxt]
        actual = Guess(nxt, model.tokenizer.readable_token(nxt), float(p), float(final_logits[nxt]),
                       int((final_probs > p).sum()) + 1)
    if not lens:
        return Predictions(position, top, actual)
    with torch.inference_mode():
        logits = model.logits(residuals[:-1, position]).float()  # (L, vocab): the embeddings, layers 1 … L − 1
        probs = torch.softmax(logits, dim=-1)  # (L, vocab)
    rows = (*(_guesses(model, probs[r], logits[r], k) for r in range(probs.shape[0])), top)
    best = top[0].token_id
    return Predictions(position, top, actual, rows, (*(float(x) for x in probs[:, best]), top[0].probability))
