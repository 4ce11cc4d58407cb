"""The explorer's settings: one frozen config, its limits, and the parsing of user text into it.

Standard library only, so the app can read defaults and validate input before torch is imported.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from types import MappingProxyType
from typing import Any, NamedTuple

NOTEBOOK_PROMPT = "Hello World I am an attention seeker I love attention"

VOCAB_MODES = ("seed", "dense")

# Ceilings. Chosen so that no accepted config takes the process past about 1 GiB, in the command or in
# the app (which holds the result on screen while it computes the next one), or spends more than about
# a second drawing its random tables on a 2-core machine (see README, "Limits"; tests/test_memory.py
# measures the peak of every path at these ceilings).
MAX_PROMPT_CHARS = 100_000
MAX_WORDS = 4096
MAX_VOCAB_SIZE = 10_000_000
MAX_DIM = 4096
MAX_HEADS = 64
MAX_TABLE_CELLS = 1 << 26  # vocab_size × d_model floats: 256 MiB, about 0.6 s to draw
MAX_ATTENTION_CELLS = 1 << 24  # heads × T × T floats, held three times (scores, scaled, weights): 192 MiB
MAX_TENSOR_BYTES = 320 << 20
"""Every tensor of one result and its random tables together (`tensor_bytes`): 320 MiB. The command
peaks at about this plus 250 MiB (Python, torch); the app at about twice this plus 300 MiB, since the
result on screen and the one being computed (and their tables) are alive together."""
MIN_TEMPERATURE = 1e-4
MAX_TEMPERATURE = 1e4
MIN_SEED = -(1 << 63)
MAX_SEED = (1 << 64) - 1  # the range torch.Generator.manual_seed accepts


class ConfigError(ValueError):
    """A setting the backend refuses; `field` names the setting, the message says what is allowed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        """The config field at fault (`prompt`, `d_k`, ...)."""


@dataclass(frozen=True)
class AttentionConfig:
    """Everything that decides a result. The defaults are the seed notebook's."""

    prompt: str = NOTEBOOK_PROMPT
    """The text; split on runs of whitespace into words."""
    seed: int = 123
    """Seeds the one generator that draws every random number."""
    vocab_size: int = 50_000
    """Rows of the embedding table; must exceed the largest token id."""
    d_model: int = 3
    """Embedding width d."""
    d_k: int = 24
    """Query/key width (d_q = d_k)."""
    d_v: int = 28
    """Value width, and so the context width."""
    heads: int = 1
    """Attention heads; must divide d_k and d_v."""
    causal: bool = False
    """Mask keys after the query (j > i)."""
    temperature: float = 1.0
    """Divides the scaled scores before the softmax."""
    vocab_mode: str = "seed"
    """`seed`: the notebook's sorted-word ids (they skip numbers); `dense`: ids 0..n-1."""

    def replace(self, **changes: Any) -> AttentionConfig:
        """A copy with some fields changed (not validated)."""
        return replace(self, **changes)


FIELD_NAMES = tuple(f.name for f in fields(AttentionConfig))
INT_FIELDS = ("seed", "vocab_size", "d_model", "d_k", "d_v", "heads")
DEFAULTS = AttentionConfig()

_INT_RANGES = {
    "seed": (MIN_SEED, MAX_SEED),
    "vocab_size": (1, MAX_VOCAB_SIZE),
    "d_model": (1, MAX_DIM),
    "d_k": (1, MAX_DIM),
    "d_v": (1, MAX_DIM),
    "heads": (1, MAX_HEADS),
}

_INT_TEXT = re.compile(r"[+-]?\d+(_\d+)*")
_TRUE = {"1", "true", "yes", "on", "y"}
_FALSE = {"0", "false", "no", "off", "n"}


def split_words(prompt: str) -> list[str]:
    """The prompt's words: runs of whitespace separate them (the notebook used split(" "))."""
    return prompt.split()


def parse_field(name: str, text: str) -> Any:
    """Turn the user's text for one field into its value, or raise ConfigError naming the field.

    Accepts what a person types: surrounding spaces, a sign, leading zeros, and `_` between digit
    groups in whole numbers. Range checks are `validate`'s job; this only reads the text.
    """
    if name not in FIELD_NAMES:
        raise ConfigError(name, f"unknown setting {name!r}")
    if name == "prompt":
        return text
    raw = text.strip()
    shown = _show(text)
    if name in INT_FIELDS:
        if not raw:
            raise ConfigError(name, f"{name} is empty: {_allowed(name)}")
        if not _INT_TEXT.fullmatch(raw):
            raise ConfigError(name, f"{name} = {shown} is not a whole number: {_allowed(name)}")
        digits = raw.replace("_", "").lstrip("+-").lstrip("0")
        # int() refuses more than 4,300 digits with a ValueError; far past every ceiling anyway.
        if len(digits) > 40:
            raise ConfigError(name, f"{name} = {shown} is out of range: {_allowed(name)}")
        return -int(digits or "0") if raw.startswith("-") else int(digits or "0")
    if name == "temperature":
        try:
            value = float(raw)
        except ValueError:
            raise ConfigError(name, f"temperature = {shown} is not a number: {_allowed(name)}") from None
        return value
    if name == "causal":
        low = raw.lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ConfigError(name, f"causal = {shown} is not on or off: use true/false, on/off, 1/0")
    # vocab_mode
    return raw.lower()


def field_text(field: str, value: object) -> str:
    """A config value as its field shows it, and as `parse_field` reads it back."""
    return repr(value) if field == "temperature" else str(value)


def field_problems(config: AttentionConfig) -> list[ConfigError]:
    """Every problem with `config`, one per field, cheapest checks first; empty when valid.

    Nothing is allocated: this only looks at numbers and the prompt's text.
    """
    problems: dict[str, ConfigError] = {}

    def bad(field: str, message: str) -> None:
        problems.setdefault(field, ConfigError(field, message))

    for name, (low, high) in _INT_RANGES.items():
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, int):
            bad(name, f"{name} = {_show(value)} is not a whole number: {_allowed(name)}")
        elif not low <= value <= high:
            bad(name, f"{name} = {_number(value)} is out of range: {_allowed(name)}")

    temperature = config.temperature
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        bad("temperature", f"temperature = {_show(temperature)} is not a number: {_allowed('temperature')}")
    elif not MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE:  # NaN fails it too; no float() of a huge int
        bad("temperature", f"temperature = {_number(temperature)} is out of range: {_allowed('temperature')}")

    if not isinstance(config.causal, bool):
        bad("causal", f"causal = {_show(config.causal)} is not true or false")
    if config.vocab_mode not in VOCAB_MODES:
        bad("vocab_mode", f"vocab mode = {_show(config.vocab_mode)} is unknown: use seed or dense")

    if "heads" not in problems:
        for dim in ("d_k", "d_v"):
            size = getattr(config, dim)
            if dim not in problems and size % config.heads:
                bad("heads", f"heads = {config.heads} does not divide {dim} = {size}: "
                             f"pick heads from {_divisors(config.d_k, config.d_v)}")
    if not {"vocab_size", "d_model"} & problems.keys():
        cells = config.vocab_size * config.d_model
        if cells > MAX_TABLE_CELLS:
            bad("vocab_size", f"vocab size × d_model = {cells:,} is over the ceiling of "
                              f"{MAX_TABLE_CELLS:,} table cells (256 MiB); lower one of them")

    prompt = config.prompt
    if not isinstance(prompt, str):
        bad("prompt", "prompt is not text")
        return list(problems.values())
    if len(prompt) > MAX_PROMPT_CHARS:
        bad("prompt", f"prompt has {len(prompt):,} characters: at most {MAX_PROMPT_CHARS:,} allowed")
        return list(problems.values())
    words = split_words(prompt)
    if not words:
        bad("prompt", "prompt is empty: type at least one word")
    elif len(words) > MAX_WORDS:
        bad("prompt", f"prompt has {len(words):,} words: at most {MAX_WORDS:,} allowed")
    elif "heads" not in problems:
        cells = config.heads * len(words) ** 2
        if cells > MAX_ATTENTION_CELLS:
            most = math.isqrt(MAX_ATTENTION_CELLS // config.heads)
            bad("prompt", f"{len(words):,} words × {config.heads} heads is over the ceiling of "
                          f"{MAX_ATTENTION_CELLS:,} attention cells: at most {most:,} words with "
                          f"{config.heads} heads")
    if words and len(words) <= MAX_WORDS and "vocab_size" not in problems and "vocab_mode" not in problems:
        vocab = tokenize(prompt, config.vocab_mode).vocab
        top_word, top_id = tuple(vocab.items())[-1]  # in id order: the largest id is last
        if top_id >= config.vocab_size:
            bad("vocab_size", f"vocab size = {config.vocab_size:,} is too small: word {_show(top_word)} "
                              f"has id {top_id:,}, so the vocab size must be at least {top_id + 1:,}")
    if words and len(words) <= MAX_WORDS and not problems:
        memory = _memory_problem(config, len(words))
        if memory is not None:
            bad(memory.field, str(memory))
    return list(problems.values())


def tensor_bytes(config: AttentionConfig, words: int) -> dict[str, int]:
    """The float32 bytes a config's result and tables hold, by what they are (no allocation).

    table: vocab_size × d_model; weights: W_query, W_key (d_model × d_k), W_value (d_model × d_v);
    tokens: E, Q, K, V, the context and the one copy made while heads are joined (T × d each);
    attention: scores, scaled, weights (heads × T × T each).
    """
    c, t = config, words
    return {
        "table": 4 * c.vocab_size * c.d_model,
        "weights": 4 * c.d_model * (2 * c.d_k + c.d_v),
        "tokens": 4 * t * (c.d_model + 2 * c.d_k + 3 * c.d_v),
        "attention": 4 * 3 * c.heads * t * t,
    }


def _memory_problem(config: AttentionConfig, words: int) -> ConfigError | None:
    """The whole config against MAX_TENSOR_BYTES, naming the field that weighs most."""
    parts = tensor_bytes(config, words)
    total = sum(parts.values())
    if total <= MAX_TENSOR_BYTES:
        return None
    # Blame the setting behind the heaviest share: the table, the attention maps, or the widths
    # (the weights and the per-token matrices together), naming the widest of d_model, d_k, d_v.
    shares = {"vocab_size": parts["table"], "prompt": parts["attention"], "widths": parts["weights"] + parts["tokens"]}
    field = max(shares, key=lambda share: shares[share])
    if field == "widths":
        field = max(("d_model", "d_k", "d_v"), key=lambda dim: getattr(config, dim))
    shown = ", ".join(f"{part} {size / 2**20:,.0f}" for part, size in parts.items() if size >= 2**20)
    return ConfigError(field, f"together these settings need {total / 2**20:,.0f} MiB of tensors ({shown}): "
                              f"at most {MAX_TENSOR_BYTES >> 20:,} MiB; lower {_what_to_lower(field)}")


def _what_to_lower(field: str) -> str:
    return {"vocab_size": "vocab size or d_model", "prompt": "the number of words or heads"}.get(
        field, "d_model, d_k or d_v")


def validate(config: AttentionConfig) -> None:
    """Raise the first ConfigError for `config`, or return if it is valid."""
    problems = field_problems(config)
    if problems:
        raise problems[0]


def build_vocab(words: list[str], mode: str) -> dict[str, int]:
    """Word → id. `seed` is the notebook's rule; `dense` numbers the distinct words 0..n-1."""
    if mode == "seed":
        # The notebook's comprehension: case-sensitive sort, lower-cased keys, last index wins,
        # so ids can skip numbers ('i': 2, no id 1).
        return {w.lower(): i for i, w in enumerate(sorted(words))}
    if mode == "dense":
        return {w: i for i, w in enumerate(sorted({w.lower() for w in words}))}
    raise ConfigError("vocab_mode", f"vocab mode = {mode!r} is unknown: use seed or dense")


class Tokens(NamedTuple):
    """A prompt cut into words and mapped to ids."""

    words: tuple[str, ...]
    vocab: Mapping[str, int]
    """Lower-cased word → id, in id order (read-only)."""
    token_ids: tuple[int, ...]


@lru_cache(maxsize=16)
def tokenize(prompt: str, mode: str) -> Tokens:
    """Words, vocab (in id order) and ids of `prompt`; cached, since validation needs them too."""
    words = split_words(prompt)
    vocab = build_vocab(words, mode)
    ordered = dict(sorted(vocab.items(), key=lambda item: item[1]))
    return Tokens(tuple(words), MappingProxyType(ordered), tuple(ordered[w.lower()] for w in words))


def _allowed(name: str) -> str:
    if name == "temperature":
        return f"allowed {MIN_TEMPERATURE:g} to {MAX_TEMPERATURE:g}"
    low, high = _INT_RANGES[name]
    if name == "heads":
        return f"allowed {low} to {high}, dividing d_k and d_v"
    return f"allowed {low:,} to {high:,}"


def _divisors(a: int, b: int) -> str:
    common = math.gcd(a, b)
    found = [n for n in range(1, min(common, MAX_HEADS) + 1) if common % n == 0]
    return ", ".join(map(str, found))


def _number(value: int | float) -> str:
    """A number for a message: `1,000,000`, `1e+100`, `nan`; a huge int as its digit count (Python
    refuses to print ints of more than 4,300 digits, and nobody wants to read one)."""
    if isinstance(value, float):
        return repr(value)
    if abs(value) >= 10**30:
        digits = int(value.bit_length() * math.log10(2)) + 1
        return f"a {'negative ' if value < 0 else ''}number of about {digits:,} digits"
    return f"{value:,}"


def _show(value: Any, limit: int = 24) -> str:
    """A short, printable rendering of user input for messages (no control characters)."""
    text = repr(value) if not isinstance(value, str) else repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…'"
