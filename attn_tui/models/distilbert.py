"""DistilBERT: BERT's post-LayerNorm blocks with its own names, no token types, learned positions.

Follows transformers' DistilBertModel with eager attention (its sinusoidal option is stored as a
position table all the same, so it loads like a learned one).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from attn_tui.models.base import CheckpointError
from attn_tui.models.bert import Bert
from attn_tui.models.checkpoint import TensorMeta, Want
from attn_tui.models.core import Dims, Plan, activation, find_prefix, get_int


class DistilBert(Bert):
    """The forward pass is BERT's; the embeddings have no token type and the tensors other names."""

    architecture = "distilbert"

    @classmethod
    def plan(cls, config: dict[str, Any], tensors: dict[str, TensorMeta], where: str) -> Plan:
        hidden = get_int(config, where, "dim")
        heads = get_int(config, where, "n_heads")
        if hidden % heads:
            raise CheckpointError(f"{where}: dim {hidden} is not a multiple of n_heads {heads}")
        dims = Dims(
            n_layers=get_int(config, where, "n_layers"),
            n_heads=heads,
            n_kv_heads=heads,
            head_dim=hidden // heads,
            hidden=hidden,
            ffn=get_int(config, where, "hidden_dim"),
            vocab=get_int(config, where, "vocab_size"),
            eps=1e-12,  # fixed in transformers' DistilBERT
            act=activation(config.get("activation", "gelu"), where),
        )
        positions = get_int(config, where, "max_position_embeddings")
        p = find_prefix(tensors, "embeddings.word_embeddings.weight", where)
        D, ffn = dims.hidden, dims.ffn
        wants = {
            "word": Want(p + "embeddings.word_embeddings.weight", (dims.vocab, D)),
            "position": Want(p + "embeddings.position_embeddings.weight", (positions, D)),
            "emb_ln_w": Want(p + "embeddings.LayerNorm.weight", (D,)),
            "emb_ln_b": Want(p + "embeddings.LayerNorm.bias", (D,)),
        }
        for i in range(dims.n_layers):
            q = f"{p}transformer.layer.{i}."
            s = f"layers.{i}."
            wants |= {
                s + "wq": Want(q + "attention.q_lin.weight", (D, D)),
                s + "bq": Want(q + "attention.q_lin.bias", (D,)),
                s + "wk": Want(q + "attention.k_lin.weight", (D, D)),
                s + "bk": Want(q + "attention.k_lin.bias", (D,)),
                s + "wv": Want(q + "attention.v_lin.weight", (D, D)),
                s + "bv": Want(q + "attention.v_lin.bias", (D,)),
                s + "wo": Want(q + "attention.out_lin.weight", (D, D)),
                s + "bo": Want(q + "attention.out_lin.bias", (D,)),
                s + "ln1_w": Want(q + "sa_layer_norm.weight", (D,)),
                s + "ln1_b": Want(q + "sa_layer_norm.bias", (D,)),
                s + "wi": Want(q + "ffn.lin1.weight", (ffn, D)),
                s + "bi": Want(q + "ffn.lin1.bias", (ffn,)),
                s + "wf": Want(q + "ffn.lin2.weight", (D, ffn)),
                s + "bf": Want(q + "ffn.lin2.bias", (D,)),
                s + "ln2_w": Want(q + "output_layer_norm.weight", (D,)),
                s + "ln2_b": Want(q + "output_layer_norm.bias", (D,)),
            }
        return Plan(dims, wants, positions, f"its {positions} learned positions, special tokens included", False,
                    {"offset": 0, "pad": None})

    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        w, D = self.w, self.dims.hidden
        x = w["word"][ids] + w["position"][self.position_ids(ids)]  # (T, D)
        return F.layer_norm(x, (D,), w["emb_ln_w"], w["emb_ln_b"], eps=self.dims.eps)  # (T, D)
