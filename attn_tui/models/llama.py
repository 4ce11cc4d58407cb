"""Llama, Mistral and Qwen2 decoders (SmolLM2 is a Llama): pre-RMSNorm, RoPE, grouped-query attention, SwiGLU.

Follows transformers' LlamaModel / MistralModel / Qwen2Model with eager attention: rotary position
embeddings in the half-split layout (rope_type "default" or "llama3"), key/value heads shared by
groups of query heads, a causal mask (Mistral, and Qwen2 layers marked so, with a sliding window),
optional q/k/v biases (always on for Qwen2), a final RMSNorm and an LM head, tied or not.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F

from attn_tui.models.base import CheckpointError
from attn_tui.models.checkpoint import TensorMeta, Want
from attn_tui.models.core import (
    Dims,
    KVCache,
    Plan,
    Transformer,
    activation,
    causal_mask,
    find_prefix,
    get_float,
    get_int,
)
from attn_tui.models.result import Trace


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) → (−x2, x1) on the two halves of the last dimension, as transformers' Llama does."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def rope_frequencies(rope: dict[str, Any], head_dim: int, where: str) -> torch.Tensor:
    """(head_dim/2,) inverse frequencies, as transformers' ROPE_INIT_FUNCTIONS for "default" and "llama3"."""
    base = rope.get("rope_theta", 10000.0)
    if isinstance(base, bool) or not isinstance(base, int | float) or not math.isfinite(base) or base <= 1:
        raise CheckpointError(f"{where}: rope_theta is {base!r}; expected a number above 1")
    base = float(base)
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))  # (d/2,)
    kind = rope.get("rope_type", rope.get("type", "default")) or "default"
    if kind == "default":
        return inv_freq
    if kind == "llama3":
        try:
            factor = float(rope["factor"])
            low, high = float(rope["low_freq_factor"]), float(rope["high_freq_factor"])
            old = float(rope["original_max_position_embeddings"])
        except (KeyError, TypeError, ValueError):
            raise CheckpointError(f"{where}: llama3 rope scaling lacks factor, low_freq_factor, high_freq_factor "
                                  "or original_max_position_embeddings") from None
        low_wavelen, high_wavelen = old / low, old / high
        wavelen = 2 * math.pi / inv_freq
        scaled = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
        smooth = (old / wavelen - low) / (high - low)
        smoothed = (1 - smooth) * scaled / factor + smooth * scaled
        medium = ~(wavelen < high_wavelen) * ~(wavelen > low_wavelen)
        return torch.where(medium, smoothed, scaled)
    raise CheckpointError(f"{where}: rope_type {kind!r} is not supported (default and llama3 are)")


def _rope_config(config: dict[str, Any]) -> dict[str, Any]:
    """transformers 5's rope_parameters, or the older rope_theta + rope_scaling, as one dict."""
    rope = config.get("rope_parameters")
    if isinstance(rope, dict) and "full_attention" in rope and isinstance(rope["full_attention"], dict):
        rope = rope["full_attention"]
    if not isinstance(rope, dict):
        rope = dict(config.get("rope_scaling") or {})
        rope.setdefault("rope_theta", config.get("rope_theta", 10000.0))
    return rope


class Llama(Transformer):
    """A Llama-family decoder; Mistral and Qwen2 differ only in the options `plan` reads."""

    architecture = "llama"
    causal = True
    qkv_bias_always = False

    @classmethod
    def plan(cls, config: dict[str, Any], tensors: dict[str, TensorMeta], where: str) -> Plan:
        hidden = get_int(config, where, "hidden_size")
        heads = get_int(config, where, "num_attention_heads")
        kv_heads = get_int(config, where, "num_key_value_heads", default=heads)
        if heads % kv_heads:
            raise CheckpointError(f"{where}: num_attention_heads {heads} is not a multiple of "
                                  f"num_key_value_heads {kv_heads}")
        head_dim = get_int(config, where, "head_dim", default=hidden // heads)
        if head_dim % 2 or (config.get("head_dim") is None and hidden % heads):
            raise CheckpointError(f"{where}: head size {head_dim} does not suit rotary embeddings")
        n_layers = get_int(config, where, "num_hidden_layers")
        dims = Dims(
            n_layers=n_layers,
            n_heads=heads,
            n_kv_heads=kv_heads,
            head_dim=head_dim,
            hidden=hidden,
            ffn=get_int(config, where, "intermediate_size"),
            vocab=get_int(config, where, "vocab_size"),
            eps=get_float(config, where, "rms_norm_eps", 1e-6),
            act=activation(config.get("hidden_act", "silu"), where),
        )
        rope = _rope_config(config)
        inv_freq = rope_frequencies(rope, head_dim, where)
        if float(rope.get("partial_rotary_factor", 1.0)) != 1.0:
            raise CheckpointError(f"{where}: partial rotary embeddings are not supported")
        context = get_int(config, where, "max_position_embeddings", default=2048)
        p = find_prefix(tensors, "embed_tokens.weight", where)
        D, ffn, qd, kvd = hidden, dims.ffn, heads * head_dim, kv_heads * head_dim
        qkv_bias = cls.qkv_bias_always or bool(config.get("attention_bias"))
        o_bias = bool(config.get("attention_bias")) and not cls.qkv_bias_always
        mlp_bias = bool(config.get("mlp_bias"))
        wants = {"embed": Want(p + "embed_tokens.weight", (dims.vocab, D)), "norm": Want(p + "norm.weight", (D,))}
        for i in range(n_layers):
            q = f"{p}layers.{i}."
            s = f"layers.{i}."
            wants |= {
                s + "attn_norm": Want(q + "input_layernorm.weight", (D,)),
                s + "wq": Want(q + "self_attn.q_proj.weight", (qd, D)),
                s + "wk": Want(q + "self_attn.k_proj.weight", (kvd, D)),
                s + "wv": Want(q + "self_attn.v_proj.weight", (kvd, D)),
                s + "wo": Want(q + "self_attn.o_proj.weight", (D, qd)),
                s + "ffn_norm": Want(q + "post_attention_layernorm.weight", (D,)),
                s + "gate": Want(q + "mlp.gate_proj.weight", (ffn, D)),
                s + "up": Want(q + "mlp.up_proj.weight", (ffn, D)),
                s + "down": Want(q + "mlp.down_proj.weight", (D, ffn)),
            }
            if qkv_bias:
                wants |= {s + "bq": Want(q + "self_attn.q_proj.bias", (qd,)),
                          s + "bk": Want(q + "self_attn.k_proj.bias", (kvd,)),
                          s + "bv": Want(q + "self_attn.v_proj.bias", (kvd,))}
            if o_bias:
                wants[s + "bo"] = Want(q + "self_attn.o_proj.bias", (D,))
            if mlp_bias:
                wants |= {s + "bgate": Want(q + "mlp.gate_proj.bias", (ffn,)),
                          s + "bup": Want(q + "mlp.up_proj.bias", (ffn,)),
                          s + "bdown": Want(q + "mlp.down_proj.bias", (D,))}
        if "rope_freqs.weight" in tensors:  # a GGUF's llama3 frequency factors (llama.cpp bakes rope scaling in)
            wants["rope_factors"] = Want("rope_freqs.weight", (head_dim // 2,))
        tied = bool(config.get("tie_word_embeddings", False))
        can_generate = True
        if "lm_head.weight" in tensors and not tied:
            wants["lm_head"] = Want("lm_head.weight", (dims.vocab, D))
        elif not tied:
            can_generate = False  # a bare LlamaModel: no head saved, none tied
        windows = cls.windows(config, n_layers, where)
        return Plan(dims, wants, context, f"its context of {context} tokens", can_generate,
                    {"inv_freq": inv_freq, "windows": windows})

    @classmethod
    def windows(cls, config: dict[str, Any], n_layers: int, where: str) -> list[int | None]:
        """Per layer, the sliding window (keys older than it hidden), or None for full causal attention."""
        return [None] * n_layers

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        inv_freq = self.extra["inv_freq"]
        if "rope_factors" in self.w:
            inv_freq = inv_freq / self.w.pop("rope_factors").cpu()
        self.inv_freq = inv_freq.to(self.device)  # (d/2,)

    def rms_norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.dims.eps))  # (T, hidden)

    def forward(self, ids: torch.Tensor, residuals: bool = False, *, trace: Trace | None = None, start: int = 0,
                cache: KVCache | None = None) -> Trace:
        """A full pass over `ids`, or (with `trace`, `start` and `cache`) the next positions of a sequence.

        With a `trace` (sized for the whole sequence, `empty_trace`) the T tokens of `ids` are positions
        start … start + T − 1: their rows are written into it, and they attend to the cached keys of the
        earlier positions. The trace's residuals, if it has them, decide whether the last layer runs whole.
        """
        ids = ids.to(self.device)
        T, H, Hkv, d = ids.shape[0], self.dims.n_heads, self.dims.n_kv_heads, self.dims.head_dim
        end = start + T
        x = self.w["embed"][ids]  # (T, hidden)
        if trace is None:
            trace = self.new_trace(T, x, residuals)
        else:
            trace.embeddings[start:end].copy_(x)
        if trace.residuals is not None:
            trace.residuals[0, start:end].copy_(x)
        positions = torch.arange(start, end, dtype=torch.float32, device=x.device)  # (T,)
        freqs = positions[:, None] * self.inv_freq[None, :]  # (T, d/2)
        angles = torch.cat((freqs, freqs), dim=-1)  # (T, d)
        cos, sin = angles.cos(), angles.sin()  # (T, d) each
        masks: dict[int | None, torch.Tensor | None] = {
            w: causal_mask(T, x.device, w, start=start) for w in set(self.extra["windows"])}  # (T, end) each
        if T == 1:  # one new token sees every key, unless a window hides the oldest
            masks = {w: m if m is not None and m.any() else None for w, m in masks.items()}
        last = self.dims.n_layers - 1
        for n, layer in enumerate(self.layers):
            h = self.rms_norm(x, layer["attn_norm"])  # (T, hidden)
            q = F.linear(h, layer["wq"], layer.get("bq")).view(T, H, d).transpose(0, 1)  # (H, T, d)
            k = F.linear(h, layer["wk"], layer.get("bk")).view(T, Hkv, d).transpose(0, 1)  # (Hkv, T, d)
            v = F.linear(h, layer["wv"], layer.get("bv")).view(T, Hkv, d).transpose(0, 1)  # (Hkv, T, d)
            q = q * cos + rotate_half(q) * sin  # (H, T, d)
            k = k * cos + rotate_half(k) * sin  # (Hkv, T, d)
            mask = masks[self.extra["windows"][n]]
            context = self.attend(trace, n, q, k, v, mask, context=trace.residuals is not None or n < last,
                                  start=start, cache=cache)
            if context is None:
                break  # the last layer's output feeds nothing we show
            x = x + F.linear(context, layer["wo"], layer.get("bo"))  # (T, hidden)
            h = self.rms_norm(x, layer["ffn_norm"])  # (T, hidden)
            gated = self.act(F.linear(h, layer["gate"], layer.get("bgate"))) * F.linear(h, layer["up"],
                                                                                       layer.get("bup"))  # (T, ffn)
            x = x + F.linear(gated, layer["down"], layer.get("bdown"))  # (T, hidden)
            if trace.residuals is not None:
                trace.residuals[n + 1, start:end].copy_(x)
        return trace

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        if not self.facts.can_generate:
            raise ValueError(f"{self.facts.title} has no language-model head (lm_head.weight) and does not tie "
                             "one to its embeddings")
        h = self.rms_norm(hidden.to(self.device), self.w["norm"])  # (…, hidden)
        return F.linear(h, self.w.get("lm_head", self.w["embed"])).cpu()  # (…, vocab)


class Mistral(Llama):
    """Mistral: Llama with a sliding attention window on every layer (when the config sets one)."""

    architecture = "mistral"

    @classmethod
    def windows(cls, config: dict[str, Any], n_layers: int, where: str) -> list[int | None]:
        window = config.get("sliding_window")
        if window is None:
            return [None] * n_layers
        return [get_int(config, where, "sliding_window")] * n_layers


class Qwen2(Llama):
    """Qwen2: Llama with q/k/v biases; layers marked "sliding_attention" use a sliding window."""

    architecture = "qwen2"
    qkv_bias_always = True

    @classmethod
    def windows(cls, config: dict[str, Any], n_layers: int, where: str) -> list[int | None]:
        # transformers' Qwen2Config drops sliding_window unless use_sliding_window is set.
        if not config.get("use_sliding_window"):
            return [None] * n_layers
        window = get_int(config, where, "sliding_window")
        types = config.get("layer_types")
        if isinstance(types, list) and len(types) == n_layers:
            return [window if t == "sliding_attention" else None for t in types]
        start = get_int(config, where, "max_window_layers", default=n_layers, minimum=0)
        return [window if i >= start else None for i in range(n_layers)]
