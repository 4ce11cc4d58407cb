"""GPT-2: a pre-LayerNorm decoder with learned positions; Conv1D weights stored (in, out), transposed at load.

Follows transformers' GPT2Model with eager attention: one fused q/k/v projection, causal mask,
tanh-approximated GELU (gelu_new), a final LayerNorm, and an LM head tied to the token embeddings
unless the checkpoint has its own.
"""

from __future__ import annotations

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


class GPT2(Transformer):
    """GPT-2 and checkpoints that declare themselves GPT2LMHeadModel."""

    architecture = "gpt2"
    causal = True

    @classmethod
    def plan(cls, config: dict[str, Any], tensors: dict[str, TensorMeta], where: str) -> Plan:
        hidden = get_int(config, where, "n_embd", "hidden_size")
        heads = get_int(config, where, "n_head", "num_attention_heads")
        if hidden % heads:
            raise CheckpointError(f"{where}: n_embd {hidden} is not a multiple of n_head {heads}")
        if config.get("scale_attn_by_inverse_layer_idx") or config.get("scale_attn_weights") is False:
            raise CheckpointError(f"{where}: GPT-2's attention-scaling options (scale_attn_by_inverse_layer_idx, "
                                  "scale_attn_weights false) are not supported")
        dims = Dims(
            n_layers=get_int(config, where, "n_layer", "num_hidden_layers"),
            n_heads=heads,
            n_kv_heads=heads,
            head_dim=hidden // heads,
            hidden=hidden,
            ffn=get_int(config, where, "n_inner", default=4 * hidden),
            vocab=get_int(config, where, "vocab_size"),
            eps=get_float(config, where, "layer_norm_epsilon", 1e-5),
            act=activation(config.get("activation_function", "gelu_new"), where),
        )
        positions = get_int(config, where, "n_positions", "max_position_embeddings")
        p = find_prefix(tensors, "wte.weight", where)
        D, ffn = dims.hidden, dims.ffn
        wants = {
            "wte": Want(p + "wte.weight", (dims.vocab, D)),
            "wpe": Want(p + "wpe.weight", (positions, D)),
            "ln_f_w": Want(p + "ln_f.weight", (D,)),
            "ln_f_b": Want(p + "ln_f.bias", (D,)),
        }
        for i in range(dims.n_layers):
            q = f"{p}h.{i}."
            s = f"layers.{i}."
            wants |= {
                s + "ln1_w": Want(q + "ln_1.weight", (D,)),
                s + "ln1_b": Want(q + "ln_1.bias", (D,)),
                s + "wqkv": Want(q + "attn.c_attn.weight", (D, 3 * D), transpose=True),
                s + "bqkv": Want(q + "attn.c_attn.bias", (3 * D,)),
                s + "wo": Want(q + "attn.c_proj.weight", (D, D), transpose=True),
                s + "bo": Want(q + "attn.c_proj.bias", (D,)),
                s + "ln2_w": Want(q + "ln_2.weight", (D,)),
                s + "ln2_b": Want(q + "ln_2.bias", (D,)),
                s + "wi": Want(q + "mlp.c_fc.weight", (D, ffn), transpose=True),
                s + "bi": Want(q + "mlp.c_fc.bias", (ffn,)),
                s + "wf": Want(q + "mlp.c_proj.weight", (ffn, D), transpose=True),
                s + "bf": Want(q + "mlp.c_proj.bias", (D,)),
            }
        if "lm_head.weight" in tensors and not config.get("tie_word_embeddings", True):
            wants["lm_head"] = Want("lm_head.weight", (dims.vocab, D))
        return Plan(dims, wants, positions, f"its {positions} learned positions", True)

    def forward(self, ids: torch.Tensor, residuals: bool = False, *, trace: Trace | None = None, start: int = 0,
                cache: KVCache | None = None) -> Trace:
        """A full pass over `ids`, or (with `trace`, `start` and `cache`) the next positions of a sequence.

        With a `trace` (sized for the whole sequence, `empty_trace`) the T tokens of `ids` are positions
        start … start + T − 1: their rows are written into it, and they attend to the cached keys of the
        earlier positions. The trace's residuals, if it has them, decide whether the last layer runs whole.
        """
        ids = ids.to(self.device)
        T, H, d, D, eps = ids.shape[0], self.dims.n_heads, self.dims.head_dim, self.dims.hidden, self.dims.eps
        end = start + T
        x = self.w["wte"][ids] + self.w["wpe"][start:end]  # (T, D)
        if trace is None:
            trace = self.new_trace(T, x, residuals)
        else:
            trace.embeddings[start:end].copy_(x)
        if trace.residuals is not None:
            trace.residuals[0, start:end].copy_(x)
        mask = causal_mask(T, x.device, start=start) if T > 1 else None  # (T, end); one new token sees every key
        last = self.dims.n_layers - 1
        for n, layer in enumerate(self.layers):
            h = F.layer_norm(x, (D,), layer["ln1_w"], layer["ln1_b"], eps=eps)  # (T, D)
            qkv = F.linear(h, layer["wqkv"], layer["bqkv"])  # (T, 3D)
            q, k, v = (part.view(T, H, d).transpose(0, 1) for part in qkv.split(D, dim=-1))  # (H, T, d) each
            context = self.attend(trace, n, q, k, v, mask, context=trace.residuals is not None or n < last,
                                  start=start, cache=cache)
            if context is None:
                break  # the last layer's output feeds nothing we show
            x = x + F.linear(context, layer["wo"], layer["bo"])  # (T, D)
            h = F.layer_norm(x, (D,), layer["ln2_w"], layer["ln2_b"], eps=eps)  # (T, D)
            x = x + F.linear(self.act(F.linear(h, layer["wi"], layer["bi"])), layer["wf"], layer["bf"])  # (T, D)
            if trace.residuals is not None:
                trace.residuals[n + 1, start:end].copy_(x)
        return trace

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        h = F.layer_norm(hidden.to(self.device), (self.dims.hidden,), self.w["ln_f_w"], self.w["ln_f_b"],
                         eps=self.dims.eps)  # (…, D)
        return F.linear(h, self.w.get("lm_head", self.w["wte"])).cpu()  # (…, vocab)
