"""A checkpoint as the loader sees it, before any weight is read: its config and the tensors it declares.

Folders (folder.py) and GGUF files (gguf.py) implement `Checkpoint`; architectures (core.py and the
modules it names) say which tensors they `Want`. Standard library only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attn_tui.models.base import ARCHITECTURES, UnsupportedArchitecture


@dataclass(frozen=True)
class TensorMeta:
    """A tensor as its file declares it: torch-order shape and stored dtype ("BF16", "Q4_K"…)."""

    shape: tuple[int, ...]
    dtype: str


@dataclass(frozen=True)
class Want:
    """One tensor an architecture needs: its name in the checkpoint, its shape there, and how to use it."""

    name: str
    shape: tuple[int, ...]
    transpose: bool = False
    """Stored (in, out) as GPT-2's Conv1D does; transposed to (out, in) at load."""


class Checkpoint:
    """An opened checkpoint (folder or GGUF): headers read, config known, no weight read yet."""

    path: Path
    title: str
    model_type: str
    config: dict[str, Any]
    """Hugging Face config.json keys (a GGUF's metadata is translated to them)."""
    tensors: dict[str, TensorMeta]
    """Every tensor present, by its Hugging Face name."""

    def fetch(self, name: str) -> Any:
        """The tensor as float32, in torch order."""
        raise NotImplementedError

    def label(self, name: str) -> str:
        """A tensor's name as the file spells it, for messages."""
        return name

    def check_dtype(self, name: str) -> None:
        """Refuse a tensor stored in a type attn-tui does not read."""

    def dtype_label(self, names: list[str]) -> str:
        raise NotImplementedError

    def tokenizer(self, vocab_size: int) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass


def architecture_of(config: dict[str, Any], where: str) -> str:
    """The ARCHITECTURES key for a config: its model_type, or a supported class it declares itself to be."""
    model_type = config.get("model_type")
    if isinstance(model_type, str) and model_type in ARCHITECTURES:
        return model_type
    declared = config.get("architectures") or []
    if isinstance(declared, list):
        for name in declared:
            for key, arch in ARCHITECTURES.items():
                if name in arch.hf_classes:
                    return key
    supported = ", ".join(ARCHITECTURES)
    shown = model_type if isinstance(model_type, str) and model_type else "(none)"
    also = f" (architectures: {', '.join(map(str, declared))})" if declared else ""
    raise UnsupportedArchitecture(f"{where}: model_type {shown}{also} is not supported; attn-tui runs {supported}")
