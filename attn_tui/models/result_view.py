"""A real model's result as every view reads it (attn_tui.result.Result), derived from its stored tensors.

`ModelResult` keeps what the forward pass produced (per-head queries, keys, values and weights of
every layer); the stages it does not store (scores, scaled, context) are one head's small product,
made when a view asks for that head. Standard library at import; torch comes with the tensors.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

    import numpy as np
    import torch

_ALWAYS = frozenset(("query", "key", "scores", "scaled", "weights"))
_WITH_VALUES = _ALWAYS | {"value", "context"}


class ModelResultView:
    """Mixin for `ModelResult`: the `Result` interface over its fields (model, tokens, attentions, ...)."""

    # Fields of the dataclass this mixes into (declared for the type checker).
    model: str
    prompt: str
    tokens: tuple[str, ...]
    token_ids: tuple[int, ...]
    special: tuple[bool, ...]
    causal: bool
    attentions: torch.Tensor
    queries: torch.Tensor
    keys: torch.Tensor
    scale: float

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
    def n_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def n_layers(self) -> int:
        return int(self.attentions.shape[0])

    @property
    def n_heads(self) -> int:
        return int(self.attentions.shape[1])

    @property
    def n_kv_heads(self) -> int:
        return int(getattr(self, "kv_heads", 0) or self.n_heads)

    @property
    def temperature(self) -> float:
        return 1.0

    @property
    def divisor(self) -> float:
        return 1.0 / self.scale

    @property
    def _values(self) -> torch.Tensor | None:
        return getattr(self, "values", None)

    @property
    def stages(self) -> frozenset[str]:
        return _WITH_VALUES if self._values is not None else _ALWAYS

    def stage_width(self, stage: str) -> int:
        if stage in ("value", "context") and self._values is not None:
            return int(self._values.shape[-1])
        return int(self.queries.shape[-1])

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
        values = self._values
        if stage == "value":
            assert values is not None
            return values[layer, head]  # (T, d)
        if stage == "context":
            assert values is not None
            return self.attentions[layer, head] @ values[layer, head]  # (T, d)
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
        return f"attn-{self.model}"

    def json_items(self) -> Iterator[tuple[str, Any]]:
        """The `attn-tui --json --model …` object: model, tokens, token_ids, attentions [layers][heads][T][T]."""
        yield "model", self.model
        yield "tokens", list(self.tokens)
        yield "token_ids", list(self.token_ids)
        yield "attentions", self.attentions

    def npz_arrays(self) -> dict[str, np.ndarray]:
        """model, tokens, token_ids, attentions (layers, heads, T, T), and the tensors they came from."""
        import numpy as np

        arrays: dict[str, np.ndarray] = {
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
        return arrays

    def summary(self) -> str:
        return (f"T={self.n_tokens} tokens · {self.n_layers} layers × {self.n_heads} heads · "
                f"{'causal' if self.causal else 'bidirectional'}")
