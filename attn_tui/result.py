"""The one interface every source's result offers: what the panes, the inspector, export and `--json` read.

The toy pipeline's `AttentionResult` and a real model's `ModelResult` both satisfy `Result`, so no
view ever asks which kind of source made what it shows (TransformerLens gives every architecture one
`run_with_cache` surface in the same way). A `Protocol`, so the frozen dataclasses satisfy it with
their own fields. Standard library only at import: torch arrives with the results themselves.

Layers and heads are 0-based here; the screen and every file number them from 1.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np
    import torch


class Result(Protocol):
    """One prompt through one source, frozen: tokens, embeddings and every stage of every head."""

    @property
    def source(self) -> str:
        """The source's name: `toy`, `minilm`, `smollm2`, or a checkpoint's path."""

    @property
    def prompt(self) -> str:
        """The text as given."""

    @property
    def tokens(self) -> tuple[str, ...]:
        """Readable token labels in order (the toy's words)."""

    @property
    def token_ids(self) -> tuple[int, ...]:
        """Each token's id in the source's vocabulary."""

    @property
    def special(self) -> tuple[bool, ...]:
        """True for tokens the view may hide as attention sinks ([CLS], [SEP], a decoder's first token)."""

    @property
    def generated(self) -> tuple[bool, ...]:
        """True for the tokens a model generated after the prompt (a `Generation`); all False otherwise."""

    @property
    def vocab(self) -> Mapping[str, int]:
        """The vocabulary rows shown: token → id, in id order."""

    @property
    def vocab_gaps(self) -> bool:
        """Whether the ids the vocabulary skips are worth labelling (the notebook's seed rule skips some)."""

    @property
    def n_tokens(self) -> int: ...

    @property
    def n_layers(self) -> int: ...

    @property
    def n_heads(self) -> int:
        """Query heads per layer."""

    @property
    def n_kv_heads(self) -> int:
        """Key/value heads per layer (fewer than the query heads with grouped-query attention)."""

    @property
    def causal(self) -> bool:
        """Keys after the query are masked."""

    @property
    def temperature(self) -> float:
        """τ: divides the scaled scores (1 for real models)."""

    @property
    def divisor(self) -> float:
        """What the scores are divided by: √d_head · τ."""

    @property
    def stages(self) -> frozenset[str]:
        """The names of the stages (attn_tui.stages.STAGES) this result holds."""

    def stage_width(self, stage: str) -> int:
        """Width of one head's slice of a per-token stage (`query`, `key`, `value`, `context`)."""

    @property
    def embeddings(self) -> torch.Tensor:
        """(T, d): what layer 0 reads."""

    def stage_tensor(self, stage: str, layer: int, head: int) -> torch.Tensor:
        """The 2-D values of `stage` for one head of one layer (the whole matrix for stages that are not
        per head): (T, T) for scores, scaled and weights, (T, d_head) for query, key, value, context."""

    def all_weights(self) -> torch.Tensor:
        """(L, H, T, T) attention weights of every layer and head."""

    @property
    def file_prefix(self) -> str:
        """How exported file names start: `attn` for the toy, `attn-minilm` for a model."""

    def json_items(self) -> Iterator[tuple[str, Any]]:
        """The `attn-tui --json` object of this result, key by key; tensors are streamed by the writer."""

    def npz_arrays(self) -> dict[str, np.ndarray | Chunks]:
        """Every array an `.npz` export holds, by name (no pickled objects); a big derived one as `Chunks`."""

    def summary(self) -> str:
        """One line for the status bar: the shape of what is shown."""


@dataclass(frozen=True)
class Chunks:
    """An array of `shape` (float32) written to `.npz` a slice at a time: `parts()` yields its leading-axis
    slices in order (each head's or layer's T × T), so an export never holds the whole array (issue 12, 16)."""

    shape: tuple[int, ...]
    parts: Callable[[], Iterator[Any]]
