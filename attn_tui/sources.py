"""The source registry: what the explorer can show, and how each one turns a request into a `Result`.

A source is the notebook's toy pipeline or a real model (a bundled one by its short name, or a
checkpoint by its path). The CLI's choices, the settings panel, the palette and help read `SOURCES`;
the compute service calls `source_spec(name).open(progress, cancel, device).run(config)`; nothing
else asks which kind it is. Standard library only at import (the app reads the registry before
torch has loaded).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from attn_tui.config import FIELD_NAMES, MAX_PROMPT_CHARS, AttentionConfig, field_problems

if TYPE_CHECKING:
    from attn_tui.result import Result

SourceName = Literal["toy", "minilm", "smollm2"]
"""The sources known by a short name; a checkpoint is named by its path instead."""

Progress = Callable[[float, str], None]
"""progress(fraction in [0, 1], label), called from the loading thread."""


class SourceFailure(Exception):
    """A source could not run a request: `field` names what to fix (`prompt`, `model`), the message how."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class Source(Protocol):
    """A loaded source: one immutable request in, one frozen result out."""

    def run(self, config: AttentionConfig) -> Result: ...


class GeneratingSource(Source, Protocol):
    """A source that can also generate after the prompt and predict next tokens (a decoder with an LM head)."""

    def generate(self, config: AttentionConfig, n: int, progress: Progress, cancel: threading.Event,
                 partial: Callable[[Result], None]) -> Result: ...

    def predictions(self, result: Result, position: int, *, lens: bool = False, k: int = 5) -> Any: ...


@dataclass(frozen=True)
class SourceSpec:
    """What is known about a source before it is loaded."""

    name: str
    """`toy`, a bundled model's short name, or a checkpoint's path."""
    title: str
    """Human name for the status bar, help and the palette."""
    description: str
    """One line for the palette and help."""
    settings: tuple[str, ...]
    """The config fields the source reads (the settings panel shows these)."""
    open: Callable[[Progress, threading.Event | None, str], Source]
    """open(progress, cancel, device): load it (a model's weights: seconds; `cancel` stops that between
    tensors) and return something that runs requests."""
    missing: Callable[[], str | None] = lambda: None
    """Why it cannot be loaded here (its package is not installed, and how to install it), or None."""

    def problems(self, config: AttentionConfig) -> dict[str, str]:
        """Field → message for every setting this source reads that is refused; cheap, no torch."""
        if "seed" in self.settings:
            return {p.field: str(p) for p in field_problems(config)}
        prompt = config.prompt
        if not prompt.strip():
            return {"prompt": "prompt is empty: type at least one word"}
        if len(prompt) > MAX_PROMPT_CHARS:
            return {"prompt": f"prompt has {len(prompt):,} characters: at most {MAX_PROMPT_CHARS:,} allowed"}
        return {}


class _Toy:
    """The notebook's pipeline (attn_tui.attention)."""

    def run(self, config: AttentionConfig) -> Result:
        from attn_tui.attention import compute

        return compute(config)


class _Model:
    """A real model; its failures become SourceFailures naming what to change."""

    def __init__(self, name: str, progress: Progress, cancel: threading.Event | None, device: str) -> None:
        from attn_tui import models

        try:
            self.model = models.load(name, progress, cancel, device)
        except models.LoadCancelled:
            raise SourceFailure("model", f"loading {name} was cancelled") from None
        except (models.ModelUnavailable, models.CheckpointError) as error:
            raise SourceFailure("model", str(error)) from None
        except (ValueError, MemoryError, RuntimeError, OSError) as error:
            raise SourceFailure("model", f"{name}: {error}") from None
        self.name = name

    def run(self, config: AttentionConfig) -> Result:
        from attn_tui import models

        try:
            return self.model.run(config.prompt)
        except models.PromptTooLong as error:
            raise SourceFailure("prompt", str(error)) from None
        except (ValueError, MemoryError, RuntimeError, OSError) as error:
            raise SourceFailure("model", f"{self.name}: {error}") from None

    def generate(self, config: AttentionConfig, n: int, progress: Progress, cancel: threading.Event,
                 partial: Callable[[Result], None]) -> Result:
        """The prompt and n tokens generated greedily (issue 16); `partial` sees the tokens so far after each step.
        models.GenerationCancelled passes through: the caller knows why it cancelled."""
        from attn_tui import models

        try:
            return self.model.generate(config.prompt, n, progress=progress, cancel=cancel, partial=partial)
        except models.GenerationCancelled:
            raise
        except (models.CannotGenerate, models.GenerationTooLong) as error:
            raise SourceFailure("generate", str(error)) from None
        except (models.PromptTooLong, ValueError) as error:
            raise SourceFailure("prompt", str(error)) from None
        except (MemoryError, RuntimeError, OSError) as error:
            raise SourceFailure("model", f"{self.name}: {error}") from None

    def predictions(self, result: Result, position: int, *, lens: bool = False, k: int = 5) -> Any:
        """models.Predictions: the top k next tokens after `position` of `result`, with `lens` after every layer."""
        from attn_tui import models

        try:
            return self.model.predictions(result, position, k=k, lens=lens)  # type: ignore[arg-type]
        except (models.CannotGenerate, ValueError) as error:
            raise SourceFailure("generate", str(error)) from None


def can_generate(result: Result | None) -> str | None:
    """Why `result`'s source cannot generate or predict next tokens (the toy, an encoder), or None when it can."""
    facts = getattr(result, "facts", None)
    if result is None:
        return "nothing is shown yet"
    if facts is None:
        return ("the toy has no language-model head, so nothing predicts a next token: "
                "choose a decoder (m, or --model smollm2)")
    if not facts.causal:
        return (f"{facts.title} is an encoder: it reads the whole text at once and predicts no next token; "
                "choose a decoder (smollm2, or a GPT-2 / Llama-family checkpoint)")
    if not facts.can_generate:
        return f"{facts.title} has no language-model head: it cannot predict or generate tokens"
    return None


def _model_missing(name: str) -> Callable[[], str | None]:
    def missing() -> str | None:
        from attn_tui import models

        if models.available(name):
            return None
        return f"{models.MODEL_SPECS[name].title} is not installed; install with: {models.INSTALL_LINE}"

    return missing


def _model_spec(name: str, title: str, description: str) -> SourceSpec:
    return SourceSpec(name, title, description, ("prompt",),
                      lambda progress, cancel, device: _Model(name, progress, cancel, device), _model_missing(name))


SOURCES: dict[str, SourceSpec] = {
    "toy": SourceSpec("toy", "the notebook's pipeline", "the notebook pipeline", FIELD_NAMES,
                      lambda progress, cancel, device: _Toy()),
    "minilm": _model_spec("minilm", "MiniLM-L6", "real pretrained attention heads (needs the models extra)"),
    "smollm2": _model_spec("smollm2", "SmolLM2-135M", "real pretrained attention heads (needs the models extra)"),
}
"""Every source by name, in the order the model key cycles through them."""
SOURCE_NAMES: tuple[str, ...] = tuple(SOURCES)


_CHECKPOINTS: dict[str, SourceSpec] = {}
"""Checkpoints opened by path in this process, by the path as given."""


def is_checkpoint_path(name: str) -> bool:
    """`name` names a file or folder (not a bundled short name): a Hugging Face folder or a .gguf file."""
    return name not in SOURCES and bool(name.strip()) and (
        "/" in name or name.startswith((".", "~")) or name.lower().endswith(".gguf") or Path(name).exists())


def source_spec(name: str) -> SourceSpec:
    """The registry's entry for `name`, or one made for a checkpoint's path (ValueError if it is neither)."""
    spec = SOURCES.get(name) or _CHECKPOINTS.get(name)
    if spec is not None:
        return spec
    if not is_checkpoint_path(name):
        raise ValueError(f"unknown model {name!r}: use {', '.join(SOURCE_NAMES)}, "
                         "a Hugging Face folder or a .gguf file")
    spec = _CHECKPOINTS[name] = _model_spec(name, Path(name).name or name, f"the checkpoint at {name}")
    return spec


def source_names() -> tuple[str, ...]:
    """Every source the explorer can switch to now: the registry's, then the checkpoints opened so far."""
    return SOURCE_NAMES + tuple(_CHECKPOINTS)
