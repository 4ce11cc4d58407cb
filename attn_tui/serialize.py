"""The result as plain JSON-ready data: the `attn-tui --json` schema. Torch and stdlib only."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch

    from attn_tui.attention import AttentionResult

MATRICES = (
    "embeddings",
    "w_query",
    "w_key",
    "w_value",
    "query",
    "key",
    "value",
    "scores",
    "scaled",
    "weights",
    "context",
)
"""The result's tensors, in pipeline order, as named in the JSON."""


def tensor_to_lists(tensor: torch.Tensor) -> Any:
    """Nested lists of Python floats (exact float32 values); −∞ and NaN become None (JSON null)."""
    data = tensor.tolist()
    if tensor.isfinite().all():
        return data
    return _nullify(data)


def _nullify(data: Any) -> Any:
    if isinstance(data, list):
        return [_nullify(x) for x in data]
    return data if math.isfinite(data) else None


def result_to_dict(result: AttentionResult) -> dict[str, Any]:
    """The JSON object: prompt, config, words, vocab, token_ids, then every matrix."""
    out: dict[str, Any] = {
        "prompt": result.config.prompt,
        "config": dataclasses.asdict(result.config),
        "words": list(result.words),
        "vocab": dict(result.vocab),
        "token_ids": list(result.token_ids),
    }
    for name in MATRICES:
        out[name] = tensor_to_lists(getattr(result, name))
    return out


def dumps(data: dict[str, Any]) -> str:
    """JSON text; floats keep full float32 precision (repr of the exact value)."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    return text.translate(_ESCAPE_FOR_TERMINALS) if _UNSAFE.search(text) else text


# json escapes C0 controls but writes DEL, the C1 controls (U+009B is a one-character CSI to many
# terminals) and the line separators raw; `attn-tui --json` often lands on a terminal, so escape
# those too. They can only occur inside JSON strings, where \uXXXX means the same character.
# Lone surrogates (from undecodable bytes in argv) cannot be written as UTF-8 at all: escape them.
_ESCAPE_FOR_TERMINALS = {code: f"\\u{code:04x}"
                         for code in (*range(0x7F, 0xA0), 0x2028, 0x2029, *range(0xD800, 0xE000))}
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff]")
