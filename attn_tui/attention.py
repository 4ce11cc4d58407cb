"""The self-attention pipeline of the seed notebook, in plain torch, with every intermediate kept.

No textual, no rich: this module is the backend, testable without a screen.

    words ─► vocab ─► token_ids ─► E = table[ids] ─► Q, K, V ─► scores ─► scaled ─► weights ─► context
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch
import torch.nn.functional as F

from attn_tui.config import (
    DEFAULTS,
    FIELD_NAMES,
    MAX_ATTENTION_CELLS,
    MAX_DIM,
    MAX_HEADS,
    MAX_PROMPT_CHARS,
    MAX_SEED,
    MAX_TABLE_CELLS,
    MAX_TEMPERATURE,
    MAX_VOCAB_SIZE,
    MAX_WORDS,
    MIN_SEED,
    MIN_TEMPERATURE,
    NOTEBOOK_PROMPT,
    VOCAB_MODES,
    AttentionConfig,
    ConfigError,
    build_vocab,
    field_problems,
    parse_field,
    split_words,
    tokenize,
    validate,
)
from attn_tui.result import Chunks
from attn_tui.stages import PIPELINE, STAGES

__all__ = [
    "DEFAULTS",
    "FIELD_NAMES",
    "MAX_ATTENTION_CELLS",
    "MAX_DIM",
    "MAX_HEADS",
    "MAX_PROMPT_CHARS",
    "MAX_SEED",
    "MAX_TABLE_CELLS",
    "MAX_TEMPERATURE",
    "MAX_VOCAB_SIZE",
    "MAX_WORDS",
    "MIN_SEED",
    "MIN_TEMPERATURE",
    "NOTEBOOK_PROMPT",
    "VOCAB_MODES",
    "AttentionConfig",
    "AttentionResult",
    "ConfigError",
    "RandomTables",
    "build_vocab",
    "compute",
    "field_problems",
    "parse_field",
    "random_tables",
    "split_words",
    "tokenize",
    "validate",
]


@dataclass(frozen=True)
class RandomTables:
    """The random tensors of one (seed, vocab_size, d_model, d_k, d_v), drawn in the notebook's order."""

    table: torch.Tensor
    """(vocab_size, d_model) embedding table, standard normal as nn.Embedding initialises it."""
    w_query: torch.Tensor
    """(d_model, d_k), uniform [0, 1)."""
    w_key: torch.Tensor
    """(d_model, d_k), uniform [0, 1)."""
    w_value: torch.Tensor
    """(d_model, d_v), uniform [0, 1)."""


@dataclass(frozen=True, eq=False)
class AttentionResult:
    """One computation, frozen: the config and every intermediate as detached CPU tensors."""

    config: AttentionConfig
    words: tuple[str, ...]
    """The prompt split on whitespace, in order (T words)."""
    vocab: Mapping[str, int]
    """Lower-cased word → id, in id order."""
    token_ids: tuple[int, ...]
    """The id of each word, in prompt order."""
    embeddings: torch.Tensor
    """E, (T, d_model)."""
    w_query: torch.Tensor
    """(d_model, d_k)."""
    w_key: torch.Tensor
    """(d_model, d_k)."""
    w_value: torch.Tensor
    """(d_model, d_v)."""
    query: torch.Tensor
    """Q = E W_query, (T, d_k)."""
    key: torch.Tensor
    """K = E W_key, (T, d_k)."""
    value: torch.Tensor
    """V = E W_value, (T, d_v)."""
    scores: torch.Tensor
    """Q_h K_hᵀ per head, (heads, T, T)."""
    scaled: torch.Tensor
    """scores / (√(d_k/heads) · temperature), −∞ where masked, (heads, T, T)."""
    weights: torch.Tensor
    """softmax(scaled) over keys, (heads, T, T); rows sum to 1, masked entries are 0."""
    context: torch.Tensor
    """weights_h V_h per head, side by side, (T, d_v)."""

    # -- attn_tui.result.Result: what every view reads --------------------------------------------

    source = "toy"
    vocab_gaps = True
    """The notebook's seed rule skips ids: the vocab map labels the gaps."""
    n_layers = 1

    @property
    def prompt(self) -> str:
        return self.config.prompt

    @property
    def tokens(self) -> tuple[str, ...]:
        return self.words

    @property
    def special(self) -> tuple[bool, ...]:
        return (False,) * len(self.words)

    @property
    def generated(self) -> tuple[bool, ...]:
        """No token of the toy is generated: it has no language-model head."""
        return (False,) * len(self.words)

    @property
    def n_tokens(self) -> int:
        return len(self.words)

    @property
    def n_heads(self) -> int:
        return self.config.heads

    @property
    def n_kv_heads(self) -> int:
        return self.config.heads

    @property
    def causal(self) -> bool:
        return self.config.causal

    @property
    def temperature(self) -> float:
        return self.config.temperature

    @property
    def stages(self) -> frozenset[str]:
        return _TOY_STAGES

    @property
    def head_dim_k(self) -> int:
        return self.config.d_k // self.config.heads

    @property
    def head_dim_v(self) -> int:
        return self.config.d_v // self.config.heads

    def stage_width(self, stage: str) -> int:
        return self.head_dim_v if stage in ("value", "context") else self.head_dim_k

    @property
    def scale(self) -> float:
        """The divisor of the scores: √(d_k/heads) · temperature."""
        return math.sqrt(self.head_dim_k) * self.config.temperature

    @property
    def divisor(self) -> float:
        return self.scale

    def stage_tensor(self, stage: str, layer: int, head: int) -> torch.Tensor:
        """One head's slice of Q, K, V and context, one head of the T × T stages, the W matrices whole."""
        if stage not in _TOY_STAGES:
            raise KeyError(f"the toy pipeline has no stage {stage!r}")
        if stage == "value_weighted":
            from attn_tui.analysis import value_norms, value_weighted

            v = self.stage_tensor("value", layer, head)  # (T, d_v/heads): the toy has no W_O, so f_h(x_j) = v_j^h
            return value_weighted(self.weights[head][None, None], value_norms(v[None, None]))[0, 0]  # (T, T)
        if stage == "rollout":
            from attn_tui.analysis import rollout

            return rollout(self.all_weights())[0]  # (T, T): one layer, Ā_1 = ½ · mean_h A + ½ · I
        tensor = getattr(self, stage)
        if stage in ("scores", "scaled", "weights"):
            return tensor[head]  # (T, T)
        if stage in ("query", "key", "value", "context"):
            width = self.stage_width(stage)
            return tensor[:, head * width:(head + 1) * width]  # (T, d_head)
        return tensor  # (d_model, d_k or d_v)

    def all_weights(self) -> torch.Tensor:
        return self.weights.unsqueeze(0)  # (1, H, T, T)

    @property
    def file_prefix(self) -> str:
        return "attn"

    def json_items(self) -> Iterator[tuple[str, Any]]:
        """The `--json` object: prompt, config, words, vocab, token_ids, then every matrix (tensors)."""
        yield "prompt", self.config.prompt
        yield "config", dataclasses.asdict(self.config)
        yield "words", list(self.words)
        yield "vocab", dict(self.vocab)
        yield "token_ids", list(self.token_ids)
        for name in MATRICES:
            yield name, getattr(self, name)

    def npz_arrays(self) -> dict[str, Any]:
        """The `.npz` export: the JSON's matrices by the JSON's names, and the text as unicode arrays.

        Masked entries of `scaled` stay −∞ (NumPy keeps them; JSON cannot). Strings are unicode
        arrays, so `numpy.load` needs no pickle.
        """
        import json

        import numpy as np

        arrays: dict[str, Any] = {
            "prompt": np.array(self.config.prompt, dtype=np.str_),
            "config": np.array(json.dumps(dataclasses.asdict(self.config), ensure_ascii=False)),
            "words": np.array(list(self.words), dtype=np.str_),
            "token_ids": np.asarray(self.token_ids, dtype=np.int64),
            "vocab_words": np.array(list(self.vocab.keys()), dtype=np.str_),
            "vocab_ids": np.asarray(list(self.vocab.values()), dtype=np.int64),
        }
        for name in MATRICES:
            arrays[name] = getattr(self, name).numpy()  # views: the result is frozen
        arrays.update(derived_arrays(self))
        return arrays

    def summary(self) -> str:
        c = self.config
        return (f"T={self.n_tokens} · d_model {c.d_model} · d_k {c.d_k} · d_v {c.d_v} · "
                f"heads {c.heads}{' · causal' if c.causal else ''}")


_TOY_STAGES = frozenset(stage.name for stage in STAGES)
"""The toy holds every stage of the registry."""
MATRICES = ("embeddings", *PIPELINE)
"""The result's tensors in pipeline order, as named in `--json` and `.npz` (the derived stages have flags)."""


def derived_arrays(result: Any) -> dict[str, Chunks]:
    """The derived stages of every layer and head for `.npz`, named as `--json --value-weighted --rollout` names
    them: value_weighted (L, H, T, T) and rollout (L, T, T), each head's and layer's `stage_tensor`, computed
    one T × T slice at a time as the export writes them."""
    layers, heads, t = result.n_layers, result.n_heads, result.n_tokens

    def value_weighted() -> Iterator[Any]:
        for layer in range(layers):
            for head in range(heads):
                yield result.stage_tensor("value_weighted", layer, head).numpy()

    def rollout() -> Iterator[Any]:
        for layer in range(layers):
            yield result.stage_tensor("rollout", layer, 0).numpy()

    return {"value_weighted": Chunks((layers, heads, t, t), value_weighted), "rollout": Chunks((layers, t, t), rollout)}


@lru_cache(maxsize=2)
def random_tables(seed: int, vocab_size: int, d_model: int, d_k: int, d_v: int) -> RandomTables:
    """Draw the random tensors from one private generator, never touching torch's global state.

    The order is the notebook's: torch.manual_seed(seed); nn.Embedding(vocab_size, d_model);
    torch.rand for W_query, W_key, W_value. Cached, so a prompt edit costs only the products.
    """
    gen = torch.Generator().manual_seed(seed)
    table = torch.empty(vocab_size, d_model).normal_(generator=gen)  # (vocab_size, d_model)
    w_query = torch.rand(d_model, d_k, generator=gen)  # (d_model, d_k)
    w_key = torch.rand(d_model, d_k, generator=gen)  # (d_model, d_k)
    w_value = torch.rand(d_model, d_v, generator=gen)  # (d_model, d_v)
    return RandomTables(table, w_query, w_key, w_value)


@torch.inference_mode()
def compute(config: AttentionConfig = DEFAULTS) -> AttentionResult:
    """Run the whole pipeline for `config`; raises ConfigError (naming the field) before allocating."""
    validate(config)
    c = config
    words, vocab, token_ids = tokenize(c.prompt, c.vocab_mode)
    tables = random_tables(c.seed, c.vocab_size, c.d_model, c.d_k, c.d_v)

    T, H = len(words), c.heads
    hk, hv = c.d_k // H, c.d_v // H
    ids = torch.tensor(token_ids, dtype=torch.long)  # (T,)
    e = tables.table[ids]  # (T, d_model)
    q = e @ tables.w_query  # (T, d_k)
    k = e @ tables.w_key  # (T, d_k)
    v = e @ tables.w_value  # (T, d_v)

    qh = q.view(T, H, hk).transpose(0, 1)  # (H, T, hk)
    kh = k.view(T, H, hk).transpose(0, 1)  # (H, T, hk)
    vh = v.view(T, H, hv).transpose(0, 1)  # (H, T, hv)
    scores = qh @ kh.transpose(-2, -1)  # (H, T, T)
    scale = math.sqrt(hk) * c.temperature
    scaled = scores / scale  # (H, T, T)
    if c.causal:
        mask = torch.ones(T, T, dtype=torch.bool).triu_(1)  # (T, T), True above the diagonal
        scaled = scaled.masked_fill(mask, float("-inf"))
    att = F.softmax(scaled, dim=-1)  # (H, T, T)
    context = (att @ vh).transpose(0, 1).reshape(T, c.d_v)  # (T, d_v)

    return AttentionResult(
        config=c,
        words=words,
        vocab=vocab,
        token_ids=token_ids,
        embeddings=e,
        w_query=tables.w_query,
        w_key=tables.w_key,
        w_value=tables.w_value,
        query=q,
        key=k,
        value=v,
        scores=scores,
        scaled=scaled,
        weights=att,
        context=context,
    )
