"""SmolLM2-135M-Instruct: a 30-layer Llama decoder in plain torch, weights and vocabulary from one GGUF.

Follows transformers' LlamaModel with eager attention: pre-RMSNorm blocks, 9 query heads sharing
3 key/value heads (grouped-query attention), rotary position embeddings (HF's half-split layout),
SwiGLU feed-forward, causal mask. The 4-bit weights are dequantised to float32 once, at load.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
import torch.nn.functional as F

from attn_tui.models import Model, ModelSpec, Progress
from attn_tui.models.gguf import GGUFFile

TOKEN_TYPE_CONTROL = 3
"""llama.cpp's token type for special tokens such as <|im_start|>."""


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's byte → printable character table, which byte-level BPE vocabularies are spelled in."""
    bs = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, map(chr, cs), strict=True))


_UNICODE_TO_BYTE = {c: b for b, c in bytes_to_unicode().items()}
_SHOWN = {" ": "▁", "\n": "↵", "\t": "⇥"}


def readable(token: str) -> str:
    """A byte-level token as readable text: "Ġhello" → "▁hello"; a piece of an emoji → "<0xF0><0x9F>"."""
    if not all(c in _UNICODE_TO_BYTE for c in token):
        return token  # a control token (<|im_start|>), spelled as itself
    data = bytes(_UNICODE_TO_BYTE[c] for c in token)
    out: list[str] = []
    i = 0
    while i < len(data):
        # Take the longest run from i that decodes as UTF-8 (at most 4 bytes make a character).
        for width in (1, 2, 3, 4):
            try:
                ch = data[i : i + width].decode("utf-8")
            except UnicodeDecodeError:
                continue
            break
        else:
            out.append(f"<0x{data[i]:02X}>")
            i += 1
            continue
        if ch in _SHOWN:
            out.append(_SHOWN[ch])
        elif ch.isprintable():
            out.append(ch)
        else:
            out.extend(f"<0x{b:02X}>" for b in ch.encode("utf-8"))
        i += width
    return "".join(out)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) → (−x2, x1) on the two halves of the last dimension, as transformers' Llama does."""
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def unpermute(w: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Undo llama.cpp's Q/K row order (pairs interleaved for ggml's rope) to HF's half-split order."""
    rows = w.shape[0]
    return w.view(n_heads, rows // n_heads // 2, 2, -1).transpose(1, 2).reshape(w.shape)  # (rows, in)


class SmolLM2(Model):
    """The decoder, its byte-level BPE tokenizer rebuilt from the GGUF, and float32 weights."""

    cache_size = 4  # a 256-token result holds ~80 MiB

    def __init__(self, spec: ModelSpec, path: Path, progress: Progress) -> None:
        super().__init__(spec)
        from tokenizers import AddedToken, Tokenizer, models, pre_tokenizers

        with GGUFFile(path) as g:
            meta = g.metadata
            arch = meta["general.architecture"]  # "llama"
            self.n_layers = int(meta[f"{arch}.block_count"])  # 30
            self.n_heads = int(meta[f"{arch}.attention.head_count"])  # 9
            self.n_kv_heads = int(meta[f"{arch}.attention.head_count_kv"])  # 3
            self.hidden = int(meta[f"{arch}.embedding_length"])  # 576
            self.head_dim = self.hidden // self.n_heads  # 64
            self.eps = float(meta[f"{arch}.attention.layer_norm_rms_epsilon"])
            self.rope_base = float(meta.get(f"{arch}.rope.freq_base", 10000.0))
            self.max_tokens = min(spec.max_tokens, int(meta[f"{arch}.context_length"]))

            progress(0.05, "building the tokenizer")
            tokens: list[str] = meta["tokenizer.ggml.tokens"]
            types: list[int] = meta.get("tokenizer.ggml.token_type", [1] * len(tokens))
            merges = [tuple(m.split(" ", 1)) for m in meta["tokenizer.ggml.merges"]]
            bpe = models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges)
            tok = Tokenizer(bpe)
            # SmolLM2's tokenizer (llama.cpp pre-tokenizer "smollm", and the original tokenizer.json)
            # splits every digit on its own before GPT-2's byte-level split; no prefix space, no BOS.
            tok.pre_tokenizer = pre_tokenizers.Sequence([
                pre_tokenizers.Digits(individual_digits=True),
                pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
            ])
            control = [t for t, ty in zip(tokens, types, strict=True) if ty == TOKEN_TYPE_CONTROL]
            tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in control])
            self.tokenizer = tok
            self.vocab = tokens
            self.control_ids = {i for i, ty in enumerate(types) if ty == TOKEN_TYPE_CONTROL}

            progress(0.1, "dequantising token embeddings")
            self.embed = g.tensor("token_embd.weight")  # (vocab, hidden)
            self.layers: list[dict[str, torch.Tensor]] = []
            for i in range(self.n_layers):
                p = f"blk.{i}."
                self.layers.append({
                    "attn_norm": g.tensor(p + "attn_norm.weight"),  # (hidden,)
                    "wq": unpermute(g.tensor(p + "attn_q.weight"), self.n_heads),  # (H·d, hidden)
                    "wk": unpermute(g.tensor(p + "attn_k.weight"), self.n_kv_heads),  # (Hkv·d, hidden)
                    "wv": g.tensor(p + "attn_v.weight"),  # (Hkv·d, hidden)
                    "wo": g.tensor(p + "attn_output.weight"),  # (hidden, H·d)
                    "ffn_norm": g.tensor(p + "ffn_norm.weight"),  # (hidden,)
                    "gate": g.tensor(p + "ffn_gate.weight"),  # (ffn, hidden)
                    "up": g.tensor(p + "ffn_up.weight"),  # (ffn, hidden)
                    "down": g.tensor(p + "ffn_down.weight"),  # (hidden, ffn)
                })
                progress(0.1 + 0.9 * (i + 1) / self.n_layers, f"dequantising layer {i + 1}/{self.n_layers}")
        d = self.head_dim
        self.inv_freq = 1.0 / (self.rope_base ** (torch.arange(0, d, 2, dtype=torch.float32) / d))  # (d/2,)

    def tokenize(self, prompt: str) -> tuple[list[int], list[str], list[bool]]:
        ids = list(self.tokenizer.encode(prompt, add_special_tokens=False).ids)
        tokens = [readable(self.vocab[i]) for i in ids]
        # Position 0 soaks up most attention in every head (an attention sink), whatever it is.
        special = [n == 0 or i in self.control_ids for n, i in enumerate(ids)]
        return ids, tokens, special

    def rms_norm(self, x: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        return weight * (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps))  # (T, hidden)

    def forward(self, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        T, H, Hkv, d = len(ids), self.n_heads, self.n_kv_heads, self.head_dim
        group = H // Hkv  # query heads per key/value head
        idx = torch.tensor(ids, dtype=torch.long)  # (T,)
        x = self.embed[idx]  # (T, hidden)
        embeddings = x.clone()
        freqs = torch.arange(T, dtype=torch.float32)[:, None] * self.inv_freq[None, :]  # (T, d/2)
        angles = torch.cat((freqs, freqs), dim=-1)  # (T, d)
        cos, sin = angles.cos(), angles.sin()  # (T, d) each
        mask = torch.ones(T, T, dtype=torch.bool).triu_(1)  # (T, T), True above the diagonal
        scale = 1.0 / math.sqrt(d)
        attentions, queries, keys = [], [], []
        for n, layer in enumerate(self.layers):
            h = self.rms_norm(x, layer["attn_norm"])  # (T, hidden)
            q = F.linear(h, layer["wq"]).view(T, H, d).transpose(0, 1)  # (H, T, d)
            k = F.linear(h, layer["wk"]).view(T, Hkv, d).transpose(0, 1)  # (Hkv, T, d)
            q = q * cos + rotate_half(q) * sin  # (H, T, d)
            k = k * cos + rotate_half(k) * sin  # (Hkv, T, d)
            k = k.repeat_interleave(group, dim=0)  # (H, T, d): query head h reads kv head h // group
            att = (q @ k.transpose(-2, -1)) * scale  # (H, T, T)
            att = F.softmax(att.masked_fill(mask, float("-inf")), dim=-1)  # (H, T, T)
            attentions.append(att)
            queries.append(q)
            keys.append(k)
            if n == self.n_layers - 1:
                break  # the last layer's output feeds nothing we show
            v = F.linear(h, layer["wv"]).view(T, Hkv, d).transpose(0, 1)  # (Hkv, T, d)
            v = v.repeat_interleave(group, dim=0)  # (H, T, d)
            context = (att @ v).transpose(0, 1).reshape(T, H * d)  # (T, hidden)
            x = x + F.linear(context, layer["wo"])  # (T, hidden)
            h = self.rms_norm(x, layer["ffn_norm"])  # (T, hidden)
            gated = F.silu(F.linear(h, layer["gate"])) * F.linear(h, layer["up"])  # (T, ffn)
            x = x + F.linear(gated, layer["down"])  # (T, hidden)
        return (
            embeddings,
            torch.stack(attentions),  # (L, H, T, T)
            torch.stack(queries),  # (L, H, T, d)
            torch.stack(keys),  # (L, H, T, d)
        )
