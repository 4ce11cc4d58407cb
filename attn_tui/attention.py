"""The self-attention pipeline of the seed notebook, in plain torch, with every intermediate kept.

No textual, no rich: this module is the backend, testable without a screen.

    words ─► vocab ─► token_ids ─► E = table[ids] ─► Q, K, V ─► scores ─► scaled ─► weights ─► context
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

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

    @property
    def prompt(self) -> str:
        return self.config.prompt

    @property
    def n_tokens(self) -> int:
        return len(self.words)

    @property
    def head_dim_k(self) -> int:
        return self.config.d_k // self.config.heads

    @property
    def head_dim_v(self) -> int:
        return self.config.d_v // self.config.heads

    @property
    def scale(self) -> float:
        """The divisor of the scores: √(d_k/heads) · temperature."""
        return math.sqrt(self.head_dim_k) * self.config.temperature


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
