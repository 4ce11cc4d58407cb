"""Results as JSON: `--json` and the JSON export, written a row at a time, safe on a terminal. Stdlib only."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from typing import IO, TYPE_CHECKING, Any

from attn_tui.stages import PIPELINE

if TYPE_CHECKING:
    import torch

    from attn_tui.result import Result

MATRICES = ("embeddings", *PIPELINE)
"""The result's tensors, in pipeline order, as named in the JSON: the embeddings, then every stage of the
pipeline (the derived ones, value-weighted and rollout, come with their own flags)."""


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


def result_to_dict(result: Result) -> dict[str, Any]:
    """A result's `--json` object as plain data (tensors as nested lists; −∞ as None)."""
    return {key: tensor_to_lists(value) if hasattr(value, "tolist") else value
            for key, value in result.json_items()}


def dumps(data: dict[str, Any]) -> str:
    """JSON text; floats keep full float32 precision (repr of the exact value)."""
    return _safe(json.dumps(data, ensure_ascii=False, allow_nan=False))


def write_json(items: Iterable[tuple[str, Any]], out: IO[str]) -> None:
    """Write a JSON object key by key, tensors a row at a time: the same text as `dumps` of the whole
    object, without ever holding it (at 2,048 words × 8 heads the whole text is gigabytes of lists)."""
    out.write("{")
    for n, (key, value) in enumerate(items):
        out.write((", " if n else "") + _safe(json.dumps(key, ensure_ascii=False)) + ": ")
        if hasattr(value, "tolist"):
            _write_tensor(value, out)
        else:
            out.write(_safe(json.dumps(value, ensure_ascii=False, allow_nan=False)))
    out.write("}")


def _write_tensor(tensor: torch.Tensor, out: IO[str]) -> None:
    if tensor.dim() <= 1:
        out.write(json.dumps(tensor_to_lists(tensor), allow_nan=False))
        return
    out.write("[")
    for i in range(tensor.shape[0]):
        if i:
            out.write(", ")
        _write_tensor(tensor[i], out)
    out.write("]")


def _safe(text: str) -> str:
    return text.translate(_ESCAPE_FOR_TERMINALS) if _UNSAFE.search(text) else text


# json escapes C0 controls but writes DEL, the C1 controls (U+009B is a one-character CSI to many
# terminals) and the line separators raw; `attn-tui --json` often lands on a terminal, so escape
# those too. They can only occur inside JSON strings, where \uXXXX means the same character.
# Lone surrogates (from undecodable bytes in argv) cannot be written as UTF-8 at all: escape them.
_ESCAPE_FOR_TERMINALS = {code: f"\\u{code:04x}"
                         for code in (*range(0x7F, 0xA0), 0x2028, 0x2029, *range(0xD800, 0xE000))}
_UNSAFE = re.compile("[\x7f-\x9f\u2028\u2029\ud800-\udfff]")

