"""BERT and RoBERTa encoders (MiniLM is a BERT): post-LayerNorm blocks, learned absolute positions.

Follows transformers' BertModel / RobertaModel with eager attention: one sequence (token type 0),
no padding, so no attention mask. RoBERTa's positions start after its padding index
(`padding_idx + 1`, transformers' create_position_ids_from_input_ids).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from attn_tui.models.base import CheckpointError
from attn_tui.models.checkpoint import TensorMeta, Want
from attn_tui.models.core import Dims, Plan, Transformer, activation, find_prefix, get_float, get_int
from attn_tui.models.result import Trace


class Bert(Transformer):
    """A BERT encoder: word + position + token-type embeddings, LayerNorm, then post-LN layers."""

    architecture = "bert"
    causal = False
    cache_size = 8

    @classmethod
    def plan(cls, config: dict[str, Any], tensors: dict[str, TensorMeta], where: str) -> Plan:
        hidden = get_int(config, where, "hidden_size")
        heads = get_int(config, where, "num_attention_heads")
        if hidden % heads:
            raise CheckpointError(f"{where}: hidden_size {hidden} is not a multiple of num_attention_heads {heads}")
        kind = config.get("position_embedding_type", "absolute") or "absolute"
        if kind != "absolute":
            raise CheckpointError(f"{where}: position_embedding_type {kind!r} is not supported (absolute is)")
        dims = Dims(
            n_layers=get_int(config, where, "num_hidden_layers"),
            n_heads=heads,
            n_kv_heads=heads,
            head_dim=hidden // heads,
            hidden=hidden,
            ffn=get_int(config, where, "intermediate_size"),
            vocab=get_int(config, where, "vocab_size"),
            eps=get_float(config, where, "layer_norm_eps", 1e-12),
            act=activation(config.get("hidden_act", "gelu"), where),
        )
        positions = get_int(config, where, "max_position_embeddings")
        types = get_int(config, where, "type_vocab_size", default=2)
        p = find_prefix(tensors, "embeddings.word_embeddings.weight", where)
        D, ffn = dims.hidden, dims.ffn
        wants = {
            "word": Want(p + "embeddings.word_embeddings.weight", (dims.vocab, D)),
            "position": Want(p + "embeddings.position_embeddings.weight", (positions, D)),
            "token_type": Want(p + "embeddings.token_type_embeddings.weight", (types, D)),
            "emb_ln_w": Want(p + "embeddings.LayerNorm.weight", (D,)),
            "emb_ln_b": Want(p + "embeddings.LayerNorm.bias", (D,)),
        }
        for i in range(dims.n_layers):
            q = f"{p}encoder.layer.{i}."
            s = f"layers.{i}."
            wants |= {
                s + "wq": Want(q + "attention.self.query.weight", (D, D)),
                s + "bq": Want(q + "attention.self.query.bias", (D,)),
                s + "wk": Want(q + "attention.self.key.weight", (D, D)),
                s + "bk": Want(q + "attention.self.key.bias", (D,)),
                s + "wv": Want(q + "attention.self.value.weight", (D, D)),
                s + "bv": Want(q + "attention.self.value.bias", (D,)),
                s + "wo": Want(q + "attention.output.dense.weight", (D, D)),
                s + "bo": Want(q + "attention.output.dense.bias", (D,)),
                s + "ln1_w": Want(q + "attention.output.LayerNorm.weight", (D,)),
                s + "ln1_b": Want(q + "attention.output.LayerNorm.bias", (D,)),
                s + "wi": Want(q + "intermediate.dense.weight", (ffn, D)),
                s + "bi": Want(q + "intermediate.dense.bias", (ffn,)),
                s + "wf": Want(q + "output.dense.weight", (D, ffn)),
                s + "bf": Want(q + "output.dense.bias", (D,)),
                s + "ln2_w": Want(q + "output.LayerNorm.weight", (D,)),
                s + "ln2_b": Want(q + "output.LayerNorm.bias", (D,)),
            }
        context, offset, pad = cls.positions(config, positions, where)
        return Plan(dims, wants, context, f"its {context} learned positions, special tokens included", False,
                    {"offset": offset, "pad": pad})

    @classmethod
    def positions(cls, config: dict[str, Any], positions: int, where: str) -> tuple[int, int, int | None]:
        """(longest input, first position id, padding id) — BERT numbers positions from 0."""
        return positions, 0, None

    def position_ids(self, ids: torch.Tensor) -> torch.Tensor:
        return torch.arange(ids.shape[0], device=ids.device)  # (T,)

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        w, D = self.w, self.dims.hidden
        x = w["word"][ids] + w["position"][self.position_ids(ids)] + w["token_type"][0]  # (T, D)
        return F.layer_norm(x, (D,), w["emb_ln_w"], w["emb_ln_b"], eps=self.dims.eps)  # (T, D)

    def forward(self, ids: torch.Tensor, residuals: bool = False) -> Trace:
        ids = ids.to(self.device)
        T, H, d, D, eps = ids.shape[0], self.dims.n_heads, self.dims.head_dim, self.dims.hidden, self.dims.eps
        x = self.embed(ids)  # (T, D)
        trace = self.new_trace(T, x, residuals)
        if trace.residuals is not None:
            trace.residuals[0].copy_(x)
        last = self.dims.n_layers - 1
        for n, layer in enumerate(self.layers):
            q = F.linear(x, layer["wq"], layer["bq"]).view(T, H, d).transpose(0, 1)  # (H, T, d)
            k = F.linear(x, layer["wk"], layer["bk"]).view(T, H, d).transpose(0, 1)  # (H, T, d)
            v = F.linear(x, layer["wv"], layer["bv"]).view(T, H, d).transpose(0, 1)  # (H, T, d)
            context = self.attend(trace, n, q, k, v, None, context=residuals or n < last)
            if context is None:
                break  # the last layer's output feeds nothing we show
            x = F.layer_norm(x + F.linear(context, layer["wo"], layer["bo"]), (D,),
                             layer["ln1_w"], layer["ln1_b"], eps=eps)  # (T, D)
            hidden = self.act(F.linear(x, layer["wi"], layer["bi"]))  # (T, ffn)
            x = F.layer_norm(x + F.linear(hidden, layer["wf"], layer["bf"]), (D,),
                             layer["ln2_w"], layer["ln2_b"], eps=eps)  # (T, D)
            if trace.residuals is not None:
                trace.residuals[n + 1].copy_(x)
        return trace


class Roberta(Bert):
    """RoBERTa: BERT's blocks, positions numbered from padding_idx + 1, one token type."""

    architecture = "roberta"

    @classmethod
    def positions(cls, config: dict[str, Any], positions: int, where: str) -> tuple[int, int, int | None]:
        pad = get_int(config, where, "pad_token_id", default=1, minimum=0)
        if positions <= pad + 1:
            raise CheckpointError(f"{where}: max_position_embeddings {positions} leaves no position after "
                                  f"the padding index {pad}")
        return positions - pad - 1, pad + 1, pad

    def position_ids(self, ids: torch.Tensor) -> torch.Tensor:
        # transformers' create_position_ids_from_input_ids: a padding token keeps position padding_idx.
        pad = self.extra["pad"]
        real = (ids != pad).long()  # (T,)
        return torch.cumsum(real, 0) * real + pad  # (T,)
