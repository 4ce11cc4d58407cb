"""The reproducible script: a standalone torch program that recomputes one state from scratch.

`script_source(config)` returns the program's text. It uses torch and the standard library only,
reads like the seed notebook (one step per block, each commented), and `python FILE` prints the
result in the `attn-tui --json` schema with the same numbers as the app: it draws its random
numbers in the backend's order from one generator seeded with the config's seed.
"""

from __future__ import annotations

from attn_tui import __version__
from attn_tui.config import AttentionConfig
from attn_tui.text import printable, scrub, shell_quote

_TEMPLATE = '''\
#!/usr/bin/env python3
r"""Self-attention, step by step: one attn-tui state recomputed from scratch.

Written by attn-tui {version}. Needs a Python 3 interpreter with torch installed (any torch from
2.2 on; `pip install torch`) and nothing else: no attn-tui.

    python {filename}     prints every intermediate as JSON (the `attn-tui --json` schema)

The same state in the explorer:

    {command}
"""

import json
import math
import sys

import torch
import torch.nn.functional as F

# ── The settings ─────────────────────────────────────────────────────────────────
prompt = {prompt}
seed = {seed}  # seeds every random number below
vocab_size = {vocab_size}  # rows of the embedding table
d_model = {d_model}  # embedding width d
d_k = {d_k}  # query/key width (d_q = d_k)
d_v = {d_v}  # value width
heads = {heads}  # attention heads; each takes an equal slice of d_k and d_v
causal = {causal}  # mask the keys after each query
temperature = {temperature}  # divides the scaled scores before the softmax
vocab_mode = {vocab_mode}  # "seed": the notebook's ids (they skip numbers); "dense": 0..n-1

# ── Map each word to an id ──────────────────────────────────────────────────────
# Words are separated by runs of whitespace (the notebook used split(" ")).
words = prompt.split()
T = len(words)
if vocab_mode == "seed":
    # The notebook's rule: case-sensitive sort, lower-cased keys, the last index wins,
    # so ids can skip numbers ('i': 2, no id 1).
    vocab = {{w.lower(): i for i, w in enumerate(sorted(words))}}
else:
    # Dense: the distinct lower-cased words, numbered 0..n-1.
    vocab = {{w: i for i, w in enumerate(sorted({{w.lower() for w in words}}))}}
vocab = dict(sorted(vocab.items(), key=lambda item: item[1]))  # in id order

# ── Sentence as token ids ───────────────────────────────────────────────────────
token_ids = [vocab[w.lower()] for w in words]
ids = torch.tensor(token_ids, dtype=torch.long)  # (T,)

# ── The embedding table ─────────────────────────────────────────────────────────
# The notebook called torch.manual_seed(seed) and then nn.Embedding(vocab_size, d_model),
# which fills its table from a standard normal. A private generator draws the same numbers
# without touching torch's global random state.
g = torch.Generator().manual_seed(seed)
table = torch.empty(vocab_size, d_model).normal_(generator=g)  # (vocab_size, d_model)

# ── Embed the sentence ──────────────────────────────────────────────────────────
embeddings = table[ids]  # (T, d_model): one row of the table per word

# ── The weight matrices, uniform in [0, 1), drawn after the table ───────────────
w_query = torch.rand(d_model, d_k, generator=g)  # (d_model, d_k)
w_key = torch.rand(d_model, d_k, generator=g)  # (d_model, d_k)
w_value = torch.rand(d_model, d_v, generator=g)  # (d_model, d_v)

# ── Queries, keys and values ────────────────────────────────────────────────────
query = embeddings @ w_query  # (T, d_k): what each word looks for
key = embeddings @ w_key  # (T, d_k): what each word offers to be found by
value = embeddings @ w_value  # (T, d_v): what each word hands on

# ── Split into heads ────────────────────────────────────────────────────────────
# Head h takes the h-th equal slice of the columns of Q, K (width hk) and V (width hv).
hk, hv = d_k // heads, d_v // heads
q = query.view(T, heads, hk).transpose(0, 1)  # (heads, T, hk)
k = key.view(T, heads, hk).transpose(0, 1)  # (heads, T, hk)
v = value.view(T, heads, hv).transpose(0, 1)  # (heads, T, hv)

# ── Attention scores: every query dotted with every key ─────────────────────────
scores = q @ k.transpose(-2, -1)  # (heads, T, T)

# ── Scale: divide by sqrt(d_k / heads) and by the temperature ───────────────────
scale = math.sqrt(hk) * temperature
scaled = scores / scale  # (heads, T, T)

# ── Causal mask: a query may not look at the keys after it ──────────────────────
if causal:
    mask = torch.ones(T, T, dtype=torch.bool).triu_(1)  # (T, T), True above the diagonal
    scaled = scaled.masked_fill(mask, float("-inf"))

# ── Softmax over the keys: each row becomes weights that sum to 1 ───────────────
att = F.softmax(scaled, dim=-1)  # (heads, T, T)

# ── Context vectors: the weighted sum of the values, heads side by side ─────────
context = (att @ v).transpose(0, 1).reshape(T, d_v)  # (T, d_v)


# ── Print everything as JSON (the `attn-tui --json` schema) ─────────────────────
def as_lists(tensor):
    """Nested lists of floats, exact float32 values; -inf (masked) becomes null."""
    data = tensor.tolist()
    if tensor.isfinite().all():
        return data

    def nullify(x):
        return [nullify(y) for y in x] if isinstance(x, list) else (x if math.isfinite(x) else None)

    return nullify(data)


result = {{
    "prompt": prompt,
    "config": {{
        "prompt": prompt, "seed": seed, "vocab_size": vocab_size, "d_model": d_model, "d_k": d_k,
        "d_v": d_v, "heads": heads, "causal": causal, "temperature": temperature,
        "vocab_mode": vocab_mode,
    }},
    "words": words,
    "vocab": vocab,
    "token_ids": token_ids,
    "embeddings": as_lists(embeddings),
    "w_query": as_lists(w_query),
    "w_key": as_lists(w_key),
    "w_value": as_lists(w_value),
    "query": as_lists(query),
    "key": as_lists(key),
    "value": as_lists(value),
    "scores": as_lists(scores),
    "scaled": as_lists(scaled),
    "weights": as_lists(att),
    "context": as_lists(context),
}}
# json escapes the C0 controls; the rest a terminal would obey or reorder text by (DEL, C1 controls,
# bidi controls, line separators) is escaped as \\uXXXX too, and the text is UTF-8 whatever the
# locale: the same text as `attn-tui --json`.
unsafe = [*range(0x7F, 0xA0), 0x61C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x2028, 0x2029]
text = json.dumps(result, ensure_ascii=False, allow_nan=False).translate({{c: f"\\\\u{{c:04x}}" for c in unsafe}})
sys.stdout.reconfigure(encoding="utf-8")
sys.stdout.write(text + "\\n")
'''


def _command(config: AttentionConfig) -> str:
    """The explorer's command line, made safe inside the script's docstring.

    `command_line` is printable (a control or bidi character in the prompt is a `$'\\x1b'`-style
    escape), and the docstring is raw, so a backslash stays as typed; only a triple quote needs breaking.
    """
    from attn_tui.argv import command_line

    return command_line(config).replace('"""', '""\\"')


def script_source(config: AttentionConfig, filename: str = "attn-script.py") -> str:
    """The standalone script for `config` (assumed valid: the config's values become literals), to be
    saved as `filename` (its docstring says how to run it)."""
    c = config.replace(prompt=scrub(config.prompt))  # the one rule for undecodable bytes (attn_tui.text)
    return _TEMPLATE.format(
        version=__version__,
        command=_command(c),
        filename=shell_quote(printable(filename)).replace('"""', '""\\"'),
        prompt=repr(c.prompt),
        seed=repr(int(c.seed)),
        vocab_size=repr(int(c.vocab_size)),
        d_model=repr(int(c.d_model)),
        d_k=repr(int(c.d_k)),
        d_v=repr(int(c.d_v)),
        heads=repr(int(c.heads)),
        causal=repr(bool(c.causal)),
        temperature=repr(c.temperature),
        vocab_mode=repr(c.vocab_mode),
    )

