"""From a path to a running Model: open, pick the architecture, check every size, then read the weights.

The order is the safety: the architecture is refused before anything is read; the tensors a
config asks for are checked (names, shapes, dtypes) against the headers, and their float32 size
against the memory available, before any weight is read; the tokenizer is built before the
weights too. Then each tensor is read, reported, and the `cancel` event checked.
"""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

from attn_tui.models.base import (
    ARCHITECTURES,
    ATTENTION_BUDGET,
    CheckpointError,
    LoadCancelled,
    ModelUnavailable,
    Progress,
    token_cap,
)
from attn_tui.models.checkpoint import Checkpoint, Want, architecture_of
from attn_tui.models.model import Model
from attn_tui.models.result import ModelFacts


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
    from attn_tui.models import base  # looked up at call time: tests simulate a small machine

    free = base.memory_available()
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
