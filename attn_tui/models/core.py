"""What every architecture shares: the sizes read from a config, the attention step, the result's tensors.

Each architecture module (bert.py, distilbert.py, gpt2.py, llama.py) declares the tensors a config
implies (`plan`) and writes its forward pass with `Transformer.attend`, which computes one layer's
softmax(q·kᵀ·scale) and files its weights, queries, keys, values and value norms into the trace.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import torch
import torch.nn.functional as F

from attn_tui.models.base import CheckpointError
from attn_tui.models.checkpoint import TensorMeta, Want
from attn_tui.models.model import Model
from attn_tui.models.result import ModelFacts, Trace
from attn_tui.models.tokenizer import TextTokenizer


@dataclass(frozen=True)
class Dims:
    """The sizes a config declares (checked against the tensors before anything is read)."""

    n_layers: int
    n_heads: int
    n_kv_heads: int
    head_dim: int
    hidden: int
    ffn: int
    vocab: int
    eps: float
    act: str


@dataclass(frozen=True)
class Plan:
    """What a checkpoint needs: its sizes, the tensors to read (slot → Want), and its context."""

    dims: Dims
    wants: dict[str, Want]
    context: int
    """Longest sequence the model itself takes (its positions or trained context)."""
    context_reason: str
    can_generate: bool
    extra: dict[str, Any] = field(default_factory=dict)
    """Architecture-specific settings (rope, padding index, sliding window…)."""


# ── reading a config ─────────────────────────────────────────────────────────────────────────────


def get_int(config: dict[str, Any], where: str, *keys: str, default: int | None = None, minimum: int = 1) -> int:
    """The first of `keys` in the config, as a whole number ≥ minimum, or a CheckpointError naming it."""
    for key in keys:
        if key in config and config[key] is not None:
            value = config[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise CheckpointError(f"{where}: {key} is {value!r}; expected a whole number ≥ {minimum}")
            return value
    if default is not None:
        return default
    raise CheckpointError(f"{where}: the config has no {keys[0]}")


def get_float(config: dict[str, Any], where: str, key: str, default: float) -> float:
    value = config.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise CheckpointError(f"{where}: {key} is {value!r}; expected a non-negative number")
    return float(value)


def find_prefix(tensors: dict[str, TensorMeta], anchor: str, where: str) -> str:
    """The prefix the weights are saved under ("", "model.", "bert."…), found from one tensor they must have."""
    found = sorted((name[: -len(anchor)] for name in tensors if name.endswith(anchor)
                    and (name == anchor or name[: -len(anchor)].endswith("."))), key=len)
    if not found:
        raise CheckpointError(f"{where}: the weights have no tensor named …{anchor}; are they this architecture's?")
    return found[0]


def _gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "gelu": F.gelu,
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "gelu_fast": _gelu_tanh,
    "relu": F.relu,
    "silu": F.silu,
    "swish": F.silu,
}
"""Hugging Face activation names → torch (transformers' ACT2FN for these names)."""


def activation(name: Any, where: str) -> str:
    if name not in ACTIVATIONS:
        raise CheckpointError(f"{where}: activation {name!r} is not supported ({', '.join(ACTIVATIONS)})")
    return str(name)


# ── the shared forward-pass machinery ────────────────────────────────────────────────────────────


class Transformer(Model):
    """A Model whose forward pass is a stack of attention layers; subclasses write the layers."""

    architecture: ClassVar[str]
    causal: ClassVar[bool]

    def __init__(self, facts: ModelFacts, tokenizer: TextTokenizer, plan: Plan, weights: dict[str, torch.Tensor]):
        super().__init__(facts, tokenizer)
        self.dims = plan.dims
        self.extra = plan.extra
        """The architecture's own settings from its plan (rope frequencies, padding index, windows…)."""
        self.device = torch.device(facts.device)
        self.scale = self.dims.head_dim**-0.5
        self.act = ACTIVATIONS[self.dims.act]
        self.w = {k: v for k, v in weights.items() if not k.startswith("layers.")}
        self.layers: list[dict[str, torch.Tensor]] = [{} for _ in range(self.dims.n_layers)]
        for key, value in weights.items():
            if key.startswith("layers."):
                _, index, slot = key.split(".", 2)
                self.layers[int(index)][slot] = value
        # ‖v W_O^h‖² = vᵀ (W_O^hᵀ W_O^h) v: a (d × d) Gram matrix per head makes every value norm cost
        # d² instead of d · hidden.
        H, d = self.dims.n_heads, self.dims.head_dim
        for layer in self.layers:
            wo_heads = layer["wo"].view(-1, H, d).permute(1, 0, 2)  # (H, hidden, d)
            layer["gram"] = wo_heads.transpose(1, 2) @ wo_heads  # (H, d, d)

    @classmethod
    def plan(cls, config: dict[str, Any], tensors: dict[str, TensorMeta], where: str) -> Plan:
        raise NotImplementedError

    def new_trace(self, T: int, embeddings: torch.Tensor, residuals: bool) -> Trace:
        """Empty result tensors, filled layer by layer (no list of layers stacked at the end: one copy only)."""
        L, H, d = self.dims.n_layers, self.dims.n_heads, self.dims.head_dim
        return Trace(
            embeddings=embeddings.detach().to("cpu", copy=True),  # (T, hidden)
            attentions=torch.empty(L, H, T, T),
            queries=torch.empty(L, H, T, d),
            keys=torch.empty(L, H, T, d),
            values=torch.empty(L, H, T, d),
            value_norms=torch.empty(L, H, T),
            residuals=torch.empty(L + 1, T, self.dims.hidden) if residuals else None,
        )

    def empty_trace(self, T: int, residuals: bool) -> Trace:
        """Result tensors for T positions filled a few rows at a time (generation): attention starts at 0, so
        the cells a causal row never writes (keys after its query) are the zeros a full pass gives them."""
        L, H, d = self.dims.n_layers, self.dims.n_heads, self.dims.head_dim
        return Trace(
            embeddings=torch.zeros(T, self.dims.hidden),
            attentions=torch.zeros(L, H, T, T),
            queries=torch.zeros(L, H, T, d),
            keys=torch.zeros(L, H, T, d),
            values=torch.zeros(L, H, T, d),
            value_norms=torch.zeros(L, H, T),
            residuals=torch.zeros(L + 1, T, self.dims.hidden) if residuals else None,
        )

    def new_cache(self, capacity: int) -> KVCache:
        """An empty key/value cache for up to `capacity` positions, on the compute device."""
        L, Hkv, d = self.dims.n_layers, self.dims.n_kv_heads, self.dims.head_dim
        return KVCache([torch.zeros(Hkv, capacity, d, device=self.device) for _ in range(L)],
                       [torch.zeros(Hkv, capacity, d, device=self.device) for _ in range(L)])

    def attend(self, trace: Trace, n: int, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor,
               mask: torch.Tensor | None, context: bool = True, *, start: int = 0,
               cache: KVCache | None = None) -> torch.Tensor | None:
        """Layer n's attention: q (H, T, d), k and v (Hkv, T, d) → the heads' context (T, H·d), filed in `trace`.

        The T positions are start … start + T − 1 of the sequence. With a `cache`, their keys and values
        are stored in it and the queries attend to every cached position before them too (`mask` is
        then (T, start + T)); rows start … start + T − 1 of the trace are written. Without one, start
        is 0 and `mask` (T, T). `mask` is True where a key is hidden from a query. With
        `context=False` (the last layer, when nothing reads its output) the weighted sum of the
        values is skipped.
        """
        H, Hkv = q.shape[0], k.shape[0]
        T = q.shape[1]
        end = start + T
        if cache is not None:
            cache.keys[n][:, start:end].copy_(k)
            cache.values[n][:, start:end].copy_(v)
            if start:  # a step: the new queries read every cached key (a prefill reads its own, as a full pass)
                k, v = cache.keys[n][:, :end], cache.values[n][:, :end]  # (Hkv, end, d) each
        elif start:
            raise ValueError("attend: positions after 0 need the cache of the earlier ones")
        if Hkv != H:
            k = k.repeat_interleave(H // Hkv, dim=0)  # (H, end, d): query head h reads kv head h // group
            v = v.repeat_interleave(H // Hkv, dim=0)  # (H, end, d)
        scores = torch.matmul(q, k.transpose(-2, -1)).mul_(self.scale)  # (H, T, end)
        if mask is not None:
            scores.masked_fill_(mask, float("-inf"))
        att = torch.softmax(scores, dim=-1)  # (H, T, end)
        new_v = v[:, start:end]  # (H, T, d): the values of the positions run now
        if start == 0 and end == trace.attentions.shape[-1]:
            trace.attentions[n].copy_(att)
            trace.queries[n].copy_(q)
            trace.keys[n].copy_(k)
            trace.values[n].copy_(v)
        else:
            trace.attentions[n, :, start:end, :end].copy_(att)
            trace.queries[n, :, start:end].copy_(q)
            trace.keys[n, :, start:end].copy_(k[:, start:end])
            trace.values[n, :, start:end].copy_(new_v)
        gram = self.layers[n]["gram"]  # (H, d, d)
        squared = torch.einsum("htd,hde,hte->ht", new_v, gram, new_v)  # (H, T)
        trace.value_norms[n, :, start:end].copy_(squared.clamp_min_(0).sqrt_())
        if not context:
            return None
        return torch.matmul(att, v).transpose(0, 1).reshape(T, -1)  # (T, H·d)

    def forward(self, ids: torch.Tensor, residuals: bool = False) -> Trace:
        raise NotImplementedError


def causal_mask(T: int, device: torch.device, window: int | None = None, start: int = 0) -> torch.Tensor:
    """(T, start + T) True where key j is hidden from query i (at position start + i): j > start + i, and with
    a sliding window also j ≤ start + i − window. start = 0 is the square mask of a full pass."""
    i = torch.arange(start, start + T, device=device)  # (T,) the queries' positions
    j = torch.arange(start + T, device=device)  # (start + T,) every key's position
    hidden = j[None, :] > i[:, None]  # (T, start + T)
    if window is not None and window < start + T:
        hidden |= j[None, :] <= i[:, None] - window
    return hidden


@dataclass
class KVCache:
    """The keys and values of the positions already run, per layer, for a pass over the next ones.

    Each layer's tensors are (Hkv, capacity, d) on the compute device: key/value heads, not repeated per
    query head. A pass over positions start … end − 1 writes theirs and reads 0 … end − 1.
    """

    keys: list[torch.Tensor]
    values: list[torch.Tensor]
