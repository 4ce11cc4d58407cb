"""What every part of the model package shares: the errors, the architecture registry, memory and size limits.

Standard library only at import (the app reads it before torch has loaded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

ATTENTION_BUDGET = 128 * 2**20
"""Bytes one result may hold: every layer × head's T × T attention map plus its queries, keys and values.

128 MiB keeps `--json --model smollm2` at its cap (268 tokens) at 967 MiB peak, under the 1 GiB every path
promises (tests/test_memory.py); at 256 MiB (410 tokens) it peaked at 1,111-1,150 MiB."""

Progress = Callable[[float, str], None]
"""progress(fraction in [0, 1], label) — called from the loading thread."""


@dataclass(frozen=True)
class Architecture:
    """Where an architecture's code lives: `module:Class`, imported only when a checkpoint needs it."""

    module: str
    cls: str
    hf_classes: tuple[str, ...] = ()
    """`architectures` names in config.json that declare this architecture (LlamaForCausalLM, ...)."""


ARCHITECTURES: dict[str, Architecture] = {
    "bert": Architecture("attn_tui.models.bert", "Bert",
                         ("BertModel", "BertForMaskedLM", "BertForSequenceClassification", "BertForPreTraining")),
    "roberta": Architecture("attn_tui.models.bert", "Roberta",
                            ("RobertaModel", "RobertaForMaskedLM", "RobertaForSequenceClassification")),
    "distilbert": Architecture("attn_tui.models.distilbert", "DistilBert",
                               ("DistilBertModel", "DistilBertForMaskedLM", "DistilBertForSequenceClassification")),
    "gpt2": Architecture("attn_tui.models.gpt2", "GPT2", ("GPT2Model", "GPT2LMHeadModel")),
    "llama": Architecture("attn_tui.models.llama", "Llama", ("LlamaModel", "LlamaForCausalLM")),
    "mistral": Architecture("attn_tui.models.llama", "Mistral", ("MistralModel", "MistralForCausalLM")),
    "qwen2": Architecture("attn_tui.models.llama", "Qwen2", ("Qwen2Model", "Qwen2ForCausalLM")),
}
"""model_type → the class that reads its weights and runs it. A new architecture: one module, one entry."""


# ── errors ───────────────────────────────────────────────────────────────────────────────────────


class ModelUnavailable(RuntimeError):
    """A bundled model's package (or a library the loader needs) is not installed; the message says how."""


class CheckpointError(ValueError):
    """The checkpoint cannot be opened as it is: missing, truncated, inconsistent or too big. One line."""


class UnsupportedArchitecture(CheckpointError):
    """The checkpoint's model_type (or GGUF architecture) is not one attn-tui runs; refused before loading."""


class LoadCancelled(Exception):
    """load() was cancelled through its `cancel` event; nothing was kept."""


class PromptTooLong(ValueError):
    """The prompt has more tokens than the model accepts; the message names the limit and why."""

    def __init__(self, model: str, n_tokens: int, limit: int, reason: str) -> None:
        super().__init__(f"the prompt is {n_tokens} tokens; {model} takes at most {limit} tokens ({reason})")
        self.n_tokens = n_tokens
        """Tokens in the refused prompt, special tokens included."""
        self.limit = limit
        """The model's max_tokens."""
        self.reason = reason
        """Why the limit is what it is."""


class GenerationTooLong(PromptTooLong):
    """The prompt plus the tokens asked for would pass the model's limit; refused before any step."""

    def __init__(self, model: str, n_prompt: int, n_new: int, limit: int, reason: str) -> None:
        ValueError.__init__(self, f"the prompt is {n_prompt} tokens and {n_new} more were asked for; {model} takes at "
                                  f"most {limit} tokens ({reason}): ask for at most {max(limit - n_prompt, 0)}")
        self.n_tokens = n_prompt + n_new
        self.limit = limit
        self.reason = reason


class CannotGenerate(ValueError):
    """The model has no language-model head (an encoder, or a decoder saved without one): it cannot predict
    or generate tokens. The message says why."""


class GenerationCancelled(Exception):
    """Model.generate() was cancelled through its `cancel` event between two steps."""

    def __init__(self, message: str, partial: object = None) -> None:
        super().__init__(message)
        self.partial = partial
        """The Generation as far as it got (the prompt and the tokens generated before the cancel), or None."""


# ── memory ───────────────────────────────────────────────────────────────────────────────────────


def memory_available() -> int | None:
    """Bytes the system can give without swapping (/proc/meminfo MemAvailable), or None where unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def token_cap(n_layers: int, n_heads: int, head_dim: int, hidden: int, budget: int = ATTENTION_BUDGET) -> int:
    """The most tokens T whose result (L·H·T² weights, 3·L·H·T·d q/k/v, L·H·T norms, T·hidden) fits `budget`."""
    lh = n_layers * n_heads
    a, b = lh, lh * (3 * head_dim + 1) + hidden  # float32 bytes = 4 (a T² + b T)
    limit = budget // 4
    t = int((-b + (b * b + 4 * a * limit) ** 0.5) / (2 * a))
    while a * (t + 1) ** 2 + b * (t + 1) <= limit:
        t += 1
    while t > 1 and a * t * t + b * t > limit:
        t -= 1
    return max(t, 1)
