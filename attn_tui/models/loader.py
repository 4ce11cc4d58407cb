"""From a path to a running Model: open, pick the architecture, check every size, then read the weights.

The order is the safety: the architecture is refused before anything is read; the tensors a
config asks for are checked (names, shapes, dtypes) against the headers, and their float32 size
against the memory available, before any weight is read; the tokenizer is built before the
weights too. Then each tensor is read, reported, and the `cancel` event checked.
"""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attn_tui.models import (
    ARCHITECTURES,
    ATTENTION_BUDGET,
    CheckpointError,
    LoadCancelled,
    Model,
    ModelFacts,
    ModelUnavailable,
    Progress,
    UnsupportedArchitecture,
    token_cap,
)


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


def _architecture_class(key: str) -> type:
    import importlib

    entry = ARCHITECTURES[key]
    return getattr(importlib.import_module(entry.module), entry.cls)


def _gib(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**30 / 10 else f"{n / 2**20:.0f} MiB"


def check_tensors(ckpt: Checkpoint, wants: dict[str, Want]) -> None:
    """Every wanted tensor is present with the shape the config implies and a dtype attn-tui reads."""
    for want in wants.values():
        meta = ckpt.tensors.get(want.name)
        if meta is None:
            raise CheckpointError(f"{ckpt.path}: the config asks for the tensor {ckpt.label(want.name)}, which the "
                                  "weights do not have")
        if tuple(meta.shape) != tuple(want.shape):
            raise CheckpointError(f"{ckpt.path}: {ckpt.label(want.name)} is {list(meta.shape)} in the weights, but "
                                  f"the config implies {list(want.shape)}")
        ckpt.check_dtype(want.name)


def check_memory(where: Path, n_bytes: int) -> None:
    """Refuse before allocating if the float32 weights plus one result would not fit in available memory."""
    import attn_tui.models as models  # looked up at call time: tests simulate a small machine

    free = models.memory_available()
    if free is None:
        return
    need = n_bytes + ATTENTION_BUDGET
    if need > free:
        raise CheckpointError(f"{where}: needs {_gib(n_bytes)} for its float32 weights (plus up to "
                              f"{_gib(ATTENTION_BUDGET)} for a result), but only {_gib(free)} of memory is "
                              "available")


def build(name: str, path: Path, kind: str, title: str | None, report: Progress,
          cancel: threading.Event | None, device: str) -> Model:
    """Open `path`, check it, read its weights (reporting each), and return the running model."""
    try:
        if kind == "gguf":
            from attn_tui.models.gguf import GGUFCheckpoint

            ckpt: Checkpoint = GGUFCheckpoint(path)
        else:
            from attn_tui.models.folder import FolderCheckpoint

            ckpt = FolderCheckpoint(path)
        try:
            return _build(ckpt, name, title, report, cancel, device)
        finally:
            ckpt.close()
    except (CheckpointError, LoadCancelled, ModelUnavailable, MemoryError, KeyboardInterrupt):
        raise
    except Exception as error:  # noqa: BLE001 — the last net: a file no check foresaw is still one line
        detail = (str(error).strip().splitlines() or [""])[0]
        raise CheckpointError(f"{path}: cannot be read as a model ({type(error).__name__}: {detail})") from error


def _build(ckpt: Checkpoint, name: str, title: str | None, report: Progress,
           cancel: threading.Event | None, device: str) -> Model:
    key = architecture_of(ckpt.config, str(ckpt.path))
    cls: Any = _architecture_class(key)  # a core.Transformer subclass (core imports this module)
    plan = cls.plan(ckpt.config, ckpt.tensors, str(ckpt.path))
    check_tensors(ckpt, plan.wants)
    n_bytes = 4 * sum(math.prod(w.shape) for w in plan.wants.values())
    check_memory(ckpt.path, n_bytes)
    d = plan.dims
    report(0.02, "reading the tokenizer")
    tokenizer = ckpt.tokenizer(d.vocab)

    cap = token_cap(d.n_layers, d.n_heads, d.head_dim, d.hidden)
    if plan.context <= cap:
        max_tokens, reason = plan.context, plan.context_reason
    else:
        max_tokens = cap
        reason = (f"this app's cap: it keeps all {d.n_layers} × {d.n_heads} attention maps, T² each, with their "
                  f"queries, keys and values, within {ATTENTION_BUDGET // 2**20} MiB")
    facts = ModelFacts(
        name=name,
        title=title or ckpt.title,
        architecture=key,
        model_type=ckpt.model_type,
        path=str(ckpt.path),
        n_layers=d.n_layers,
        n_heads=d.n_heads,
        n_kv_heads=d.n_kv_heads,
        head_dim=d.head_dim,
        hidden=d.hidden,
        vocab_size=d.vocab,
        dtype=ckpt.dtype_label([w.name for w in plan.wants.values() if len(w.shape) > 1]),
        causal=cls.causal,
        max_tokens=max_tokens,
        limit_reason=reason,
        can_generate=plan.can_generate,
        device=device,
    )

    import torch

    weights: dict[str, torch.Tensor] = {}
    total, done = len(plan.wants), 0
    for n, (slot, want) in enumerate(plan.wants.items()):
        if cancel is not None and cancel.is_set():
            raise LoadCancelled(f"loading {facts.title} was cancelled")
        tensor = ckpt.fetch(want.name)
        if want.transpose:
            tensor = tensor.t().contiguous()
        weights[slot] = tensor.to(device) if device != "cpu" else tensor
        done += 4 * math.prod(want.shape)
        # The fraction counts bytes, not tensors: an embedding matrix is a long step, a norm a short one.
        report(0.05 + 0.95 * done / n_bytes, f"reading {ckpt.label(want.name)} ({n + 1}/{total})")
    if cancel is not None and cancel.is_set():
        raise LoadCancelled(f"loading {facts.title} was cancelled")
    return cls(facts, tokenizer, plan, weights)
