"""Results as JSON: `--json` and the JSON export, written a row at a time, safe on a terminal. Stdlib only."""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from attn_tui.stages import PIPELINE
from attn_tui.text import json_safe

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


@dataclass(frozen=True)
class JSONObject:
    """A nested JSON object whose values may be tensors: written key by key, tensors a row at a time."""

    items: tuple[tuple[str, Any], ...]


def write_json(items: Iterable[tuple[str, Any]], out: IO[str]) -> None:
    """Write the JSON object of `items` (key, value) to `out`, tensors a row at a time, never holding the whole
    text (at 2,048 words × 8 heads it is gigabytes of lists). A value may be a JSONObject (written the same
    way), a torch tensor or a numpy array. `--json`, its extras and the JSON export all write through it."""
    out.write("{")
    for n, (key, value) in enumerate(items):
        out.write((", " if n else "") + _safe(json.dumps(key, ensure_ascii=False)) + ": ")
        if isinstance(value, JSONObject):
            write_json(value.items, out)
        elif hasattr(value, "tolist"):
            _write_tensor(_as_tensor(value), out)
        else:
            out.write(_safe(json.dumps(value, ensure_ascii=False, allow_nan=False)))
    out.write("}")


def _as_tensor(value: Any) -> torch.Tensor:
    import torch

    return value if isinstance(value, torch.Tensor) else torch.as_tensor(value)


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
    # `attn-tui --json` often lands on a terminal: C1 controls, bidi controls and line separators are
    # escaped as \uXXXX, lone surrogates (undecodable argv bytes) become U+FFFD (attn_tui.text).
    return json_safe(text)
