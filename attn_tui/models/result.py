"""One run of a model, frozen: its facts, tokens and every layer's tensors, read through attn_tui.result.Result.

The stages a result does not store (scores, scaled, context) are one head's small product, made when a
view asks for that head. Standard library at import; torch comes with the tensors.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING, Any, NamedTuple

from attn_tui.result import Chunks

if TYPE_CHECKING:
    import numpy as np
    import torch

_STAGES = frozenset(("query", "key", "value", "scores", "scaled", "weights", "context", "value_weighted", "rollout"))
"""Every per-head stage, and the analyses of the weights (attn_tui.stages); a model has no random W matrices."""


# ── what a model is, and what one run returns ────────────────────────────────────────────────────


@dataclass(frozen=True, eq=False)
class ModelFacts:
    """What is known about a loaded model: its identity, its shape, and the longest prompt it takes."""

    name: str
    """"minilm", "smollm2", or the path as given to load()."""
    title: str
    """Human name: "SmolLM2-135M-Instruct (Q4_1)", a GGUF's general.name, or the folder's name."""
    architecture: str
    """The code that runs it: "bert", "roberta", "distilbert", "gpt2", "llama", "mistral", "qwen2"."""
    model_type: str
    """As the file declares it (config.json's model_type or GGUF's general.architecture)."""
    path: str
    """Resolved path of the folder or file."""
    n_layers: int
    n_heads: int
    """Query heads per layer."""
    n_kv_heads: int
    """Key/value heads per layer (fewer than n_heads with grouped-query attention)."""
    head_dim: int
    hidden: int
    """Width of the residual stream."""
    vocab_size: int
    dtype: str
    """How the weights are stored: "float32", "bfloat16", "Q4_K", "mixed: Q4_K, Q6_K"… (computed in float32)."""
    causal: bool
    """Whether a token attends only to itself and earlier tokens."""
    max_tokens: int
    """Longest accepted prompt, in tokens, special tokens included."""
    limit_reason: str
    """Why max_tokens is what it is, for the PromptTooLong message."""
    can_generate: bool
    """Whether the model has an LM head (decoders): `Model.logits` works."""
    device: str = "cpu"
    """Where the forward pass runs; results always come back on the CPU."""


@dataclass(frozen=True, eq=False)
class ModelResult:
    """One prompt through one model: its tokens and every layer's attention, as detached float32 CPU tensors."""

    model: str
    """facts.name."""
    prompt: str
    """The text as given."""
    tokens: tuple[str, ...]
    """Readable token strings. WordPiece as is ("[CLS]", "##s"); byte-level and SentencePiece tokens with a
    space shown as "▁", newline "↵", tab "⇥", and bytes that are not whole characters as "<0xF0>"."""
    token_ids: tuple[int, ...]
    """Vocabulary ids, exactly as the model's own tokenizer gives them."""
    special: tuple[bool, ...]
    """Tokens the UI may hide as attention sinks: [CLS]/[SEP]/<s>/BOS and other special tokens, and a
    decoder's first token."""
    offsets: tuple[tuple[int, int] | None, ...]
    """Each token's (start, end) character span in the prompt; None for tokens the tokenizer added."""
    embeddings: torch.Tensor
    """(T, hidden) the input of layer 0 (encoders: after the embedding LayerNorm)."""
    attentions: torch.Tensor
    """(L, H, T, T) softmax weights; row i is query token i; causal models have zeros above the diagonal."""
    queries: torch.Tensor
    """(L, H, T, head_dim) the per-head queries actually dotted (after RoPE where there is RoPE)."""
    keys: torch.Tensor
    """(L, H, T, head_dim) the keys actually dotted, one per query head (kv heads repeated for GQA)."""
    values: torch.Tensor
    """(L, H, T, head_dim) the values, one per query head (repeated for GQA)."""
    value_norms: torch.Tensor
    """(L, H, T) ‖v_j^h W_O^h‖: head h's value of token j through its slice of the output projection."""
    scale: float
    """The factor q·k is multiplied by before the softmax: 1/√head_dim."""
    causal: bool
    """Whether keys after the query are masked."""
    facts: ModelFacts
    """The model that made it."""
    control: tuple[bool, ...] | None = None
    """Tokens special in the vocabulary ([CLS], <|im_start|>, a BOS), without the first-token sink flag
    `special` adds for decoders: what keeps a token out of a word in the word-level view. None: unknown."""

    @property
    def n_layers(self) -> int:
        return self.attentions.shape[0]

    @property
    def n_heads(self) -> int:
        return self.attentions.shape[1]

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def head_dim(self) -> int:
        return self.queries.shape[-1]

    @property
    def n_kv_heads(self) -> int:
        return self.facts.n_kv_heads

    @property
    def generated(self) -> tuple[bool, ...]:
        """True for the tokens a model generated: none here (a `Generation` has its own)."""
        return (False,) * len(self.token_ids)

    @cached_property
    def _rollout(self) -> torch.Tensor:
        """(L, T, T) attention rollout after every layer (attn_tui.analysis.rollout), made once when first shown."""
        from attn_tui.analysis import rollout

        return rollout(self.attentions)

    # -- attn_tui.result.Result: what every view reads ------------------------------------------

    @property
    def source(self) -> str:
        return self.model

    @property
    def vocab(self) -> Mapping[str, int]:
        """The prompt's own tokens → their ids, in id order (a model's vocabulary has tens of thousands)."""
        pairs = {token: i for token, i in zip(self.tokens, self.token_ids, strict=True)}
        return dict(sorted(pairs.items(), key=lambda item: item[1]))

    @property
    def vocab_gaps(self) -> bool:
        return False

    @property
    def temperature(self) -> float:
        return 1.0

    @property
    def divisor(self) -> float:
        return 1.0 / self.scale

    @property
    def stages(self) -> frozenset[str]:
        return _STAGES

    def stage_width(self, stage: str) -> int:
        return int((self.values if stage in ("value", "context") else self.queries).shape[-1])

    def stage_tensor(self, stage: str, layer: int, head: int) -> torch.Tensor:
        """One head's stored tensor, or the product that makes it: scores = q kᵀ, scaled, context = A v."""
        if stage not in self.stages:
            raise KeyError(f"{self.model} results have no stage {stage!r}")
        if stage == "query":
            return self.queries[layer, head]  # (T, d)
        if stage == "key":
            return self.keys[layer, head]  # (T, d)
        if stage == "weights":
            return self.attentions[layer, head]  # (T, T)
        if stage == "value":
            return self.values[layer, head]  # (T, d)
        if stage == "context":
            return self.attentions[layer, head] @ self.values[layer, head]  # (T, d)
        if stage == "value_weighted":
            from attn_tui.analysis import value_weighted

            one = slice(layer, layer + 1), slice(head, head + 1)
            return value_weighted(self.attentions[one], self.value_norms[one])[0, 0]  # (T, T): α_ij · ‖f_h(x_j)‖
        if stage == "rollout":
            return self._rollout[layer]  # (T, T), the same for every head
        scores = self.queries[layer, head] @ self.keys[layer, head].T  # (T, T)
        if stage == "scores":
            return scores
        scaled = scores * self.scale  # (T, T)
        if self.causal and scaled.shape[0] > 1:
            import torch

            mask = torch.ones(scaled.shape, dtype=torch.bool).triu_(1)  # (T, T), True above the diagonal
            scaled = scaled.masked_fill(mask, float("-inf"))
        return scaled

    def all_weights(self) -> torch.Tensor:
        return self.attentions

    @property
    def file_prefix(self) -> str:
        """`attn-smollm2`; for a checkpoint opened by its path, its folder's or file's name (a path's `/` in a file
        name would point into folders that do not exist)."""
        name = self.model.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
        if name.lower().endswith(".gguf"):
            name = name[: -len(".gguf")]
        return f"attn-{name or 'model'}"

    def json_items(self) -> Iterator[tuple[str, Any]]:
        """The `attn-tui --json --model …` object: model, tokens, token_ids, attentions [layers][heads][T][T]."""
        yield "model", self.model
        yield "tokens", list(self.tokens)
        yield "token_ids", list(self.token_ids)
        yield "attentions", self.attentions

    def npz_arrays(self) -> dict[str, np.ndarray | Chunks]:
        """model, tokens, token_ids, attentions (layers, heads, T, T), and the tensors they came from."""
        import numpy as np

        arrays: dict[str, np.ndarray | Chunks] = {
            "model": np.array(self.model),
            "prompt": np.array(self.prompt, dtype=np.str_),
            "tokens": np.array(list(self.tokens), dtype=np.str_),
            "token_ids": np.asarray(list(self.token_ids), dtype=np.int64),
            "special": np.asarray(list(self.special), dtype=bool),
            "scale": np.array(self.scale),
            "causal": np.array(self.causal),
            "config": np.array(json.dumps({"model": self.model, "prompt": self.prompt}, ensure_ascii=False)),
        }
        for name in ("attentions", "embeddings", "queries", "keys", "values"):
            tensor = getattr(self, name, None)
            if tensor is not None:
                arrays[name] = tensor.detach().cpu().numpy().copy()
        from attn_tui.analysis import value_weighted

        # The derived stages, named as `--json --value-weighted --rollout` names them, a layer at a time.
        attentions, norms = self.attentions, self.value_norms
        n_layers, n_heads, t = attentions.shape[0], attentions.shape[1], attentions.shape[-1]

        def weighted() -> Iterator[np.ndarray]:
            for layer in range(n_layers):
                yield value_weighted(attentions[layer:layer + 1], norms[layer:layer + 1])[0].numpy()  # (H, T, T)

        arrays["value_weighted"] = Chunks((n_layers, n_heads, t, t), weighted)
        arrays["rollout"] = self._rollout.numpy()  # (L, T, T), already made for the screen
        return arrays

    def summary(self) -> str:
        return (f"T={self.n_tokens} tokens · {self.n_layers} layers × {self.n_heads} heads · "
                f"{'causal' if self.causal else 'bidirectional'}")


@dataclass(frozen=True, eq=False)
class Generation(ModelResult):
    """A prompt and the tokens a decoder generated after it, greedily: a ModelResult over the whole sequence.

    Every tensor covers prompt + generated tokens (T = n_prompt + n_generated); each generated token's
    attention row is the one computed at its step (with the keys cached from earlier steps), which
    equals a full pass over the final sequence. `prompt` is the text as given; `offsets` of
    generated tokens are spans in `text` (the prompt followed by `continuation`).
    """

    generated: tuple[bool, ...] = ()
    """True for the tokens the model generated, False for the prompt's."""
    continuation: str = ""
    """The generated tokens as text (control tokens spelled as themselves, <|im_end|>)."""
    residuals: torch.Tensor | None = None
    """(L + 1, T, hidden): the residual stream entering layer 0 and after each layer, for every position —
    what the next-token predictions and the logit lens read (`Model.predictions`), with no further pass."""

    @property
    def text(self) -> str:
        """The prompt followed by the generated text: what `offsets` index."""
        return self.prompt + self.continuation

    @property
    def n_generated(self) -> int:
        return sum(self.generated)

    @property
    def n_prompt(self) -> int:
        """Tokens of the prompt (special tokens included), before the first generated one."""
        return self.n_tokens - self.n_generated

    def json_items(self) -> Iterator[tuple[str, Any]]:
        """ModelResult's keys, then `generated` (T booleans) and `continuation` (the generated text)."""
        yield from super().json_items()
        yield "generated", list(self.generated)
        yield "continuation", self.continuation

    def npz_arrays(self) -> dict[str, np.ndarray | Chunks]:
        import numpy as np

        arrays = super().npz_arrays()
        arrays["generated"] = np.asarray(list(self.generated), dtype=bool)
        arrays["continuation"] = np.array(self.continuation, dtype=np.str_)
        return arrays

    def summary(self) -> str:
        return f"{super().summary()} · {self.n_generated} generated"


@dataclass(frozen=True)
class Guess:
    """One candidate next token."""

    token_id: int
    token: str
    """Readable, as the result's tokens are ("▁cat", "↵", "<0xF0>")."""
    probability: float
    """softmax of the logits over the whole vocabulary."""
    logit: float
    rank: int
    """1 for the most likely token."""


@dataclass(frozen=True)
class Predictions:
    """What the model predicts after one position: the top tokens, and optionally the logit lens.

    `lens[l]` reads the residual stream after layer l (lens[0]: the embeddings, before layer 1) through
    the final norm and the LM head, as the final layer's output is read; lens[-1] equals `top`.
    """

    position: int
    """The query position (0-based) whose next token is predicted."""
    top: tuple[Guess, ...]
    """The k most likely next tokens after the last layer, most likely first."""
    actual: Guess | None
    """The token that does come next in the sequence (its probability and rank), None at the last position."""
    lens: tuple[tuple[Guess, ...], ...] | None = None
    """(L + 1) rows of k guesses, from the embeddings to the last layer; None unless asked for."""
    lens_top: tuple[float, ...] | None = None
    """After each layer (L + 1 values), the probability of the final top token (`top[0]`)."""

    def rows(self) -> list[dict[str, Any]]:
        """The lens as plain data: [{"layer", "tokens", "probabilities"}], layer 0 = the embeddings."""
        if self.lens is None:
            return []
        return [{"layer": layer, "tokens": [g.token for g in guesses],
                 "token_ids": [g.token_id for g in guesses], "probabilities": [g.probability for g in guesses]}
                for layer, guesses in enumerate(self.lens)]


class Tokens(NamedTuple):
    """A prompt as the model's tokenizer splits it (a tuple: `ids, tokens, special, offsets`)."""

    ids: tuple[int, ...]
    tokens: tuple[str, ...]
    special: tuple[bool, ...]
    offsets: tuple[tuple[int, int] | None, ...]


@dataclass(frozen=True, eq=False)
class Trace:
    """Everything one forward pass keeps (see ModelResult for shapes); `residuals` only when asked for."""

    embeddings: torch.Tensor
    attentions: torch.Tensor
    queries: torch.Tensor
    keys: torch.Tensor
    values: torch.Tensor
    value_norms: torch.Tensor
    residuals: torch.Tensor | None = None
    """(L + 1, T, hidden): the residual stream entering layer 0, then after each layer (before any final
    norm). `Model.logits(residuals[-1])` gives the next-token logits; earlier rows give the logit lens."""
