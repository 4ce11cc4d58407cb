"""MiniLM-L6 (all-MiniLM-L6-v2): a 6-layer, 12-head BERT encoder in plain torch, weights from safetensors.

Follows transformers' BertModel with eager attention: post-LayerNorm blocks, exact (erf) GELU,
absolute learned positions, one sequence (token type 0), no padding so no attention mask.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F

from attn_tui.models import Model, ModelSpec, Progress


class MiniLM(Model):
    """The encoder, its WordPiece tokenizer (from tokenizer.json), and its weights as float32 tensors."""

    cache_size = 8
    n_added = 2  # [CLS] … [SEP]

    def __init__(self, spec: ModelSpec, folder: Path, progress: Progress) -> None:
        super().__init__(spec)
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        config = json.loads((folder / "config.json").read_text())
        self.n_layers = config["num_hidden_layers"]  # 6
        self.n_heads = config["num_attention_heads"]  # 12
        self.hidden = config["hidden_size"]  # 384
        self.head_dim = self.hidden // self.n_heads  # 32
        self.eps = config["layer_norm_eps"]
        self.max_tokens = min(spec.max_tokens, config["max_position_embeddings"])

        progress(0.1, "reading the tokenizer")
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # The file pads and truncates every input to 128 tokens; we want the prompt's own length,
        # and a prompt past the limit refused, not silently cut.
        self.tokenizer.no_padding()
        self.tokenizer.no_truncation()
        self.special_ids = {self.tokenizer.token_to_id(t) for t in ("[CLS]", "[SEP]", "[PAD]", "[MASK]")}

        progress(0.3, "reading the weights (model.safetensors)")
        w = load_file(str(folder / "model.safetensors"))
        self.word = w["embeddings.word_embeddings.weight"]  # (30522, 384)
        self.position = w["embeddings.position_embeddings.weight"]  # (512, 384)
        self.token_type = w["embeddings.token_type_embeddings.weight"]  # (2, 384)
        self.emb_norm = (w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        self.layers: list[dict[str, torch.Tensor]] = []
        for i in range(self.n_layers):
            p = f"encoder.layer.{i}."
            self.layers.append({
                "wq": w[p + "attention.self.query.weight"], "bq": w[p + "attention.self.query.bias"],
                "wk": w[p + "attention.self.key.weight"], "bk": w[p + "attention.self.key.bias"],
                "wv": w[p + "attention.self.value.weight"], "bv": w[p + "attention.self.value.bias"],
                "wo": w[p + "attention.output.dense.weight"], "bo": w[p + "attention.output.dense.bias"],
                "ln1_w": w[p + "attention.output.LayerNorm.weight"],
                "ln1_b": w[p + "attention.output.LayerNorm.bias"],
                "wi": w[p + "intermediate.dense.weight"], "bi": w[p + "intermediate.dense.bias"],
                "wf": w[p + "output.dense.weight"], "bf": w[p + "output.dense.bias"],
                "ln2_w": w[p + "output.LayerNorm.weight"], "ln2_b": w[p + "output.LayerNorm.bias"],
            })
            progress(0.3 + 0.7 * (i + 1) / self.n_layers, f"layer {i + 1}/{self.n_layers}")

    def tokenize(self, prompt: str) -> tuple[list[int], list[str], list[bool]]:
        enc = self.tokenizer.encode(prompt)  # adds [CLS] … [SEP]
        ids = list(enc.ids)
        return ids, list(enc.tokens), [i in self.special_ids for i in ids]

    def forward(self, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        T, H, d, D = len(ids), self.n_heads, self.head_dim, self.hidden
        idx = torch.tensor(ids, dtype=torch.long)  # (T,)
        x = self.word[idx] + self.position[:T] + self.token_type[0]  # (T, D)
        x = F.layer_norm(x, (D,), *self.emb_norm, eps=self.eps)  # (T, D)
        embeddings = x
        scale = d**-0.5
        attentions, queries, keys = [], [], []
        for n, layer in enumerate(self.layers):
            q = F.linear(x, layer["wq"], layer["bq"]).view(T, H, d).transpose(0, 1)  # (H, T, d)
            k = F.linear(x, layer["wk"], layer["bk"]).view(T, H, d).transpose(0, 1)  # (H, T, d)
            att = F.softmax((q @ k.transpose(-2, -1)) * scale, dim=-1)  # (H, T, T)
            attentions.append(att)
            queries.append(q)
            keys.append(k)
            if n == self.n_layers - 1:
                break  # the last layer's output feeds nothing we show
            v = F.linear(x, layer["wv"], layer["bv"]).view(T, H, d).transpose(0, 1)  # (H, T, d)
            context = (att @ v).transpose(0, 1).reshape(T, D)  # (T, D)
            x = F.layer_norm(x + F.linear(context, layer["wo"], layer["bo"]), (D,),
                             layer["ln1_w"], layer["ln1_b"], eps=self.eps)  # (T, D)
            hidden = F.gelu(F.linear(x, layer["wi"], layer["bi"]))  # (T, 4D)
            x = F.layer_norm(x + F.linear(hidden, layer["wf"], layer["bf"]), (D,),
                             layer["ln2_w"], layer["ln2_b"], eps=self.eps)  # (T, D)
        return (
            embeddings.clone(),
            torch.stack(attentions),  # (L, H, T, T)
            torch.stack(queries),  # (L, H, T, d)
            torch.stack(keys),  # (L, H, T, d)
        )
